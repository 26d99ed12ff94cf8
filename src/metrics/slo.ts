/**
 * SLO arithmetic: error ratios, burn rates over multiwindow pairs (the SRE workbook's alerting
 * rule: a pair fires when both its long and its short window burn faster than its factor), and the
 * error budget left over the SLO window.
 */
import type { BurnRatePair } from './objectives.ts';
import { formatWindow } from './objectives.ts';

/** Good and total requests over a window (bad = total − good). */
export interface Counts {
  good: number;
  total: number;
}

export function badCount(c: Counts): number {
  return Math.max(0, c.total - c.good);
}

/** Bad ÷ total, or undefined without requests. */
export function errorRatio(c: Counts | undefined): number | undefined {
  if (!c || !(c.total > 0)) return undefined;
  return badCount(c) / c.total;
}

/** How many times faster than sustainable the budget burns: error ratio ÷ (1 − SLO). 1 = spent exactly at the window's end. */
export function burnRate(ratio: number, target: number): number {
  return ratio / (1 - target);
}

export interface WindowBurn {
  windowMs: number;
  counts?: Counts;
  ratio?: number;
  burn?: number;
}

export interface BurnPairResult {
  pair: BurnRatePair;
  long: WindowBurn;
  short: WindowBurn;
  /** Both windows burn faster than the factor. */
  firing: boolean;
  /** The long window has no requests: nothing to judge. */
  nodata: boolean;
  label: string;
}

function windowBurn(windowMs: number, counts: Counts | undefined, target: number): WindowBurn {
  const ratio = errorRatio(counts);
  return { windowMs, counts, ratio, burn: ratio === undefined ? undefined : burnRate(ratio, target) };
}

export function pairLabel(p: BurnRatePair): string {
  return `${p.factor}× over ${formatWindow(p.longMs)} and ${formatWindow(p.shortMs)}`;
}

/**
 * One multiwindow pair. A short window without requests burns nothing (no traffic spends no budget);
 * a long window without requests is no data.
 */
export function evaluateBurnPair(pair: BurnRatePair, target: number, long: Counts | undefined, short: Counts | undefined): BurnPairResult {
  const l = windowBurn(pair.longMs, long, target);
  const s = windowBurn(pair.shortMs, short, target);
  const nodata = l.burn === undefined;
  const firing = !nodata && l.burn! > pair.factor && (s.burn ?? 0) > pair.factor;
  return { pair, long: l, short: s, firing, nodata, label: pairLabel(pair) };
}

/** Every distinct window the pairs need, longest first. */
export function burnWindows(pairs: readonly BurnRatePair[]): number[] {
  return [...new Set(pairs.flatMap((p) => [p.longMs, p.shortMs]))].sort((a, b) => b - a);
}

export interface ErrorBudget {
  target: number;
  windowMs: number;
  total: number;
  bad: number;
  /** Bad requests the SLO allows over the window at this traffic: (1 − SLO) × total. */
  allowedBad: number;
  /** Share of the budget left: 1 − bad ÷ allowed (negative when overspent). */
  remaining: number;
  spent: boolean;
}

/** The error budget over the SLO window (error-budget policy: when it is spent, feature releases stop). */
export function errorBudget(target: number, windowMs: number, counts: Counts): ErrorBudget {
  const bad = badCount(counts);
  // 1 − 0.995 is 0.0050000000000000044 in floating point: round so "exactly spent" is spent.
  const allowedBad = Math.round((1 - target) * counts.total * 1e6) / 1e6;
  const remaining = allowedBad > 0 ? 1 - bad / allowedBad : bad > 0 ? -Infinity : 1;
  return { target, windowMs, total: counts.total, bad, allowedBad, remaining, spent: remaining <= 1e-12 };
}
