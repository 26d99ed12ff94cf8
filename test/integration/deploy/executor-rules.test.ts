/**
 * The rollout rules are written once (src/deploy/executor.ts): the same failure scenarios run
 * through a hosts-like target (the engine's DeployTarget capabilities, in memory) and through the
 * Kubernetes target (kubernetes.ts against the fake API server), and must end the same way: the
 * same status, failure phase and reason, the same step records (outcome, gate verdicts), the kill
 * switch hook run once before anything is undone, and the fleet back on the version it ran before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { parseBatches } from '../../../src/deploy/batches.ts';
import { rollout, type DeployTarget, type GateFn, type InstanceRef, type RolloutResult } from '../../../src/deploy/engine.ts';
import { createKubernetesDeployer, toEngineResult } from '../../../src/deploy/kubernetes.ts';
import { IMAGES, SLOW, kubeEnv, seedApp, slowPods, type KubeEnv } from '../../helpers/fake-kube/harness.ts';

type Scenario = 'the gate fails after step 2' | 'a readiness timeout in step 1' | 'cancelled during the gate after step 1';

/** What every target must show for a scenario (RolloutResult, the shape the action reports). */
const expected: Record<Scenario, { status: string; phase: string; reason: RegExp; steps: [string, boolean | undefined][]; gateCalls: number }> = {
  'the gate fails after step 2': {
    status: 'rolled-back',
    phase: 'gate',
    reason: /^gate failed after (batch|step) 2: error ratio 12% > 1%$/,
    steps: [
      ['done', true],
      ['failed', false],
    ],
    gateCalls: 2,
  },
  'a readiness timeout in step 1': {
    status: 'rolled-back',
    phase: 'readiness',
    reason: /not ready within|progress deadline|no progress/,
    steps: [['failed', undefined]],
    gateCalls: 0,
  },
  'cancelled during the gate after step 1': { status: 'rolled-back', phase: 'cancelled', reason: /cancelled/, steps: [['done', true]], gateCalls: 1 },
};

/** The gate of a scenario: passes, fails at its second call, or cancels the run while it passes. */
function gateFor(s: Scenario, ctl: AbortController): { gate: GateFn; calls: () => number } {
  let n = 0;
  return {
    calls: () => n,
    gate: async () => {
      n++;
      if (s === 'the gate fails after step 2' && n === 2) return { pass: false, verdict: 'fail', reason: 'error ratio 12% > 1%' };
      if (s === 'cancelled during the gate after step 1') ctl.abort();
      return { pass: true, reason: 'fine' };
    },
  };
}

/** A hosts-like fleet in memory: in-place switching behind a load balancer; version `bad` never gets ready. */
class MemoryFleet implements DeployTarget {
  readonly kind = 'memory';
  readonly strategy = 'in-place' as const;
  running = new Map([
    ['web1', 'v1'],
    ['web2', 'v1'],
    ['web3', 'v1'],
  ]);
  calls: string[] = [];
  async instances(): Promise<InstanceRef[]> {
    return [...this.running.keys()].map((id) => ({ id, url: `http://${id}` }));
  }
  async currentVersion(i: InstanceRef) {
    return this.running.get(i.id);
  }
  async previousVersion() {
    return 'v1';
  }
  async drain(l: InstanceRef[]) {
    this.calls.push(`drain ${l.map((i) => i.id).join(',')}`);
  }
  async undrain(l: InstanceRef[]) {
    this.calls.push(`undrain ${l.map((i) => i.id).join(',')}`);
  }
  async stop() {}
  async deploy(i: InstanceRef, v: string) {
    this.calls.push(`deploy ${i.id} ${v}`);
    this.running.set(i.id, v);
    return { readyUrl: `http://${i.id}/ready` };
  }
  async switchBack(i: InstanceRef, v: string) {
    this.calls.push(`switchBack ${i.id} ${v}`);
    this.running.set(i.id, v);
    return { readyUrl: `http://${i.id}/ready` };
  }
  async probe(i: InstanceRef) {
    const v = this.running.get(i.id)!;
    return v === 'bad' ? { ok: false, answer: 'HTTP 503' } : { ok: true, answer: 'HTTP 200', version: v };
  }
  async close() {}
}

let k: KubeEnv;
beforeAll(async () => {
  k = await kubeEnv();
});
afterAll(async () => {
  await k?.stop();
});

/** What the kill switch hook saw: how often it ran, and whether the new version still served then (nothing undone yet). */
interface Hook {
  runs: number;
  newStillServed?: boolean;
}

const targets: Record<string, (s: Scenario) => Promise<{ r: RolloutResult; gateCalls: number; back: boolean; hook: Hook }>> = {
  hosts: async (s) => {
    const fleet = new MemoryFleet();
    const ctl = new AbortController();
    const g = gateFor(s, ctl);
    const hook: Hook = { runs: 0 };
    const r = await rollout(fleet, s === 'a readiness timeout in step 1' ? 'bad' : 'v2', {
      batches: parseBatches('1'),
      gate: g.gate,
      beforeUndo: async () => {
        hook.runs++;
        hook.newStillServed = [...fleet.running.values()].some((v) => v !== 'v1');
      },
      signal: ctl.signal,
      rollbackOnCancel: true,
      readiness: { threshold: 1, timeoutMs: 300, intervalMs: 10, minReadyMs: 0, requestTimeoutMs: 100 },
      log: new MemoryReporter(),
    });
    // The undo went last batch first.
    const backs = fleet.calls.filter((c) => c.startsWith('switchBack'));
    expect(backs).toEqual([...backs].sort().reverse());
    return { r, gateCalls: g.calls(), back: [...fleet.running.values()].every((v) => v === 'v1'), hook };
  },
  kubernetes: async (s) => {
    const ns = await seedApp(k, { replicas: 3, versionLabel: '3.9' });
    const restore = slowPods(k);
    const ctl = new AbortController();
    const g = gateFor(s, ctl);
    const hook: Hook = { runs: 0 };
    const deployer = createKubernetesDeployer({
      deployment: 'web',
      namespace: ns,
      kubeconfig: k.kubeconfig,
      env: k.env,
      pollMs: 100,
      progressDeadlineMs: 2_000 * SLOW,
    });
    const kr = await deployer
      .rollout({
        image: s === 'a readiness timeout in step 1' ? IMAGES.bad : IMAGES.v2,
        steps: [1 / 3, 2 / 3, 1],
        gate: g.gate,
        signal: ctl.signal,
        log: new MemoryReporter(),
        beforeUndo: async () => {
          hook.runs++;
          const d = await k.json(['get', 'deployment', 'web', '-n', ns]);
          hook.newStillServed = d.spec.template.spec.containers[0].image !== IMAGES.v1;
        },
      })
      .finally(restore);
    const d = await k.json(['get', 'deployment', 'web', '-n', ns]);
    const back = d.spec.template.spec.containers[0].image === IMAGES.v1 && d.status.availableReplicas === 3 && !d.spec.paused;
    return { r: toEngineResult(kr), gateCalls: g.calls(), back, hook };
  },
};

describe.each(Object.keys(targets))('the executor rules on the %s target', (target) => {
  it.each(Object.keys(expected) as Scenario[])('%s', { timeout: 60_000 * SLOW, retry: target === 'kubernetes' ? 2 : 0 }, async (s) => {
    const want = expected[s];
    const { r, gateCalls, back, hook } = await targets[target]!(s);
    expect(r.status).toBe(want.status);
    expect(r.failure?.phase).toBe(want.phase);
    expect(r.failure?.reason).toMatch(want.reason);
    expect(r.batches.map((b) => [b.outcome, b.gate?.pass])).toEqual(want.steps);
    expect(gateCalls).toBe(want.gateCalls);
    expect(back).toBe(true);
    // The kill switch hook ran once, before anything was undone.
    expect(hook).toEqual({ runs: 1, newStillServed: true });
  });
});
