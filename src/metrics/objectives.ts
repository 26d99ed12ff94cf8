/**
 * The objectives grammar, shared by the slo-gate inputs, slipway.yml and deploy-rolling:
 *
 *   error-ratio <= 1%          errors (5xx and failed requests) over all requests
 *   p99 <= 1s                  a latency quantile (p50, p95, p99, p99.9 …)
 *   p95 <= 300ms
 *   slo: 99.5%                 an SLO: the share of good requests over its window
 *   slo: 99.5% under 300ms     … where good = not an error and faster than 300ms
 *   window: 30d                the SLO's window (default 30d)
 *   burn-rate: 14.4@1h/5m, 6@6h/30m   multiwindow burn-rate pairs (these are the defaults)
 *
 * Entries are separated by new lines or `;` (or commas between entries). `#` starts a comment.
 * An empty text means the defaults: `error-ratio <= 1%` and `p99 <= 1s`.
 */
import { UserError, showValue } from '../lib/errors.ts';
import { formatPercent, parseDuration } from '../lib/duration.ts';

export interface BurnRatePair {
  /** Burn-rate threshold: the error ratio divided by the error budget (1 − SLO). */
  factor: number;
  longMs: number;
  shortMs: number;
}

export type Objective =
  | { kind: 'error-ratio'; max: number; text: string }
  | { kind: 'latency'; quantile: number; maxMs: number; text: string }
  | { kind: 'slo'; target: number; windowMs: number; latencyMs?: number; burnRates: BurnRatePair[]; text: string };

/** A window as Prometheus writes it and people read it: 30d, 6h, 5m, 90s, 1500ms. */
export function formatWindow(ms: number): string {
  const units: [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  if (ms <= 0 || !Number.isFinite(ms)) return `${Math.max(0, Math.round(ms))}ms`;
  for (const [u, size] of units) if (ms % size === 0) return `${ms / size}${u}`;
  return `${Math.round(ms)}ms`;
}

/** A latency for people: 300ms, 1s, 1.5s. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return ms > 0 ? '∞' : String(ms);
  if (ms < 1000) return `${+ms.toFixed(ms < 10 ? 2 : ms < 100 ? 1 : 0)}ms`;
  return `${+(ms / 1000).toFixed(ms < 10_000 ? 3 : 1)}s`;
}

export const DEFAULT_OBJECTIVES_TEXT = 'error-ratio <= 1%\np99 <= 1s';
export const DEFAULT_SLO_WINDOW_MS = 30 * 86_400_000;
/** The SRE workbook's multiwindow, multi-burn-rate pairs for paging. */
export const DEFAULT_BURN_RATES: BurnRatePair[] = [
  { factor: 14.4, longMs: 3_600_000, shortMs: 300_000 },
  { factor: 6, longMs: 6 * 3_600_000, shortMs: 30 * 60_000 },
];

export const OBJECTIVES_HELP =
  'objectives such as "error-ratio <= 1%", "p99 <= 1s", "p95 <= 300ms", "slo: 99.5%" with "window: 30d" (one per line or separated by ;)';

function fail(entry: string, why: string): never {
  throw new UserError(`objective ${showValue(entry, 80)}: ${why}`);
}

function percent(entry: string, text: string, what: string): number {
  const t = text.trim();
  if (t.startsWith('-')) fail(entry, `${what} cannot be negative`);
  const m = /^(\d+(?:\.\d+)?)\s*%$/.exec(t);
  if (!m) fail(entry, `${what} ${showValue(t, 40)} is not a percentage like 1% or 0.5%`);
  const v = Number(m[1]);
  if (v > 100) fail(entry, `${what} ${t} is over 100%`);
  return Number((v / 100).toFixed(10));
}

function duration(entry: string, text: string, what: string): number {
  const t = text.trim();
  if (t.startsWith('-')) fail(entry, `${what} cannot be negative (got ${t})`);
  let ms: number;
  try {
    ms = parseDuration(t);
  } catch {
    fail(entry, `${what} ${showValue(t, 40)} is not a duration like 300ms, 1s or 30d`);
  }
  return ms;
}

const OPERATOR = /^\s*(<=|<|=<|≤)\s*(.+)$/;

function upperLimit(entry: string, rest: string): string {
  const m = OPERATOR.exec(rest);
  if (m) return m[2]!;
  if (/^\s*(>=|>|=|==)/.test(rest)) fail(entry, 'objectives are upper limits: write <= (for example error-ratio <= 1%)');
  fail(entry, 'missing <= and a limit');
}

function parseBurnRates(entry: string, text: string): BurnRatePair[] {
  const pairs = text.split(/[,\s]+/).filter(Boolean);
  if (pairs.length === 0) fail(entry, 'no burn-rate pairs');
  return pairs.map((p) => {
    const m = /^(\d+(?:\.\d+)?)@([^/]+)\/(.+)$/.exec(p);
    if (!m) fail(entry, `burn-rate pair ${showValue(p, 40)} is not like 14.4@1h/5m (factor@long-window/short-window)`);
    const factor = Number(m[1]);
    if (!(factor > 0)) fail(entry, 'a burn-rate factor must be more than 0');
    const longMs = duration(entry, m[2]!, 'long window');
    const shortMs = duration(entry, m[3]!, 'short window');
    if (shortMs <= 0 || longMs <= 0) fail(entry, 'burn-rate windows must be longer than 0');
    if (shortMs >= longMs) fail(entry, `the short window (${m[3]}) must be shorter than the long one (${m[2]})`);
    return { factor, longMs, shortMs };
  });
}

/** Splits objective text into entries: new lines, `;`, or commas that start a new entry. */
export function objectiveEntries(text: string): string[] {
  return text
    .split(/\r?\n|;|,(?=\s*[a-zA-Z])/)
    .map((l) =>
      l
        .replace(/#.*$/, '')
        .replace(/^\s*-\s+/, '')
        .trim(),
    )
    .filter(Boolean);
}

/**
 * Parses objectives text. Throws UserError naming the entry and what is wrong
 * (`p101`, unknown objectives, negative durations, `window` without `slo` …).
 */
export function parseObjectives(text: string): Objective[] {
  const entries = objectiveEntries(text ?? '');
  if (entries.length === 0) return parseObjectives(DEFAULT_OBJECTIVES_TEXT);
  const out: Objective[] = [];
  let slo: Extract<Objective, { kind: 'slo' }> | undefined;
  let windowMs: number | undefined;
  let burnRates: BurnRatePair[] | undefined;
  const seen = new Set<string>();
  const once = (entry: string, key: string) => {
    if (seen.has(key)) fail(entry, `${key} is given twice`);
    seen.add(key);
  };
  for (const entry of entries) {
    const lower = entry.toLowerCase();
    let m: RegExpExecArray | null;
    if ((m = /^(error[-_ ]?(?:ratio|rate))\b(.*)$/.exec(lower))) {
      once(entry, 'error-ratio');
      const max = percent(entry, upperLimit(entry, m[2]!), 'the error ratio');
      out.push({ kind: 'error-ratio', max, text: `error-ratio <= ${formatPercent(max, 4)}` });
    } else if ((m = /^p(-?\d+(?:\.\d+)?)(?![\w.])(.*)$/.exec(lower))) {
      const q = Number(m[1]);
      if (!(q > 0 && q < 100)) fail(entry, `p${m[1]} is not a quantile: use p1 to p99.99 (p50, p95, p99, p99.9)`);
      once(entry, `p${q}`);
      const maxMs = duration(entry, upperLimit(entry, m[2]!), `p${q}`);
      if (maxMs <= 0) fail(entry, `the p${q} limit must be more than 0`);
      out.push({ kind: 'latency', quantile: Number((q / 100).toFixed(8)), maxMs, text: `p${q} <= ${formatMs(maxMs)}` });
    } else if ((m = /^slo\s*(?::|>=|=)\s*(.+)$/.exec(lower))) {
      once(entry, 'slo');
      const body = m[1]!.trim();
      const parts = /^([^\s]+%)(?:\s+(?:under|below|<|<=)\s+(.+))?$/.exec(body.replace(/\s+%/, '%'));
      if (!parts) fail(entry, 'write slo: 99.5% (optionally "slo: 99.5% under 300ms")');
      const target = percent(entry, parts[1]!, 'the SLO');
      if (!(target > 0 && target < 1)) fail(entry, 'an SLO must be between 0% and 100% (exclusive), for example 99.5%');
      const latencyMs = parts[2] !== undefined ? duration(entry, parts[2], 'the SLO latency') : undefined;
      if (latencyMs !== undefined && latencyMs <= 0) fail(entry, 'the SLO latency must be more than 0');
      slo = { kind: 'slo', target, windowMs: DEFAULT_SLO_WINDOW_MS, latencyMs, burnRates: DEFAULT_BURN_RATES, text: '' };
      out.push(slo);
    } else if ((m = /^(?:window|slo-window)\s*:\s*(.+)$/.exec(lower))) {
      once(entry, 'window');
      windowMs = duration(entry, m[1]!, 'the SLO window');
      if (windowMs % 1000 !== 0) fail(entry, 'the SLO window must be whole seconds');
      if (windowMs < 60_000) fail(entry, 'the SLO window must be at least 1m (usually 28d or 30d)');
    } else if ((m = /^burn[-_ ]?rates?\s*:\s*(.+)$/.exec(lower))) {
      once(entry, 'burn-rate');
      burnRates = parseBurnRates(entry, m[1]!);
    } else {
      const word = /^[a-z][\w-]*/.exec(lower)?.[0];
      fail(entry, word ? `unknown objective ${showValue(word, 40)} (known: error-ratio, p<N>, slo, window, burn-rate)` : 'not an objective');
    }
  }
  if (!slo && windowMs !== undefined) throw new UserError(`objective "window: ${formatWindow(windowMs)}" needs an SLO: add a line like "slo: 99.5%"`);
  if (!slo && burnRates !== undefined) throw new UserError('objective "burn-rate" needs an SLO: add a line like "slo: 99.5%"');
  if (slo) {
    if (windowMs !== undefined) slo.windowMs = windowMs;
    if (burnRates) {
      for (const p of burnRates) {
        if (p.longMs > slo.windowMs)
          throw new UserError(`burn-rate window ${formatWindow(p.longMs)} is longer than the SLO window ${formatWindow(slo.windowMs)}`);
      }
      slo.burnRates = burnRates;
    } else {
      // The default pairs that fit a short SLO window (a 30d or 28d window keeps both).
      slo.burnRates = DEFAULT_BURN_RATES.filter((p) => p.longMs <= slo!.windowMs);
    }
    slo.text = `slo ${formatPercent(slo.target, 4)}${slo.latencyMs !== undefined ? ` under ${formatMs(slo.latencyMs)}` : ''} over ${formatWindow(slo.windowMs)}`;
  }
  return out;
}

/** A short name for an objective, for tables and logs. */
export function objectiveName(o: Objective): string {
  if (o.kind === 'error-ratio') return 'error ratio';
  if (o.kind === 'latency') return `p${+(o.quantile * 100).toFixed(4)}`;
  return `SLO ${formatPercent(o.target, 4)}`;
}
