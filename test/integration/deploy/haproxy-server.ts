/**
 * A real HAProxy for the deploy tests and benches (TESTING.md recipe): master-worker mode in the
 * foreground (`-W -db`), admin socket, server-state-file loaded at reload, the backend's servers
 * named like the fleet's instances. Started on a free port, reloaded with SIGUSR2 to the master
 * (its pid does not change), stopped by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinary, freePort, stopProcess, tcpAnswers } from '../../helpers/servers.ts';

export interface HaproxyServer {
  url: string;
  port: number;
  socket: string;
  stateFile: string;
  config: string;
  pid: number;
  /** Graceful reload (SIGUSR2 to the master): new workers read the config and the state file. */
  reload(): Promise<void>;
  log(): string;
  stop(): Promise<void>;
}

export function haproxyAvailable(): boolean {
  return !!findBinary('haproxy');
}

/** The configuration docs/deploy-rolling.md recommends for zero dropped requests. */
export function haproxyConfig(o: { dir: string; port: number; servers: { name: string; address: string }[]; backend?: string }): string {
  return [
    'global',
    // 666: the tests also reach it over SSH as the unprivileged deploy user (production: mode 660 + a group).
    `  stats socket ${o.dir}/admin.sock mode 666 level admin`,
    `  server-state-file ${o.dir}/server-state`,
    '  maxconn 4096',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 30s',
    '  timeout server 30s',
    '  timeout http-keep-alive 30s',
    '  option redispatch',
    '  retries 3',
    '  retry-on conn-failure empty-response response-timeout',
    '  load-server-state-from-file global',
    'frontend fe',
    `  bind 127.0.0.1:${o.port}`,
    `  default_backend ${o.backend ?? 'app'}`,
    `backend ${o.backend ?? 'app'}`,
    '  balance roundrobin',
    '  http-reuse safe',
    ...o.servers.map((s) => `  server ${s.name} ${s.address}`),
    '',
  ].join('\n');
}

export async function startHaproxy(servers: { name: string; address: string }[], o: { backend?: string } = {}): Promise<HaproxyServer> {
  const bin = findBinary('haproxy');
  if (!bin) throw new Error('haproxy is not installed (apt-get install haproxy)');
  const dir = mkdtempSync(join(tmpdir(), 'slipway-haproxy-'));
  chmodSync(dir, 0o755); // the socket is reached over SSH as the deploy user too
  const port = await freePort();
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(config, haproxyConfig({ dir, port, servers, backend: o.backend }));
  let out = '';
  const child: ChildProcess = spawn(bin, ['-W', '-db', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const socket = join(dir, 'admin.sock');
  const t0 = Date.now();
  while (!(existsSync(socket) && (await tcpAnswers(port)))) {
    if (child.exitCode !== null || Date.now() - t0 > 10_000) {
      child.kill('SIGKILL');
      throw new Error(`haproxy did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const pid = child.pid!;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    socket,
    stateFile: join(dir, 'server-state'),
    config,
    pid,
    async reload() {
      const before = out.length;
      process.kill(pid, 'SIGUSR2');
      const t = Date.now();
      while (!/Loading success|reexec|Reexecuting/i.test(out.slice(before)) && Date.now() - t < 5_000) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 200));
    },
    log: () => out,
    async stop() {
      if (child.exitCode === null) await stopProcess({ pid, startTime: undefined, label: 'haproxy' }, { signal: 'SIGTERM', tree: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
