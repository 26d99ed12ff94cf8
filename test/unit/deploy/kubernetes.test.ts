import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryReporter } from '../../../src/lib/report.ts';
import type { ExecResult } from '../../../src/lib/exec.ts';
import {
  createKubernetesDeployer,
  imageRepository,
  normalizeSteps,
  podsForStep,
  toEngineResult,
  validateKubernetesOptions,
  versionFromImage,
  type KubeRolloutResult,
} from '../../../src/deploy/kubernetes.ts';
import { Kubectl, assessRollout, kubectlReason, selectorString } from '../../../src/deploy/kubernetes-kubectl.ts';
import { renderKubeSummary } from '../../../src/deploy/kubernetes-summary.ts';

const DIGEST = 'sha256:' + 'ab12'.repeat(16);

describe('canary sizing', () => {
  it('is ceil(fraction × replicas), at least 1, at most replicas', () => {
    expect(podsForStep(0.05, 20)).toBe(1);
    expect(podsForStep(0.5, 20)).toBe(10);
    expect(podsForStep(0.01, 3)).toBe(1);
    expect(podsForStep(0.05, 30)).toBe(2);
    expect(podsForStep(0.34, 3)).toBe(2);
    expect(podsForStep(1, 7)).toBe(7);
    expect(podsForStep(0.1, 10)).toBe(1);
    expect(podsForStep(0.5, 0)).toBe(0);
  });

  it('steps are cumulative, sorted, end at 100%; engine batches become cumulative steps', () => {
    expect(normalizeSteps(undefined, undefined, 20, [0.05, 0.5, 1])).toEqual([0.05, 0.5, 1]);
    expect(normalizeSteps([0.5, 0.05], undefined, 20, [1])).toEqual([0.05, 0.5, 1]);
    expect(normalizeSteps([0.25, 0.25, 1], undefined, 4, [1])).toEqual([0.25, 1]);
    expect(normalizeSteps(undefined, [{ count: 1 }, { fraction: 0.5 }], 4, [1])).toEqual([0.25, 0.75, 1]);
    expect(normalizeSteps(undefined, [{ count: 2 }], 5, [1])).toEqual([0.4, 0.8, 1]);
    expect(() => normalizeSteps([0], undefined, 4, [1])).toThrow('step 0% is not in (0%, 100%]');
    expect(() => normalizeSteps([1.5], undefined, 4, [1])).toThrow('is not in (0%, 100%]');
  });
});

describe('image references', () => {
  it('version label from the tag, else the digest', () => {
    expect(versionFromImage('ghcr.io/acme/api:1.4.2')).toBe('1.4.2');
    expect(versionFromImage(`localhost:5000/acme/api@${DIGEST}`)).toBe('ab12ab12ab12');
    expect(versionFromImage(`ghcr.io/acme/api:v2@${DIGEST}`)).toBe('v2');
    expect(versionFromImage('api')).toBe('latest');
    expect(versionFromImage('reg/app:-weird+tag-')).toBe('weird-tag');
  });

  it('repository without tag or digest, registry ports kept', () => {
    expect(imageRepository('localhost:5000/app:tag')).toBe('localhost:5000/app');
    expect(imageRepository('localhost:5000/app')).toBe('localhost:5000/app');
    expect(imageRepository(`ghcr.io/a/b:1@${DIGEST}`)).toBe('ghcr.io/a/b');
  });
});

describe('options', () => {
  it('bad inputs fail with the input name, the value and what was expected', () => {
    expect(() => validateKubernetesOptions({ deployment: 'Web_App' })).toThrow(`Input 'deployment': got "Web_App"; expected a Deployment name`);
    expect(() => validateKubernetesOptions({})).toThrow(`Input 'deployment': got nothing; expected the name of the Deployment`);
    expect(() => validateKubernetesOptions({ deployment: 'web', namespace: 'Prod' })).toThrow(`Input 'namespace': got "Prod"`);
    expect(() => validateKubernetesOptions({ deployment: 'web', progressDeadlineMs: 10 })).toThrow(`Input 'progress-deadline'`);
    expect(() => validateKubernetesOptions({ deployment: 'web', context: '--insecure' })).toThrow(`Input 'context'`);
    expect(() => validateKubernetesOptions({ deployment: 'web', manifests: '/no/such/dir' })).toThrow(`Input 'manifests': got "/no/such/dir"; expected a directory`);
    const dir = mkdtempSync(join(tmpdir(), 'kube-unit-'));
    expect(() => validateKubernetesOptions({ manifests: dir }, 'canary')).toThrow('manifests mode supports the rolling strategy only');
    expect(() => validateKubernetesOptions({ deployment: 'a'.repeat(60) })).toThrow('at most 56 characters');
  });

  it('a bad image fails before any kubectl call', async () => {
    const calls: string[][] = [];
    const d = createKubernetesDeployer({ deployment: 'web', exec: async (_f, args) => (calls.push([...args]), ok('')) });
    await expect(d.rollout({ image: 'reg/app:v1; rm -rf /', log: new MemoryReporter() })).rejects.toThrow(`Input 'image'`);
    await expect(d.rollout({ image: '', log: new MemoryReporter() })).rejects.toThrow(`Input 'image': got nothing`);
    expect(calls).toEqual([]);
  });

  it('manifests: a container matching the image repository is required, and the Deployment to follow must be clear', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kube-unit-'));
    writeFileSync(join(dir, 'a.yaml'), 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec: {template: {spec: {containers: [{name: app, image: other/repo:1}]}}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: worker}\nspec: {}\n');
    const calls: string[][] = [];
    const exec = async (_f: string, args: readonly string[]) => {
      calls.push([...args]);
      return args.includes('namespace') ? ok('{"kind":"Namespace"}') : fail('Error from server (NotFound): deployments.apps "api" not found');
    };
    await expect(createKubernetesDeployer({ manifests: dir, namespace: 'shop', exec }).rollout({ image: 'reg/app:2', log: new MemoryReporter() })).rejects.toThrow(
      "Input 'deployment': got nothing; expected the Deployment to follow (the manifests hold 2: api, worker)",
    );
    await expect(createKubernetesDeployer({ manifests: dir, deployment: 'api', namespace: 'shop', exec }).rollout({ image: 'reg/app:2', log: new MemoryReporter() })).rejects.toThrow(
      "Input 'image': got \"reg/app:2\"; expected an image whose repository (reg/app) matches a container of Deployment api",
    );
    expect(calls.some((c) => c.includes('apply'))).toBe(false);
  });
});

function ok(stdout: string): ExecResult {
  return { command: [], code: 0, signal: null, stdout, stderr: '', durationMs: 1, timedOut: false };
}
function fail(stderr: string): ExecResult {
  return { command: [], code: 1, signal: null, stdout: '', stderr, durationMs: 1, timedOut: false };
}

describe('kubectl', () => {
  it('passes kubeconfig, context and namespace as arguments; retries what a retry can fix, not the rest', async () => {
    const calls: string[][] = [];
    let n = 0;
    const k = new Kubectl({
      kubeconfig: '/tmp/kc',
      context: 'prod',
      namespace: 'shop',
      attempts: 3,
      exec: async (_f, args) => {
        calls.push([...args]);
        n++;
        if (args.includes('flaky')) return n < 3 ? fail('The connection to the server 10.0.0.1:6443 was refused - did you specify the right host or port?') : ok('{"ok":true}');
        return fail('E1130 09:41:59.170187 memcache.go:265] noise\nError from server (NotFound): deployments.apps "nope" not found');
      },
    });
    expect(await k.json(['get', 'deployment', 'flaky'])).toEqual({ ok: true });
    expect(calls[0]).toEqual(['--kubeconfig', '/tmp/kc', '--context', 'prod', '--namespace', 'shop', 'get', 'deployment', 'flaky', '-o', 'json']);
    expect(calls).toHaveLength(3);
    calls.length = 0;
    expect(await k.find('deployment', 'nope')).toBeUndefined();
    expect(calls).toHaveLength(1);
    await expect(k.run(['rollout', 'undo', 'deployment/nope'])).rejects.toThrow('kubectl rollout undo: deployments.apps "nope" not found');
  });

  it('one line from kubectl errors', () => {
    expect(kubectlReason('Error from server (Forbidden): deployments.apps "web" is forbidden: User "ci" cannot get resource')).toEqual({ reason: 'Forbidden', message: 'deployments.apps "web" is forbidden: User "ci" cannot get resource' });
    expect(kubectlReason('error: context "x" does not exist\n').message).toBe('context "x" does not exist');
  });

  it('label selectors from LabelSelector objects', () => {
    expect(selectorString({ matchLabels: { app: 'web', tier: 'fe' }, matchExpressions: [{ key: 'env', operator: 'In', values: ['a', 'b'] }, { key: 'x', operator: 'DoesNotExist' }] })).toBe('app=web,tier=fe,env in (a,b),!x');
  });
});

describe('assessRollout (what kubectl rollout status looks at)', () => {
  const deploy = (status: Record<string, unknown>, o: { generation?: number; revision?: string; paused?: boolean } = {}) => ({
    metadata: { name: 'web', uid: 'd1', generation: o.generation ?? 2, annotations: { 'deployment.kubernetes.io/revision': o.revision ?? '2' } },
    spec: { replicas: 3, paused: o.paused, selector: { matchLabels: { app: 'web' } } },
    status,
  });
  const rs = (name: string, rev: string, avail: number, replicas = avail) => ({
    kind: 'ReplicaSet',
    metadata: { name, labels: { 'pod-template-hash': name.split('-')[1] }, annotations: { 'deployment.kubernetes.io/revision': rev }, ownerReferences: [{ uid: 'd1', controller: true }] },
    spec: { replicas },
    status: { availableReplicas: avail },
  });
  const pod = (name: string, hash: string, ready: boolean) => ({
    metadata: { name, labels: { 'pod-template-hash': hash }, ownerReferences: [{ kind: 'ReplicaSet', name: `web-${hash}` }], creationTimestamp: '2025-01-01T00:00:00Z' },
    spec: { containers: [{ name: 'app', image: hash === 'new' ? 'app:2' : 'app:1' }] },
    status: { podIP: '10.0.0.1', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: '2025-01-01T00:00:05Z', message: ready ? undefined : 'containers with unready status: [app]' }], containerStatuses: [{ restartCount: 0, state: ready ? { running: {} } : { waiting: { reason: 'ImagePullBackOff' } } }] },
  });

  it('not observed yet: not complete, whatever the counts say', () => {
    const v = assessRollout(deploy({ observedGeneration: 1, replicas: 3, updatedReplicas: 3, availableReplicas: 3 }), [], []);
    expect(v.observed).toBe(false);
    expect(v.complete).toBe(false);
    expect(v.message).toMatch(/waiting for the deployment controller/);
  });

  it('mid-rollout: new pods counted from the new ReplicaSet (matching revision)', () => {
    const v = assessRollout(
      deploy({ observedGeneration: 2, replicas: 4, updatedReplicas: 1, availableReplicas: 3 }),
      [rs('web-old', '1', 3), rs('web-new', '2', 0, 1)],
      [pod('web-new-a', 'new', false), pod('web-old-a', 'old', true)],
      'app',
    );
    expect(v.complete).toBe(false);
    expect(v.newReplicaSet).toBe('web-new');
    expect(v.newDesired).toBe(1);
    expect(v.newAvailable).toBe(0);
    expect(v.message).toBe('1 of 3 updated, 3 available');
    expect(v.pods[0]).toMatchObject({ name: 'web-new-a', isNew: true, ready: false, why: 'ImagePullBackOff', image: 'app:2' });
    expect(v.pods[1]).toMatchObject({ name: 'web-old-a', isNew: false, ready: true, readyAt: '2025-01-01T00:00:05Z' });
  });

  it('old replicas pending termination, then complete; ProgressDeadlineExceeded is reported', () => {
    expect(assessRollout(deploy({ observedGeneration: 2, replicas: 4, updatedReplicas: 3, availableReplicas: 3 }), [rs('web-new', '2', 3)], []).message).toBe('1 old replica(s) pending termination');
    expect(assessRollout(deploy({ observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 3 }), [rs('web-new', '2', 3)], []).complete).toBe(true);
    const stuck = assessRollout(
      deploy({ observedGeneration: 2, replicas: 4, updatedReplicas: 1, availableReplicas: 3, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "web-new" has timed out progressing.' }] }),
      [],
      [],
    );
    expect(stuck.deadlineExceeded).toBe('ReplicaSet "web-new" has timed out progressing.');
  });
});

describe('results', () => {
  const result: KubeRolloutResult = {
    status: 'rolled-back',
    strategy: 'canary',
    namespace: 'shop',
    deployment: 'web',
    image: 'reg/app:2',
    version: '2',
    previousImage: 'reg/app:1',
    previousVersion: '1',
    replicas: 20,
    startedAt: 1_000,
    durationMs: 12_000,
    rollbackMs: 800,
    steps: [{ step: 1, fraction: 0.05, target: 1, available: 1, startedAt: 1_500, endedAt: 3_000, gate: { pass: false, verdict: 'fail', reason: 'error ratio 5% > 1%', durationMs: 900 }, outcome: 'failed' }],
    pods: [{ name: 'web-canary-abc', version: '2', image: 'reg/app:2', owner: 'web-canary', ready: true, readyAfterMs: 1_200, restarts: 0 }],
    canary: { deployment: 'web-canary', sizes: [1], deleted: true },
    failure: { phase: 'gate', reason: 'gate failed after step 1: error ratio 5% > 1%' },
    finalImage: 'reg/app:1',
    events: [{ atMs: 10, message: 'Kubernetes canary deploy' }],
    warnings: ['image reg/app:2 has no digest'],
  };

  it('the summary says what happened, why, and what runs now', () => {
    const md = renderKubeSummary(result);
    expect(md).toContain('## Canary deploy of 2 to Deployment shop/web: ↩️ failed and rolled back');
    expect(md).toContain('gate failed after step 1: error ratio 5% > 1%');
    expect(md).toContain('runs now: `reg/app:1`');
    expect(md).toContain('Canary `web-canary`: sizes 1 pod(s) of 20; deleted');
    expect(md).toContain('| 1 | 5% (1) | 1 |');
    expect(md).toContain('| web-canary-abc | 2 | web-canary | ✅ | 1.20s |');
    expect(md).toContain('> ⚠️ image reg/app:2 has no digest');
  });

  it('maps onto the engine result (pods as instances)', () => {
    const e = toEngineResult(result);
    expect(e.status).toBe('rolled-back');
    expect(e.instances).toEqual([{ id: 'web-canary-abc', url: '', batch: 1, from: '1', to: '2', status: 'rolled-back', readyMs: 1_200, error: undefined }]);
    expect(e.failure).toMatchObject({ phase: 'gate' });
    expect(e.finalVersions).toEqual({ web: 'reg/app:1' });
    expect(e.batches[0]!.gate?.pass).toBe(false);
  });
});
