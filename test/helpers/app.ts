/** Starts the sample app (examples/app/server.js) on 127.0.0.1 for tests; stopped by PID. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { node24, repoRoot } from './runner.ts';
import { freePort } from './servers.ts';

export interface AppOptions {
  version?: string;
  errorRate?: number;
  extraLatencyMs?: number;
  bootDelayMs?: number;
  readyFail?: boolean;
  port?: number;
  env?: Record<string, string>;
}

export interface RunningApp {
  url: string;
  port: number;
  pid: number;
  process: ChildProcess;
  logs(): string;
  stop(): Promise<void>;
}

export async function startApp(opts: AppOptions = {}): Promise<RunningApp> {
  const port = opts.port ?? (await freePort());
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    PORT: String(port),
    APP_VERSION: opts.version ?? 'v1',
    ERROR_RATE: String(opts.errorRate ?? 0),
    EXTRA_LATENCY_MS: String(opts.extraLatencyMs ?? 0),
    BOOT_DELAY_MS: String(opts.bootDelayMs ?? 0),
    ...(opts.readyFail ? { READY_FAIL: '1' } : {}),
    ...opts.env,
  };
  const child = spawn(node24, [join(repoRoot, 'examples/app/server.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  child.stdout!.on('data', (d: Buffer) => (logs += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (logs += d.toString()));
  const deadline = Date.now() + 10_000;
  while (!/listening on/.test(logs)) {
    if (child.exitCode !== null) throw new Error(`sample app exited: ${logs}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`sample app did not start: ${logs}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const closed = new Promise((r) => child.once('close', r));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    await closed;
    clearTimeout(t);
  };
  return { url: `http://127.0.0.1:${port}`, port, pid: child.pid!, process: child, logs: () => logs, stop };
}
