/**
 * Rollout speed (issue 16 item 7), counted and compared within one run, never timed against a
 * clock: an in-place target with `replace` is stopped and started in ONE call per instance (hosts:
 * one SSH round trip), forward and when rolling back; readiness probes quickly while the instance
 * has not answered 2xx yet and keeps `intervalMs` between the threshold's 2xx answers and after a
 * 2xx with the wrong version.
 */
import { describe, expect, it } from 'vitest';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { parseBatches } from '../../../src/deploy/batches.ts';
import { FIRST_POLL_MS, NotStarted, rollout, waitReady, type DeployTarget, type InstanceRef, type ReadyProbe } from '../../../src/deploy/engine.ts';

class ReplaceTarget implements DeployTarget {
  readonly kind = 'fake';
  readonly strategy = 'in-place' as const;
  calls: string[] = [];
  running = new Map<string, string>([
    ['i1', 'v1'],
    ['i2', 'v1'],
    ['i3', 'v1'],
  ]);
  bad = new Set<string>();
  async instances(): Promise<InstanceRef[]> {
    return [...this.running.keys()].map((id) => ({ id, url: `http://${id}` }));
  }
  async currentVersion(i: InstanceRef) {
    return this.running.get(i.id);
  }
  async previousVersion() {
    return undefined;
  }
  /** Instances whose drain fails (the load balancer refuses the change). */
  failDrain = new Set<string>();
  async drain(list: InstanceRef[]) {
    this.calls.push(`drain ${list.map((i) => i.id).join(',')}`);
    if (list.some((i) => this.failDrain.has(i.id))) throw new Error('the admin socket refused the change');
  }
  async undrain(list: InstanceRef[]) {
    this.calls.push(`undrain ${list.map((i) => i.id).join(',')}`);
  }
  async stop(i: InstanceRef) {
    this.calls.push(`stop ${i.id}`);
  }
  async deploy(i: InstanceRef, v: string) {
    this.calls.push(`deploy ${i.id}`);
    this.running.set(i.id, v);
    return { readyUrl: `http://${i.id}/ready` };
  }
  async switchBack(i: InstanceRef, v: string) {
    this.calls.push(`switchBack ${i.id}`);
    this.running.set(i.id, v);
    return { readyUrl: `http://${i.id}/ready` };
  }
  async replace(i: InstanceRef, v: string, how: 'deploy' | 'switchBack', _signal: AbortSignal, go: Promise<boolean>) {
    this.calls.push(`replace ${i.id}`);
    // Nothing stops before go: what the drain decided.
    if (!(await go)) {
      this.calls.push(`not replaced ${i.id}`);
      throw new NotStarted(i.id);
    }
    this.calls.push(`replaced ${i.id} ${how} ${v}`);
    this.running.set(i.id, v);
    return { readyUrl: `http://${i.id}/ready` };
  }
  async probe(i: InstanceRef): Promise<ReadyProbe> {
    const v = this.running.get(i.id)!;
    return this.bad.has(v) ? { ok: false, answer: 'HTTP 503' } : { ok: true, answer: 'HTTP 200', version: v };
  }
  async close() {}
}

const readiness = { threshold: 1, timeoutMs: 300, intervalMs: 5, minReadyMs: 0, requestTimeoutMs: 100 };

describe('in-place switch in one step (replace)', () => {
  it('each instance is stopped and started by one replace call, never stop + deploy', async () => {
    const t = new ReplaceTarget();
    const r = await rollout(t, 'v2', { batches: parseBatches('1'), readiness, log: new MemoryReporter() });
    expect(r.status).toBe('succeeded');
    // The replace is called beside the drain (its SSH session opens during the reload) and
    // switches only after the drain returned.
    expect(t.calls).toEqual([
      'replace i1',
      'drain i1',
      'replaced i1 deploy v2',
      'undrain i1',
      'replace i2',
      'drain i2',
      'replaced i2 deploy v2',
      'undrain i2',
      'replace i3',
      'drain i3',
      'replaced i3 deploy v2',
      'undrain i3',
    ]);
  });

  it('a drain that fails: the replace already waiting gets no go, and nothing is stopped or started', async () => {
    const t = new ReplaceTarget();
    t.failDrain.add('i2');
    const r = await rollout(t, 'v2', { batches: parseBatches('1'), readiness, log: new MemoryReporter() });
    expect(r.status).toBe('rolled-back');
    expect(r.failure).toMatchObject({ phase: 'drain', instance: 'i2' });
    expect(t.calls).toContain('not replaced i2');
    expect(t.calls.filter((c) => c.startsWith('replaced i2'))).toEqual([]);
    expect(t.calls.filter((c) => c.startsWith('replace i3'))).toEqual([]);
    // i1 went back to v1 (its own replace, with go); i2 and i3 never left v1.
    expect([...t.running.values()]).toEqual(['v1', 'v1', 'v1']);
  });

  it('the rollback after a failed batch switches back with replace too', async () => {
    const t = new ReplaceTarget();
    t.bad.add('v3');
    const r = await rollout(t, 'v3', { batches: parseBatches('2'), readiness: { ...readiness, timeoutMs: 50 }, log: new MemoryReporter() });
    expect(r.status).toBe('rolled-back');
    expect(t.calls.filter((c) => /^(stop|deploy|switchBack) /.test(c))).toEqual([]);
    expect(t.calls.filter((c) => c.startsWith('replaced')).sort()).toEqual(['replaced i1 deploy v3', 'replaced i1 switchBack v1', 'replaced i2 deploy v3', 'replaced i2 switchBack v1']);
    expect([...t.running.values()]).toEqual(['v1', 'v1', 'v1']);
  });
});

describe('readiness polling', () => {
  /** Runs waitReady over a scripted list of answers; returns the gaps between consecutive probes (ms). */
  async function gaps(answers: ReadyProbe[], o: { intervalMs: number; threshold: number }) {
    const at: number[] = [];
    let k = 0;
    const r = await waitReady(
      async () => {
        at.push(performance.now());
        return answers[Math.min(k++, answers.length - 1)]!;
      },
      { ...o, timeoutMs: 30_000, minReadyMs: 0, requestTimeoutMs: 100, signal: new AbortController().signal, expectVersion: 'v2', versionCheck: 'required' },
    );
    return { r, gaps: at.slice(1).map((t, i) => t - at[i]!), probes: at.length };
  }
  const booting: ReadyProbe = { ok: false, answer: 'ECONNREFUSED' };
  const ready: ReadyProbe = { ok: true, answer: 'HTTP 200', version: 'v2' };

  it('probes every FIRST_POLL_MS while booting, intervalMs between the threshold 2xx answers', async () => {
    const intervalMs = 20 * FIRST_POLL_MS;
    const { r, gaps: g, probes } = await gaps([booting, booting, booting, booting, ready, ready, ready], { intervalMs, threshold: 3 });
    expect(r.ok).toBe(true);
    expect(probes).toBe(7);
    const whileBooting = g.slice(0, 4);
    const betweenOks = g.slice(4);
    // Compared with each other, within this run: booting gaps are a fraction of the 2xx gaps.
    expect(Math.max(...whileBooting) * 3).toBeLessThan(Math.min(...betweenOks));
  });

  it('a 2xx with the wrong version is not a boot: the strikes stay intervalMs apart', async () => {
    const intervalMs = 20 * FIRST_POLL_MS;
    const wrong: ReadyProbe = { ok: false, answer: 'HTTP 200', version: 'v1', mismatch: 'v1' }; // as checkVersion marks it
    const { r, gaps: g } = await gaps([booting, booting, wrong, wrong, wrong], { intervalMs, threshold: 1 });
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/answers v1, expected v2/);
    expect(Math.max(g[0]!, g[1]!) * 3).toBeLessThan(Math.min(g[2]!, g[3]!));
  });
});
