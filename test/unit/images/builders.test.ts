import { describe, expect, it } from 'vitest';
import { buildCommand, countCacheHits, detectBuilder, pushCommand, type BuildRequest } from '../../../src/images/builders.ts';
import { parseChallenge } from '../../../src/images/registry.ts';
import { layerCacheKey, restoreLayerCache, saveLayerCache } from '../../../src/images/cache.ts';
import type { ExecResult } from '../../../src/lib/exec.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const base: BuildRequest = {
  kind: 'buildah',
  context: '/src',
  dockerfile: '/src/Dockerfile',
  refs: ['reg:5000/a/b:abc', 'reg:5000/a/b:main'],
  labels: { 'org.opencontainers.image.revision': 'abc' },
  annotations: { 'org.opencontainers.image.revision': 'abc' },
  buildArgs: [['NODE_ENV', 'production']],
  target: 'prod',
  platforms: [],
  secrets: [{ id: 'npm', src: '/tmp/w/secrets-1/s0' }],
  workDir: '/tmp/w',
  push: true,
  insecure: true,
  authFile: '/tmp/w/auth.json',
};

describe('builder command lines', () => {
  it('buildah: build secrets as --secret files, never as build args', () => {
    const c = buildCommand(base);
    expect(c.file).toBe('buildah');
    expect(c.args).toEqual([
      'build', '--isolation', 'chroot', '--layers',
      '--file', '/src/Dockerfile',
      '--label', 'org.opencontainers.image.revision=abc',
      '--annotation', 'org.opencontainers.image.revision=abc',
      '--build-arg', 'NODE_ENV=production',
      '--target', 'prod',
      '--secret', 'id=npm,src=/tmp/w/secrets-1/s0',
      '--iidfile', '/tmp/w/iid',
      '--tag', 'reg:5000/a/b:abc', '--tag', 'reg:5000/a/b:main',
      '/src',
    ]);
    expect(c.args.filter((a) => a.includes('npm')).every((a) => a.startsWith('id=npm,src='))).toBe(true);
  });
  it('buildah with a cache dir uses it as storage root; push of the first ref with digest file, auth file, tls off', () => {
    const req = { ...base, cacheDir: '/cache' };
    expect(buildCommand(req).args.slice(0, 5)).toEqual(['--root', '/cache/storage', '--runroot', '/tmp/w/runroot', 'build']);
    expect(pushCommand(req)!.args).toEqual(['--root', '/cache/storage', '--runroot', '/tmp/w/runroot', 'push', '--digestfile', '/tmp/w/digest', '--tls-verify=false', '--authfile', '/tmp/w/auth.json', 'reg:5000/a/b:abc', 'docker://reg:5000/a/b:abc']);
  });
  it('buildah multi-platform builds a manifest list and pushes it with --all', () => {
    const req = { ...base, kind: 'podman' as const, platforms: ['linux/amd64', 'linux/arm64'], insecure: false, authFile: undefined };
    const b = buildCommand(req);
    expect(b.file).toBe('podman');
    expect(b.args).toContain('--manifest');
    expect(b.args.join(' ')).toContain('--platform linux/amd64,linux/arm64 --manifest reg:5000/a/b:abc');
    expect(b.args).not.toContain('--tag');
    expect(pushCommand(req)!.args).toEqual(['manifest', 'push', '--all', '--digestfile', '/tmp/w/digest', 'reg:5000/a/b:abc', 'docker://reg:5000/a/b:abc']);
  });
  it('docker buildx: tags, platforms, local cache, metadata file, push', () => {
    const c = buildCommand({ ...base, kind: 'docker', platforms: ['linux/amd64', 'linux/arm64'], cacheDir: '/cache' });
    expect(c.file).toBe('docker');
    expect(c.args.slice(0, 4)).toEqual(['buildx', 'build', '--progress', 'plain']);
    const s = c.args.join(' ');
    expect(s).toContain('--secret id=npm,src=/tmp/w/secrets-1/s0');
    expect(s).toContain('--tag reg:5000/a/b:abc --tag reg:5000/a/b:main');
    expect(s).toContain('--platform linux/amd64,linux/arm64');
    expect(s).toContain('--cache-from type=local,src=/cache --cache-to type=local,dest=/cache-new,mode=max');
    expect(s).toContain('--metadata-file /tmp/w/metadata.json --provenance=false --push /src');
    expect(pushCommand({ ...base, kind: 'docker' })).toBeUndefined();
  });
  it('docker buildx without push loads a single-platform image', () => {
    expect(buildCommand({ ...base, kind: 'docker', push: false }).args).toContain('--load');
  });
});

describe('cache hit counting', () => {
  it('buildah --layers output', () => {
    const out = ['STEP 1/3: FROM scratch', 'STEP 2/3: COPY a /a', '--> Using cache 1234', 'STEP 3/3: LABEL x=y', '--> 5678'].join('\n');
    expect(countCacheHits('buildah', out)).toEqual({ hits: 1, steps: 2 });
  });
  it('buildx plain progress', () => {
    const out = ['#5 [1/3] FROM docker.io/library/node:22', '#5 CACHED', '#6 [2/3] RUN npm ci', '#6 CACHED', '#7 [3/3] COPY . .', '#7 DONE 0.1s'].join('\n');
    expect(countCacheHits('docker', out)).toEqual({ hits: 2, steps: 3 });
  });
});

function fakeExec(answers: Record<string, Partial<ExecResult> | Error>) {
  const calls: string[][] = [];
  const exec = async (file: string, args: readonly string[]) => {
    calls.push([file, ...args]);
    const a = answers[`${file} ${args[0]}`];
    if (a instanceof Error) throw a;
    return { command: [file, ...args], code: 1, signal: null, stdout: '', stderr: 'not here', durationMs: 1, timedOut: false, ...a } as ExecResult;
  };
  return { exec, calls };
}

describe('detectBuilder', () => {
  it('docker when the daemon answers and buildx is there', async () => {
    const f = fakeExec({ 'docker info': { code: 0, stdout: '27.1.1\n' }, 'docker buildx': { code: 0, stdout: 'github.com/docker/buildx v0.16.1\n' } });
    const d = await detectBuilder('auto', { exec: f.exec });
    expect(d.kind).toBe('docker');
    expect(f.calls[0]).toEqual(['docker', 'info', '--format', '{{.ServerVersion}}']);
  });
  it('buildah when docker has no daemon', async () => {
    const f = fakeExec({ 'docker info': { code: 1, stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock.' }, 'buildah --version': { code: 0, stdout: 'buildah version 1.28.2' } });
    const d = await detectBuilder('auto', { exec: f.exec });
    expect(d.kind).toBe('buildah');
    expect(d.reasons[0]).toMatch(/no daemon reachable.*Cannot connect/);
  });
  it('podman when neither docker nor buildah', async () => {
    const f = fakeExec({ 'docker info': new Error('program not found: docker'), 'buildah --version': new Error('program not found: buildah'), 'podman --version': { code: 0, stdout: 'podman version 4.3.1' } });
    expect((await detectBuilder('auto', { exec: f.exec })).kind).toBe('podman');
  });
  it('a clear error when nothing can build', async () => {
    const f = fakeExec({});
    await expect(detectBuilder('auto', { exec: f.exec })).rejects.toThrow(/no image builder available: docker: no daemon reachable .*; buildah: not here; podman: not here/);
  });
  it('an explicit builder is the only one tried', async () => {
    const f = fakeExec({ 'podman --version': { code: 0, stdout: 'podman version 4' } });
    expect((await detectBuilder('podman', { exec: f.exec })).kind).toBe('podman');
    expect(f.calls).toHaveLength(1);
  });
});

describe('registry auth challenges', () => {
  it('parses Bearer and Basic challenges', () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:samalba/my-app:pull,push' },
    });
    expect(parseChallenge('Basic realm="slipway-test"')).toEqual({ scheme: 'basic', params: { realm: 'slipway-test' } });
    expect(parseChallenge(null)).toBeUndefined();
  });
});

describe('layer cache', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-cachekey-'));
  writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n');
  writeFileSync(join(dir, 'package-lock.json'), '{}');
  it('the key hashes the Dockerfile and lockfiles', () => {
    const k1 = layerCacheKey({ context: dir, dockerfile: join(dir, 'Dockerfile'), builder: 'buildah', platforms: [], os: 'linux' });
    expect(k1.files).toEqual(['Dockerfile', 'package-lock.json']);
    expect(k1.restoreKeys).toEqual(['slipway-build-linux-buildah-default-']);
    writeFileSync(join(dir, 'package-lock.json'), '{"x":1}');
    const k2 = layerCacheKey({ context: dir, dockerfile: join(dir, 'Dockerfile'), builder: 'buildah', platforms: [], os: 'linux' });
    expect(k2.key).not.toBe(k1.key);
  });
  it('is skipped without a cache service, and used with one', async () => {
    const key = layerCacheKey({ context: dir, dockerfile: join(dir, 'Dockerfile'), builder: 'buildah', platforms: [] });
    expect(await restoreLayerCache(dir, key, {})).toMatchObject({ status: 'skipped', reason: expect.stringMatching(/ACTIONS_RUNTIME_TOKEN/) });
    const calls: string[] = [];
    const mod = {
      restoreCache: async (_p: string[], k: string, r?: string[]) => (calls.push(`restore ${k} ${r}`), `${r![0]}older`),
      saveCache: async (_p: string[], k: string) => (calls.push(`save ${k}`), 1),
    };
    const r = await restoreLayerCache(dir, key, {}, mod);
    expect(r.status).toBe('partial');
    expect((await saveLayerCache(dir, key, r, {}, mod)).saved).toBe(true);
    expect(calls).toEqual([`restore ${key.key} ${key.restoreKeys[0]}`, `save ${key.key}`]);
  });
});
