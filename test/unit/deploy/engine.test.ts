import { describe, expect, it } from 'vitest';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { parseBatches, planBatches } from '../../../src/deploy/batches.ts';
import { needsUndo, resumeRollback, rollbackFleet, rollout, waitReady, type DeployTarget, type InstanceRef, type RolloutState } from '../../../src/deploy/engine.ts';
import { renderSummary, mixedFleet } from '../../../src/deploy/summary.ts';

/** An in-memory fleet: records every call; versions listed in `bad` never become ready. */
class FakeTarget implements DeployTarget {
  readonly kind = 'fake';
  strategy: 'in-place' | 'beside' = 'in-place';
  calls: string[] = [];
  running = new Map<string, string | undefined>();
  previous = new Map<string, string>();
  drained = new Set<string>();
  bad = new Set<string>();
  failOn?: { op: string; id: string };
  /** Called on every op, to cancel mid-rollout. */
  onOp?: (op: string, id: string) => void;
  constructor(n: number, version = 'v1') {
    for (let i = 1; i <= n; i++) this.running.set(`i${i}`, version);
  }
  private op(op: string, id: string) {
    this.calls.push(`${op} ${id}`);
    this.onOp?.(op, id);
    if (this.failOn && this.failOn.op === op && this.failOn.id === id) throw new Error(`${op} failed on ${id}`);
  }
  async instances(): Promise<InstanceRef[]> {
    return [...this.running.keys()].map((id) => ({ id, url: `http://${id}` }));
  }
  async currentVersion(i: InstanceRef) { return this.running.get(i.id); }
  async previousVersion(i: InstanceRef) { return this.previous.get(i.id); }
  async drain(list: InstanceRef[]) { for (const i of list) { this.op('drain', i.id); this.drained.add(i.id); } }
  async undrain(list: InstanceRef[]) { for (const i of list) { this.op('undrain', i.id); this.drained.delete(i.id); } }
  async stop(i: InstanceRef) { this.op('stop', i.id); }
  async deploy(i: InstanceRef, v: string) {
    this.op('deploy', i.id);
    const cur = this.running.get(i.id);
    if (cur && cur !== v) this.previous.set(i.id, cur);
    this.running.set(i.id, v);
    return { readyUrl: `http://${i.id}/ready` };
  }
  async switchBack(i: InstanceRef, v: string) {
    this.op('switchBack', i.id);
    this.running.set(i.id, v);
    return { readyUrl: `http://${i.id}/ready` };
  }
  async probe(i: InstanceRef) {
    const v = this.running.get(i.id)!;
    return this.bad.has(v) ? { ok: false, answer: `HTTP 503 {"ready":false,"version":"${v}"}` } : { ok: true, answer: 'HTTP 200' };
  }
  async logs(i: InstanceRef) { return `log of ${i.id}: boom`; }
  async close() {}
}

const fast = { threshold: 2, timeoutMs: 200, intervalMs: 5, minReadyMs: 10, requestTimeoutMs: 100 };

describe('batches', () => {
  it('plans ramps and repeats the last size', () => {
    expect(planBatches(4, parseBatches('1,1,2'))).toEqual([1, 1, 2]);
    expect(planBatches(4, parseBatches('1,25%,100%'))).toEqual([1, 1, 2]);
    expect(planBatches(20, parseBatches('25%'))).toEqual([5, 5, 5, 5]);
    expect(planBatches(5, parseBatches('2'))).toEqual([2, 2, 1]);
    expect(planBatches(3, parseBatches('10%'))).toEqual([1, 1, 1]);
  });
  it('rejects 0, over 100% and junk', () => {
    expect(() => parseBatches('0')).toThrow(/at least 1/);
    expect(() => parseBatches('1,150%')).toThrow(/over 100%/);
    expect(() => parseBatches('0%')).toThrow(/more than 0%/);
    expect(() => parseBatches('two')).toThrow(/neither/);
  });
});

describe('waitReady', () => {
  it('needs threshold answers in a row and reports the last answer on timeout', async () => {
    let n = 0;
    const r = await waitReady(async () => ({ ok: ++n % 2 === 0, answer: `answer ${n}` }), { ...fast, signal: new AbortController().signal });
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/not ready within/);
    expect(r.lastAnswer).toMatch(/^answer \d+$/);
  });
  it('fails when the instance becomes unready during min-ready', async () => {
    let n = 0;
    const r = await waitReady(async () => ({ ok: ++n <= 2, answer: `a${n}` }), { ...fast, minReadyMs: 100, signal: new AbortController().signal });
    expect(r).toMatchObject({ ok: false, reason: expect.stringMatching(/min-ready/) });
  });
  it('stops at once when the process exited', async () => {
    const r = await waitReady(async () => ({ ok: false, answer: 'ECONNREFUSED' }), { ...fast, timeoutMs: 10_000, signal: new AbortController().signal, exited: () => 'exit code 1' });
    expect(r.reason).toBe('process exited: exit code 1');
  });
});

describe('rollout', () => {
  it('rolls 4 instances in batches 1,1,2 with drain before stop and undrain after ready', async () => {
    const t = new FakeTarget(4);
    const states: RolloutState[] = [];
    const log = new MemoryReporter();
    const r = await rollout(t, 'v2', { batches: parseBatches('1,1,2'), readiness: fast, log, saveState: (s) => states.push(s) });
    expect(r.status).toBe('succeeded');
    expect([...t.running.values()]).toEqual(['v2', 'v2', 'v2', 'v2']);
    expect(r.batches.map((b) => b.instances)).toEqual([['i1'], ['i2'], ['i3', 'i4']]);
    expect(t.calls.slice(0, 4)).toEqual(['drain i1', 'stop i1', 'deploy i1', 'undrain i1']);
    expect(t.drained.size).toBe(0);
    expect(states.at(-1)!.finished).toBe(true);
    expect(states.some((s) => s.instances.some((i) => i.status === 'switching'))).toBe(true);
    const md = renderSummary(r);
    expect(md).toContain('Timeline');
    expect(md).toMatch(/\| 3 \| i3, i4 \|/);
  });

  it('is a no-op when every instance already runs the version', async () => {
    const t = new FakeTarget(2, 'v2');
    const r = await rollout(t, 'v2', { batches: parseBatches('1'), readiness: fast, log: new MemoryReporter() });
    expect(r.status).toBe('unchanged');
    expect(t.calls).toEqual([]);
  });

  it('rolls back every switched instance in reverse order when a batch never becomes ready', async () => {
    const t = new FakeTarget(4);
    t.bad.add('v2');
    // The first batch passes only if v2 is good: make i1 good by switching the bad set after batch 1.
    let deployed = 0;
    t.onOp = (op) => { if (op === 'deploy' && ++deployed === 2) t.bad.add('v2'); };
    t.bad.clear();
    const r = await rollout(t, 'v2', { batches: parseBatches('1,1,2'), readiness: fast, log: new MemoryReporter() });
    expect(r.status).toBe('rolled-back');
    expect(r.failure).toMatchObject({ phase: 'readiness', instance: 'i2' });
    expect(r.failure!.lastAnswer).toContain('HTTP 503');
    expect(r.failure!.logs).toContain('log of i2');
    expect([...t.running.values()]).toEqual(['v1', 'v1', 'v1', 'v1']);
    const backs = t.calls.filter((c) => c.startsWith('switchBack'));
    expect(backs).toEqual(['switchBack i2', 'switchBack i1']);
    expect(t.drained.size).toBe(0);
    expect(r.finalVersions).toEqual({ i1: 'v1', i2: 'v1', i3: 'v1', i4: 'v1' });
    const md = renderSummary(r);
    expect(md).toContain('**i2**');
    expect(md).toContain('Rolled back: i2 (→ v1), i1 (→ v1)');
  });

  it('rolls back when the gate fails and hands the gate new and old instances', async () => {
    const t = new FakeTarget(3);
    const seen: unknown[] = [];
    const r = await rollout(t, 'v2', {
      batches: parseBatches('1'),
      readiness: fast,
      log: new MemoryReporter(),
      gate: async (ctx) => {
        seen.push({ batch: ctx.batch, total: ctx.totalBatches, n: ctx.newInstances.map((i) => i.id), o: ctx.oldInstances.map((i) => `${i.id}@${i.version}`) });
        return ctx.batch === 2 ? { pass: false, verdict: 'fail', reason: 'error ratio 7% > 1%' } : { pass: true, reason: 'fine' };
      },
    });
    expect(seen).toEqual([
      { batch: 1, total: 3, n: ['i1'], o: ['i2@v1', 'i3@v1'] },
      { batch: 2, total: 3, n: ['i1', 'i2'], o: ['i3@v1'] },
    ]);
    expect(r.status).toBe('rolled-back');
    expect(r.failure!.reason).toContain('error ratio 7% > 1%');
    expect([...t.running.values()]).toEqual(['v1', 'v1', 'v1']);
  });

  it('says exactly which instance runs which version when the rollback fails', async () => {
    const t = new FakeTarget(3);
    t.failOn = { op: 'deploy', id: 'i2' };
    t.onOp = (op, id) => { if (op === 'switchBack' && id === 'i1') t.failOn = { op: 'switchBack', id: 'i1' }; };
    const r = await rollout(t, 'v2', { batches: parseBatches('1'), readiness: fast, log: new MemoryReporter() });
    expect(r.status).toBe('rollback-failed');
    expect(r.failure!.reason).toContain('deploy failed on i2');
    expect(mixedFleet(r)).toBe('i1 runs v2, i2 runs v1, i3 runs v1');
    expect(renderSummary(r)).toContain('The fleet is on mixed versions');
  });

  it('beside targets start the new copy first and stop the old one after traffic moved', async () => {
    const t = new FakeTarget(2);
    t.strategy = 'beside';
    const r = await rollout(t, 'v2', { batches: parseBatches('1'), readiness: fast, log: new MemoryReporter() });
    expect(r.status).toBe('succeeded');
    expect(t.calls.slice(0, 3)).toEqual(['deploy i1', 'undrain i1', 'stop i1']);
  });

  it('stops on cancellation with state the post step can undo', async () => {
    const t = new FakeTarget(4);
    const ctl = new AbortController();
    const states: RolloutState[] = [];
    t.onOp = (op, id) => { if (op === 'deploy' && id === 'i3') ctl.abort(new Error('cancelled (SIGTERM)')); };
    const r = await rollout(t, 'v2', { batches: parseBatches('1,1,2'), readiness: fast, log: new MemoryReporter(), signal: ctl.signal, saveState: (s) => states.push(s) });
    expect(r.status).toBe('cancelled');
    const saved = states.at(-1)!;
    expect(needsUndo(saved)).toBe(true);
    expect(saved.finished).toBe(false);
    const back = await resumeRollback(t, JSON.parse(JSON.stringify(saved)), { readiness: fast, log: new MemoryReporter() });
    expect(back.status).toBe('rolled-back');
    expect(new Set(t.running.values())).toEqual(new Set(['v1']));
    expect(t.drained.size).toBe(0);
  });

  it('rollback mode puts every instance on the kept version, and refuses when one keeps none', async () => {
    const t = new FakeTarget(2);
    await rollout(t, 'v2', { batches: parseBatches('1'), readiness: fast, log: new MemoryReporter() });
    const r = await rollbackFleet(t, { batches: parseBatches('1'), readiness: fast, log: new MemoryReporter() });
    expect(r.status).toBe('succeeded');
    expect(r.mode).toBe('rollback');
    expect([...t.running.values()]).toEqual(['v1', 'v1']);
    const fresh = new FakeTarget(2);
    await expect(rollbackFleet(fresh, { batches: parseBatches('1'), readiness: fast, log: new MemoryReporter() })).rejects.toThrow(/no previous version is kept on i1, i2/);
    expect(fresh.calls).toEqual([]);
  });

  it('fails before switching anything when prepare fails', async () => {
    const t = new FakeTarget(2);
    (t as DeployTarget).prepare = async () => { throw new Error('upload failed'); };
    const r = await rollout(t, 'v2', { batches: parseBatches('1'), readiness: fast, log: new MemoryReporter() });
    expect(r.status).toBe('failed');
    expect(r.failure!.reason).toMatch(/nothing was switched: upload failed/);
    expect(t.calls).toEqual([]);
  });
});
