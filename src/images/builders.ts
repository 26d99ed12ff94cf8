/**
 * Image builders: `docker buildx build` when a Docker daemon answers (GitHub's hosted runners),
 * otherwise `buildah` or `podman` (daemonless). Every command is an argument array; build secrets
 * go in as `--secret id=…,src=<file>` (never as build args), registry passwords through stdin or
 * an auth file with mode 0600, never on a command line.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { exec as defaultExec, type Exec, type ExecResult, ExecError, lastLines } from '../lib/exec.ts';
import { UserError } from '../lib/errors.ts';

export type BuilderKind = 'docker' | 'buildah' | 'podman';
export const BUILDERS: readonly BuilderKind[] = ['docker', 'buildah', 'podman'];

export interface Detected {
  kind: BuilderKind;
  /** Why this builder (and why not the ones before it). */
  reasons: string[];
  version: string;
}

interface ExecEnv {
  exec?: Exec;
  env?: Record<string, string | undefined>;
  signal?: AbortSignal;
}

function childEnv(env?: Record<string, string | undefined>): NodeJS.ProcessEnv | undefined {
  if (!env) return undefined;
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

async function tryRun(e: ExecEnv, file: string, args: string[], timeoutMs: number): Promise<ExecResult | string> {
  try {
    const r = await (e.exec ?? defaultExec)(file, args, { env: childEnv(e.env), timeoutMs, signal: e.signal });
    if (r.code === 0) return r;
    return r.timedOut ? `timed out after ${timeoutMs}ms` : lastLines(r.stderr || r.stdout, 1) || `exit code ${r.code}`;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Picks the builder: `docker` when `docker info` succeeds (a daemon is reachable) and buildx is
 * there, else `buildah`, else `podman`. With a preferred builder, checks only that one.
 */
export async function detectBuilder(preferred: BuilderKind | 'auto', e: ExecEnv = {}): Promise<Detected> {
  const reasons: string[] = [];
  const order: BuilderKind[] = preferred === 'auto' ? ['docker', 'buildah', 'podman'] : [preferred];
  for (const kind of order) {
    if (kind === 'docker') {
      const info = await tryRun(e, 'docker', ['info', '--format', '{{.ServerVersion}}'], 20_000);
      if (typeof info === 'string') {
        reasons.push(`docker: no daemon reachable (docker info: ${info})`);
        continue;
      }
      const bx = await tryRun(e, 'docker', ['buildx', 'version'], 20_000);
      if (typeof bx === 'string') {
        reasons.push(`docker: daemon ${info.stdout.trim()} but no buildx plugin (${bx})`);
        continue;
      }
      reasons.push(`docker: daemon ${info.stdout.trim()} reachable, ${bx.stdout.trim().split('\n')[0]}`);
      return { kind, reasons, version: bx.stdout.trim().split('\n')[0]! };
    }
    const v = await tryRun(e, kind, ['--version'], 20_000);
    if (typeof v === 'string') {
      reasons.push(`${kind}: ${v}`);
      continue;
    }
    reasons.push(`${kind}: ${v.stdout.trim()}`);
    return { kind, reasons, version: v.stdout.trim() };
  }
  throw new UserError(
    `no image builder available: ${reasons.join('; ')}. Install buildah or podman, or run on a runner with Docker (builder input: auto, docker, buildah or podman)`,
  );
}

export interface BuildSecret {
  id: string;
  /** A file holding the secret (written by prepareSecrets or given as a secret file). */
  src: string;
}

export interface BuildRequest {
  kind: BuilderKind;
  context: string;
  dockerfile: string;
  /** Full references: registry/repo:tag. The first is the one pushed; others are added by manifest copy (buildah/podman). */
  refs: string[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  buildArgs: Array<[string, string]>;
  target?: string;
  platforms: string[];
  secrets: BuildSecret[];
  /** Local layer cache directory (buildx: type=local cache; buildah/podman: container storage root). */
  cacheDir?: string;
  /** Scratch directory for metadata/iid/digest files. */
  workDir: string;
  push: boolean;
  /** Plain-HTTP registry (buildah/podman --tls-verify=false). */
  insecure: boolean;
  /** Registry auth file (buildah/podman --authfile). */
  authFile?: string;
  noCache?: boolean;
}

export interface Command {
  file: string;
  args: string[];
  /** What it does, for logs and errors. */
  what: string;
}

/** Global storage flags for buildah/podman when the layer cache lives in our cache directory. */
function storageFlags(req: BuildRequest): string[] {
  return req.cacheDir ? ['--root', join(req.cacheDir, 'storage'), '--runroot', join(req.workDir, 'runroot')] : [];
}

/** The build command, as an argument array. Pure: the argv boundary the tests check. */
export function buildCommand(req: BuildRequest): Command {
  const common: string[] = ['--file', req.dockerfile];
  for (const [k, v] of Object.entries(req.labels)) common.push('--label', `${k}=${v}`);
  for (const [k, v] of Object.entries(req.annotations)) common.push('--annotation', `${k}=${v}`);
  for (const [k, v] of req.buildArgs) common.push('--build-arg', `${k}=${v}`);
  if (req.target) common.push('--target', req.target);
  for (const s of req.secrets) common.push('--secret', `id=${s.id},src=${s.src}`);
  if (req.noCache) common.push('--no-cache');
  if (req.kind === 'docker') {
    const args = ['buildx', 'build', '--progress', 'plain', ...common];
    for (const r of req.refs) args.push('--tag', r);
    if (req.platforms.length) args.push('--platform', req.platforms.join(','));
    if (req.cacheDir) {
      args.push('--cache-from', `type=local,src=${req.cacheDir}`);
      // Written beside and swapped in after the build, so the cache does not grow forever.
      args.push('--cache-to', `type=local,dest=${req.cacheDir}-new,mode=max`);
    }
    args.push('--metadata-file', join(req.workDir, 'metadata.json'), '--provenance=false');
    if (req.push) args.push('--push');
    else if (req.platforms.length <= 1) args.push('--load');
    args.push(req.context);
    return { file: 'docker', args, what: 'docker buildx build' };
  }
  const args = [...storageFlags(req), 'build', '--isolation', 'chroot', '--layers', ...common, '--iidfile', join(req.workDir, 'iid')];
  if (req.platforms.length > 1) {
    args.push('--platform', req.platforms.join(','), '--manifest', req.refs[0]!);
  } else {
    if (req.platforms.length === 1) args.push('--platform', req.platforms[0]!);
    for (const r of req.refs) args.push('--tag', r);
  }
  args.push(req.context);
  return { file: req.kind, args, what: `${req.kind} build` };
}

/** The push command for buildah/podman (buildx pushes during the build). */
export function pushCommand(req: BuildRequest): Command | undefined {
  if (req.kind === 'docker' || !req.push) return undefined;
  const ref = req.refs[0]!;
  const flags = ['--digestfile', join(req.workDir, 'digest')];
  if (req.insecure) flags.push('--tls-verify=false');
  if (req.authFile) flags.push('--authfile', req.authFile);
  const args =
    req.platforms.length > 1
      ? [...storageFlags(req), 'manifest', 'push', '--all', ...flags, ref, `docker://${ref}`]
      : [...storageFlags(req), 'push', ...flags, ref, `docker://${ref}`];
  return { file: req.kind, args, what: `${req.kind} push` };
}

/** Counts cache hits and build steps in a builder's output. */
export function countCacheHits(kind: BuilderKind, output: string): { hits: number; steps: number } {
  const lines = output.split('\n');
  if (kind === 'docker') {
    const steps = new Set<string>();
    const hits = new Set<string>();
    for (const l of lines) {
      const m = /^#(\d+) \[[^\]]*\d+\/\d+\]/.exec(l);
      if (m) steps.add(m[1]!);
      const c = /^#(\d+) CACHED/.exec(l);
      if (c) hits.add(c[1]!);
    }
    return { hits: [...hits].filter((h) => steps.has(h)).length, steps: steps.size };
  }
  const steps = lines.filter((l) => /^STEP \d+(\/\d+)?: /.test(l) && !/^STEP \d+(\/\d+)?: FROM /i.test(l)).length;
  const hits = lines.filter((l) => /^--> Using cache /.test(l)).length;
  return { hits, steps };
}

/** Writes secret values to files (mode 0600) for --secret id=…,src=…; returns them and a cleanup. */
export function prepareSecrets(
  values: Array<[string, string]>,
  files: Array<[string, string]>,
  workDir: string,
): { secrets: BuildSecret[]; cleanup: () => void } {
  const dir = mkdtempSync(join(workDir, 'secrets-'));
  const secrets: BuildSecret[] = [];
  values.forEach(([id, value], i) => {
    const src = join(dir, `s${i}`);
    writeFileSync(src, value, { mode: 0o600 });
    secrets.push({ id, src });
  });
  for (const [id, src] of files) {
    if (!existsSync(src)) throw new UserError(`secret-files: ${id}=${src}: no such file`);
    secrets.push({ id, src });
  }
  return { secrets, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Registry auth for buildah/podman: a containers-auth.json of our own (mode 0600). */
export function writeAuthFile(workDir: string, registry: string, username: string, password: string): string {
  const file = join(workDir, 'auth.json');
  const auth = Buffer.from(`${username}:${password}`).toString('base64');
  writeFileSync(file, JSON.stringify({ auths: { [registry]: { auth } } }), { mode: 0o600 });
  return file;
}

/** docker login with the password on stdin. */
export async function dockerLogin(registry: string, username: string, password: string, e: ExecEnv = {}): Promise<void> {
  const r = await (e.exec ?? defaultExec)('docker', ['login', '--username', username, '--password-stdin', registry], {
    input: password,
    env: childEnv(e.env),
    timeoutMs: 60_000,
    signal: e.signal,
  });
  if (r.code !== 0) throw new ExecError(r, `docker login ${registry}`);
}

export interface BuildOutcome {
  /** Manifest digest in the registry (when pushed). */
  digest?: string;
  /** Local image id (config digest). */
  imageId?: string;
  cacheHits: number;
  steps: number;
  buildMs: number;
  pushMs: number;
  commands: Command[];
}

/**
 * Runs the build (and, for buildah/podman, the push of the first reference). Streams the
 * builder's output through onLine. Throws ExecError with the last lines on failure.
 */
export async function runBuild(req: BuildRequest, e: ExecEnv & { timeoutMs: number; onLine?: (line: string) => void }): Promise<BuildOutcome> {
  const run = e.exec ?? defaultExec;
  const build = buildCommand(req);
  const started = performance.now();
  let output = '';
  const r = await run(build.file, build.args, {
    env: childEnv(e.env),
    timeoutMs: e.timeoutMs,
    signal: e.signal,
    cwd: req.context,
    maxBuffer: 8 << 20,
    onLine: (line) => {
      output += `${line}\n`;
      e.onLine?.(line);
    },
  });
  if (!output) output = `${r.stdout}\n${r.stderr}`;
  if (r.code !== 0) throw new ExecError(r, build.what);
  const buildMs = performance.now() - started;
  const { hits, steps } = countCacheHits(req.kind, output);
  const commands = [build];
  let digest: string | undefined;
  let imageId: string | undefined;
  let pushMs = 0;
  if (req.kind === 'docker') {
    const metaPath = join(req.workDir, 'metadata.json');
    if (existsSync(metaPath)) {
      const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as Record<string, string>;
      if (req.push) digest = meta['containerimage.digest'];
      imageId = meta['containerimage.config.digest'];
    }
    if (req.cacheDir && existsSync(`${req.cacheDir}-new`)) {
      rmSync(req.cacheDir, { recursive: true, force: true });
      renameSync(`${req.cacheDir}-new`, req.cacheDir);
    }
  } else {
    const iid = join(req.workDir, 'iid');
    if (existsSync(iid)) imageId = readFileSync(iid, 'utf8').trim();
    const push = pushCommand(req);
    if (push) {
      const t = performance.now();
      const p = await run(push.file, push.args, {
        env: childEnv(e.env),
        timeoutMs: e.timeoutMs,
        signal: e.signal,
        onLine: e.onLine ? (l) => e.onLine!(l) : undefined,
      });
      if (p.code !== 0) throw new ExecError(p, push.what);
      pushMs = performance.now() - t;
      commands.push(push);
      const df = join(req.workDir, 'digest');
      if (existsSync(df)) digest = readFileSync(df, 'utf8').trim();
    }
  }
  if (imageId && !imageId.startsWith('sha256:')) imageId = `sha256:${imageId}`;
  return { digest, imageId, cacheHits: hits, steps, buildMs, pushMs, commands };
}
