/**
 * The fake cluster with real processes behind its pods (test/helpers/fake-kube/kubelet.ts): the
 * shop's own manifest (examples/shop/k8s/shop.yaml) applied with kubectl, each pod a `node
 * server.js` on its own loopback address, Ready only while its readinessProbe answers, the Service
 * reachable through a kube-proxy on 127.0.0.1, and Slipway's Kubernetes deployer rolling it:
 *   1. pods run and serve: each pod a live process, the env from the downward API and a Secret,
 *      requests through the Service reach every pod.
 *   2. a release whose pods never pass their readiness probe: the deploy fails and is undone, the
 *      Service never sent a request to the new version (the kubelet's probe decided, not a timer).
 *   3. a good release: every request through the Service answers the new version, and the old pods'
 *      processes got SIGTERM (they drained and exited).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { createKubernetesDeployer } from '../../../src/deploy/kubernetes.ts';
import { kubeEnv, waitFor, type KubeEnv } from '../../helpers/fake-kube/harness.ts';
import { startKubelet, type ImageTable, type Kubelet } from '../../helpers/fake-kube/kubelet.ts';
import { isAlive } from '../../helpers/servers.ts';
import { node24, repoRoot } from '../../helpers/runner.ts';

const NS = 'shop-kubelet';
/** The shop's images: v1 and v2 run server.js; never-ready runs it with READY_FAIL=1 (its /ready answers 503). */
const images: ImageTable = async (image) => {
  const tag = image.split(':').at(-1)!;
  if (!['v1', 'v2', 'never-ready'].includes(tag)) throw new Error(`image ${image}: manifest unknown (ErrImagePull)`);
  return { argv: [node24, 'server.js'], cwd: join(repoRoot, 'examples/shop'), env: { PORT: '8080', ...(tag === 'never-ready' ? { READY_FAIL: '1' } : {}) } };
};

describe.skipIf(process.env.SLIPWAY_KUBE_REAL === '1')('fake cluster with real pod processes (kubelet + kube-proxy)', () => {
  let k: KubeEnv;
  let kubelet: Kubelet;
  let db: net.Server;
  let svc = '';

  /** version → count of answers, and the pids that answered, over n requests through the Service. */
  const through = async (n: number) => {
    const versions: Record<string, number> = {};
    const pids = new Set<number>();
    for (let i = 0; i < n; i++) {
      try {
        const r = await fetch(`${svc}/version`, { signal: AbortSignal.timeout(2000) });
        const b = (await r.json()) as { version: string; pid: number };
        versions[b.version] = (versions[b.version] ?? 0) + 1;
        pids.add(b.pid);
      } catch {
        versions.error = (versions.error ?? 0) + 1;
      }
    }
    return { versions, pids };
  };
  const deployer = () =>
    createKubernetesDeployer({ deployment: 'shop', namespace: NS, kubeconfig: k.kubeconfig, env: k.env, pollMs: 100, progressDeadlineMs: 4_000 });

  beforeAll(async () => {
    k = await kubeEnv();
    kubelet = await startKubelet(k.fake!, { images });
    // The app's readiness connects to DATABASE_URL's host and port: a listener stands in for PostgreSQL.
    db = net.createServer((s) => s.end());
    await new Promise<void>((r) => db.listen(0, '127.0.0.1', r));
    const dbUrl = `postgresql://shop@127.0.0.1:${(db.address() as net.AddressInfo).port}/shop`;
    const docs = parseAllDocuments(readFileSync(join(repoRoot, 'examples/shop/k8s/shop.yaml'), 'utf8')).map((d) => d.toJS());
    const dep = docs.find((d) => d.kind === 'Deployment');
    dep.spec.template.spec.containers[0].image = '127.0.0.1:5000/acme/shop:v1';
    dep.spec.template.metadata.labels.version = 'v1';
    await k.kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }));
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'shop-database', namespace: NS }, type: 'Opaque', data: { url: Buffer.from(dbUrl).toString('base64') } };
    await k.kubectl(['-n', NS, 'create', '-f', '-'], [secret, ...docs].map((d) => JSON.stringify(d)).join('\n'));
    await waitFor(async () => ((await k.json(['-n', NS, 'get', 'deployment', 'shop'])).status?.availableReplicas ?? 0) === 2, 30_000);
    svc = kubelet.serviceUrl(NS, 'shop');
  }, 60_000);

  afterAll(async () => {
    await kubelet?.stop();
    await k?.stop();
    await new Promise((r) => db?.close(r));
  });

  it('1. each pod is a live process with the env of the downward API and the Secret; the Service reaches every pod', async () => {
    const pods = (await k.json(['-n', NS, 'get', 'pods', '-l', 'app=shop'])).items as any[];
    expect(pods).toHaveLength(2);
    const running = kubelet.running();
    for (const p of pods) {
      expect(p.status.podIP).toMatch(/^127\.\d+\.\d+\.\d+$/);
      expect(p.status.conditions.find((c: any) => c.type === 'Ready').status).toBe('True');
      expect(isAlive(running[`${NS}/${p.metadata.name}`]!)).toBe(true);
      // Straight to the pod's own address: the app reads its version from the label, and its database from the Secret.
      const r = await fetch(`http://${p.status.podIP}:8080/ready`);
      expect(await r.json()).toEqual({ ready: true, version: 'v1' });
    }
    const { versions, pids } = await through(20);
    expect(versions).toEqual({ v1: 20 });
    expect([...pids].sort()).toEqual(Object.values(running).sort());
  });

  it('2. a release whose pods never pass their readiness probe: the deploy fails and is undone, the Service never served it', async () => {
    const before = new Set(kubelet.pids());
    const log = new MemoryReporter();
    const r = await deployer().rollout({ image: '127.0.0.1:5000/acme/shop:never-ready', strategy: 'rolling', log });
    expect(r.status, log.text()).not.toBe('succeeded');
    // A process of the new release did run: its probe (a real GET /ready → 503) kept it out of the Service.
    const fresh = kubelet.pids().filter((p) => !before.has(p));
    expect(fresh.length).toBeGreaterThan(0);
    const hist = k.fake!.cluster.endpointLog.filter((e) => e.service === `${NS}/shop`);
    const newPods = new Set(((await k.json(['-n', NS, 'get', 'replicasets'])).items as any[]).filter((rs) => rs.spec.template.spec.containers[0].image.endsWith(':never-ready')).map((rs) => rs.metadata.name));
    expect(hist.flatMap((e) => e.ready).filter((p) => [...newPods].some((rs) => p.startsWith(`${rs}-`)))).toEqual([]);
    const d = await k.json(['-n', NS, 'get', 'deployment', 'shop']);
    expect(d.spec.template.spec.containers[0].image).toBe('127.0.0.1:5000/acme/shop:v1');
    expect((await through(10)).versions).toEqual({ v1: 10 });
  }, 60_000);

  it('3. a good release: every request through the Service answers it, the old processes drained on SIGTERM and exited', async () => {
    const old = Object.entries(kubelet.running());
    const log = new MemoryReporter();
    const r = await deployer().rollout({ image: '127.0.0.1:5000/acme/shop:v2', strategy: 'rolling', log });
    expect(r.status, log.text()).toBe('succeeded');
    // The version label is the image tag here (no version given): the app answers what the label says.
    await waitFor(async () => old.every(([, pid]) => !isAlive(pid)), 30_000);
    for (const [key] of old) expect(kubelet.podLog(NS, key.split('/')[1]!)).toContain('received SIGTERM, draining');
    expect((await through(20)).versions).toEqual({ v2: 20 });
  }, 60_000);
});
