/** dist/slo-gate/index.js run as the GitHub runner runs it: probe against the real sample app, Prometheus auth through a checking fake. */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findLeaks, registerSecret, runBundle } from '../helpers/runner.ts';
import { startApp, type RunningApp } from '../helpers/app.ts';

let good: RunningApp;
let bad: RunningApp;
beforeAll(async () => {
  [good, bad] = await Promise.all([startApp({ version: 'v2' }), startApp({ version: 'v3', errorRate: 0.3 })]);
});
afterAll(async () => {
  await Promise.all([good?.stop(), bad?.stop()]);
});

const PROBE = { paths: '/work', rate: '200', concurrency: '20', duration: '3s', interval: '3s' };

describe('slo-gate bundle with the probe', () => {
  it('passes a good release: outputs, report and the summary table', async () => {
    // p99 <= 5s rather than the default 1s: a loaded CI machine must not turn this into a latency test.
    const r = await runBundle('slo-gate', { ...PROBE, urls: good.url, objectives: 'error-ratio <= 1%\np99 <= 5s' });
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.outputs).toMatchObject({ verdict: 'pass', passed: 'true' });
    expect(r.outputs.reason).toMatch(/^all 2 objectives met over 3\.00s \(1 look\)/);
    const report = JSON.parse(r.outputs.report!) as { verdict: string; objectives: { objective: string; samples: number; verdict: string }[]; probe: { sent: number } };
    expect(report.verdict).toBe('pass');
    expect(report.objectives.map((o) => [o.objective, o.verdict])).toEqual([['error-ratio <= 1%', 'pass'], ['p99 <= 5s', 'pass']]);
    expect(report.objectives[0]!.samples).toBeGreaterThanOrEqual(400);
    expect(r.summary).toContain('## SLO gate: ✅ pass');
    expect(r.summary).toContain('| Objective | Measured | Threshold | Samples | Verdict | Reason |');
    expect(r.summary).toMatch(/\| error-ratio <= 1% \| 0% \(0 of \d+; 95% CI 0%–0\.\d+%\) \| ≤ 1% \| \d+ \| ✅ pass \| upper bound 0\.\d+% is below 1% \|/);
  });

  it('fails a bad release with the reason, against its baseline', async () => {
    const r = await runBundle('slo-gate', { ...PROBE, urls: bad.url, 'baseline-urls': good.url });
    expect(r.code).toBe(1);
    expect(r.outputs).toMatchObject({ verdict: 'fail', passed: 'false' });
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(/^slo-gate: fail: error-ratio <= 1%: error ratio \d+(\.\d+)?% \(\d+ errors in \d+ requests\): even the lower bound/);
    expect(r.summary).toMatch(/\| errors vs baseline \| .* \| ❌ fail \| the new version's error ratio/);
    expect(r.summary).toMatch(/Probe: \d+ requests \(200: \d+, 500: \d+\)/);
  });

  it('too little traffic is inconclusive and blocks unless on-inconclusive is pass', async () => {
    const few = { ...PROBE, urls: good.url, rate: '10', duration: '2s', interval: '2s', objectives: 'error-ratio <= 1%' };
    const r = await runBundle('slo-gate', few);
    expect(r.code).toBe(1);
    expect(r.outputs).toMatchObject({ verdict: 'inconclusive', passed: 'false' });
    expect(r.errors[0]).toMatch(/^slo-gate: inconclusive: not enough evidence over 2\.00s \(1 look\): error-ratio <= 1%: 0 errors in 20 requests: .*about 381 requests needed/);
    expect(r.summary).toContain('⚠️ inconclusive (blocks: on-inconclusive is fail)');
    const lenient = await runBundle('slo-gate', { ...few, 'on-inconclusive': 'pass' });
    expect(lenient.code).toBe(0);
    expect(lenient.outputs).toMatchObject({ verdict: 'inconclusive', passed: 'true' });
  });

  it('refuses bad inputs before sending any traffic', async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ objectives: 'p101 <= 1s' }, /Input 'objectives': got "p101 <= 1s"; .*p101 is not a quantile: use p1 to p99\.99/],
      [{ objectives: 'latency < 3s' }, /unknown objective "latency"/],
      [{ objectives: 'p99 <= -1s' }, /p99 cannot be negative/],
      [{ duration: '-5s' }, /Input 'duration': got "-5s"; .*a duration cannot be negative/],
      [{ interval: 'soon' }, /Input 'interval': got "soon"/],
      [{ confidence: '95' }, /Input 'confidence': got "95"/],
      [{ nodata: 'ignore' }, /Input 'nodata': got "ignore"; expected one of fail, inconclusive, pass/],
      [{ urls: '' }, /slo-gate needs a source: set 'prometheus-url' \(provider prometheus\) or 'urls' \(provider probe\)/],
      [{ mode: 'budget', 'deploy-window': '{deny: [someday]}' }, /Input 'deploy-window': deny\[0\]: expected a rule like "fri 15:00-24:00"/],
      [{ duration: '2s', interval: '30s' }, /interval 30\.0s is longer than duration 2\.00s/],
    ];
    for (const [inputs, want] of cases) {
      const r = await runBundle('slo-gate', { urls: good.url, ...inputs });
      expect(r.code, JSON.stringify(inputs)).toBe(1);
      expect(r.errors.join('\n'), JSON.stringify(inputs)).toMatch(want);
      expect(r.stdout).not.toMatch(/\n\s+at /); // no stack trace
      expect(r.outputs.verdict).toBeUndefined();
    }
  });
});

describe('slo-gate bundle with Prometheus credentials', () => {
  const token = 'prom-token-7f3a9c1e';
  const password = 'pr0m-pass-b4d2';
  let server: http.Server;
  let url = '';
  const seenAuth: string[] = [];
  beforeAll(async () => {
    registerSecret(token, password);
    // Answers like Prometheus' /api/v1/query, and only with the right credentials.
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const auth = req.headers.authorization ?? '';
        seenAuth.push(auth);
        const okAuth = auth === `Bearer ${token}` || auth === `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`;
        res.setHeader('content-type', 'application/json');
        if (!okAuth) return void res.writeHead(401).end('Unauthorized');
        const q = new URLSearchParams(body).get('query') ?? '';
        const v = (metric: Record<string, string>, n: number) => ({ metric, value: [Date.now() / 1000, String(n)] });
        let result: unknown[] = [v({}, 5000)];
        if (q.includes('code=~"5.."')) result = [v({}, 3)];
        if (q.startsWith('sum by (le)')) result = [v({ le: '0.1' }, 4990), v({ le: '1' }, 5000), v({ le: '+Inf' }, 5000)];
        res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result } }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('sends the bearer token, masks it, and never shows it', async () => {
    const r = await runBundle('slo-gate', { 'prometheus-url': url, 'prometheus-token': token, version: 'v2' });
    expect(r.errors).toEqual([]);
    expect(r.outputs).toMatchObject({ verdict: 'pass', passed: 'true' });
    expect(seenAuth.at(-1)).toBe(`Bearer ${token}`);
    expect(r.masks).toContain(token);
    expect(findLeaks(r, [token])).toEqual([]);
    expect(r.summary).toMatch(/\| error-ratio <= 1% \| 0\.06% \(3 of 5,000; 95% CI/);
  });

  it('takes basic auth from the URL, masks the password, and a wrong one fails closed', async () => {
    const withPass = url.replace('http://', `http://admin:${password}@`);
    const r = await runBundle('slo-gate', { 'prometheus-url': withPass, version: 'v2' });
    expect(r.outputs.verdict).toBe('pass');
    expect(r.masks).toContain(password);
    expect(findLeaks(r, [password])).toEqual([]);
    const wrong = await runBundle('slo-gate', { 'prometheus-url': url, 'prometheus-username': 'admin', 'prometheus-password': 'nope-wrong-1', version: 'v2' });
    expect(wrong.code).toBe(1);
    expect(wrong.errors[0]).toMatch(/slo-gate: fail: failing closed: Prometheus rejected the query .*auth: HTTP 401/);
    expect(findLeaks(wrong, ['nope-wrong-1'])).toEqual([]);
  });
});
