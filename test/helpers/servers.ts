/**
 * Real-server fixtures for integration tests (DESIGN.md "Real components, and how tests get them";
 * recipes in TESTING.md).
 *
 * Every fixture starts a real server on 127.0.0.1 on a free port, waits until it answers, and
 * returns its connection details plus an async `stop()` that ends only the processes the fixture
 * started — by PID: a polite signal first, SIGKILL after a grace period — and removes its temp dir.
 * An exit hook SIGKILLs whatever is still running when the test process ends (a crashed test,
 * a timeout, Ctrl-C), so no server outlives its test run.
 *
 * Rules kept here: child processes are started with argument arrays (never a shell string),
 * every wait is bounded, and a start failure names the server, the port, how long we waited,
 * and the tail of the server's log.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const HOST = '127.0.0.1';
const DEFAULT_START_TIMEOUT_MS = Number(process.env.SLIPWAY_SERVER_START_TIMEOUT_MS ?? 20_000);
const DEFAULT_STOP_GRACE_MS = 5_000;
const KEEP_TMP = process.env.SLIPWAY_KEEP_SERVER_TMP === '1';
const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

// ---------------------------------------------------------------------------------------------
// Availability
// ---------------------------------------------------------------------------------------------

export type ServerName = 'postgres' | 'nginx' | 'sshd' | 'prometheus' | 'registry';

const SBIN_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

/** Absolute path of an executable found on PATH (plus the sbin dirs), or undefined. */
export function findBinary(name: string, extraDirs: string[] = SBIN_DIRS): string | undefined {
  if (path.isAbsolute(name)) return isExecutable(name) ? name : undefined;
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The newest PostgreSQL bin dir: $SLIPWAY_PG_BIN, /usr/lib/postgresql/<newest>/bin, or PATH. */
export function postgresBinDir(): string | undefined {
  const has = (dir: string) => ['initdb', 'postgres', 'psql'].every((b) => isExecutable(path.join(dir, b)));
  const fromEnv = process.env.SLIPWAY_PG_BIN;
  if (fromEnv) return has(fromEnv) ? fromEnv : undefined;
  const root = '/usr/lib/postgresql';
  let versions: string[] = [];
  try {
    versions = fs.readdirSync(root).filter((v) => /^\d+(\.\d+)?$/.test(v));
  } catch {}
  versions.sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const dir = path.join(root, v, 'bin');
    if (has(dir)) return dir;
  }
  const initdb = findBinary('initdb', []);
  return initdb && has(path.dirname(initdb)) ? path.dirname(initdb) : undefined;
}

const REQUIRED_BINARIES: Record<ServerName, () => string[]> = {
  postgres: () => (IS_ROOT ? ['runuser', 'useradd'] : []),
  nginx: () => ['nginx'],
  sshd: () => ['/usr/sbin/sshd', 'ssh', 'ssh-keygen', ...(IS_ROOT ? ['useradd', 'usermod'] : [])],
  prometheus: () => ['prometheus'],
  registry: () => ['docker-registry'],
};

/** What is missing for a server (empty when it can run here). */
export function missingForServer(name: ServerName): string[] {
  const missing = REQUIRED_BINARIES[name]().filter((b) => !findBinary(b));
  if (name === 'postgres' && !postgresBinDir()) missing.unshift('PostgreSQL server binaries (initdb, postgres, psql)');
  return missing;
}

/** Whether the server's binaries exist on this machine. */
export function serverAvailable(name: ServerName): boolean {
  return missingForServer(name).length === 0;
}

/**
 * For tests: `const hasPg = requireServer('postgres'); it.skipIf(!hasPg)(...)`.
 * Missing under CI=true throws (the suite fails: CI must have every server); elsewhere it warns
 * loudly and returns false so the test is skipped.
 */
export function requireServer(name: ServerName): boolean {
  const missing = missingForServer(name);
  if (missing.length === 0) return true;
  const reason = `${name} tests need: ${missing.join(', ')} (install with scripts/ci-install.sh)`;
  if (process.env.CI === 'true') throw new Error(`CI=true and a required server is missing — ${reason}`);
  console.warn(`\n!!! SKIPPING ${name} integration tests: ${reason}\n`);
  return false;
}

// ---------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------

const handedOutPorts = new Set<number>();

/**
 * A free TCP port on 127.0.0.1, picked at random in [min, max) (default 20000–32000: below the
 * ephemeral range, where TIME_WAIT sockets from load tests can linger) and checked by binding it.
 * A port is never handed out twice by this process.
 */
export async function freePort(opts: { min?: number; max?: number } = {}): Promise<number> {
  const min = opts.min ?? 20_000;
  const max = opts.max ?? 32_000;
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = randomInt(min, max);
    if (handedOutPorts.has(port)) continue;
    if (await canListen(port)) {
      handedOutPorts.add(port);
      return port;
    }
  }
  throw new Error(`freePort: no free port found in ${min}-${max} after 200 tries`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: HOST, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** Resolves true when a TCP connection to host:port succeeds within timeoutMs. */
export function tcpAnswers(port: number, host = HOST, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** Resolves with the first bytes the server sends (e.g. an SSH banner), or '' on failure. */
function tcpBanner(port: number, timeoutMs = 1_000): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: HOST });
    const done = (s: string) => {
      sock.destroy();
      resolve(s);
    };
    sock.setTimeout(timeoutMs, () => done(''));
    sock.once('data', (d) => done(d.toString('latin1')));
    sock.once('error', () => done(''));
  });
}

// ---------------------------------------------------------------------------------------------
// Processes: tracking, stopping by PID, the exit hook
// ---------------------------------------------------------------------------------------------

interface ProcStat {
  state: string;
  ppid: number;
  startTime: string;
  comm: string;
}

function readStat(pid: number): ProcStat | undefined {
  let raw: string;
  try {
    raw = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const close = raw.lastIndexOf(')');
  const comm = raw.slice(raw.indexOf('(') + 1, close);
  const fields = raw.slice(close + 2).split(' ');
  return { state: fields[0] ?? '', ppid: Number(fields[1]), startTime: fields[19] ?? '', comm };
}

/** A process identity: PID plus its start time, so a reused PID is never signalled. */
export interface ProcRef {
  pid: number;
  startTime: string | undefined;
  label: string;
}

function procRef(pid: number, label: string): ProcRef {
  return { pid, startTime: readStat(pid)?.startTime, label };
}

/** Alive = exists, is not a zombie, and is still the same process (same start time). */
export function isAlive(ref: ProcRef | number): boolean {
  const r = typeof ref === 'number' ? { pid: ref, startTime: undefined } : ref;
  if (process.platform !== 'linux') {
    try {
      process.kill(r.pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
  const st = readStat(r.pid);
  if (!st || st.state === 'Z' || st.state === 'X') return false;
  return r.startTime === undefined || st.startTime === r.startTime;
}

/** All live descendants of pid (children, grandchildren, …), found through /proc. */
export function descendants(pid: number): ProcRef[] {
  if (process.platform !== 'linux') return [];
  const byParent = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const st = readStat(Number(entry));
    if (!st || st.state === 'Z') continue;
    const list = byParent.get(st.ppid) ?? [];
    list.push(Number(entry));
    byParent.set(st.ppid, list);
  }
  const out: ProcRef[] = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift()!;
    for (const child of byParent.get(p) ?? []) {
      out.push(procRef(child, `child of ${p}`));
      queue.push(child);
    }
  }
  return out;
}

function signal(ref: ProcRef, sig: NodeJS.Signals): void {
  if (!isAlive(ref)) return;
  try {
    process.kill(ref.pid, sig);
  } catch {}
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitDead(refs: ProcRef[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (refs.some(isAlive)) {
    if (Date.now() >= deadline) return false;
    await sleep(25);
  }
  return true;
}

/**
 * Stop one process we started, by PID: `sig` (default SIGTERM), SIGKILL after graceMs. With
 * `tree`, its descendants (collected before signalling) get the same treatment once it is gone —
 * e.g. sshd's per-connection children that outlive the listener.
 */
export async function stopProcess(
  ref: ProcRef,
  opts: { signal?: NodeJS.Signals; graceMs?: number; tree?: boolean } = {},
): Promise<void> {
  const graceMs = opts.graceMs ?? DEFAULT_STOP_GRACE_MS;
  const kids = opts.tree ? descendants(ref.pid) : [];
  signal(ref, opts.signal ?? 'SIGTERM');
  if (!(await waitDead([ref], graceMs))) {
    signal(ref, 'SIGKILL');
    await waitDead([ref], 2_000);
  }
  const left = kids.filter(isAlive);
  if (left.length) {
    left.forEach((k) => signal(k, 'SIGTERM'));
    if (!(await waitDead(left, 1_000))) left.forEach((k) => signal(k, 'SIGKILL'));
    await waitDead(left, 2_000);
  }
  if (isAlive(ref)) throw new Error(`${ref.label} (pid ${ref.pid}) survived SIGKILL`);
}

const tracked = new Set<ProcRef>();
const tempDirs = new Set<string>();
let exitHookInstalled = false;

function track(ref: ProcRef): ProcRef {
  installExitHook();
  tracked.add(ref);
  return ref;
}

function untrack(ref: ProcRef | undefined): void {
  if (ref) tracked.delete(ref);
}

/** Synchronous last-resort cleanup: SIGKILL every tracked process (and its tree), remove temp dirs. */
function emergencyCleanup(): void {
  const victims: ProcRef[] = [];
  for (const ref of tracked) {
    if (!isAlive(ref)) continue;
    victims.push(ref, ...descendants(ref.pid));
  }
  for (const v of victims) signal(v, 'SIGKILL');
  tracked.clear();
  if (!KEEP_TMP) {
    for (const dir of tempDirs) {
      try {
        fs.rmSync(dir, { recursive: true, force: true });
      } catch {}
    }
  }
  tempDirs.clear();
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', emergencyCleanup);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      emergencyCleanup();
      process.removeListener(sig, onSignal);
      // Keep the default behaviour (terminate) unless someone else handles this signal.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

async function makeTempDir(kind: string): Promise<string> {
  installExitHook();
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), `slipway-${kind}-`));
  tempDirs.add(dir);
  return dir;
}

async function removeTempDir(dir: string): Promise<void> {
  tempDirs.delete(dir);
  if (!KEEP_TMP) await fsp.rm(dir, { recursive: true, force: true });
}

/** The last `lines` lines of a log file ('' if unreadable). */
export function logTail(file: string, lines = 25): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const len = Math.min(size, 16_384);
      const buf = Buffer.alloc(len);
      fs.readSync(fd, buf, 0, len, size - len);
      return buf.toString('utf8').split('\n').slice(-lines - 1).join('\n').trimEnd();
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

interface Spawned {
  child: ChildProcess;
  ref: ProcRef;
  /** Set once the process has exited (or failed to spawn). */
  exit?: { code: number | null; signal: NodeJS.Signals | null; error?: Error };
  exited: Promise<void>;
}

/** spawn(cmd, args) with stdout+stderr appended to logPath; tracked for the exit hook. */
function spawnLogged(label: string, cmd: string, args: string[], logPath: string, env?: NodeJS.ProcessEnv): Spawned {
  const fd = fs.openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: env ?? process.env });
  } finally {
    fs.closeSync(fd);
  }
  const spawned = { child } as Spawned;
  spawned.exited = new Promise<void>((resolve) => {
    child.once('error', (error) => {
      spawned.exit ??= { code: null, signal: null, error };
      resolve();
    });
    child.once('exit', (code, sig) => {
      spawned.exit ??= { code, signal: sig };
      resolve();
    });
  });
  if (child.pid === undefined) {
    // spawn failed synchronously enough that there is no pid (ENOENT, EACCES): 'error' follows.
    spawned.ref = { pid: -1, startTime: undefined, label };
    return spawned;
  }
  spawned.ref = track(procRef(child.pid, label));
  return spawned;
}

class ServerStartError extends Error {
  override name = 'ServerStartError';
}

function describeExit(s: Spawned): string {
  const e = s.exit;
  if (!e) return 'still running';
  if (e.error) return `failed to start (${e.error.message})`;
  return e.signal ? `killed by ${e.signal}` : `exited with code ${e.code}`;
}

/**
 * Poll `ready()` until it resolves true. Fails fast (with the log tail) when the process exits
 * first, and after timeoutMs with the log tail.
 */
async function waitReady(
  what: string,
  ready: () => Promise<boolean>,
  opts: { timeoutMs: number; logPath: string; proc?: Spawned; intervalMs?: number },
): Promise<void> {
  const started = Date.now();
  const deadline = started + opts.timeoutMs;
  for (;;) {
    if (opts.proc?.exit) {
      // let the log flush
      await sleep(50);
      throw new ServerStartError(
        `${what} ${describeExit(opts.proc)} before it answered (after ${Date.now() - started} ms).\n` +
          `--- ${opts.logPath} (tail) ---\n${logTail(opts.logPath)}`,
      );
    }
    if (await ready().catch(() => false)) return;
    if (Date.now() >= deadline) {
      throw new ServerStartError(
        `${what} did not answer within ${opts.timeoutMs} ms (process ${opts.proc ? describeExit(opts.proc) : 'n/a'}).\n` +
          `--- ${opts.logPath} (tail) ---\n${logTail(opts.logPath)}`,
      );
    }
    await sleep(opts.intervalMs ?? 50);
  }
}

const ADDRESS_IN_USE = /address already in use|EADDRINUSE|could not bind|bind\(\) to .* failed/i;

/** Run a start attempt with fresh ports; retry (up to 3 times) only when the port was taken meanwhile. */
async function withPortRetry<T>(attempt: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (e) {
      if (i >= 3 || !ADDRESS_IN_USE.test(String((e as Error).message))) throw e;
    }
  }
}

interface RunResult {
  stdout: string;
  stderr: string;
}

/** execFile with a timeout; rejects with a message carrying the command, exit code and stderr. */
export function run(
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 30_000, env: opts.env ?? process.env, cwd: opts.cwd, maxBuffer: 32 * 1024 * 1024, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        if (err) {
          const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean };
          const why = e.killed ? `timed out after ${opts.timeoutMs ?? 30_000} ms` : `exit ${e.code}`;
          const error = new Error(`${path.basename(cmd)} ${args.join(' ')}: ${why}\n${String(stderr).trim() || String(stdout).trim()}`);
          Object.assign(error, { exitCode: e.code, stdout: String(stdout), stderr: String(stderr) });
          reject(error);
        } else resolve({ stdout: String(stdout), stderr: String(stderr) });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

const osUsers = new Map<string, Promise<void>>();

/** Create an OS user once (idempotent; tolerates another process creating it at the same time). */
function ensureOsUser(name: string, opts: { createHome: boolean }): Promise<void> {
  let p = osUsers.get(name);
  if (!p) {
    p = (async () => {
      const exists = await run('id', ['-u', name]).then(() => true, () => false);
      if (exists) return;
      try {
        await run(findBinary('useradd') ?? 'useradd', [opts.createHome ? '-m' : '-M', '-s', '/bin/bash', name]);
      } catch (e) {
        // 9 = username already in use (a concurrent test created it first)
        if ((e as { exitCode?: number }).exitCode !== 9) throw e;
      }
    })();
    osUsers.set(name, p);
    p.catch(() => osUsers.delete(name));
  }
  return p;
}

function pgUser(): string | undefined {
  return IS_ROOT ? 'pgtest' : undefined;
}

/** [cmd, args] that run cmd as the PostgreSQL OS user (runuser when we are root). */
function asPgUser(cmd: string, args: string[]): [string, string[]] {
  const user = pgUser();
  return user ? [findBinary('runuser') ?? 'runuser', ['-u', user, '--', cmd, ...args]] : [cmd, args];
}

async function chownToPgUser(...files: string[]): Promise<void> {
  const user = pgUser();
  if (!user) return;
  const { stdout } = await run('id', ['-u', user]);
  const { stdout: gid } = await run('id', ['-g', user]);
  for (const f of files) await fsp.chown(f, Number(stdout.trim()), Number(gid.trim()));
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------------

export interface PostgresOptions {
  /** Password for user `postgres`; then TCP connections need it (scram-sha-256 unless authMethod says md5). */
  password?: string;
  authMethod?: 'scram-sha-256' | 'md5';
  /** Extra postgresql.conf settings. */
  settings?: Record<string, string | number | boolean>;
  startTimeoutMs?: number;
}

export interface PostgresServer {
  /** postgresql://postgres[:password]@127.0.0.1:PORT/postgres */
  url: string;
  host: string;
  port: number;
  user: 'postgres';
  password: string | undefined;
  database: 'postgres';
  dir: string;
  dataDir: string;
  logPath: string;
  /** The postmaster's PID (changes after restart()). */
  readonly pid: number;
  /** Fast shutdown (SIGINT), SIGKILL after the grace period; removes the temp dir. */
  stop(): Promise<void>;
  /** SIGKILL the postmaster only (a crash, for fault tests); restart() brings it back. */
  kill9(): Promise<void>;
  /** Start again on the same data dir and port (after kill9() or a stop without cleanup). */
  restart(): Promise<void>;
  /** Run SQL through psql (-X -A -t, ON_ERROR_STOP); resolves with stdout (trailing newline trimmed). */
  psql(sql: string): Promise<string>;
}

function pgConfValue(v: string | number | boolean): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  return `'${v.replace(/'/g, "''")}'`;
}

export async function startPostgres(opts: PostgresOptions = {}): Promise<PostgresServer> {
  const bin = postgresBinDir();
  if (!bin) throw new Error(`startPostgres: ${missingForServer('postgres').join(', ')} not found`);
  if (pgUser()) await ensureOsUser(pgUser()!, { createHome: false });
  const timeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const dir = await makeTempDir('pg');
  try {
    await chownToPgUser(dir);
    const dataDir = path.join(dir, 'data');
    const logPath = path.join(dir, 'postgres.log');
    const initArgs = ['-D', dataDir, '-U', 'postgres', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync', '--no-instructions', '--auth-local=trust'];
    if (opts.password !== undefined) {
      const pwfile = path.join(dir, 'pwfile');
      await fsp.writeFile(pwfile, `${opts.password}\n`, { mode: 0o600 });
      await chownToPgUser(pwfile);
      initArgs.push(`--auth-host=${opts.authMethod ?? 'scram-sha-256'}`, `--pwfile=${pwfile}`);
    } else {
      initArgs.push('--auth-host=trust');
    }
    const [initCmd, initArgv] = asPgUser(path.join(bin, 'initdb'), initArgs);
    await run(initCmd, initArgv, { timeoutMs }).catch((e: Error) => {
      throw new ServerStartError(`initdb failed: ${e.message}`, { cause: e });
    });
    await fsp.rm(path.join(dir, 'pwfile'), { force: true });

    let port = 0;
    let postmaster: ProcRef | undefined;
    let wrapper: Spawned | undefined;
    let orphans: ProcRef[] = [];
    let stopped = false;

    const writeConf = async () => {
      const settings: Record<string, string | number | boolean> = {
        listen_addresses: HOST,
        port,
        unix_socket_directories: dir,
        fsync: false,
        synchronous_commit: false,
        full_page_writes: false,
        max_connections: 100,
        shared_buffers: '32MB',
        logging_collector: false,
        ...opts.settings,
      };
      const body = Object.entries(settings).map(([k, v]) => `${k} = ${pgConfValue(v)}`).join('\n');
      // postgresql.auto.conf is read last, so these win over postgresql.conf.
      await fsp.writeFile(path.join(dataDir, 'postgresql.auto.conf'), `# written by test/helpers/servers.ts\n${body}\n`);
      await chownToPgUser(path.join(dataDir, 'postgresql.auto.conf'));
    };

    const launch = async () => {
      const [cmd, argv] = asPgUser(path.join(bin, 'postgres'), ['-D', dataDir]);
      const spawned = spawnLogged(`postgres wrapper :${port}`, cmd, argv, logPath);
      wrapper = spawned;
      let pid = 0;
      await waitReady(
        `PostgreSQL on ${HOST}:${port}`,
        async () => {
          // postmaster.pid line 1 = PID, line 8 = status ("ready" once it accepts connections)
          const lines = (await fsp.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n');
          if (lines[7]?.trim() !== 'ready') return false;
          pid = Number(lines[0]);
          return tcpAnswers(port);
        },
        { timeoutMs, logPath, proc: spawned },
      );
      postmaster = track(procRef(pid, `postgres :${port}`));
    };

    const stopPostmaster = async () => {
      if (postmaster) {
        // SIGINT = PostgreSQL's "fast" shutdown (SIGTERM would wait for every client to disconnect).
        await stopProcess(postmaster, { signal: 'SIGINT', tree: true });
        untrack(postmaster);
      }
      if (wrapper) {
        await stopProcess(wrapper.ref, { graceMs: 2_000 });
        untrack(wrapper.ref);
      }
      postmaster = undefined;
      wrapper = undefined;
    };

    await withPortRetry(async () => {
      port = await freePort();
      await writeConf();
      try {
        await launch();
      } catch (e) {
        await stopPostmaster().catch(() => {});
        await fsp.rm(path.join(dataDir, 'postmaster.pid'), { force: true });
        throw e;
      }
    });

    const auth = opts.password !== undefined ? `postgres:${encodeURIComponent(opts.password)}@` : 'postgres@';
    const url = `postgresql://${auth}${HOST}:${port}/postgres`;
    const server: PostgresServer = {
      url,
      host: HOST,
      port,
      user: 'postgres',
      password: opts.password,
      database: 'postgres',
      dir,
      dataDir,
      logPath,
      get pid() {
        return postmaster?.pid ?? -1;
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        await stopPostmaster();
        orphans.forEach((o) => signal(o, 'SIGKILL'));
        await removeTempDir(dir);
      },
      async kill9() {
        if (!postmaster) throw new Error('kill9: postgres is not running');
        orphans = descendants(postmaster.pid);
        signal(postmaster, 'SIGKILL');
        await waitDead([postmaster], 2_000);
        untrack(postmaster);
        postmaster = undefined;
        // backends notice the postmaster's death and exit; track them meanwhile for the exit hook
        orphans.forEach(track);
        if (wrapper) {
          await waitDead([wrapper.ref], 2_000);
          untrack(wrapper.ref);
          wrapper = undefined;
        }
      },
      async restart() {
        if (stopped) throw new Error('restart: this server was stopped and its data dir removed');
        if (postmaster && isAlive(postmaster)) await stopPostmaster();
        // A new postmaster refuses to start while old backends still hold the shared memory.
        if (!(await waitDead(orphans, 10_000))) orphans.forEach((o) => signal(o, 'SIGKILL'));
        await waitDead(orphans, 2_000);
        orphans.forEach(untrack);
        orphans = [];
        await launch();
      },
      async psql(sql: string) {
        const { stdout } = await run(path.join(bin, 'psql'), ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql], {
          timeoutMs: 30_000,
        });
        return stdout.replace(/\n$/, '');
      },
    };
    return server;
  } catch (e) {
    await removeTempDir(dir);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// nginx
// ---------------------------------------------------------------------------------------------

export interface UpstreamServer {
  /** host:port */
  address: string;
  down?: boolean;
  backup?: boolean;
  weight?: number;
  maxFails?: number;
  failTimeout?: string;
}

export interface NginxConfigContext {
  port: number;
  prefix: string;
}

export interface NginxOptions {
  /** Servers of one upstream `app`, proxied by one `server` on the fixture's port (TESTING.md). */
  upstreams?: Array<string | UpstreamServer>;
  /**
   * Or the body of `http {}` yourself (a string, or built from the port and prefix). The fixture
   * adds the main context (daemon off, pid, error_log, events) and the http temp paths.
   */
  config?: string | ((ctx: NginxConfigContext) => string);
  workerProcesses?: number;
  startTimeoutMs?: number;
  /** How long reload() waits for the old workers to exit (default 5000 ms; it does not fail after). */
  reloadDrainMs?: number;
}

export interface NginxServer {
  prefix: string;
  port: number;
  url: string;
  /** The master's PID. */
  pid: number;
  confPath: string;
  errorLogPath: string;
  /** Arguments that address this instance: `nginx ...nginxArgs -t` or `-s reload`. */
  nginxArgs: string[];
  /**
   * Optionally rewrite the config (new upstreams or http body), validate it with `nginx -t`, send
   * SIGHUP to the master, wait until new workers run the new config and (up to reloadDrainMs) the
   * old workers are gone. A client's kept-alive connection to an old worker gets closed by nginx:
   * a client must retry those (TESTING.md).
   */
  reload(next?: Pick<NginxOptions, 'upstreams' | 'config'>): Promise<void>;
  /** The current worker PIDs. */
  workerPids(): number[];
  stop(): Promise<void>;
}

function upstreamLine(s: string | UpstreamServer): string {
  const u = typeof s === 'string' ? { address: s } : s;
  const parts = [`server ${u.address}`];
  if (u.weight !== undefined) parts.push(`weight=${u.weight}`);
  if (u.maxFails !== undefined) parts.push(`max_fails=${u.maxFails}`);
  if (u.failTimeout !== undefined) parts.push(`fail_timeout=${u.failTimeout}`);
  if (u.backup) parts.push('backup');
  if (u.down) parts.push('down');
  return `${parts.join(' ')};`;
}

/** The http {} body of TESTING.md's recipe: one upstream `app` and one proxying server. */
export function nginxProxyHttpBody(port: number, upstreams: Array<string | UpstreamServer>, upstreamName = 'app'): string {
  if (upstreams.length === 0) throw new Error('nginxProxyHttpBody: an upstream needs at least one server');
  return [
    `upstream ${upstreamName} {`,
    ...upstreams.map((u) => `  ${upstreamLine(u)}`),
    '  keepalive 16;',
    '}',
    'server {',
    `  listen ${HOST}:${port};`,
    '  location / {',
    `    proxy_pass http://${upstreamName};`,
    '    proxy_http_version 1.1;',
    '    proxy_set_header Connection "";',
    '    proxy_next_upstream error timeout http_502 http_503;',
    '  }',
    '}',
  ].join('\n');
}

/** A complete nginx.conf around an http {} body, rooted in prefix. */
export function nginxConfig(prefix: string, httpBody: string, workerProcesses = 1): string {
  const p = (f: string) => path.join(prefix, f);
  return [
    'daemon off;',
    'master_process on;',
    `worker_processes ${workerProcesses};`,
    ...(IS_ROOT ? ['user root;'] : []),
    `pid ${p('nginx.pid')};`,
    `error_log ${p('error.log')} warn;`,
    'events { worker_connections 1024; }',
    'http {',
    '  access_log off;',
    `  client_body_temp_path ${p('tmp_body')};`,
    `  proxy_temp_path ${p('tmp_proxy')};`,
    `  fastcgi_temp_path ${p('tmp_fcgi')};`,
    `  uwsgi_temp_path ${p('tmp_uwsgi')};`,
    `  scgi_temp_path ${p('tmp_scgi')};`,
    ...httpBody.split('\n').map((l) => `  ${l}`),
    '}',
    '',
  ].join('\n');
}

export async function startNginx(opts: NginxOptions = {}): Promise<NginxServer> {
  const nginx = findBinary('nginx');
  if (!nginx) throw new Error('startNginx: nginx not found');
  const timeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const prefix = await makeTempDir('nginx');
  const confPath = path.join(prefix, 'nginx.conf');
  const errorLogPath = path.join(prefix, 'error.log');
  const stdoutLog = path.join(prefix, 'stdout.log');
  // -e: the error log used before the config is read (nginx >= 1.19.5)
  const nginxArgs = ['-e', errorLogPath, '-p', `${prefix}/`, '-c', confPath];
  let port = 0;

  const render = (next: Pick<NginxOptions, 'upstreams' | 'config'>): string => {
    let body: string;
    if (next.config !== undefined) body = typeof next.config === 'function' ? next.config({ port, prefix }) : next.config;
    else if (next.upstreams !== undefined) body = nginxProxyHttpBody(port, next.upstreams);
    else body = `server {\n  listen ${HOST}:${port};\n  location / { return 200 "nginx ok\\n"; }\n}`;
    return nginxConfig(prefix, body, opts.workerProcesses ?? 1);
  };
  const validate = () =>
    run(nginx, [...nginxArgs, '-t', '-q'], { timeoutMs: 10_000 }).catch((e: Error) => {
      throw new Error(`nginx config rejected (${confPath}):\n${e.message}\n--- config ---\n${fs.readFileSync(confPath, 'utf8')}`, { cause: e });
    });

  try {
    const proc = await withPortRetry(async () => {
      port = await freePort();
      await fsp.writeFile(confPath, render(opts));
      await validate();
      const spawned = spawnLogged(`nginx :${port}`, nginx, nginxArgs, stdoutLog);
      try {
        await waitReady(`nginx on ${HOST}:${port}`, () => tcpAnswers(port), { timeoutMs, logPath: errorLogPath, proc: spawned });
      } catch (e) {
        await stopProcess(spawned.ref, { signal: 'SIGQUIT', graceMs: 1_000, tree: true });
        untrack(spawned.ref);
        throw new Error(`${(e as Error).message}\n--- stdout/stderr ---\n${logTail(stdoutLog)}`, { cause: e });
      }
      return spawned;
    });

    const workerPids = () => descendants(proc.ref.pid).map((d) => d.pid);
    let stopped = false;
    return {
      prefix,
      port,
      url: `http://${HOST}:${port}`,
      pid: proc.ref.pid,
      confPath,
      errorLogPath,
      nginxArgs,
      workerPids,
      async reload(next) {
        if (next) {
          await fsp.writeFile(confPath, render(next));
          await validate();
        }
        const before = descendants(proc.ref.pid);
        const old = new Set(before.map((d) => d.pid));
        signal(proc.ref, 'SIGHUP');
        await waitReady(`nginx reload (pid ${proc.ref.pid})`, async () => workerPids().some((p) => !old.has(p)), {
          timeoutMs: 10_000,
          logPath: errorLogPath,
          proc,
        });
        // Old workers finish their requests, close idle keep-alive connections, and exit. Until
        // then a reused client connection can still be served with the old config, so wait for
        // them (bounded: a long-lived connection may keep one around; that is then the caller's).
        await waitDead(before, opts.reloadDrainMs ?? 5_000);
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        // SIGQUIT = graceful shutdown; SIGTERM = fast. Tests want fast.
        await stopProcess(proc.ref, { signal: 'SIGTERM', tree: true });
        untrack(proc.ref);
        await removeTempDir(prefix);
      },
    };
  } catch (e) {
    await removeTempDir(prefix);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// OpenSSH sshd
// ---------------------------------------------------------------------------------------------

export interface SshdOptions {
  /** Login user (created if missing when we are root). Default `deploy`; non-root: the current user. */
  user?: string;
  /** Use this client private key (its `.pub` beside it) instead of generating one. */
  clientKeyPath?: string;
  startTimeoutMs?: number;
}

export interface SshdServer {
  host: string;
  port: number;
  user: string;
  /** `user@127.0.0.1` */
  target: string;
  /** Client private key accepted by this sshd. */
  keyPath: string;
  /** known_hosts holding this server's host key as `[127.0.0.1]:PORT`. */
  knownHostsPath: string;
  hostKeyLine: string;
  dir: string;
  pid: number;
  /** ssh client options that reach this server strictly (BatchMode, pinned host key, only our key). */
  sshArgs: string[];
  /** Run a command over a real ssh connection; resolves with stdout. */
  exec(command: string, opts?: { timeoutMs?: number }): Promise<string>;
  stop(): Promise<void>;
}

export interface SshdFleet {
  servers: SshdServer[];
  user: string;
  keyPath: string;
  /** known_hosts with every server's host key. */
  knownHostsPath: string;
  stop(): Promise<void>;
}

async function sshKeygen(file: string): Promise<void> {
  await run(findBinary('ssh-keygen') ?? 'ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'slipway-test', '-f', file], { timeoutMs: 10_000 });
}

async function prepareSshUser(user: string): Promise<void> {
  if (!IS_ROOT) return;
  await ensureOsUser(user, { createHome: true });
  // A fresh account is locked ('!' in shadow): sshd refuses it even for key auth.
  const { stdout } = await run('getent', ['shadow', user]).catch(() => ({ stdout: '' }));
  const hash = stdout.split(':')[1] ?? '';
  if (hash.startsWith('!') || hash === '') await run(findBinary('usermod') ?? 'usermod', ['-p', '*', user]);
  await fsp.mkdir('/run/sshd', { recursive: true, mode: 0o755 });
}

export function sshClientArgs(port: number, keyPath: string, knownHostsPath: string): string[] {
  return [
    '-F', '/dev/null',
    '-p', String(port),
    '-i', keyPath,
    '-o', 'BatchMode=yes',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'IdentityAgent=none',
    '-o', `UserKnownHostsFile=${knownHostsPath}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'ConnectTimeout=10',
    '-o', 'LogLevel=ERROR',
  ];
}

export async function startSshd(opts: SshdOptions = {}): Promise<SshdServer> {
  const sshd = findBinary('/usr/sbin/sshd') ?? findBinary('sshd');
  if (!sshd) throw new Error('startSshd: /usr/sbin/sshd not found');
  const user = opts.user ?? (IS_ROOT ? 'deploy' : os.userInfo().username);
  const timeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  await prepareSshUser(user);
  const dir = await makeTempDir('sshd');
  try {
    // sshd reads AuthorizedKeysFile as the login user: the dir must be traversable.
    await fsp.chmod(dir, 0o755);
    const hostKey = path.join(dir, 'host_ed25519');
    let keyPath = opts.clientKeyPath;
    if (!keyPath) {
      keyPath = path.join(dir, 'client_key');
      await Promise.all([sshKeygen(hostKey), sshKeygen(keyPath)]);
    } else {
      await sshKeygen(hostKey);
    }
    const authorizedKeys = path.join(dir, 'authorized_keys');
    await fsp.writeFile(authorizedKeys, await fsp.readFile(`${keyPath}.pub`), { mode: 0o644 });
    await fsp.chmod(authorizedKeys, 0o644);
    const hostPub = (await fsp.readFile(`${hostKey}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
    const knownHostsPath = path.join(dir, 'known_hosts');
    const cfgPath = path.join(dir, 'sshd_config');
    const logPath = path.join(dir, 'sshd.log');
    let port = 0;

    const proc = await withPortRetry(async () => {
      port = await freePort();
      const cfg = [
        `Port ${port}`,
        `ListenAddress ${HOST}`,
        `HostKey ${hostKey}`,
        `PidFile ${path.join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${authorizedKeys}`,
        `AllowUsers ${user}`,
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PermitRootLogin no',
        'UsePAM no',
        'StrictModes no',
        'MaxStartups 100:30:200',
        'MaxSessions 100',
        'LogLevel INFO',
        'Subsystem sftp internal-sftp',
        '',
      ].join('\n');
      await fsp.writeFile(cfgPath, cfg);
      const spawned = spawnLogged(`sshd :${port}`, sshd, ['-D', '-e', '-f', cfgPath], logPath);
      try {
        await waitReady(`sshd on ${HOST}:${port}`, async () => (await tcpBanner(port)).startsWith('SSH-'), { timeoutMs, logPath, proc: spawned });
      } catch (e) {
        await stopProcess(spawned.ref, { graceMs: 1_000, tree: true });
        untrack(spawned.ref);
        throw e;
      }
      return spawned;
    });

    const hostKeyLine = `[${HOST}]:${port} ${hostPub}`;
    await fsp.writeFile(knownHostsPath, `${hostKeyLine}\n`);
    const sshArgs = sshClientArgs(port, keyPath, knownHostsPath);
    const sshBin = findBinary('ssh') ?? 'ssh';
    let stopped = false;
    return {
      host: HOST,
      port,
      user,
      target: `${user}@${HOST}`,
      keyPath,
      knownHostsPath,
      hostKeyLine,
      dir,
      pid: proc.ref.pid,
      sshArgs,
      async exec(command, execOpts = {}) {
        const { stdout } = await run(sshBin, [...sshArgs, `${user}@${HOST}`, command], { timeoutMs: execOpts.timeoutMs ?? 30_000 });
        return stdout;
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        await stopProcess(proc.ref, { signal: 'SIGTERM', tree: true });
        untrack(proc.ref);
        await removeTempDir(dir);
      },
    };
  } catch (e) {
    await removeTempDir(dir);
    throw e;
  }
}

/** n sshds (each its own port and host key) accepting one shared client key. */
export async function startSshdFleet(n: number, opts: Omit<SshdOptions, 'clientKeyPath'> = {}): Promise<SshdFleet> {
  if (!Number.isInteger(n) || n < 1) throw new Error(`startSshdFleet: n must be a positive integer, got ${n}`);
  const dir = await makeTempDir('sshfleet');
  const keyPath = path.join(dir, 'client_key');
  try {
    await sshKeygen(keyPath);
    const results = await Promise.allSettled(Array.from({ length: n }, () => startSshd({ ...opts, clientKeyPath: keyPath })));
    const servers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.all(servers.map((s) => s.stop()));
      throw failed.reason;
    }
    const knownHostsPath = path.join(dir, 'known_hosts');
    await fsp.writeFile(knownHostsPath, servers.map((s) => `${s.hostKeyLine}\n`).join(''));
    let stopped = false;
    return {
      servers,
      user: servers[0]!.user,
      keyPath,
      knownHostsPath,
      async stop() {
        if (stopped) return;
        stopped = true;
        await Promise.all(servers.map((s) => s.stop()));
        await removeTempDir(dir);
      },
    };
  } catch (e) {
    await removeTempDir(dir);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Prometheus
// ---------------------------------------------------------------------------------------------

export interface PrometheusOptions {
  /** host:port targets scraped as job `jobName` (default `app`). */
  targets: string[];
  scrapeInterval?: string;
  jobName?: string;
  metricsPath?: string;
  startTimeoutMs?: number;
  /** Prometheus file_sd files scraped by the same job, re-read when they change (targets that come and go, e.g. the fake cluster's pods). */
  fileSd?: string[];
}

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusServer {
  url: string;
  port: number;
  pid: number;
  dir: string;
  configPath: string;
  /** Instant query through the HTTP API (vector results). */
  query(promql: string): Promise<PromSample[]>;
  /** Poll query() until it returns a non-empty result (the first scrape lands after ~5–6 s). */
  waitForSeries(promql: string, timeoutMs?: number): Promise<PromSample[]>;
  stop(): Promise<void>;
}

export async function startPrometheus(opts: PrometheusOptions): Promise<PrometheusServer> {
  const prom = findBinary('prometheus');
  if (!prom) throw new Error('startPrometheus: prometheus not found');
  const timeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const interval = opts.scrapeInterval ?? '1s';
  const dir = await makeTempDir('prom');
  try {
    const configPath = path.join(dir, 'prometheus.yml');
    const logPath = path.join(dir, 'prometheus.log');
    const config = {
      global: { scrape_interval: interval, evaluation_interval: interval, scrape_timeout: interval },
      scrape_configs: [
        {
          job_name: opts.jobName ?? 'app',
          metrics_path: opts.metricsPath ?? '/metrics',
          static_configs: [{ targets: opts.targets }],
          ...(opts.fileSd?.length ? { file_sd_configs: [{ files: opts.fileSd, refresh_interval: '1s' }] } : {}),
        },
      ],
    };
    // JSON is YAML
    await fsp.writeFile(configPath, JSON.stringify(config, null, 2));
    let port = 0;
    const proc = await withPortRetry(async () => {
      port = await freePort();
      const spawned = spawnLogged(
        `prometheus :${port}`,
        prom,
        [
          `--config.file=${configPath}`,
          `--storage.tsdb.path=${path.join(dir, 'data')}`,
          `--web.listen-address=${HOST}:${port}`,
          '--log.level=warn',
        ],
        logPath,
      );
      try {
        await waitReady(
          `Prometheus on ${HOST}:${port}`,
          async () => (await fetch(`http://${HOST}:${port}/-/ready`, { signal: AbortSignal.timeout(1_000) })).status === 200,
          { timeoutMs, logPath, proc: spawned },
        );
      } catch (e) {
        await stopProcess(spawned.ref, { graceMs: 2_000 });
        untrack(spawned.ref);
        throw e;
      }
      return spawned;
    });

    const url = `http://${HOST}:${port}`;
    const query = async (promql: string): Promise<PromSample[]> => {
      const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: promql })}`, { signal: AbortSignal.timeout(5_000) });
      const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: PromSample[] } };
      if (body.status !== 'success') throw new Error(`Prometheus query ${promql} failed: ${body.error ?? res.status}`);
      return body.data?.result ?? [];
    };
    let stopped = false;
    return {
      url,
      port,
      pid: proc.ref.pid,
      dir,
      configPath,
      query,
      async waitForSeries(promql, waitMs = 20_000) {
        const deadline = Date.now() + waitMs;
        let lastError = '';
        for (;;) {
          try {
            const r = await query(promql);
            if (r.length) return r;
          } catch (e) {
            lastError = (e as Error).message;
          }
          if (Date.now() >= deadline) {
            let targets = '';
            try {
              targets = JSON.stringify(await (await fetch(`${url}/api/v1/targets`, { signal: AbortSignal.timeout(2_000) })).json());
            } catch {}
            throw new Error(
              `Prometheus: no series for ${promql} within ${waitMs} ms${lastError ? ` (last error: ${lastError})` : ''}\n` +
                `targets: ${targets.slice(0, 2_000)}\n--- ${logPath} (tail) ---\n${logTail(logPath)}`,
            );
          }
          await sleep(250);
        }
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        await stopProcess(proc.ref, { signal: 'SIGTERM' });
        untrack(proc.ref);
        await removeTempDir(dir);
      },
    };
  } catch (e) {
    await removeTempDir(dir);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// OCI registry (Debian docker-registry = distribution/distribution 2.8)
// ---------------------------------------------------------------------------------------------

const BCRYPT64 = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** bcrypt's own base64 (no padding) of 16 bytes = the 22-character salt. */
function bcryptSalt(): string {
  const bytes = randomBytes(16);
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i]!;
    const b1 = bytes[i + 1];
    const b2 = bytes[i + 2];
    out += BCRYPT64[b0 >> 2];
    out += BCRYPT64[((b0 & 0x03) << 4) | ((b1 ?? 0) >> 4)];
    if (b1 === undefined) break;
    out += BCRYPT64[((b1 & 0x0f) << 2) | ((b2 ?? 0) >> 6)];
    if (b2 === undefined) break;
    out += BCRYPT64[b2 & 0x3f];
  }
  return out;
}

/**
 * A bcrypt hash of password, from the first that exists here: `htpasswd -B` (apache2-utils), the
 * `bcryptjs` package if installed, or the system's crypt(3) through perl (libxcrypt supports $2b$,
 * as on Debian 12 / Ubuntu 22.04+). Throws when none can.
 */
export async function bcryptHash(password: string, cost = 10): Promise<string> {
  const htpasswd = findBinary('htpasswd');
  if (htpasswd) {
    // -i: password from stdin, so it is never in a process list
    const { stdout } = await run(htpasswd, ['-niB', '-C', String(cost), 'u'], { input: `${password}\n` });
    return stdout.trim().slice(stdout.indexOf(':') + 1);
  }
  try {
    const name = 'bcryptjs';
    const mod = (await import(name)) as { default?: { hash(p: string, c: number): Promise<string> } };
    if (mod.default?.hash) return await mod.default.hash(password, cost);
  } catch {}
  const perl = findBinary('perl');
  if (perl) {
    const salt = `$2b$${String(cost).padStart(2, '0')}$${bcryptSalt()}`;
    const { stdout } = await run(perl, ['-e', 'print crypt($ENV{SLIPWAY_PW}, $ENV{SLIPWAY_SALT}) // ""'], {
      env: { ...process.env, SLIPWAY_PW: password, SLIPWAY_SALT: salt },
    });
    if (stdout.startsWith('$2b$') && stdout.length === 60) return stdout;
  }
  throw new Error('bcryptHash: no bcrypt implementation here (install apache2-utils for htpasswd)');
}

export interface RegistryOptions {
  /** Require HTTP basic auth (htpasswd, bcrypt) for this user. */
  htpasswd?: { user: string; password: string };
  startTimeoutMs?: number;
}

export interface RegistryServer {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT — the registry part of an image name */
  host: string;
  port: number;
  pid: number;
  dir: string;
  configPath: string;
  /** With htpasswd: the credentials and a ready `Authorization` header value. */
  auth?: { user: string; password: string; header: string };
  stop(): Promise<void>;
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<RegistryServer> {
  const registry = findBinary('docker-registry');
  if (!registry) throw new Error('startRegistry: docker-registry not found');
  const timeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const dir = await makeTempDir('registry');
  try {
    const configPath = path.join(dir, 'config.yml');
    const logPath = path.join(dir, 'registry.log');
    let authConfig: Record<string, unknown> | undefined;
    if (opts.htpasswd) {
      const htpasswdPath = path.join(dir, 'htpasswd');
      const hash = await bcryptHash(opts.htpasswd.password);
      await fsp.writeFile(htpasswdPath, `${opts.htpasswd.user}:${hash}\n`, { mode: 0o600 });
      authConfig = { htpasswd: { realm: 'slipway-test', path: htpasswdPath } };
    }
    let port = 0;
    const proc = await withPortRetry(async () => {
      port = await freePort();
      const config = {
        version: 0.1,
        log: { level: 'warn', accesslog: { disabled: true } },
        storage: { filesystem: { rootdirectory: path.join(dir, 'data') }, delete: { enabled: true } },
        http: { addr: `${HOST}:${port}`, secret: randomBytes(16).toString('hex') },
        ...(authConfig ? { auth: authConfig } : {}),
      };
      await fsp.writeFile(configPath, JSON.stringify(config, null, 2));
      const spawned = spawnLogged(`docker-registry :${port}`, registry, ['serve', configPath], logPath);
      try {
        await waitReady(
          `docker-registry on ${HOST}:${port}`,
          async () => [200, 401].includes((await fetch(`http://${HOST}:${port}/v2/`, { signal: AbortSignal.timeout(1_000) })).status),
          { timeoutMs, logPath, proc: spawned },
        );
      } catch (e) {
        await stopProcess(spawned.ref, { graceMs: 2_000 });
        untrack(spawned.ref);
        throw e;
      }
      return spawned;
    });
    let stopped = false;
    return {
      url: `http://${HOST}:${port}`,
      host: `${HOST}:${port}`,
      port,
      pid: proc.ref.pid,
      dir,
      configPath,
      auth: opts.htpasswd
        ? {
            ...opts.htpasswd,
            header: `Basic ${Buffer.from(`${opts.htpasswd.user}:${opts.htpasswd.password}`).toString('base64')}`,
          }
        : undefined,
      async stop() {
        if (stopped) return;
        stopped = true;
        await stopProcess(proc.ref, { signal: 'SIGTERM' });
        untrack(proc.ref);
        await removeTempDir(dir);
      },
    };
  } catch (e) {
    await removeTempDir(dir);
    throw e;
  }
}
