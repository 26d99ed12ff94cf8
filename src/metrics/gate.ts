/**
 * The SLO gate: judges objectives on measurements with honest statistics, repeats the judgement
 * over time (Argo Rollouts' failure-limit semantics), compares against a baseline, checks burn
 * rates and the error budget, and writes a report a person can act on.
 *
 * Verdicts: `pass` only when the evidence says every objective is met (the confidence bound is
 * inside the limit); `fail` when the evidence says one is not (the bound is outside it), when the
 * provider errored `error-limit` times in a row, or when a query is rejected; `inconclusive` when
 * there is not enough data to tell, with the number of samples a decision would need.
 */
import { UserError, errorMessage } from '../lib/errors.ts';
import { formatDuration } from '../lib/duration.ts';
import type { Http } from '../lib/http.ts';
import { heading, table, details, code } from '../lib/markdown.ts';
import { redactUrl } from '../lib/secrets.ts';
import { countAtOrBelow, histogramGroups, histogramQuantile, type LatencyData, type Measurement } from './measurement.ts';
import { formatMs, formatWindow, objectiveName, parseObjectives, type Objective } from './objectives.ts';
import { Probe } from './probe.ts';
import {
  DEFAULT_METRICS,
  PrometheusClient,
  PrometheusQueryError,
  PrometheusUnavailableError,
  errorRatioTimeline,
  measurePrometheus,
  standardQueries,
  toHistogram,
  type CustomQueries,
  type PrometheusSourceOptions,
  type StandardMetrics,
} from './prometheus.ts';
import { burnWindows, errorBudget, evaluateBurnPair, type BurnPairResult, type Counts, type ErrorBudget } from './slo.ts';
import { bonferroni, judgeRatio, mannWhitney, quantileBounds, samplesNeeded, sampleQuantile, twoProportionTest, wilson, type Grouped } from './stats.ts';
import { sleep } from '../lib/sleep.ts';

export { parseObjectives } from './objectives.ts';
export type { Objective } from './objectives.ts';

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

const fmtCount = (n: number | undefined) => (n === undefined ? 'unknown' : n.toLocaleString('en-US'));
const conf = (c: number) => `${+(c * 100).toFixed(2)}%`;

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
    if (r > o.max) return { ...base, measured: `${fmtRatio(r)} (point estimate)`, value: r, verdict: 'fail', reason: `error ratio ${fmtRatio(r)} is above ${fmtRatio(o.max)} (sample size unknown)` };
    return { ...base, measured: `${fmtRatio(r)} (point estimate)`, value: r, verdict: 'inconclusive', reason: 'the error-ratio query gives no sample size, so a pass cannot be proven: set requests-query' };
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
    const edges = at.lowEdge === at.highEdge ? '' : ` (no bucket at ${formatMs(o.maxMs)}: counted between the ${formatMs(at.lowEdge)} and ${formatMs(at.highEdge)} buckets)`;
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
    row.reason = n === undefined ? `${name} ${formatMs(v)} from latency-query, but the number of requests is unknown` : `${name} ${formatMs(v)} from only ${n} requests; min-samples is ${s.minSamples}`;
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
  if (decision === 'fail') row.reason = `the probed traffic burns the error budget at ${burn.toFixed(1)}× (lower bound ${(interval.lower / (1 - o.target)).toFixed(1)}×), above ${factor}×`;
  else if (decision === 'pass' && n < s.minSamples) {
    row.verdict = 'inconclusive';
    row.reason = `only ${n} requests; min-samples is ${s.minSamples}`;
  }
  else if (decision === 'pass') row.reason = `burn rate at most ${(interval.upper / (1 - o.target)).toFixed(2)}×`;
  else {
    const needed = samplesNeeded(bad / n, limit, s.confidence);
    row.samplesNeeded = Number.isFinite(needed) ? needed : undefined;
    row.reason = `${bad} bad of ${n}: cannot tell against ${factor}× yet${Number.isFinite(needed) ? `; about ${fmtCount(needed)} requests needed` : ''}`;
  }
  return row;
}

/** SLO burn rates from Prometheus windows: fails when both windows of a pair burn faster than its factor. */
export function judgeBurnRates(o: Extract<Objective, { kind: 'slo' }>, pairs: BurnPairResult[], s: JudgeSettings): ObjectiveRow {
  const base = { objective: o.text, kind: 'slo' as const, threshold: o.burnRates.map((p) => `${p.factor}×@${formatWindow(p.longMs)}/${formatWindow(p.shortMs)}`).join(', ') || '—' };
  if (pairs.length === 0) return nodataRow(base, `no burn-rate pair fits the ${formatWindow(o.windowMs)} SLO window: set burn-rate`, s);
  if (pairs.every((p) => p.nodata)) return nodataRow(base, `no requests in the ${pairs.map((p) => formatWindow(p.pair.longMs)).join(', ')} windows`, s);
  const fmt = (b?: number) => (b === undefined ? '—' : `${b.toFixed(2)}×`);
  const measured = pairs.map((p) => `${fmt(p.long.burn)} (${formatWindow(p.pair.longMs)}) / ${fmt(p.short.burn)} (${formatWindow(p.pair.shortMs)})`).join('; ');
  const firing = pairs.filter((p) => p.firing);
  const samples = Math.max(...pairs.map((p) => p.long.counts?.total ?? 0));
  if (firing.length) {
    const p = firing[0]!;
    return { ...base, measured, samples, verdict: 'fail', reason: `burning the error budget too fast: ${fmt(p.long.burn)} over ${formatWindow(p.pair.longMs)} and ${fmt(p.short.burn)} over ${formatWindow(p.pair.shortMs)}, both above ${p.pair.factor}×` };
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
  const latBase = { objective: 'latency vs baseline', kind: 'baseline-latency' as const, threshold: `median ≤ baseline × ${+(1 + s.baselineLatencyTolerance).toFixed(3)}` };
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
  } else row.reason = mw.pValue < alpha ? `slower, but within the tolerance (×${ratio.toFixed(2)}, ${formatMs(Math.max(0, lc.median - lb.median))} on the median)` : `no significant slowdown (p ${mw.pValue.toPrecision(2)})`;
  rows.push(row);
  return rows;
}

/** Judges every objective on one measurement (SLO rows need burn windows or probe traffic: see judgeLook). */
export function judgeObjectives(objectives: Objective[], m: Measurement, s: JudgeSettings): ObjectiveRow[] {
  return objectives.map((o) => (o.kind === 'error-ratio' ? judgeErrorRatio(o, m, s) : o.kind === 'latency' ? judgeLatency(o, m, s) : judgeSloOnTraffic(o, m, s)));
}

export function combine(rows: ObjectiveRow[]): Verdict {
  if (rows.some((r) => r.verdict === 'fail')) return 'fail';
  if (rows.some((r) => r.verdict === 'inconclusive')) return 'inconclusive';
  return 'pass';
}

// ---------------------------------------------------------------------------------------------
// Sources: where one version's numbers come from
// ---------------------------------------------------------------------------------------------

export interface Source {
  /** `version v2` or the probed URLs. */
  label: string;
  kind: 'probe' | 'prometheus';
  start?(durationMs: number, signal?: AbortSignal): void;
  /** Waits until the traffic it started is done (the probe's last requests). */
  settle?(): Promise<void>;
  stop?(): Promise<void>;
  measure(signal?: AbortSignal): Promise<Measurement>;
  /** Good/total requests over a window (Prometheus: burn rates and the error budget). */
  sloCounts?(windowMs: number, signal?: AbortSignal): Promise<Counts | undefined>;
  timeline?(startMs: number, endMs: number, stepMs: number, signal?: AbortSignal): Promise<{ atMs: number; ratio: number }[]>;
  extra?(): Record<string, unknown>;
}

export function probeSource(probe: Probe, label: string): Source {
  return {
    label,
    kind: 'probe',
    start: (d, signal) => probe.start(d, signal),
    settle: () => probe.done(),
    stop: () => probe.stop(),
    measure: async () => probe.snapshot(),
    extra: () => ({ sent: probe.sent, skipped: probe.skippedSends, codes: probe.snapshot().codes, failures: Object.fromEntries(probe.failures) }),
  };
}

export function prometheusSource(o: PrometheusSourceOptions, version: string | undefined, windowMs: number, label: string, sloSelectorVersion?: string): Source {
  return {
    label,
    kind: 'prometheus',
    measure: (signal) => measurePrometheus(o, version, windowMs, signal),
    async sloCounts(w, signal) {
      const q = standardQueries(o.metrics, sloSelectorVersion, w);
      const total = await o.client.query(q.requests, { signal });
      if (!total.length || Number.isNaN(total[0]!.value)) return undefined;
      const n = Math.round(total[0]!.value);
      let good: number;
      if (o.sloLatencyMs !== undefined) {
        let c = 0;
        for (const b of toHistogram(await o.client.query(q.goodBuckets, { signal }))) if (b.leMs <= o.sloLatencyMs + 1e-9) c = b.count;
        good = Math.round(c);
      } else {
        const errs = await o.client.query(q.errors, { signal });
        good = n - Math.round(errs[0]?.value ?? 0);
      }
      return { good: Math.max(0, Math.min(n, good)), total: n };
    },
    timeline: (startMs, endMs, stepMs, signal) => errorRatioTimeline(o, version, { startMs, endMs, stepMs, windowMs, signal }),
  };
}

// ---------------------------------------------------------------------------------------------
// Analysis over time
// ---------------------------------------------------------------------------------------------

export interface AnalysisOptions {
  objectives: Objective[];
  /** 0: one measurement now. */
  durationMs: number;
  intervalMs: number;
  /** Fail when an objective fails more than this many times. */
  failureLimit: number;
  /** Fail closed after this many provider errors in a row. */
  errorLimit: number;
  /** Overall confidence; each look uses the Bonferroni-corrected level. */
  confidence: number;
  minSamples: number;
  nodata: Verdict;
  onInconclusive: 'fail' | 'pass';
  baselineErrorTolerance: number;
  baselineLatencyTolerance: number;
  /** Wait before re-measuring after a provider error on the final look. Default min(interval, 5s). */
  retryDelayMs?: number;
}

export interface LookRecord {
  index: number;
  atMs: number;
  verdict: Verdict | 'error';
  failed: string[];
  inconclusive: string[];
  error?: string;
}

export interface SloReport {
  verdict: Verdict;
  pass: boolean;
  reason: string;
  mode: 'gate' | 'budget';
  provider: 'probe' | 'prometheus';
  target: { label: string; version?: string; urls?: string[]; baseline?: string };
  confidence: number;
  lookConfidence: number;
  plannedLooks: number;
  durationMs: number;
  intervalMs: number;
  failureLimit: number;
  errorLimit: number;
  minSamples: number;
  nodata: Verdict;
  onInconclusive: 'fail' | 'pass';
  objectives: ObjectiveRow[];
  burnRates?: BurnPairResult[];
  budget?: ErrorBudget & { override?: string; overridden: boolean };
  override?: string;
  looks: LookRecord[];
  failures: Record<string, number>;
  providerErrors: string[];
  probe?: Record<string, unknown>;
  baselineProbe?: Record<string, unknown>;
  timeline?: { atMs: number; ratio: number }[];
  queries?: string[];
  startedAt: string;
  elapsedMs: number;
}

export interface GateDeps {
  log?: { info(message: string): void; warning(message: string): void };
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
  signal?: AbortSignal;
}

/** Cancellation reads as a one-line user error in the gate's report, whatever the signal's reason. */
const realSleep = (ms: number, signal?: AbortSignal) =>
  sleep(Math.max(0, ms), signal).catch(() => {
    throw new UserError('cancelled');
  });

export function plannedLooks(durationMs: number, intervalMs: number): number {
  return durationMs > 0 ? Math.max(1, Math.floor(durationMs / Math.max(1, intervalMs))) : 1;
}

function rowShort(r: ObjectiveRow): string {
  return `${r.objective}: ${r.reason}`;
}

function newReport(o: AnalysisOptions, cur: Source, base: Source | undefined, mode: 'gate' | 'budget', startedAt: number): SloReport {
  const looks = mode === 'budget' ? 1 : plannedLooks(o.durationMs, o.intervalMs);
  return {
    verdict: 'inconclusive',
    pass: false,
    reason: '',
    mode,
    provider: cur.kind,
    target: { label: cur.label, baseline: base?.label },
    confidence: o.confidence,
    lookConfidence: bonferroni(o.confidence, looks),
    plannedLooks: looks,
    durationMs: o.durationMs,
    intervalMs: o.intervalMs,
    failureLimit: o.failureLimit,
    errorLimit: o.errorLimit,
    minSamples: o.minSamples,
    nodata: o.nodata,
    onInconclusive: o.onInconclusive,
    objectives: [],
    looks: [],
    failures: {},
    providerErrors: [],
    startedAt: new Date(startedAt).toISOString(),
    elapsedMs: 0,
  };
}

function finish(r: SloReport, verdict: Verdict, reason: string, elapsedMs: number): SloReport {
  r.verdict = verdict;
  r.reason = reason;
  r.pass = verdict === 'pass' || (verdict === 'inconclusive' && r.onInconclusive === 'pass');
  r.elapsedMs = elapsedMs;
  return r;
}

/** A provider error that retrying cannot fix (a rejected query, a bad template). */
function isPermanent(err: unknown): boolean {
  return err instanceof PrometheusQueryError || (err instanceof UserError && !(err instanceof PrometheusUnavailableError));
}

async function judgeLook(o: AnalysisOptions, s: JudgeSettings, cur: Source, base: Source | undefined, signal?: AbortSignal): Promise<{ rows: ObjectiveRow[]; burn?: BurnPairResult[]; queries?: string[] }> {
  const m = await cur.measure(signal);
  const plain = o.objectives.filter((x) => x.kind !== 'slo' || !cur.sloCounts);
  const rows = judgeObjectives(plain, m, s);
  let burn: BurnPairResult[] | undefined;
  const slo = o.objectives.find((x): x is Extract<Objective, { kind: 'slo' }> => x.kind === 'slo');
  if (slo && cur.sloCounts) {
    const counts = new Map<number, Counts | undefined>();
    for (const w of burnWindows(slo.burnRates)) counts.set(w, await cur.sloCounts(w, signal));
    burn = slo.burnRates.map((p) => evaluateBurnPair(p, slo.target, counts.get(p.longMs), counts.get(p.shortMs)));
    // keep the objectives' order
    rows.splice(o.objectives.indexOf(slo), 0, judgeBurnRates(slo, burn, s));
  }
  if (base) rows.push(...judgeBaseline(m, await base.measure(signal), s));
  return { rows, burn, queries: m.queries };
}

/**
 * Measures at every interval until the duration is over (or once, with duration 0) and decides.
 * Fails early when an objective fails more than failure-limit times or the provider errors
 * error-limit times in a row; passes only after the whole duration, on a passing last measurement.
 */
export async function analyze(o: AnalysisOptions, cur: Source, base: Source | undefined, deps: GateDeps = {}): Promise<SloReport> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? realSleep;
  const log = deps.log;
  const signal = deps.signal;
  const t0 = now();
  const report = newReport(o, cur, base, 'gate', t0);
  const s: JudgeSettings = {
    confidence: report.lookConfidence,
    minSamples: o.minSamples,
    nodata: o.nodata,
    baselineErrorTolerance: o.baselineErrorTolerance,
    baselineLatencyTolerance: o.baselineLatencyTolerance,
  };
  const looks = report.plannedLooks;
  const retryDelay = o.retryDelayMs ?? Math.min(o.intervalMs, 5_000);
  let consecutiveErrors = 0;
  const started: Source[] = [];
  const elapsed = () => now() - t0;
  try {
    for (const src of base ? [cur, base] : [cur]) {
      if (src.start) {
        src.start(o.durationMs, signal);
        started.push(src);
      }
    }
    for (let i = 1; i <= looks; i++) {
      const final = i === looks;
      const due = o.durationMs > 0 ? (final ? o.durationMs : i * o.intervalMs) : 0;
      if (due > elapsed()) await sleep(due - elapsed(), signal);
      if (final) for (const src of started) await src.settle?.();
      for (;;) {
        const atMs = elapsed();
        try {
          const { rows, burn, queries } = await judgeLook(o, s, cur, base, signal);
          consecutiveErrors = 0;
          const verdict = combine(rows);
          const failed = rows.filter((r) => r.verdict === 'fail');
          report.looks.push({ index: i, atMs, verdict, failed: failed.map((r) => r.objective), inconclusive: rows.filter((r) => r.verdict === 'inconclusive').map((r) => r.objective) });
          report.objectives = rows;
          if (burn) report.burnRates = burn;
          if (queries) report.queries = queries;
          log?.info(`look ${i}/${looks} at ${formatDuration(atMs)}: ${verdict}${rows.length ? ` — ${rows.map((r) => `${r.objective} ${r.verdict} (${r.measured})`).join('; ')}` : ''}`);
          for (const r of failed) report.failures[r.objective] = (report.failures[r.objective] ?? 0) + 1;
          const over = failed.find((r) => report.failures[r.objective]! > o.failureLimit);
          if (over) {
            const n = report.failures[over.objective]!;
            return finish(report, 'fail', `${rowShort(over)}${looks > 1 ? ` (failed ${n} time${n > 1 ? 's' : ''}, failure-limit ${o.failureLimit}, at look ${i} of ${looks})` : ''}`, elapsed());
          }
          break;
        } catch (err) {
          if (signal?.aborted) throw new UserError('cancelled');
          const msg = errorMessage(err);
          report.looks.push({ index: i, atMs, verdict: 'error', failed: [], inconclusive: [], error: msg });
          report.providerErrors.push(msg);
          if (isPermanent(err)) return finish(report, 'fail', `failing closed: ${msg}`, elapsed());
          consecutiveErrors++;
          log?.warning(`look ${i}/${looks}: provider error ${consecutiveErrors} of error-limit ${o.errorLimit}: ${msg}`);
          if (consecutiveErrors >= o.errorLimit) {
            return finish(report, 'fail', `failing closed: the provider failed ${consecutiveErrors} time${consecutiveErrors > 1 ? 's' : ''} in a row (error-limit ${o.errorLimit}): ${msg}`, elapsed());
          }
          if (!final) break;
          await sleep(retryDelay, signal);
        }
      }
    }
  } finally {
    for (const src of started) await src.stop?.();
    for (const [src, key] of [[cur, 'probe'], [base, 'baselineProbe']] as const) {
      const extra = src?.extra?.();
      if (extra) report[key] = extra;
    }
  }
  const rows = report.objectives;
  const verdict = combine(rows);
  const window = o.durationMs > 0 ? ` over ${formatDuration(o.durationMs)} (${looks} look${looks > 1 ? 's' : ''})` : '';
  if (verdict === 'pass') {
    return finish(report, 'pass', `all ${rows.length} objectives met${window}: ${rows.map((r) => `${r.objective} (${r.measured})`).join('; ')}`, elapsed());
  }
  if (verdict === 'fail') {
    const f = rows.find((r) => r.verdict === 'fail')!;
    return finish(report, 'inconclusive', `the last measurement failed (${rowShort(f)}); failure-limit ${o.failureLimit} tolerates it, but a pass needs a passing last measurement`, elapsed());
  }
  const inc = rows.filter((r) => r.verdict === 'inconclusive');
  const needed = Math.max(0, ...inc.map((r) => r.samplesNeeded ?? 0));
  return finish(report, 'inconclusive', `not enough evidence${window}: ${inc.map(rowShort).join('; ')}${needed ? ` — about ${needed.toLocaleString('en-US')} requests would decide` : ''}`, elapsed());
}

/**
 * mode: budget — the error budget left over the SLO window, before a deploy. Blocks when it is spent
 * (error-budget policy); `override` lets an emergency deploy through and is written in the report.
 */
export async function checkBudget(o: AnalysisOptions, src: Source, override: string | undefined, deps: GateDeps = {}): Promise<SloReport> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? realSleep;
  const t0 = now();
  const report = newReport({ ...o, durationMs: 0 }, src, undefined, 'budget', t0);
  report.override = override || undefined;
  const slo = o.objectives.find((x): x is Extract<Objective, { kind: 'slo' }> => x.kind === 'slo');
  if (!slo) throw new UserError('mode: budget needs an SLO objective, for example "slo: 99.5%" and "window: 30d"');
  if (!src.sloCounts) throw new UserError('mode: budget needs the prometheus provider: the probe cannot see the SLO window');
  let counts: Counts | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      counts = await src.sloCounts(slo.windowMs, deps.signal);
      break;
    } catch (err) {
      if (deps.signal?.aborted) throw new UserError('cancelled');
      const msg = errorMessage(err);
      report.providerErrors.push(msg);
      report.looks.push({ index: attempt, atMs: now() - t0, verdict: 'error', failed: [], inconclusive: [], error: msg });
      if (isPermanent(err)) return finish(report, 'fail', `failing closed: ${msg}`, now() - t0);
      deps.log?.warning(`error budget: provider error ${attempt} of error-limit ${o.errorLimit}: ${msg}`);
      if (attempt >= o.errorLimit) return finish(report, 'fail', `failing closed: the provider failed ${attempt} times in a row (error-limit ${o.errorLimit}): ${msg}`, now() - t0);
      await sleep(o.retryDelayMs ?? 2_000, deps.signal);
    }
  }
  const base = { objective: `error budget (${slo.text})`, kind: 'budget' as const, threshold: 'budget left > 0%' };
  if (!counts || counts.total === 0) {
    // Only bad requests spend an error budget: with no requests over the window (a first deploy, a
    // new service) nothing is spent. Said as such, never as "no errors".
    const row: ObjectiveRow = { ...base, measured: 'no requests', samples: 0, nodata: true, verdict: 'pass', reason: `no requests over the SLO window ${formatWindow(slo.windowMs)}: none of the budget can have been spent (first deploy?)` };
    report.objectives = [row];
    report.looks.push({ index: 1, atMs: now() - t0, verdict: row.verdict, failed: [], inconclusive: [] });
    return finish(report, row.verdict, row.reason, now() - t0);
  }
  const b = errorBudget(slo.target, slo.windowMs, counts);
  const measured = `${fmtRatio(Math.max(-9.99, b.remaining))} left (${fmtCount(b.bad)} bad of ${fmtCount(b.total)}; allowed ${fmtCount(Math.floor(b.allowedBad))})`;
  const row: ObjectiveRow = { ...base, measured, samples: b.total, value: b.remaining, verdict: b.spent ? 'fail' : 'pass', reason: '' };
  report.budget = { ...b, override: report.override, overridden: false };
  report.objectives = [row];
  if (b.spent) {
    row.reason = `the error budget over ${formatWindow(slo.windowMs)} is spent: ${fmtCount(b.bad)} bad requests, ${fmtCount(Math.floor(b.allowedBad))} allowed`;
    if (report.override) {
      report.budget.overridden = true;
      row.verdict = 'pass';
      row.reason += `; OVERRIDDEN: ${report.override}`;
    }
  } else row.reason = `${fmtRatio(b.remaining)} of the error budget is left`;
  report.looks.push({ index: 1, atMs: now() - t0, verdict: row.verdict, failed: row.verdict === 'fail' ? [row.objective] : [], inconclusive: [] });
  return finish(report, row.verdict, row.reason, now() - t0);
}

// ---------------------------------------------------------------------------------------------
// The gate, for the action and for the rollout engine
// ---------------------------------------------------------------------------------------------

export interface SloGateOptions {
  objectives?: Objective[] | string;
  provider: 'probe' | 'prometheus';
  mode?: 'gate' | 'budget';
  /** mode: budget — let the deploy through although the budget is spent; the reason is recorded. */
  override?: string;
  /** Default: 0 with prometheus (one measurement), 30 s with the probe. */
  durationMs?: number;
  intervalMs?: number;
  failureLimit?: number;
  errorLimit?: number;
  confidence?: number;
  minSamples?: number;
  nodata?: Verdict;
  onInconclusive?: 'fail' | 'pass';
  baselineErrorTolerance?: number;
  baselineLatencyTolerance?: number;
  retryDelayMs?: number;
  probe?: { paths?: string[]; rate?: number; concurrency?: number; timeoutMs?: number; method?: string; headers?: Record<string, string> };
  prometheus?: {
    url: string;
    token?: string;
    username?: string;
    password?: string;
    timeoutMs?: number;
    retries?: number;
    headers?: Record<string, string>;
    metrics?: Partial<StandardMetrics>;
    queries?: CustomQueries;
    /** The {{window}} of each measurement. Default 5m. */
    windowMs?: number;
  };
  log?: GateDeps['log'];
  http?: Http;
  sleep?: GateDeps['sleep'];
  now?: GateDeps['now'];
}

export interface GateTarget {
  urls: string[];
  version: string;
  baselineUrls?: string[];
  baselineVersion?: string;
  signal?: AbortSignal;
}

export interface GateOutcome {
  pass: boolean;
  verdict: Verdict;
  reason: string;
  report: SloReport;
}

export const GATE_DEFAULTS = {
  intervalMs: 30_000,
  probeDurationMs: 30_000,
  failureLimit: 0,
  errorLimit: 3,
  confidence: 0.95,
  minSamples: 100,
  nodata: 'inconclusive' as Verdict,
  onInconclusive: 'fail' as const,
  baselineErrorTolerance: 0.005,
  baselineLatencyTolerance: 0.1,
  windowMs: 300_000,
  rate: 20,
  concurrency: 10,
  timeoutMs: 5_000,
};

/** Checks gate options once (before any traffic or query): throws UserError naming the option. */
export function resolveGateOptions(opts: SloGateOptions): AnalysisOptions & { mode: 'gate' | 'budget' } {
  const objectives = typeof opts.objectives === 'string' || opts.objectives === undefined ? parseObjectives(opts.objectives ?? '') : opts.objectives;
  const mode = opts.mode ?? 'gate';
  const durationMs = opts.durationMs ?? (opts.provider === 'probe' ? GATE_DEFAULTS.probeDurationMs : 0);
  const intervalMs = opts.intervalMs ?? GATE_DEFAULTS.intervalMs;
  if (durationMs < 0 || intervalMs <= 0) throw new UserError('slo-gate: duration cannot be negative and interval must be more than 0');
  if (opts.provider === 'probe' && mode === 'gate' && durationMs <= 0) throw new UserError('slo-gate: the probe needs a duration (how long to send traffic), for example 30s');
  if (durationMs > 0 && intervalMs > durationMs) throw new UserError(`slo-gate: interval ${formatDuration(intervalMs)} is longer than duration ${formatDuration(durationMs)}`);
  const confidence = opts.confidence ?? GATE_DEFAULTS.confidence;
  if (!(confidence > 0.5 && confidence < 1)) throw new UserError('slo-gate: confidence must be between 50% and 100% (exclusive), for example 95%');
  const errorLimit = opts.errorLimit ?? GATE_DEFAULTS.errorLimit;
  if (errorLimit < 1) throw new UserError('slo-gate: error-limit must be at least 1');
  if (mode === 'budget' && opts.provider !== 'prometheus') throw new UserError('slo-gate: mode budget needs the prometheus provider (the probe cannot see a 30-day window)');
  if (mode === 'budget' && !objectives.some((x) => x.kind === 'slo')) throw new UserError('slo-gate: mode budget needs an SLO objective, for example "slo: 99.5%" and "window: 30d"');
  return {
    mode,
    objectives,
    durationMs,
    intervalMs,
    failureLimit: opts.failureLimit ?? GATE_DEFAULTS.failureLimit,
    errorLimit,
    confidence,
    minSamples: opts.minSamples ?? GATE_DEFAULTS.minSamples,
    nodata: opts.nodata ?? GATE_DEFAULTS.nodata,
    onInconclusive: opts.onInconclusive ?? GATE_DEFAULTS.onInconclusive,
    baselineErrorTolerance: opts.baselineErrorTolerance ?? GATE_DEFAULTS.baselineErrorTolerance,
    baselineLatencyTolerance: opts.baselineLatencyTolerance ?? GATE_DEFAULTS.baselineLatencyTolerance,
    retryDelayMs: opts.retryDelayMs,
  };
}

/**
 * The gate as a function, for the rollout engine (between batches) and the slo-gate action:
 * probe the new instances' URLs (and the old ones as a baseline), or ask Prometheus by version label.
 * Options are checked when the gate is created, so a bad option fails before any deploy step.
 */
export function createSloGate(options: SloGateOptions): (target: GateTarget) => Promise<GateOutcome> {
  const a = resolveGateOptions(options);
  const sloLatencyMs = a.objectives.find((x): x is Extract<Objective, { kind: 'slo' }> => x.kind === 'slo')?.latencyMs;
  let promOpts: PrometheusSourceOptions | undefined;
  if (options.provider === 'prometheus') {
    const p = options.prometheus;
    if (!p?.url) throw new UserError('slo-gate: the prometheus provider needs prometheus-url');
    promOpts = {
      client: new PrometheusClient({ url: p.url, token: p.token, username: p.username, password: p.password, timeoutMs: p.timeoutMs, retries: p.retries, headers: p.headers, http: options.http }),
      metrics: { ...DEFAULT_METRICS, ...p.metrics },
      custom: p.queries ?? {},
      quantiles: a.objectives.flatMap((x) => (x.kind === 'latency' ? [x.quantile] : [])),
      sloLatencyMs,
      // Latency also feeds the baseline comparison, so it is always read.
      wantLatency: true,
    };
  }
  return async (target) => {
    const deps: GateDeps = { log: options.log, sleep: options.sleep, now: options.now, signal: target.signal };
    let cur: Source;
    let base: Source | undefined;
    if (promOpts) {
      const windowMs = options.prometheus?.windowMs ?? GATE_DEFAULTS.windowMs;
      const version = target.version || undefined;
      cur = prometheusSource(promOpts, version, windowMs, version ? `version ${version}` : 'all versions');
      if (target.baselineVersion) base = prometheusSource(promOpts, target.baselineVersion, windowMs, `version ${target.baselineVersion}`);
      if (a.mode === 'budget') {
        // The error budget belongs to the service, not to one version.
        cur = prometheusSource(promOpts, undefined, windowMs, 'the service (all versions)');
      }
    } else {
      if (!target.urls.length) throw new UserError('slo-gate: the probe needs at least one URL');
      const p = options.probe ?? {};
      const make = (urls: string[]) =>
        new Probe({
          urls,
          paths: p.paths,
          rate: p.rate ?? GATE_DEFAULTS.rate,
          concurrency: p.concurrency ?? GATE_DEFAULTS.concurrency,
          timeoutMs: p.timeoutMs ?? GATE_DEFAULTS.timeoutMs,
          method: p.method,
          headers: p.headers,
          sloLatencyMs,
          http: options.http,
        });
      cur = probeSource(make(target.urls), target.urls.map(redactUrl).join(', '));
      if (target.baselineUrls?.length) base = probeSource(make(target.baselineUrls), target.baselineUrls.map(redactUrl).join(', '));
    }
    const report = a.mode === 'budget' ? await checkBudget(a, cur, options.override, deps) : await analyze(a, cur, base, deps);
    report.target = {
      label: cur.label,
      version: target.version || undefined,
      urls: cur.kind === 'probe' ? target.urls.map(redactUrl) : undefined,
      baseline: base?.label,
    };
    if (cur.timeline && a.mode === 'gate' && a.durationMs > 0) {
      try {
        const end = Date.now();
        report.timeline = await cur.timeline(end - report.elapsedMs, end, a.intervalMs, target.signal);
      } catch (err) {
        options.log?.warning(`slo-gate: could not read the error-ratio timeline: ${errorMessage(err)}`);
      }
    }
    return { pass: report.pass, verdict: report.verdict, reason: report.reason, report };
  };
}

// ---------------------------------------------------------------------------------------------
// The summary a person reads
// ---------------------------------------------------------------------------------------------

const ICON: Record<Verdict | 'error', string> = { pass: '✅ pass', fail: '❌ fail', inconclusive: '⚠️ inconclusive', error: '🔌 provider error' };

export function renderSloSummary(r: SloReport): string {
  const out: string[] = [];
  const passedAnyway = r.verdict === 'inconclusive' && r.pass;
  out.push(heading(`SLO gate: ${ICON[r.verdict]}${passedAnyway ? ' (passed: on-inconclusive is pass)' : r.verdict === 'inconclusive' ? ' (blocks: on-inconclusive is fail)' : ''}`));
  out.push(`**Why:** ${r.reason}\n`);
  const what =
    r.mode === 'budget'
      ? 'error budget check before the deploy'
      : `${r.plannedLooks > 1 ? `${r.looks.length} of ${r.plannedLooks} planned measurements, every ${formatDuration(r.intervalMs)} over ${formatDuration(r.durationMs)}` : 'one measurement'}`;
  out.push(
    `Source: **${r.provider}** · ${r.target.label}${r.target.baseline ? ` · baseline ${r.target.baseline}` : ''} · ${what} · ` +
      `${conf(r.confidence)} confidence${r.lookConfidence !== r.confidence ? ` (${conf(r.lookConfidence)} per measurement: Bonferroni over ${r.plannedLooks})` : ''} · took ${formatDuration(r.elapsedMs)}\n`,
  );
  if (r.budget?.overridden) out.push(`> **⚠️ Override:** the error budget is spent, and the deploy was let through: “${r.budget.override}”\n`);
  else if (r.override && r.mode === 'budget') out.push(`> Override given (“${r.override}”) but not needed: the budget is not spent.\n`);
  if (r.objectives.length) {
    out.push(
      table(
        ['Objective', 'Measured', 'Threshold', 'Samples', 'Verdict', 'Reason'],
        r.objectives.map((row) => [row.objective, row.measured, row.threshold, row.samples === undefined ? '—' : row.samples.toLocaleString('en-US'), ICON[row.verdict] + (row.nodata ? ' (no data)' : ''), row.reason]),
      ),
    );
  }
  if (r.burnRates?.length) {
    const fmt = (b?: number) => (b === undefined ? '—' : `${b.toFixed(2)}×`);
    out.push(heading('Burn rates', 3));
    out.push(
      table(
        ['Pair', 'Long window', 'Short window', 'Firing'],
        r.burnRates.map((p) => [p.label, `${fmt(p.long.burn)} (${fmtRatio(p.long.ratio)} of ${fmtCount(p.long.counts?.total)})`, `${fmt(p.short.burn)} (${fmtRatio(p.short.ratio)} of ${fmtCount(p.short.counts?.total)})`, p.nodata ? 'no data' : p.firing ? '🔥 yes' : 'no']),
      ),
    );
  }
  if (r.budget) {
    out.push(heading('Error budget', 3));
    out.push(
      table(
        ['SLO', 'Window', 'Requests', 'Bad', 'Allowed bad', 'Left'],
        [[fmtRatio(r.budget.target), formatWindow(r.budget.windowMs), fmtCount(r.budget.total), fmtCount(r.budget.bad), fmtCount(Math.floor(r.budget.allowedBad)), fmtRatio(Math.max(-9.99, r.budget.remaining))]],
      ),
    );
  }
  if (r.looks.length > 1 || r.providerErrors.length) {
    out.push(heading('Measurements', 3));
    out.push(
      table(
        ['#', 'At', 'Result', 'Failed', 'Inconclusive / error'],
        r.looks.map((l) => [l.index, formatDuration(l.atMs), ICON[l.verdict], l.failed.join(', '), l.error ?? l.inconclusive.join(', ')]),
      ),
    );
    if (Object.keys(r.failures).length) out.push(`Failures per objective: ${Object.entries(r.failures).map(([k, v]) => `${k}: ${v}`).join(', ')} (failure-limit ${r.failureLimit})\n`);
  }
  for (const [title, p] of [['Probe', r.probe], ['Baseline probe', r.baselineProbe]] as const) {
    if (!p) continue;
    const codes = Object.entries((p.codes as Record<string, number>) ?? {}).map(([k, v]) => `${k}: ${v}`).join(', ');
    const failures = Object.entries((p.failures as Record<string, number>) ?? {}).map(([k, v]) => `${k} ×${v}`).join('; ');
    out.push(`${title}: ${p.sent} requests (${codes || 'none'})${p.skipped ? `, ${p.skipped} sends skipped (concurrency limit reached)` : ''}${failures ? `; no answer: ${failures}` : ''}\n`);
  }
  if (r.timeline?.length) {
    out.push(details('Error ratio over the analysis (Prometheus range query)', table(['Time', 'Error ratio'], r.timeline.map((t) => [new Date(t.atMs).toISOString().slice(11, 19), fmtRatio(t.ratio)]))));
  }
  if (r.queries?.length) out.push(details('Queries', code(r.queries.join('\n'), 'promql')));
  out.push(
    `\n<sub>pass needs every confidence bound inside its limit (Wilson interval for ratios, order statistics or histogram counts for quantiles); nodata: ${r.nodata}; on-inconclusive: ${r.onInconclusive}; min-samples: ${r.minSamples}; failure-limit: ${r.failureLimit}; error-limit: ${r.errorLimit}.</sub>\n`,
  );
  return out.join('\n');
}
