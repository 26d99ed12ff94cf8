/**
 * deploy-rolling with target: kubernetes, through its bundle as the runner runs it, with kubectl
 * against the fake API server (test/helpers/fake-kube; a real cluster with SLIPWAY_KUBE_REAL=1):
 * a rolling deploy that completes, one that never gets ready (undone in one patch), canary sizing seen
 * from inside the gate, blue/green and its switch back (rollback: true), kubeconfig-data as a
 * secret, and bad combinations that fail before anything runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findLeaks, registerSecret, runBundle, type BundleRun } from '../helpers/runner.ts';
import { IMAGES, SLOW, kubeEnv, seedApp, type KubeEnv } from '../helpers/fake-kube/harness.ts';

let k: KubeEnv;
const runs: BundleRun[] = [];
let secret = '';
beforeAll(async () => {
  k = await kubeEnv();
});
afterAll(async () => {
  for (const r of runs) expect(findLeaks(r, [secret])).toEqual([]);
  await k?.stop();
});

const TIMEOUT = 90_000 * SLOW;
const image = (d: any) => d.spec.template.spec.containers.find((c: any) => c.name === 'app').image;

async function deploy(ns: string, inputs: Record<string, string>, env: Record<string, string> = {}) {
  const r = await runBundle(
    'deploy-rolling',
    {
      target: 'kubernetes',
      deployment: 'web',
      namespace: ns,
      'progress-deadline': `${2 * SLOW}s`,
      ...(k.kubeconfig ? { kubeconfig: k.kubeconfig } : {}),
      ...inputs,
    },
    { timeoutMs: TIMEOUT, env: { KUBECACHEDIR: join(k.dir, 'cache'), ...env } },
  );
  runs.push(r);
  return r;
}

describe('deploy-rolling target: kubernetes (bundle + kubectl)', () => {
  it(
    'rolling: sets the image, follows the rollout, outputs the version from the image tag and the revision',
    async () => {
      const ns = await seedApp(k, { replicas: 3 });
      const r = await deploy(ns, { image: IMAGES.v2 });
      expect(r.errors).toEqual([]);
      expect(r.code).toBe(0);
      expect(r.outputs.version).toBe('3.10');
      expect(r.outputs['previous-version']).toBe('3.9');
      expect(r.outputs.strategy).toBe('rolling');
      expect(r.outputs.revision).toBe('2');
      expect(r.outputs['rolled-back']).toBe('false');
      const pods = JSON.parse(r.outputs.instances!) as Record<string, { version: string; status: string }>;
      expect(Object.values(pods)).toHaveLength(3);
      expect(Object.values(pods).every((p) => p.version === '3.10' && p.status === 'new')).toBe(true);
      expect(r.summary).toContain(`Rolling deploy of 3.10 to Deployment ${ns}/web: ✅ deployed`);
      expect(r.summary).toContain('revision 1 → 2');
      const d = await k.json(['get', 'deployment', 'web', '-n', ns]);
      expect(image(d)).toBe(IMAGES.v2);
      expect(d.metadata.annotations['kubernetes.io/change-cause']).toBe(
        `slipway: ${IMAGES.v2} (commit 0123456789abcdef0123456789abcdef01234567, run https://github.com/acme/shop/actions/runs/4242)`,
      );

      // rollback: true → back to the last good pod template (3.9).
      const back = await deploy(ns, { rollback: 'true' });
      expect(back.errors).toEqual([]);
      expect(back.code).toBe(0);
      expect(back.outputs.version).toBe('3.9');
      expect(back.outputs['rolled-back']).toBe('true');
      expect(back.summary).toContain(`Rollback (to the last good pod template) of Deployment ${ns}/web to 3.9: ✅ done`);
      expect(image(await k.json(['get', 'deployment', 'web', '-n', ns]))).toBe(IMAGES.v1);
    },
    TIMEOUT,
  );

  it(
    'a rollout that never gets ready is undone; the step fails with the reason, kubeconfig-data stays secret',
    async () => {
      const ns = await seedApp(k, { replicas: 2 });
      const data = k.kubeconfig ? readFileSync(k.kubeconfig, 'utf8') : '';
      secret =
        data
          .split('\n')
          .find((l) => /server:/.test(l))
          ?.trim() ?? '';
      if (secret) registerSecret(secret);
      const r = await deploy(ns, { image: IMAGES.bad, ...(data ? { kubeconfig: '', 'kubeconfig-data': data } : {}) });
      expect(r.code).toBe(1);
      const err = r.errors.join('\n');
      expect(err).toMatch(/progress deadline|no progress/);
      expect(err).toContain(`rolled back: Deployment web runs ${IMAGES.v1} again`);
      expect(r.outputs['rolled-back']).toBe('true');
      expect(r.outputs.version).toBe('3.9');
      expect(r.summary).toContain('↩️ failed and rolled back');
      expect(r.summary).toContain('back to its previous pod template');
      expect(image(await k.json(['get', 'deployment', 'web', '-n', ns]))).toBe(IMAGES.v1);
      if (data) expect(r.masks).toContain(data.trim().split('\n')[0]);
    },
    TIMEOUT,
  );

  it(
    'canary: 5% of 20 replicas is 1 pod, 50% is 10; the gate runs while the canary has that size; promoted and cleaned up',
    async () => {
      const ns = await seedApp(k, { replicas: 20, versionLabel: '3.9' });
      const file = join(k.dir, `canary-${ns}.txt`);
      writeFileSync(file, '');
      const kc = k.kubeconfig ? `--kubeconfig ${k.kubeconfig} ` : '';
      const r = await deploy(ns, {
        image: IMAGES.v2,
        strategy: 'canary',
        'canary-steps': '5%,50%,100%',
        'gate-command': JSON.stringify(['sh', '-c', `kubectl ${kc}-n ${ns} get deployment web-canary -o jsonpath='{.spec.replicas} ' >> ${file}`]),
      });
      expect(r.errors).toEqual([]);
      expect(r.code).toBe(0);
      expect(readFileSync(file, 'utf8').trim().split(/\s+/)).toEqual(['1', '10']);
      expect(r.outputs.strategy).toBe('canary');
      expect(r.summary).toContain('Canary `web-canary`: sizes 1 → 10 pod(s) of 20; deleted');
      const d = await k.json(['get', 'deployment', 'web', '-n', ns]);
      expect(image(d)).toBe(IMAGES.v2);
      await expect(k.json(['get', 'deployment', 'web-canary', '-n', ns])).rejects.toThrow(/not found/);
    },
    TIMEOUT,
  );

  it(
    'blue/green: the Service switches to the green slot; rollback: true switches it back while blue still runs',
    async () => {
      const ns = await seedApp(k, { replicas: 2 });
      const r = await deploy(ns, { image: IMAGES.v2, strategy: 'blue-green', 'keep-previous': '10m' });
      expect(r.errors).toEqual([]);
      expect(r.code).toBe(0);
      expect((await k.json(['get', 'service', 'web', '-n', ns])).spec.selector['slipway.dev/slot']).toBe('green');
      expect(r.summary).toContain('Blue/green deploy of 3.10');
      const back = await deploy(ns, { rollback: 'true', strategy: 'blue-green' });
      expect(back.errors).toEqual([]);
      expect(back.code).toBe(0);
      expect(back.outputs.version).toBe('3.9');
      expect(back.summary).toContain('Blue/green switch back');
      expect((await k.json(['get', 'service', 'web', '-n', ns])).spec.selector['slipway.dev/slot']).toBe('blue');
    },
    TIMEOUT,
  );

  it.each([
    [{ strategy: 'canary', manifests: 'test' }, /Input 'manifests'.*no manifests with strategy canary/],
    [{ image: '' }, /Input 'image'.*required with target: kubernetes/],
    [{ deployment: 'Web_1' }, /Input 'deployment': got "Web_1"/],
    [{ 'max-unavailable': '2' }, /'max-unavailable' does not apply to target: kubernetes/],
    [{ 'canary-steps': '0%' }, /Input 'canary-steps'/],
    [{ strategy: 'canary', 'canary-steps': '10%, pause: manual, 100%' }, /Input 'canary-steps': "pause: manual" \(after step 1\) needs target: hosts/],
    [{ batches: '25%, pause: manual, 100%', 'gate-url': 'http://127.0.0.1:1/ok' }, /Input 'batches': "pause: manual" \(after step 1\) needs target: hosts/],
  ])('bad combination %o fails before anything runs', async (over, message) => {
    const r = await deploy('default', { image: IMAGES.v2, ...over } as Record<string, string>);
    expect(r.code).toBe(1);
    expect(r.errors.join('\n')).toMatch(message);
    expect(r.outputs).toEqual({});
    expect(r.stdout).not.toContain('kubectl');
  });
});
