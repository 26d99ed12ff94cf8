/**
 * The demo's flag server: a real Unleash (npm unleash-server, a devDependency) in a child process
 * on 127.0.0.1, over a database of the demo's PostgreSQL, with an admin token and a client token
 * made up for this run. Starting takes ~10 s (it migrates its database), so the demo starts it early
 * and waits for it only when it needs it. Stopped by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface DemoUnleash {
  url: string;
  adminToken: string;
  clientToken: string;
  ready: Promise<void>;
  stop(): Promise<void>;
}

const MAIN = fileURLToPath(new URL('./demo-unleash-main.mjs', import.meta.url));

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Creates the `unleash` database on the demo's PostgreSQL and starts Unleash on it. */
export async function startDemoUnleash(databaseUrl: string): Promise<DemoUnleash> {
  const db = new URL(databaseUrl);
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('CREATE DATABASE slipway_demo_unleash');
  } finally {
    await client.end();
  }
  const port = await freePort();
  const adminToken = `*:*.${randomBytes(16).toString('hex')}`;
  const clientToken = `*:production.${randomBytes(16).toString('hex')}`;
  let output = '';
  const child: ChildProcess = spawn(process.execPath, [MAIN], {
    env: {
      ...process.env,
      UNLEASH_PG_PORT: db.port || '5432',
      UNLEASH_PG_USER: decodeURIComponent(db.username || 'postgres'),
      UNLEASH_PG_PASSWORD: decodeURIComponent(db.password),
      UNLEASH_PG_DATABASE: 'slipway_demo_unleash',
      UNLEASH_PORT: String(port),
      UNLEASH_ADMIN_TOKEN: adminToken,
      UNLEASH_CLIENT_TOKEN: clientToken,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-10_000)));
  child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-10_000)));
  const ready = (async () => {
    const deadline = Date.now() + 90_000;
    while (!output.includes('UNLEASH READY')) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`unleash-server exited before it was ready: ${output.slice(-500)}`);
      if (Date.now() > deadline) throw new Error('unleash-server not ready within 90 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  ready.catch(() => undefined);
  return {
    url: `http://127.0.0.1:${port}`,
    adminToken,
    clientToken,
    ready,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const closed = new Promise((r) => child.once('close', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await closed;
      clearTimeout(t);
    },
  };
}
