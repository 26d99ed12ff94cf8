/**
 * The Kubernetes target against what real clusters do (issue 21): EndpointSlices that lag the
 * selector, pods that terminate for their grace period, RBAC denials, API-server outages and lost
 * replies, ResourceQuota and unschedulable pods, HPAs, server-side apply. Each test is one
 * finding of the issue and failed before its fix. The faults are injected into the fake API
 * server (test/helpers/fake-kube), so these tests run on the fake only.
 */
import http from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { createKubernetesDeployer, type KubeGateContext, type KubernetesDeployerOptions } from '../../../src/deploy/kubernetes.ts';
import type { GateFn } from '../../../src/deploy/engine.ts';
import { IMAGES, REAL, holdReadyUntil, kubeEnv, seedApp, slowPods, waitFor, type KubeEnv } from '../../helpers/fake-kube/harness.ts';

const fakeOnly = REAL ? describe.skip : describe;

let k: KubeEnv;
beforeAll(async () => {
  k = await kubeEnv();
});
afterAll(async () => {
  await k?.stop();
});

const TIMEOUT = 90_000;

function deployer(ns: string, extra: Partial<KubernetesDeployerOptions> = {}) {
  return createKubernetesDeployer({ deployment: 'web', namespace: ns, kubeconfig: k.kubeconfig, env: k.env, pollMs: 100, progressDeadlineMs: 2_000, drainDelayMs: 200, ...extra });
}
const image = (d: any) => d.spec.template.spec.containers.find((c: any) => c.name === 'app').image;
const fake = () => k.fake!;
/** Ready-endpoint counts of a Service since `from` (an index into the fake's log). */
const readyCounts = (ns: string, from: number) => fake().cluster.endpointLog.slice(from).filter((e) => e.service === `${ns}/web`).map((e) => e.ready.length);
/**
 * The new image's pods in `ns` become Ready only once the Deployment is paused (then as usual): the
 * gated step's barrier (pause as soon as the step's pods are requested) lands before they can be
 * available, whatever kubectl's latency on a loaded machine. Without it a read late by more than
 * the pods' readiness time let the controller surge past the step before the pause.
 */
const newPodsReadyOncePaused = (ns: string) =>
  holdReadyUntil(k, (p) => p.metadata.namespace === ns && p.spec.containers[0].image === IMAGES.v2, () => !!fake().cluster.tryGet('deployments', ns, 'web')?.spec.paused);
const patchesTo = (ns: string, name: string, since = 0) => fake().writes('deployments').filter((q) => q.method === 'PATCH' && q.path.endsWith(`/namespaces/${ns}/deployments/${name}`) && q.at >= since);

fakeOnly('finding 1: a blue/green switch never leaves the Service without endpoints', () => {
  it('a Service selecting on version is refused before any change (the new pods would match nothing)', async () => {
    const ns = await seedApp(k, { replicas: 2, versionLabel: '3.9', slot: true });
    await k.kubectl(['patch', 'service', 'web', '-n', ns, '--type', 'merge', '-p', JSON.stringify({ spec: { selector: { version: '3.9' } } })]);
    await waitFor(async () => (fake().cluster.endpointHistory.get(`${ns}/web`)?.at(-1) ?? 0) === 2, 5_000);
    const from = fake().cluster.endpointLog.length;
    const t0 = performance.now();
    await expect(deployer(ns, { keepPreviousMs: 0 }).rollout({ image: IMAGES.v2, strategy: 'blue-green', log: new MemoryReporter() })).rejects.toThrow(/selects on the label "version".*Nothing was changed/);
    expect(patchesTo(ns, 'web', t0)).toEqual([]);
    await new Promise((r) => setTimeout(r, 300));
    expect(readyCounts(ns, from)).not.toContain(0);
  }, TIMEOUT);

  it('a reused green slot gets the live template (a label the Service selects on, added later, is there); blue is scaled down only after the endpoints list exactly the green pods and the drain delay passed', async () => {
    const ns = await seedApp(k, { replicas: 2, slot: true });
    // A first blue/green rollout whose gate fails leaves web-green at 0 replicas with the old template.
    const first = await deployer(ns).rollout({ image: IMAGES.v2, strategy: 'blue-green', gate: async () => ({ pass: false, reason: 'no' }), log: new MemoryReporter() });
    expect(first.status).toBe('rolled-back');
    // Later, blue's template gains a label and the Service selects on it.
    await k.kubectl(['patch', 'deployment', 'web', '-n', ns, '--type', 'merge', '-p', JSON.stringify({ spec: { template: { metadata: { labels: { team: 'shop' } } } } })]);
    await waitFor(async () => {
      const d = await k.json(['get', 'deployment', 'web', '-n', ns]);
      return d.status.updatedReplicas === 2 && d.status.availableReplicas === 2 && d.status.replicas === 2 && d.status.observedGeneration === d.metadata.generation;
    }, 20_000);
    await k.kubectl(['patch', 'service', 'web', '-n', ns, '--type', 'merge', '-p', JSON.stringify({ spec: { selector: { team: 'shop' } } })]);
    await waitFor(async () => (fake().cluster.endpointHistory.get(`${ns}/web`)?.at(-1) ?? 0) === 2, 5_000);
    const from = fake().cluster.endpointLog.length;
    const t0 = performance.now();
    const log = new MemoryReporter();
    const r = await deployer(ns, { keepPreviousMs: 0, drainDelayMs: 1_000 }).rollout({ image: IMAGES.v2, strategy: 'blue-green', log });
    expect(r.status, log.text()).toBe('succeeded');
    const green = await k.json(['get', 'deployment', 'web-green', '-n', ns]);
    expect(green.spec.template.metadata.labels).toMatchObject({ team: 'shop', 'slipway.dev/slot': 'green', app: 'web' });
    // The Service always had ready endpoints, and ends with exactly the green pods.
    await new Promise((res) => setTimeout(res, 300));
    expect(readyCounts(ns, from)).not.toContain(0);
    const greenPods = (await k.json(['get', 'pods', '-n', ns, '-l', 'slipway.dev/slot=green'])).items.filter((p: any) => !p.metadata.deletionTimestamp).map((p: any) => p.metadata.name).sort();
    expect(fake().cluster.endpointLog.filter((e) => e.service === `${ns}/web`).at(-1)!.ready.sort()).toEqual(greenPods);
    // Blue went to 0 only after the endpoints listed exactly the green pods, plus the drain delay.
    const onlyGreen = fake().cluster.endpointLog.find((e) => e.at >= t0 && e.service === `${ns}/web` && e.ready.length === 2 && e.ready.every((n) => greenPods.includes(n)));
    const scaleDown = patchesTo(ns, 'web', t0).find((q) => (q.body as any)?.spec?.replicas === 0);
    expect(onlyGreen).toBeDefined();
    expect(scaleDown).toBeDefined();
    expect(scaleDown!.at - onlyGreen!.at).toBeGreaterThanOrEqual(950);
  }, TIMEOUT);
});

fakeOnly('finding 2: every failure after the first write undoes; pause and resume survive retries', () => {
  it('a lost reply to the pause is retried without error (pause by patch is idempotent)', async () => {
    const ns = await seedApp(k, { replicas: 2 });
    fake().faults.push({ method: 'PATCH', path: new RegExp(`/namespaces/${ns}/deployments/web$`), body: /"paused":true/, drop: 'after', times: 1 });
    const restore = slowPods(k, 1500);
    const log = new MemoryReporter();
    const r = await deployer(ns, { progressDeadlineMs: 10_000 }).rollout({ image: IMAGES.v2, steps: [0.5, 1], gate: async () => ({ pass: true, reason: 'ok' }), log }).finally(restore);
    expect(r.status, log.text()).toBe('succeeded');
    expect(fake().faults.at(-1)!.times).toBe(0);
    const d = await k.json(['get', 'deployment', 'web', '-n', ns]);
    expect(image(d)).toBe(IMAGES.v2);
    expect(d.spec.paused ?? false).toBe(false);
  }, TIMEOUT);

  // The outage starts right after the gate: the next call is the patch that resumes the rollout
  // (or, for GET, kubectl's read of it). Both are waited out within the progress deadline.
  it.each(['GET', 'PATCH'])('an API-server outage of several seconds mid-rollout (%s answered 503) is waited out, not turned into an error', { timeout: TIMEOUT }, async (method) => {
    const ns = await seedApp(k, { replicas: 2 });
    const gate: GateFn = async () => {
      fake().faults.push({ method, path: new RegExp(`/namespaces/${ns}/deployments/web$`), status: 503, times: 12 });
      return { pass: true, reason: 'ok' };
    };
    const log = new MemoryReporter();
    const r = await deployer(ns, { progressDeadlineMs: 20_000 }).rollout({ image: IMAGES.v2, steps: [0.5, 1], gate, log });
    expect(r.status, log.text()).toBe('succeeded');
    expect(log.text()).toMatch(/the Kubernetes API did not answer/);
    expect(fake().faults.at(-1)!.times).toBe(0);
    expect(image(await k.json(['get', 'deployment', 'web', '-n', ns]))).toBe(IMAGES.v2);
  });

  // The 403 must come after step 1's gate: if the rollout reached step 2 before its pause landed, the
  // one gate ran after step 2 and no ReplicaSet listing followed (so no 403): the pods are held.
  it('a 403 after the first change (RBAC revoked mid-rollout) undoes the rollout instead of leaving it half-done', { timeout: TIMEOUT }, async () => {
    const ns = await seedApp(k, { replicas: 4 });
    let calls = 0;
    const gate: GateFn = async () => {
      if (calls++ === 0) fake().forbidden.push({ verb: 'list', resource: 'replicasets', namespace: ns });
      return { pass: true, reason: 'ok' };
    };
    const restore = slowPods(k, 1500);
    const unhold = newPodsReadyOncePaused(ns);
    const log = new MemoryReporter();
    const r = await deployer(ns, { progressDeadlineMs: 10_000 }).rollout({ image: IMAGES.v2, steps: [0.25, 0.5, 1], gate, log }).finally(() => {
      restore();
      unhold();
    });
    expect(r.status, log.text()).toBe('rolled-back');
    expect(r.failure?.reason).toMatch(/forbidden/);
    const d = await k.json(['get', 'deployment', 'web', '-n', ns]);
    expect(image(d)).toBe(IMAGES.v1);
    expect(d.spec.paused ?? false).toBe(false);
  });
});

fakeOnly('finding 8: undo in one patch', () => {
  it('after a failed gate the Deployment is never unpaused on the failed template: template and paused change in the same patch', async () => {
    const ns = await seedApp(k, { replicas: 4 });
    let gateAt = 0;
    const log = new MemoryReporter();
    const r = await deployer(ns).rollout({
      image: IMAGES.v2,
      steps: [0.25, 1],
      gate: async () => {
        gateAt = performance.now();
        return { pass: false, reason: 'errors' };
      },
      log,
    });
    expect(r.status, log.text()).toBe('rolled-back');
    const after = patchesTo(ns, 'web', gateAt);
    expect(after.length).toBeGreaterThan(0);
    const text = (b: unknown) => JSON.stringify(b);
    const unpausing = after.filter((q) => /"paused":(false|null)|"\/spec\/paused"/.test(text(q.body)));
    expect(unpausing.length).toBeGreaterThan(0);
    for (const q of unpausing) expect(text(q.body)).toMatch(/template/);
    expect(image(await k.json(['get', 'deployment', 'web', '-n', ns]))).toBe(IMAGES.v1);
  }, TIMEOUT);
});

fakeOnly('finding 3: gates reach the app from outside the cluster network; only Ready, non-terminating pods count', () => {
  it('gate instances are reached through kubectl proxy (the API server), not pod IPs, and are all Ready and not terminating', async () => {
    const servers = await Promise.all(
      ['3.9', '3.10'].map(
        (v) =>
          new Promise<{ url: string; close: () => void }>((resolve) => {
            const srv = http.createServer((_req, res) => res.end(v));
            srv.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(srv.address() as any).port}`, close: () => srv.close() }));
          }),
      ),
    );
    fake().backend = (pod) => (pod.spec.containers[0].image === IMAGES.v2 ? servers[1]!.url : servers[0]!.url);
    try {
      const ns = await seedApp(k, { replicas: 4, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 2, maxUnavailable: 0 } } });
      const seen: KubeGateContext[] = [];
      const problems: string[] = [];
      const gate: GateFn = async (ctx) => {
        seen.push(ctx as KubeGateContext);
        const pods = (await k.json(['get', 'pods', '-n', ns])).items;
        for (const inst of [...ctx.newInstances, ...ctx.oldInstances]) {
          const p = pods.find((x: any) => x.metadata.name === inst.id);
          if (!p || p.metadata.deletionTimestamp || !p.status.conditions.some((c: any) => c.type === 'Ready' && c.status === 'True')) problems.push(`${inst.id} is not a Ready, running pod`);
          const answer = await fetch(inst.url).then((res) => res.text()).catch((err) => `unreachable: ${err.message}`);
          if (answer !== inst.version) problems.push(`${inst.id} at ${inst.url} answered ${answer}, expected ${inst.version}`);
        }
        return { pass: problems.length === 0, reason: problems.join('; ') || 'reached every pod' };
      };
      const log = new MemoryReporter();
      const r = await deployer(ns, { version: '3.10' }).rollout({ image: IMAGES.v2, steps: [0.25, 1], gate, log });
      expect(problems).toEqual([]);
      expect(r.status, log.text()).toBe('succeeded');
      expect(seen[0]!.newInstances.length).toBeGreaterThan(0);
      expect(seen[0]!.newInstances[0]!.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/v1\/namespaces\/.*\/pods\/web-.*:8080\/proxy$/);
      // The kubectl proxy started for the gate is gone.
      await expect(fetch(seen[0]!.newInstances[0]!.url)).rejects.toThrow();
    } finally {
      fake().backend = undefined;
      for (const s of servers) s.close();
    }
  }, TIMEOUT);

  it('pods terminating for their grace period (still listed by the API) are not gate instances', async () => {
    const ns = await seedApp(k, { replicas: 4, grace: 5 });
    let terminatingSeen = 0;
    const listed: string[] = [];
    const gate: GateFn = async (ctx) => {
      const pods = (await k.json(['get', 'pods', '-n', ns])).items;
      terminatingSeen = Math.max(terminatingSeen, pods.filter((p: any) => p.metadata.deletionTimestamp).length);
      for (const inst of [...ctx.newInstances, ...ctx.oldInstances]) {
        const p = pods.find((x: any) => x.metadata.name === inst.id);
        if (!p || p.metadata.deletionTimestamp || !p.status.conditions.some((c: any) => c.type === 'Ready' && c.status === 'True')) listed.push(inst.id);
      }
      return { pass: true, reason: 'ok' };
    };
    const restore = slowPods(k, 1000);
    const log = new MemoryReporter();
    const r = await deployer(ns, { runnerInCluster: true, progressDeadlineMs: 15_000 }).rollout({ image: IMAGES.v2, steps: [0.25, 0.5, 0.75, 1], gate, log }).finally(restore);
    expect(r.status, log.text()).toBe('succeeded');
    expect(terminatingSeen).toBeGreaterThan(0);
    expect(listed).toEqual([]);
  }, TIMEOUT);

  it('pod IPs only when the runner says it is in the cluster network', async () => {
    const ns = await seedApp(k, { replicas: 2 });
    let urls: string[] = [];
    const r = await deployer(ns, { runnerInCluster: true }).rollout({
      image: IMAGES.v2,
      steps: [0.5, 1],
      gate: async (ctx) => {
        urls = ctx.newInstances.map((i) => i.url);
        return { pass: true, reason: 'ok' };
      },
      log: new MemoryReporter(),
    });
    expect(r.status).toBe('succeeded');
    expect(urls.length).toBeGreaterThan(0);
    for (const u of urls) expect(u).toMatch(/^http:\/\/10\.244\.\d+\.\d+:8080$/);
  }, TIMEOUT);
});

fakeOnly('finding 6: rollback mode goes to the last good revision', () => {
  it('after a failed rollout was undone (revisions renumbered), rollback: true goes to the version before the good one, not to the failed image', async () => {
    const ns = await seedApp(k, { replicas: 2 });
    expect((await deployer(ns).rollout({ image: IMAGES.v2, log: new MemoryReporter() })).status).toBe('succeeded');
    expect((await deployer(ns).rollout({ image: IMAGES.bad, log: new MemoryReporter() })).status).toBe('rolled-back');
    expect(image(await k.json(['get', 'deployment', 'web', '-n', ns]))).toBe(IMAGES.v2);
    const log = new MemoryReporter();
    const r = await deployer(ns).rollback({ strategy: 'rolling', log });
    expect(r.status, log.text()).toBe('succeeded');
    expect(r.image).toBe(IMAGES.v1);
    expect(image(await k.json(['get', 'deployment', 'web', '-n', ns]))).toBe(IMAGES.v1);
  }, TIMEOUT);
});

fakeOnly('finding 10: quota and scheduling reasons are in the failure', () => {
  it('a ResourceQuota that refuses the new pod is named in the failure', async () => {
    const ns = await seedApp(k, { replicas: 2 });
    await k.kubectl(['create', '-n', ns, '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'pods' }, spec: { hard: { pods: '2' } } }));
    const log = new MemoryReporter();
    const r = await deployer(ns).rollout({ image: IMAGES.v2, log });
    expect(r.status, log.text()).toBe('rolled-back');
    expect(r.failure?.reason).toMatch(/ReplicaFailure FailedCreate: pods "web-.*" is forbidden: exceeded quota: pods/);
  }, TIMEOUT);

  it('a pod the scheduler cannot place is named with the scheduler message', async () => {
    const ns = `t-sched-${Date.now() % 100000}`;
    await k.kubectl(['create', 'namespace', ns, '--dry-run=client', '-o', 'json']).then((j) => k.kubectl(['create', '-f', '-'], j));
    await k.kubectl(['create', '-n', ns, '-f', '-'], JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'app', image: IMAGES.v1, resources: { requests: { cpu: '1500m' } } }] } } },
    }));
    await waitFor(async () => (await k.json(['get', 'deployment', 'web', '-n', ns])).status?.availableReplicas === 2, 10_000);
    const log = new MemoryReporter();
    const r = await deployer(ns).rollout({ image: IMAGES.v2, log });
    expect(r.status, log.text()).toBe('rolled-back');
    expect(r.failure?.reason).toMatch(/unschedulable: 0\/1 nodes are available: 1 Insufficient cpu/);
  }, TIMEOUT);
});

fakeOnly('finding 9: in-cluster namespace', () => {
  it('with no kubeconfig, the namespace comes from the service account', async () => {
    const dir = mkdtempSync(join(k.dir, 'sa-'));
    writeFileSync(join(dir, 'namespace'), 'shop\n');
    const calls: string[][] = [];
    const exec = async (_file: string, args: readonly string[]) => {
      calls.push([...args]);
      if (args.includes('config')) return { code: 1, stdout: '', stderr: 'error: current-context must exist in order to minify\n', timedOut: false } as any;
      if (args.includes('deployment')) return { code: 1, stdout: '', stderr: 'Error from server (NotFound): deployments.apps "web" not found\n', timedOut: false } as any;
      return { code: 0, stdout: JSON.stringify({ kind: 'Namespace', metadata: { name: 'shop' } }), stderr: '', timedOut: false } as any;
    };
    const d = createKubernetesDeployer({ deployment: 'web', serviceAccountDir: dir, exec: exec as any });
    await expect(d.rollout({ image: IMAGES.v2, log: new MemoryReporter() })).rejects.toThrow(/Deployment "web" not found in namespace "shop"/);
    expect(calls.some((a) => a.join(' ').includes('--namespace shop'))).toBe(true);
  });
});

fakeOnly('finding 4: canary share is the real endpoint share; HPAs', () => {
  it('50% of 4 replicas is 50% of the ready endpoints (the stable Deployment makes room once the canary is Ready)', async () => {
    const ns = await seedApp(k, { replicas: 4 });
    const shares: number[] = [];
    const gate: GateFn = async () => {
      const slices = (await k.json(['get', 'endpointslices', '-n', ns, '-l', 'kubernetes.io/service-name=web'])).items;
      const ready = slices.flatMap((s: any) => s.endpoints ?? []).filter((e: any) => e.conditions.ready);
      const canary = ready.filter((e: any) => e.targetRef.name.startsWith('web-canary-')).length;
      shares.push(canary / ready.length);
      return { pass: true, reason: 'ok' };
    };
    const log = new MemoryReporter();
    const r = await deployer(ns).rollout({ image: IMAGES.v2, strategy: 'canary', steps: [0.25, 0.5, 1], gate, log });
    expect(r.status, log.text()).toBe('succeeded');
    expect(shares).toEqual([0.25, 0.5]);
    expect(r.steps.slice(0, 2).map((s) => s.share)).toEqual([0.25, 0.5]);
    const d = await k.json(['get', 'deployment', 'web', '-n', ns]);
    expect(d.spec.replicas).toBe(4);
    expect(image(d)).toBe(IMAGES.v2);
  }, TIMEOUT);

  it('with an HPA on the stable Deployment, the canary is sized so that its endpoint share is the step (the stable count is left to the HPA)', async () => {
    const ns = await seedApp(k, { replicas: 4 });
    await k.kubectl(['create', '-n', ns, '-f', '-'], JSON.stringify({ apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'web' }, spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 1, maxReplicas: 10 } }));
    const seen: [number, number][] = [];
    const gate: GateFn = async () => {
      const slices = (await k.json(['get', 'endpointslices', '-n', ns, '-l', 'kubernetes.io/service-name=web'])).items;
      const ready = slices.flatMap((s: any) => s.endpoints ?? []).filter((e: any) => e.conditions.ready);
      seen.push([ready.filter((e: any) => e.targetRef.name.startsWith('web-canary-')).length, ready.length]);
      return { pass: true, reason: 'ok' };
    };
    const log = new MemoryReporter();
    const r = await deployer(ns).rollout({ image: IMAGES.v2, strategy: 'canary', steps: [0.5, 1], gate, log });
    expect(r.status, log.text()).toBe('succeeded');
    expect(seen).toEqual([[4, 8]]);
    expect(log.text()).toMatch(/HorizontalPodAutoscaler web scales web/);
  }, TIMEOUT);

  it('blue/green refuses a Deployment an HPA scales, before any change', async () => {
    const ns = await seedApp(k, { replicas: 2, slot: true });
    await k.kubectl(['create', '-n', ns, '-f', '-'], JSON.stringify({ apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'web' }, spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 1, maxReplicas: 5 } }));
    const t0 = performance.now();
    await expect(deployer(ns).rollout({ image: IMAGES.v2, strategy: 'blue-green', log: new MemoryReporter() })).rejects.toThrow(/HorizontalPodAutoscaler web scales web.*Nothing was changed/);
    expect(fake().writes().filter((q) => q.at >= t0 && q.path.includes(`/namespaces/${ns}/`))).toEqual([]);
  }, TIMEOUT);
});

fakeOnly('finding 5: gated rolling steps do not overshoot', () => {
  // The step's size is the strategy's doing (maxSurge 1, not the user's 25% = 5); the pods are held
  // until the pause so that a late read cannot let the controller surge a second time (2 pods).
  it('with the user strategy maxSurge 25% on 20 replicas, the 5% step gates 1 new pod, not 5', { timeout: TIMEOUT }, async () => {
    const ns = await seedApp(k, { replicas: 20, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '10%' } } });
    const newPods: number[] = [];
    const gate: GateFn = async () => {
      const pods = (await k.json(['get', 'pods', '-n', ns])).items.filter((p: any) => p.spec.containers[0].image === IMAGES.v2 && !p.metadata.deletionTimestamp);
      newPods.push(pods.length);
      return { pass: true, reason: 'ok' };
    };
    const restore = slowPods(k, 3000);
    const unhold = newPodsReadyOncePaused(ns);
    const log = new MemoryReporter();
    const r = await deployer(ns, { progressDeadlineMs: 30_000 }).rollout({ image: IMAGES.v2, steps: [0.05, 1], gate, log }).finally(() => {
      restore();
      unhold();
    });
    expect(r.status, log.text()).toBe('succeeded');
    expect(newPods, log.text()).toEqual([1]);
    // The user's strategy is back afterwards.
    expect((await k.json(['get', 'deployment', 'web', '-n', ns])).spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '10%' } });
  });
});

fakeOnly('finding 11 and permissions: server-side apply; kubectl auth can-i first', () => {
  it('manifests are applied server-side with the slipway field manager; spec.replicas is left to an HPA', async () => {
    const ns = await seedApp(k, { replicas: 2 });
    await k.kubectl(['create', '-n', ns, '-f', '-'], JSON.stringify({ apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'web' }, spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 1, maxReplicas: 5 } }));
    await k.kubectl(['patch', 'deployment', 'web', '-n', ns, '--type', 'merge', '-p', '{"spec":{"replicas":3}}']);
    const dir = mkdtempSync(join(k.dir, 'manifests-'));
    writeFileSync(join(dir, 'web.yaml'), [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata: {name: web}',
      'spec:',
      '  replicas: 2',
      '  selector: {matchLabels: {app: web}}',
      '  template:',
      '    metadata: {labels: {app: web}}',
      '    spec: {terminationGracePeriodSeconds: 0, containers: [{name: app, image: registry.k8s.io/pause:3.9, ports: [{containerPort: 8080}]}]}',
      '',
    ].join('\n'));
    const t0 = performance.now();
    const log = new MemoryReporter();
    const r = await deployer(ns, { manifests: dir }).rollout({ image: IMAGES.v2, log });
    expect(r.status, log.text()).toBe('succeeded');
    const applies = fake().requests.filter((q) => q.at >= t0 && q.method === 'PATCH' && q.contentType === 'application/apply-patch+yaml' && q.path.endsWith(`/namespaces/${ns}/deployments/web`));
    expect(applies.length).toBe(1);
    expect(applies[0]!.query.fieldManager).toBe('slipway');
    expect((applies[0]!.body as any).spec.replicas).toBeUndefined();
    const d = await k.json(['get', 'deployment', 'web', '-n', ns]);
    expect(d.spec.replicas).toBe(3);
    expect(fake().cluster.get('deployments', ns, 'web').metadata.managedFields.map((m: any) => m.manager)).toContain('slipway');
  }, TIMEOUT);

  it('a strategy another field manager (Helm) owns is kept, even when it equals the API default', async () => {
    const ns = await seedApp(k, { replicas: 2, service: false });
    await k.kubectl(['delete', 'deployment', 'web', '-n', ns]);
    const manifest = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 2, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } }, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'app', image: IMAGES.v1 }] } } } };
    await k.kubectl(['apply', '--server-side', '--field-manager=helm', '-n', ns, '-f', '-'], JSON.stringify(manifest));
    // The fake records managers without field sets; a real server lists f:strategy for helm.
    const d0 = fake().cluster.get('deployments', ns, 'web');
    d0.metadata.managedFields = [{ manager: 'helm', operation: 'Apply', apiVersion: 'apps/v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:strategy': { 'f:rollingUpdate': { 'f:maxSurge': {}, 'f:maxUnavailable': {} } } } } }];
    fake().cluster.update('deployments', ns, 'web', d0);
    await waitFor(async () => (await k.json(['get', 'deployment', 'web', '-n', ns])).status?.availableReplicas === 2, 10_000);
    const log = new MemoryReporter();
    const r = await deployer(ns).rollout({ image: IMAGES.v2, log });
    expect(r.status, log.text()).toBe('succeeded');
    expect((await k.json(['get', 'deployment', 'web', '-n', ns])).spec.strategy.rollingUpdate).toEqual({ maxSurge: '25%', maxUnavailable: '25%' });
  }, TIMEOUT);

  it('a missing permission is found by kubectl auth can-i before the first change', async () => {
    const ns = await seedApp(k, { replicas: 2 });
    fake().forbidden.push({ verb: 'patch', resource: 'deployments', namespace: ns });
    const t0 = performance.now();
    await expect(deployer(ns).rollout({ image: IMAGES.v2, log: new MemoryReporter() })).rejects.toThrow(/may not patch deployments in namespace .*Nothing was changed/);
    expect(fake().requests.filter((q) => q.at >= t0 && q.method !== 'GET' && q.path.includes(`/namespaces/${ns}/`))).toEqual([]);
    expect(fake().requests.some((q) => q.at >= t0 && q.path.endsWith('/selfsubjectaccessreviews'))).toBe(true);
  }, TIMEOUT);
});
