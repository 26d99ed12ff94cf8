/**
 * A throwaway PostgreSQL for the demo: DATABASE_URL when given, else the system server's binaries
 * in a temp directory (as the `postgres` OS user when run as root: initdb refuses root), else none.
 */
import { spawnSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';

export interface DemoDatabase {
  url: string;
  kind: 'given' | 'system' | 'pglite';
  describe: string;
  stop(): Promise<void>;
}

function binDir(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const v = readdirSync(base)
    .filter((d) => existsSync(join(base, d, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a))[0];
  return v ? join(base, v, 'bin') : undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
      .once('error', reject)
      .listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
  });
}

/**
 * PGlite (PostgreSQL compiled to WebAssembly, in this process) behind its PostgreSQL wire-protocol
 * socket server, so the migrate action talks to it with the same `pg` client as to a real server.
 */
export async function startPglite(): Promise<DemoDatabase | undefined> {
  let mods: [typeof import('@electric-sql/pglite'), typeof import('@electric-sql/pglite-socket')];
  try {
    mods = await Promise.all([import('@electric-sql/pglite'), import('@electric-sql/pglite-socket')]);
  } catch {
    return undefined; // not installed (it is a devDependency of this repository)
  }
  const [{ PGlite }, { PGLiteSocketServer }] = mods;
  const db = await PGlite.create();
  const port = await freePort();
  const server = new PGLiteSocketServer({ db, port, host: '127.0.0.1' });
  await server.start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    kind: 'pglite',
    describe: `an embedded PostgreSQL (PGlite ${(await db.query<{ v: string }>('select version() as v')).rows[0]?.v.split(' ')[1] ?? ''}, WebAssembly, in this process) on 127.0.0.1:${port}`,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}

export async function startDemoDatabase(env: Record<string, string | undefined>): Promise<DemoDatabase | undefined> {
  if (env.DATABASE_URL) return { url: env.DATABASE_URL, kind: 'given', describe: 'the server in DATABASE_URL', stop: async () => {} };
  if (env.SLIPWAY_DEMO_DB === 'pglite') return startPglite();
  const bin = binDir();
  if (!bin) return startPglite();
  const root = userInfo().uid === 0;
  const asUser = root ? 'postgres' : undefined;
  if (asUser && spawnSync('id', ['-u', asUser]).status !== 0) return startPglite();
  const dir = mkdtempSync(join(tmpdir(), 'slipway-demo-pg-'));
  if (asUser) {
    const uid = Number(spawnSync('id', ['-u', asUser], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', asUser], { encoding: 'utf8' }).stdout.trim());
    chownSync(dir, uid, gid);
  }
  const run = (args: string[]) =>
    asUser ? spawnSync('runuser', ['-u', asUser, '--', ...args], { encoding: 'utf8' }) : spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
  const init = run([join(bin, 'initdb'), '-D', join(dir, 'data'), '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']);
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return startPglite();
  }
  const port = await freePort();
  const args = [
    join(bin, 'postgres'),
    '-D',
    join(dir, 'data'),
    '-c',
    'listen_addresses=127.0.0.1',
    '-p',
    String(port),
    '-k',
    dir,
    '-c',
    'fsync=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'full_page_writes=off',
  ];
  const child = asUser ? spawn('runuser', ['-u', asUser, '--', ...args], { stdio: 'ignore' }) : spawn(args[0]!, args.slice(1), { stdio: 'ignore' });
  const pidFile = join(dir, 'data', 'postmaster.pid');
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (existsSync(pidFile) && /ready/.test(readFileSync(pidFile, 'utf8'))) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      return undefined;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    kind: 'system',
    describe: `a throwaway PostgreSQL (${bin.split('/').at(-2)}, the system's binaries) on 127.0.0.1:${port}`,
    async stop() {
      try {
        process.kill(pid, 'SIGINT');
      } catch {}
      const until = Date.now() + 10_000;
      while (Date.now() < until) {
        try {
          process.kill(pid, 0);
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
