/**
 * The `local` target: instances as child processes on this machine (ports from a base port)
 * behind a load balancer: nginx when installed (a generated config in a temp prefix), otherwise
 * the built-in proxy (proxy.ts). Used by `slipway demo` and to try Slipway on a laptop:
 *
 *   const fleet = await createLocalFleet({ command: [process.execPath, 'examples/app/server.js'],
 *     instances: 4, basePort: 9100, env: (version) => ({ APP_VERSION: version }) });
 *   await fleet.start('v1');                              // boot every instance, wait until ready
 *   const result = await rollout(fleet.target, 'v2', { batches: parseBatches('1'), log });
 *   console.log(fleet.url, fleet.status());               // traffic goes through fleet.url
 *   await fleet.stop();
 *
 * The fleet lives in this process: its instances stop with fleet.stop() (and with the process).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { UserError, errorMessage } from '../lib/errors.ts';
import type { DeployTarget, InstanceRef, Started } from './engine.ts';
import { NginxUpstream, localNginxHost } from './nginx.ts';
import { startProxy, type ReverseProxy } from './proxy.ts';
import { httpProbe } from './engine.ts';

export interface LocalFleetOptions {
  /** Program and arguments of one instance (argument array; `{version}`, `{port}`, `{index}` substituted). */
  command: string[];
  instances: number;
  /** Instance k (0-based) listens on basePort + k; it gets PORT in its environment. */
  basePort: number;
  /** Extra environment per version (APP_VERSION and PORT are always set). */
  env?: (version: string, instance: { id: string; port: number; index: number }) => Record<string, string | undefined>;
  cwd?: string;
  readyPath?: string;
  /** 'auto' (default): nginx when found, else the built-in proxy. 'none': no load balancer. */
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
  port: number;
  url: string;
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
  /** The DeployTarget for rollout() / rollbackFleet(). */
  target: DeployTarget;
  /** Boots every instance on version (nothing running yet) and waits until each is ready. */
  start(version: string, opts?: { readyTimeoutMs?: number }): Promise<void>;
  status(): LocalInstanceStatus[];
  stop(): Promise<void>;
}

interface Slot {
  id: string;
  index: number;
  port: number;
  child?: ChildProcess;
  exit?: string;
  version?: string;
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
  isDown(id: string): boolean;
  close(): Promise<void>;
}

async function startNginxBalancer(nginx: string, slots: Slot[], port: number): Promise<Balancer> {
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
  const up = new NginxUpstream({ host: localNginxHost(), file: upstreamFile, name: 'slipway_app', command: [nginx, ...args], servers: slots.map((s) => ({ id: s.id, address: `127.0.0.1:${s.port}` })), settleMs: 150 });
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
    isDown: (id) => up.down.has(id),
    async close() {
      if (!exited) {
        child.kill('SIGTERM');
        await new Promise<void>((r) => {
          const t = setTimeout(() => { child.kill('SIGKILL'); r(); }, 3000);
          child.once('exit', () => { clearTimeout(t); r(); });
        });
      }
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

function builtinBalancer(proxy: ReverseProxy): Balancer {
  return {
    url: proxy.url,
    async setDown(ids, down, drainTimeoutMs) {
      proxy.setDown(ids, down);
      if (down) await proxy.waitIdle(ids, drainTimeoutMs);
    },
    isDown: (id) => proxy.isDown(id),
    close: () => proxy.close(),
  };
}

export async function createLocalFleet(opts: LocalFleetOptions): Promise<LocalFleet> {
  if (!opts.command.length) throw new UserError('local fleet: command is empty');
  if (!Number.isInteger(opts.instances) || opts.instances < 1) throw new UserError('local fleet: instances must be a whole number ≥ 1');
  const readyPath = opts.readyPath ?? '/ready';
  const drainTimeoutMs = opts.drainTimeoutMs ?? 10_000;
  const keep = opts.logLines ?? 50;
  const slots: Slot[] = Array.from({ length: opts.instances }, (_, k) => ({ id: `app-${k + 1}`, index: k, port: opts.basePort + k, lines: [] }));
  const want = opts.balancer ?? 'auto';
  let balancer: Balancer | undefined;
  let kind: LocalFleet['balancer'] = 'none';
  if (want !== 'none') {
    const nginx = want === 'builtin' ? undefined : findOnPath('nginx');
    if (want === 'nginx' && !nginx) throw new UserError('local fleet: balancer nginx asked for, but nginx is not installed');
    const port = opts.proxyPort || (await freeLocalPort());
    if (nginx) {
      balancer = await startNginxBalancer(nginx, slots, port);
      kind = 'nginx';
    } else {
      balancer = builtinBalancer(await startProxy({ port, upstreams: slots.map((s) => ({ id: s.id, host: '127.0.0.1', port: s.port })) }));
      kind = 'builtin';
    }
  }
  const slotOf = (i: InstanceRef) => {
    const s = slots.find((x) => x.id === i.id);
    if (!s) throw new UserError(`local fleet: unknown instance ${i.id}`);
    return s;
  };
  const urlOf = (s: Slot) => `http://127.0.0.1:${s.port}`;

  const stopSlot = async (s: Slot) => {
    const c = s.child;
    if (!c || s.exit !== undefined) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => c.kill('SIGKILL'), drainTimeoutMs);
      c.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      c.kill('SIGTERM');
    });
  };
  const startSlot = (s: Slot, version: string): Started => {
    const vars = { version, port: String(s.port), index: String(s.index) };
    const argv = opts.command.map((a) => sub(a, vars));
    const env = { ...process.env, ...opts.env?.(version, { id: s.id, port: s.port, index: s.index }), APP_VERSION: version, PORT: String(s.port) };
    const child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    s.child = child;
    s.exit = undefined;
    s.version = version;
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
      if (s.child === child) s.exit = errorMessage(e);
    });
    child.on('exit', (code, sig) => {
      if (s.child === child) s.exit = sig ? `killed by ${sig}` : `exit code ${code}`;
    });
    return { readyUrl: urlOf(s) + readyPath };
  };

  const from = new Map<string, string | undefined>();
  const target: DeployTarget = {
    kind: 'local',
    strategy: 'in-place',
    async instances() {
      // The engine lists the instances once at the start of every rollout: a new rollout begins.
      from.clear();
      return slots.map((s) => ({ id: s.id, url: urlOf(s) }));
    },
    async currentVersion(i) {
      const s = slotOf(i);
      return s.child && s.exit === undefined ? s.version : undefined;
    },
    async previousVersion(i) {
      return slotOf(i).previous;
    },
    async drain(list, signal) {
      await balancer?.setDown(list.map((i) => i.id), true, drainTimeoutMs, signal);
    },
    async undrain(list, signal) {
      await balancer?.setDown(list.map((i) => i.id), false, drainTimeoutMs, signal);
    },
    async stop(i) {
      await stopSlot(slotOf(i));
    },
    async deploy(i, version) {
      const s = slotOf(i);
      if (!from.has(s.id)) from.set(s.id, s.version);
      return startSlot(s, version);
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
      return startSlot(slotOf(i), version);
    },
    exited(i) {
      return slotOf(i).exit;
    },
    async logs(i, lines) {
      return slotOf(i).lines.slice(-lines).join('\n');
    },
    async close() {},
  };

  return {
    url: balancer?.url ?? urlOf(slots[0]!),
    balancer: kind,
    target,
    async start(version, o = {}) {
      await Promise.all(
        slots.map(async (s) => {
          if (s.child && s.exit === undefined) return;
          const st = startSlot(s, version);
          const until = Date.now() + (o.readyTimeoutMs ?? 30_000);
          for (;;) {
            if (s.exit !== undefined) throw new UserError(`local fleet: ${s.id} exited while starting (${s.exit}): ${s.lines.slice(-5).join(' | ')}`);
            if ((await httpProbe(st.readyUrl, 1000, AbortSignal.timeout(2000))).ok) break;
            if (Date.now() > until) throw new UserError(`local fleet: ${s.id} not ready within ${o.readyTimeoutMs ?? 30_000} ms`);
            await new Promise((r) => setTimeout(r, 50));
          }
        }),
      );
    },
    status() {
      return slots.map((s) => ({ id: s.id, port: s.port, url: urlOf(s), version: s.version, previous: s.previous, pid: s.child?.pid, running: !!s.child && s.exit === undefined, down: balancer?.isDown(s.id) ?? false }));
    },
    async stop() {
      await Promise.all(slots.map((s) => stopSlot(s)));
      await balancer?.close();
    },
  };
}
