/**
 * HAProxy in front of a fleet, driven through its runtime API on the admin socket (`stats socket
 * … level admin`): drain, undrain, canary weights and blue/green move traffic with NO reload, so
 * no client connection is ever closed by the load balancer. HAProxy runs on this machine (the
 * socket is spoken to directly) or on a host reached over SSH (`socat stdio UNIX-CONNECT:<socket>`
 * there, one SSH round trip for a whole batch of commands).
 *
 * Per instance, the backend has a server of the same name (`server web1 10.0.0.11:8080`).
 * - drain: `set server <backend>/<server> state drain` (no new requests), then wait until HAProxy
 *   reports no current session on it (`show stat`: scur = 0, bounded by the drain timeout), then
 *   `state maint`. Observed, not a fixed sleep: when it returns, nothing is on the instance.
 * - undrain: `state ready`. canary: `set weight` (HAProxy weights are 0–256; larger canary weights
 *   are scaled down keeping their ratio). blue/green: per server `state maint` → `set server … addr
 *   <ip> port <port>` → `state ready` (maintenance closes the idle server-side connections, which
 *   HAProxy 2.6 would otherwise keep reusing to the old address), one server at a time.
 * - After every change the runtime state is saved with `show servers state` into the
 *   `server-state-file` (when given), so a later reload (`load-server-state-from-file global`)
 *   keeps drained servers drained and moved servers moved.
 * Every command's answer is checked: HAProxy answers nothing on success, text on failure
 * ("No such server."), and the failure names the command, the socket and where.
 */
import { createConnection } from 'node:net';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { UserError, errorMessage } from '../lib/errors.ts';
import { sleep } from '../lib/sleep.ts';
import type { SshClient, SshHost } from './ssh.ts';
import { sshTargetName } from './ssh.ts';

/** Where HAProxy's admin socket is reached. */
export interface HaproxyHost {
  readonly describe: string;
  /** Sends each command on its own connection; one answer per command. */
  runtime(socket: string, commands: string[], signal?: AbortSignal): Promise<string[]>;
  writeFile(path: string, content: string, signal?: AbortSignal): Promise<void>;
}

function localCommand(socket: string, command: string, signal?: AbortSignal, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = createConnection(socket);
    let out = '';
    const fail = (e: Error) => {
      c.destroy();
      reject(e);
    };
    const timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    const abort = () => fail(new Error('cancelled'));
    signal?.addEventListener('abort', abort, { once: true });
    c.setEncoding('utf8');
    c.on('connect', () => c.write(`${command}\n`));
    c.on('data', (d: string) => (out += d));
    c.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', abort);
      reject(
        new Error(
          e.code === 'ENOENT'
            ? 'the socket does not exist (is HAProxy running with `stats socket … level admin`?)'
            : e.code === 'EACCES'
              ? 'permission denied on the socket'
              : e.code === 'ECONNREFUSED'
                ? 'nothing listens on the socket (HAProxy is not running?)'
                : e.message,
        ),
      );
    });
    c.on('close', () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', abort);
      resolve(out);
    });
  });
}

export function localHaproxyHost(): HaproxyHost {
  return {
    describe: 'this machine',
    async runtime(socket, commands, signal) {
      const out: string[] = [];
      for (const c of commands) out.push(await localCommand(socket, c, signal));
      return out;
    },
    async writeFile(path, content) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(`${path}.slipway-tmp`, content);
      renameSync(`${path}.slipway-tmp`, path);
    },
  };
}

const END = '__slipway_haproxy_end__';
/** $1 the socket, then the commands: each sent on its own connection, answers separated by END. */
const RUNTIME = `s=$1; shift
[ -S "$s" ] || { echo "the socket $s does not exist (is HAProxy running with \\\`stats socket … level admin\\\`?)" >&2; exit 3; }
command -v socat >/dev/null || { echo "socat is not installed (apt-get install socat)" >&2; exit 3; }
for c in "$@"; do printf '%s\\n' "$c" | socat -t 10 stdio "UNIX-CONNECT:$s" || exit 4; printf '\\n${END}\\n'; done`;

export function sshHaproxyHost(ssh: SshClient, host: SshHost): HaproxyHost {
  return {
    describe: sshTargetName(host),
    async runtime(socket, commands, signal) {
      const r = await ssh.script(host, RUNTIME, [socket, ...commands], 'the HAProxy runtime API', { signal, timeoutMs: 30_000 });
      return r.stdout.split(`\n${END}\n`).slice(0, commands.length);
    },
    async writeFile(path, content, signal) {
      await ssh.script(
        host,
        'mkdir -p "$(dirname "$1")" && cat > "$1.slipway-tmp" && mv -f "$1.slipway-tmp" "$1"',
        [path],
        'writing the HAProxy server state file',
        { input: content, signal, timeoutMs: 30_000 },
      );
    },
  };
}

export interface HaproxyBackendOptions {
  host: HaproxyHost;
  socket: string;
  backend: string;
  /** Instance id → host:port. The HAProxy server is named like the instance. Ids with `@idle` are not HAProxy servers. */
  servers: { id: string; address: string; down?: boolean }[];
  /** Written with `show servers state` after each change (HAProxy's server-state-file). */
  stateFile?: string;
  /** Longest wait for sessions to leave a draining server (ms). Default 30 s. */
  drainTimeoutMs?: number;
  /** Time between `show stat` polls while draining (ms). Default 50. */
  pollMs?: number;
}

/** Scales weights into HAProxy's 1..256, keeping their ratios. */
export function haproxyWeights(w: Map<string, number>): Map<string, number> {
  const max = Math.max(0, ...w.values());
  if (max <= 256) return new Map(w);
  return new Map([...w].map(([k, v]) => [k, Math.max(1, Math.round((v * 256) / max))]));
}

const NAME_RE = /^[A-Za-z0-9_.:-]+$/;

/** One backend of HAProxy, changed through the runtime API. Calls are serialized. Same surface as NginxUpstream. */
export class HaproxyBackend {
  private readonly o: HaproxyBackendOptions;
  readonly down = new Set<string>();
  weights = new Map<string, number>();
  servers: { id: string; address: string; down?: boolean }[];
  /** HAProxy is never reloaded by Slipway (kept for the benches' counters). */
  readonly reloads = 0;
  /** Runtime API commands sent. */
  commands = 0;
  /** What HAProxy runs now (address and weight per server), as last set. */
  private applied = new Map<string, { address: string; down: boolean; weight: number }>();
  /** Each server's weight before any canary (from haproxy.cfg), restored when weights are cleared. */
  private readonly base = new Map<string, number>();
  private queue: Promise<unknown> = Promise.resolve();
  constructor(o: HaproxyBackendOptions) {
    if (!NAME_RE.test(o.backend)) throw new UserError(`HAProxy backend ${JSON.stringify(o.backend)}: expected letters, digits and _ . : - only`);
    for (const s of o.servers)
      if (!this.isIdle(s.id) && !NAME_RE.test(s.id))
        throw new UserError(`HAProxy server ${JSON.stringify(s.id)}: an instance name must be a valid HAProxy server name (letters, digits and _ . : -)`);
    this.o = o;
    this.servers = [...o.servers];
  }
  private isIdle(id: string) {
    return id.includes('@');
  }
  private where(): string {
    return `HAProxy on ${this.o.host.describe} (socket ${this.o.socket}, backend ${this.o.backend})`;
  }
  private async send(cmds: string[], signal?: AbortSignal): Promise<string[]> {
    if (!cmds.length) return [];
    let out: string[];
    try {
      out = await this.o.host.runtime(this.o.socket, cmds, signal);
    } catch (err) {
      throw new UserError(`${this.where()}: ${errorMessage(err)}`);
    }
    this.commands += cmds.length;
    return out;
  }
  /** Sends `set …` commands; any answer but the expected one is an error naming the command. */
  private async set(cmds: string[], signal?: AbortSignal): Promise<void> {
    const out = await this.send(cmds, signal);
    cmds.forEach((c, k) => {
      const a = (out[k] ?? '').trim();
      const fine = a === '' || (/ addr /.test(c) && /changed|no need to change/i.test(a));
      if (!fine) throw new UserError(`${this.where()} refused "${c}": ${a.split('\n')[0]}`);
    });
  }
  private srv(id: string) {
    return `${this.o.backend}/${id}`;
  }
  /** Reads the servers' state; fails when the backend or a server is missing. */
  private async readState(signal?: AbortSignal): Promise<Map<string, { adminState: number; address: string; port: string; weight: number }>> {
    const [text = ''] = await this.send([`show servers state ${this.o.backend}`], signal);
    if (!/^1\s*$/m.test(text) || /Can't find backend/i.test(text))
      throw new UserError(`${this.where()}: ${text.trim().split('\n')[0] || 'no answer to show servers state'} (is the backend named ${this.o.backend}?)`);
    const m = new Map<string, { adminState: number; address: string; port: string; weight: number }>();
    for (const line of text.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length < 19 || line.startsWith('#') || f[1] !== this.o.backend) continue;
      m.set(f[3]!, { address: f[4]!, adminState: Number(f[6]), weight: Number(f[7]), port: f[18]! });
    }
    const missing = this.servers.filter((s) => !this.isIdle(s.id) && !m.has(s.id)).map((s) => s.id);
    if (missing.length)
      throw new UserError(
        `${this.where()}: the backend has no server named ${missing.join(', ')} (it has ${[...m.keys()].join(', ') || 'none'}); name each server like its instance`,
      );
    return m;
  }
  /** Reads which servers are drained or in maintenance (a post step continues where main stopped). */
  async adopt(signal?: AbortSignal): Promise<void> {
    return this.serial(async () => {
      const st = await this.readState(signal);
      for (const s of this.servers) {
        const x = st.get(s.id);
        if (!x) continue;
        if (x.adminState & 0x09) this.down.add(s.id); // maint (forced) or drain
        this.applied.set(s.id, { address: `${x.address}:${x.port}`, down: !!(x.adminState & 0x09), weight: x.weight });
        if (!this.base.has(s.id)) this.base.set(s.id, x.weight || 1);
      }
    });
  }
  /** Each instance's server as HAProxy has it now: drained or in maintenance (down), and its weight. */
  state(signal?: AbortSignal): Promise<Map<string, { address: string; down: boolean; weight: number }>> {
    return this.serial(
      async () =>
        new Map(
          [...(await this.readState(signal))].map(([id, x]) => [id, { address: `${x.address}:${x.port}`, down: !!(x.adminState & 0x09), weight: x.weight }]),
        ),
    );
  }
  /** Checks that the socket answers and every instance has its server (before a rollout). */
  check(signal?: AbortSignal): Promise<void> {
    return this.serial(async () => void (await this.readState(signal)));
  }
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }
  /** Sessions currently on each of these servers (`show stat`, scur). */
  private async sessions(ids: string[], signal?: AbortSignal): Promise<Map<string, number>> {
    const [csv = ''] = await this.send([`show stat ${this.o.backend} 4 -1`], signal);
    const lines = csv.split('\n').filter((l) => l.trim());
    const head = (lines[0] ?? '').replace(/^#\s*/, '').split(',');
    const ci = head.indexOf('scur');
    const out = new Map<string, number>();
    for (const l of lines.slice(1)) {
      const f = l.split(',');
      if (f[0] === this.o.backend && ids.includes(f[1]!)) out.set(f[1]!, Number(f[ci]) || 0);
    }
    return out;
  }
  /** Waits until HAProxy reports no current session on these servers (bounded by the drain timeout). */
  private async waitIdle(ids: string[], signal?: AbortSignal): Promise<void> {
    const deadline = performance.now() + (this.o.drainTimeoutMs ?? 30_000);
    for (;;) {
      const busy = [...(await this.sessions(ids, signal))].filter(([, n]) => n > 0);
      if (!busy.length || performance.now() > deadline) return;
      await sleep(this.o.pollMs ?? 20, signal);
    }
  }
  /** Changes the runtime state to match the wanted one (down marks, weights, addresses). */
  private async apply(signal?: AbortSignal): Promise<void> {
    const scaled = haproxyWeights(this.weights);
    const cmds: string[] = [];
    const drainNow: string[] = [];
    const moves: { id: string; address: string; down: boolean; wasDown: boolean }[] = [];
    const next = new Map<string, { address: string; down: boolean; weight: number }>();
    for (const s of this.servers) {
      if (this.isIdle(s.id)) continue;
      const want = { address: s.address, down: !!s.down || this.down.has(s.id), weight: scaled.get(s.id) ?? this.base.get(s.id) ?? 1 };
      const was = this.applied.get(s.id);
      next.set(s.id, want);
      if (!was || was.weight !== want.weight) cmds.push(`set weight ${this.srv(s.id)} ${want.weight}`);
      if (was && was.address !== want.address) {
        moves.push({ id: s.id, address: want.address, down: want.down, wasDown: was.down });
        continue;
      }
      if (!was || was.down !== want.down) {
        if (want.down) drainNow.push(s.id);
        else cmds.push(`set server ${this.srv(s.id)} state ready`);
      }
    }
    // Weights and what comes back in first; then new addresses; then what goes out, drained.
    await this.set(cmds, signal);
    for (const m of moves) {
      // A new address (blue/green): drain, wait for the sessions on it to end, maintenance (which
      // closes the idle server connections — HAProxy 2.6 would otherwise keep reusing them to the
      // OLD address), the address, ready. One server at a time: the others serve meanwhile.
      const srv = this.srv(m.id);
      if (!m.wasDown) {
        await this.set([`set server ${srv} state drain`], signal);
        await this.waitIdle([m.id], signal);
      }
      const i = m.address.lastIndexOf(':');
      await this.set(
        [
          `set server ${srv} state maint`,
          `set server ${srv} addr ${m.address.slice(0, i).replace(/^\[|\]$/g, '')} port ${m.address.slice(i + 1)}`,
          ...(m.down ? [] : [`set server ${srv} state ready`]),
        ],
        signal,
      );
    }
    if (drainNow.length) {
      await this.set(
        drainNow.map((id) => `set server ${this.srv(id)} state drain`),
        signal,
      );
      await this.waitIdle(drainNow, signal);
      await this.set(
        drainNow.map((id) => `set server ${this.srv(id)} state maint`),
        signal,
      );
    }
    this.applied = next;
    await this.saveState(signal);
  }
  private async saveState(signal?: AbortSignal): Promise<void> {
    if (!this.o.stateFile) return;
    const [text = ''] = await this.send(['show servers state'], signal);
    if (!/^1\s*$/m.test(text)) throw new UserError(`${this.where()}: show servers state answered ${JSON.stringify(text.slice(0, 80))}`);
    await this.o.host.writeFile(this.o.stateFile, text, signal);
  }
  /** Marks instances down (drain, observed, then maint) or up (ready). On failure the marks are put back as they were. */
  setDown(ids: string[], down: boolean, signal?: AbortSignal): Promise<void> {
    return this.reconfigure((u) => {
      for (const id of ids)
        if (down) u.down.add(id);
        else u.down.delete(id);
    }, signal);
  }
  /** Any change of servers, down marks and weights; on failure everything is put back (in HAProxy too). */
  reconfigure(change: (u: HaproxyBackend) => void, signal?: AbortSignal, _settle = false): Promise<void> {
    return this.serial(async () => {
      const before = { down: new Set(this.down), weights: new Map(this.weights), servers: [...this.servers] };
      if (!this.applied.size) await this.adoptApplied(signal);
      change(this);
      try {
        await this.apply(signal);
      } catch (err) {
        this.down.clear();
        for (const id of before.down) this.down.add(id);
        this.weights = before.weights;
        this.servers = before.servers;
        this.applied.clear(); // unknown: re-sent in full
        await this.apply(AbortSignal.timeout(30_000)).catch(() => undefined);
        throw err;
      }
    });
  }
  private async adoptApplied(signal?: AbortSignal) {
    const st = await this.readState(signal);
    for (const s of this.servers) {
      const x = st.get(s.id);
      if (!x) continue;
      this.applied.set(s.id, { address: `${x.address}:${x.port}`, down: !!(x.adminState & 0x09), weight: x.weight });
      if (!this.base.has(s.id)) this.base.set(s.id, x.weight || 1);
    }
  }
  setWeights(weights: Record<string, number> | undefined, signal?: AbortSignal, apply = true): Promise<void> {
    const set = (u: HaproxyBackend) => {
      u.weights = new Map(Object.entries(weights ?? {}));
    };
    if (!apply) return this.serial(async () => set(this));
    return this.reconfigure(set, signal);
  }
}
