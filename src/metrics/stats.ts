/**
 * The statistics behind the SLO gate, small and dependency-free:
 * normal distribution, Wilson score interval (and the samples a decision needs), exact binomial
 * CDF and distribution-free quantile bounds from order statistics, the two-proportion z-test and
 * the Mann-Whitney U test (exact for small samples without ties, normal approximation with tie
 * and continuity correction otherwise, as scipy.stats.mannwhitneyu does with method='auto').
 */

/** Standard normal CDF Φ(x) (W. J. Cody's rational approximation of erfc; ~1e-15 relative). */
export function normalCdf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x === Infinity) return 1;
  if (x === -Infinity) return 0;
  return 0.5 * erfc(-x / Math.SQRT2);
}

/** Complementary error function (Numerical Recipes' Chebyshev fit, refined; |error| < 1.2e-7 relative). */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 2 / (2 + z);
  const ty = 4 * t - 2;
  const cof = [
    -1.3026537197817094, 6.419697923564902e-1, 1.9476473204185836e-2, -9.561514786808631e-3, -9.46595344482036e-4, 3.66839497852761e-4, 4.2523324806907e-5,
    -2.0278578112534e-5, -1.624290004647e-6, 1.30365583558e-6, 1.5626441722e-8, -8.5238095915e-8, 6.529054439e-9, 5.059343495e-9, -9.91364156e-10,
    -2.27365122e-10, 9.6467911e-11, 2.394038e-12, -6.886027e-12, 8.94487e-13, 3.13092e-13, -1.12708e-13, 3.81e-16, 7.106e-15, -1.523e-15, -9.4e-17, 1.21e-16,
    -2.8e-17,
  ];
  let d = 0;
  let dd = 0;
  for (let j = cof.length - 1; j > 0; j--) {
    const tmp = d;
    d = ty * d - dd + cof[j]!;
    dd = tmp;
  }
  const r = t * Math.exp(-z * z + 0.5 * (cof[0]! + ty * d) - dd);
  return x >= 0 ? r : 2 - r;
}

/** Inverse standard normal CDF (Acklam's algorithm with one Halley refinement step). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) {
    if (p === 0) return -Infinity;
    if (p === 1) return Infinity;
    return NaN;
  }
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  let x: number;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  } else if (p <= 1 - lo) {
    const q = p - 0.5;
    const r = q * q;
    x =
      ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
      (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x = -(((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  // Halley step
  const e = normalCdf(x) - p;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}

/** z for a two-sided interval at this confidence (0.95 → 1.96). */
export function zFor(confidence: number): number {
  return normalQuantile(1 - (1 - confidence) / 2);
}

/**
 * Per-look confidence when a decision is taken `looks` times (Bonferroni): the chance of any wrong
 * decision over all looks stays at most 1 − confidence.
 */
export function bonferroni(confidence: number, looks: number): number {
  return 1 - (1 - confidence) / Math.max(1, looks);
}

export interface Interval {
  lower: number;
  upper: number;
}

/** Wilson score interval for `successes` out of `n` at a two-sided confidence (no continuity correction). */
export function wilson(successes: number, n: number, confidence = 0.95): Interval {
  if (n <= 0) return { lower: 0, upper: 1 };
  const z = zFor(confidence);
  const p = Math.min(1, Math.max(0, successes / n));
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // At 0 (or n) successes the bound is exactly 0 (or 1); floating point would leave 4e-17.
  return { lower: successes <= 0 ? 0 : Math.max(0, center - half), upper: successes >= n ? 1 : Math.min(1, center + half) };
}

export type Decision = 'pass' | 'fail' | 'inconclusive';

/**
 * Judges "true ratio ≤ threshold" from counts: pass when the interval's upper bound is below the
 * threshold, fail when its lower bound is above it, otherwise inconclusive.
 */
export function judgeRatio(events: number, n: number, threshold: number, confidence: number): { decision: Decision; interval: Interval } {
  const interval = wilson(events, n, confidence);
  if (n > 0 && interval.upper < threshold) return { decision: 'pass', interval };
  if (n > 0 && interval.lower > threshold) return { decision: 'fail', interval };
  return { decision: 'inconclusive', interval };
}

/**
 * About how many samples a decision needs if the observed ratio holds: the smallest n for which
 * the Wilson interval around `ratio` clears the threshold (upper bound below it when the ratio is
 * below, lower bound above it when above). Infinity when the ratio equals the threshold.
 */
export function samplesNeeded(ratio: number, threshold: number, confidence: number, max = 1e9): number {
  const p = Math.min(1, Math.max(0, ratio));
  if (p === threshold) return Infinity;
  const clears = (n: number) => {
    const i = wilson(p * n, n, confidence);
    return p < threshold ? i.upper < threshold : i.lower > threshold;
  };
  let hi = 1;
  while (!clears(hi)) {
    hi *= 2;
    if (hi > max) return Infinity;
  }
  let lo = Math.floor(hi / 2);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (clears(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** ln Γ(x) (Lanczos, g=7, n=9). */
export function logGamma(x: number): number {
  const g = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
    9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const xx = x - 1;
  let a = g[0]!;
  const t = xx + 7.5;
  for (let i = 1; i < 9; i++) a += g[i]! / (xx + i);
  return 0.5 * Math.log(2 * Math.PI) + (xx + 0.5) * Math.log(t) - t + Math.log(a);
}

/** P(X ≤ k) for X ~ Binomial(n, p), summed exactly in log space. */
export function binomialCdf(k: number, n: number, p: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  if (p <= 0) return 1;
  if (p >= 1) return 0;
  const lp = Math.log(p);
  const lq = Math.log1p(-p);
  const lnN = logGamma(n + 1);
  let sum = 0;
  for (let i = 0; i <= k; i++) sum += Math.exp(lnN - logGamma(i + 1) - logGamma(n - i + 1) + i * lp + (n - i) * lq);
  return Math.min(1, sum);
}

export interface QuantileBounds {
  /** The sample quantile (order statistic ⌈n·q⌉). */
  estimate: number;
  /** x(l): at or below the true quantile with probability ≥ 1 − α/2 (−Infinity when n is too small). */
  lower: number;
  /** x(u): at or above the true quantile with probability ≥ 1 − α/2 (Infinity when n is too small). */
  upper: number;
  n: number;
}

/** Precomputed CDF of Binomial(n, q) for k = 0..n (log-space pmf, running sum). */
function binomialCdfTable(n: number, q: number): Float64Array {
  const out = new Float64Array(n + 1);
  const lp = Math.log(q);
  const lq = Math.log1p(-q);
  const lnN = logGamma(n + 1);
  let sum = 0;
  for (let i = 0; i <= n; i++) {
    sum += Math.exp(lnN - logGamma(i + 1) - logGamma(n - i + 1) + i * lp + (n - i) * lq);
    out[i] = Math.min(1, sum);
  }
  return out;
}

/**
 * Distribution-free confidence bounds on the q-quantile from order statistics: no assumption on
 * the shape of the latency distribution. With sorted samples x(1) ≤ … ≤ x(n) and B ~ Binomial(n, q),
 * P(x(k) ≥ ξq) = P(B ≤ k − 1): the upper bound is the smallest such k with P ≥ 1 − α/2, the lower
 * the largest k with P(B ≥ k) ≥ 1 − α/2. `sorted` must be ascending.
 */
export function quantileBounds(sorted: readonly number[], q: number, confidence = 0.95): QuantileBounds {
  const n = sorted.length;
  if (n === 0) return { estimate: NaN, lower: -Infinity, upper: Infinity, n };
  const tail = (1 - confidence) / 2;
  const cdf = binomialCdfTable(n, q);
  const estimate = sorted[Math.min(n, Math.max(1, Math.ceil(n * q))) - 1]!;
  let upper = Infinity;
  for (let k = 1; k <= n; k++) {
    if (cdf[k - 1]! >= 1 - tail) {
      upper = sorted[k - 1]!;
      break;
    }
  }
  let lower = -Infinity;
  for (let k = n; k >= 1; k--) {
    // P(B ≥ k) = 1 − P(B ≤ k − 1)
    if (1 - cdf[k - 1]! >= 1 - tail) {
      lower = sorted[k - 1]!;
      break;
    }
  }
  return { estimate, lower, upper, n };
}

/** Type 7 sample quantile (linear interpolation; numpy's default). `sorted` ascending. */
export function sampleQuantile(sorted: readonly number[], q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const a = sorted[lo]!;
  const b = sorted[Math.min(n - 1, lo + 1)]!;
  return b === a ? a : a + (h - lo) * (b - a);
}

export interface TestResult {
  statistic: number;
  /** One-sided p-value of the alternative "the new one is worse". */
  pValue: number;
}

/**
 * Two-proportion z-test, one-sided: is the new ratio above the baseline's by more than `margin`?
 * H0: pNew − pBase ≤ margin. With margin 0 the pooled standard error is used (the textbook test),
 * otherwise the unpooled one (a non-inferiority test).
 */
export function twoProportionTest(eventsNew: number, nNew: number, eventsBase: number, nBase: number, margin = 0): TestResult {
  if (nNew <= 0 || nBase <= 0) return { statistic: NaN, pValue: NaN };
  const p1 = eventsNew / nNew;
  const p2 = eventsBase / nBase;
  let se: number;
  if (margin === 0) {
    const pooled = (eventsNew + eventsBase) / (nNew + nBase);
    se = Math.sqrt(pooled * (1 - pooled) * (1 / nNew + 1 / nBase));
  } else {
    se = Math.sqrt((p1 * (1 - p1)) / nNew + (p2 * (1 - p2)) / nBase);
  }
  const diff = p1 - p2 - margin;
  if (se === 0) return { statistic: diff > 0 ? Infinity : diff < 0 ? -Infinity : 0, pValue: diff > 0 ? 0 : 1 };
  const z = diff / se;
  return { statistic: z, pValue: 1 - normalCdf(z) };
}

export interface MannWhitneyResult extends TestResult {
  /** U of the first sample (the new version): pairs where new > base, ties count one half. */
  u: number;
  method: 'exact' | 'asymptotic';
  /** P(new > base) + ½ P(tie) = U / (n1·n2): 0.5 means no difference. */
  effect: number;
}

/** Grouped data: distinct values with how many observations each has (a histogram's buckets). */
export interface Grouped {
  value: number;
  count: number;
}

function group(values: readonly number[]): Grouped[] {
  const sorted = [...values].sort((a, b) => a - b);
  const out: Grouped[] = [];
  for (const v of sorted) {
    const last = out[out.length - 1];
    if (last && last.value === v) last.count++;
    else out.push({ value: v, count: 1 });
  }
  return out;
}

/**
 * Mann-Whitney U test, alternative "x (new) is stochastically greater than y (baseline)".
 * Accepts raw samples or grouped data (histogram buckets: every observation in a bucket is a tie).
 * Exact distribution when there are no ties and the smaller sample has at most 8 observations
 * (as scipy's method='auto'), otherwise the normal approximation with tie correction and
 * continuity correction.
 */
export function mannWhitney(x: readonly number[] | readonly Grouped[], y: readonly number[] | readonly Grouped[]): MannWhitneyResult {
  const gx = toGrouped(x);
  const gy = toGrouped(y);
  const n1 = gx.reduce((s, g) => s + g.count, 0);
  const n2 = gy.reduce((s, g) => s + g.count, 0);
  if (n1 === 0 || n2 === 0) return { u: NaN, statistic: NaN, pValue: NaN, method: 'asymptotic', effect: NaN };
  // Merge the two grouped lists by value; average ranks per distinct value.
  const values = [...new Set([...gx.map((g) => g.value), ...gy.map((g) => g.value)])].sort((a, b) => a - b);
  const cx = new Map<number, number>();
  const cy = new Map<number, number>();
  for (const g of gx) cx.set(g.value, (cx.get(g.value) ?? 0) + g.count);
  for (const g of gy) cy.set(g.value, (cy.get(g.value) ?? 0) + g.count);
  let rank = 0;
  let r1 = 0;
  let tieSum = 0;
  let ties = false;
  for (const v of values) {
    const a = cx.get(v) ?? 0;
    const b = cy.get(v) ?? 0;
    const t = a + b;
    const avg = rank + (t + 1) / 2;
    r1 += a * avg;
    rank += t;
    if (t > 1) {
      ties = true;
      tieSum += t * t * t - t;
    }
  }
  const u = r1 - (n1 * (n1 + 1)) / 2;
  const effect = u / (n1 * n2);
  if (!ties && Math.min(n1, n2) <= 8) {
    const pValue = exactUpperTail(n1, n2, u);
    return { u, statistic: u, pValue, method: 'exact', effect };
  }
  const n = n1 + n2;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieSum / (n * (n - 1)));
  if (variance <= 0) return { u, statistic: 0, pValue: 1, method: 'asymptotic', effect };
  const z = (u - mean - 0.5) / Math.sqrt(variance);
  return { u, statistic: z, pValue: 1 - normalCdf(z), method: 'asymptotic', effect };
}

function toGrouped(v: readonly number[] | readonly Grouped[]): Grouped[] {
  if (v.length === 0) return [];
  return typeof v[0] === 'number' ? group(v as number[]) : (v as Grouped[]).filter((g) => g.count > 0);
}

/**
 * P(U ≥ u) under H0 for sample sizes m, n without ties: the counts of U are the coefficients of the
 * Gaussian binomial [m+n choose m]_q = Π_{i=1..m} (1 − q^(n+i)) / (1 − q^i).
 */
function exactUpperTail(m: number, n: number, u: number): number {
  const small = Math.min(m, n);
  const big = Math.max(m, n);
  const size = small * big + 1;
  let poly = new Float64Array(size);
  poly[0] = 1;
  for (let i = 1; i <= small; i++) {
    // multiply by (1 − q^(big+i))
    const shift = big + i;
    const next = new Float64Array(size);
    for (let k = 0; k < size; k++) {
      next[k] = poly[k]! - (k >= shift ? poly[k - shift]! : 0);
    }
    // divide by (1 − q^i): c[k] += c[k − i]
    for (let k = i; k < size; k++) next[k] = next[k]! + next[k - i]!;
    poly = next;
  }
  let total = 0;
  let tail = 0;
  const cut = Math.ceil(u - 1e-9);
  for (let k = 0; k < size; k++) {
    total += poly[k]!;
    if (k >= cut) tail += poly[k]!;
  }
  return Math.min(1, tail / total);
}
