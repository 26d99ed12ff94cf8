/**
 * The `local` target: instances as child processes on this machine (ports from a base port)
 * behind a load balancer: the built-in proxy (proxy.ts; the default) or nginx (`balancer:
 * 'nginx'`: a generated config in a temp prefix, checked reloads through deploy/nginx.ts). Used by
 * `slipway demo` and to try Slipway on a laptop:
 *
 *   const fleet = await createLocalFleet({ command: [process.execPath, 'examples/app/server.js'],
 *     instances: 4, basePort: 9100, env: (version) => ({ APP_VERSION: version }) });
 *   await fleet.start('v1');                              // boot every instance, wait until ready
 *   const result = await rollout(fleet.target, 'v2', { batches: parseBatches('1'), log });
 *   console.log(fleet.url, fleet.status());               // traffic goes through fleet.url
 *   await fleet.stop();
 *
 * The fleet lives in this process: its instances stop with fleet.stop() (and with the process).
 *
 * Zero downtime (issue 16, item 1; bench/deploy-local-zero.ts, test/integration/deploy/local-zero.test.ts):
 * an instance is stopped only after the balancer has let go of it. Built-in proxy: no new request
 * goes to it, its requests in flight were answered and the proxy's pooled sockets to it closed —
 * 0 non-2xx and 0 socket errors for clients that never retry, keep-alive or not. nginx: one
 * checked reload per batch boundary and an observed wait for the old workers (no 5xx), but every
 * reload closes nginx's idle keep-alive client connections: a keep-alive client that never retries
 * sees some read errors (measured in BENCHMARKS.md); that is why the built-in proxy is the default.
 *
 * Canary: `fleet.target.setWeights` (nginx `weight=`, or the built-in proxy's weighted
 * round-robin). Blue/green: every instance has a second copy on `greenBasePort + k` (default: the
 * ports right after the blue range); `fleet.target` is also a BlueGreenTarget (strategies.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { UserError, errorMessage } from '../../lib/errors.ts';
import type { DeployTarget, InstanceRef, Started } from '../../deploy/engine.ts';
import type { BlueGreenTarget, Slot, SlotInfo } from '../../deploy/strategies.ts';
import { NginxUpstream, localNginxHost } from '../../deploy/nginx.ts';
import { startProxy, type ReverseProxy } from './proxy.ts';
import { httpProbe } from '../../deploy/engine.ts';

export interface LocalFleetOptions {
  /** Program and arguments of one instance (argument array; `{version}`, `{port}`, `{index}` substituted). */
  command: string[];
  instances: number;
  /** Instance k (0-based) listens on basePort + k; it gets PORT in its environment. */
  basePort: number;
  /** Blue/green: the green copy of instance k listens on greenBasePort + k. Default basePort + instances. */
  greenBasePort?: number;
  /** Extra environment per version (APP_VERSION and PORT are always set). */
  env?: (version: string, instance: { id: string; port: number; index: number }) => Record<string, string | undefined>;
  cwd?: string;
  readyPath?: string;
  /**
   * 'auto' (default) and 'builtin': the built-in proxy (zero errors for keep-alive clients that never
   * retry). 'nginx': nginx (must be installed; its reloads close idle keep-alive client connections).
   * 'none': no load balancer.
   */
  balancer?: 'auto' | 'nginx' | 'builtin' | 'none';
  /** Load balancer port; 0 or unset = a free port. */
  proxyPort?: number;
  /** SIGTERM → SIGKILL grace when stopping an instance (ms). Default 10 s. */
  drainTimeoutMs?: number;
  /** Lines of each instance's output kept for failure reports. Default 50. */
  logLines?: number;
  /** Called with each output line of an instance. */
  onLine?: (id: string, line: string) => void;
}

export interface LocalInstanceStatus {
  id: string;
  /** The live slot's port and URL. */
  port: number;
  url: string;
  slot: Slot;
  /** The idle slot: what it runs, if anything. */
  idle: { port: number; version?: string; running: boolean };
  version?: string;
  previous?: string;
  pid?: number;
  running: boolean;
  down: boolean;
}

export interface LocalFleet {
  /** Where traffic goes (the load balancer), or the first instance when balancer is 'none'. */
  url: string;
  balancer: 'nginx' | 'builtin' | 'none';
  /** The DeployTarget for rollout() / rollbackFleet(), and the BlueGreenTarget for blueGreenRollout(). */
  target: DeployTarget & BlueGreenTarget;
  /** Boots every instance on version (nothing running yet) and waits until each is ready. */
  start(version: string, opts?: { readyTimeoutMs?: number }): Promise<void>;
  status(): LocalInstanceStatus[];
  stop(): Promise<void>;
}

/** One copy of the app (the blue or the green slot of an instance). */
interface Copy {
  port: number;
  child?: ChildProcess;
  exit?: string;
  version?: string;
  /** keep-previous timer. */
  expiry?: NodeJS.Timeout;
}

interface Inst {
  id: string;
  index: number;
  live: Slot;
  copies: Record<Slot, Copy>;
  previous?: string;
  lines: string[];
}

export function findOnPath(name: string, extra = ['/usr/sbin', '/usr/local/sbin', '/sbin']): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...extra]) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {}
  }
  return undefined;
}

async function freeLocalPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** A TCP connect (not an HTTP request: nginx would mark the not-yet-started backends failed). */
function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ port, host: '127.0.0.1' });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

const sub = (a: string, vars: Record<string, string>) => a.replace(/\{([a-z_]+)\}/g, (m, k: string) => vars[k] ?? m);

interface Balancer {
  url: string;
  setDown(ids: string[], down: boolean, drainTimeoutMs: number, signal?: AbortSignal): Promise<void>;
  /** `back` into traffic and `out` out of it in one change (nginx: one checked reload at a batch boundary). */
  swap(back: string[], out: string[], drainTimeoutMs: number, signal: AbortSignal): Promise<void>;
  isDown(id: string): boolean;
  setWeights(weights: Record<string, number> | undefined, signal: AbortSignal, apply: boolean): Promise<void>;
  /**
   * Points every instance at the port of its live slot, in one reload; resolves once nothing is
   * routed to the old ports any more (the caller may stop what listens there next).
   */
  route(ports: Record<string, number>, drainTimeoutMs: number, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

async function startNginxBalancer(nginx: string, slots: Inst[], port: number, drainTimeoutMs: number): Promise<Balancer> {
  const prefix = mkdtempSync(join(tmpdir(), 'slipway-lb-'));
  const conf = join(prefix, 'nginx.conf');
  const upstreamFile = join(prefix, 'upstream.conf');
  const isRoot = process.getuid?.() === 0;
  const p = (f: string) => join(prefix, f);
  writeFileSync(
    conf,
    [
      'daemon off;',
      'master_process on;',
      'worker_processes 2;',
      ...(isRoot ? ['user root;'] : []),
      `pid ${p('nginx.pid')};`,
      `error_log ${p('error.log')} warn;`,
      'events { worker_connections 2048; }',
      'http {',
      '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `  ${k}_temp_path ${p(`tmp_${k}`)};`),
      `  include ${upstreamFile};`,
      '  server {',
      `    listen 127.0.0.1:${port};`,
      '    location / {',
      '      proxy_pass http://slipway_app;',
      '      proxy_http_version 1.1;',
      '      proxy_set_header Connection "";',
      '      proxy_next_upstream error timeout http_502 http_503;',
      '    }',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  const args = ['-e', p('error.log'), '-p', `${prefix}/`, '-c', conf];
  const up = new NginxUpstream({
    host: localNginxHost(),
    file: upstreamFile,
    name: 'slipway_app',
    command: [nginx, ...args],
    servers: slots.map((s) => ({ id: s.id, address: `127.0.0.1:${s.copies[s.live].port}` })),
    // A reload that takes servers out waits until nginx's old workers have exited (observed
    // through the master's pid file), so nothing routes to an instance when it is stopped.
    pidFile: p('nginx.pid'),
    settleTimeoutMs: drainTimeoutMs,
  });
  writeFileSync(upstreamFile, up.render());
  mkdirSync(p('logs'), { recursive: true });
  const child = spawn(nginx, args, { stdio: 'ignore' });
  let exited = false;
  child.on('exit', () => (exited = true));
  const until = Date.now() + 10_000;
  for (;;) {
    const ok = await tcpOpen(port);
    if (ok) break;
    if (exited || Date.now() > until) {
      child.kill('SIGKILL');
      rmSync(prefix, { recursive: true, force: true });
      throw new UserError(`local fleet: nginx did not start on 127.0.0.1:${port}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    setDown: (ids, down, _t, signal) => up.setDown(ids, down, signal),
    swap: (back, out, _t, signal) =>
      up.reconfigure(
        (u) => {
          for (const id of back) u.down.delete(id);
          for (const id of out) u.down.add(id);
        },
        signal,
        true,
      ),
    isDown: (id) => up.down.has(id),
    setWeights: (w, signal, apply) => up.setWeights(w, signal, apply),
    route: (ports, _t, signal) =>
      up.reconfigure(
        (u) => {
          u.servers = u.servers.map((x) => (ports[x.id] !== undefined ? { ...x, address: `127.0.0.1:${ports[x.id]}` } : x));
        },
        signal,
        true,
      ),
    async close() {
      if (!exited) {
        child.kill('SIGTERM');
        await new Promise<void>((r) => {
          const t = setTimeout(() => {
            child.kill('SIGKILL');
            r();
          }, 3000);
          child.once('exit', () => {
            clearTimeout(t);
            r();
          });
        });
      }
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

function builtinBalancer(proxy: ReverseProxy): Balancer {
  return {
    url: proxy.url,
    // Drain: no new request goes there; resolves when its requests in flight were answered and
    // the proxy closed its pooled sockets to it (the engine stops the instance next).
    async setDown(ids, down, drainTimeoutMs) {
      proxy.setDown(ids, down);
      if (down) await proxy.waitIdle(ids, drainTimeoutMs);
    },
    async swap(back, out, drainTimeoutMs) {
      proxy.setDown(back, false);
      proxy.setDown(out, true);
      await proxy.waitIdle(out, drainTimeoutMs);
    },
    isDown: (id) => proxy.isDown(id),
    async setWeights(w) {
      proxy.setWeights(w);
    },
    // Blue/green: new requests go to the new ports at once; wait for those still in flight on the old ones.
    async route(ports, drainTimeoutMs) {
      await proxy.waitIdle(proxy.setPorts(ports), drainTimeoutMs);
    },
    close: () => proxy.close(),
  };
}

const other = (x: Slot): Slot => (x === 'blue' ? 'green' : 'blue');
const urlAt = (port: number) => `http://127.0.0.1:${port}`;
const urlOf = (s: Inst) => urlAt(s.copies[s.live].port);
const running = (c: Copy) => !!c.child && c.exit === undefined;

/** The load balancer in front of the fleet: the built-in proxy (auto, builtin), nginx when asked for; none with balancer: none. */
async function startBalancer(opts: LocalFleetOptions, slots: Inst[], drainTimeoutMs: number): Promise<{ balancer?: Balancer; kind: LocalFleet['balancer'] }> {
  const want = opts.balancer ?? 'auto';
  if (want === 'none') return { kind: 'none' };
  const nginx = want === 'nginx' ? findOnPath('nginx') : undefined;
  if (want === 'nginx' && !nginx) throw new UserError('local fleet: balancer nginx asked for, but nginx is not installed');
  const port = opts.proxyPort || (await freeLocalPort());
  if (nginx) return { balancer: await startNginxBalancer(nginx, slots, port, drainTimeoutMs), kind: 'nginx' };
  return {
    balancer: builtinBalancer(await startProxy({ port, upstreams: slots.map((s) => ({ id: s.id, host: '127.0.0.1', port: s.copies.blue.port })) })),
    kind: 'builtin',
  };
}

/** Starting and stopping one copy of the app (one slot of one instance) as a process of its own. */
function copyProcesses(opts: LocalFleetOptions, readyPath: string, drainTimeoutMs: number, keep: number) {
  const stopCopy = async (c: Copy) => {
    if (c.expiry) clearTimeout(c.expiry);
    c.expiry = undefined;
    const child = c.child;
    if (!child || c.exit !== undefined) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => child.kill('SIGKILL'), drainTimeoutMs);
      child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      child.kill('SIGTERM');
    });
  };
  const startCopy = (s: Inst, slot: Slot, version: string): Started => {
    const c = s.copies[slot];
    if (c.expiry) clearTimeout(c.expiry);
    c.expiry = undefined;
    const vars = { version, port: String(c.port), index: String(s.index), slot };
    const argv = opts.command.map((a) => sub(a, vars));
    const env = { ...process.env, ...opts.env?.(version, { id: s.id, port: c.port, index: s.index }), APP_VERSION: version, PORT: String(c.port) };
    const child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    c.child = child;
    c.exit = undefined;
    c.version = version;
    const onData = (d: Buffer) => {
      for (const line of d.toString().split('\n')) {
        if (!line) continue;
        s.lines.push(line);
        if (s.lines.length > keep) s.lines.shift();
        opts.onLine?.(s.id, line);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('error', (e) => {
      if (c.child === child) c.exit = errorMessage(e);
    });
    child.on('exit', (code, sig) => {
      if (c.child === child) c.exit = sig ? `killed by ${sig}` : `exit code ${code}`;
    });
    return { readyUrl: urlAt(c.port) + readyPath };
  };
  return { startCopy, stopCopy };
}

/** The fleet as the deploy engine sees it (in place, canary weights and blue/green) over the copies and the balancer. */
function fleetTarget(
  slots: Inst[],
  balancer: Balancer | undefined,
  procs: ReturnType<typeof copyProcesses>,
  readyPath: string,
  drainTimeoutMs: number,
): DeployTarget & BlueGreenTarget {
  const { startCopy, stopCopy } = procs;
  const slotOf = (i: InstanceRef) => {
    const s = slots.find((x) => x.id === i.id);
    if (!s) throw new UserError(`local fleet: unknown instance ${i.id}`);
    return s;
  };
  const from = new Map<string, string | undefined>();
  return {
    kind: 'local',
    strategy: 'in-place',
    async instances() {
      // The engine lists the instances once at the start of every rollout: a new rollout begins.
      from.clear();
      return slots.map((s) => ({ id: s.id, url: urlOf(s) }));
    },
    async currentVersion(i) {
      const s = slotOf(i);
      const c = s.copies[s.live];
      return running(c) ? c.version : undefined;
    },
    async previousVersion(i) {
      return slotOf(i).previous;
    },
    async drain(list, signal) {
      await balancer?.setDown(
        list.map((i) => i.id),
        true,
        drainTimeoutMs,
        signal,
      );
    },
    async undrain(list, signal) {
      await balancer?.setDown(
        list.map((i) => i.id),
        false,
        drainTimeoutMs,
        signal,
      );
    },
    /** At a batch boundary: the previous batch back in, the next one out, in one change (nginx: one checked reload). */
    async swap(back, out, signal) {
      await balancer?.swap(
        back.map((i) => i.id),
        out.map((i) => i.id),
        drainTimeoutMs,
        signal,
      );
    },
    async setWeights(w, signal, apply) {
      if (!balancer) throw new UserError('local fleet: canary weights need a load balancer');
      await balancer.setWeights(w, signal, apply);
    },
    async stop(i) {
      const s = slotOf(i);
      await stopCopy(s.copies[s.live]);
    },
    async deploy(i, version) {
      const s = slotOf(i);
      if (!from.has(s.id)) from.set(s.id, s.copies[s.live].version);
      return startCopy(s, s.live, version);
    },
    /** `previous` moves only when a rollout succeeded (an undone rollout leaves it as it was). */
    async finish(version) {
      for (const [id, v] of from) {
        const s = slots.find((x) => x.id === id)!;
        if (v && v !== version) s.previous = v;
      }
      from.clear();
    },
    async switchBack(i, version) {
      const s = slotOf(i);
      return startCopy(s, s.live, version);
    },
    exited(i) {
      const s = slotOf(i);
      return s.copies[s.live].exit;
    },
    async logs(i, lines) {
      return slotOf(i).lines.slice(-lines).join('\n');
    },
    // blue/green
    async slotInfo(i): Promise<SlotInfo> {
      const s = slotOf(i);
      const live = s.copies[s.live];
      const idle = s.copies[other(s.live)];
      return { live: s.live, liveVersion: running(live) ? live.version : undefined, idleVersion: idle.version, idleRunning: running(idle) };
    },
    slotUrl: (i, slot) => urlAt(slotOf(i).copies[slot].port),
    slotReadyUrl: (i, slot) => urlAt(slotOf(i).copies[slot].port) + readyPath,
    async startSlot(i, slot, version) {
      const s = slotOf(i);
      if (slot === s.live) throw new UserError(`local fleet: ${s.id}: the ${slot} slot is live; a new version starts in the idle slot only`);
      if (!from.has(s.id)) from.set(s.id, s.copies[s.live].version);
      await stopCopy(s.copies[slot]);
      return startCopy(s, slot, version);
    },
    async stopSlot(i, slot) {
      await stopCopy(slotOf(i).copies[slot]);
    },
    slotExited(i, slot) {
      return slotOf(i).copies[slot].exit;
    },
    async switchTraffic(live, signal) {
      if (!balancer) throw new UserError('local fleet: blue/green needs a load balancer');
      const ports: Record<string, number> = {};
      for (const s of slots) ports[s.id] = s.copies[live[s.id] ?? s.live].port;
      await balancer.route(ports, drainTimeoutMs, signal);
      for (const s of slots) {
        const to = live[s.id];
        if (!to || to === s.live) continue;
        s.live = to;
        const c = s.copies[to];
        if (c.expiry) clearTimeout(c.expiry);
        c.expiry = undefined;
      }
    },
    async keepPrevious(i, slot, ms) {
      const s = slotOf(i);
      const c = s.copies[slot];
      if (ms <= 0) {
        await stopCopy(c);
        return new Date().toISOString();
      }
      if (c.expiry) clearTimeout(c.expiry);
      c.expiry = setTimeout(() => {
        c.expiry = undefined;
        if (s.live !== slot) void stopCopy(c);
      }, ms);
      c.expiry.unref();
      return new Date(Date.now() + ms).toISOString();
    },
    async close() {},
  };
}

export async function createLocalFleet(opts: LocalFleetOptions): Promise<LocalFleet> {
  if (!opts.command.length) throw new UserError('local fleet: command is empty');
  if (!Number.isInteger(opts.instances) || opts.instances < 1) throw new UserError('local fleet: instances must be a whole number ≥ 1');
  const readyPath = opts.readyPath ?? '/ready';
  const drainTimeoutMs = opts.drainTimeoutMs ?? 10_000;
  const keep = opts.logLines ?? 50;
  const greenBase = opts.greenBasePort ?? opts.basePort + opts.instances;
  const slots: Inst[] = Array.from({ length: opts.instances }, (_, k) => ({
    id: `app-${k + 1}`,
    index: k,
    live: 'blue' as Slot,
    copies: { blue: { port: opts.basePort + k }, green: { port: greenBase + k } },
    lines: [],
  }));
  const { balancer, kind } = await startBalancer(opts, slots, drainTimeoutMs);
  const procs = copyProcesses(opts, readyPath, drainTimeoutMs, keep);
  const { startCopy, stopCopy } = procs;
  const target = fleetTarget(slots, balancer, procs, readyPath, drainTimeoutMs);

  return {
    url: balancer?.url ?? urlOf(slots[0]!),
    balancer: kind,
    target,
    async start(version, o = {}) {
      await Promise.all(
        slots.map(async (s) => {
          const c = s.copies[s.live];
          if (running(c)) return;
          const st = startCopy(s, s.live, version);
          const until = Date.now() + (o.readyTimeoutMs ?? 30_000);
          for (;;) {
            if (c.exit !== undefined) throw new UserError(`local fleet: ${s.id} exited while starting (${c.exit}): ${s.lines.slice(-5).join(' | ')}`);
            if ((await httpProbe(st.readyUrl, 1000, AbortSignal.timeout(2000))).ok) break;
            if (Date.now() > until) throw new UserError(`local fleet: ${s.id} not ready within ${o.readyTimeoutMs ?? 30_000} ms`);
            await new Promise((r) => setTimeout(r, 50));
          }
        }),
      );
    },
    status() {
      return slots.map((s) => {
        const c = s.copies[s.live];
        const idle = s.copies[other(s.live)];
        return {
          id: s.id,
          port: c.port,
          url: urlOf(s),
          slot: s.live,
          idle: { port: idle.port, version: idle.version, running: running(idle) },
          version: c.version,
          previous: s.previous,
          pid: c.child?.pid,
          running: running(c),
          down: balancer?.isDown(s.id) ?? false,
        };
      });
    },
    async stop() {
      await Promise.all(slots.flatMap((s) => [stopCopy(s.copies.blue), stopCopy(s.copies.green)]));
      await balancer?.close();
    },
  };
}
