/**
 * The Prometheus provider: the HTTP API client (instant and range queries, auth, timeouts,
 * retries, Prometheus' own error text) and the queries the gate runs, either ready-made ones with
 * {{version}}/{{window}}/{{quantile}} placeholders or standard ones built from a request counter by
 * status code and a latency histogram (what the sample app exports:
 * http_requests_total{route,method,code,version} and http_request_duration_seconds).
 */
import { UserError, errorMessage } from '../lib/errors.ts';
import { request, type Http } from '../lib/http.ts';
import { quote, redactUrl, requestSecrets } from '../lib/secrets.ts';
import type { HistogramBucket, Measurement } from './measurement.ts';
import { formatWindow } from './objectives.ts';

export interface PrometheusAuth {
  /** Bearer token. */
  token?: string;
  username?: string;
  password?: string;
}

export interface PrometheusClientOptions extends PrometheusAuth {
  url: string;
  /** Per request. Default 10 s. */
  timeoutMs?: number;
  /** Extra attempts on network errors and 5xx/429 answers. Default 2. */
  retries?: number;
  backoffMs?: number;
  headers?: Record<string, string>;
  http?: Http;
}

/** Prometheus answered, and refused the query (bad PromQL, bad parameters): retrying cannot help. */
export class PrometheusQueryError extends UserError {
  readonly query: string;
  readonly errorType: string;
  constructor(query: string, errorType: string, message: string) {
    super(
      `Prometheus rejected the query ${JSON.stringify(query.length > 300 ? `${query.slice(0, 300)}…` : query)}: ${errorType ? `${errorType}: ` : ''}${message}`,
    );
    this.name = 'PrometheusQueryError';
    this.query = query;
    this.errorType = errorType;
  }
}

/** Prometheus could not be reached or failed (network, timeout, 5xx): may pass. */
export class PrometheusUnavailableError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'PrometheusUnavailableError';
  }
}

export interface VectorSample {
  metric: Record<string, string>;
  value: number;
}

export interface RangeSeries {
  metric: Record<string, string>;
  values: [number, number][];
}

/** The largest answer read (bytes); a larger one is an error, not a silently cut JSON document. */
export const MAX_ANSWER_BYTES = 4 << 20;

function stripTrailingSlash(url: string): string {
  try {
    const u = new URL(url);
    u.pathname = u.pathname.replace(/\/+$/, '');
    return u.toString().replace(/\/(?=$|[?#])/, '');
  } catch {
    return url.replace(/\/+$/, '');
  }
}

/** The API URL for a base URL: the path joined before the base's query string (tokens are often passed there), never after it. */
export function apiUrl(base: string, path: string): string {
  const u = new URL(base);
  u.pathname = `${u.pathname.replace(/\/+$/, '')}${path}`;
  return u.toString();
}

type ApiBody = { status?: string; errorType?: string; error?: string; warnings?: string[]; data?: { resultType: string; result: unknown } };

export class PrometheusClient {
  readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly opts: PrometheusClientOptions;
  private readonly http: Http;
  /** The client's own credentials in every form: a server's answer is quoted only after they are redacted. */
  private readonly secrets: string[];

  constructor(opts: PrometheusClientOptions) {
    this.opts = opts;
    this.url = stripTrailingSlash(opts.url);
    this.http = opts.http ?? request;
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    else if (opts.username !== undefined || opts.password !== undefined) {
      headers.authorization = `Basic ${Buffer.from(`${opts.username ?? ''}:${opts.password ?? ''}`).toString('base64')}`;
    }
    this.headers = headers;
    this.secrets = requestSecrets(this.url, headers);
  }

  /** The server's address without credentials, for logs. */
  get displayUrl(): string {
    return stripTrailingSlash(redactUrl(this.url));
  }

  /** An answer's text, fit for an error message: redacted, one line, cut short. */
  private quote(text: string, max = 300): string {
    return quote(text, this.secrets, max);
  }

  private async call(path: string, params: Record<string, string>, query: string, signal?: AbortSignal): Promise<ApiBody['data']> {
    const body = new URLSearchParams(params).toString();
    let res;
    try {
      res = await this.http(apiUrl(this.url, path), {
        method: 'POST',
        headers: { ...this.headers, 'content-type': 'application/x-www-form-urlencoded' },
        body,
        timeoutMs: this.opts.timeoutMs ?? 10_000,
        retries: this.opts.retries ?? 2,
        // A query is a read sent as a form POST: repeating it changes nothing.
        idempotent: true,
        backoffMs: this.opts.backoffMs ?? 300,
        maxBodyBytes: MAX_ANSWER_BYTES,
        signal,
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new PrometheusUnavailableError(`Prometheus at ${this.displayUrl} unreachable: ${errorMessage(err).replace(/^POST \S+ /, '')}`);
    }
    let parsed: ApiBody | undefined;
    try {
      parsed = JSON.parse(res.body) as ApiBody;
    } catch {
      parsed = undefined;
    }
    if (res.status === 401 || res.status === 403) {
      throw new PrometheusQueryError(query, 'auth', `HTTP ${res.status}: check prometheus-token or the username and password`);
    }
    if (parsed?.status === 'error' && res.status < 500)
      throw new PrometheusQueryError(query, this.quote(parsed.errorType ?? '', 60), this.quote(String(parsed.error ?? `HTTP ${res.status}`)));
    if (res.status >= 500 || res.status === 429) {
      const why = this.quote(typeof parsed?.error === 'string' ? parsed.error : res.body, 200);
      // Prometheus answers 422 for execution errors and 503 for timeouts/aborted queries.
      throw new PrometheusUnavailableError(`Prometheus at ${this.displayUrl} answered HTTP ${res.status}${why ? `: ${why}` : ''}`);
    }
    if (res.status === 404)
      throw new PrometheusQueryError(
        query,
        'not_found',
        `HTTP 404 from ${redactUrl(apiUrl(this.url, path))}: is prometheus-url the Prometheus server (without /api/v1)?`,
      );
    if (res.truncated)
      throw new PrometheusUnavailableError(
        `Prometheus at ${this.displayUrl} answered with more than ${MAX_ANSWER_BYTES >> 20} MB (the cap on an answer): narrow the query`,
      );
    if (!parsed || parsed.status !== 'success' || !parsed.data) {
      throw new PrometheusUnavailableError(
        `Prometheus at ${this.displayUrl} answered HTTP ${res.status} with something that is not a Prometheus API answer: ${this.quote(res.body, 200)}`,
      );
    }
    return parsed.data;
  }

  /** Instant query. Scalars come back as one sample without labels. */
  async query(promql: string, opts: { time?: number; signal?: AbortSignal } = {}): Promise<VectorSample[]> {
    const params: Record<string, string> = { query: promql };
    if (opts.time !== undefined) params.time = String(opts.time / 1000);
    if (this.opts.timeoutMs) params.timeout = `${Math.max(1, Math.floor(this.opts.timeoutMs / 1000))}s`;
    const data = await this.call('/api/v1/query', params, promql, opts.signal);
    if (!data) return [];
    if (data.resultType === 'scalar') {
      const [, v] = data.result as [number, string];
      return [{ metric: {}, value: Number(v) }];
    }
    if (data.resultType !== 'vector')
      throw new PrometheusQueryError(
        promql,
        'bad_data',
        `expected an instant vector or a scalar, got a ${data.resultType} (remove the range selector around the whole expression)`,
      );
    return (data.result as { metric: Record<string, string>; value: [number, string] }[]).map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
  }

  /** Range query: one series per label set, values at each step. */
  async queryRange(promql: string, opts: { startMs: number; endMs: number; stepMs: number; signal?: AbortSignal }): Promise<RangeSeries[]> {
    const params: Record<string, string> = {
      query: promql,
      start: String(opts.startMs / 1000),
      end: String(opts.endMs / 1000),
      step: `${Math.max(1, Math.round(opts.stepMs / 1000))}s`,
    };
    const data = await this.call('/api/v1/query_range', params, promql, opts.signal);
    if (!data) return [];
    if (data.resultType !== 'matrix') throw new PrometheusQueryError(promql, 'bad_data', `expected a range result, got a ${data.resultType}`);
    return (data.result as { metric: Record<string, string>; values: [number, string][] }[]).map((s) => ({
      metric: s.metric,
      values: s.values.map(([t, v]) => [t * 1000, Number(v)] as [number, number]),
    }));
  }
}

/** Escapes a value for a PromQL string literal in a label matcher. */
export function promString(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export interface StandardMetrics {
  /** Counter of requests with a status code label. Default http_requests_total. */
  requestsMetric: string;
  /** Histogram (without _bucket). Default http_request_duration_seconds. */
  latencyMetric: string;
  /** Extra label matchers, e.g. `job="api", route!~"/health|/ready"`. */
  selector: string;
  versionLabel: string;
  codeLabel: string;
}

export const DEFAULT_METRICS: StandardMetrics = {
  requestsMetric: 'http_requests_total',
  latencyMetric: 'http_request_duration_seconds',
  selector: '',
  versionLabel: 'version',
  codeLabel: 'code',
};

export interface CustomQueries {
  /** Error ratio (0..1) over {{window}} for {{version}}. */
  errorRatio?: string;
  /** Number of requests over {{window}} for {{version}} (gives the ratio a sample size). */
  requests?: string;
  /** A latency quantile in seconds: {{quantile}} (0.99), {{window}}, {{version}}. */
  latency?: string;
}

/** Fills {{version}}, {{window}} and {{quantile}}. Unknown placeholders are an error, not silence. */
export function fillTemplate(template: string, values: { version?: string; window: string; quantile?: number }): string {
  return template.replace(/\{\{\s*([a-zA-Z_-]+)\s*\}\}/g, (_, name: string) => {
    if (name === 'window') return values.window;
    if (name === 'version') {
      if (values.version === undefined) throw new UserError(`the query uses {{version}} but no version was given: ${template.slice(0, 200)}`);
      return promString(values.version);
    }
    if (name === 'quantile') {
      if (values.quantile === undefined) throw new UserError(`{{quantile}} is only available in latency-query: ${template.slice(0, 200)}`);
      return String(values.quantile);
    }
    throw new UserError(`unknown placeholder {{${name}}} in query (known: {{version}}, {{window}}, {{quantile}}): ${template.slice(0, 200)}`);
  });
}

/** Label matchers for the standard queries: the selector, the version and any extra matchers. */
export function matchers(m: StandardMetrics, version: string | undefined, ...extra: string[]): string {
  const parts = [
    m.selector
      .trim()
      .replace(/^\{|\}$/g, '')
      .trim(),
    version !== undefined ? `${m.versionLabel}="${promString(version)}"` : '',
    ...extra,
  ].filter(Boolean);
  return `{${parts.join(', ')}}`;
}

export function standardQueries(m: StandardMetrics, version: string | undefined, windowMs: number) {
  const w = formatWindow(windowMs);
  return {
    requests: `sum(increase(${m.requestsMetric}${matchers(m, version)}[${w}]))`,
    errors: `sum(increase(${m.requestsMetric}${matchers(m, version, `${m.codeLabel}=~"5.."`)}[${w}]))`,
    buckets: `sum by (le) (increase(${m.latencyMetric}_bucket${matchers(m, version)}[${w}]))`,
    goodBuckets: `sum by (le) (increase(${m.latencyMetric}_bucket${matchers(m, version, `${m.codeLabel}!~"5.."`)}[${w}]))`,
  };
}

function parseLe(le: string | undefined): number {
  if (le === undefined) return NaN;
  if (le === '+Inf') return Infinity;
  return Number(le) * 1000;
}

/** A `sum by (le)` vector as a sorted cumulative histogram in milliseconds. */
export function toHistogram(samples: VectorSample[]): HistogramBucket[] {
  return samples
    .map((s) => ({ leMs: parseLe(s.metric.le), count: Number.isFinite(s.value) ? s.value : 0 }))
    .filter((b) => !Number.isNaN(b.leMs))
    .sort((a, b) => a.leMs - b.leMs);
}

const single = (r: VectorSample[]): number | undefined => (r.length === 0 || Number.isNaN(r[0]!.value) ? undefined : r.reduce((s, x) => s + x.value, 0));

export interface PrometheusSourceOptions {
  client: PrometheusClient;
  metrics: StandardMetrics;
  custom: CustomQueries;
  /** Latency quantiles the objectives ask for (custom latency-query runs once per quantile). */
  quantiles: number[];
  /** The SLO latency, when the SLO counts slow requests as bad. */
  sloLatencyMs?: number;
  wantLatency: boolean;
}

/** One look at a version through Prometheus over a window. Empty results stay undefined (= no data). */
export async function measurePrometheus(o: PrometheusSourceOptions, version: string | undefined, windowMs: number, signal?: AbortSignal): Promise<Measurement> {
  const w = formatWindow(windowMs);
  const q = standardQueries(o.metrics, version, windowMs);
  const queries: string[] = [];
  const run = (promql: string) => {
    queries.push(promql);
    return o.client.query(promql, { signal });
  };
  const out: Measurement = { windowMs, queries };
  if (o.custom.errorRatio) {
    const ratio = single(await run(fillTemplate(o.custom.errorRatio, { version, window: w })));
    const requests = o.custom.requests ? single(await run(fillTemplate(o.custom.requests, { version, window: w }))) : undefined;
    if (ratio !== undefined && Number.isFinite(ratio)) {
      out.errorRatio = ratio;
      if (requests !== undefined) {
        out.requests = Math.round(requests);
        out.errors = Math.round(ratio * requests);
      }
    } else if (requests !== undefined) {
      out.requests = Math.round(requests);
    }
  } else {
    const requests = single(await run(q.requests));
    if (requests !== undefined) {
      out.requests = Math.round(requests);
      // No 5xx series at all means no errors (counters appear on their first increment): only when requests exist.
      out.errors = Math.round(single(await run(q.errors)) ?? 0);
    }
  }
  if (o.wantLatency) {
    if (o.custom.latency) {
      const valuesMs: Record<string, number | undefined> = {};
      for (const quantile of o.quantiles) {
        const v = single(await run(fillTemplate(o.custom.latency, { version, window: w, quantile })));
        valuesMs[String(quantile)] = v !== undefined && Number.isFinite(v) ? v * 1000 : undefined;
      }
      out.latency = { kind: 'quantiles', valuesMs };
      if (out.requests === undefined && o.custom.requests) {
        const r = single(await run(fillTemplate(o.custom.requests, { version, window: w })));
        if (r !== undefined) out.requests = Math.round(r);
      }
    } else {
      const buckets = toHistogram(await run(q.buckets));
      if (buckets.length) out.latency = { kind: 'histogram', buckets };
    }
  }
  if (o.sloLatencyMs !== undefined && !o.custom.errorRatio) {
    const good = toHistogram(await run(q.goodBuckets));
    // The largest bucket edge at or below the SLO latency: a conservative count of fast, good requests.
    let bound = 0;
    let count = 0;
    for (const b of good) {
      if (b.leMs > o.sloLatencyMs + 1e-9) break;
      bound = b.leMs;
      count = b.count;
    }
    out.sloGood = Math.round(count);
    out.sloLatencyBoundMs = bound;
  }
  return out;
}

/** Error-ratio points over a period (a range query), for the report's timeline. */
export async function errorRatioTimeline(
  o: PrometheusSourceOptions,
  version: string | undefined,
  opts: { startMs: number; endMs: number; stepMs: number; windowMs: number; signal?: AbortSignal },
): Promise<{ atMs: number; ratio: number }[]> {
  const w = formatWindow(opts.windowMs);
  const promql = o.custom.errorRatio
    ? fillTemplate(o.custom.errorRatio, { version, window: w })
    : (() => {
        const q = standardQueries(o.metrics, version, opts.windowMs);
        return `(${q.errors} or vector(0)) / ${q.requests}`;
      })();
  const series = await o.client.queryRange(promql, opts);
  return (series[0]?.values ?? []).filter(([, v]) => Number.isFinite(v)).map(([atMs, ratio]) => ({ atMs, ratio }));
}
