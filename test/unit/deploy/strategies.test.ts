/**
 * Canary (engine.ts with canary shares) and blue/green (strategies.ts) decisions on in-memory
 * targets: which instances switch at each step, the weights, the one switch, the switch back on a
 * failed gate, reuse of a still-running idle slot, and the post-step resume.
 */
import { describe, expect, it } from 'vitest';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { canaryWeights, rollout, shareOf, type DeployTarget, type GateFn, type InstanceRef, type RolloutState } from '../../../src/deploy/engine.ts';
import { blueGreenRollback, blueGreenRollout, resumeBlueGreen, type BlueGreenTarget, type Slot, type SlotInfo } from '../../../src/deploy/strategies.ts';
import { renderSummary } from '../../../src/deploy/summary.ts';
import { parseSteps } from '../../../src/actions/deploy-rolling/inputs.ts';

const fast = { threshold: 1, timeoutMs: 200, intervalMs: 5, minReadyMs: 0, requestTimeoutMs: 100 };

describe('canary weights', () => {
  it.each([
    [1, 3, 0.1],
    [2, 2, 0.5],
    [1, 19, 0.05],
    [1, 3, 0.05],
    [3, 1, 0.9],
    [1, 1, 0.01],
  ])('%i new, %i old, share %d: within 0.5 points, integer weights ≤ 1000', (m, n, share) => {
    const ids = Array.from({ length: m + n }, (_, k) => `i${k}`);
    const w = canaryWeights(ids.slice(0, m), ids.slice(m), share)!;
    for (const v of Object.values(w)) expect(Number.isInteger(v) && v >= 1 && v <= 1000).toBe(true);
    expect(Math.abs(shareOf(w, ids.slice(0, m), ids) - share)).toBeLessThanOrEqual(0.005);
  });
  it('no weights when one side is empty', () => {
    expect(canaryWeights(['a'], [], 1)).toBeUndefined();
    expect(canaryWeights([], ['a'], 0.1)).toBeUndefined();
  });
  it('parses canary steps', () => {
    expect(parseSteps('5%,50%,100%')).toEqual([0.05, 0.5, 1]);
    expect(parseSteps('10% 50%')).toEqual([0.1, 0.5, 1]);
    expect(() => parseSteps('50%,10%')).toThrow(/must increase/);
    expect(() => parseSteps('0%')).toThrow(/not in/);
    expect(() => parseSteps('2')).toThrow(/not a percentage/);
  });
});

class WeightedFake implements DeployTarget {
  readonly kind = 'fake';
  readonly strategy = 'in-place' as const;
  running = new Map<string, string>();
  weightLog: (Record<string, number> | undefined)[] = [];
  calls: string[] = [];
  bad = new Set<string>();
  constructor(n: number) {
    for (let i = 1; i <= n; i++) this.running.set(`i${i}`, 'v1');
  }
  async instances(): Promise<InstanceRef[]> { return [...this.running.keys()].map((id) => ({ id, url: `http://${id}` })); }
  async currentVersion(i: InstanceRef) { return this.running.get(i.id); }
  async previousVersion() { return undefined; }
  async drain(l: InstanceRef[]) { this.calls.push(`drain ${l.map((i) => i.id).join(',')}`); }
  async undrain(l: InstanceRef[]) { this.calls.push(`undrain ${l.map((i) => i.id).join(',')}`); }
  async stop() {}
  async deploy(i: InstanceRef, v: string) { this.running.set(i.id, v); return { readyUrl: `http://${i.id}/ready` }; }
  async switchBack(i: InstanceRef, v: string) { this.running.set(i.id, v); return { readyUrl: `http://${i.id}/ready` }; }
  async probe(i: InstanceRef) { return this.bad.has(this.running.get(i.id)!) ? { ok: false, answer: 'HTTP 503' } : { ok: true, answer: 'HTTP 200' }; }
  async setWeights(w: Record<string, number> | undefined, _s: AbortSignal, apply: boolean) {
    this.weightLog.push(w);
    this.calls.push(`weights ${apply ? 'now' : 'next'} ${w ? Object.entries(w).map(([k, v]) => `${k}=${v}`).join(',') : 'equal'}`);
  }
  async close() {}
}

describe('canary on a weighted target', () => {
  it('10%, 50%, 100% of 4: switches 1, then 1, then 2, with weights giving each step its share; gate between steps', async () => {
    const t = new WeightedFake(4);
    const gates: { batch: number; news: string[] }[] = [];
    const gate: GateFn = async (g) => {
      gates.push({ batch: g.batch, news: g.newInstances.map((n) => n.id) });
      return { pass: true, reason: 'ok' };
    };
    const r = await rollout(t, 'v2', { batches: [], canary: [0.1, 0.5, 1], readiness: fast, log: new MemoryReporter(), gate });
    expect(r.status).toBe('succeeded');
    expect(r.strategy).toBe('canary');
    expect(r.batches.map((b) => b.instances)).toEqual([['i1'], ['i2'], ['i3', 'i4']]);
    expect(r.batches.map((b) => b.share)).toEqual([0.1, 0.5, 1]);
    const ids = ['i1', 'i2', 'i3', 'i4'];
    expect(shareOf(r.batches[0]!.weights, ['i1'], ids)).toBeCloseTo(0.1, 2);
    expect(shareOf(r.batches[1]!.weights, ['i1', 'i2'], ids)).toBeCloseTo(0.5, 2);
    expect(r.batches[2]!.weights).toBeUndefined();
    expect(gates).toEqual([{ batch: 1, news: ['i1'] }, { batch: 2, news: ['i1', 'i2'] }]);
    // Weights are set before the step's own reloads (drain/undrain), not as an extra reload.
    expect(t.calls.slice(0, 3)).toEqual(['weights next i1=1,i2=3,i3=3,i4=3', 'drain i1', 'undrain i1']);
    expect(renderSummary(r)).toContain('Canary deploy of v2: ✅ deployed');
    expect(renderSummary(r)).toMatch(/\| 1 \| i1 \| 10% \(weights new:old 1:3\) \|/);
    expect(renderSummary(r)).toMatch(/\| 2 \| i2 \| 50% \|/);
  });

  it('a step that adds no instance only changes the weights (one reload)', async () => {
    const t = new WeightedFake(2);
    const r = await rollout(t, 'v2', { batches: [], canary: [0.1, 0.3, 1], readiness: fast, log: new MemoryReporter() });
    expect(r.status).toBe('succeeded');
    expect(r.batches.map((b) => b.instances)).toEqual([['i1'], [], ['i2']]);
    expect(t.calls).toContain('weights now i1=3,i2=7');
  });

  it('a failed gate clears the weights and rolls the canary back', async () => {
    const t = new WeightedFake(4);
    const r = await rollout(t, 'v2', { batches: [], canary: [0.1, 0.5, 1], readiness: fast, log: new MemoryReporter(), gate: async () => ({ pass: false, reason: 'error ratio 9%' }) });
    expect(r.status).toBe('rolled-back');
    expect(r.failure?.reason).toContain('gate failed after batch 1: error ratio 9%');
    expect(t.weightLog.at(-1)).toBeUndefined();
    expect([...t.running.values()]).toEqual(['v1', 'v1', 'v1', 'v1']);
  });

  it('refuses a target that cannot weight traffic', async () => {
    const t = new WeightedFake(2);
    (t as { setWeights?: unknown }).setWeights = undefined;
    await expect(rollout(t, 'v2', { batches: [], canary: [0.5, 1], log: new MemoryReporter() })).rejects.toThrow(/cannot weight traffic/);
  });
});

class SlotFake implements BlueGreenTarget {
  readonly kind = 'fake';
  live = new Map<string, Slot>();
  copies = new Map<string, { version?: string; running: boolean }>();
  calls: string[] = [];
  bad = new Set<string>();
  failSwitch = false;
  constructor(n: number) {
    for (let i = 1; i <= n; i++) {
      this.live.set(`i${i}`, 'blue');
      this.copies.set(`i${i}/blue`, { version: 'v1', running: true });
      this.copies.set(`i${i}/green`, { running: false });
    }
  }
  async instances(): Promise<InstanceRef[]> { return [...this.live.keys()].map((id) => ({ id, url: `http://${id}` })); }
  async slotInfo(i: InstanceRef): Promise<SlotInfo> {
    const l = this.live.get(i.id)!;
    const idle = this.copies.get(`${i.id}/${l === 'blue' ? 'green' : 'blue'}`)!;
    return { live: l, liveVersion: this.copies.get(`${i.id}/${l}`)!.version, idleVersion: idle.version, idleRunning: idle.running };
  }
  async startSlot(i: InstanceRef, slot: Slot, v: string) {
    this.calls.push(`start ${i.id} ${slot} ${v}`);
    this.copies.set(`${i.id}/${slot}`, { version: v, running: true });
    return { readyUrl: this.slotReadyUrl(i, slot) };
  }
  async stopSlot(i: InstanceRef, slot: Slot) {
    this.calls.push(`stop ${i.id} ${slot}`);
    this.copies.get(`${i.id}/${slot}`)!.running = false;
  }
  slotUrl(i: InstanceRef, slot: Slot) { return `http://${i.id}-${slot}`; }
  slotReadyUrl(i: InstanceRef, slot: Slot) { return `http://${i.id}-${slot}/ready`; }
  async probe(_i: InstanceRef, url: string) {
    const [id, slot] = url.replace('http://', '').replace('/ready', '').split('-');
    const c = this.copies.get(`${id}/${slot}`)!;
    return c.running && !this.bad.has(c.version!) ? { ok: true, answer: 'HTTP 200' } : { ok: false, answer: 'HTTP 503' };
  }
  async switchTraffic(live: Record<string, Slot>) {
    if (this.failSwitch) throw new Error('nginx -t failed');
    this.calls.push(`switch ${Object.entries(live).map(([k, v]) => `${k}=${v}`).join(',')}`);
    for (const [k, v] of Object.entries(live)) this.live.set(k, v);
  }
  async keepPrevious(i: InstanceRef, slot: Slot, ms: number) {
    this.calls.push(`keep ${i.id} ${slot} ${ms}`);
    return '2030-01-01T00:00:00.000Z';
  }
  async close() {}
}

describe('blue/green on a slot target', () => {
  it('starts the whole new set in the idle slots, switches once, gates with the old set as baseline, keeps the old set', async () => {
    const t = new SlotFake(3);
    let seen: Parameters<GateFn>[0] | undefined;
    const states: RolloutState[] = [];
    const r = await blueGreenRollout(t, 'v2', { keepPreviousMs: 60_000, readiness: fast, log: new MemoryReporter(), saveState: (s) => states.push(s), gate: async (g) => ((seen = g), { pass: true, reason: 'ok' }) });
    expect(r.status).toBe('succeeded');
    expect(t.calls.filter((c) => c.startsWith('switch'))).toEqual(['switch i1=green,i2=green,i3=green']);
    expect(t.calls.filter((c) => c.startsWith('start'))).toHaveLength(3);
    expect(t.calls.indexOf('switch i1=green,i2=green,i3=green')).toBeGreaterThan(Math.max(...t.calls.map((c, k) => (c.startsWith('start') ? k : -1))));
    expect(seen?.newInstances.map((n) => n.url)).toEqual(['http://i1-green', 'http://i2-green', 'http://i3-green']);
    expect(seen?.oldInstances.map((n) => `${n.url} ${n.version}`)).toEqual(['http://i1-blue v1', 'http://i2-blue v1', 'http://i3-blue v1']);
    expect(t.calls.filter((c) => c.startsWith('keep'))).toEqual(['keep i1 blue 60000', 'keep i2 blue 60000', 'keep i3 blue 60000']);
    expect(t.calls.some((c) => c.startsWith('stop'))).toBe(false);
    expect(r.blueGreen).toMatchObject({ switched: true, switchedBack: false, keepUntil: '2030-01-01T00:00:00.000Z' });
    expect(states.at(-1)).toMatchObject({ finished: true, strategy: 'blue-green', blueGreen: { switched: true } });
    const md = renderSummary(r);
    expect(md).toContain('Blue/green deploy of v2: ✅ deployed');
    expect(md).toContain('Switched 3 instance(s) to the new set in one load-balancer change');
  });

  it('a new set that never gets ready is stopped; traffic never moves', async () => {
    const t = new SlotFake(2);
    t.bad.add('v2');
    const r = await blueGreenRollout(t, 'v2', { keepPreviousMs: 60_000, readiness: fast, log: new MemoryReporter() });
    expect(r.status).toBe('rolled-back');
    expect(r.failure?.phase).toBe('readiness');
    expect(r.blueGreen?.switched).toBe(false);
    expect(t.calls.some((c) => c.startsWith('switch'))).toBe(false);
    expect(t.calls.filter((c) => c.startsWith('stop'))).toEqual(['stop i1 green', 'stop i2 green']);
    expect([...t.live.values()]).toEqual(['blue', 'blue']);
  });

  it('a failed gate switches back in one reload and stops the new set', async () => {
    const t = new SlotFake(2);
    const r = await blueGreenRollout(t, 'v2', { keepPreviousMs: 60_000, readiness: fast, log: new MemoryReporter(), gate: async () => ({ pass: false, reason: 'p99 2s > 1s' }) });
    expect(r.status).toBe('rolled-back');
    expect(r.blueGreen).toMatchObject({ switched: true, switchedBack: true });
    expect(t.calls.filter((c) => c.startsWith('switch'))).toEqual(['switch i1=green,i2=green', 'switch i1=blue,i2=blue']);
    expect(t.calls.filter((c) => c.startsWith('stop'))).toEqual(['stop i1 green', 'stop i2 green']);
    expect(renderSummary(r)).toContain('then switched back in one load-balancer change');
  });

  it('a failing switch leaves traffic on the old set', async () => {
    const t = new SlotFake(1);
    t.failSwitch = true;
    const r = await blueGreenRollout(t, 'v2', { keepPreviousMs: 0, readiness: fast, log: new MemoryReporter() });
    expect(r.status).toBe('rolled-back');
    expect(r.failure?.reason).toMatch(/switching traffic failed.*nginx -t failed/);
    expect(t.live.get('i1')).toBe('blue');
  });

  it('rollback reuses the old set still running in the idle slots (no start)', async () => {
    const t = new SlotFake(2);
    await blueGreenRollout(t, 'v2', { keepPreviousMs: 60_000, readiness: fast, log: new MemoryReporter() });
    t.calls = [];
    const r = await blueGreenRollback(t, { keepPreviousMs: 60_000, readiness: fast, log: new MemoryReporter() });
    expect(r.status).toBe('succeeded');
    expect(r.mode).toBe('rollback');
    expect(r.version).toBe('v1');
    expect(r.blueGreen?.reused).toEqual(['i1', 'i2']);
    expect(t.calls.filter((c) => c.startsWith('start'))).toEqual([]);
    expect(t.calls.filter((c) => c.startsWith('switch'))).toEqual(['switch i1=blue,i2=blue']);
  });

  it('the post step switches back a rollout cancelled after the switch', async () => {
    const t = new SlotFake(2);
    const ctl = new AbortController();
    const states: RolloutState[] = [];
    // Cancelled while the gate runs: the rollout itself switches back at once.
    const r = await blueGreenRollout(t, 'v2', { keepPreviousMs: 60_000, readiness: fast, log: new MemoryReporter(), signal: ctl.signal, saveState: (s) => states.push(s), gate: async () => (ctl.abort(), { pass: true, reason: 'ok' }) });
    expect(r.status).toBe('cancelled');
    expect(t.live.get('i1')).toBe('blue');
    // A state saved right after the switch (the process died there): the post step undoes it.
    const mid = states.find((s) => s.blueGreen?.switched && !s.finished)!;
    await t.switchTraffic({ i1: 'green', i2: 'green' });
    const p = await resumeBlueGreen(t, mid, { log: new MemoryReporter() });
    expect(p.status).toBe('rolled-back');
    expect([...t.live.values()]).toEqual(['blue', 'blue']);
  });
});
