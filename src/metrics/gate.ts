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
import { redactUrl } from '../lib/secrets.ts';
import { parseObjectives, type Objective } from './objectives.ts';
import { Probe } from './probe.ts';
import { DEFAULT_METRICS, PrometheusClient, type CustomQueries, type PrometheusSourceOptions, type StandardMetrics } from './prometheus.ts';
import type { Verdict } from './judge.ts';
import { probeSource, prometheusSource, type Source } from './sources.ts';
import { analyze, checkBudget, type AnalysisOptions, type GateDeps, type SloReport } from './analysis.ts';

export { parseObjectives } from './objectives.ts';
export type { Objective } from './objectives.ts';
// The gate's parts, by job: judge one look, where numbers come from, the analysis over time, the summary.
export * from './judge.ts';
export * from './sources.ts';
export * from './analysis.ts';
export * from './render.ts';

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
  if (opts.provider === 'probe' && mode === 'gate' && durationMs <= 0)
    throw new UserError('slo-gate: the probe needs a duration (how long to send traffic), for example 30s');
  if (durationMs > 0 && intervalMs > durationMs)
    throw new UserError(`slo-gate: interval ${formatDuration(intervalMs)} is longer than duration ${formatDuration(durationMs)}`);
  const confidence = opts.confidence ?? GATE_DEFAULTS.confidence;
  if (!(confidence > 0.5 && confidence < 1)) throw new UserError('slo-gate: confidence must be between 50% and 100% (exclusive), for example 95%');
  const errorLimit = opts.errorLimit ?? GATE_DEFAULTS.errorLimit;
  if (errorLimit < 1) throw new UserError('slo-gate: error-limit must be at least 1');
  if (mode === 'budget' && opts.provider !== 'prometheus')
    throw new UserError('slo-gate: mode budget needs the prometheus provider (the probe cannot see a 30-day window)');
  if (mode === 'budget' && !objectives.some((x) => x.kind === 'slo'))
    throw new UserError('slo-gate: mode budget needs an SLO objective, for example "slo: 99.5%" and "window: 30d"');
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
      client: new PrometheusClient({
        url: p.url,
        token: p.token,
        username: p.username,
        password: p.password,
        timeoutMs: p.timeoutMs,
        retries: p.retries,
        headers: p.headers,
        http: options.http,
      }),
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
