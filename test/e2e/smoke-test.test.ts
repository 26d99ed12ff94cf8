/** dist/smoke-test/index.js run as the GitHub runner runs it, against the real sample app. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findLeaks, registerSecret, runBundle } from '../helpers/runner.ts';
import { startApp, type RunningApp } from '../helpers/app.ts';
import { freePort } from '../helpers/servers.ts';

let good: RunningApp;
let bad: RunningApp;
beforeAll(async () => {
  [good, bad] = await Promise.all([startApp({ version: 'v2' }), startApp({ version: 'v3', errorRate: 1 })]);
});
afterAll(async () => {
  await Promise.all([good?.stop(), bad?.stop()]);
});

const CHECKS = JSON.stringify([
  { path: '/health', expect: { status: 200, json: { status: 'ok' } } },
  { path: '/version', expect: { json: { version: 'v2' } } },
  { name: 'work', path: '/work', expect: { status: '2xx', 'max-latency': '2s' } },
]);

describe('smoke-test bundle', () => {
  it('passes against a healthy deployment', async () => {
    const r = await runBundle('smoke-test', { url: good.url, checks: CHECKS, deadline: '0' });
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.outputs.passed).toBe('true');
    expect(r.outputs['failed-count']).toBe('0');
    const results = JSON.parse(r.outputs.results!) as { name: string; passed: boolean; status: number }[];
    expect(results.map((x) => [x.name, x.passed, x.status])).toEqual([['GET /health', true, 200], ['GET /version', true, 200], ['work', true, 200]]);
    expect(r.summary).toContain('Smoke test passed: 3 checks');
    expect(r.summary).toMatch(/\| work \| ✅ passed \| 200 \|/);
  });

  it('fails with the reason of each failed check', async () => {
    const r = await runBundle('smoke-test', { url: bad.url, checks: CHECKS.replace('"v2"', '"v9"'), deadline: '0' });
    expect(r.code).toBe(1);
    expect(r.outputs.passed).toBe('false');
    expect(r.outputs['failed-count']).toBe('2');
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toContain('smoke-test: 2 of 3 checks failed');
    expect(r.errors[0]).toContain('GET /version (JSON version is "v3", expected "v9")');
    expect(r.errors[0]).toContain('work (status 500, expected "2xx")');
    expect(r.summary).toContain('Smoke test failed: 2 of 3 checks');
  });

  it('waits for a deployment that comes up after it starts', async () => {
    const port = await freePort();
    const late = setTimeout(() => void startApp({ port, version: 'v2' }).then((a) => afterAllApps.push(a)), 1500);
    const afterAllApps: RunningApp[] = [];
    try {
      const r = await runBundle('smoke-test', { url: `http://127.0.0.1:${port}`, checks: '[{path: /health}]', deadline: '20s', timeout: '1s' });
      expect(r.code).toBe(0);
      const [res] = JSON.parse(r.outputs.results!) as { attempts: number }[];
      expect(res!.attempts).toBeGreaterThan(1);
    } finally {
      clearTimeout(late);
      await Promise.all(afterAllApps.map((a) => a.stop()));
    }
  });

  it('masks credentials in the URL and in headers', async () => {
    const password = 'pw-Zq81xk2';
    const token = 'tok-8b71f0aa93';
    registerSecret(password, token);
    const url = good.url.replace('http://', `http://admin:${password}@`);
    const r = await runBundle('smoke-test', { url, headers: `{Authorization: "Bearer ${token}"}`, checks: '[{path: /nope, expect: {status: 200}}]', deadline: '0' });
    expect(r.code).toBe(1);
    expect(r.masks).toEqual(expect.arrayContaining([password, token]));
    expect(findLeaks(r, [password, token])).toEqual([]);
    expect(r.summary).toContain('admin:***@127.0.0.1');
  });

  it.each([
    [{ url: '' }, "Input 'url': got nothing; expected a URL"],
    [{ url: 'not a url' }, "Input 'url': got \"not a url\""],
    [{ url: 'http://127.0.0.1:1', checks: '[{path: health}]' }, "Input 'checks': [0].path: expected a path starting with /"],
    [{ url: 'http://127.0.0.1:1', checks: '[{path: /a, expect: {status: 99}}]' }, "Input 'checks': [0].expect.status"],
    [{ url: 'http://127.0.0.1:1', checks: '{{{' }, "Input 'checks': YAML/JSON syntax error"],
    [{ url: 'http://127.0.0.1:1', timeout: '-1s' }, "Input 'timeout': got \"-1s\""],
    [{ url: 'http://127.0.0.1:1', 'fail-fast': 'maybe' }, "Input 'fail-fast': got \"maybe\"; expected true or false"],
  ])('rejects bad input %j before sending anything', async (inputs, message) => {
    const r = await runBundle('smoke-test', inputs as Record<string, string>);
    expect(r.code).toBe(1);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toContain(message);
    expect(r.stdout).not.toMatch(/\n\s+at /);
    expect(r.outputs).toEqual({});
  });
});
