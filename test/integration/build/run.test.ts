/**
 * build-and-tag's run() end to end in-process: real buildah builds (FROM scratch), pushes to a real
 * registry with htpasswd auth, skip-existing on the second run, tagging a release of an existing
 * commit, promote by manifest copy, audit: error, build secrets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireServer, startRegistry, findBinary, type RegistryServer } from '../../helpers/servers.ts';
import { parseInputs } from '../../../src/manifest/fields.ts';
import { spec } from '../../../src/actions/build-and-tag/inputs.ts';
import { run, type BuildDeps } from '../../../src/actions/build-and-tag/run.ts';
import { exec as realExec, type Exec } from '../../../src/lib/exec.ts';
import { actionContext, buildahStorage, buildahWorks, githubContext, makeContext, skopeoDigest, SHA } from './fixtures.ts';

const hasRegistry = requireServer('registry');
const hasTools = !!findBinary('buildah') && !!findBinary('skopeo');
const probe = hasTools ? buildahWorks() : { ok: false, error: 'buildah missing' };
if (!probe.ok) {
  if (process.env.CI === 'true') throw new Error(`CI=true and buildah cannot build: ${probe.error}`);
  console.warn(`\n!!! SKIPPING build-and-tag run tests: ${probe.error}\n`);
}

describe.skipIf(!hasRegistry || !probe.ok)('build-and-tag run() with buildah and a real registry', () => {
  let reg: RegistryServer;
  let storage: ReturnType<typeof buildahStorage>;
  const user = 'ci';
  const password = 'push-pass-Yt6e3Lm';
  const auth = () => ({ user, password });

  beforeAll(async () => {
    reg = await startRegistry({ htpasswd: { user, password } });
    storage = buildahStorage();
  });
  afterAll(async () => {
    await reg?.stop();
    storage?.cleanup();
  });

  /** Runs the action the way the runner would: raw inputs parsed by the spec, then run(). */
  async function go(raw: Record<string, string>, workspace: string, github = githubContext()) {
    const inputs = await parseInputs(spec, (n) => raw[n], () => {});
    const ctx = actionContext(storage.env, workspace, github);
    const calls: string[][] = [];
    const exec: Exec = (file, args, opts) => {
      calls.push([file, ...args]);
      return realExec(file, args, opts);
    };
    const deps: BuildDeps = { exec, now: () => new Date('2025-03-04T05:06:07Z') };
    const result = await run(inputs, ctx, deps);
    return { result, ctx, calls, log: ctx.log.text() };
  }

  const base = () => ({ image: `${reg.host}/acme/shop`, username: user, password, builder: 'buildah', cache: 'false' });

  it('builds, pushes under the SHA tag and copies the other tags; the second run skips the build', async () => {
    const ws = makeContext('release one\n');
    const first = await go({ ...base() }, ws);
    expect(first.result.failure).toBeUndefined();
    const out = first.result.outputs as Record<string, any>;
    expect(out.skipped).toBe(false);
    expect(out.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(out.image).toBe(`${reg.host}/acme/shop@${out.digest}`);
    expect(out.tags).toEqual([`${reg.host}/acme/shop:${SHA}`, `${reg.host}/acme/shop:0123456`, `${reg.host}/acme/shop:main`, `${reg.host}/acme/shop:latest`]);
    for (const ref of out.tags) expect(skopeoDigest(ref, auth())).toBe(out.digest);
    expect(out.labels['org.opencontainers.image.revision']).toBe(SHA);
    expect(out.metadata.builder).toBe('buildah');
    expect(out.metadata.sizeBytes).toBeGreaterThan(0);
    expect(first.calls.filter((c) => c[0] === 'buildah' && c[1] === 'build')).toHaveLength(1);
    expect(first.calls.filter((c) => c[0] === 'buildah' && c[1] === 'push')).toHaveLength(1);
    // the password never reaches a command line
    expect(first.calls.flat().join(' ')).not.toContain(password);
    expect(first.result.summary).toMatch(/built and pushed/);
    expect(first.result.summary).toMatch(/is not in the registry yet, so it was built/);
    expect(first.result.summary).toContain('| `main` | type=ref,event=branch |');
    expect(first.result.summary).toMatch(/Image audit \(clean, audit: warn\)/);

    const second = await go({ ...base() }, ws);
    const out2 = second.result.outputs as Record<string, any>;
    expect(out2.skipped).toBe(true);
    expect(out2.digest).toBe(out.digest);
    expect(second.calls.filter((c) => c[0] === 'buildah')).toEqual([]);
    expect(second.result.summary).toMatch(/reused \(already built\)/);
    expect(second.result.summary).toMatch(/is already in the registry .* the build was skipped/);
  });

  it('a release tag on an already-built commit adds 1.2.3 and 1.2 without building', async () => {
    const ws = makeContext('release one\n');
    const r = await go({ ...base() }, ws, githubContext({ ref: 'refs/tags/v1.2.3', refName: 'v1.2.3' }));
    const out = r.result.outputs as Record<string, any>;
    expect(out.skipped).toBe(true);
    expect(skopeoDigest(`${reg.host}/acme/shop:1.2.3`, auth())).toBe(out.digest);
    expect(skopeoDigest(`${reg.host}/acme/shop:1.2`, auth())).toBe(out.digest);
    expect(out.labels['org.opencontainers.image.version']).toBe('1.2.3');
  });

  it('promote copies the manifest under new tags, by tag or by digest', async () => {
    const ws = makeContext('unused\n');
    const sourceDigest = skopeoDigest(`${reg.host}/acme/shop:${SHA}`, auth());
    const r = await go({ ...base(), mode: 'promote', tags: 'production\ntype=raw,value=v1.4.2' }, ws);
    const out = r.result.outputs as Record<string, any>;
    expect(r.result.failure).toBeUndefined();
    expect(out.digest).toBe(sourceDigest);
    expect(out.skipped).toBe(true);
    expect(skopeoDigest(`${reg.host}/acme/shop:production`, auth())).toBe(sourceDigest);
    expect(r.calls).toEqual([]);
    const byDigest = await go({ ...base(), mode: 'promote', 'promote-from': sourceDigest, tags: 'staging' }, ws);
    expect(skopeoDigest(`${reg.host}/acme/shop:staging`, auth())).toBe(sourceDigest);
    expect(byDigest.result.summary).toMatch(/promoted/);
    const missing = await go({ ...base(), mode: 'promote', 'promote-from': 'never-built', tags: 'production' }, ws);
    expect(missing.result.failure).toMatch(/nothing to promote: .*acme\/shop:never-built is not in the registry \(build it first\)/);
  });

  it('audit: error fails on the Dockerfile line before anything is built or pushed', async () => {
    const ws = makeContext('x\n', 'FROM scratch\nENV API_TOKEN=abc123\nCOPY hello.txt /hello.txt\n');
    const r = await go({ ...base(), audit: 'error' }, ws, githubContext({ sha: 'a'.repeat(40) }));
    expect(r.result.failure).toMatch(/image audit: 3 finding\(s\) \(audit: error\): no-healthcheck at line 1, root-user at line 1, secret-env at line 2/);
    expect(r.calls).toEqual([]);
    const errors = r.ctx.log.lines.filter((l) => l.level === 'error' && l.at?.line === 2);
    expect(errors[0]?.at).toEqual({ file: 'Dockerfile', line: 2, title: 'Image audit: secret-env' });
    expect(r.result.summary).toContain('| Dockerfile:2 | secret-env |');
  });

  it('build secrets reach RUN --mount=type=secret as files, never the image or the log', async () => {
    const secret = 'build-secret-Qw3rT9zX';
    const ws = makeContext('with secret\n', [
      'FROM scratch',
      'COPY busybox /busybox',
      'RUN --mount=type=secret,id=npm ["/busybox", "test", "-s", "/run/secrets/npm"]',
      'USER 1000',
      'HEALTHCHECK CMD ["/busybox", "true"]',
    ].join('\n'));
    copyFileSync(findBinary('busybox')!, join(ws, 'busybox'));
    const sha = 'b'.repeat(40);
    const r = await go({ ...base(), secrets: `npm=${secret}`, 'build-args': 'NODE_ENV=production', cache: 'true', 'cache-dir': join(ws, '.layer-cache') }, ws, githubContext({ sha }));
    expect(r.result.failure).toBeUndefined();
    const build = r.calls.find((c) => c.includes('build'))!;
    expect(build.join(' ')).toMatch(/--secret id=npm,src=\S+/);
    expect(build.join(' ')).toContain('--build-arg NODE_ENV=production');
    expect(build.join(' ')).not.toContain(secret);
    expect(r.ctx.log.secrets.has(secret)).toBe(true);
    expect(r.log).not.toContain(secret);
    expect(JSON.stringify(r.result)).not.toContain(secret);
    // the layer cache lives in our cache dir (storage root) and is skipped without a cache service
    expect(build.slice(1, 3)).toEqual(['--root', join(ws, '.layer-cache', 'storage')]);
    expect((r.result.outputs as any).metadata.cache).toBe('skipped');
    // without the secret the RUN step fails: proof it was mounted
    const r2 = await go({ ...base(), 'skip-existing': 'false' }, ws, githubContext({ sha: 'c'.repeat(40) }));
    expect(r2.result.failure).toMatch(/buildah build exited with code \d+/);
  });

  it('a second build with the layer cache reports cache hits', async () => {
    const ws = makeContext('cached\n');
    const cacheDir = join(ws, '.layer-cache');
    const first = await go({ ...base(), cache: 'true', 'cache-dir': cacheDir, 'skip-existing': 'false' }, ws, githubContext({ sha: 'd'.repeat(40) }));
    expect(first.result.failure).toBeUndefined();
    writeFileSync(join(ws, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\nUSER 1000\nHEALTHCHECK CMD ["/hello"]\nLABEL extra=1\n');
    const second = await go({ ...base(), cache: 'true', 'cache-dir': cacheDir, 'skip-existing': 'false' }, ws, githubContext({ sha: 'e'.repeat(40) }));
    const meta = (second.result.outputs as any).metadata;
    expect(meta.cacheHits).toBeGreaterThanOrEqual(1);
    expect(second.result.summary).toMatch(/Cache hits \| [1-9]\d* of \d+ steps/);
  });
});
