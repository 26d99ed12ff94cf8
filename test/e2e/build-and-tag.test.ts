/**
 * build-and-tag through its bundle (dist/build-and-tag), as the runner runs it: a real registry
 * with htpasswd auth, real buildah builds; bad inputs; and the docker buildx path through a fake
 * `docker` executable on PATH that records its arguments (there is no Docker engine here).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findLeaks, node24, registerSecret, repoRoot, runBundle } from '../helpers/runner.ts';
import { requireServer, startRegistry, findBinary, freePort, type RegistryServer } from '../helpers/servers.ts';
import { buildahStorage, buildahWorks, makeContext, skopeoDigest } from '../integration/build/fixtures.ts';

const bundle = join(repoRoot, 'dist/build-and-tag/index.js');
const hasRegistry = requireServer('registry');
const probe = findBinary('buildah') ? buildahWorks() : { ok: false, error: 'buildah missing' };
if (!probe.ok) {
  if (process.env.CI === 'true') throw new Error(`CI=true and buildah cannot build: ${probe.error}`);
  console.warn(`\n!!! SKIPPING build-and-tag e2e build tests: ${probe.error}\n`);
}
if (!existsSync(bundle)) throw new Error('dist/build-and-tag/index.js is missing: run node scripts/build.ts build-and-tag');

const SHA = '0123456789abcdef0123456789abcdef01234567';
const user = 'deployer';
const password = 'e2e-pass-Vb7Nq2Wx';
const buildSecret = 'npm-token-Pz4Lk8Rt';
registerSecret(password, buildSecret);

function eventFile(payload: object): string {
  const f = join(mkdtempSync(join(tmpdir(), 'slipway-event-')), 'event.json');
  writeFileSync(f, JSON.stringify(payload));
  return f;
}
const pushEvent = () => eventFile({ repository: { full_name: 'acme/shop', default_branch: 'main' } });

describe.skipIf(!hasRegistry || !probe.ok)('build-and-tag bundle with buildah and a real registry', () => {
  let reg: RegistryServer;
  let storage: ReturnType<typeof buildahStorage>;
  beforeAll(async () => {
    reg = await startRegistry({ htpasswd: { user, password } });
    storage = buildahStorage();
  });
  afterAll(async () => {
    await reg?.stop();
    storage?.cleanup();
  });

  const env = () => ({ ...storage.env, GITHUB_EVENT_PATH: pushEvent() });

  it('builds and pushes, then skips on the second run; outputs, summary, annotations; no secret printed', async () => {
    const ws = makeContext('e2e\n', 'FROM scratch\nCOPY hello.txt /hello.txt\nENV API_TOKEN=x\n');
    const inputs = { image: `${reg.host}/acme/shop`, username: user, password, builder: 'buildah', secrets: `npm=${buildSecret}`, cache: 'false' };
    const r = await runBundle('build-and-tag', inputs, { cwd: ws, env: env() });
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.outputs.skipped).toBe('false');
    expect(r.outputs.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(r.outputs.image).toBe(`${reg.host}/acme/shop@${r.outputs.digest}`);
    const tags = JSON.parse(r.outputs.tags!) as string[];
    expect(tags.map((t) => t.split(':').pop())).toEqual([SHA, '0123456', 'main', 'latest']);
    for (const t of tags) expect(skopeoDigest(t, { user, password })).toBe(r.outputs.digest);
    expect(JSON.parse(r.outputs.labels!)['org.opencontainers.image.source']).toBe('https://github.com/acme/shop');
    expect(JSON.parse(r.outputs.metadata!)).toMatchObject({ skipped: false, builder: 'buildah', digest: r.outputs.digest });
    // audit warnings as annotations on the Dockerfile lines
    const warn = r.annotations.filter((a) => a.level === 'warning' && a.props.file === 'Dockerfile');
    expect(warn.map((a) => `${a.props.title}@${a.props.line}`).sort()).toEqual(['Image audit: no-healthcheck@1', 'Image audit: root-user@1', 'Image audit: secret-env@3']);
    expect(r.summary).toMatch(/## build-and-tag: .*acme\/shop built and pushed/);
    expect(r.summary).toContain('| Dockerfile:3 | secret-env |');
    expect(r.masks).toContain(password);
    expect(r.masks).toContain(buildSecret);
    expect(findLeaks(r, [password, buildSecret])).toEqual([]);

    const again = await runBundle('build-and-tag', inputs, { cwd: ws, env: env() });
    expect(again.code).toBe(0);
    expect(again.outputs.skipped).toBe('true');
    expect(again.outputs.digest).toBe(r.outputs.digest);
    expect(again.summary).toMatch(/reused \(already built\)/);
    expect(again.stdout).not.toMatch(/STEP 1/);
    expect(findLeaks(again, [password, buildSecret])).toEqual([]);
  });

  it('wrong credentials: a clear one-line failure, the password never printed', async () => {
    const wrong = 'wrong-pass-Hd93Kx';
    registerSecret(wrong);
    const ws = makeContext('x\n');
    const r = await runBundle('build-and-tag', { image: `${reg.host}/acme/shop`, username: user, password: wrong, builder: 'buildah' }, { cwd: ws, env: env() });
    expect(r.code).toBe(1);
    expect(r.errors.at(-1)).toMatch(new RegExp(`build-and-tag: registry ${reg.host} rejected the credentials for user "deployer" \\(HTTP 401`));
    expect(r.summary).toMatch(/\| Registry: already built\? \| failed: registry .* rejected the credentials/);
    expect(findLeaks(r, [wrong, password])).toEqual([]);
  });
});

describe('build-and-tag bundle: bad inputs fail before any side effect', () => {
  const ws = makeContext('x\n');
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['invalid image name', { image: 'ghcr.io/Acme/API:v1' }, /Input 'image': got "ghcr.io\/Acme\/API:v1"; expected an image name like ghcr.io\/acme\/api .*without a tag/],
    ['invalid tag grammar', { image: 'ghcr.io/acme/api', tags: 'type=sha\ntype=semver,pattern={{mjaor}}' }, /Input 'tags': got .*; expected tag rules .*line 2 .*unknown placeholder \{\{mjaor\}\}/],
    ['a password without a user name', { image: 'ghcr.io/acme/api', password: 'lonely-pass-77' }, /Input 'username': got nothing; expected a user name to go with the password/],
    ['a secret line without =', { image: 'ghcr.io/acme/api', secrets: 'ghp_not_a_pair_1234' }, /Input 'secrets': got \(a secret value, not shown\); expected KEY=VALUE lines/],
  ];
  for (const [name, inputs, re] of cases) {
    it(name, async () => {
      registerSecret('lonely-pass-77', 'ghp_not_a_pair_1234');
      const r = await runBundle('build-and-tag', inputs, { cwd: ws, env: { GITHUB_EVENT_PATH: pushEvent() } });
      expect(r.code).toBe(1);
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0]).toMatch(re);
      expect(r.stdout).not.toMatch(/\n\s+at /); // no stack trace
      expect(findLeaks(r, ['lonely-pass-77', 'ghp_not_a_pair_1234'])).toEqual([]);
    });
  }
  it('an unreachable registry fails before building', async () => {
    const port = await freePort();
    const r = await runBundle('build-and-tag', { image: `127.0.0.1:${port}/acme/api`, builder: 'buildah' }, { cwd: ws, env: { GITHUB_EVENT_PATH: pushEvent() } });
    expect(r.code).toBe(1);
    expect(r.errors.at(-1)).toMatch(new RegExp(`registry 127.0.0.1:${port} is unreachable \\(http://127.0.0.1:${port}\\): failed after 3 attempts: ECONNREFUSED`));
    expect(r.stdout).not.toMatch(/STEP 1/);
  });
});

describe('build-and-tag bundle: the docker buildx path (fake docker on PATH)', () => {
  // There is no Docker engine here: a fake `docker` records its arguments and answers like docker would.
  const bin = mkdtempSync(join(tmpdir(), 'slipway-fake-docker-'));
  const log = join(bin, 'calls.jsonl');
  writeFileSync(join(bin, 'docker'), `#!${node24}
const fs = require('node:fs');
const crypto = require('node:crypto');
const a = process.argv.slice(2);
const rec = { argv: a };
if (a[0] === 'login') rec.stdinSha256 = crypto.createHash('sha256').update(fs.readFileSync(0)).digest('hex');
fs.appendFileSync(process.env.FAKE_DOCKER_LOG, JSON.stringify(rec) + '\\n');
if (a[0] === 'info') { console.log('27.1.1'); process.exit(0); }
if (a[0] === 'buildx' && a[1] === 'version') { console.log('github.com/docker/buildx v0.16.1 fake'); process.exit(0); }
if (a[0] === 'login') { console.log('Login Succeeded'); process.exit(0); }
if (a[0] === 'buildx' && a[1] === 'build') {
  const meta = a[a.indexOf('--metadata-file') + 1];
  fs.writeFileSync(meta, JSON.stringify({ 'containerimage.config.digest': 'sha256:' + 'c'.repeat(64) }));
  console.log('#4 [1/2] FROM docker.io/library/node:22');
  console.log('#4 CACHED');
  console.log('#5 [2/2] COPY hello.txt /hello.txt');
  console.log('#5 DONE 0.1s');
  process.exit(0);
}
process.exit(1);
`);
  chmodSync(join(bin, 'docker'), 0o755);
  const calls = () => readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { argv: string[]; stdinSha256?: string });

  it('detects the daemon, passes secrets as --secret files, build args, target, platforms, labels', async () => {
    const ws = makeContext('x\n', 'FROM node AS build\nFROM scratch AS prod\nCOPY hello.txt /hello.txt\nUSER 1\nHEALTHCHECK CMD ["/x"]\n');
    const r = await runBundle('build-and-tag', {
      image: 'ghcr.io/acme/api', push: 'false', secrets: `npm=${buildSecret}`, 'build-args': 'NODE_ENV=production\nLIST=a,b', target: 'prod', platforms: 'linux/amd64', cache: 'false',
    }, { cwd: ws, env: { PATH: `${bin}:${process.env.PATH}`, FAKE_DOCKER_LOG: log, GITHUB_EVENT_PATH: pushEvent() } });
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    const build = calls().find((c) => c.argv[1] === 'build')!.argv;
    const s = build.join(' ');
    expect(build.slice(0, 4)).toEqual(['buildx', 'build', '--progress', 'plain']);
    expect(s).toMatch(/--secret id=npm,src=\S+\/secrets-\w+\/s0/);
    expect(s).not.toContain(buildSecret);
    expect(s).toContain('--build-arg NODE_ENV=production --build-arg LIST=a,b --target prod');
    expect(s).toContain(`--label org.opencontainers.image.revision=${SHA}`);
    expect(s).toContain(`--annotation org.opencontainers.image.revision=${SHA}`);
    expect(s).toContain(`--tag ghcr.io/acme/api:${SHA} --tag ghcr.io/acme/api:0123456 --tag ghcr.io/acme/api:main --tag ghcr.io/acme/api:latest --platform linux/amd64`);
    expect(build.at(-2)).toBe('--load');
    expect(calls().map((c) => c.argv.slice(0, 2).join(' '))).toEqual(['info --format', 'buildx version', 'buildx build']);
    expect(r.outputs.image).toBe(`ghcr.io/acme/api:${SHA}`);
    expect(r.outputs.digest ?? '').toBe('');
    expect(JSON.parse(r.outputs.metadata!)).toMatchObject({ builder: 'docker', cacheHits: 1, steps: 2 });
    expect(r.summary).toMatch(/1 of 2 steps/);
    expect(r.annotations.filter((a) => a.props.title === 'Image audit: latest-base').map((a) => a.props.line)).toEqual(['1']);
    expect(findLeaks(r, [buildSecret])).toEqual([]);
  });

  it.skipIf(!hasRegistry)('logs in with the password on stdin, and notices when the pushed image is not in the registry', async () => {
    const reg = await startRegistry({ htpasswd: { user, password } });
    try {
      writeFileSync(log, '');
      const ws = makeContext('x\n');
      const r = await runBundle('build-and-tag', { image: `${reg.host}/acme/api`, username: user, password, cache: 'false' }, {
        cwd: ws, env: { PATH: `${bin}:${process.env.PATH}`, FAKE_DOCKER_LOG: log, GITHUB_EVENT_PATH: pushEvent() },
      });
      const login = calls().find((c) => c.argv[0] === 'login')!;
      expect(login.argv).toEqual(['login', '--username', user, '--password-stdin', reg.host]);
      expect(login.stdinSha256).toBe(createHash('sha256').update(password).digest('hex'));
      expect(calls().find((c) => c.argv[1] === 'build')!.argv).toContain('--push');
      // the fake pushed nothing: the registry check after the build catches it
      expect(r.code).toBe(1);
      expect(r.errors.at(-1)).toMatch(new RegExp(`${reg.host}/acme/api:${SHA} is not in the registry after the push`));
      expect(findLeaks(r, [password])).toEqual([]);
    } finally {
      await reg.stop();
    }
  });
});
