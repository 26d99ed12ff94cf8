import { describe, expect, it } from 'vitest';
import { parseInputs } from '../../../src/manifest/fields.ts';
import type { Http, HttpResponse } from '../../../src/lib/http.ts';
import { MemoryReporter } from '../../../src/lib/report.ts';
import type { ActionContext } from '../../../src/runner/context.ts';
import { spec } from '../../../src/actions/slo-gate/inputs.ts';
import { gateOptions, run } from '../../../src/actions/slo-gate/run.ts';

const inputs = (raw: Record<string, string>) => parseInputs(spec, (n) => raw[n]);

function ctx(log = new MemoryReporter()): ActionContext {
  return { log, github: {} as ActionContext['github'], saveState: () => undefined, getState: () => '', signal: new AbortController().signal, tempDir: '/tmp', workspace: '/tmp', env: {} };
}

/** Prometheus answers: total requests, 5xx, histogram; the budget window counts included. */
function promHttp(total: number, errors: number): Http {
  return (async (url: string, req: { body?: unknown } = {}) => {
    const q = new URLSearchParams(String(req.body)).get('query') ?? '';
    const v = (metric: Record<string, string>, n: number) => ({ metric, value: [0, String(n)] });
    let result = [v({}, total)];
    if (q.includes('code=~"5.."')) result = [v({}, errors)];
    if (q.startsWith('sum by (le)')) result = [v({ le: '0.5' }, total), v({ le: '+Inf' }, total)];
    const body = JSON.stringify({ status: 'success', data: { resultType: 'vector', result } });
    return { url, status: 200, headers: new Headers(), body, durationMs: 1, attempts: 1, json: () => JSON.parse(body) } as HttpResponse;
  }) as Http;
}

describe('slo-gate inputs', () => {
  it('parses every input into typed values with the documented defaults', async () => {
    const i = await inputs({ urls: 'http://a:1, http://b:2' });
    expect(i).toMatchObject({ provider: 'auto', mode: 'gate', interval: 30_000, 'failure-limit': 0, 'error-limit': 3, confidence: 0.95, 'min-samples': 100, nodata: 'inconclusive', 'on-inconclusive': 'fail', rate: 20, concurrency: 10, paths: ['/'] });
    expect(i.objectives).toBeUndefined();
    expect(gateOptions(i).provider).toBe('probe');
    expect(gateOptions(await inputs({ 'prometheus-url': 'http://p:9090' })).provider).toBe('prometheus');
  });

  it('names the input, the value and what was expected', async () => {
    await expect(inputs({ objectives: 'p101 <= 1s' })).rejects.toThrow(/^Input 'objectives': got "p101 <= 1s"; expected objectives such as .*\(objective "p101 <= 1s": p101 is not a quantile/);
    await expect(inputs({ duration: '-1m' })).rejects.toThrow(/^Input 'duration': got "-1m"; expected a duration .*\(a duration cannot be negative\)/);
    await expect(inputs({ 'prometheus-token': 'abc-secret-1', 'failure-limit': '-1' })).rejects.toThrow(/^Input 'failure-limit': got "-1"/);
    await expect(inputs({ rate: '0' })).rejects.toThrow(/^Input 'rate'/);
  });

  it('refuses combinations that cannot work', async () => {
    expect(gateOptions.bind(null, await inputs({}))).toThrow(/needs a source/);
    expect(gateOptions.bind(null, await inputs({ provider: 'prometheus' }))).toThrow(/Input 'prometheus-url': got nothing/);
    expect(gateOptions.bind(null, await inputs({ provider: 'probe' }))).toThrow(/Input 'urls': got nothing/);
    expect(gateOptions.bind(null, await inputs({ urls: 'http://a', 'latency-query': 'x' }))).toThrow(/custom queries .* need provider prometheus/);
    expect(gateOptions.bind(null, await inputs({ 'prometheus-url': 'http://p', 'prometheus-token': 't', 'prometheus-password': 'p' }))).toThrow(/either 'prometheus-token'/);
    expect(gateOptions.bind(null, await inputs({ urls: 'http://a', override: 'why' }))).toThrow(/only applies to mode: budget/);
  });
});

describe('slo-gate run', () => {
  it('writes verdict, passed, reason, report and the summary; masks the token', async () => {
    const log = new MemoryReporter();
    const r = await run(await inputs({ 'prometheus-url': 'http://p:9090', 'prometheus-token': 'tok-xyz-123', version: 'v2' }), ctx(log), { http: promHttp(5000, 1) });
    expect(log.secrets.has('tok-xyz-123')).toBe(true);
    expect(r.failure).toBeUndefined();
    expect(r.outputs).toMatchObject({ verdict: 'pass', passed: true });
    expect((r.outputs.report as { objectives: unknown[] }).objectives).toHaveLength(2);
    expect(r.summary).toContain('| Objective | Measured | Threshold | Samples | Verdict | Reason |');
  });

  it('mode budget: spent budget fails; the override passes, is written in the summary and warned about', async () => {
    const base = { 'prometheus-url': 'http://p:9090', mode: 'budget', objectives: 'slo: 99.5%\nwindow: 30d' };
    const spent = await run(await inputs(base), ctx(), { http: promHttp(100_000, 1_000) });
    expect(spent.failure).toMatch(/^slo-gate: fail: the error budget over 30d is spent: 1,000 bad requests, 500 allowed$/);
    expect(spent.outputs['error-budget-remaining']).toBe(-1);
    const log = new MemoryReporter();
    const over = await run(await inputs({ ...base, override: 'INC-1234: revert of the bad config' }), ctx(log), { http: promHttp(100_000, 1_000) });
    expect(over.failure).toBeUndefined();
    expect(over.outputs).toMatchObject({ verdict: 'pass', passed: true });
    expect(over.summary).toContain('“INC-1234: revert of the bad config”');
    expect(log.text()).toMatch(/warning: slo-gate: the error budget is spent; deploy allowed by override: INC-1234/);
  });
});

describe('mode budget: the release policy (deploy window, then the error budget)', () => {
  // 2026-12-04 is a Friday; 14:30 UTC is 15:30 in Berlin.
  const friday = () => Date.parse('2026-12-04T14:30:00Z');
  const window = '{timezone: Europe/Berlin, deny: ["fri 15:00-24:00"]}';

  it('blocks outside the deploy window before asking Prometheus anything', async () => {
    let asked = 0;
    const http = (async () => { asked++; throw new Error('must not be called'); }) as unknown as Http;
    const r = await run(await inputs({ mode: 'budget', 'deploy-window': window, objectives: 'slo: 99.5%\nwindow: 30d', 'prometheus-url': 'http://p:9090' }), ctx(), { http, now: friday });
    expect(r.outputs).toMatchObject({ verdict: 'fail', passed: false });
    expect(r.failure).toMatch(/deploy window closed: fri 15:30 Europe\/Berlin is inside "fri 15:00-24:00"; set an override/);
    expect(r.summary).toContain('Release policy: ⛔ blocked');
    expect(asked).toBe(0);
  });

  it('lets an override through, records it, then checks the budget', async () => {
    const log = new MemoryReporter();
    const r = await run(await inputs({ mode: 'budget', 'deploy-window': window, override: 'hotfix INC-42', objectives: 'slo: 99.5%\nwindow: 30d', 'prometheus-url': 'http://p:9090' }), ctx(log), { http: promHttp(100_000, 10), now: friday });
    expect(r.failure).toBeUndefined();
    expect(r.summary).toMatch(/deploy window \| ⚠️ overridden \| .*overridden: hotfix INC-42/);
    expect(r.summary).toMatch(/of the error budget is left/);
    expect(log.lines.some((l) => l.level === 'warning' && /hotfix INC-42/.test(l.message))).toBe(true);
  });

  it('without an SLO or Prometheus, checks the window only and says the budget was not checked', async () => {
    const r = await run(await inputs({ mode: 'budget', 'deploy-window': window, urls: 'http://127.0.0.1:1' }), ctx(), { now: () => Date.parse('2026-12-03T10:00:00Z') });
    expect(r.outputs).toMatchObject({ verdict: 'pass', passed: true });
    expect(r.summary).toMatch(/error budget \| ⏭ not checked \| no `slo:` objective is set/);
  });
});
