import { describe, expect, it } from 'vitest';
import { UserError } from '../../../src/lib/errors.ts';
import { DEFAULT_BURN_RATES, formatWindow, parseObjectives } from '../../../src/metrics/objectives.ts';

const err = (text: string) => {
  try {
    parseObjectives(text);
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return (e as Error).message;
  }
  throw new Error(`no error for ${text}`);
};

describe('parseObjectives', () => {
  it('defaults to the alert thresholds: error ratio 1% and p99 1s', () => {
    expect(parseObjectives('')).toEqual([
      { kind: 'error-ratio', max: 0.01, text: 'error-ratio <= 1%' },
      { kind: 'latency', quantile: 0.99, maxMs: 1000, text: 'p99 <= 1s' },
    ]);
    expect(parseObjectives('  \n# only a comment\n')).toHaveLength(2);
  });

  it('reads error ratios and latency quantiles in several spellings', () => {
    const o = parseObjectives('error-ratio <= 1%\np99 <= 1s; p95 <= 300ms, p99.9 < 2.5s');
    expect(o).toEqual([
      { kind: 'error-ratio', max: 0.01, text: 'error-ratio <= 1%' },
      { kind: 'latency', quantile: 0.99, maxMs: 1000, text: 'p99 <= 1s' },
      { kind: 'latency', quantile: 0.95, maxMs: 300, text: 'p95 <= 300ms' },
      { kind: 'latency', quantile: 0.999, maxMs: 2500, text: 'p99.9 <= 2.5s' },
    ]);
    expect(parseObjectives('- error-rate <= 0.5%\n- P50<=20ms')).toMatchObject([{ max: 0.005 }, { quantile: 0.5, maxMs: 20 }]);
  });

  it('reads an SLO with its window, latency and burn-rate pairs', () => {
    expect(parseObjectives('slo: 99.5%\nwindow: 30d')).toEqual([
      { kind: 'slo', target: 0.995, windowMs: 30 * 86_400_000, latencyMs: undefined, burnRates: DEFAULT_BURN_RATES, text: 'slo 99.5% over 30d' },
    ]);
    const [slo] = parseObjectives('slo: 99.9% under 300ms; window: 28d; burn-rate: 14.4@1h/5m, 6@6h/30m, 1@3d/6h');
    expect(slo).toMatchObject({ target: 0.999, latencyMs: 300, windowMs: 28 * 86_400_000 });
    expect(slo!.kind === 'slo' && slo!.burnRates).toEqual([
      { factor: 14.4, longMs: 3_600_000, shortMs: 300_000 },
      { factor: 6, longMs: 21_600_000, shortMs: 1_800_000 },
      { factor: 1, longMs: 3 * 86_400_000, shortMs: 21_600_000 },
    ]);
  });

  it('keeps the default burn-rate pairs that fit a short SLO window', () => {
    const [slo] = parseObjectives('slo: 99%\nwindow: 2h');
    expect(slo!.kind === 'slo' && slo!.burnRates).toEqual([DEFAULT_BURN_RATES[0]]);
    const [tiny] = parseObjectives('slo: 99%\nwindow: 10m');
    expect(tiny!.kind === 'slo' && tiny!.burnRates).toEqual([]);
  });

  it('rejects p101, p0 and other non-quantiles', () => {
    expect(err('p101 <= 1s')).toMatch(/p101 is not a quantile: use p1 to p99\.99/);
    expect(err('p0 <= 1s')).toMatch(/p0 is not a quantile/);
    expect(err('p100 <= 1s')).toMatch(/p100 is not a quantile/);
  });

  it('rejects negative durations and percentages', () => {
    expect(err('p99 <= -1s')).toMatch(/p99 cannot be negative \(got -1s\)/);
    expect(err('error-ratio <= -1%')).toMatch(/cannot be negative/);
    expect(err('slo: 99%\nwindow: -30d')).toMatch(/SLO window cannot be negative/);
    expect(err('error-ratio <= 120%')).toMatch(/over 100%/);
  });

  it('rejects unknown objectives and malformed ones with a clear message', () => {
    expect(err('latency < 3s')).toMatch(/unknown objective "latency" \(known: error-ratio, p<N>, slo, window, burn-rate\)/);
    expect(err('p99 >= 1s')).toMatch(/objectives are upper limits: write <=/);
    expect(err('p99 1s')).toMatch(/missing <= and a limit/);
    expect(err('p99 <= fast')).toMatch(/"fast" is not a duration/);
    expect(err('error-ratio <= 1')).toMatch(/not a percentage/);
    expect(err('p99 <= 1s\np99 <= 2s')).toMatch(/p99 is given twice/);
    expect(err('window: 7d')).toMatch(/needs an SLO/);
    expect(err('slo: 100%')).toMatch(/between 0% and 100%/);
    expect(err('slo: 99%; burn-rate: 14.4@5m/1h')).toMatch(/short window \(1h\) must be shorter than the long one \(5m\)/);
    expect(err('slo: 99%; burn-rate: fast')).toMatch(/not like 14.4@1h\/5m/);
    expect(err('slo: 99%; window: 1d; burn-rate: 2@2d/1h')).toMatch(/longer than the SLO window/);
  });

  it('formats windows as Prometheus reads them', () => {
    expect([formatWindow(30_000), formatWindow(300_000), formatWindow(3_600_000), formatWindow(30 * 86_400_000), formatWindow(1500)]).toEqual(['30s', '5m', '1h', '30d', '1500ms']);
  });
});
