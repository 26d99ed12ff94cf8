/**
 * `pause: manual` steps (issue 19, item 5): the ramp syntax in batches and canary-steps, and the
 * engine's wait with an in-memory promotion channel (the hosts channel over SSH is tested on a real
 * fleet in test/integration/cli/promote.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { parseBatches, planBatches } from '../../../src/deploy/batches.ts';
import { parseSteps } from '../../../src/actions/deploy-rolling/inputs.ts';
import { rollout, type DeployTarget, type InstanceRef, type Promotion, type PromotionDecision } from '../../../src/deploy/engine.ts';

class Fleet implements DeployTarget {
  readonly kind = 'mem';
  readonly strategy = 'in-place' as const;
  running = new Map<string, string>();
  constructor(n: number) { for (let i = 1; i <= n; i++) this.running.set(`i${i}`, 'v1'); }
  async instances(): Promise<InstanceRef[]> { return [...this.running.keys()].map((id) => ({ id, url: `http://${id}` })); }
  async currentVersion(i: InstanceRef) { return this.running.get(i.id); }
  async previousVersion() { return 'v1'; }
  async drain() {}
  async undrain() {}
  async stop() {}
  async deploy(i: InstanceRef, v: string) { this.running.set(i.id, v); return { readyUrl: `http://${i.id}/ready` }; }
  async switchBack(i: InstanceRef, v: string) { this.running.set(i.id, v); return { readyUrl: `http://${i.id}/ready` }; }
  async probe() { return { ok: true, answer: 'HTTP 200' }; }
  async close() {}
}

/** A channel whose decision a test sets once the rollout opened the pause; ids are checked like on hosts. */
function channel(decide: (open: { id: string; batch: number }) => PromotionDecision | undefined) {
  const seen: string[] = [];
  let current: { id: string; batch: number } | undefined;
  const p: Promotion = {
    where: 'memory',
    async open(info) { current = info; seen.push(`open ${info.batch}/${info.totalBatches} ${info.version}`); },
    async poll(id) { return current && current.id === id ? decide(current) : undefined; },
    async close() { seen.push('close'); current = undefined; },
  };
  return { p, seen };
}
const readiness = { threshold: 1, timeoutMs: 200, intervalMs: 5, minReadyMs: 0, requestTimeoutMs: 100 };

describe('pause: manual in a ramp', () => {
  it('batches: the pause positions travel with the sizes', () => {
    const b = parseBatches('1, pause: manual, 25%, pause:manual, 100%');
    expect(planBatches(4, b)).toEqual([1, 1, 2]);
    expect(b.manualPauses).toEqual([1, 2]);
    expect(parseBatches('1,25%').manualPauses).toBeUndefined();
  });
  it('canary-steps: the same, checked against the steps (100% added at the end)', () => {
    const s = parseSteps('5%, pause: manual, 50%');
    expect([...s]).toEqual([0.05, 0.5, 1]);
    expect(s.manualPauses).toEqual([1]);
    expect(() => parseSteps('5%, 100%, pause: manual')).toThrow(/after step 2 of 2: nothing is left to promote/);
  });
  it('bad pause steps name what is wrong', () => {
    expect(() => parseBatches('pause: manual, 1')).toThrow(/"pause: manual" must follow a batch/);
    expect(() => parseBatches('1, pause: 10m, 2')).toThrow(/"pause: 10m" is not a pause step: only "pause: manual" is/);
    expect(() => parseBatches('1, pause, 2')).toThrow(/"pause" is not a pause step/);
    expect(() => parseBatches('1, pause: manual, pause: manual, 2')).toThrow(/twice in a row after batch 1/);
  });
});

describe('the engine at a manual pause', () => {
  const go = (f: Fleet, p: Promotion | undefined, over: Record<string, unknown> = {}) =>
    rollout(f, 'v2', { batches: parseBatches('1,100%'), manualPauses: [1], promotion: p, readiness, log: new MemoryReporter(), promotionPollMs: 5, promotionDeadlineMs: 5000, ...over });

  it('promote: goes on after the pause; the batch records who promoted', async () => {
    const f = new Fleet(3);
    const c = channel(() => ({ action: 'promote', actor: 'bob', at: '2026-12-06T00:00:00Z' }));
    const r = await go(f, c.p);
    expect(r.status).toBe('succeeded');
    expect([...f.running.values()]).toEqual(['v2', 'v2', 'v2']);
    expect(c.seen).toEqual(['open 1/2 v2', 'close']);
    expect(r.batches[0]!.promotion).toMatchObject({ action: 'promote', actor: 'bob' });
  });
  it('abort: rolls back what was switched; the failure says who aborted', async () => {
    const f = new Fleet(3);
    const c = channel(() => ({ action: 'abort', actor: 'carol', at: '2026-12-06T00:00:00Z' }));
    const r = await go(f, c.p);
    expect(r.status).toBe('rolled-back');
    expect(r.failure).toMatchObject({ phase: 'promotion', reason: 'aborted by carol at the manual pause after batch 1' });
    expect([...f.running.values()]).toEqual(['v1', 'v1', 'v1']);
  });
  it('the deadline passes with no decision: aborts and rolls back', async () => {
    const f = new Fleet(2);
    const r = await go(f, channel(() => undefined).p, { promotionDeadlineMs: 30 });
    expect(r.status).toBe('rolled-back');
    expect(r.failure?.reason).toMatch(/nobody promoted within 30ms at the manual pause after batch 1/);
    expect(r.batches[0]!.promotion?.action).toBe('deadline');
  });
  it('a target with no promotion channel fails before any change; a pause after the last batch is skipped with a warning', async () => {
    const f = new Fleet(2);
    const r = await go(f, undefined);
    expect(r.status).toBe('failed');
    expect(r.failure?.reason).toMatch(/"pause: manual" needs a target that can hold the promote signal \(hosts\); the mem target cannot\. Nothing was switched/);
    expect([...f.running.values()]).toEqual(['v1', 'v1']);
    const one = new Fleet(1);
    const r2 = await go(one, channel(() => undefined).p);
    expect(r2.status).toBe('succeeded');
    expect(r2.warnings.join('\n')).toMatch(/"pause: manual" after batch 1 skipped: this rollout has 1 batch/);
  });
});
