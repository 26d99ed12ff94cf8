import { describe, expect, it } from 'vitest';
import { formatDuration, formatPercent, parseDuration, parsePercent } from '../../../src/lib/duration.ts';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500], ['90s', 90_000], ['2m', 120_000], ['1h30m', 5_400_000], ['7d', 604_800_000], ['1.5s', 1500], ['30', 30_000], ['0', 0], [' 10s ', 10_000],
  ])('%s → %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', 'abc', '-5s', '10 s', '5x', '1h 30m', 's', '10s5'])('rejects %j with the value in the message', (text) => {
    expect(() => parseDuration(text)).toThrow(/not a duration/);
  });
});

describe('parsePercent', () => {
  it.each([['25%', 0.25], ['0.5%', 0.005], ['100%', 1], ['0%', 0]])('%s → %d', (t, v) => expect(parsePercent(t)).toBeCloseTo(v));
  it.each(['150%', '25', '%', '-1%', 'abc%'])('rejects %j', (t) => expect(() => parsePercent(t)).toThrow(/percentage/));
});

describe('formatting', () => {
  it('formats durations a person reads', () => {
    expect(formatDuration(250)).toBe('250ms');
    expect(formatDuration(3100)).toBe('3.10s');
    expect(formatDuration(95_000)).toBe('1m35s');
    expect(formatDuration(3_600_000)).toBe('1h');
  });
  it('formats percentages without trailing zeros', () => {
    expect(formatPercent(0.01)).toBe('1%');
    expect(formatPercent(0.0125)).toBe('1.25%');
  });
});
