import { describe, expect, it } from 'vitest';
import type { Http, HttpRequest, HttpResponse } from '../../../src/lib/http.ts';
import { HttpError } from '../../../src/lib/http.ts';
import {
  DEFAULT_METRICS,
  PrometheusClient,
  PrometheusQueryError,
  PrometheusUnavailableError,
  apiUrl,
  fillTemplate,
  measurePrometheus,
  standardQueries,
  toHistogram,
} from '../../../src/metrics/prometheus.ts';

function fakeHttp(answer: (url: string, req: HttpRequest) => { status: number; body: unknown } | Error) {
  const seen: { url: string; req: HttpRequest; params: URLSearchParams }[] = [];
  const http: Http = async (url, req = {}) => {
    seen.push({ url, req, params: new URLSearchParams(String(req.body ?? '')) });
    const a = answer(url, req);
    if (a instanceof Error) throw a;
    const body = typeof a.body === 'string' ? a.body : JSON.stringify(a.body);
    return { url, status: a.status, headers: new Headers(), body, durationMs: 1, attempts: 1, json: () => JSON.parse(body) } as HttpResponse;
  };
  return { http, seen };
}

const vector = (...items: [Record<string, string>, number][]) => ({ status: 'success', data: { resultType: 'vector', result: items.map(([metric, v]) => ({ metric, value: [1700000000, String(v)] })) } });

describe('PrometheusClient', () => {
  it('sends the bearer token or basic auth, POSTs the query with a server-side timeout', async () => {
    const { http, seen } = fakeHttp(() => ({ status: 200, body: vector([{}, 42]) }));
    const c = new PrometheusClient({ url: 'http://prom:9090/', token: 'tok-123', timeoutMs: 7000, http });
    expect(await c.query('up')).toEqual([{ metric: {}, value: 42 }]);
    expect(seen[0]!.url).toBe('http://prom:9090/api/v1/query');
    expect(seen[0]!.req.headers!.authorization).toBe('Bearer tok-123');
    expect(seen[0]!.params.get('query')).toBe('up');
    expect(seen[0]!.params.get('timeout')).toBe('7s');
    const b = new PrometheusClient({ url: 'http://prom:9090', username: 'u', password: 'p', http });
    await b.query('up');
    expect(seen[1]!.req.headers!.authorization).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
  });

  it("shows Prometheus' own error text for a malformed query", async () => {
    const { http } = fakeHttp(() => ({ status: 400, body: { status: 'error', errorType: 'bad_data', error: '1:17: parse error: unclosed left parenthesis' } }));
    const c = new PrometheusClient({ url: 'http://prom:9090', http });
    const e = await c.query('sum(rate(x[5m])').catch((x) => x);
    expect(e).toBeInstanceOf(PrometheusQueryError);
    expect(e.message).toBe('Prometheus rejected the query "sum(rate(x[5m])": bad_data: 1:17: parse error: unclosed left parenthesis');
  });

  it('reports an unreachable or failing server as unavailable (retryable), and 401 as a query error', async () => {
    const down = new PrometheusClient({ url: 'http://prom:9090', http: fakeHttp(() => new HttpError('POST http://prom:9090/api/v1/query failed after 3 attempts: ECONNREFUSED')).http });
    const e1 = await down.query('up').catch((x) => x);
    expect(e1).toBeInstanceOf(PrometheusUnavailableError);
    expect(e1.message).toBe('Prometheus at http://prom:9090 unreachable: failed after 3 attempts: ECONNREFUSED');
    const busy = new PrometheusClient({ url: 'http://prom:9090', http: fakeHttp(() => ({ status: 503, body: { status: 'error', errorType: 'timeout', error: 'query timed out' } })).http });
    expect((await busy.query('up').catch((x) => x)).message).toMatch(/answered HTTP 503: query timed out/);
    const denied = new PrometheusClient({ url: 'http://prom:9090', http: fakeHttp(() => ({ status: 401, body: 'Unauthorized' })).http });
    expect(await denied.query('up').catch((x) => x)).toBeInstanceOf(PrometheusQueryError);
    const notProm = new PrometheusClient({ url: 'http://prom:9090', http: fakeHttp(() => ({ status: 200, body: '<html>' })).http });
    expect((await notProm.query('up').catch((x) => x)).message).toMatch(/not a Prometheus API answer/);
  });

  it('reads scalars and range results', async () => {
    const { http } = fakeHttp((url) =>
      url.endsWith('query_range')
        ? { status: 200, body: { status: 'success', data: { resultType: 'matrix', result: [{ metric: {}, values: [[1700000000, '0.5'], [1700000010, '0.25']] }] } } }
        : { status: 200, body: { status: 'success', data: { resultType: 'scalar', result: [1700000000, '0.01'] } } },
    );
    const c = new PrometheusClient({ url: 'http://prom:9090', http });
    expect(await c.query('scalar(x)')).toEqual([{ metric: {}, value: 0.01 }]);
    expect(await c.queryRange('x', { startMs: 1_700_000_000_000, endMs: 1_700_000_010_000, stepMs: 10_000 })).toEqual([
      { metric: {}, values: [[1_700_000_000_000, 0.5], [1_700_000_010_000, 0.25]] },
    ]);
  });
});

describe('queries', () => {
  it('builds the standard queries from the metric names, selector and version', () => {
    const q = standardQueries({ ...DEFAULT_METRICS, selector: 'job="api"' }, 'v2', 30_000);
    expect(q.requests).toBe('sum(increase(http_requests_total{job="api", version="v2"}[30s]))');
    expect(q.errors).toBe('sum(increase(http_requests_total{job="api", version="v2", code=~"5.."}[30s]))');
    expect(q.buckets).toBe('sum by (le) (increase(http_request_duration_seconds_bucket{job="api", version="v2"}[30s]))');
    expect(standardQueries(DEFAULT_METRICS, 'a"b', 300_000).requests).toBe('sum(increase(http_requests_total{version="a\\"b"}[5m]))');
  });

  it('fills placeholders and refuses unknown ones', () => {
    expect(fillTemplate('x{v="{{version}}"}[{{ window }}] > {{quantile}}', { version: 'v1', window: '5m', quantile: 0.99 })).toBe('x{v="v1"}[5m] > 0.99');
    expect(() => fillTemplate('x[{{range}}]', { window: '5m' })).toThrow(/unknown placeholder \{\{range\}\}/);
    expect(() => fillTemplate('x{v="{{version}}"}', { window: '5m' })).toThrow(/no version was given/);
  });

  it('an empty result is no data, and no 5xx series with requests is zero errors', async () => {
    const answers: Record<string, unknown> = {};
    const { http } = fakeHttp((_, req) => {
      const q = new URLSearchParams(String(req.body)).get('query')!;
      return { status: 200, body: answers[q] ?? vector() };
    });
    const o = { client: new PrometheusClient({ url: 'http://p', http }), metrics: DEFAULT_METRICS, custom: {}, quantiles: [0.99], wantLatency: true };
    const none = await measurePrometheus(o, 'v9', 30_000);
    expect([none.requests, none.errors, none.latency]).toEqual([undefined, undefined, undefined]);
    const q = standardQueries(DEFAULT_METRICS, 'v1', 30_000);
    answers[q.requests] = vector([{}, 1234.4]);
    answers[q.buckets] = vector([{ le: '0.1' }, 1200], [{ le: '1' }, 1234.4], [{ le: '+Inf' }, 1234.4]);
    const got = await measurePrometheus(o, 'v1', 30_000);
    expect(got).toMatchObject({ requests: 1234, errors: 0 });
    expect(got.latency).toEqual({ kind: 'histogram', buckets: [{ leMs: 100, count: 1200 }, { leMs: 1000, count: 1234.4 }, { leMs: Infinity, count: 1234.4 }] });
    expect(toHistogram([{ metric: { le: '+Inf' }, value: 3 }, { metric: { le: '0.005' }, value: 1 }])).toEqual([{ leMs: 5, count: 1 }, { leMs: Infinity, count: 3 }]);
  });
});

describe('base URLs with a query string, and quoted answers (issue 18)', () => {
  it('joins the API path before the query string, keeping the token where it was', async () => {
    const { http, seen } = fakeHttp(() => ({ status: 200, body: vector([{}, 1]) }));
    const c = new PrometheusClient({ url: 'http://prom:9090/prom/?token=Wh%2FSecret%2B1', http });
    await c.query('up');
    expect(seen[0]!.url).toBe('http://prom:9090/prom/api/v1/query?token=Wh%2FSecret%2B1');
    expect(c.displayUrl).toBe('http://prom:9090/prom?token=***');
    expect(apiUrl('http://h:1', '/api/v1/query')).toBe('http://h:1/api/v1/query');
  });

  it('an error text that echoes the credentials is redacted before it is cut and quoted', async () => {
    const token = 'prom-tok-0123456789';
    const echoed = `${'x'.repeat(290)} you sent Bearer ${token} and ${Buffer.from('u:pw-abcdef').toString('base64')}`;
    for (const status of [400, 503]) {
      const { http } = fakeHttp(() => ({ status, body: { status: 'error', errorType: 'bad_data', error: echoed } }));
      const c = new PrometheusClient({ url: 'http://prom:9090', token, http, retries: 0 });
      const err = await c.query('up').catch((e: Error) => e);
      expect(String(err)).not.toMatch(/prom-tok|pw-abcdef|dTpwdy1hYmNkZWY/);
      expect(String(err).length).toBeLessThan(800);
    }
    const basic = new PrometheusClient({ url: 'http://u:pw-abcdef@prom:9090', http: fakeHttp(() => ({ status: 502, body: `echo ${Buffer.from('u:pw-abcdef').toString('base64')}` })).http, retries: 0 });
    expect(String(await basic.query('up').catch((e: Error) => e))).not.toMatch(/dTpwdy1hYmNkZWY|pw-abcdef/);
  });
});
