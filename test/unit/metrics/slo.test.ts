import { describe, expect, it } from 'vitest';
import { burnRate, burnWindows, errorBudget, evaluateBurnPair } from '../../../src/metrics/slo.ts';
import { DEFAULT_BURN_RATES } from '../../../src/metrics/objectives.ts';

const pair = DEFAULT_BURN_RATES[0]!; // 14.4 over 1h and 5m

describe('burn rates', () => {
  it('is the error ratio divided by the error budget', () => {
    expect(burnRate(0.005, 0.995)).toBeCloseTo(1, 12);
    expect(burnRate(0.072, 0.995)).toBeCloseTo(14.4, 9);
  });

  it('fires only when both windows of a pair burn faster than its factor', () => {
    // SLO 99.5%: 14.4× = 7.2% errors
    const both = evaluateBurnPair(pair, 0.995, { good: 900, total: 1000 }, { good: 80, total: 100 });
    expect(both).toMatchObject({ firing: true, nodata: false });
    expect(both.long.burn).toBeCloseTo(20, 9);
    expect(both.short.burn).toBeCloseTo(40, 9);
    // a past spike: the long window is high, the short one has recovered
    expect(evaluateBurnPair(pair, 0.995, { good: 900, total: 1000 }, { good: 100, total: 100 }).firing).toBe(false);
    // a fresh spike: only the short window is high
    expect(evaluateBurnPair(pair, 0.995, { good: 990, total: 1000 }, { good: 80, total: 100 }).firing).toBe(false);
    // exactly at the factor does not fire
    expect(evaluateBurnPair(pair, 0.995, { good: 928, total: 1000 }, { good: 928, total: 1000 }).firing).toBe(false);
  });

  it('no requests in the long window is no data; none in the short window burns nothing', () => {
    expect(evaluateBurnPair(pair, 0.995, undefined, undefined)).toMatchObject({ nodata: true, firing: false });
    expect(evaluateBurnPair(pair, 0.995, { good: 0, total: 0 }, undefined)).toMatchObject({ nodata: true });
    expect(evaluateBurnPair(pair, 0.995, { good: 0, total: 100 }, { good: 0, total: 0 })).toMatchObject({ nodata: false, firing: false });
  });

  it('lists each window once, longest first', () => {
    expect(burnWindows(DEFAULT_BURN_RATES)).toEqual([21_600_000, 3_600_000, 1_800_000, 300_000]);
  });
});

describe('error budget', () => {
  it('is the share of allowed bad requests not yet spent', () => {
    const b = errorBudget(0.995, 30 * 86_400_000, { good: 99_800, total: 100_000 });
    expect(b.allowedBad).toBeCloseTo(500, 9);
    expect(b.bad).toBe(200);
    expect(b.remaining).toBeCloseTo(0.6, 9);
    expect(b.spent).toBe(false);
  });

  it('is spent at or over the allowance', () => {
    expect(errorBudget(0.995, 1, { good: 99_500, total: 100_000 }).spent).toBe(true);
    const over = errorBudget(0.995, 1, { good: 99_000, total: 100_000 });
    expect(over.remaining).toBeCloseTo(-1, 9);
    expect(over.spent).toBe(true);
  });
});
