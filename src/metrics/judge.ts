/**
 * The SLO gate's judgement of one look: objectives judged on a measurement with honest statistics
 * (confidence bounds, not point estimates), against a baseline, and on burn rates.
 *
 * Verdicts: `pass` only when the evidence says every objective is met (the confidence bound is
 * inside the limit); `fail` when the evidence says one is not (the bound is outside it);
 * `inconclusive` when there is not enough data to tell, with the number of samples a decision
 * would need.
 */
import { countAtOrBelow, histogramGroups, histogramQuantile, type LatencyData, type Measurement } from './measurement.ts';
import { formatMs, formatWindow, objectiveName, type Objective } from './objectives.ts';
import type { BurnPairResult } from './slo.ts';
import { judgeRatio, mannWhitney, quantileBounds, samplesNeeded, sampleQuantile, twoProportionTest, wilson, type Grouped } from './stats.ts';

export type Verdict = 'pass' | 'fail' | 'inconclusive';

export interface ObjectiveRow {
  /** The objective as written: `error-ratio <= 1%`, `p99 <= 1s`, `baseline errors`. */
  objective: string;
  kind: 'error-ratio' | 'latency' | 'slo' | 'baseline-errors' | 'baseline-latency' | 'budget';
  measured: string;
  threshold: string;
  /** Requests behind the number (undefined: unknown). */
  samples?: number;
  verdict: Verdict;
  /** No data: the verdict came from the nodata policy. */
  nodata?: boolean;
  reason: string;
  /** Point estimate (a ratio, or milliseconds). */
  value?: number;
  /** Confidence bounds of the estimate. */
  lower?: number;
  upper?: number;
  /** About how many requests a decision would need (inconclusive rows). */
  samplesNeeded?: number;
}

export interface JudgeSettings {
  /** Confidence of each decision (already corrected for the number of looks). */
  confidence: number;
  minSamples: number;
  nodata: Verdict;
  baselineErrorTolerance: number;
  baselineLatencyTolerance: number;
  /** Default BASELINE_LATENCY_MIN_DELTA_MS. */
  baselineLatencyMinDeltaMs?: number;
}

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

export function fmtRatio(x: number | undefined): string {
  if (x === undefined || Number.isNaN(x)) return '—';
  if (x === 0) return '0%';
  const p = x * 100;
  if (p >= 10) return `${+p.toFixed(1)}%`;
  if (p >= 0.1) return `${+p.toFixed(2)}%`;
  return `${+p.toPrecision(2)}%`;
}

export const fmtCount = (n: number | undefined) => (n === undefined ? 'unknown' : n.toLocaleString('en-US'));
export const conf = (c: number) => `${+(c * 100).toFixed(2)}%`;

function nodataRow(base: Pick<ObjectiveRow, 'objective' | 'kind' | 'threshold'>, why: string, s: JudgeSettings, samples?: number): ObjectiveRow {
  return { ...base, measured: 'no data', samples, verdict: s.nodata, nodata: true, reason: `no data: ${why} (nodata policy: ${s.nodata})` };
}

// ---------------------------------------------------------------------------------------------
// Judging one measurement
// ---------------------------------------------------------------------------------------------

function judgeErrorRatio(o: Extract<Objective, { kind: 'error-ratio' }>, m: Measurement, s: JudgeSettings): ObjectiveRow {
  const base = { objective: o.text, kind: 'error-ratio' as const, threshold: `≤ ${fmtRatio(o.max)}` };
  if (m.requests === undefined && m.errorRatio === undefined) return nodataRow(base, 'the request query returned an empty result', s);
  if (m.requests === 0) return nodataRow(base, 'no requests in the window', s, 0);
  if (m.requests === undefined || m.errors === undefined) {
    // A ratio without a sample size: it can show a breach, never prove a pass.
    const r = m.errorRatio!;
    if (r > o.max)
      return {
        ...base,
        measured: `${fmtRatio(r)} (point estimate)`,
        value: r,
        verdict: 'fail',
        reason: `error ratio ${fmtRatio(r)} is above ${fmtRatio(o.max)} (sample size unknown)`,
      };
    return {
      ...base,
      measured: `${fmtRatio(r)} (point estimate)`,
      value: r,
      verdict: 'inconclusive',
      reason: 'the error-ratio query gives no sample size, so a pass cannot be proven: set requests-query',
    };
  }
  const n = m.requests;
  const e = Math.min(m.errors, n);
  const { decision, interval } = judgeRatio(e, n, o.max, s.confidence);
  const measured = `${fmtRatio(e / n)} (${fmtCount(e)} of ${fmtCount(n)}; ${conf(s.confidence)} CI ${fmtRatio(interval.lower)}–${fmtRatio(interval.upper)})`;
  const row: ObjectiveRow = { ...base, measured, samples: n, value: e / n, lower: interval.lower, upper: interval.upper, verdict: decision, reason: '' };
  if (decision === 'fail') {
    row.reason = `error ratio ${fmtRatio(e / n)} (${e} errors in ${n} requests): even the lower bound ${fmtRatio(interval.lower)} is above ${fmtRatio(o.max)}`;
  } else if (decision === 'pass' && n < s.minSamples) {
    row.verdict = 'inconclusive';
    row.samplesNeeded = s.minSamples;
    row.reason = `only ${n} requests; min-samples is ${s.minSamples}`;
  } else if (decision === 'pass') {
    row.reason = `upper bound ${fmtRatio(interval.upper)} is below ${fmtRatio(o.max)}`;
  } else {
    const needed = Math.max(samplesNeeded(e / n, o.max, s.confidence), s.minSamples);
    row.samplesNeeded = Number.isFinite(needed) ? needed : undefined;
    row.reason = `${e} errors in ${n} requests: the interval ${fmtRatio(interval.lower)}–${fmtRatio(interval.upper)} contains the ${fmtRatio(o.max)} limit; ${
      Number.isFinite(needed) ? `about ${fmtCount(needed)} requests needed to decide at this error ratio` : 'the error ratio sits on the limit'
    }`;
  }
  return row;
}

function latencyRowBase(o: Extract<Objective, { kind: 'latency' }>) {
  return { objective: o.text, kind: 'latency' as const, threshold: `≤ ${formatMs(o.maxMs)}` };
}

function judgeLatency(o: Extract<Objective, { kind: 'latency' }>, m: Measurement, s: JudgeSettings): ObjectiveRow {
  const base = latencyRowBase(o);
  const name = objectiveName(o);
  const lat = m.latency;
  if (!lat) return nodataRow(base, 'the latency query returned an empty result', s);
  const slowShare = 1 - o.quantile;
  const finish = (row: ObjectiveRow, slow: number, n: number): ObjectiveRow => {
    if (row.verdict === 'pass' && n < s.minSamples) {
      row.verdict = 'inconclusive';
      row.samplesNeeded = s.minSamples;
      row.reason = `only ${n} requests; min-samples is ${s.minSamples}`;
    } else if (row.verdict === 'inconclusive') {
      const needed = Math.max(samplesNeeded(slow / n, slowShare, s.confidence), s.minSamples);
      row.samplesNeeded = Number.isFinite(needed) ? needed : undefined;
      row.reason = `${row.reason}; ${Number.isFinite(needed) ? `about ${fmtCount(needed)} requests needed to decide` : 'the share of slow requests sits on the limit'}`;
    }
    return row;
  };
  if (lat.kind === 'samples') {
    const n = lat.sortedMs.length;
    if (n === 0) return nodataRow(base, 'no requests measured', s, 0);
    const b = quantileBounds(lat.sortedMs, o.quantile, s.confidence);
    const slow = lat.sortedMs.filter((x) => x > o.maxMs).length;
    const measured = `${formatMs(b.estimate)} (${conf(s.confidence)} CI ${Number.isFinite(b.lower) ? formatMs(b.lower) : '—'}–${Number.isFinite(b.upper) ? formatMs(b.upper) : 'unbounded'})`;
    const row: ObjectiveRow = { ...base, measured, samples: n, value: b.estimate, lower: b.lower, upper: b.upper, verdict: 'inconclusive', reason: '' };
    if (b.upper <= o.maxMs) {
      row.verdict = 'pass';
      row.reason = `upper bound of ${name} ${formatMs(b.upper)} is within ${formatMs(o.maxMs)}`;
    } else if (b.lower > o.maxMs) {
      row.verdict = 'fail';
      row.reason = `${name} ${formatMs(b.estimate)}: even the lower bound ${formatMs(b.lower)} is above ${formatMs(o.maxMs)} (${slow} of ${n} requests slower)`;
    } else {
      row.reason = Number.isFinite(b.upper)
        ? `${name} ${formatMs(b.estimate)}: the interval ${Number.isFinite(b.lower) ? formatMs(b.lower) : '0'}–${formatMs(b.upper)} contains the ${formatMs(o.maxMs)} limit`
        : `${n} requests are too few to bound ${name} from above`;
    }
    return finish(row, slow, n);
  }
  if (lat.kind === 'histogram') {
    const total = Math.round(lat.buckets[lat.buckets.length - 1]?.count ?? 0);
    if (total <= 0) return nodataRow(base, 'no requests in the window', s, 0);
    const at = countAtOrBelow(lat.buckets, o.maxMs);
    const slowHigh = Math.max(0, total - Math.round(at.low)); // at most this many slower than the limit
    const slowLow = Math.max(0, total - Math.round(at.high)); // at least this many
    const estimate = histogramQuantile(lat.buckets, o.quantile);
    const up = wilson(slowHigh, total, s.confidence).upper;
    const lo = wilson(slowLow, total, s.confidence).lower;
    const edges =
      at.lowEdge === at.highEdge
        ? ''
        : ` (no bucket at ${formatMs(o.maxMs)}: counted between the ${formatMs(at.lowEdge)} and ${formatMs(at.highEdge)} buckets)`;
    const measured = `≈${formatMs(estimate)} (histogram); ${fmtRatio(slowHigh / total)} slower than ${formatMs(o.maxMs)}`;
    const row: ObjectiveRow = { ...base, measured, samples: total, value: estimate, verdict: 'inconclusive', reason: '' };
    if (up < slowShare) {
      row.verdict = 'pass';
      row.reason = `at most ${fmtRatio(up)} of requests are slower than ${formatMs(o.maxMs)} (limit ${fmtRatio(slowShare)})${edges}`;
    } else if (lo > slowShare) {
      row.verdict = 'fail';
      row.reason = `${name} ≈${formatMs(estimate)}: at least ${fmtRatio(lo)} of requests are slower than ${formatMs(o.maxMs)} (limit ${fmtRatio(slowShare)})${edges}`;
    } else {
      row.reason = `${fmtRatio(slowHigh / total)} of ${total} requests slower than ${formatMs(o.maxMs)}: cannot tell against the ${fmtRatio(slowShare)} limit yet${edges}`;
    }
    return finish(row, slowHigh, total);
  }
  // A point estimate from a custom query: judged only with enough requests behind it.
  const v = lat.valuesMs[String(o.quantile)];
  if (v === undefined) return nodataRow(base, 'the latency query returned an empty result', s);
  const n = m.requests;
  const row: ObjectiveRow = { ...base, measured: `${formatMs(v)} (point estimate)`, samples: n, value: v, verdict: v <= o.maxMs ? 'pass' : 'fail', reason: '' };
  if (n === undefined || n < s.minSamples) {
    row.verdict = 'inconclusive';
    row.samplesNeeded = s.minSamples;
    row.reason =
      n === undefined
        ? `${name} ${formatMs(v)} from latency-query, but the number of requests is unknown`
        : `${name} ${formatMs(v)} from only ${n} requests; min-samples is ${s.minSamples}`;
  } else row.reason = `${name} ${formatMs(v)} ${v <= o.maxMs ? 'is within' : 'is above'} ${formatMs(o.maxMs)} (point estimate from latency-query)`;
  return row;
}

/** The probe cannot see hours of traffic: its SLO check is the burn rate of the probed traffic against the fastest pair's factor. */
function judgeSloOnTraffic(o: Extract<Objective, { kind: 'slo' }>, m: Measurement, s: JudgeSettings): ObjectiveRow {
  const factor = o.burnRates.length ? Math.max(...o.burnRates.map((p) => p.factor)) : 1;
  const limit = Math.min(1, factor * (1 - o.target));
  const base = { objective: o.text, kind: 'slo' as const, threshold: `burn ≤ ${factor}× (bad ≤ ${fmtRatio(limit)})` };
  const n = m.requests ?? 0;
  if (n === 0 || m.sloGood === undefined) return nodataRow(base, 'no requests measured', s, n);
  const bad = n - m.sloGood;
  const { decision, interval } = judgeRatio(bad, n, limit, s.confidence);
  const burn = bad / n / (1 - o.target);
  const row: ObjectiveRow = { ...base, measured: `burn ${burn.toFixed(2)}× (${bad} bad of ${n})`, samples: n, value: burn, verdict: decision, reason: '' };
  if (decision === 'fail')
    row.reason = `the probed traffic burns the error budget at ${burn.toFixed(1)}× (lower bound ${(interval.lower / (1 - o.target)).toFixed(1)}×), above ${factor}×`;
  else if (decision === 'pass' && n < s.minSamples) {
    row.verdict = 'inconclusive';
    row.reason = `only ${n} requests; min-samples is ${s.minSamples}`;
  } else if (decision === 'pass') row.reason = `burn rate at most ${(interval.upper / (1 - o.target)).toFixed(2)}×`;
  else {
    const needed = samplesNeeded(bad / n, limit, s.confidence);
    row.samplesNeeded = Number.isFinite(needed) ? needed : undefined;
    row.reason = `${bad} bad of ${n}: cannot tell against ${factor}× yet${Number.isFinite(needed) ? `; about ${fmtCount(needed)} requests needed` : ''}`;
  }
  return row;
}

/** SLO burn rates from Prometheus windows: fails when both windows of a pair burn faster than its factor. */
export function judgeBurnRates(o: Extract<Objective, { kind: 'slo' }>, pairs: BurnPairResult[], s: JudgeSettings): ObjectiveRow {
  const base = {
    objective: o.text,
    kind: 'slo' as const,
    threshold: o.burnRates.map((p) => `${p.factor}×@${formatWindow(p.longMs)}/${formatWindow(p.shortMs)}`).join(', ') || '—',
  };
  if (pairs.length === 0) return nodataRow(base, `no burn-rate pair fits the ${formatWindow(o.windowMs)} SLO window: set burn-rate`, s);
  if (pairs.every((p) => p.nodata)) return nodataRow(base, `no requests in the ${pairs.map((p) => formatWindow(p.pair.longMs)).join(', ')} windows`, s);
  const fmt = (b?: number) => (b === undefined ? '—' : `${b.toFixed(2)}×`);
  const measured = pairs.map((p) => `${fmt(p.long.burn)} (${formatWindow(p.pair.longMs)}) / ${fmt(p.short.burn)} (${formatWindow(p.pair.shortMs)})`).join('; ');
  const firing = pairs.filter((p) => p.firing);
  const samples = Math.max(...pairs.map((p) => p.long.counts?.total ?? 0));
  if (firing.length) {
    const p = firing[0]!;
    return {
      ...base,
      measured,
      samples,
      verdict: 'fail',
      reason: `burning the error budget too fast: ${fmt(p.long.burn)} over ${formatWindow(p.pair.longMs)} and ${fmt(p.short.burn)} over ${formatWindow(p.pair.shortMs)}, both above ${p.pair.factor}×`,
    };
  }
  return { ...base, measured, samples, verdict: 'pass', reason: 'no burn-rate pair has both windows above its factor' };
}

function latencyGroups(l: LatencyData | undefined): { groups: Grouped[]; median: number; n: number } | undefined {
  if (!l) return undefined;
  if (l.kind === 'samples') {
    if (!l.sortedMs.length) return undefined;
    const finite = l.sortedMs.map((x) => (Number.isFinite(x) ? x : Number.MAX_VALUE));
    return { groups: finite.map((value) => ({ value, count: 1 })), median: sampleQuantile(l.sortedMs.filter(Number.isFinite), 0.5), n: finite.length };
  }
  if (l.kind === 'histogram') {
    const n = Math.round(l.buckets[l.buckets.length - 1]?.count ?? 0);
    if (n <= 0) return undefined;
    return { groups: histogramGroups(l.buckets), median: histogramQuantile(l.buckets, 0.5), n };
  }
  return undefined;
}

/**
 * A slowdown of the median smaller than this is never a failure, however significant: on a fast
 * service, 2.3 ms against 2.1 ms is a real difference (Mann-Whitney sees it) that no user feels.
 */
export const BASELINE_LATENCY_MIN_DELTA_MS = 10;

/** The new version against the baseline over the same period: two-proportion z-test and Mann-Whitney U. */
export function judgeBaseline(cur: Measurement, base: Measurement, s: JudgeSettings): ObjectiveRow[] {
  const alpha = 1 - s.confidence;
  const rows: ObjectiveRow[] = [];
  const errBase = { objective: 'errors vs baseline', kind: 'baseline-errors' as const, threshold: `≤ baseline + ${fmtRatio(s.baselineErrorTolerance)}` };
  if (!cur.requests || !base.requests || cur.errors === undefined || base.errors === undefined) {
    rows.push(nodataRow(errBase, !cur.requests ? 'no requests for the new version' : 'no requests for the baseline', s, cur.requests));
  } else {
    const t = twoProportionTest(cur.errors, cur.requests, base.errors, base.requests, s.baselineErrorTolerance);
    const pNew = cur.errors / cur.requests;
    const pBase = base.errors / base.requests;
    const measured = `${fmtRatio(pNew)} vs ${fmtRatio(pBase)} (z ${Number.isFinite(t.statistic) ? t.statistic.toFixed(2) : t.statistic}, p ${t.pValue.toPrecision(2)})`;
    const n = Math.min(cur.requests, base.requests);
    const row: ObjectiveRow = { ...errBase, measured, samples: cur.requests, value: pNew - pBase, verdict: 'pass', reason: '' };
    if (t.pValue < alpha) {
      row.verdict = 'fail';
      row.reason = `the new version's error ratio ${fmtRatio(pNew)} is significantly above the baseline's ${fmtRatio(pBase)} + ${fmtRatio(s.baselineErrorTolerance)} (one-sided p ${t.pValue.toPrecision(2)} < ${alpha.toPrecision(2)})`;
    } else if (n < s.minSamples) {
      row.verdict = 'inconclusive';
      row.samplesNeeded = s.minSamples;
      row.reason = `only ${n} requests on one side; min-samples is ${s.minSamples}`;
    } else row.reason = `no significant increase over the baseline (p ${t.pValue.toPrecision(2)})`;
    rows.push(row);
  }
  const lc = latencyGroups(cur.latency);
  const lb = latencyGroups(base.latency);
  const latBase = {
    objective: 'latency vs baseline',
    kind: 'baseline-latency' as const,
    threshold: `median ≤ baseline × ${+(1 + s.baselineLatencyTolerance).toFixed(3)}`,
  };
  if (cur.latency?.kind === 'quantiles' || base.latency?.kind === 'quantiles') return rows; // point estimates cannot be rank-tested
  if (!lc || !lb) {
    rows.push(nodataRow(latBase, !lc ? 'no latencies for the new version' : 'no latencies for the baseline', s, lc?.n));
    return rows;
  }
  const mw = mannWhitney(lc.groups, lb.groups);
  const ratio = lb.median > 0 ? lc.median / lb.median : lc.median > 0 ? Infinity : 1;
  const measured = `median ${formatMs(lc.median)} vs ${formatMs(lb.median)} (×${Number.isFinite(ratio) ? ratio.toFixed(2) : '∞'}; U p ${mw.pValue.toPrecision(2)})`;
  const row: ObjectiveRow = { ...latBase, measured, samples: lc.n, value: ratio, verdict: 'pass', reason: '' };
  const minDelta = s.baselineLatencyMinDeltaMs ?? BASELINE_LATENCY_MIN_DELTA_MS;
  if (mw.pValue < alpha && ratio > 1 + s.baselineLatencyTolerance && lc.median - lb.median > minDelta) {
    row.verdict = 'fail';
    row.reason = `the new version is significantly slower (Mann-Whitney one-sided p ${mw.pValue.toPrecision(2)} < ${alpha.toPrecision(2)}) and its median is ×${ratio.toFixed(2)} the baseline's (tolerance ×${(1 + s.baselineLatencyTolerance).toFixed(2)}, and more than ${formatMs(minDelta)} slower)`;
  } else if (Math.min(lc.n, lb.n) < s.minSamples) {
    row.verdict = 'inconclusive';
    row.samplesNeeded = s.minSamples;
    row.reason = `only ${Math.min(lc.n, lb.n)} requests on one side; min-samples is ${s.minSamples}`;
  } else
    row.reason =
      mw.pValue < alpha
        ? `slower, but within the tolerance (×${ratio.toFixed(2)}, ${formatMs(Math.max(0, lc.median - lb.median))} on the median)`
        : `no significant slowdown (p ${mw.pValue.toPrecision(2)})`;
  rows.push(row);
  return rows;
}

/** Judges every objective on one measurement (SLO rows need burn windows or probe traffic: see judgeLook). */
export function judgeObjectives(objectives: Objective[], m: Measurement, s: JudgeSettings): ObjectiveRow[] {
  return objectives.map((o) =>
    o.kind === 'error-ratio' ? judgeErrorRatio(o, m, s) : o.kind === 'latency' ? judgeLatency(o, m, s) : judgeSloOnTraffic(o, m, s),
  );
}

export function combine(rows: ObjectiveRow[]): Verdict {
  if (rows.some((r) => r.verdict === 'fail')) return 'fail';
  if (rows.some((r) => r.verdict === 'inconclusive')) return 'inconclusive';
  return 'pass';
}
