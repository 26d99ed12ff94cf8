/**
 * Where the Kubernetes tests run: the fake API server (default), or a real cluster when
 * SLIPWAY_KUBE_REAL=1 (the CI kind job; KUBECONFIG and the current context are kind's).
 * Tests only talk to the cluster through kubectl, so the same test runs against both.
 *
 * Images: on the fake any reference works and an image containing "bad" never becomes ready;
 * on a real cluster the `pause` images run (no readiness probe: ready once started) and a tag
 * that does not exist never gets pulled, so it never becomes ready either.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec } from '../../../src/lib/exec.ts';
import { startFakeKube, type FakeKube } from './server.ts';

export const REAL = process.env.SLIPWAY_KUBE_REAL === '1';

export const IMAGES = {
  v1: 'registry.k8s.io/pause:3.9',
  v2: 'registry.k8s.io/pause:3.10',
  bad: 'registry.k8s.io/pause:0.0.0-bad-never-ready',
};

/**
 * Pods that take a while to become ready, like real ones: needed where a test looks at a rollout
 * mid-way (a kubectl call takes ~0.1–0.3 s; the fake's default pod is ready after 120 ms).
 */
export function slowPods(k: KubeEnv, readyMs = 1500): () => void {
  if (!k.fake) return () => {};
  const before = k.fake.cluster.opts.podReadyMs;
  k.fake.cluster.opts.podReadyMs = readyMs;
  return () => {
    k.fake!.cluster.opts.podReadyMs = before;
  };
}

/**
 * Holds the pods `which` selects short of Ready until `until()` holds (checked on every tick of the
 * fake's controller), then lets every pod become ready as usual from then on. For an order a test
 * depends on (e.g. the step's pods become ready only after the rollout paused at the step) without
 * racing the fake's timers against kubectl's latency on a loaded machine. Returns the restore.
 */
export function holdReadyUntil(k: KubeEnv, which: (pod: any) => boolean, until: () => boolean): () => void {
  if (!k.fake) return () => {};
  const cluster = k.fake.cluster;
  const before = cluster.readyGate;
  let released = false;
  cluster.readyGate = (pod) => {
    released ||= until();
    return released || !which(pod);
  };
  return () => {
    cluster.readyGate = before;
  };
}

/** Multiplier for waits: real clusters pull images and schedule pods. */
export const SLOW = REAL ? 6 : 1;

export interface KubeEnv {
  real: boolean;
  dir: string;
  kubeconfig?: string;
  env: NodeJS.ProcessEnv;
  fake?: FakeKube;
  kubectl(args: string[], input?: string): Promise<string>;
  json(args: string[]): Promise<any>;
  stop(): Promise<void>;
}

export async function kubeEnv(): Promise<KubeEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-kube-'));
  const fake = REAL ? undefined : await startFakeKube({ tickMs: 25, podStartMs: 25, podReadyMs: 120 });
  const kubeconfig = fake ? fake.writeKubeconfig(dir) : process.env.KUBECONFIG;
  const env = { ...process.env, KUBECACHEDIR: join(dir, 'cache'), ...(kubeconfig ? { KUBECONFIG: kubeconfig } : {}) };
  const kubectl = async (args: string[], input?: string) => {
    const r = await exec('kubectl', [...(kubeconfig ? ['--kubeconfig', kubeconfig] : []), ...args], { env, input, timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr.trim()}`);
    return r.stdout;
  };
  return {
    real: REAL,
    dir,
    kubeconfig,
    env,
    fake,
    kubectl,
    json: async (args) => JSON.parse(await kubectl([...args, '-o', 'json'])),
    async stop() {
      await fake?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let counter = 0;

/** A fresh namespace with a Deployment `web` (container `app`) and a Service `web`, all ready. */
export async function seedApp(k: KubeEnv, o: { replicas: number; image?: string; strategy?: unknown; versionLabel?: string; service?: boolean; slot?: boolean; grace?: number }): Promise<string> {
  const ns = `t${process.pid % 10000}-${Date.now() % 100000}-${counter++}`;
  await k.kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }));
  // slot: as a blue/green rollout leaves it (pods labelled slipway.dev/slot=blue, selected by the Service).
  const labels: Record<string, string> = { app: 'web', ...(o.versionLabel ? { version: o.versionLabel } : {}), ...(o.slot ? { 'slipway.dev/slot': 'blue' } : {}) };
  const items: unknown[] = [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: ns, labels: { app: 'web' } },
      spec: {
        replicas: o.replicas,
        selector: { matchLabels: { app: 'web' } },
        ...(o.strategy ? { strategy: o.strategy } : {}),
        template: { metadata: { labels }, spec: { terminationGracePeriodSeconds: o.grace ?? 0, containers: [{ name: 'app', image: o.image ?? IMAGES.v1, ports: [{ containerPort: 8080 }] }] } },
      },
    },
  ];
  if (o.service !== false) items.push({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: ns }, spec: { selector: { app: 'web', ...(o.slot ? { 'slipway.dev/slot': 'blue' } : {}) }, ports: [{ port: 80, targetPort: 8080 }] } });
  await k.kubectl(['create', '-f', '-'], items.map((i) => JSON.stringify(i)).join('\n'));
  await waitFor(async () => {
    const d = await k.json(['get', 'deployment', 'web', '-n', ns]);
    return (d.status?.availableReplicas ?? 0) === o.replicas && d.status?.observedGeneration === d.metadata.generation;
  }, 60_000 * SLOW);
  return ns;
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
