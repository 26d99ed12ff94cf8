import { describe, expect, it } from 'vitest';
import {
  binomialCdf,
  bonferroni,
  judgeRatio,
  mannWhitney,
  normalCdf,
  normalQuantile,
  quantileBounds,
  samplesNeeded,
  twoProportionTest,
  wilson,
} from '../../../src/metrics/stats.ts';

// Reference values from scipy 1.17 (scipy.stats.norm, binom, mannwhitneyu) and the Wilson formula.
describe('normal distribution', () => {
  it('matches scipy.stats.norm.cdf and ppf', () => {
    expect(normalCdf(-5)).toBeCloseTo(2.866515718791933e-7, 15);
    expect(normalCdf(-1.96)).toBeCloseTo(0.024997895148220435, 12);
    expect(normalCdf(0.5)).toBeCloseTo(0.6914624612740131, 12);
    expect(normalCdf(3)).toBeCloseTo(0.9986501019683699, 12);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232306167813, 9);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 9);
    expect(normalQuantile(0.995)).toBeCloseTo(2.5758293035489004, 9);
  });
});

describe('Wilson score interval', () => {
  it('matches the closed form', () => {
    const a = wilson(0, 50, 0.95);
    expect(a.lower).toBe(0);
    expect(a.upper).toBeCloseTo(0.07134759913335872, 10);
    const b = wilson(5, 100, 0.95);
    expect(b.lower).toBeCloseTo(0.02154367915436796, 10);
    expect(b.upper).toBeCloseTo(0.11175046923191913, 10);
    const c = wilson(20, 1000, 0.99);
    expect(c.lower).toBeCloseTo(0.011365615058525026, 10);
    expect(c.upper).toBeCloseTo(0.03496190324874553, 10);
  });

  it('0 errors in 50 requests does not prove an error ratio under 1%', () => {
    expect(judgeRatio(0, 50, 0.01, 0.95).decision).toBe('inconclusive');
    // z²(1 − t)/t = 3.8415 × 99 = 380.3: 381 error-free requests are the least that pass.
    expect(samplesNeeded(0, 0.01, 0.95)).toBe(381);
    expect(judgeRatio(0, 381, 0.01, 0.95).decision).toBe('pass');
    expect(judgeRatio(0, 380, 0.01, 0.95).decision).toBe('inconclusive');
  });

  it('fails only when the lower bound is above the threshold', () => {
    expect(judgeRatio(5, 100, 0.01, 0.95).decision).toBe('fail'); // lower 2.15% > 1%
    expect(judgeRatio(2, 100, 0.01, 0.95).decision).toBe('inconclusive');
    expect(judgeRatio(0, 0, 0.01, 0.95).decision).toBe('inconclusive');
  });

  it('needs more samples the closer the ratio is to the threshold, and more with Bonferroni', () => {
    const far = samplesNeeded(0.001, 0.01, 0.95);
    const near = samplesNeeded(0.008, 0.01, 0.95);
    expect(near).toBeGreaterThan(far);
    expect(samplesNeeded(0.02, 0.01, 0.95)).toBeGreaterThan(0);
    expect(samplesNeeded(0.01, 0.01, 0.95)).toBe(Infinity);
    expect(bonferroni(0.95, 10)).toBeCloseTo(0.995, 12);
    expect(samplesNeeded(0, 0.01, bonferroni(0.95, 10))).toBeGreaterThan(381);
  });
});

describe('binomial and quantile bounds', () => {
  it('binomial CDF matches scipy.stats.binom.cdf', () => {
    expect(binomialCdf(3, 10, 0.5)).toBeCloseTo(0.171875, 12);
    expect(binomialCdf(5, 500, 0.01)).toBeCloseTo(0.6159621318214527, 9);
    expect(binomialCdf(990, 1000, 0.99)).toBeCloseTo(0.5426994078251104, 9);
  });

  it('uses the order statistics scipy gives (no distribution assumed)', () => {
    const s = (n: number) => Array.from({ length: n }, (_, i) => i + 1); // x(k) = k
    expect(quantileBounds(s(1000), 0.99, 0.95)).toMatchObject({ lower: 983, upper: 997, estimate: 990 });
    expect(quantileBounds(s(400), 0.5, 0.95)).toMatchObject({ lower: 180, upper: 221 });
    // 100 samples cannot bound p99 from above: even the maximum is below it with probability 0.37.
    expect(quantileBounds(s(100), 0.99, 0.95)).toMatchObject({ lower: 97, upper: Infinity });
    // 1 − 0.99^n ≥ 0.975 first holds at n = 368.
    expect(quantileBounds(s(367), 0.99, 0.95).upper).toBe(Infinity);
    expect(quantileBounds(s(368), 0.99, 0.95).upper).toBe(368);
  });
});

describe('Mann-Whitney U', () => {
  it('exact p-values for small samples without ties (scipy method=auto)', () => {
    const r = mannWhitney([19, 22, 16, 29, 24], [20, 11, 17, 12]);
    expect(r.method).toBe('exact');
    expect(r.u).toBe(17);
    expect(r.pValue).toBeCloseTo(0.05555555555555555, 12);
    expect(mannWhitney([6, 7, 8, 9, 10], [1, 2, 3, 4, 5]).pValue).toBeCloseTo(0.003968253968253968, 12); // 1 / C(10,5)
    expect(mannWhitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]).pValue).toBe(1);
  });

  it('normal approximation with tie and continuity correction', () => {
    const x = [1.83, 0.5, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.3];
    const y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29];
    const r = mannWhitney(x, y);
    expect(r.method).toBe('asymptotic');
    expect(r.u).toBe(58);
    expect(r.pValue).toBeCloseTo(0.06645972909265946, 8);
    const c = [1, 1, 2, 2, 2, 3, 3, 4, 5, 5, 5, 5, 6];
    const d = [1, 2, 2, 3, 3, 3, 4, 4, 4, 4, 5, 6, 6, 6, 7, 7];
    expect(mannWhitney(c, d)).toMatchObject({ u: 78.5 });
    expect(mannWhitney(c, d).pValue).toBeCloseTo(0.8756994141803904, 8);
    expect(mannWhitney(d, c).pValue).toBeCloseTo(0.13363345956831552, 8);
  });

  it('grouped data (histogram buckets) gives the same answer as the raw ties', () => {
    const c = [1, 1, 2, 2, 2, 3, 3, 4, 5, 5, 5, 5, 6];
    const d = [1, 2, 2, 3, 3, 3, 4, 4, 4, 4, 5, 6, 6, 6, 7, 7];
    const g = (v: number[]) => [...new Set(v)].map((value) => ({ value, count: v.filter((x) => x === value).length }));
    expect(mannWhitney(g(d), g(c)).pValue).toBeCloseTo(mannWhitney(d, c).pValue, 12);
  });
});

describe('two-proportion z-test', () => {
  it('pooled test matches the textbook formula', () => {
    const r = twoProportionTest(20, 1000, 5, 1000);
    expect(r.statistic).toBeCloseTo(3.018927632559765, 10);
    expect(r.pValue).toBeCloseTo(0.0012683555874842517, 10);
  });

  it('a tolerance margin makes a small difference acceptable', () => {
    expect(twoProportionTest(20, 1000, 5, 1000, 0.02).pValue).toBeGreaterThan(0.5);
    expect(twoProportionTest(0, 100, 0, 100).pValue).toBe(1);
  });
});
