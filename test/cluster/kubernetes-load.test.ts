/**
 * Zero downtime on a real cluster (issue 21, "a real cluster in CI"): a load client runs INSIDE the
 * cluster (a Job of busybox `wget` loops hitting the Service by its DNS name: a fresh connection per
 * request, no retry, every failure counted) while Slipway does a rolling deploy, a canary and a
 * blue/green switch of an app that shuts down gracefully (agnhost netexec keeps serving for 5 s
 * after SIGTERM, what docs/kubernetes.md asks of apps). Every rollout must end with 0 failed
 * requests. It needs real pods and real endpoints, so it runs only against a cluster
 * (SLIPWAY_KUBE_REAL=1: the kind job in .github/workflows/ci.yml, which preloads the images).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryReporter } from '../../src/lib/report.ts';
import { createKubernetesDeployer, type KubeStrategy } from '../../src/deploy/kubernetes.ts';
import { REAL, kubeEnv, waitFor, type KubeEnv } from '../helpers/fake-kube/harness.ts';

const LOAD_IMAGES = {
  v1: 'registry.k8s.io/e2e-test-images/agnhost:2.52',
  v2: 'registry.k8s.io/e2e-test-images/agnhost:2.53',
  client: 'docker.io/library/busybox:1.36',
};
const LOAD_SECONDS = 100;
const LOOPS = 4;

let k: KubeEnv;
beforeAll(async () => {
  if (REAL) k = await kubeEnv();
});
afterAll(async () => {
  await k?.stop();
});

let counter = 0;

/** A namespace with Deployment web (3 replicas of a gracefully stopping HTTP server) and Service web. */
async function seed(slot: boolean): Promise<string> {
  const ns = `load-${Date.now() % 100000}-${counter++}`;
  await k.kubectl(['create', 'namespace', ns]);
  const labels: Record<string, string> = { app: 'web', ...(slot ? { 'slipway.dev/slot': 'blue' } : {}) };
  const container = {
    name: 'app',
    image: LOAD_IMAGES.v1,
    args: ['netexec', '--http-port=8080', '--delay-shutdown=5'],
    ports: [{ containerPort: 8080 }],
    readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1, failureThreshold: 1 },
  };
  const items = [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: ns, labels: { app: 'web' } },
      spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels }, spec: { terminationGracePeriodSeconds: 15, containers: [container] } } },
    },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: ns }, spec: { selector: labels, ports: [{ port: 80, targetPort: 8080 }] } },
  ];
  await k.kubectl(['apply', '-f', '-'], items.map((i) => JSON.stringify(i)).join('\n'));
  await waitFor(async () => (await k.json(['get', 'deployment', 'web', '-n', ns])).status?.availableReplicas === 3, 180_000, 1000);
  return ns;
}

/** The load Job: LOOPS wget loops for LOAD_SECONDS, then one line "ok=N fail=M". */
async function startLoad(ns: string): Promise<void> {
  const script = [
    `end=$(( $(date +%s) + ${LOAD_SECONDS} ))`,
    'loop() { ok=0; fail=0; while [ "$(date +%s)" -lt "$end" ]; do if wget -q -T 3 -O /dev/null http://web/; then ok=$((ok+1)); else fail=$((fail+1)); fi; done; echo "$ok $fail" > /tmp/loop.$1; }',
    `for i in $(seq 1 ${LOOPS}); do loop $i & done; wait`,
    'cat /tmp/loop.* | awk \'{ ok += $1; fail += $2 } END { print "ok=" ok " fail=" fail }\'',
  ].join('\n');
  const job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'load', namespace: ns },
    spec: { backoffLimit: 0, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'load', image: LOAD_IMAGES.client, command: ['sh', '-c', script] }] } } },
  };
  await k.kubectl(['apply', '-f', '-'], JSON.stringify(job));
  await waitFor(async () => (await k.json(['get', 'pods', '-n', ns, '-l', 'job-name=load'])).items.some((p: any) => p.status?.phase === 'Running'), 120_000, 500);
}

async function loadResult(ns: string): Promise<{ ok: number; fail: number }> {
  await waitFor(async () => ((await k.json(['get', 'job', 'load', '-n', ns])).status?.succeeded ?? 0) >= 1, (LOAD_SECONDS + 60) * 1000, 1000);
  const out = await k.kubectl(['logs', 'job/load', '-n', ns]);
  const m = /ok=(\d+) fail=(\d+)/.exec(out);
  if (!m) throw new Error(`the load Job printed no counts: ${out}`);
  return { ok: Number(m[1]), fail: Number(m[2]) };
}

describe.skipIf(!REAL)('in-cluster load through rollouts on a real cluster (no retries, every failure counted)', () => {
  it.each<[KubeStrategy, number[] | undefined]>([
    ['rolling', undefined],
    ['canary', [0.34, 1]],
    ['blue-green', undefined],
  ])('%s: 0 failed requests while the rollout runs', async (strategy, steps) => {
    const ns = await seed(strategy === 'blue-green');
    await startLoad(ns);
    const log = new MemoryReporter();
    const deployer = createKubernetesDeployer({ deployment: 'web', namespace: ns, kubeconfig: k.kubeconfig, env: k.env, pollMs: 500, progressDeadlineMs: 120_000, drainDelayMs: 5_000, keepPreviousMs: 0 });
    const r = await deployer.rollout({ image: LOAD_IMAGES.v2, strategy, steps, gate: async () => ({ pass: true, reason: 'load test' }), log });
    expect(r.status, log.text()).toBe('succeeded');
    const counts = await loadResult(ns);
    console.log(`${strategy}: ${counts.ok} requests answered, ${counts.fail} failed`);
    expect(counts.ok).toBeGreaterThan(100);
    expect(counts).toEqual({ ok: counts.ok, fail: 0 });
    await k.kubectl(['delete', 'namespace', ns, '--wait=false']);
  }, (LOAD_SECONDS + 400) * 1000);
});
