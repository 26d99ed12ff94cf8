/**
 * "Already built?" vs rebuilding, in one run, against a real registry (docker-registry on 127.0.0.1)
 * and real buildah builds.
 *
 *   node_modules/.bin/node bench/build-skip.ts [iterations]
 *
 * Rows:
 *   floor             one bare HEAD on the manifest (fetch, keep-alive, no auth): the least any check costs
 *   decide            RegistryClient.headManifest with a fresh client (what build-and-tag does first)
 *   decide (Bearer)   the same behind a token-auth front: 401 challenge, token request, HEAD
 *   skip path         decide + GET manifest + PUT under 3 more tags (the whole work of a skipped run)
 *   rebuild           buildah build (no layer cache) + buildah push of the same image
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { startRegistry, findBinary } from '../test/helpers/servers.ts';
import { buildahBuildPush, buildahStorage, makeContext, startBearerFront } from '../test/integration/build/fixtures.ts';
import { RegistryClient, MANIFEST_ACCEPT } from '../src/images/registry.ts';

const N = Number(process.argv[2] ?? 50);
const REBUILDS = 3;

function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { median: q(0.5), p90: q(0.9), n: s.length };
}

async function time(n: number, fn: () => Promise<unknown> | unknown): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

const reg = await startRegistry();
const front = await startBearerFront(reg.port);
const storage = buildahStorage();
try {
  const ctx = makeContext('bench\n', 'FROM scratch\nCOPY busybox /busybox\nCOPY hello.txt /hello.txt\nUSER 1000\n');
  copyFileSync(findBinary('busybox')!, join(ctx, 'busybox'));
  const repo = 'bench/app';
  const tag = 'f'.repeat(40);
  const ref = `${reg.host}/${repo}:${tag}`;
  const digest = buildahBuildPush(storage.env, ctx, ref);

  // warm up
  await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { accept: MANIFEST_ACCEPT } });

  const floor = await time(N, async () => {
    const r = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { accept: MANIFEST_ACCEPT } });
    if (r.headers.get('docker-content-digest') !== digest) throw new Error('floor: wrong digest');
  });
  let reqs = 0;
  const decide = await time(N, async () => {
    const c = new RegistryClient({ registry: reg.host, insecure: true });
    const m = await c.headManifest(repo, tag, `repository:${repo}:pull,push`);
    if (m?.digest !== digest) throw new Error('decide: wrong digest');
    reqs = c.requests;
  });
  let bearerReqs = 0;
  const decideBearer = await time(N, async () => {
    const c = new RegistryClient({ registry: front.host, insecure: true, credentials: { username: front.user, password: front.password } });
    const m = await c.headManifest(repo, tag, `repository:${repo}:pull,push`);
    if (m?.digest !== digest) throw new Error('decide (Bearer): wrong digest');
    bearerReqs = c.requests;
  });
  let skipReqs = 0;
  const skipPath = await time(N, async () => {
    const c = new RegistryClient({ registry: reg.host, insecure: true });
    const m = await c.headManifest(repo, tag, `repository:${repo}:pull,push`);
    await c.copyTags(repo, m!.digest, ['1234567', 'main', 'latest']);
    skipReqs = c.requests;
  });
  const env = { ...process.env, ...storage.env };
  const rebuild = await time(REBUILDS, () => {
    execFileSync('buildah', ['build', '--isolation', 'chroot', '--no-cache', '-t', ref, ctx], { env, stdio: 'pipe' });
    execFileSync('buildah', ['push', '--tls-verify=false', ref, `docker://${ref}`], { env, stdio: 'pipe' });
  });

  const f = stats(floor);
  const rows: Array<[string, number[], string]> = [
    ['floor: one bare HEAD (fetch)', floor, '1'],
    ['decide: RegistryClient.headManifest', decide, String(reqs)],
    ['decide behind Bearer token auth', decideBearer, String(bearerReqs)],
    ['skip path: decide + GET + 3 PUTs', skipPath, String(skipReqs)],
    ['rebuild: buildah build --no-cache + push', rebuild, '—'],
  ];
  const rb = stats(rebuild).median;
  console.log(`\nbuild-skip: ${N} iterations (rebuild: ${REBUILDS}), image FROM scratch + busybox (~2 MB), registry docker-registry on 127.0.0.1\n`);
  console.log('| Path | HTTP requests | median | p90 | × floor | rebuild ÷ path |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const [name, samples, n] of rows) {
    const s = stats(samples);
    console.log(`| ${name} | ${n} | ${s.median.toFixed(2)} ms | ${s.p90.toFixed(2)} ms | ${(s.median / f.median).toFixed(1)}× | ${(rb / s.median).toFixed(0)}× |`);
  }
} finally {
  await front.close();
  await reg.stop();
  storage.cleanup();
}
