/** One load-balancer change per batch boundary (issue 16, item 1): `swap` instead of undrain + drain. */
import { describe, expect, it } from 'vitest';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { parseBatches } from '../../../src/deploy/batches.ts';
import { rollout, type DeployTarget, type InstanceRef } from '../../../src/deploy/engine.ts';

class SwapTarget implements DeployTarget {
  readonly kind = 'fake';
  readonly strategy = 'in-place' as const;
  lb: string[] = [];
  out = new Set<string>();
  running = new Map<string, string>([['i1', 'v1'], ['i2', 'v1'], ['i3', 'v1']]);
  badVersionOn?: string;
  async instances(): Promise<InstanceRef[]> {
    return [...this.running.keys()].map((id) => ({ id, url: `http://${id}` }));
  }
  async currentVersion(i: InstanceRef) { return this.running.get(i.id); }
  async previousVersion() { return 'v1'; }
  async drain(l: InstanceRef[]) { this.lb.push(`drain ${l.map((i) => i.id)}`); l.forEach((i) => this.out.add(i.id)); }
  async undrain(l: InstanceRef[]) { this.lb.push(`undrain ${l.map((i) => i.id)}`); l.forEach((i) => this.out.delete(i.id)); }
  async swap(back: InstanceRef[], out: InstanceRef[]) {
    this.lb.push(`swap ${back.map((i) => i.id)} / ${out.map((i) => i.id)}`);
    back.forEach((i) => this.out.delete(i.id));
    out.forEach((i) => this.out.add(i.id));
  }
  async stop() {}
  async deploy(i: InstanceRef, v: string) { this.running.set(i.id, v); return { readyUrl: i.id }; }
  async switchBack(i: InstanceRef, v: string) { this.running.set(i.id, v); return { readyUrl: i.id }; }
  async probe(i: InstanceRef) { return i.id === this.badVersionOn && this.running.get(i.id) === 'v2' ? { ok: false, answer: 'HTTP 503' } : { ok: true, answer: 'HTTP 200' }; }
  async close() {}
}
const readiness = { threshold: 1, timeoutMs: 100, intervalMs: 5, minReadyMs: 0, requestTimeoutMs: 50 };

describe('batch boundaries', () => {
  it('no pause, no gate: one change per boundary (3 batches: 4 changes instead of 6)', async () => {
    const t = new SwapTarget();
    const r = await rollout(t, 'v2', { batches: parseBatches('1'), readiness, log: new MemoryReporter() });
    expect(r.status).toBe('succeeded');
    expect(t.lb).toEqual(['drain i1', 'swap i1 / i2', 'swap i2 / i3', 'undrain i3']);
    expect(t.out.size).toBe(0);
  });
  it('with a gate between batches: undrain before the gate, as before', async () => {
    const t = new SwapTarget();
    const r = await rollout(t, 'v2', { batches: parseBatches('1'), readiness, log: new MemoryReporter(), gate: async () => ({ pass: true, reason: 'ok' }) });
    expect(r.status).toBe('succeeded');
    expect(t.lb).toEqual(['drain i1', 'undrain i1', 'drain i2', 'undrain i2', 'drain i3', 'undrain i3']);
  });
  it('a failure in the next batch rolls back everything and leaves nothing out of traffic', async () => {
    const t = new SwapTarget();
    t.badVersionOn = 'i2';
    const r = await rollout(t, 'v2', { batches: parseBatches('1'), readiness, log: new MemoryReporter() });
    expect(r.status).toBe('rolled-back');
    expect([...t.running.values()]).toEqual(['v1', 'v1', 'v1']);
    expect(t.out.size).toBe(0);
  });
});
