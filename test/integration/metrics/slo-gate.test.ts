/**
 * The SLO gate against a real Prometheus scraping real sample-app instances: a good version, a bad
 * one (20% errors) and a slow one (+400 ms), with traffic from the gate's own probe.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireServer, startPrometheus, type PrometheusServer } from '../../helpers/servers.ts';
import { startApp, type RunningApp } from '../../helpers/app.ts';
import { createSloGate, renderSloSummary, type SloGateOptions } from '../../../src/metrics/gate.ts';
import { Probe } from '../../../src/metrics/probe.ts';

const hasProm = requireServer('prometheus');
const WORK = 'route="/work"';

describe.skipIf(!hasProm)('slo-gate with a real Prometheus', () => {
  let prom: PrometheusServer;
  const apps: RunningApp[] = [];
  const probes: Probe[] = [];
  let good: RunningApp;
  let bad: RunningApp;
  let slow: RunningApp;

  const gate = (over: Omit<Partial<SloGateOptions>, 'prometheus'> & { prometheus?: Partial<NonNullable<SloGateOptions['prometheus']>> } = {}) =>
    createSloGate({
      provider: 'prometheus',
      ...over,
      prometheus: { url: prom.url, windowMs: 30_000, retries: 0, metrics: { selector: WORK }, ...over.prometheus },
    });

  beforeAll(async () => {
    good = await startApp({ version: 'v1' });
    bad = await startApp({ version: 'v2', errorRate: 0.2 });
    slow = await startApp({ version: 'v3', extraLatencyMs: 400 });
    apps.push(good, bad, slow);
    prom = await startPrometheus({ targets: apps.map((a) => `127.0.0.1:${a.port}`) });
    for (const [app, rate] of [[good, 100], [bad, 50], [slow, 20]] as const) {
      const p = new Probe({ urls: [app.url], paths: ['/work'], rate, concurrency: 20, timeoutMs: 5000 });
      p.start(120_000);
      probes.push(p);
    }
    // A little traffic on a route nobody else uses (the "too little traffic" case). The series must
    // exist before the burst: increase() cannot see the first value of a new counter.
    await fetch(`${good.url}/health`).then((r) => r.arrayBuffer());
    await prom.waitForSeries(`http_requests_total{version="v1", route="/health"}`, 20_000);
    for (let i = 0; i < 30; i++) await fetch(`${good.url}/health`).then((r) => r.arrayBuffer());
    await prom.waitForSeries(`sum(increase(http_requests_total{version="v1", ${WORK}}[30s])) > 800`, 40_000);
    await prom.waitForSeries(`sum(increase(http_requests_total{version="v3", ${WORK}}[30s])) > 100`, 20_000);
    await prom.waitForSeries(`sum(increase(http_requests_total{version="v1", route="/health"}[60s])) >= 30`, 20_000);
  }, 90_000);

  afterAll(async () => {
    await Promise.all(probes.map((p) => p.stop()));
    await prom?.stop();
    await Promise.all(apps.map((a) => a.stop()));
  });

  it('passes a good release over the analysis, with a range-query timeline', async () => {
    const r = await gate({ durationMs: 2000, intervalMs: 1000 })({ urls: [], version: 'v1' });
    expect(r.reason).toMatch(/^all 2 objectives met over 2\.00s \(2 looks\)/);
    expect(r).toMatchObject({ pass: true, verdict: 'pass' });
    expect(r.report.objectives.map((o) => [o.objective, o.verdict])).toEqual([['error-ratio <= 1%', 'pass'], ['p99 <= 1s', 'pass']]);
    expect(r.report.objectives[0]!.samples).toBeGreaterThan(500);
    expect(r.report.looks).toHaveLength(2);
    expect(r.report.timeline!.length).toBeGreaterThan(0);
    expect(r.report.timeline!.every((t) => t.ratio === 0)).toBe(true);
    expect(renderSloSummary(r.report)).toMatch(/\| error-ratio <= 1% \| 0% \(0 of [\d,]+; 97\.5% CI 0%–0\.\d+%\) \| ≤ 1% \|/);
  });

  it('fails a bad release with the reason, and against its baseline', async () => {
    const r = await gate()({ urls: [], version: 'v2', baselineVersion: 'v1' });
    expect(r).toMatchObject({ pass: false, verdict: 'fail' });
    expect(r.reason).toMatch(/^error-ratio <= 1%: error ratio \d+(\.\d+)?% \(\d+ errors in \d+ requests\): even the lower bound \d+(\.\d+)?% is above 1%$/);
    const byName = Object.fromEntries(r.report.objectives.map((o) => [o.objective, o]));
    expect(byName['errors vs baseline']!.verdict).toBe('fail');
    expect(byName['errors vs baseline']!.reason).toMatch(/significantly above the baseline's 0%/);
    expect(byName['p99 <= 1s']!.verdict).toBe('pass');
  });

  it('fails a slow release on its latency quantile, from the histogram', async () => {
    const r = await gate({ objectives: 'p95 <= 300ms' })({ urls: [], version: 'v3', baselineVersion: 'v1' });
    expect(r.verdict).toBe('fail');
    expect(r.reason).toMatch(/^p95 <= 300ms: p95 ≈\d+ms: at least \d+(\.\d+)?% of requests are slower than 300ms \(limit 5%\)/);
    expect(r.report.objectives.find((o) => o.objective === 'latency vs baseline')!.verdict).toBe('fail');
  });

  it('too little traffic is inconclusive, with the number of samples needed', async () => {
    const r = await gate({ prometheus: { windowMs: 60_000, metrics: { selector: 'route="/health"' } } })({ urls: [], version: 'v1' });
    expect(r).toMatchObject({ pass: false, verdict: 'inconclusive' });
    const row = r.report.objectives[0]!;
    expect(row.samples).toBeGreaterThanOrEqual(30); // increase() extrapolates a little
    expect(row.samples).toBeLessThan(45);
    expect(row.samplesNeeded).toBe(381);
    expect(r.reason).toMatch(/0 errors in \d\d requests: .*about 381 requests needed/);
  });

  it('an empty query result is nodata, never a pass', async () => {
    const r = await gate()({ urls: [], version: 'v9' });
    expect(r).toMatchObject({ pass: false, verdict: 'inconclusive' });
    expect(r.report.objectives.every((o) => o.nodata)).toBe(true);
    expect(r.reason).toMatch(/no data: the request query returned an empty result \(nodata policy: inconclusive\)/);
    expect((await gate({ nodata: 'fail' })({ urls: [], version: 'v9' })).verdict).toBe('fail');
    expect((await gate({ nodata: 'pass' })({ urls: [], version: 'v9' })).verdict).toBe('pass');
  });

  it("a malformed query fails closed with Prometheus' error text", async () => {
    const r = await gate({ prometheus: { queries: { errorRatio: 'sum(rate(http_requests_total{version="{{version}}"}[{{window}}])' } } })({ urls: [], version: 'v1' });
    expect(r.verdict).toBe('fail');
    expect(r.reason).toMatch(/^failing closed: Prometheus rejected the query "sum\(rate\(http_requests_total\{version=\\"v1\\"\}\[30s\]\)": bad_data: .*parse error/);
  });

  it('custom queries with placeholders and a sample size', async () => {
    const r = await gate({ objectives: 'error-ratio <= 1%\np99 <= 1s', prometheus: {
      queries: {
        errorRatio: `sum(increase(http_requests_total{version="{{version}}", code=~"5..", ${WORK}}[{{window}}])) / sum(increase(http_requests_total{version="{{version}}", ${WORK}}[{{window}}]))`,
        requests: `sum(increase(http_requests_total{version="{{version}}", ${WORK}}[{{window}}]))`,
        latency: `histogram_quantile({{quantile}}, sum by (le) (rate(http_request_duration_seconds_bucket{version="{{version}}", ${WORK}}[{{window}}])))`,
      },
    } })({ urls: [], version: 'v2' });
    expect(r.verdict).toBe('fail');
    expect(r.report.objectives[0]!.samples).toBeGreaterThan(100);
    expect(r.report.objectives[1]).toMatchObject({ verdict: 'pass', measured: expect.stringMatching(/point estimate/) });
  });

  it('fails when both windows of a burn-rate pair burn too fast', async () => {
    // The service as a whole (all versions) runs at about 6% errors: a 99% SLO burns ~6×.
    const r = await gate({ objectives: 'slo: 99%\nwindow: 1h\nburn-rate: 2@30s/10s, 50@1m/30s' })({ urls: [], version: 'v1' });
    expect(r.verdict).toBe('fail');
    expect(r.reason).toMatch(/burning the error budget too fast: \d+\.\d+× over 30s and \d+\.\d+× over 10s, both above 2×/);
    expect(r.report.burnRates!.map((p) => p.firing)).toEqual([true, false]);
  });

  it('mode budget blocks a spent error budget and records an override', async () => {
    const opts = { mode: 'budget' as const, objectives: 'slo: 99.9%\nwindow: 10m' };
    const r = await gate(opts)({ urls: [], version: 'v1' });
    expect(r.verdict).toBe('fail');
    expect(r.reason).toMatch(/the error budget over 10m is spent/);
    const o = await gate({ ...opts, override: 'INC-7 hotfix' })({ urls: [], version: 'v1' });
    expect(o).toMatchObject({ pass: true, verdict: 'pass' });
    expect(renderSloSummary(o.report)).toContain('the deploy was let through: “INC-7 hotfix”');
  });

  it('Prometheus going down mid-analysis fails closed', async () => {
    const prom2 = await startPrometheus({ targets: [`127.0.0.1:${good.port}`] });
    try {
      let looks = 0;
      const g = createSloGate({
        provider: 'prometheus',
        durationMs: 6000,
        intervalMs: 2000,
        errorLimit: 2,
        prometheus: { url: prom2.url, windowMs: 30_000, retries: 0, timeoutMs: 2000 },
        log: {
          info: (m) => {
            if (/^look 1\//.test(m) && looks++ === 0) void prom2.stop();
          },
          warning: () => undefined,
        },
      });
      const r = await g({ urls: [], version: 'v1' });
      expect(r.verdict).toBe('fail');
      expect(r.reason).toMatch(/^failing closed: the provider failed 2 times in a row \(error-limit 2\): Prometheus at http:\/\/127\.0\.0\.1:\d+ unreachable/);
      expect(r.report.looks.map((l) => l.verdict)).toEqual(['inconclusive', 'error', 'error']);
      expect(renderSloSummary(r.report)).toMatch(/🔌 provider error/);
    } finally {
      await prom2.stop();
    }
  });
});
