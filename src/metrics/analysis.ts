/**
 * The SLO gate over time: repeats the judgement of src/metrics/judge.ts at each look (Argo
 * Rollouts' failure-limit semantics: `fail` also when the provider errored `error-limit` times in
 * a row, or when a query is rejected), and checks the error budget.
 */
import { UserError, errorMessage } from '../lib/errors.ts';
import { formatDuration } from '../lib/duration.ts';
import { formatWindow, type Objective } from './objectives.ts';
import { PrometheusQueryError, PrometheusUnavailableError } from './prometheus.ts';
import { burnWindows, errorBudget, evaluateBurnPair, type BurnPairResult, type Counts, type ErrorBudget } from './slo.ts';
import { bonferroni } from './stats.ts';
import { sleep } from '../lib/sleep.ts';
import { combine, fmtCount, fmtRatio, judgeBaseline, judgeBurnRates, judgeObjectives, type JudgeSettings, type ObjectiveRow, type Verdict } from './judge.ts';
import type { Source } from './sources.ts';

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

async function judgeLook(
  o: AnalysisOptions,
  s: JudgeSettings,
  cur: Source,
  base: Source | undefined,
  signal?: AbortSignal,
): Promise<{ rows: ObjectiveRow[]; burn?: BurnPairResult[]; queries?: string[] }> {
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
          report.looks.push({
            index: i,
            atMs,
            verdict,
            failed: failed.map((r) => r.objective),
            inconclusive: rows.filter((r) => r.verdict === 'inconclusive').map((r) => r.objective),
          });
          report.objectives = rows;
          if (burn) report.burnRates = burn;
          if (queries) report.queries = queries;
          log?.info(
            `look ${i}/${looks} at ${formatDuration(atMs)}: ${verdict}${rows.length ? ` — ${rows.map((r) => `${r.objective} ${r.verdict} (${r.measured})`).join('; ')}` : ''}`,
          );
          for (const r of failed) report.failures[r.objective] = (report.failures[r.objective] ?? 0) + 1;
          const over = failed.find((r) => report.failures[r.objective]! > o.failureLimit);
          if (over) {
            const n = report.failures[over.objective]!;
            return finish(
              report,
              'fail',
              `${rowShort(over)}${looks > 1 ? ` (failed ${n} time${n > 1 ? 's' : ''}, failure-limit ${o.failureLimit}, at look ${i} of ${looks})` : ''}`,
              elapsed(),
            );
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
            return finish(
              report,
              'fail',
              `failing closed: the provider failed ${consecutiveErrors} time${consecutiveErrors > 1 ? 's' : ''} in a row (error-limit ${o.errorLimit}): ${msg}`,
              elapsed(),
            );
          }
          if (!final) break;
          await sleep(retryDelay, signal);
        }
      }
    }
  } finally {
    for (const src of started) await src.stop?.();
    for (const [src, key] of [
      [cur, 'probe'],
      [base, 'baselineProbe'],
    ] as const) {
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
    return finish(
      report,
      'inconclusive',
      `the last measurement failed (${rowShort(f)}); failure-limit ${o.failureLimit} tolerates it, but a pass needs a passing last measurement`,
      elapsed(),
    );
  }
  const inc = rows.filter((r) => r.verdict === 'inconclusive');
  const needed = Math.max(0, ...inc.map((r) => r.samplesNeeded ?? 0));
  return finish(
    report,
    'inconclusive',
    `not enough evidence${window}: ${inc.map(rowShort).join('; ')}${needed ? ` — about ${needed.toLocaleString('en-US')} requests would decide` : ''}`,
    elapsed(),
  );
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
      if (attempt >= o.errorLimit)
        return finish(report, 'fail', `failing closed: the provider failed ${attempt} times in a row (error-limit ${o.errorLimit}): ${msg}`, now() - t0);
      await sleep(o.retryDelayMs ?? 2_000, deps.signal);
    }
  }
  const base = { objective: `error budget (${slo.text})`, kind: 'budget' as const, threshold: 'budget left > 0%' };
  if (!counts || counts.total === 0) {
    // Only bad requests spend an error budget: with no requests over the window (a first deploy, a
    // new service) nothing is spent. Said as such, never as "no errors".
    const row: ObjectiveRow = {
      ...base,
      measured: 'no requests',
      samples: 0,
      nodata: true,
      verdict: 'pass',
      reason: `no requests over the SLO window ${formatWindow(slo.windowMs)}: none of the budget can have been spent (first deploy?)`,
    };
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
