/**
 * Rolling deploys and bad inputs. The Kubernetes target driven through the real kubectl binary, against the fake API server
 * (test/helpers/fake-kube) or, with SLIPWAY_KUBE_REAL=1, a real cluster (the CI kind job).
 * The tests check Slipway's decisions: the image and revision the Deployment ends on, the undo
 * after a stuck rollout or a failed gate, canary sizes and clean-up, the Service selector switch
 * and switch-back, and clear errors for bad inputs. Cluster state is read back with kubectl.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { createKubernetesDeployer, type KubeGateContext, type KubernetesDeployerOptions } from '../../../src/deploy/kubernetes.ts';
import { renderKubeSummary } from '../../../src/deploy/kubernetes-summary.ts';
import type { GateFn } from '../../../src/deploy/engine.ts';
import { IMAGES, SLOW, kubeEnv, seedApp, slowPods, type KubeEnv } from '../../helpers/fake-kube/harness.ts';

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
    commitSha: '0123456789abcdef0123456789abcdef01234567',
    runUrl: 'https://github.com/acme/shop/actions/runs/42',
    ...extra,
  });
}

const image = (d: any) => d.spec.template.spec.containers.find((c: any) => c.name === 'app').image;

describe('rolling', () => {
  it('sets the image, records the change cause, defaults to one pod at a time and follows the rollout to completion', async () => {
    const ns = await seedApp(k, { replicas: 3 });
    const log = new MemoryReporter();
    const r = await deployer(ns).rollout({ image: IMAGES.v2, strategy: 'rolling', log });
    expect(r.status, log.text()).toBe('succeeded');
    expect(r.previousImage).toBe(IMAGES.v1);
    expect(r.previousRevision).toBe(1);
    expect(r.revision).toBe(2);
    const d = await k.json(['get', 'deployment', 'web', '-n', ns]);
    expect(image(d)).toBe(IMAGES.v2);
    expect(d.metadata.annotations['kubernetes.io/change-cause']).toBe(`slipway: ${IMAGES.v2} (commit 0123456789abcdef0123456789abcdef01234567, run https://github.com/acme/shop/actions/runs/42)`);
    expect(d.spec.strategy.rollingUpdate).toEqual({ maxUnavailable: 0, maxSurge: 1 });
    expect(d.spec.progressDeadlineSeconds).toBe(2 * SLOW);
    expect(d.status.updatedReplicas).toBe(3);
    expect(d.status.availableReplicas).toBe(3);
    expect(r.pods).toHaveLength(3);
    expect(r.pods.every((p) => p.ready && p.image === IMAGES.v2 && p.readyAfterMs !== undefined)).toBe(true);
    const md = renderKubeSummary(r);
    expect(md).toContain(`Rolling deploy of 3.10 to Deployment ${ns}/web: ✅ deployed`);
    expect(md).toContain('revision 1 → 2');
    expect(md).toContain('| Pod | Version |');
    // Deploying the same image again changes nothing.
    const again = await deployer(ns).rollout({ image: IMAGES.v2, log: new MemoryReporter() });
    expect(again.status).toBe('unchanged');
    expect((await k.json(['get', 'deployment', 'web', '-n', ns])).metadata.annotations['deployment.kubernetes.io/revision']).toBe('2');
  }, TIMEOUT);

  it('keeps a strategy the user chose', async () => {
    const ns = await seedApp(k, { replicas: 2, strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } } });
    const r = await deployer(ns).rollout({ image: IMAGES.v2, log: new MemoryReporter() });
    expect(r.status).toBe('succeeded');
    const d = await k.json(['get', 'deployment', 'web', '-n', ns]);
    expect(d.spec.strategy.rollingUpdate).toEqual({ maxUnavailable: 1, maxSurge: 0 });
  }, TIMEOUT);

  it('a rollout that never gets ready is undone (the previous template back, unpaused, in one patch) and waited for; the result says so', async () => {
    const ns = await seedApp(k, { replicas: 3 });
    const log = new MemoryReporter();
    const r = await deployer(ns).rollout({ image: IMAGES.bad, log });
    expect(r.status, log.text()).toBe('rolled-back');
    expect(r.failure?.phase).toBe('rollout');
    expect(r.failure?.reason).toMatch(/progress deadline|no progress/);
    expect(r.failure?.lastState).toMatch(/not ready: web-/);
    expect(r.rollbackMs).toBeGreaterThan(0);
    expect(r.finalImage).toBe(IMAGES.v1);
    const d = await k.json(['get', 'deployment', 'web', '-n', ns]);
    expect(image(d)).toBe(IMAGES.v1);
    // Undo makes the old template the newest revision (3) and the rollout completed.
    expect(d.metadata.annotations['deployment.kubernetes.io/revision']).toBe('3');
    expect(d.status.updatedReplicas).toBe(3);
    expect(d.status.availableReplicas).toBe(3);
    expect(d.spec.paused ?? false).toBe(false);
    const pods = await k.json(['get', 'pods', '-n', ns, '-l', 'app=web']);
    expect(pods.items.map((p: any) => p.spec.containers[0].image)).toEqual([IMAGES.v1, IMAGES.v1, IMAGES.v1]);
    expect(log.text()).toMatch(/rollback: Deployment web back to its previous pod template \(registry.k8s.io\/pause:3.9\) and unpaused, in one patch/);
    expect(renderKubeSummary(r)).toContain('↩️ failed and rolled back');
  }, TIMEOUT);

  it('pauses for the gate between steps; a failed gate undoes the rollout', async () => {
    const ns = await seedApp(k, { replicas: 4, versionLabel: '3.9' });
    const restore = slowPods(k);
    const seen: { ctx: KubeGateContext; paused: boolean; images: string[] }[] = [];
    const gate: GateFn = async (ctx) => {
      const d = await k.json(['get', 'deployment', 'web', '-n', ns]);
      const pods = await k.json(['get', 'pods', '-n', ns, '-l', 'app=web']);
      seen.push({ ctx: ctx as KubeGateContext, paused: !!d.spec.paused, images: pods.items.map((p: any) => p.spec.containers[0].image) });
      return { pass: false, verdict: 'fail', reason: 'error ratio 12% > 1%' };
    };
    const log = new MemoryReporter();
    const r = await deployer(ns).rollout({ image: IMAGES.v2, steps: [0.25, 1], gate, log }).finally(restore);
    expect(r.status, log.text()).toBe('rolled-back');
    expect(r.failure?.phase).toBe('gate');
    expect(r.failure?.reason).toContain('error ratio 12% > 1%');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.paused).toBe(true);
    expect(seen[0]!.ctx.batch).toBe(1);
    expect(seen[0]!.ctx.totalBatches).toBe(2);
    // The rollout stopped early: at least one new pod, never all four.
    expect(seen[0]!.ctx.newInstances.length).toBeGreaterThanOrEqual(1);
    expect(seen[0]!.ctx.newInstances.length).toBeLessThan(4);
    expect(seen[0]!.images.filter((i) => i === IMAGES.v1).length).toBeGreaterThanOrEqual(3);
    expect(seen[0]!.ctx.newInstances.every((i) => i.version === '3.10')).toBe(true);
    expect(seen[0]!.ctx.oldInstances.every((i) => i.version === '3.9')).toBe(true);
    expect(seen[0]!.ctx.kubernetes.newSelector).toMatch(/^app=web,pod-template-hash=\w+$/);
    const d = await k.json(['get', 'deployment', 'web', '-n', ns]);
    expect(image(d)).toBe(IMAGES.v1);
    expect(d.spec.template.metadata.labels.version).toBe('3.9');
    expect(d.spec.paused ?? false).toBe(false);
    expect(d.status.availableReplicas).toBe(4);
    expect(d.status.updatedReplicas).toBe(4);
    expect(r.steps[0]!.gate?.pass).toBe(false);
    expect(renderKubeSummary(r)).toContain('❌ fail: error ratio 12% > 1%');
  }, TIMEOUT);

  it('a passing gate resumes the rollout and it completes', async () => {
    const ns = await seedApp(k, { replicas: 3 });
    const restore = slowPods(k);
    const paused: boolean[] = [];
    const gate: GateFn = async () => {
      paused.push(!!(await k.json(['get', 'deployment', 'web', '-n', ns])).spec.paused);
      return { pass: true, reason: 'fine' };
    };
    const r = await deployer(ns).rollout({ image: IMAGES.v2, steps: [0.34, 1], gate, log: new MemoryReporter() }).finally(restore);
    expect(r.status).toBe('succeeded');
    expect(paused).toEqual([true]);
    const d = await k.json(['get', 'deployment', 'web', '-n', ns]);
    expect(d.spec.paused ?? false).toBe(false);
    expect(d.status.availableReplicas).toBe(3);
    expect(image(d)).toBe(IMAGES.v2);
  }, TIMEOUT);

  it('manifests mode applies a directory with the image substituted, then follows the Deployment', async () => {
    const ns = await seedApp(k, { replicas: 2 });
    const dir = join(k.dir, `manifests-${ns}`);
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'web.yaml'),
      [
        'apiVersion: apps/v1',
        'kind: Deployment',
        'metadata: {name: web, labels: {app: web}}',
        'spec:',
        '  replicas: 2',
        '  selector: {matchLabels: {app: web}}',
        '  template:',
        '    metadata: {labels: {app: web}}',
        '    spec:',
        '      terminationGracePeriodSeconds: 0',
        '      containers:',
        '      - name: app',
        '        image: registry.k8s.io/pause:placeholder',
        '        ports: [{containerPort: 8080}]',
        '---',
        'apiVersion: v1',
        'kind: Service',
        'metadata: {name: web-extra}',
        'spec: {selector: {app: web}, ports: [{port: 81, targetPort: 8080}]}',
        '',
      ].join('\n'),
    );
    const r = await deployer(ns, { manifests: dir, deployment: undefined }).rollout({ image: IMAGES.v2, log: new MemoryReporter() });
    expect(r.status).toBe('succeeded');
    expect(r.deployment).toBe('web');
    const d = await k.json(['get', 'deployment', 'web', '-n', ns]);
    expect(image(d)).toBe(IMAGES.v2);
    expect(d.metadata.annotations['kubernetes.io/change-cause']).toContain(IMAGES.v2);
    expect(d.spec.strategy.rollingUpdate).toEqual({ maxUnavailable: 0, maxSurge: 1 });
    expect((await k.json(['get', 'service', 'web-extra', '-n', ns])).spec.ports[0].port).toBe(81);
    // An object the API server rejects (422) fails the deploy before anything rolls; nothing to undo.
    writeFileSync(join(dir, 'web.yaml'), readFileSync(join(dir, 'web.yaml'), 'utf8').replace('replicas: 2', 'replicas: two'));
    const bad = await deployer(ns, { manifests: dir, deployment: undefined }).rollout({ image: IMAGES.v1, log: new MemoryReporter() });
    expect(bad.status).toBe('failed');
    expect(bad.failure?.phase).toBe('apply');
    expect(bad.failure?.reason).toMatch(/invalid/i);
    expect(image(await k.json(['get', 'deployment', 'web', '-n', ns]))).toBe(IMAGES.v2);
  }, TIMEOUT);

  it('a cancelled rollout is undone at once', async () => {
    const ns = await seedApp(k, { replicas: 2 });
    const restore = slowPods(k);
    const ctl = new AbortController();
    const gate: GateFn = async () => {
      ctl.abort(new Error('job cancelled'));
      return { pass: true, reason: 'too late' };
    };
    const r = await deployer(ns).rollout({ image: IMAGES.v2, steps: [0.5, 1], gate, signal: ctl.signal, log: new MemoryReporter() }).finally(restore);
    expect(r.failure?.phase).toBe('cancelled');
    expect(r.status).toBe('rolled-back');
    const d = await k.json(['get', 'deployment', 'web', '-n', ns]);
    expect(image(d)).toBe(IMAGES.v1);
    expect(d.spec.paused ?? false).toBe(false);
    expect(d.status.availableReplicas).toBe(2);
  }, TIMEOUT);
});

describe('bad inputs', () => {
  it('a missing Deployment fails with a clear message and changes nothing', async () => {
    const ns = await seedApp(k, { replicas: 1 });
    await expect(deployer(ns, { deployment: 'nope' }).rollout({ image: IMAGES.v2, log: new MemoryReporter() })).rejects.toThrow(`Deployment "nope" not found in namespace "${ns}"`);
    expect(image(await k.json(['get', 'deployment', 'web', '-n', ns]))).toBe(IMAGES.v1);
  }, TIMEOUT);

  it('a namespace that does not exist is named in the error', async () => {
    await expect(deployer('no-such-namespace').rollout({ image: IMAGES.v2, log: new MemoryReporter() })).rejects.toThrow('namespace "no-such-namespace" not found');
  }, TIMEOUT);

  it('a context that does not exist is named in the error', async () => {
    await expect(deployer('default', { context: 'no-such-context' }).rollout({ image: IMAGES.v2, log: new MemoryReporter() })).rejects.toThrow(/no-such-context/);
  }, TIMEOUT);

  it('a container that does not exist lists the containers', async () => {
    const ns = await seedApp(k, { replicas: 1 });
    await expect(deployer(ns, { container: 'sidecar' }).rollout({ image: IMAGES.v2, log: new MemoryReporter() })).rejects.toThrow("Input 'container': got \"sidecar\"; expected a container of Deployment web: app");
  }, TIMEOUT);

  it('blue/green without a Service says so', async () => {
    const ns = await seedApp(k, { replicas: 1, service: false });
    await expect(deployer(ns).rollout({ image: IMAGES.v2, strategy: 'blue-green', log: new MemoryReporter() })).rejects.toThrow(/no Service in namespace .* selects the pods/);
  }, TIMEOUT);
});
