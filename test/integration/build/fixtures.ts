/** Shared by the build integration tests, the e2e test and the benchmark: buildah storage, images, a Bearer-token front. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { ActionContext, GithubContext } from '../../../src/runner/context.ts';
import { MemoryReporter } from '../../../src/lib/report.ts';

export const SHA = '0123456789abcdef0123456789abcdef01234567';

/** buildah/podman storage in a temp dir (vfs driver: no overlay or fuse needed). */
export function buildahStorage(): { env: Record<string, string>; dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-buildah-'));
  mkdirSync(join(dir, 'run'));
  mkdirSync(join(dir, 'graph'));
  const conf = join(dir, 'storage.conf');
  writeFileSync(conf, `[storage]\ndriver = "vfs"\nrunroot = "${join(dir, 'run')}"\ngraphroot = "${join(dir, 'graph')}"\n`);
  return { env: { CONTAINERS_STORAGE_CONF: conf }, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Whether buildah can build FROM scratch here; the exact error when not. */
export function buildahWorks(): { ok: boolean; error?: string } {
  const s = buildahStorage();
  try {
    const ctx = join(s.dir, 'ctx');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'f'), 'x');
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY f /f\n');
    execFileSync('buildah', ['build', '--isolation', 'chroot', '-t', 'localhost/probe:1', ctx], { env: { ...process.env, ...s.env }, stdio: 'pipe', timeout: 60_000 });
    return { ok: true };
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    return { ok: false, error: e.stderr?.toString().trim() || e.message };
  } finally {
    s.cleanup();
  }
}

/** A build context: Dockerfile FROM scratch with one static file. */
export function makeContext(content: string, dockerfile?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-ctx-'));
  writeFileSync(join(dir, 'hello.txt'), content);
  writeFileSync(join(dir, 'Dockerfile'), dockerfile ?? 'FROM scratch\nCOPY hello.txt /hello.txt\nUSER 1000\nHEALTHCHECK CMD ["/hello"]\n');
  return dir;
}

/** Builds and pushes an image with buildah directly (not through our code). Returns the digest. */
export function buildahBuildPush(env: Record<string, string>, context: string, ref: string, auth?: { user: string; password: string; registry: string }): string {
  const e = { ...process.env, ...env };
  execFileSync('buildah', ['build', '--isolation', 'chroot', '-t', ref, context], { env: e, stdio: 'pipe', timeout: 120_000 });
  const digestFile = join(context, '.digest');
  const args = ['push', '--tls-verify=false', '--digestfile', digestFile];
  if (auth) {
    const authFile = join(context, '.auth.json');
    writeFileSync(authFile, JSON.stringify({ auths: { [auth.registry]: { auth: Buffer.from(`${auth.user}:${auth.password}`).toString('base64') } } }), { mode: 0o600 });
    args.push('--authfile', authFile);
  }
  execFileSync('buildah', [...args, ref, `docker://${ref}`], { env: e, stdio: 'pipe', timeout: 120_000 });
  return readFileSync(digestFile, 'utf8').trim();
}

/** skopeo's view of a tag's digest (an independent client). */
export function skopeoDigest(ref: string, auth?: { user: string; password: string }): string {
  const args = ['inspect', '--tls-verify=false', '--format', '{{.Digest}}'];
  if (auth) args.push('--creds', `${auth.user}:${auth.password}`);
  return execFileSync('skopeo', [...args, `docker://${ref}`], { stdio: 'pipe', timeout: 60_000 }).toString().trim();
}

export interface BearerFront {
  host: string;
  port: number;
  user: string;
  password: string;
  tokensIssued: string[];
  close(): Promise<void>;
}

/**
 * A token-auth front for a real registry: answers 401 with `WWW-Authenticate: Bearer realm=…`,
 * issues tokens at /token for the right Basic credentials (like Docker Hub or ghcr.io), and
 * forwards requests that carry a valid token to the registry behind it.
 */
export async function startBearerFront(upstreamPort: number, upstreamAuth?: string): Promise<BearerFront> {
  const user = 'robot';
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const tokens = new Set<string>();
  const issued: string[] = [];
  let port = 0;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/token') {
      const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}');
        return;
      }
      const token = `tok-${randomBytes(12).toString('hex')}`;
      tokens.add(token);
      issued.push(token);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300, scope: url.searchParams.getAll('scope').join(' ') }));
      return;
    }
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!bearer || !tokens.has(bearer)) {
      const repo = /^\/v2\/(.+)\/(manifests|blobs|tags)\//.exec(url.pathname)?.[1];
      res.writeHead(401, {
        'content-type': 'application/json',
        'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="front.test"${repo ? `,scope="repository:${repo}:pull"` : ''}`,
      }).end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const h of ['accept', 'content-type']) if (req.headers[h]) headers[h] = String(req.headers[h]);
      if (upstreamAuth) headers.authorization = upstreamAuth;
      const body = Buffer.concat(chunks);
      const up = httpRequest({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: { ...headers, 'content-length': String(body.length) } }, (ur) => {
        const out: Record<string, string> = {};
        for (const h of ['content-type', 'content-length', 'docker-content-digest', 'location']) if (ur.headers[h]) out[h] = String(ur.headers[h]);
        res.writeHead(ur.statusCode ?? 502, out);
        ur.pipe(res);
      });
      up.on('error', () => res.writeHead(502).end());
      up.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as { port: number }).port;
  return { host: `127.0.0.1:${port}`, port, user, password, tokensIssued: issued, close: () => new Promise((r) => server.close(() => r())) };
}

export function githubContext(over: Partial<GithubContext> = {}): GithubContext {
  return {
    serverUrl: 'https://github.com',
    repository: 'acme/shop',
    sha: SHA,
    ref: 'refs/heads/main',
    refName: 'main',
    eventName: 'push',
    actor: 'octocat',
    runId: '1',
    runAttempt: '1',
    workflow: 'ci',
    job: 'build',
    runUrl: '',
    event: { repository: { default_branch: 'main' } },
    defaultBranch: 'main',
    ...over,
  };
}

export function actionContext(env: Record<string, string>, workspace: string, github = githubContext()): ActionContext & { log: MemoryReporter } {
  const temp = mkdtempSync(join(tmpdir(), 'slipway-runner-temp-'));
  const state: Record<string, string> = {};
  return {
    log: new MemoryReporter(),
    github,
    saveState: (n, v) => { state[n] = v; },
    getState: (n) => state[n] ?? '',
    signal: new AbortController().signal,
    tempDir: temp,
    workspace,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
  };
}
