/**
 * A real Unleash server (npm `unleash-server`) on 127.0.0.1 for flag tests, the benchmark and
 * the demo: its own PostgreSQL (startPostgres) unless one is given, the server in a child process
 * (src/cli/demo/demo-unleash-main.mjs) stopped by PID. Admin and client API tokens are set up
 * at start (initApiTokens), so the tests see Unleash's real 401/403 answers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { freePort, startPostgres, type PostgresServer } from './servers.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/demo/demo-unleash-main.mjs', import.meta.url));

export interface UnleashServer {
  url: string;
  port: number;
  /** Admin token (all projects, all environments). */
  adminToken: string;
  /** Client token for `production` (what an app's SDK uses; the admin API refuses it: 403). */
  clientToken: string;
  pg: PostgresServer;
  readonly pid: number;
  /** The server's output so far. */
  log(): string;
  /** Creates a flag (with Unleash's development and production environments). */
  createFlag(name: string): Promise<void>;
  /** SIGKILL the server (a crash); start() brings it back on the same port and database. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startUnleash(opts: { pg?: PostgresServer; database?: string; startTimeoutMs?: number } = {}): Promise<UnleashServer> {
  const ownPg = !opts.pg;
  // Durable, unlike the other tests' PostgreSQL (fsync and synchronous_commit off): the flags tests
  // crash it (kill -9) mid-test, and a commit acknowledged before the crash must survive it, as on
  // the database a real Unleash runs on (a full CI run lost the rollout a test had just set).
  const pg = opts.pg ?? (await startPostgres({ settings: { fsync: true, synchronous_commit: true, full_page_writes: true } }));
  const database = opts.database ?? 'unleash';
  await pg.psql(`CREATE DATABASE ${database}`);
  const port = await freePort();
  const adminToken = `*:*.${randomBytes(16).toString('hex')}`;
  const clientToken = `*:production.${randomBytes(16).toString('hex')}`;
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let output = '';
  const launch = async () => {
    output = '';
    const c = spawn(process.execPath, [MAIN], {
      env: {
        ...process.env,
        UNLEASH_PG_PORT: String(pg.port),
        UNLEASH_PG_PASSWORD: pg.password ?? '',
        UNLEASH_PG_DATABASE: database,
        UNLEASH_PORT: String(port),
        UNLEASH_ADMIN_TOKEN: adminToken,
        UNLEASH_CLIENT_TOKEN: clientToken,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = c;
    c.stdout!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
    c.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
    const deadline = Date.now() + (opts.startTimeoutMs ?? 120_000);
    while (!output.includes('UNLEASH READY')) {
      if (c.exitCode !== null || c.signalCode !== null) throw new Error(`unleash-server exited (${c.exitCode ?? c.signalCode}) before it was ready:\n${output.slice(-2000)}`);
      if (Date.now() > deadline) {
        c.kill('SIGKILL');
        throw new Error(`unleash-server not ready within ${opts.startTimeoutMs ?? 120_000} ms:\n${output.slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const waitExit = async (c: ChildProcess, ms: number) => {
    const end = Date.now() + ms;
    while (c.exitCode === null && c.signalCode === null && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    return c.exitCode !== null || c.signalCode !== null;
  };
  try {
    await launch();
  } catch (err) {
    if (ownPg) await pg.stop();
    throw err;
  }
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, { method, headers: { authorization: adminToken, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  };
  return {
    url,
    port,
    adminToken,
    clientToken,
    pg,
    get pid() {
      return child?.pid ?? 0;
    },
    log: () => output,
    createFlag: (name) => admin('POST', '/api/admin/projects/default/features', { name }),
    async kill() {
      if (!child) return;
      child.kill('SIGKILL');
      await waitExit(child, 5_000);
    },
    start: launch,
    async stop() {
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        if (!(await waitExit(child, 10_000))) {
          child.kill('SIGKILL');
          await waitExit(child, 5_000);
        }
      }
      if (ownPg) await pg.stop();
    },
  };
}
