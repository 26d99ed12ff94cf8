/**
 * examples/shop on a real cluster (issue 17 item 3, "the kind job in CI"): the smaller, honest
 * version of test/e2e/shop-kubernetes.test.ts. Not the whole workflow story (no workflow emulator,
 * no release plan, no SLO gate, no rollback.yml): Slipway's bundles as a deploy job runs them, against
 * the cluster of ~/.kube/config (or KUBECONFIG) — kind in .github/workflows/ci.yml's kubernetes-kind job.
 *   0. the shop's image built with `docker build` from examples/shop's own Dockerfile (node:22-slim,
 *      npm ci) for commit 1, commit 2 and a bad release (READY_FAIL=1: never ready), loaded into kind
 *      (`kind load docker-image --name slipway`, no registry); PostgreSQL 16 as a Deployment and
 *      Service in the test's namespace, the Secret shop-database (key url) pointing the pods at it,
 *      as k8s/shop.yaml asks of whoever runs the cluster. The shop's /ready connects to it.
 *   1. commit 1: migrate (the shop's migrations 0001-0003, through `kubectl port-forward svc/postgres`),
 *      deploy-rolling (target kubernetes, manifests: examples/shop/k8s, version c1), smoke-test through
 *      `kubectl port-forward svc/shop`: the Service answers c1.
 *   2. commit 2 with migration 0004: migrate applies one, deploy-rolling moves the Deployment on,
 *      the Service answers c2.
 *   3. the bad release: its pods never get ready, deploy-rolling undoes the rollout (rolled-back true,
 *      the step fails), the Deployment is back on commit 2's image and the Service answers c2.
 * The namespace (and with it PostgreSQL and the pods) is deleted in afterAll; every kubectl
 * port-forward is stopped by PID. Runs only with SLIPWAY_KUBE_REAL=1 (vitest.config.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { exec } from '../../src/lib/exec.ts';
import { findLeaks, runBundle, type BundleRun } from '../helpers/runner.ts';
import { REAL, kubeEnv, waitFor, type KubeEnv } from '../helpers/fake-kube/harness.ts';

const SHOP = resolve(import.meta.dirname, '../../examples/shop');
const KIND_CLUSTER = process.env.SLIPWAY_KIND_CLUSTER ?? 'slipway';
const POSTGRES_IMAGE = 'docker.io/library/postgres:16-alpine';
const IMAGE = 'docker.io/library/slipway-shop';
/** What each build adds to the shop's Dockerfile: a label that makes each commit its own image, and the bad release's fault. */
const BUILDS = {
  c1: ['LABEL org.opencontainers.image.revision=c1'],
  c2: ['LABEL org.opencontainers.image.revision=c2'],
  bad: ['LABEL org.opencontainers.image.revision=bad', 'ENV READY_FAIL=1'],
} as const;
type Build = keyof typeof BUILDS;

let k: KubeEnv;
let dir: string;
let ns = '';
let password = '';
const runs: BundleRun[] = [];
const forwards = new Set<number>();
const image = (b: Build) => `${IMAGE}:${b}`;

async function run(cmd: string, args: string[], timeoutMs = 600_000, cwd?: string): Promise<string> {
  const r = await exec(cmd, args, { timeoutMs, maxBuffer: 16 << 20, ...(cwd ? { cwd } : {}) });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.slice(-2000)}`);
  return r.stdout;
}

/** `kubectl port-forward svc/<name>` on a free 127.0.0.1 port for the length of fn, stopped by PID after. */
async function viaService<T>(name: string, port: number, fn: (localPort: number) => Promise<T>): Promise<T> {
  const args = [...(k.kubeconfig ? ['--kubeconfig', k.kubeconfig] : []), 'port-forward', '-n', ns, '--address', '127.0.0.1', `svc/${name}`, `:${port}`];
  const child = spawn('kubectl', args, { env: k.env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid) forwards.add(child.pid);
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  try {
    const local = await new Promise<number>((ok, fail) => {
      let out = '';
      const t = setTimeout(() => fail(new Error(`kubectl port-forward svc/${name}: no port after 30s: ${err}`)), 30_000);
      child.stdout.on('data', (d) => {
        out += d;
        const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) {
          clearTimeout(t);
          ok(Number(m[1]));
        }
      });
      child.on('exit', (code) => {
        clearTimeout(t);
        fail(new Error(`kubectl port-forward svc/${name} exited ${code}: ${err}`));
      });
    });
    return await fn(local);
  } finally {
    if (child.pid && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
    if (child.pid) forwards.delete(child.pid);
  }
}

/** version → count over n requests through the Service (a fresh port-forward: it follows the Service's current pods). */
const through = (n = 10) =>
  viaService('shop', 80, async (port) => {
    const seen: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      let v = 'error';
      try {
        const r = await fetch(`http://127.0.0.1:${port}/version`, { signal: AbortSignal.timeout(5000) });
        v = ((await r.json()) as { version: string }).version;
      } catch {}
      seen[v] = (seen[v] ?? 0) + 1;
    }
    return seen;
  });

const deploymentImage = async () => (await k.json(['get', 'deployment', 'shop', '-n', ns])).spec.template.spec.containers[0].image as string;

/** Migrate (workspace ws, dir migrations) through a port-forward to the in-cluster PostgreSQL. */
const migrate = (ws: string) =>
  viaService('postgres', 5432, async (port) => {
    const r = await runBundle('migrate', { 'database-url': `postgresql://postgres:${password}@127.0.0.1:${port}/shop` }, { cwd: ws, timeoutMs: 120_000 });
    runs.push(r);
    return r;
  });

async function deploy(build: Build, version: string): Promise<BundleRun> {
  const r = await runBundle(
    'deploy-rolling',
    {
      target: 'kubernetes',
      namespace: ns,
      deployment: 'shop',
      container: 'shop',
      manifests: join(SHOP, 'k8s'),
      image: image(build),
      version,
      'progress-deadline': '90s',
      ...(k.kubeconfig ? { kubeconfig: k.kubeconfig } : {}),
    },
    { timeoutMs: 400_000, env: { KUBECACHEDIR: join(k.dir, 'cache') } },
  );
  runs.push(r);
  return r;
}

const smoke = () =>
  viaService('shop', 80, async (port) => {
    const checks = [{ path: '/health', expect: { status: 200, json: { status: 'ok' } } }, { path: '/version', expect: { status: 200 } }];
    const r = await runBundle('smoke-test', { url: `http://127.0.0.1:${port}`, checks: JSON.stringify(checks), deadline: '30s' }, { timeoutMs: 90_000 });
    runs.push(r);
    return r;
  });

describe.skipIf(!REAL)('examples/shop on a real cluster (kind): migrate, deploy-rolling with k8s/shop.yaml, smoke through the Service, a bad release undone', () => {
  let ws: string;

  beforeAll(async () => {
    k = await kubeEnv();
    dir = mkdtempSync(join(tmpdir(), 'slipway-shop-kind-'));
    // The build context: the shop's files as the repository holds them (server.js is a link to
    // examples/app, which a docker build context cannot follow: the file itself is copied).
    for (const build of Object.keys(BUILDS) as Build[]) {
      const ctx = join(dir, `build-${build}`);
      mkdirSync(ctx);
      for (const f of ['package.json', 'package-lock.json', 'server.js']) copyFileSync(join(SHOP, f), join(ctx, f));
      writeFileSync(join(ctx, 'Dockerfile'), `${readFileSync(join(SHOP, 'Dockerfile'), 'utf8').trimEnd()}\n${BUILDS[build].join('\n')}\n`);
      await run('docker', ['build', '-t', image(build), ctx]);
    }
    await run('kind', ['load', 'docker-image', '--name', KIND_CLUSTER, ...(Object.keys(BUILDS) as Build[]).map(image)]);

    ns = `shop-kind-${Date.now() % 100000}`;
    password = randomBytes(12).toString('hex');
    await k.kubectl(['create', 'namespace', ns]);
    const labels = { app: 'postgres' };
    const objects = [
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'postgres', namespace: ns }, type: 'Opaque', stringData: { password } },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'postgres', namespace: ns },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              containers: [{
                name: 'postgres',
                image: POSTGRES_IMAGE,
                env: [{ name: 'POSTGRES_DB', value: 'shop' }, { name: 'POSTGRES_PASSWORD', valueFrom: { secretKeyRef: { name: 'postgres', key: 'password' } } }],
                ports: [{ containerPort: 5432 }],
                readinessProbe: { exec: { command: ['pg_isready', '-U', 'postgres', '-d', 'shop', '-h', '127.0.0.1'] }, periodSeconds: 2 },
              }],
            },
          },
        },
      },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'postgres', namespace: ns }, spec: { selector: labels, ports: [{ port: 5432, targetPort: 5432 }] } },
      // What k8s/shop.yaml asks of whoever runs the cluster: the pods' DATABASE_URL (the Service's DNS name).
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'shop-database', namespace: ns }, type: 'Opaque', stringData: { url: `postgresql://postgres:${password}@postgres.${ns}.svc:5432/shop` } },
    ];
    await k.kubectl(['apply', '-f', '-'], objects.map((o) => JSON.stringify(o)).join('\n'));
    await waitFor(async () => (await k.json(['get', 'deployment', 'postgres', '-n', ns])).status?.availableReplicas === 1, 180_000, 1000);

    // The workspace migrate runs in: the shop's migrations as commit 1 has them.
    ws = join(dir, 'ws');
    cpSync(join(SHOP, 'migrations'), join(ws, 'migrations'), { recursive: true });
  }, 900_000);

  afterAll(async () => {
    for (const pid of forwards) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {}
    }
    for (const r of runs) expect(findLeaks(r, [password])).toEqual([]);
    if (ns) await k?.kubectl(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
    await k?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('1. commit 1: migrations 0001-0003 applied, the Deployment of k8s/shop.yaml created with its image, the Service answers c1', async () => {
    const m = await migrate(ws);
    expect(m.errors).toEqual([]);
    expect(m.code).toBe(0);
    expect((JSON.parse(m.outputs.applied!) as { version: string }[]).map((a) => a.version)).toEqual(['0001', '0002', '0003']);
    const r = await deploy('c1', 'c1');
    expect(r.errors, r.stderr).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.outputs.version).toBe('c1');
    expect(r.outputs['rolled-back']).toBe('false');
    expect(await deploymentImage()).toBe(image('c1'));
    const s = await smoke();
    expect(s.outputs.passed, s.stdout).toBe('true');
    expect(await through()).toEqual({ c1: 10 });
  }, 600_000);

  it('2. commit 2 with migration 0004: one migration applied, the Deployment moves on, the Service answers c2', async () => {
    writeFileSync(join(ws, 'migrations/0004_add_products_stock.sql'), 'ALTER TABLE products ADD COLUMN stock integer;\n');
    const m = await migrate(ws);
    expect(m.errors).toEqual([]);
    expect((JSON.parse(m.outputs.applied!) as { version: string }[]).map((a) => a.version)).toEqual(['0004']);
    const r = await deploy('c2', 'c2');
    expect(r.errors, r.stderr).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.outputs['previous-version']).toBe('c1');
    expect(await deploymentImage()).toBe(image('c2'));
    const s = await smoke();
    expect(s.outputs.passed, s.stdout).toBe('true');
    expect(await through()).toEqual({ c2: 10 });
  }, 600_000);

  it('3. a bad release (never ready): deploy-rolling undoes the rollout, the Deployment is back on c2 and the Service answers c2', async () => {
    const r = await deploy('bad', 'bad');
    expect(r.code).toBe(1);
    const err = r.errors.join('\n');
    expect(err).toMatch(/progress deadline|no progress/);
    expect(err).toContain(`rolled back: Deployment shop runs ${image('c2')} again`);
    expect(r.outputs['rolled-back']).toBe('true');
    expect(await deploymentImage()).toBe(image('c2'));
    // kubectl port-forward svc/ picks one pod of the Service's selector: wait until the bad release's pod is gone.
    await waitFor(async () => {
      const pods = (await k.json(['get', 'pods', '-n', ns, '-l', 'app=shop'])).items as { metadata: { labels: Record<string, string> } }[];
      return pods.length === 2 && pods.every((p) => p.metadata.labels.version === 'c2');
    }, 120_000, 1000);
    expect(await through()).toEqual({ c2: 10 });
  }, 600_000);
});
