import { describe, expect, it } from 'vitest';
import { checksSchema, evaluate, jsonPath, joinUrl, runChecks, statusMatches } from '../../../src/smoke/checks.ts';
import type { HttpResponse } from '../../../src/lib/http.ts';

const res = (status: number, body = '', headers: Record<string, string> = {}, durationMs = 5) =>
  ({ status, body, headers: new Headers(headers), durationMs }) as Pick<HttpResponse, 'status' | 'body' | 'headers' | 'durationMs'>;
const check = (c: unknown) => checksSchema.parse([c])[0]!;

describe('smoke checks', () => {
  it('matches statuses: exact, class, range and lists', () => {
    expect(statusMatches(204, undefined)).toBe(true);
    expect(statusMatches(404, undefined)).toBe(false);
    expect(statusMatches(201, '2xx')).toBe(true);
    expect(statusMatches(302, '200-299')).toBe(false);
    expect(statusMatches(302, [200, '3xx'])).toBe(true);
  });
  it('explains each kind of failure', () => {
    expect(evaluate(check({ expect: { status: 200 } }), res(503))).toBe('status 503, expected 200');
    expect(evaluate(check({ expect: { contains: 'ok' } }), res(200, 'nope'))).toBe('body does not contain "ok"');
    expect(evaluate(check({ expect: { matches: '^v\\d' } }), res(200, 'x1'))).toBe('body does not match /^v\\d/');
    expect(evaluate(check({ expect: { json: { 'data.items[1].id': 7 } } }), res(200, '{"data":{"items":[{"id":1},{"id":8}]}}'))).toBe('JSON data.items[1].id is 8, expected 7');
    expect(evaluate(check({ expect: { headers: { 'x-app-version': '/^v2/' } } }), res(200, '', { 'x-app-version': 'v1' }))).toBe('header x-app-version is "v1", expected /^v2/');
    expect(evaluate(check({ expect: { 'max-latency': '100ms' } }), res(200, '', {}, 250))).toBe('latency 250ms over the limit of 100ms');
    expect(evaluate(check({ expect: { status: '2xx', json: { ready: true } } }), res(200, '{"ready":true}'))).toBeUndefined();
  });
  it('reads JSON paths with or without $', () => {
    expect(jsonPath({ a: [{ b: 2 }] }, '$.a[0].b')).toBe(2);
    expect(jsonPath({ a: 1 }, 'a.b.c')).toBeUndefined();
  });
  it('joins paths onto base URLs with a path prefix', () => {
    expect(joinUrl('https://x.example/api/', '/health?full=1')).toBe('https://x.example/api/health?full=1');
  });
  it('names the exact path of a bad field', () => {
    const r = checksSchema.safeParse([{ path: '/ok' }, { path: 'no-slash', expect: { status: 'abc' } }]);
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['1.path', '1.expect.status']));
  });
  it('retries failed checks until the deadline, then reports attempts', async () => {
    let t = 0;
    let calls = 0;
    const http = (async () => { calls++; return { status: calls >= 3 ? 200 : 503, body: '', headers: new Headers(), durationMs: 1, attempts: 1, url: '', json: () => ({}) }; }) as never;
    const results = await runChecks({ baseUrl: 'http://x', checks: [check({})], timeoutMs: 10, deadlineMs: 60_000, failFast: false, http, now: () => t, sleep: async (ms) => { t += ms; } });
    expect(results[0]).toMatchObject({ passed: true, attempts: 3, status: 200 });
    expect(t).toBe(3000);
  });
  it('fail-fast stops at the first failure without retrying', async () => {
    const http = (async () => ({ status: 500, body: '', headers: new Headers(), durationMs: 1, attempts: 1, url: '', json: () => ({}) })) as never;
    const results = await runChecks({ baseUrl: 'http://x', checks: [check({ path: '/a' }), check({ path: '/b' })], timeoutMs: 10, deadlineMs: 60_000, failFast: true, http });
    expect(results.map((r) => r.attempts)).toEqual([1, 0]);
    expect(results[1]!.reason).toBe('not run');
  });
});

describe('user regular expressions run in linear time (issue 18)', () => {
  it('^(a+)+$ on 40 a and ! (minutes with backtracking) answers at once; on a 1 MB body too', () => {
    const c = check({ expect: { matches: '^(a+)+$' } });
    let t = performance.now();
    expect(evaluate(c, res(200, `${'a'.repeat(40)}!`))).toBe('body does not match /^(a+)+$/');
    expect(performance.now() - t).toBeLessThan(1000);
    t = performance.now();
    expect(evaluate(c, res(200, `${'a'.repeat(1 << 20)}!`))).toBe('body does not match /^(a+)+$/');
    expect(performance.now() - t).toBeLessThan(3000);
  });

  it('header regexes too', () => {
    const c = check({ expect: { headers: { 'x-v': '/^(a|aa)+$/' } } });
    const t = performance.now();
    expect(evaluate(c, res(200, '', { 'x-v': `${'a'.repeat(5000)}!` }))).toMatch(/^header x-v is "a+… \(cut\)", expected/);
    expect(performance.now() - t).toBeLessThan(1000);
  });

  it('refuses what RE2 cannot run (lookaround, backreferences) when the inputs are read, naming the engine', () => {
    for (const re of ['(?=x)y', '(a)\\1', '(?<!a)b']) {
      const r = checksSchema.safeParse([{ expect: { matches: re } }]);
      expect(r.success, re).toBe(false);
      expect(r.error!.issues[0]!.message).toMatch(/linear-time engine.*RE2 syntax/);
    }
    expect(checksSchema.safeParse([{ expect: { headers: { etag: '/(?=x)/' } } }]).success).toBe(false);
    expect(checksSchema.safeParse([{ expect: { matches: 'x'.repeat(1001) } }]).success).toBe(false);
    expect(checksSchema.safeParse([{ expect: { matches: '"version":\\s*"v\\d+"' } }]).success).toBe(true);
  });

  it('a body over the cap fails a body check with that reason, instead of checking a cut body', () => {
    const r = { ...res(200, 'ok'), truncated: true };
    expect(evaluate(check({ expect: { contains: 'ok' } }), r)).toMatch(/body is larger than 1024 KiB/);
    expect(evaluate(check({ expect: { status: 200 } }), r)).toBeUndefined();
  });

  it('joinUrl keeps the base URL\'s query (a token) and adds the check\'s', () => {
    expect(joinUrl('http://h/app?token=t1', '/health?full=1')).toBe('http://h/app/health?token=t1&full=1');
    expect(joinUrl('http://h/app?token=t1', '/health')).toBe('http://h/app/health?token=t1');
  });
});
