/**
 * Canary and blue/green deploys. The Kubernetes target driven through the real kubectl binary, against the fake API server
 * (test/helpers/fake-kube) or, with SLIPWAY_KUBE_REAL=1, a real cluster (the CI kind job).
 * The tests check Slipway's decisions: the image and revision the Deployment ends on, the undo
 * after a stuck rollout or a failed gate, canary sizes and clean-up, the Service selector switch
 * and switch-back, and clear errors for bad inputs. Cluster state is read back with kubectl.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { createKubernetesDeployer, type KubeGateContext, type KubernetesDeployerOptions } from '../../../src/deploy/kubernetes.ts';
import { renderKubeSummary } from '../../../src/deploy/kubernetes-summary.ts';
import type { GateFn } from '../../../src/deploy/engine.ts';
import { IMAGES, SLOW, kubeEnv, seedApp, type KubeEnv } from '../../helpers/fake-kube/harness.ts';

let k: KubeEnv;
beforeAll(async () => {
  k = await kubeEnv();
});
afterAll(async () => {
  await k?.stop();
});

const TIMEOUT = 60_000 * SLOW;

function deployer(ns: string, extra: Partial<KubernetesDeployerOptions> = {}) {
  return createKubernetesDeployer({
    deployment: 'web',
    namespace: ns,
    kubeconfig: k.kubeconfig,
    env: k.env,
    pollMs: 100,
    progressDeadlineMs: 2_000 * SLOW,
    drainDelayMs: 200,
    commitSha: '0123456789abcdef0123456789abcdef01234567',
    runUrl: 'https://github.com/acme/shop/actions/runs/42',
    ...extra,
  });
}

const image = (d: any) => d.spec.template.spec.containers.find((c: any) => c.name === 'app').image;

describe('canary', () => {
  it('sizes the canary per step (5% of 20 = 1, 50% of 20 = 10), gates by version label, promotes and deletes the canary', async () => {
    const ns = await seedApp(k, { replicas: 20, versionLabel: '3.9' });
    const seen: { batch: number; replicas: number; canaryPods: number; stablePods: number; ctx: KubeGateContext }[] = [];
    const gate: GateFn = async (ctx) => {
      const c = await k.json(['get', 'deployment', 'web-canary', '-n', ns]);
      const canaryPods = await k.json(['get', 'pods', '-n', ns, '-l', 'app=web,track=canary,version=3.10']);
      const svc = await k.json(['get', 'service', 'web', '-n', ns]);
      const behindService = await k.json(['get', 'pods', '-n', ns, '-l', Object.entries(svc.spec.selector).map(([a, b]) => `${a}=${b}`).join(',')]);
      seen.push({ batch: ctx.batch, replicas: c.spec.replicas, canaryPods: canaryPods.items.length, stablePods: behindService.items.length - canaryPods.items.length, ctx: ctx as KubeGateContext });
      return { pass: true, reason: 'canary healthy' };
    };
    const log = new MemoryReporter();
    const r = await deployer(ns).rollout({ image: IMAGES.v2, strategy: 'canary', steps: [0.05, 0.5, 1], gate, log });
    expect(r.status, log.text()).toBe('succeeded');
    expect(r.canary?.sizes).toEqual([1, 10]);
    // The stable Deployment makes room for the canary (once it is Ready): 1 of 20, then 10 of 20.
    expect(seen.map((s) => [s.batch, s.replicas, s.canaryPods, s.stablePods])).toEqual([
      [1, 1, 1, 19],
      [2, 10, 10, 10],
    ]);
    expect(r.steps.slice(0, 2).map((s) => s.share)).toEqual([0.05, 0.5]);
    expect((await k.json(['get', 'deployment', 'web', '-n', ns])).spec.replicas).toBe(20);
    expect(seen[0]!.ctx.newInstances.map((i) => i.version)).toEqual(['3.10']);
    expect(new Set(seen[0]!.ctx.oldInstances.map((i) => i.version))).toEqual(new Set(['3.9']));
    expect(seen[0]!.ctx.kubernetes.newSelector).toBe('app=web,track=canary');
    expect(seen[0]!.ctx.kubernetes.oldSelector).toBe('app=web,track!=canary');
    // Promoted: the stable Deployment runs the new image with the new version label; the canary is gone.
    const d = await k.json(['get', 'deployment', 'web', '-n', ns]);
    expect(image(d)).toBe(IMAGES.v2);
    expect(d.spec.template.metadata.labels.version).toBe('3.10');
    expect(d.status.availableReplicas).toBe(20);
    const all = await k.json(['get', 'deployments', '-n', ns]);
    expect(all.items.map((x: any) => x.metadata.name)).toEqual(['web']);
    expect(r.canary?.deleted).toBe(true);
    expect(renderKubeSummary(r)).toContain('sizes 1 → 10 pod(s) of 20');
  }, TIMEOUT * 2);

  it('at least one pod for a tiny step; a failed gate deletes the canary and leaves the stable Deployment alone', async () => {
    const ns = await seedApp(k, { replicas: 3 });
    const sizes: number[] = [];
    const gate: GateFn = async () => {
      sizes.push((await k.json(['get', 'deployment', 'web-canary', '-n', ns])).spec.replicas);
      return { pass: false, reason: 'p99 2.1s > 1s' };
    };
    const r = await deployer(ns).rollout({ image: IMAGES.v2, strategy: 'canary', steps: [0.01, 1], gate, log: new MemoryReporter() });
    expect(r.status).toBe('rolled-back');
    expect(r.failure?.phase).toBe('gate');
    expect(sizes).toEqual([1]);
    const all = await k.json(['get', 'deployments', '-n', ns]);
    expect(all.items.map((x: any) => x.metadata.name)).toEqual(['web']);
    const d = await k.json(['get', 'deployment', 'web', '-n', ns]);
    expect(image(d)).toBe(IMAGES.v1);
    expect(d.metadata.annotations['deployment.kubernetes.io/revision']).toBe('1');
  }, TIMEOUT);

  it('a canary that never gets ready is deleted', async () => {
    const ns = await seedApp(k, { replicas: 4 });
    const r = await deployer(ns).rollout({ image: IMAGES.bad, strategy: 'canary', log: new MemoryReporter() });
    expect(r.status).toBe('rolled-back');
    expect(r.failure?.phase).toBe('rollout');
    expect(r.canary?.deleted).toBe(true);
    const all = await k.json(['get', 'deployments', '-n', ns]);
    expect(all.items.map((x: any) => x.metadata.name)).toEqual(['web']);
  }, TIMEOUT);
});

describe('blue/green', () => {
  it('starts green beside blue, waits until fully ready, switches the Service selector and keeps blue for an instant switch back; expirePrevious scales the idle slot down', async () => {
    const ns = await seedApp(k, { replicas: 3 });
    let selectorDuringGate: Record<string, string> | undefined;
    const gate: GateFn = async () => {
      selectorDuringGate = (await k.json(['get', 'service', 'web', '-n', ns])).spec.selector;
      return { pass: true, reason: 'ok' };
    };
    const log = new MemoryReporter();
    const r = await deployer(ns, { keepPreviousMs: 60_000 }).rollout({ image: IMAGES.v2, strategy: 'blue-green', gate, log });
    expect(r.status, log.text()).toBe('succeeded');
    expect(r.blueGreen).toMatchObject({ service: 'web', from: 'web', to: 'web-green', switched: true, switchedBack: false });
    expect(selectorDuringGate).toEqual({ app: 'web', 'slipway.dev/slot': 'green' });
    const svc = await k.json(['get', 'service', 'web', '-n', ns]);
    expect(svc.spec.selector).toEqual({ app: 'web', 'slipway.dev/slot': 'green' });
    const green = await k.json(['get', 'deployment', 'web-green', '-n', ns]);
    expect(image(green)).toBe(IMAGES.v2);
    expect(green.status.availableReplicas).toBe(3);
    const blue = await k.json(['get', 'deployment', 'web', '-n', ns]);
    expect(image(blue)).toBe(IMAGES.v1);
    expect(blue.spec.replicas).toBe(3);
    expect(blue.metadata.annotations['slipway.dev/keep-until']).toMatch(/^\d{4}-\d\d-\d\dT/);
    // The Service selects exactly the green pods.
    const selected = await k.json(['get', 'pods', '-n', ns, '-l', 'app=web,slipway.dev/slot=green']);
    expect(selected.items.map((p: any) => p.spec.containers[0].image)).toEqual([IMAGES.v2, IMAGES.v2, IMAGES.v2]);

    // Instant switch back while blue still runs.
    const back = await deployer(ns).switchBack({ log: new MemoryReporter() });
    expect(back).toEqual({ from: 'web-green', to: 'web', service: 'web' });
    expect((await k.json(['get', 'service', 'web', '-n', ns])).spec.selector['slipway.dev/slot']).toBe('blue');

    // keep-previous over: expirePrevious scales the idle slot (green now) down.
    const expired = await deployer(ns).expirePrevious({ log: new MemoryReporter(), now: new Date(Date.now() + 3_600_000) });
    expect(expired).toBe('web-green');
    expect((await k.json(['get', 'deployment', 'web-green', '-n', ns])).spec.replicas).toBe(0);
  }, TIMEOUT * 2);

  it('switches back when the gate fails after the switch (Service already selecting by slot)', async () => {
    const ns = await seedApp(k, { replicas: 2, slot: true });
    const r = await deployer(ns).rollout({ image: IMAGES.v2, strategy: 'blue-green', gate: async () => ({ pass: false, reason: 'errors after switch' }), log: new MemoryReporter() });
    expect(r.status).toBe('rolled-back');
    expect(r.failure?.phase).toBe('gate');
    expect(r.blueGreen).toMatchObject({ switched: true, switchedBack: true });
    expect((await k.json(['get', 'service', 'web', '-n', ns])).spec.selector).toEqual({ app: 'web', 'slipway.dev/slot': 'blue' });
    expect((await k.json(['get', 'deployment', 'web-green', '-n', ns])).spec.replicas).toBe(0);
    expect(image(await k.json(['get', 'deployment', 'web', '-n', ns]))).toBe(IMAGES.v1);
    // The next deploy reuses the idle green slot (scaled up again with the new image).
    const again = await deployer(ns).rollout({ image: IMAGES.v2, strategy: 'blue-green', log: new MemoryReporter() });
    expect(again.status).toBe('succeeded');
    const green = await k.json(['get', 'deployment', 'web-green', '-n', ns]);
    expect(green.spec.replicas).toBe(2);
    expect(green.status.availableReplicas).toBe(2);
    expect(green.spec.template.metadata.labels).toMatchObject({ app: 'web', 'slipway.dev/slot': 'green', version: '3.10' });
    expect((await k.json(['get', 'service', 'web', '-n', ns])).spec.selector['slipway.dev/slot']).toBe('green');
  }, TIMEOUT);

  it('never switches to a green slot that does not get ready', async () => {
    const ns = await seedApp(k, { replicas: 2, slot: true });
    const r = await deployer(ns).rollout({ image: IMAGES.bad, strategy: 'blue-green', log: new MemoryReporter() });
    expect(r.status).toBe('rolled-back');
    expect(r.blueGreen?.switched).toBe(false);
    expect((await k.json(['get', 'service', 'web', '-n', ns])).spec.selector['slipway.dev/slot']).toBe('blue');
    const all = await k.json(['get', 'deployments', '-n', ns]);
    expect(all.items.map((x: any) => x.metadata.name)).toEqual(['web']);
  }, TIMEOUT);
});

