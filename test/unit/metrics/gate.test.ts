import { describe, expect, it } from 'vitest';
import { analyze, checkBudget, createSloGate, judgeBaseline, judgeObjectives, renderSloSummary, resolveGateOptions, type AnalysisOptions, type JudgeSettings, type Source } from '../../../src/metrics/gate.ts';
import type { Measurement } from '../../../src/metrics/measurement.ts';
import { parseObjectives } from '../../../src/metrics/objectives.ts';
import { PrometheusQueryError, PrometheusUnavailableError } from '../../../src/metrics/prometheus.ts';
import type { Counts } from '../../../src/metrics/slo.ts';

const S: JudgeSettings = { confidence: 0.95, minSamples: 100, nodata: 'inconclusive', baselineErrorTolerance: 0.005, baselineLatencyTolerance: 0.1 };
const fast = (n: number, ms = 20) => Array.from({ length: n }, (_, i) => ms + (i % 10));
const m = (requests: number, errors: number, latMs: number[] = fast(requests)): Measurement => ({ requests, errors, latency: { kind: 'samples', sortedMs: [...latMs].sort((a, b) => a - b) } });

function opts(over: Partial<AnalysisOptions> = {}): AnalysisOptions {
  return {
    objectives: parseObjectives(''),
    durationMs: 0,
    intervalMs: 10_000,
    failureLimit: 0,
    errorLimit: 3,
    confidence: 0.95,
    minSamples: 100,
    nodata: 'inconclusive',
    onInconclusive: 'fail',
    baselineErrorTolerance: 0.005,
    baselineLatencyTolerance: 0.1,
    ...over,
  };
}

/** A source that replays measurements (or errors) and a clock that sleep advances. */
function fake(seq: (Measurement | Error)[], extra: Partial<Source> = {}) {
  let i = 0;
  const calls: number[] = [];
  let t = 0;
  const clock = { now: () => t, sleep: async (ms: number) => void (t += ms) };
  const src: Source = {
    label: 'fake',
    kind: 'prometheus',
    async measure() {
      calls.push(t);
      const x = seq[Math.min(i++, seq.length - 1)]!;
      if (x instanceof Error) throw x;
      return x;
    },
    ...extra,
  };
  return { src, calls, clock };
}

describe('judging one measurement', () => {
  it('passes only when the confidence bounds are inside the limits', () => {
    const rows = judgeObjectives(parseObjectives(''), m(2000, 2), S);
    expect(rows.map((r) => r.verdict)).toEqual(['pass', 'pass']);
    expect(rows[0]).toMatchObject({ objective: 'error-ratio <= 1%', samples: 2000, threshold: '≤ 1%' });
    expect(rows[0]!.upper).toBeLessThan(0.01);
  });

  it('0 errors in 50 requests is inconclusive, with the samples needed', () => {
    const [row] = judgeObjectives(parseObjectives('error-ratio <= 1%'), m(50, 0), S);
    expect(row).toMatchObject({ verdict: 'inconclusive', samples: 50, samplesNeeded: 381 });
    expect(row!.reason).toMatch(/0 errors in 50 requests: the interval 0%–7.13% contains the 1% limit; about 381 requests needed/);
  });

  it('fails a clearly bad release with the numbers in the reason', () => {
    const [row] = judgeObjectives(parseObjectives('error-ratio <= 1%'), m(500, 50), S);
    expect(row!.verdict).toBe('fail');
    expect(row!.reason).toMatch(/error ratio 10% \(50 errors in 500 requests\): even the lower bound 7.\d+% is above 1%/);
  });

  it('min-samples blocks a pass, never a clear failure', () => {
    const s = { ...S, minSamples: 5000 };
    expect(judgeObjectives(parseObjectives('error-ratio <= 1%'), m(2000, 0), s)[0]).toMatchObject({ verdict: 'inconclusive', reason: 'only 2000 requests; min-samples is 5000' });
    expect(judgeObjectives(parseObjectives('error-ratio <= 1%'), m(2000, 200), s)[0]!.verdict).toBe('fail');
  });

  it('judges quantiles from order statistics: 100 samples cannot bound p99', () => {
    const [few] = judgeObjectives(parseObjectives('p99 <= 1s'), m(100, 0), S);
    expect(few!.verdict).toBe('inconclusive');
    expect(few!.reason).toMatch(/too few to bound p99/);
    const [enough] = judgeObjectives(parseObjectives('p99 <= 1s'), m(400, 0), S);
    expect(enough!.verdict).toBe('pass');
    const slow = fast(400, 1500);
    expect(judgeObjectives(parseObjectives('p99 <= 1s'), m(400, 0, slow), S)[0]!.verdict).toBe('fail');
  });

  it('counts failed requests as infinitely slow', () => {
    const lat = [...fast(380), ...Array(20).fill(Infinity)];
    expect(judgeObjectives(parseObjectives('p99 <= 1s'), m(400, 20, lat), S)[0]!.verdict).toBe('fail');
  });

  it('judges histogram quantiles by the requests above the limit', () => {
    const h = (slow: number, total: number): Measurement => ({
      requests: total,
      errors: 0,
      latency: { kind: 'histogram', buckets: [{ leMs: 100, count: total - slow - 5 }, { leMs: 300, count: total - slow }, { leMs: 1000, count: total }, { leMs: Infinity, count: total }] },
    });
    expect(judgeObjectives(parseObjectives('p95 <= 300ms'), h(0, 1000), S)[0]!.verdict).toBe('pass');
    const bad = judgeObjectives(parseObjectives('p95 <= 300ms'), h(200, 1000), S)[0]!;
    expect(bad.verdict).toBe('fail');
    expect(bad.reason).toMatch(/at least 1\d\.\d+% of requests are slower than 300ms \(limit 5%\)/);
    // no bucket at 200ms: counted between the 100ms and 300ms buckets
    expect(judgeObjectives(parseObjectives('p95 <= 200ms'), h(0, 1000), S)[0]!.reason).toMatch(/no bucket at 200ms/);
  });

  it('never reads "no data" as "no errors"', () => {
    const rows = judgeObjectives(parseObjectives(''), {}, S);
    expect(rows.map((r) => [r.verdict, r.nodata])).toEqual([['inconclusive', true], ['inconclusive', true]]);
    expect(rows[0]!.reason).toMatch(/no data: the request query returned an empty result \(nodata policy: inconclusive\)/);
    expect(judgeObjectives(parseObjectives('error-ratio <= 1%'), { requests: 0, errors: 0 }, { ...S, nodata: 'fail' })[0]).toMatchObject({ verdict: 'fail', nodata: true });
  });

  it('a ratio without a sample size can fail but never pass', () => {
    const o = parseObjectives('error-ratio <= 1%');
    expect(judgeObjectives(o, { errorRatio: 0.2 }, S)[0]!.verdict).toBe('fail');
    expect(judgeObjectives(o, { errorRatio: 0 }, S)[0]).toMatchObject({ verdict: 'inconclusive', reason: expect.stringMatching(/set requests-query/) });
  });

  it('compares with a baseline: two-proportion test and Mann-Whitney with tolerances', () => {
    const base = m(2000, 2, fast(2000, 20));
    const worse = judgeBaseline(m(2000, 60, fast(2000, 40)), base, S);
    expect(worse.map((r) => r.verdict)).toEqual(['fail', 'fail']);
    expect(worse[0]!.reason).toMatch(/significantly above the baseline/);
    expect(worse[1]!.reason).toMatch(/significantly slower/);
    const same = judgeBaseline(m(2000, 3, fast(2000, 20)), base, S);
    expect(same.map((r) => r.verdict)).toEqual(['pass', 'pass']);
    // 5% slower is significant but within the 10% tolerance
    const bitSlower = judgeBaseline(m(2000, 2, fast(2000, 21)), base, S);
    expect(bitSlower[1]).toMatchObject({ verdict: 'pass', reason: expect.stringMatching(/within the tolerance/) });
  });

  it('does not fail a fast service on a slowdown no user feels (under 10 ms on the median)', () => {
    const micro = (n: number, ms: number) => Array.from({ length: n }, (_, i) => ms + (i % 10) / 10);
    const base = m(2000, 0, micro(2000, 2));
    const slower = judgeBaseline(m(2000, 0, micro(2000, 2.5)), base, S); // ×1.2 and significant, but 0.5 ms
    expect(slower[1]).toMatchObject({ verdict: 'pass', reason: expect.stringMatching(/within the tolerance/) });
    expect(judgeBaseline(m(2000, 0, micro(2000, 2.5)), base, { ...S, baselineLatencyMinDeltaMs: 0 })[1]!.verdict).toBe('fail');
  });
});

describe('analysis over time', () => {
  it('fails when an objective is breached failure-limit + 1 times (Argo semantics)', async () => {
    const bad = m(1000, 100);
    const good = m(1000, 0);
    const { src, calls, clock } = fake([good, bad, good, bad, good, good]);
    const r = await analyze(opts({ durationMs: 60_000, intervalMs: 10_000, failureLimit: 1 }), src, undefined, clock);
    expect(r.verdict).toBe('fail');
    expect(calls).toEqual([10_000, 20_000, 30_000, 40_000]); // stopped early at the second failure
    expect(r.failures).toEqual({ 'error-ratio <= 1%': 2 });
    expect(r.reason).toMatch(/failed 2 times, failure-limit 1, at look 4 of 6/);
    expect(r.plannedLooks).toBe(6);
    expect(r.lookConfidence).toBeCloseTo(1 - 0.05 / 6, 12);
  });

  it('passes only after the whole duration, on a passing last measurement', async () => {
    const { src, calls, clock } = fake([m(5000, 0)]);
    const r = await analyze(opts({ durationMs: 30_000, intervalMs: 10_000 }), src, undefined, clock);
    expect(r.verdict).toBe('pass');
    expect(r.pass).toBe(true);
    expect(calls).toEqual([10_000, 20_000, 30_000]);
    expect(r.looks.map((l) => l.verdict)).toEqual(['pass', 'pass', 'pass']);
  });

  it('a tolerated failure on the last measurement is not a pass', async () => {
    const { src, clock } = fake([m(5000, 0), m(5000, 500)]);
    const r = await analyze(opts({ durationMs: 20_000, intervalMs: 10_000, failureLimit: 1 }), src, undefined, clock);
    expect(r.verdict).toBe('inconclusive');
    expect(r.reason).toMatch(/the last measurement failed/);
  });

  it('inconclusive blocks by default, and passes with on-inconclusive: pass', async () => {
    const a = fake([m(50, 0)]);
    const r1 = await analyze(opts(), a.src, undefined, a.clock);
    expect(r1).toMatchObject({ verdict: 'inconclusive', pass: false });
    expect(r1.reason).toMatch(/not enough evidence: .*about 381 requests needed/);
    const b = fake([m(50, 0)]);
    expect(await analyze(opts({ onInconclusive: 'pass' }), b.src, undefined, b.clock)).toMatchObject({ verdict: 'inconclusive', pass: true });
  });

  it('fails closed after error-limit provider errors in a row', async () => {
    const down = new PrometheusUnavailableError('Prometheus at http://x unreachable: ECONNREFUSED');
    const { src, calls, clock } = fake([m(5000, 0), down, down, down, m(5000, 0)]);
    const r = await analyze(opts({ durationMs: 60_000, intervalMs: 10_000, errorLimit: 3 }), src, undefined, clock);
    expect(r.verdict).toBe('fail');
    expect(r.reason).toBe('failing closed: the provider failed 3 times in a row (error-limit 3): Prometheus at http://x unreachable: ECONNREFUSED');
    expect(calls).toHaveLength(4);
    expect(r.looks.map((l) => l.verdict)).toEqual(['pass', 'error', 'error', 'error']);
  });

  it('errors that recover reset the count; the final look is retried', async () => {
    const down = new PrometheusUnavailableError('down');
    const { src, calls, clock } = fake([down, m(5000, 0), down, down, m(5000, 0)]);
    const r = await analyze(opts({ durationMs: 30_000, intervalMs: 10_000, errorLimit: 3, retryDelayMs: 1000 }), src, undefined, clock);
    expect(r.verdict).toBe('pass');
    expect(calls).toEqual([10_000, 20_000, 30_000, 31_000, 32_000]);
  });

  it('a rejected query fails at once with Prometheus\' words', async () => {
    const { src, calls, clock } = fake([new PrometheusQueryError('sum(rate(x[5m])', 'bad_data', '1:16: parse error: unclosed left parenthesis')]);
    const r = await analyze(opts({ durationMs: 30_000, intervalMs: 10_000 }), src, undefined, clock);
    expect(r.verdict).toBe('fail');
    expect(r.reason).toMatch(/failing closed: Prometheus rejected the query "sum\(rate\(x\[5m\]\)": bad_data: 1:16: parse error: unclosed left parenthesis/);
    expect(calls).toHaveLength(1);
  });

  it('stops the traffic it started, even on failure', async () => {
    let stopped = 0;
    const { src, clock } = fake([m(1000, 500)], { start: () => undefined, stop: async () => void stopped++, settle: async () => undefined });
    const r = await analyze(opts({ durationMs: 30_000, intervalMs: 10_000 }), src, undefined, clock);
    expect(r.verdict).toBe('fail');
    expect(stopped).toBe(1);
  });

  it('checks burn rates with the SLO windows', async () => {
    const counts: Record<number, Counts> = { 3_600_000: { good: 9_000, total: 10_000 }, 300_000: { good: 800, total: 1_000 }, 21_600_000: { good: 59_000, total: 60_000 }, 1_800_000: { good: 4_950, total: 5_000 } };
    const { src, clock } = fake([m(5000, 0)], { sloCounts: async (w) => counts[w] });
    const r = await analyze(opts({ objectives: parseObjectives('slo: 99.5%') }), src, undefined, clock);
    expect(r.verdict).toBe('fail');
    expect(r.reason).toMatch(/burning the error budget too fast: 20\.00× over 1h and 40\.00× over 5m, both above 14\.4×/);
    expect(r.burnRates!.map((p) => p.firing)).toEqual([true, false]);
    expect(renderSloSummary(r)).toMatch(/### Burn rates[\s\S]*14\.4× over 1h and 5m \| 20\.00×/);
  });
});

describe('error budget mode', () => {
  const slo = parseObjectives('slo: 99.5%\nwindow: 30d');
  it('blocks when the budget is spent, lets an override through and records it', async () => {
    const spent = fake([], { sloCounts: async () => ({ good: 99_000, total: 100_000 }) });
    const r = await checkBudget(opts({ objectives: slo }), spent.src, undefined, spent.clock);
    expect(r).toMatchObject({ verdict: 'fail', pass: false });
    expect(r.reason).toMatch(/the error budget over 30d is spent: 1,000 bad requests, 500 allowed/);
    const o = await checkBudget(opts({ objectives: slo }), spent.src, 'hotfix for INC-42', spent.clock);
    expect(o).toMatchObject({ verdict: 'pass', pass: true, budget: { overridden: true, override: 'hotfix for INC-42' } });
    expect(renderSloSummary(o)).toMatch(/Override:\*\* the error budget is spent, and the deploy was let through: “hotfix for INC-42”/);
  });

  it('passes with budget left and reports how much', async () => {
    const ok = fake([], { sloCounts: async () => ({ good: 99_800, total: 100_000 }) });
    const r = await checkBudget(opts({ objectives: slo }), ok.src, undefined, ok.clock);
    expect(r.verdict).toBe('pass');
    expect(r.budget!.remaining).toBeCloseTo(0.6, 6);
  });

  it('no traffic over the window spends no budget (a first deploy is not blocked), and says it saw no requests', async () => {
    const none = fake([], { sloCounts: async () => undefined });
    const r = await checkBudget(opts({ objectives: slo }), none.src, undefined, none.clock);
    expect(r).toMatchObject({ verdict: 'pass', reason: expect.stringMatching(/^no requests over the SLO window .*none of the budget can have been spent/) });
    expect(r.objectives[0]).toMatchObject({ nodata: true, samples: 0, measured: 'no requests' });
  });
});

describe('options', () => {
  it('refuses impossible combinations before any traffic', () => {
    expect(() => resolveGateOptions({ provider: 'probe', durationMs: 0 })).toThrow(/the probe needs a duration/);
    expect(() => resolveGateOptions({ provider: 'prometheus', durationMs: 10_000, intervalMs: 30_000 })).toThrow(/interval 30.0s is longer than duration 10.0s/);
    expect(() => resolveGateOptions({ provider: 'prometheus', mode: 'budget' })).toThrow(/needs an SLO objective/);
    expect(() => resolveGateOptions({ provider: 'probe', mode: 'budget', objectives: 'slo: 99%' })).toThrow(/needs the prometheus provider/);
    expect(() => resolveGateOptions({ provider: 'prometheus', objectives: 'p101 <= 1s' })).toThrow(/p101 is not a quantile/);
    expect(() => createSloGate({ provider: 'prometheus' })).toThrow(/needs prometheus-url/);
  });
});
