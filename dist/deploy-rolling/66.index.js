export const id = 66;
export const ids = [66];
export const modules = {

/***/ 1066:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  createSloGate: () => (/* binding */ createSloGate)
});

// UNUSED EXPORTS: BASELINE_LATENCY_MIN_DELTA_MS, GATE_DEFAULTS, analyze, checkBudget, combine, fmtRatio, judgeBaseline, judgeBurnRates, judgeObjectives, parseObjectives, plannedLooks, probeSource, prometheusSource, renderSloSummary, resolveGateOptions

// EXTERNAL MODULE: ./src/lib/errors.ts
var errors = __webpack_require__(7268);
// EXTERNAL MODULE: ./src/lib/duration.ts
var duration = __webpack_require__(2543);
// EXTERNAL MODULE: ./src/lib/secrets.ts
var secrets = __webpack_require__(5714);
;// CONCATENATED MODULE: ./src/metrics/measurement.ts
/** What a provider measured for one version over one window: the input of every verdict. */
/** Requests at or below a bound, from a cumulative histogram: the bucket edges around it. */
function countAtOrBelow(buckets, boundMs) {
    let low = 0;
    let lowEdge = 0;
    let high = buckets.length ? buckets[buckets.length - 1].count : 0;
    let highEdge = Infinity;
    for (const b of buckets) {
        if (b.leMs <= boundMs + 1e-9) {
            low = b.count;
            lowEdge = b.leMs;
        }
        if (b.leMs >= boundMs - 1e-9) {
            high = b.count;
            highEdge = b.leMs;
            break;
        }
    }
    return { low, high, lowEdge, highEdge };
}
/** histogram_quantile's estimate: linear interpolation inside the bucket (Prometheus' own rule). */
function histogramQuantile(buckets, q) {
    if (buckets.length === 0)
        return NaN;
    const total = buckets[buckets.length - 1].count;
    if (total <= 0)
        return NaN;
    const rank = q * total;
    let prevCount = 0;
    let prevLe = 0;
    for (let i = 0; i < buckets.length; i++) {
        const b = buckets[i];
        if (b.count >= rank) {
            if (b.leMs === Infinity)
                return i > 0 ? buckets[i - 1].leMs : NaN;
            if (b.count === prevCount)
                return b.leMs;
            return prevLe + ((b.leMs - prevLe) * (rank - prevCount)) / (b.count - prevCount);
        }
        prevCount = b.count;
        prevLe = b.leMs;
    }
    return buckets[buckets.length - 1].leMs;
}
/** Histogram buckets as grouped data for rank tests: each bucket's requests tie at the bucket's edge. */
function histogramGroups(buckets) {
    const out = [];
    let prev = 0;
    for (const b of buckets) {
        const c = Math.max(0, Math.round(b.count - prev));
        if (c > 0)
            out.push({ value: b.leMs === Infinity ? Number.MAX_VALUE : b.leMs, count: c });
        prev = Math.max(prev, b.count);
    }
    return out;
}

;// CONCATENATED MODULE: ./src/metrics/objectives.ts
/**
 * The objectives grammar, shared by the slo-gate inputs, slipway.yml and deploy-rolling:
 *
 *   error-ratio <= 1%          errors (5xx and failed requests) over all requests
 *   p99 <= 1s                  a latency quantile (p50, p95, p99, p99.9 …)
 *   p95 <= 300ms
 *   slo: 99.5%                 an SLO: the share of good requests over its window
 *   slo: 99.5% under 300ms     … where good = not an error and faster than 300ms
 *   window: 30d                the SLO's window (default 30d)
 *   burn-rate: 14.4@1h/5m, 6@6h/30m   multiwindow burn-rate pairs (these are the defaults)
 *
 * Entries are separated by new lines or `;` (or commas between entries). `#` starts a comment.
 * An empty text means the defaults: `error-ratio <= 1%` and `p99 <= 1s`.
 */


/** A window as Prometheus writes it and people read it: 30d, 6h, 5m, 90s, 1500ms. */
function objectives_formatWindow(ms) {
    const units = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]];
    if (ms <= 0 || !Number.isFinite(ms))
        return `${Math.max(0, Math.round(ms))}ms`;
    for (const [u, size] of units)
        if (ms % size === 0)
            return `${ms / size}${u}`;
    return `${Math.round(ms)}ms`;
}
/** A latency for people: 300ms, 1s, 1.5s. */
function formatMs(ms) {
    if (!Number.isFinite(ms))
        return ms > 0 ? '∞' : String(ms);
    if (ms < 1000)
        return `${+ms.toFixed(ms < 10 ? 2 : ms < 100 ? 1 : 0)}ms`;
    return `${+(ms / 1000).toFixed(ms < 10_000 ? 3 : 1)}s`;
}
const DEFAULT_OBJECTIVES_TEXT = 'error-ratio <= 1%\np99 <= 1s';
const DEFAULT_SLO_WINDOW_MS = 30 * 86_400_000;
/** The SRE workbook's multiwindow, multi-burn-rate pairs for paging. */
const DEFAULT_BURN_RATES = [
    { factor: 14.4, longMs: 3_600_000, shortMs: 300_000 },
    { factor: 6, longMs: 6 * 3_600_000, shortMs: 30 * 60_000 },
];
const OBJECTIVES_HELP = 'objectives such as "error-ratio <= 1%", "p99 <= 1s", "p95 <= 300ms", "slo: 99.5%" with "window: 30d" (one per line or separated by ;)';
function fail(entry, why) {
    throw new errors/* UserError */.yo(`objective ${(0,errors/* showValue */.vp)(entry, 80)}: ${why}`);
}
function percent(entry, text, what) {
    const t = text.trim();
    if (t.startsWith('-'))
        fail(entry, `${what} cannot be negative`);
    const m = /^(\d+(?:\.\d+)?)\s*%$/.exec(t);
    if (!m)
        fail(entry, `${what} ${(0,errors/* showValue */.vp)(t, 40)} is not a percentage like 1% or 0.5%`);
    const v = Number(m[1]);
    if (v > 100)
        fail(entry, `${what} ${t} is over 100%`);
    return Number((v / 100).toFixed(10));
}
function objectives_duration(entry, text, what) {
    const t = text.trim();
    if (t.startsWith('-'))
        fail(entry, `${what} cannot be negative (got ${t})`);
    let ms;
    try {
        ms = (0,duration/* parseDuration */.E9)(t);
    }
    catch {
        fail(entry, `${what} ${(0,errors/* showValue */.vp)(t, 40)} is not a duration like 300ms, 1s or 30d`);
    }
    return ms;
}
const OPERATOR = /^\s*(<=|<|=<|≤)\s*(.+)$/;
function upperLimit(entry, rest) {
    const m = OPERATOR.exec(rest);
    if (m)
        return m[2];
    if (/^\s*(>=|>|=|==)/.test(rest))
        fail(entry, 'objectives are upper limits: write <= (for example error-ratio <= 1%)');
    fail(entry, 'missing <= and a limit');
}
function parseBurnRates(entry, text) {
    const pairs = text.split(/[,\s]+/).filter(Boolean);
    if (pairs.length === 0)
        fail(entry, 'no burn-rate pairs');
    return pairs.map((p) => {
        const m = /^(\d+(?:\.\d+)?)@([^/]+)\/(.+)$/.exec(p);
        if (!m)
            fail(entry, `burn-rate pair ${(0,errors/* showValue */.vp)(p, 40)} is not like 14.4@1h/5m (factor@long-window/short-window)`);
        const factor = Number(m[1]);
        if (!(factor > 0))
            fail(entry, 'a burn-rate factor must be more than 0');
        const longMs = objectives_duration(entry, m[2], 'long window');
        const shortMs = objectives_duration(entry, m[3], 'short window');
        if (shortMs <= 0 || longMs <= 0)
            fail(entry, 'burn-rate windows must be longer than 0');
        if (shortMs >= longMs)
            fail(entry, `the short window (${m[3]}) must be shorter than the long one (${m[2]})`);
        return { factor, longMs, shortMs };
    });
}
/** Splits objective text into entries: new lines, `;`, or commas that start a new entry. */
function objectiveEntries(text) {
    return text
        .split(/\r?\n|;|,(?=\s*[a-zA-Z])/)
        .map((l) => l.replace(/#.*$/, '').replace(/^\s*-\s+/, '').trim())
        .filter(Boolean);
}
/**
 * Parses objectives text. Throws UserError naming the entry and what is wrong
 * (`p101`, unknown objectives, negative durations, `window` without `slo` …).
 */
function parseObjectives(text) {
    const entries = objectiveEntries(text ?? '');
    if (entries.length === 0)
        return parseObjectives(DEFAULT_OBJECTIVES_TEXT);
    const out = [];
    let slo;
    let windowMs;
    let burnRates;
    const seen = new Set();
    const once = (entry, key) => {
        if (seen.has(key))
            fail(entry, `${key} is given twice`);
        seen.add(key);
    };
    for (const entry of entries) {
        const lower = entry.toLowerCase();
        let m;
        if ((m = /^(error[-_ ]?(?:ratio|rate))\b(.*)$/.exec(lower))) {
            once(entry, 'error-ratio');
            const max = percent(entry, upperLimit(entry, m[2]), 'the error ratio');
            out.push({ kind: 'error-ratio', max, text: `error-ratio <= ${(0,duration/* formatPercent */.l9)(max, 4)}` });
        }
        else if ((m = /^p(-?\d+(?:\.\d+)?)(?![\w.])(.*)$/.exec(lower))) {
            const q = Number(m[1]);
            if (!(q > 0 && q < 100))
                fail(entry, `p${m[1]} is not a quantile: use p1 to p99.99 (p50, p95, p99, p99.9)`);
            once(entry, `p${q}`);
            const maxMs = objectives_duration(entry, upperLimit(entry, m[2]), `p${q}`);
            if (maxMs <= 0)
                fail(entry, `the p${q} limit must be more than 0`);
            out.push({ kind: 'latency', quantile: Number((q / 100).toFixed(8)), maxMs, text: `p${q} <= ${formatMs(maxMs)}` });
        }
        else if ((m = /^slo\s*(?::|>=|=)\s*(.+)$/.exec(lower))) {
            once(entry, 'slo');
            const body = m[1].trim();
            const parts = /^([^\s]+%)(?:\s+(?:under|below|<|<=)\s+(.+))?$/.exec(body.replace(/\s+%/, '%'));
            if (!parts)
                fail(entry, 'write slo: 99.5% (optionally "slo: 99.5% under 300ms")');
            const target = percent(entry, parts[1], 'the SLO');
            if (!(target > 0 && target < 1))
                fail(entry, 'an SLO must be between 0% and 100% (exclusive), for example 99.5%');
            const latencyMs = parts[2] !== undefined ? objectives_duration(entry, parts[2], 'the SLO latency') : undefined;
            if (latencyMs !== undefined && latencyMs <= 0)
                fail(entry, 'the SLO latency must be more than 0');
            slo = { kind: 'slo', target, windowMs: DEFAULT_SLO_WINDOW_MS, latencyMs, burnRates: DEFAULT_BURN_RATES, text: '' };
            out.push(slo);
        }
        else if ((m = /^(?:window|slo-window)\s*:\s*(.+)$/.exec(lower))) {
            once(entry, 'window');
            windowMs = objectives_duration(entry, m[1], 'the SLO window');
            if (windowMs % 1000 !== 0)
                fail(entry, 'the SLO window must be whole seconds');
            if (windowMs < 60_000)
                fail(entry, 'the SLO window must be at least 1m (usually 28d or 30d)');
        }
        else if ((m = /^burn[-_ ]?rates?\s*:\s*(.+)$/.exec(lower))) {
            once(entry, 'burn-rate');
            burnRates = parseBurnRates(entry, m[1]);
        }
        else {
            const word = /^[a-z][\w-]*/.exec(lower)?.[0];
            fail(entry, word ? `unknown objective ${(0,errors/* showValue */.vp)(word, 40)} (known: error-ratio, p<N>, slo, window, burn-rate)` : 'not an objective');
        }
    }
    if (!slo && windowMs !== undefined)
        throw new errors/* UserError */.yo(`objective "window: ${objectives_formatWindow(windowMs)}" needs an SLO: add a line like "slo: 99.5%"`);
    if (!slo && burnRates !== undefined)
        throw new errors/* UserError */.yo('objective "burn-rate" needs an SLO: add a line like "slo: 99.5%"');
    if (slo) {
        if (windowMs !== undefined)
            slo.windowMs = windowMs;
        if (burnRates) {
            for (const p of burnRates) {
                if (p.longMs > slo.windowMs)
                    throw new errors/* UserError */.yo(`burn-rate window ${objectives_formatWindow(p.longMs)} is longer than the SLO window ${objectives_formatWindow(slo.windowMs)}`);
            }
            slo.burnRates = burnRates;
        }
        else {
            // The default pairs that fit a short SLO window (a 30d or 28d window keeps both).
            slo.burnRates = DEFAULT_BURN_RATES.filter((p) => p.longMs <= slo.windowMs);
        }
        slo.text = `slo ${(0,duration/* formatPercent */.l9)(slo.target, 4)}${slo.latencyMs !== undefined ? ` under ${formatMs(slo.latencyMs)}` : ''} over ${objectives_formatWindow(slo.windowMs)}`;
    }
    return out;
}
/** A short name for an objective, for tables and logs. */
function objectiveName(o) {
    if (o.kind === 'error-ratio')
        return 'error ratio';
    if (o.kind === 'latency')
        return `p${+(o.quantile * 100).toFixed(4)}`;
    return `SLO ${(0,duration/* formatPercent */.l9)(o.target, 4)}`;
}

// EXTERNAL MODULE: ./src/lib/http.ts
var http = __webpack_require__(1931);
// EXTERNAL MODULE: ./src/lib/sleep.ts
var sleep = __webpack_require__(8964);
;// CONCATENATED MODULE: ./src/metrics/probe.ts
/**
 * The probe provider: Slipway's own bounded traffic, for teams without Prometheus and for staging.
 * Sends requests at a fixed rate (open loop: the schedule does not slow down when the server does)
 * to every URL × path in turn, at most `concurrency` in flight, and records each answer's status and
 * latency. An answer ≥ 500, a timeout or a connection error is an error; failed requests count as
 * infinitely slow for latency. Bounded: it stops at its duration, when stopped, or when cancelled.
 */




function joinUrl(base, path) {
    if (!path || path === '/')
        return base;
    return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}
class Probe {
    targets;
    o;
    records = [];
    http;
    controller = new AbortController();
    loop;
    started = 0;
    skipped = 0;
    /** Errors without an answer, by message (first few), for the report. */
    failures = new Map();
    constructor(o) {
        if (o.urls.length === 0)
            throw new Error('probe: no URLs');
        if (!(o.rate > 0))
            throw new Error('probe: rate must be more than 0');
        this.o = o;
        const paths = o.paths?.length ? o.paths : ['/'];
        this.targets = o.urls.flatMap((u) => paths.map((p) => joinUrl(u, p)));
        this.http = o.http ?? http/* request */.Em;
    }
    /** Starts sending traffic for durationMs (runs in the background until then, stop() or the signal). */
    start(durationMs, signal) {
        if (this.loop)
            return;
        this.started = performance.now();
        if (signal)
            signal.addEventListener('abort', () => this.controller.abort(signal.reason), { once: true });
        this.loop = this.run(durationMs);
    }
    async run(durationMs) {
        const signal = this.controller.signal;
        const gap = 1000 / this.o.rate;
        const total = Math.max(1, Math.floor((durationMs / 1000) * this.o.rate));
        const inFlight = new Set();
        for (let i = 0; i < total && !signal.aborted; i++) {
            const due = this.started + i * gap;
            const wait = due - performance.now();
            if (wait > 0)
                await (0,sleep/* sleep */.y)(wait, signal).catch(() => undefined);
            if (signal.aborted)
                break;
            if (inFlight.size >= this.o.concurrency) {
                // Open loop with a cap: a send that cannot start within its slot is skipped (and counted), so a
                // slow server cannot make the probe run past its duration.
                const raced = await Promise.race([Promise.race(inFlight).then(() => true), (0,sleep/* sleep */.y)(gap, signal).then(() => false, () => false)]);
                if (!raced || inFlight.size >= this.o.concurrency) {
                    this.skipped++;
                    continue;
                }
            }
            const url = this.targets[i % this.targets.length];
            const p = this.send(url).finally(() => inFlight.delete(p));
            inFlight.add(p);
        }
        await Promise.allSettled([...inFlight]);
    }
    async send(url) {
        const t0 = performance.now();
        const atMs = t0 - this.started;
        try {
            const res = await this.http(url, {
                method: this.o.method ?? 'GET',
                headers: this.o.headers,
                timeoutMs: this.o.timeoutMs,
                retries: 0,
                signal: this.controller.signal,
                maxBodyBytes: 256 * 1024,
            });
            this.records.push({ atMs, url, status: res.status, latencyMs: performance.now() - t0 });
        }
        catch (err) {
            if (this.controller.signal.aborted)
                return; // stopped: not the server's fault
            const msg = (0,errors/* errorMessage */.gJ)(err).replace(/^GET \S+ failed after 1 attempt: /, '');
            this.failures.set(msg, (this.failures.get(msg) ?? 0) + 1);
            this.records.push({ atMs, url, status: 0, latencyMs: Infinity, error: msg });
        }
    }
    /** Stops sending; in-flight requests are abandoned (not counted). */
    async stop() {
        this.controller.abort(new Error('probe stopped'));
        await this.loop?.catch(() => undefined);
    }
    /** Resolves when the probe has sent everything it was asked to send. */
    async done() {
        await this.loop?.catch(() => undefined);
    }
    get sent() {
        return this.records.length;
    }
    get skippedSends() {
        return this.skipped;
    }
    /** Everything measured so far (cumulative since start). */
    snapshot() {
        const recs = [...this.records];
        const codes = {};
        let errors = 0;
        let good = 0;
        const latencies = [];
        for (const r of recs) {
            const code = r.status === 0 ? 'no answer' : String(r.status);
            codes[code] = (codes[code] ?? 0) + 1;
            const isError = r.status === 0 || r.status >= 500;
            if (isError)
                errors++;
            else if (this.o.sloLatencyMs === undefined || r.latencyMs <= this.o.sloLatencyMs)
                good++;
            latencies.push(r.latencyMs);
        }
        latencies.sort((a, b) => a - b);
        return {
            requests: recs.length,
            errors,
            latency: { kind: 'samples', sortedMs: latencies },
            sloGood: good,
            sloLatencyBoundMs: this.o.sloLatencyMs,
            codes,
            windowMs: this.started ? performance.now() - this.started : 0,
        };
    }
    describe() {
        return `${this.o.rate} req/s to ${this.targets.map(secrets/* redactUrl */.BO).join(', ')}`;
    }
}

;// CONCATENATED MODULE: ./src/metrics/prometheus.ts
/**
 * The Prometheus provider: the HTTP API client (instant and range queries, auth, timeouts,
 * retries, Prometheus' own error text) and the queries the gate runs, either ready-made ones with
 * {{version}}/{{window}}/{{quantile}} placeholders or standard ones built from a request counter by
 * status code and a latency histogram (what the sample app exports:
 * http_requests_total{route,method,code,version} and http_request_duration_seconds).
 */




/** Prometheus answered, and refused the query (bad PromQL, bad parameters): retrying cannot help. */
class PrometheusQueryError extends errors/* UserError */.yo {
    query;
    errorType;
    constructor(query, errorType, message) {
        super(`Prometheus rejected the query ${JSON.stringify(query.length > 300 ? `${query.slice(0, 300)}…` : query)}: ${errorType ? `${errorType}: ` : ''}${message}`);
        this.name = 'PrometheusQueryError';
        this.query = query;
        this.errorType = errorType;
    }
}
/** Prometheus could not be reached or failed (network, timeout, 5xx): may pass. */
class PrometheusUnavailableError extends errors/* UserError */.yo {
    constructor(message) {
        super(message);
        this.name = 'PrometheusUnavailableError';
    }
}
/** The largest answer read (bytes); a larger one is an error, not a silently cut JSON document. */
const MAX_ANSWER_BYTES = 4 << 20;
function stripTrailingSlash(url) {
    try {
        const u = new URL(url);
        u.pathname = u.pathname.replace(/\/+$/, '');
        return u.toString().replace(/\/(?=$|[?#])/, '');
    }
    catch {
        return url.replace(/\/+$/, '');
    }
}
/** The API URL for a base URL: the path joined before the base's query string (tokens are often passed there), never after it. */
function apiUrl(base, path) {
    const u = new URL(base);
    u.pathname = `${u.pathname.replace(/\/+$/, '')}${path}`;
    return u.toString();
}
class PrometheusClient {
    url;
    headers;
    opts;
    http;
    /** The client's own credentials in every form: a server's answer is quoted only after they are redacted. */
    secrets;
    constructor(opts) {
        this.opts = opts;
        this.url = stripTrailingSlash(opts.url);
        this.http = opts.http ?? http/* request */.Em;
        const headers = { accept: 'application/json', ...opts.headers };
        if (opts.token)
            headers.authorization = `Bearer ${opts.token}`;
        else if (opts.username !== undefined || opts.password !== undefined) {
            headers.authorization = `Basic ${Buffer.from(`${opts.username ?? ''}:${opts.password ?? ''}`).toString('base64')}`;
        }
        this.headers = headers;
        this.secrets = (0,secrets/* requestSecrets */.pN)(this.url, headers);
    }
    /** The server's address without credentials, for logs. */
    get displayUrl() {
        return stripTrailingSlash((0,secrets/* redactUrl */.BO)(this.url));
    }
    /** An answer's text, fit for an error message: redacted, one line, cut short. */
    quote(text, max = 300) {
        return (0,secrets/* quote */.hD)(text, this.secrets, max);
    }
    async call(path, params, query, signal) {
        const body = new URLSearchParams(params).toString();
        let res;
        try {
            res = await this.http(apiUrl(this.url, path), {
                method: 'POST',
                headers: { ...this.headers, 'content-type': 'application/x-www-form-urlencoded' },
                body,
                timeoutMs: this.opts.timeoutMs ?? 10_000,
                retries: this.opts.retries ?? 2,
                backoffMs: this.opts.backoffMs ?? 300,
                maxBodyBytes: MAX_ANSWER_BYTES,
                signal,
            });
        }
        catch (err) {
            if (signal?.aborted)
                throw err;
            throw new PrometheusUnavailableError(`Prometheus at ${this.displayUrl} unreachable: ${(0,errors/* errorMessage */.gJ)(err).replace(/^POST \S+ /, '')}`);
        }
        let parsed;
        try {
            parsed = JSON.parse(res.body);
        }
        catch {
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
            throw new PrometheusQueryError(query, 'not_found', `HTTP 404 from ${(0,secrets/* redactUrl */.BO)(apiUrl(this.url, path))}: is prometheus-url the Prometheus server (without /api/v1)?`);
        if (res.truncated)
            throw new PrometheusUnavailableError(`Prometheus at ${this.displayUrl} answered with more than ${MAX_ANSWER_BYTES >> 20} MB (the cap on an answer): narrow the query`);
        if (!parsed || parsed.status !== 'success' || !parsed.data) {
            throw new PrometheusUnavailableError(`Prometheus at ${this.displayUrl} answered HTTP ${res.status} with something that is not a Prometheus API answer: ${this.quote(res.body, 200)}`);
        }
        return parsed.data;
    }
    /** Instant query. Scalars come back as one sample without labels. */
    async query(promql, opts = {}) {
        const params = { query: promql };
        if (opts.time !== undefined)
            params.time = String(opts.time / 1000);
        if (this.opts.timeoutMs)
            params.timeout = `${Math.max(1, Math.floor(this.opts.timeoutMs / 1000))}s`;
        const data = await this.call('/api/v1/query', params, promql, opts.signal);
        if (!data)
            return [];
        if (data.resultType === 'scalar') {
            const [, v] = data.result;
            return [{ metric: {}, value: Number(v) }];
        }
        if (data.resultType !== 'vector')
            throw new PrometheusQueryError(promql, 'bad_data', `expected an instant vector or a scalar, got a ${data.resultType} (remove the range selector around the whole expression)`);
        return data.result.map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
    }
    /** Range query: one series per label set, values at each step. */
    async queryRange(promql, opts) {
        const params = {
            query: promql,
            start: String(opts.startMs / 1000),
            end: String(opts.endMs / 1000),
            step: `${Math.max(1, Math.round(opts.stepMs / 1000))}s`,
        };
        const data = await this.call('/api/v1/query_range', params, promql, opts.signal);
        if (!data)
            return [];
        if (data.resultType !== 'matrix')
            throw new PrometheusQueryError(promql, 'bad_data', `expected a range result, got a ${data.resultType}`);
        return data.result.map((s) => ({
            metric: s.metric,
            values: s.values.map(([t, v]) => [t * 1000, Number(v)]),
        }));
    }
}
/** Escapes a value for a PromQL string literal in a label matcher. */
function promString(value) {
    return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
const DEFAULT_METRICS = {
    requestsMetric: 'http_requests_total',
    latencyMetric: 'http_request_duration_seconds',
    selector: '',
    versionLabel: 'version',
    codeLabel: 'code',
};
/** Fills {{version}}, {{window}} and {{quantile}}. Unknown placeholders are an error, not silence. */
function fillTemplate(template, values) {
    return template.replace(/\{\{\s*([a-zA-Z_-]+)\s*\}\}/g, (_, name) => {
        if (name === 'window')
            return values.window;
        if (name === 'version') {
            if (values.version === undefined)
                throw new errors/* UserError */.yo(`the query uses {{version}} but no version was given: ${template.slice(0, 200)}`);
            return promString(values.version);
        }
        if (name === 'quantile') {
            if (values.quantile === undefined)
                throw new errors/* UserError */.yo(`{{quantile}} is only available in latency-query: ${template.slice(0, 200)}`);
            return String(values.quantile);
        }
        throw new errors/* UserError */.yo(`unknown placeholder {{${name}}} in query (known: {{version}}, {{window}}, {{quantile}}): ${template.slice(0, 200)}`);
    });
}
/** Label matchers for the standard queries: the selector, the version and any extra matchers. */
function matchers(m, version, ...extra) {
    const parts = [m.selector.trim().replace(/^\{|\}$/g, '').trim(), version !== undefined ? `${m.versionLabel}="${promString(version)}"` : '', ...extra].filter(Boolean);
    return `{${parts.join(', ')}}`;
}
function standardQueries(m, version, windowMs) {
    const w = objectives_formatWindow(windowMs);
    return {
        requests: `sum(increase(${m.requestsMetric}${matchers(m, version)}[${w}]))`,
        errors: `sum(increase(${m.requestsMetric}${matchers(m, version, `${m.codeLabel}=~"5.."`)}[${w}]))`,
        buckets: `sum by (le) (increase(${m.latencyMetric}_bucket${matchers(m, version)}[${w}]))`,
        goodBuckets: `sum by (le) (increase(${m.latencyMetric}_bucket${matchers(m, version, `${m.codeLabel}!~"5.."`)}[${w}]))`,
    };
}
function parseLe(le) {
    if (le === undefined)
        return NaN;
    if (le === '+Inf')
        return Infinity;
    return Number(le) * 1000;
}
/** A `sum by (le)` vector as a sorted cumulative histogram in milliseconds. */
function toHistogram(samples) {
    return samples
        .map((s) => ({ leMs: parseLe(s.metric.le), count: Number.isFinite(s.value) ? s.value : 0 }))
        .filter((b) => !Number.isNaN(b.leMs))
        .sort((a, b) => a.leMs - b.leMs);
}
const single = (r) => (r.length === 0 || Number.isNaN(r[0].value) ? undefined : r.reduce((s, x) => s + x.value, 0));
/** One look at a version through Prometheus over a window. Empty results stay undefined (= no data). */
async function measurePrometheus(o, version, windowMs, signal) {
    const w = objectives_formatWindow(windowMs);
    const q = standardQueries(o.metrics, version, windowMs);
    const queries = [];
    const run = (promql) => {
        queries.push(promql);
        return o.client.query(promql, { signal });
    };
    const out = { windowMs, queries };
    if (o.custom.errorRatio) {
        const ratio = single(await run(fillTemplate(o.custom.errorRatio, { version, window: w })));
        const requests = o.custom.requests ? single(await run(fillTemplate(o.custom.requests, { version, window: w }))) : undefined;
        if (ratio !== undefined && Number.isFinite(ratio)) {
            out.errorRatio = ratio;
            if (requests !== undefined) {
                out.requests = Math.round(requests);
                out.errors = Math.round(ratio * requests);
            }
        }
        else if (requests !== undefined) {
            out.requests = Math.round(requests);
        }
    }
    else {
        const requests = single(await run(q.requests));
        if (requests !== undefined) {
            out.requests = Math.round(requests);
            // No 5xx series at all means no errors (counters appear on their first increment): only when requests exist.
            out.errors = Math.round(single(await run(q.errors)) ?? 0);
        }
    }
    if (o.wantLatency) {
        if (o.custom.latency) {
            const valuesMs = {};
            for (const quantile of o.quantiles) {
                const v = single(await run(fillTemplate(o.custom.latency, { version, window: w, quantile })));
                valuesMs[String(quantile)] = v !== undefined && Number.isFinite(v) ? v * 1000 : undefined;
            }
            out.latency = { kind: 'quantiles', valuesMs };
            if (out.requests === undefined && o.custom.requests) {
                const r = single(await run(fillTemplate(o.custom.requests, { version, window: w })));
                if (r !== undefined)
                    out.requests = Math.round(r);
            }
        }
        else {
            const buckets = toHistogram(await run(q.buckets));
            if (buckets.length)
                out.latency = { kind: 'histogram', buckets };
        }
    }
    if (o.sloLatencyMs !== undefined && !o.custom.errorRatio) {
        const good = toHistogram(await run(q.goodBuckets));
        // The largest bucket edge at or below the SLO latency: a conservative count of fast, good requests.
        let bound = 0;
        let count = 0;
        for (const b of good) {
            if (b.leMs > o.sloLatencyMs + 1e-9)
                break;
            bound = b.leMs;
            count = b.count;
        }
        out.sloGood = Math.round(count);
        out.sloLatencyBoundMs = bound;
    }
    return out;
}
/** Error-ratio points over a period (a range query), for the report's timeline. */
async function errorRatioTimeline(o, version, opts) {
    const w = objectives_formatWindow(opts.windowMs);
    const promql = o.custom.errorRatio
        ? fillTemplate(o.custom.errorRatio, { version, window: w })
        : (() => {
            const q = standardQueries(o.metrics, version, opts.windowMs);
            return `(${q.errors} or vector(0)) / ${q.requests}`;
        })();
    const series = await o.client.queryRange(promql, opts);
    return (series[0]?.values ?? []).filter(([, v]) => Number.isFinite(v)).map(([atMs, ratio]) => ({ atMs, ratio }));
}

;// CONCATENATED MODULE: ./src/metrics/slo.ts

function badCount(c) {
    return Math.max(0, c.total - c.good);
}
/** Bad ÷ total, or undefined without requests. */
function errorRatio(c) {
    if (!c || !(c.total > 0))
        return undefined;
    return badCount(c) / c.total;
}
/** How many times faster than sustainable the budget burns: error ratio ÷ (1 − SLO). 1 = spent exactly at the window's end. */
function burnRate(ratio, target) {
    return ratio / (1 - target);
}
function windowBurn(windowMs, counts, target) {
    const ratio = errorRatio(counts);
    return { windowMs, counts, ratio, burn: ratio === undefined ? undefined : burnRate(ratio, target) };
}
function pairLabel(p) {
    return `${p.factor}× over ${objectives_formatWindow(p.longMs)} and ${objectives_formatWindow(p.shortMs)}`;
}
/**
 * One multiwindow pair. A short window without requests burns nothing (no traffic spends no budget);
 * a long window without requests is no data.
 */
function evaluateBurnPair(pair, target, long, short) {
    const l = windowBurn(pair.longMs, long, target);
    const s = windowBurn(pair.shortMs, short, target);
    const nodata = l.burn === undefined;
    const firing = !nodata && l.burn > pair.factor && (s.burn ?? 0) > pair.factor;
    return { pair, long: l, short: s, firing, nodata, label: pairLabel(pair) };
}
/** Every distinct window the pairs need, longest first. */
function burnWindows(pairs) {
    return [...new Set(pairs.flatMap((p) => [p.longMs, p.shortMs]))].sort((a, b) => b - a);
}
/** The error budget over the SLO window (error-budget policy: when it is spent, feature releases stop). */
function errorBudget(target, windowMs, counts) {
    const bad = badCount(counts);
    // 1 − 0.995 is 0.0050000000000000044 in floating point: round so "exactly spent" is spent.
    const allowedBad = Math.round((1 - target) * counts.total * 1e6) / 1e6;
    const remaining = allowedBad > 0 ? 1 - bad / allowedBad : bad > 0 ? -Infinity : 1;
    return { target, windowMs, total: counts.total, bad, allowedBad, remaining, spent: remaining <= 1e-12 };
}

;// CONCATENATED MODULE: ./src/metrics/stats.ts
/**
 * The statistics behind the SLO gate, small and dependency-free:
 * normal distribution, Wilson score interval (and the samples a decision needs), exact binomial
 * CDF and distribution-free quantile bounds from order statistics, the two-proportion z-test and
 * the Mann-Whitney U test (exact for small samples without ties, normal approximation with tie
 * and continuity correction otherwise, as scipy.stats.mannwhitneyu does with method='auto').
 */
/** Standard normal CDF Φ(x) (W. J. Cody's rational approximation of erfc; ~1e-15 relative). */
function normalCdf(x) {
    if (Number.isNaN(x))
        return NaN;
    if (x === Infinity)
        return 1;
    if (x === -Infinity)
        return 0;
    return 0.5 * erfc(-x / Math.SQRT2);
}
/** Complementary error function (Numerical Recipes' Chebyshev fit, refined; |error| < 1.2e-7 relative). */
function erfc(x) {
    const z = Math.abs(x);
    const t = 2 / (2 + z);
    const ty = 4 * t - 2;
    const cof = [
        -1.3026537197817094, 6.419697923564902e-1, 1.9476473204185836e-2, -9.561514786808631e-3, -9.46595344482036e-4, 3.66839497852761e-4,
        4.2523324806907e-5, -2.0278578112534e-5, -1.624290004647e-6, 1.30365583558e-6, 1.5626441722e-8, -8.5238095915e-8, 6.529054439e-9,
        5.059343495e-9, -9.91364156e-10, -2.27365122e-10, 9.6467911e-11, 2.394038e-12, -6.886027e-12, 8.94487e-13, 3.13092e-13,
        -1.12708e-13, 3.81e-16, 7.106e-15, -1.523e-15, -9.4e-17, 1.21e-16, -2.8e-17,
    ];
    let d = 0;
    let dd = 0;
    for (let j = cof.length - 1; j > 0; j--) {
        const tmp = d;
        d = ty * d - dd + cof[j];
        dd = tmp;
    }
    const r = t * Math.exp(-z * z + 0.5 * (cof[0] + ty * d) - dd);
    return x >= 0 ? r : 2 - r;
}
/** Inverse standard normal CDF (Acklam's algorithm with one Halley refinement step). */
function normalQuantile(p) {
    if (!(p > 0 && p < 1)) {
        if (p === 0)
            return -Infinity;
        if (p === 1)
            return Infinity;
        return NaN;
    }
    const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
    const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
    const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    const lo = 0.02425;
    let x;
    if (p < lo) {
        const q = Math.sqrt(-2 * Math.log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    else if (p <= 1 - lo) {
        const q = p - 0.5;
        const r = q * q;
        x = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    }
    else {
        const q = Math.sqrt(-2 * Math.log(1 - p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    // Halley step
    const e = normalCdf(x) - p;
    const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
    return x - u / (1 + (x * u) / 2);
}
/** z for a two-sided interval at this confidence (0.95 → 1.96). */
function zFor(confidence) {
    return normalQuantile(1 - (1 - confidence) / 2);
}
/**
 * Per-look confidence when a decision is taken `looks` times (Bonferroni): the chance of any wrong
 * decision over all looks stays at most 1 − confidence.
 */
function bonferroni(confidence, looks) {
    return 1 - (1 - confidence) / Math.max(1, looks);
}
/** Wilson score interval for `successes` out of `n` at a two-sided confidence (no continuity correction). */
function wilson(successes, n, confidence = 0.95) {
    if (n <= 0)
        return { lower: 0, upper: 1 };
    const z = zFor(confidence);
    const p = Math.min(1, Math.max(0, successes / n));
    const z2 = z * z;
    const denom = 1 + z2 / n;
    const center = (p + z2 / (2 * n)) / denom;
    const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
    // At 0 (or n) successes the bound is exactly 0 (or 1); floating point would leave 4e-17.
    return { lower: successes <= 0 ? 0 : Math.max(0, center - half), upper: successes >= n ? 1 : Math.min(1, center + half) };
}
/**
 * Judges "true ratio ≤ threshold" from counts: pass when the interval's upper bound is below the
 * threshold, fail when its lower bound is above it, otherwise inconclusive.
 */
function judgeRatio(events, n, threshold, confidence) {
    const interval = wilson(events, n, confidence);
    if (n > 0 && interval.upper < threshold)
        return { decision: 'pass', interval };
    if (n > 0 && interval.lower > threshold)
        return { decision: 'fail', interval };
    return { decision: 'inconclusive', interval };
}
/**
 * About how many samples a decision needs if the observed ratio holds: the smallest n for which
 * the Wilson interval around `ratio` clears the threshold (upper bound below it when the ratio is
 * below, lower bound above it when above). Infinity when the ratio equals the threshold.
 */
function samplesNeeded(ratio, threshold, confidence, max = 1e9) {
    const p = Math.min(1, Math.max(0, ratio));
    if (p === threshold)
        return Infinity;
    const clears = (n) => {
        const i = wilson(p * n, n, confidence);
        return p < threshold ? i.upper < threshold : i.lower > threshold;
    };
    let hi = 1;
    while (!clears(hi)) {
        hi *= 2;
        if (hi > max)
            return Infinity;
    }
    let lo = Math.floor(hi / 2);
    while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (clears(mid))
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}
/** ln Γ(x) (Lanczos, g=7, n=9). */
function logGamma(x) {
    const g = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
    if (x < 0.5)
        return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
    const xx = x - 1;
    let a = g[0];
    const t = xx + 7.5;
    for (let i = 1; i < 9; i++)
        a += g[i] / (xx + i);
    return 0.5 * Math.log(2 * Math.PI) + (xx + 0.5) * Math.log(t) - t + Math.log(a);
}
/** P(X ≤ k) for X ~ Binomial(n, p), summed exactly in log space. */
function binomialCdf(k, n, p) {
    if (k < 0)
        return 0;
    if (k >= n)
        return 1;
    if (p <= 0)
        return 1;
    if (p >= 1)
        return 0;
    const lp = Math.log(p);
    const lq = Math.log1p(-p);
    const lnN = logGamma(n + 1);
    let sum = 0;
    for (let i = 0; i <= k; i++)
        sum += Math.exp(lnN - logGamma(i + 1) - logGamma(n - i + 1) + i * lp + (n - i) * lq);
    return Math.min(1, sum);
}
/** Precomputed CDF of Binomial(n, q) for k = 0..n (log-space pmf, running sum). */
function binomialCdfTable(n, q) {
    const out = new Float64Array(n + 1);
    const lp = Math.log(q);
    const lq = Math.log1p(-q);
    const lnN = logGamma(n + 1);
    let sum = 0;
    for (let i = 0; i <= n; i++) {
        sum += Math.exp(lnN - logGamma(i + 1) - logGamma(n - i + 1) + i * lp + (n - i) * lq);
        out[i] = Math.min(1, sum);
    }
    return out;
}
/**
 * Distribution-free confidence bounds on the q-quantile from order statistics: no assumption on
 * the shape of the latency distribution. With sorted samples x(1) ≤ … ≤ x(n) and B ~ Binomial(n, q),
 * P(x(k) ≥ ξq) = P(B ≤ k − 1): the upper bound is the smallest such k with P ≥ 1 − α/2, the lower
 * the largest k with P(B ≥ k) ≥ 1 − α/2. `sorted` must be ascending.
 */
function quantileBounds(sorted, q, confidence = 0.95) {
    const n = sorted.length;
    if (n === 0)
        return { estimate: NaN, lower: -Infinity, upper: Infinity, n };
    const tail = (1 - confidence) / 2;
    const cdf = binomialCdfTable(n, q);
    const estimate = sorted[Math.min(n, Math.max(1, Math.ceil(n * q))) - 1];
    let upper = Infinity;
    for (let k = 1; k <= n; k++) {
        if (cdf[k - 1] >= 1 - tail) {
            upper = sorted[k - 1];
            break;
        }
    }
    let lower = -Infinity;
    for (let k = n; k >= 1; k--) {
        // P(B ≥ k) = 1 − P(B ≤ k − 1)
        if (1 - cdf[k - 1] >= 1 - tail) {
            lower = sorted[k - 1];
            break;
        }
    }
    return { estimate, lower, upper, n };
}
/** Type 7 sample quantile (linear interpolation; numpy's default). `sorted` ascending. */
function sampleQuantile(sorted, q) {
    const n = sorted.length;
    if (n === 0)
        return NaN;
    const h = (n - 1) * q;
    const lo = Math.floor(h);
    const a = sorted[lo];
    const b = sorted[Math.min(n - 1, lo + 1)];
    return b === a ? a : a + (h - lo) * (b - a);
}
/**
 * Two-proportion z-test, one-sided: is the new ratio above the baseline's by more than `margin`?
 * H0: pNew − pBase ≤ margin. With margin 0 the pooled standard error is used (the textbook test),
 * otherwise the unpooled one (a non-inferiority test).
 */
function twoProportionTest(eventsNew, nNew, eventsBase, nBase, margin = 0) {
    if (nNew <= 0 || nBase <= 0)
        return { statistic: NaN, pValue: NaN };
    const p1 = eventsNew / nNew;
    const p2 = eventsBase / nBase;
    let se;
    if (margin === 0) {
        const pooled = (eventsNew + eventsBase) / (nNew + nBase);
        se = Math.sqrt(pooled * (1 - pooled) * (1 / nNew + 1 / nBase));
    }
    else {
        se = Math.sqrt((p1 * (1 - p1)) / nNew + (p2 * (1 - p2)) / nBase);
    }
    const diff = p1 - p2 - margin;
    if (se === 0)
        return { statistic: diff > 0 ? Infinity : diff < 0 ? -Infinity : 0, pValue: diff > 0 ? 0 : 1 };
    const z = diff / se;
    return { statistic: z, pValue: 1 - normalCdf(z) };
}
function group(values) {
    const sorted = [...values].sort((a, b) => a - b);
    const out = [];
    for (const v of sorted) {
        const last = out[out.length - 1];
        if (last && last.value === v)
            last.count++;
        else
            out.push({ value: v, count: 1 });
    }
    return out;
}
/**
 * Mann-Whitney U test, alternative "x (new) is stochastically greater than y (baseline)".
 * Accepts raw samples or grouped data (histogram buckets: every observation in a bucket is a tie).
 * Exact distribution when there are no ties and the smaller sample has at most 8 observations
 * (as scipy's method='auto'), otherwise the normal approximation with tie correction and
 * continuity correction.
 */
function mannWhitney(x, y) {
    const gx = toGrouped(x);
    const gy = toGrouped(y);
    const n1 = gx.reduce((s, g) => s + g.count, 0);
    const n2 = gy.reduce((s, g) => s + g.count, 0);
    if (n1 === 0 || n2 === 0)
        return { u: NaN, statistic: NaN, pValue: NaN, method: 'asymptotic', effect: NaN };
    // Merge the two grouped lists by value; average ranks per distinct value.
    const values = [...new Set([...gx.map((g) => g.value), ...gy.map((g) => g.value)])].sort((a, b) => a - b);
    const cx = new Map();
    const cy = new Map();
    for (const g of gx)
        cx.set(g.value, (cx.get(g.value) ?? 0) + g.count);
    for (const g of gy)
        cy.set(g.value, (cy.get(g.value) ?? 0) + g.count);
    let rank = 0;
    let r1 = 0;
    let tieSum = 0;
    let ties = false;
    for (const v of values) {
        const a = cx.get(v) ?? 0;
        const b = cy.get(v) ?? 0;
        const t = a + b;
        const avg = rank + (t + 1) / 2;
        r1 += a * avg;
        rank += t;
        if (t > 1) {
            ties = true;
            tieSum += t * t * t - t;
        }
    }
    const u = r1 - (n1 * (n1 + 1)) / 2;
    const effect = u / (n1 * n2);
    if (!ties && Math.min(n1, n2) <= 8) {
        const pValue = exactUpperTail(n1, n2, u);
        return { u, statistic: u, pValue, method: 'exact', effect };
    }
    const n = n1 + n2;
    const mean = (n1 * n2) / 2;
    const variance = ((n1 * n2) / 12) * (n + 1 - tieSum / (n * (n - 1)));
    if (variance <= 0)
        return { u, statistic: 0, pValue: 1, method: 'asymptotic', effect };
    const z = (u - mean - 0.5) / Math.sqrt(variance);
    return { u, statistic: z, pValue: 1 - normalCdf(z), method: 'asymptotic', effect };
}
function toGrouped(v) {
    if (v.length === 0)
        return [];
    return typeof v[0] === 'number' ? group(v) : v.filter((g) => g.count > 0);
}
/**
 * P(U ≥ u) under H0 for sample sizes m, n without ties: the counts of U are the coefficients of the
 * Gaussian binomial [m+n choose m]_q = Π_{i=1..m} (1 − q^(n+i)) / (1 − q^i).
 */
function exactUpperTail(m, n, u) {
    const small = Math.min(m, n);
    const big = Math.max(m, n);
    const size = small * big + 1;
    let poly = new Float64Array(size);
    poly[0] = 1;
    for (let i = 1; i <= small; i++) {
        // multiply by (1 − q^(big+i))
        const shift = big + i;
        const next = new Float64Array(size);
        for (let k = 0; k < size; k++) {
            next[k] = poly[k] - (k >= shift ? poly[k - shift] : 0);
        }
        // divide by (1 − q^i): c[k] += c[k − i]
        for (let k = i; k < size; k++)
            next[k] = next[k] + next[k - i];
        poly = next;
    }
    let total = 0;
    let tail = 0;
    const cut = Math.ceil(u - 1e-9);
    for (let k = 0; k < size; k++) {
        total += poly[k];
        if (k >= cut)
            tail += poly[k];
    }
    return Math.min(1, tail / total);
}

;// CONCATENATED MODULE: ./src/metrics/gate.ts
/**
 * The SLO gate: judges objectives on measurements with honest statistics, repeats the judgement
 * over time (Argo Rollouts' failure-limit semantics), compares against a baseline, checks burn
 * rates and the error budget, and writes a report a person can act on.
 *
 * Verdicts: `pass` only when the evidence says every objective is met (the confidence bound is
 * inside the limit); `fail` when the evidence says one is not (the bound is outside it), when the
 * provider errored `error-limit` times in a row, or when a query is rejected; `inconclusive` when
 * there is not enough data to tell, with the number of samples a decision would need.
 */












// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------
function fmtRatio(x) {
    if (x === undefined || Number.isNaN(x))
        return '—';
    if (x === 0)
        return '0%';
    const p = x * 100;
    if (p >= 10)
        return `${+p.toFixed(1)}%`;
    if (p >= 0.1)
        return `${+p.toFixed(2)}%`;
    return `${+p.toPrecision(2)}%`;
}
const fmtCount = (n) => (n === undefined ? 'unknown' : n.toLocaleString('en-US'));
const conf = (c) => `${+(c * 100).toFixed(2)}%`;
function nodataRow(base, why, s, samples) {
    return { ...base, measured: 'no data', samples, verdict: s.nodata, nodata: true, reason: `no data: ${why} (nodata policy: ${s.nodata})` };
}
// ---------------------------------------------------------------------------------------------
// Judging one measurement
// ---------------------------------------------------------------------------------------------
function judgeErrorRatio(o, m, s) {
    const base = { objective: o.text, kind: 'error-ratio', threshold: `≤ ${fmtRatio(o.max)}` };
    if (m.requests === undefined && m.errorRatio === undefined)
        return nodataRow(base, 'the request query returned an empty result', s);
    if (m.requests === 0)
        return nodataRow(base, 'no requests in the window', s, 0);
    if (m.requests === undefined || m.errors === undefined) {
        // A ratio without a sample size: it can show a breach, never prove a pass.
        const r = m.errorRatio;
        if (r > o.max)
            return { ...base, measured: `${fmtRatio(r)} (point estimate)`, value: r, verdict: 'fail', reason: `error ratio ${fmtRatio(r)} is above ${fmtRatio(o.max)} (sample size unknown)` };
        return { ...base, measured: `${fmtRatio(r)} (point estimate)`, value: r, verdict: 'inconclusive', reason: 'the error-ratio query gives no sample size, so a pass cannot be proven: set requests-query' };
    }
    const n = m.requests;
    const e = Math.min(m.errors, n);
    const { decision, interval } = judgeRatio(e, n, o.max, s.confidence);
    const measured = `${fmtRatio(e / n)} (${fmtCount(e)} of ${fmtCount(n)}; ${conf(s.confidence)} CI ${fmtRatio(interval.lower)}–${fmtRatio(interval.upper)})`;
    const row = { ...base, measured, samples: n, value: e / n, lower: interval.lower, upper: interval.upper, verdict: decision, reason: '' };
    if (decision === 'fail') {
        row.reason = `error ratio ${fmtRatio(e / n)} (${e} errors in ${n} requests): even the lower bound ${fmtRatio(interval.lower)} is above ${fmtRatio(o.max)}`;
    }
    else if (decision === 'pass' && n < s.minSamples) {
        row.verdict = 'inconclusive';
        row.samplesNeeded = s.minSamples;
        row.reason = `only ${n} requests; min-samples is ${s.minSamples}`;
    }
    else if (decision === 'pass') {
        row.reason = `upper bound ${fmtRatio(interval.upper)} is below ${fmtRatio(o.max)}`;
    }
    else {
        const needed = Math.max(samplesNeeded(e / n, o.max, s.confidence), s.minSamples);
        row.samplesNeeded = Number.isFinite(needed) ? needed : undefined;
        row.reason = `${e} errors in ${n} requests: the interval ${fmtRatio(interval.lower)}–${fmtRatio(interval.upper)} contains the ${fmtRatio(o.max)} limit; ${Number.isFinite(needed) ? `about ${fmtCount(needed)} requests needed to decide at this error ratio` : 'the error ratio sits on the limit'}`;
    }
    return row;
}
function latencyRowBase(o) {
    return { objective: o.text, kind: 'latency', threshold: `≤ ${formatMs(o.maxMs)}` };
}
function judgeLatency(o, m, s) {
    const base = latencyRowBase(o);
    const name = objectiveName(o);
    const lat = m.latency;
    if (!lat)
        return nodataRow(base, 'the latency query returned an empty result', s);
    const slowShare = 1 - o.quantile;
    const finish = (row, slow, n) => {
        if (row.verdict === 'pass' && n < s.minSamples) {
            row.verdict = 'inconclusive';
            row.samplesNeeded = s.minSamples;
            row.reason = `only ${n} requests; min-samples is ${s.minSamples}`;
        }
        else if (row.verdict === 'inconclusive') {
            const needed = Math.max(samplesNeeded(slow / n, slowShare, s.confidence), s.minSamples);
            row.samplesNeeded = Number.isFinite(needed) ? needed : undefined;
            row.reason = `${row.reason}; ${Number.isFinite(needed) ? `about ${fmtCount(needed)} requests needed to decide` : 'the share of slow requests sits on the limit'}`;
        }
        return row;
    };
    if (lat.kind === 'samples') {
        const n = lat.sortedMs.length;
        if (n === 0)
            return nodataRow(base, 'no requests measured', s, 0);
        const b = quantileBounds(lat.sortedMs, o.quantile, s.confidence);
        const slow = lat.sortedMs.filter((x) => x > o.maxMs).length;
        const measured = `${formatMs(b.estimate)} (${conf(s.confidence)} CI ${Number.isFinite(b.lower) ? formatMs(b.lower) : '—'}–${Number.isFinite(b.upper) ? formatMs(b.upper) : 'unbounded'})`;
        const row = { ...base, measured, samples: n, value: b.estimate, lower: b.lower, upper: b.upper, verdict: 'inconclusive', reason: '' };
        if (b.upper <= o.maxMs) {
            row.verdict = 'pass';
            row.reason = `upper bound of ${name} ${formatMs(b.upper)} is within ${formatMs(o.maxMs)}`;
        }
        else if (b.lower > o.maxMs) {
            row.verdict = 'fail';
            row.reason = `${name} ${formatMs(b.estimate)}: even the lower bound ${formatMs(b.lower)} is above ${formatMs(o.maxMs)} (${slow} of ${n} requests slower)`;
        }
        else {
            row.reason = Number.isFinite(b.upper)
                ? `${name} ${formatMs(b.estimate)}: the interval ${Number.isFinite(b.lower) ? formatMs(b.lower) : '0'}–${formatMs(b.upper)} contains the ${formatMs(o.maxMs)} limit`
                : `${n} requests are too few to bound ${name} from above`;
        }
        return finish(row, slow, n);
    }
    if (lat.kind === 'histogram') {
        const total = Math.round(lat.buckets[lat.buckets.length - 1]?.count ?? 0);
        if (total <= 0)
            return nodataRow(base, 'no requests in the window', s, 0);
        const at = countAtOrBelow(lat.buckets, o.maxMs);
        const slowHigh = Math.max(0, total - Math.round(at.low)); // at most this many slower than the limit
        const slowLow = Math.max(0, total - Math.round(at.high)); // at least this many
        const estimate = histogramQuantile(lat.buckets, o.quantile);
        const up = wilson(slowHigh, total, s.confidence).upper;
        const lo = wilson(slowLow, total, s.confidence).lower;
        const edges = at.lowEdge === at.highEdge ? '' : ` (no bucket at ${formatMs(o.maxMs)}: counted between the ${formatMs(at.lowEdge)} and ${formatMs(at.highEdge)} buckets)`;
        const measured = `≈${formatMs(estimate)} (histogram); ${fmtRatio(slowHigh / total)} slower than ${formatMs(o.maxMs)}`;
        const row = { ...base, measured, samples: total, value: estimate, verdict: 'inconclusive', reason: '' };
        if (up < slowShare) {
            row.verdict = 'pass';
            row.reason = `at most ${fmtRatio(up)} of requests are slower than ${formatMs(o.maxMs)} (limit ${fmtRatio(slowShare)})${edges}`;
        }
        else if (lo > slowShare) {
            row.verdict = 'fail';
            row.reason = `${name} ≈${formatMs(estimate)}: at least ${fmtRatio(lo)} of requests are slower than ${formatMs(o.maxMs)} (limit ${fmtRatio(slowShare)})${edges}`;
        }
        else {
            row.reason = `${fmtRatio(slowHigh / total)} of ${total} requests slower than ${formatMs(o.maxMs)}: cannot tell against the ${fmtRatio(slowShare)} limit yet${edges}`;
        }
        return finish(row, slowHigh, total);
    }
    // A point estimate from a custom query: judged only with enough requests behind it.
    const v = lat.valuesMs[String(o.quantile)];
    if (v === undefined)
        return nodataRow(base, 'the latency query returned an empty result', s);
    const n = m.requests;
    const row = { ...base, measured: `${formatMs(v)} (point estimate)`, samples: n, value: v, verdict: v <= o.maxMs ? 'pass' : 'fail', reason: '' };
    if (n === undefined || n < s.minSamples) {
        row.verdict = 'inconclusive';
        row.samplesNeeded = s.minSamples;
        row.reason = n === undefined ? `${name} ${formatMs(v)} from latency-query, but the number of requests is unknown` : `${name} ${formatMs(v)} from only ${n} requests; min-samples is ${s.minSamples}`;
    }
    else
        row.reason = `${name} ${formatMs(v)} ${v <= o.maxMs ? 'is within' : 'is above'} ${formatMs(o.maxMs)} (point estimate from latency-query)`;
    return row;
}
/** The probe cannot see hours of traffic: its SLO check is the burn rate of the probed traffic against the fastest pair's factor. */
function judgeSloOnTraffic(o, m, s) {
    const factor = o.burnRates.length ? Math.max(...o.burnRates.map((p) => p.factor)) : 1;
    const limit = Math.min(1, factor * (1 - o.target));
    const base = { objective: o.text, kind: 'slo', threshold: `burn ≤ ${factor}× (bad ≤ ${fmtRatio(limit)})` };
    const n = m.requests ?? 0;
    if (n === 0 || m.sloGood === undefined)
        return nodataRow(base, 'no requests measured', s, n);
    const bad = n - m.sloGood;
    const { decision, interval } = judgeRatio(bad, n, limit, s.confidence);
    const burn = bad / n / (1 - o.target);
    const row = { ...base, measured: `burn ${burn.toFixed(2)}× (${bad} bad of ${n})`, samples: n, value: burn, verdict: decision, reason: '' };
    if (decision === 'fail')
        row.reason = `the probed traffic burns the error budget at ${burn.toFixed(1)}× (lower bound ${(interval.lower / (1 - o.target)).toFixed(1)}×), above ${factor}×`;
    else if (decision === 'pass' && n < s.minSamples) {
        row.verdict = 'inconclusive';
        row.reason = `only ${n} requests; min-samples is ${s.minSamples}`;
    }
    else if (decision === 'pass')
        row.reason = `burn rate at most ${(interval.upper / (1 - o.target)).toFixed(2)}×`;
    else {
        const needed = samplesNeeded(bad / n, limit, s.confidence);
        row.samplesNeeded = Number.isFinite(needed) ? needed : undefined;
        row.reason = `${bad} bad of ${n}: cannot tell against ${factor}× yet${Number.isFinite(needed) ? `; about ${fmtCount(needed)} requests needed` : ''}`;
    }
    return row;
}
/** SLO burn rates from Prometheus windows: fails when both windows of a pair burn faster than its factor. */
function judgeBurnRates(o, pairs, s) {
    const base = { objective: o.text, kind: 'slo', threshold: o.burnRates.map((p) => `${p.factor}×@${objectives_formatWindow(p.longMs)}/${objectives_formatWindow(p.shortMs)}`).join(', ') || '—' };
    if (pairs.length === 0)
        return nodataRow(base, `no burn-rate pair fits the ${objectives_formatWindow(o.windowMs)} SLO window: set burn-rate`, s);
    if (pairs.every((p) => p.nodata))
        return nodataRow(base, `no requests in the ${pairs.map((p) => objectives_formatWindow(p.pair.longMs)).join(', ')} windows`, s);
    const fmt = (b) => (b === undefined ? '—' : `${b.toFixed(2)}×`);
    const measured = pairs.map((p) => `${fmt(p.long.burn)} (${objectives_formatWindow(p.pair.longMs)}) / ${fmt(p.short.burn)} (${objectives_formatWindow(p.pair.shortMs)})`).join('; ');
    const firing = pairs.filter((p) => p.firing);
    const samples = Math.max(...pairs.map((p) => p.long.counts?.total ?? 0));
    if (firing.length) {
        const p = firing[0];
        return { ...base, measured, samples, verdict: 'fail', reason: `burning the error budget too fast: ${fmt(p.long.burn)} over ${objectives_formatWindow(p.pair.longMs)} and ${fmt(p.short.burn)} over ${objectives_formatWindow(p.pair.shortMs)}, both above ${p.pair.factor}×` };
    }
    return { ...base, measured, samples, verdict: 'pass', reason: 'no burn-rate pair has both windows above its factor' };
}
function latencyGroups(l) {
    if (!l)
        return undefined;
    if (l.kind === 'samples') {
        if (!l.sortedMs.length)
            return undefined;
        const finite = l.sortedMs.map((x) => (Number.isFinite(x) ? x : Number.MAX_VALUE));
        return { groups: finite.map((value) => ({ value, count: 1 })), median: sampleQuantile(l.sortedMs.filter(Number.isFinite), 0.5), n: finite.length };
    }
    if (l.kind === 'histogram') {
        const n = Math.round(l.buckets[l.buckets.length - 1]?.count ?? 0);
        if (n <= 0)
            return undefined;
        return { groups: histogramGroups(l.buckets), median: histogramQuantile(l.buckets, 0.5), n };
    }
    return undefined;
}
/**
 * A slowdown of the median smaller than this is never a failure, however significant: on a fast
 * service, 2.3 ms against 2.1 ms is a real difference (Mann-Whitney sees it) that no user feels.
 */
const BASELINE_LATENCY_MIN_DELTA_MS = 10;
/** The new version against the baseline over the same period: two-proportion z-test and Mann-Whitney U. */
function judgeBaseline(cur, base, s) {
    const alpha = 1 - s.confidence;
    const rows = [];
    const errBase = { objective: 'errors vs baseline', kind: 'baseline-errors', threshold: `≤ baseline + ${fmtRatio(s.baselineErrorTolerance)}` };
    if (!cur.requests || !base.requests || cur.errors === undefined || base.errors === undefined) {
        rows.push(nodataRow(errBase, !cur.requests ? 'no requests for the new version' : 'no requests for the baseline', s, cur.requests));
    }
    else {
        const t = twoProportionTest(cur.errors, cur.requests, base.errors, base.requests, s.baselineErrorTolerance);
        const pNew = cur.errors / cur.requests;
        const pBase = base.errors / base.requests;
        const measured = `${fmtRatio(pNew)} vs ${fmtRatio(pBase)} (z ${Number.isFinite(t.statistic) ? t.statistic.toFixed(2) : t.statistic}, p ${t.pValue.toPrecision(2)})`;
        const n = Math.min(cur.requests, base.requests);
        const row = { ...errBase, measured, samples: cur.requests, value: pNew - pBase, verdict: 'pass', reason: '' };
        if (t.pValue < alpha) {
            row.verdict = 'fail';
            row.reason = `the new version's error ratio ${fmtRatio(pNew)} is significantly above the baseline's ${fmtRatio(pBase)} + ${fmtRatio(s.baselineErrorTolerance)} (one-sided p ${t.pValue.toPrecision(2)} < ${alpha.toPrecision(2)})`;
        }
        else if (n < s.minSamples) {
            row.verdict = 'inconclusive';
            row.samplesNeeded = s.minSamples;
            row.reason = `only ${n} requests on one side; min-samples is ${s.minSamples}`;
        }
        else
            row.reason = `no significant increase over the baseline (p ${t.pValue.toPrecision(2)})`;
        rows.push(row);
    }
    const lc = latencyGroups(cur.latency);
    const lb = latencyGroups(base.latency);
    const latBase = { objective: 'latency vs baseline', kind: 'baseline-latency', threshold: `median ≤ baseline × ${+(1 + s.baselineLatencyTolerance).toFixed(3)}` };
    if (cur.latency?.kind === 'quantiles' || base.latency?.kind === 'quantiles')
        return rows; // point estimates cannot be rank-tested
    if (!lc || !lb) {
        rows.push(nodataRow(latBase, !lc ? 'no latencies for the new version' : 'no latencies for the baseline', s, lc?.n));
        return rows;
    }
    const mw = mannWhitney(lc.groups, lb.groups);
    const ratio = lb.median > 0 ? lc.median / lb.median : lc.median > 0 ? Infinity : 1;
    const measured = `median ${formatMs(lc.median)} vs ${formatMs(lb.median)} (×${Number.isFinite(ratio) ? ratio.toFixed(2) : '∞'}; U p ${mw.pValue.toPrecision(2)})`;
    const row = { ...latBase, measured, samples: lc.n, value: ratio, verdict: 'pass', reason: '' };
    const minDelta = s.baselineLatencyMinDeltaMs ?? BASELINE_LATENCY_MIN_DELTA_MS;
    if (mw.pValue < alpha && ratio > 1 + s.baselineLatencyTolerance && lc.median - lb.median > minDelta) {
        row.verdict = 'fail';
        row.reason = `the new version is significantly slower (Mann-Whitney one-sided p ${mw.pValue.toPrecision(2)} < ${alpha.toPrecision(2)}) and its median is ×${ratio.toFixed(2)} the baseline's (tolerance ×${(1 + s.baselineLatencyTolerance).toFixed(2)}, and more than ${formatMs(minDelta)} slower)`;
    }
    else if (Math.min(lc.n, lb.n) < s.minSamples) {
        row.verdict = 'inconclusive';
        row.samplesNeeded = s.minSamples;
        row.reason = `only ${Math.min(lc.n, lb.n)} requests on one side; min-samples is ${s.minSamples}`;
    }
    else
        row.reason = mw.pValue < alpha ? `slower, but within the tolerance (×${ratio.toFixed(2)}, ${formatMs(Math.max(0, lc.median - lb.median))} on the median)` : `no significant slowdown (p ${mw.pValue.toPrecision(2)})`;
    rows.push(row);
    return rows;
}
/** Judges every objective on one measurement (SLO rows need burn windows or probe traffic: see judgeLook). */
function judgeObjectives(objectives, m, s) {
    return objectives.map((o) => (o.kind === 'error-ratio' ? judgeErrorRatio(o, m, s) : o.kind === 'latency' ? judgeLatency(o, m, s) : judgeSloOnTraffic(o, m, s)));
}
function combine(rows) {
    if (rows.some((r) => r.verdict === 'fail'))
        return 'fail';
    if (rows.some((r) => r.verdict === 'inconclusive'))
        return 'inconclusive';
    return 'pass';
}
function probeSource(probe, label) {
    return {
        label,
        kind: 'probe',
        start: (d, signal) => probe.start(d, signal),
        settle: () => probe.done(),
        stop: () => probe.stop(),
        measure: async () => probe.snapshot(),
        extra: () => ({ sent: probe.sent, skipped: probe.skippedSends, codes: probe.snapshot().codes, failures: Object.fromEntries(probe.failures) }),
    };
}
function prometheusSource(o, version, windowMs, label, sloSelectorVersion) {
    return {
        label,
        kind: 'prometheus',
        measure: (signal) => measurePrometheus(o, version, windowMs, signal),
        async sloCounts(w, signal) {
            const q = standardQueries(o.metrics, sloSelectorVersion, w);
            const total = await o.client.query(q.requests, { signal });
            if (!total.length || Number.isNaN(total[0].value))
                return undefined;
            const n = Math.round(total[0].value);
            let good;
            if (o.sloLatencyMs !== undefined) {
                let c = 0;
                for (const b of toHistogram(await o.client.query(q.goodBuckets, { signal })))
                    if (b.leMs <= o.sloLatencyMs + 1e-9)
                        c = b.count;
                good = Math.round(c);
            }
            else {
                const errs = await o.client.query(q.errors, { signal });
                good = n - Math.round(errs[0]?.value ?? 0);
            }
            return { good: Math.max(0, Math.min(n, good)), total: n };
        },
        timeline: (startMs, endMs, stepMs, signal) => errorRatioTimeline(o, version, { startMs, endMs, stepMs, windowMs, signal }),
    };
}
/** Cancellation reads as a one-line user error in the gate's report, whatever the signal's reason. */
const realSleep = (ms, signal) => (0,sleep/* sleep */.y)(Math.max(0, ms), signal).catch(() => {
    throw new errors/* UserError */.yo('cancelled');
});
function plannedLooks(durationMs, intervalMs) {
    return durationMs > 0 ? Math.max(1, Math.floor(durationMs / Math.max(1, intervalMs))) : 1;
}
function rowShort(r) {
    return `${r.objective}: ${r.reason}`;
}
function newReport(o, cur, base, mode, startedAt) {
    const looks = mode === 'budget' ? 1 : plannedLooks(o.durationMs, o.intervalMs);
    return {
        verdict: 'inconclusive',
        pass: false,
        reason: '',
        mode,
        provider: cur.kind,
        target: { label: cur.label, baseline: base?.label },
        confidence: o.confidence,
        lookConfidence: bonferroni(o.confidence, looks),
        plannedLooks: looks,
        durationMs: o.durationMs,
        intervalMs: o.intervalMs,
        failureLimit: o.failureLimit,
        errorLimit: o.errorLimit,
        minSamples: o.minSamples,
        nodata: o.nodata,
        onInconclusive: o.onInconclusive,
        objectives: [],
        looks: [],
        failures: {},
        providerErrors: [],
        startedAt: new Date(startedAt).toISOString(),
        elapsedMs: 0,
    };
}
function finish(r, verdict, reason, elapsedMs) {
    r.verdict = verdict;
    r.reason = reason;
    r.pass = verdict === 'pass' || (verdict === 'inconclusive' && r.onInconclusive === 'pass');
    r.elapsedMs = elapsedMs;
    return r;
}
/** A provider error that retrying cannot fix (a rejected query, a bad template). */
function isPermanent(err) {
    return err instanceof PrometheusQueryError || (err instanceof errors/* UserError */.yo && !(err instanceof PrometheusUnavailableError));
}
async function judgeLook(o, s, cur, base, signal) {
    const m = await cur.measure(signal);
    const plain = o.objectives.filter((x) => x.kind !== 'slo' || !cur.sloCounts);
    const rows = judgeObjectives(plain, m, s);
    let burn;
    const slo = o.objectives.find((x) => x.kind === 'slo');
    if (slo && cur.sloCounts) {
        const counts = new Map();
        for (const w of burnWindows(slo.burnRates))
            counts.set(w, await cur.sloCounts(w, signal));
        burn = slo.burnRates.map((p) => evaluateBurnPair(p, slo.target, counts.get(p.longMs), counts.get(p.shortMs)));
        // keep the objectives' order
        rows.splice(o.objectives.indexOf(slo), 0, judgeBurnRates(slo, burn, s));
    }
    if (base)
        rows.push(...judgeBaseline(m, await base.measure(signal), s));
    return { rows, burn, queries: m.queries };
}
/**
 * Measures at every interval until the duration is over (or once, with duration 0) and decides.
 * Fails early when an objective fails more than failure-limit times or the provider errors
 * error-limit times in a row; passes only after the whole duration, on a passing last measurement.
 */
async function analyze(o, cur, base, deps = {}) {
    const now = deps.now ?? Date.now;
    const sleep = deps.sleep ?? realSleep;
    const log = deps.log;
    const signal = deps.signal;
    const t0 = now();
    const report = newReport(o, cur, base, 'gate', t0);
    const s = {
        confidence: report.lookConfidence,
        minSamples: o.minSamples,
        nodata: o.nodata,
        baselineErrorTolerance: o.baselineErrorTolerance,
        baselineLatencyTolerance: o.baselineLatencyTolerance,
    };
    const looks = report.plannedLooks;
    const retryDelay = o.retryDelayMs ?? Math.min(o.intervalMs, 5_000);
    let consecutiveErrors = 0;
    const started = [];
    const elapsed = () => now() - t0;
    try {
        for (const src of base ? [cur, base] : [cur]) {
            if (src.start) {
                src.start(o.durationMs, signal);
                started.push(src);
            }
        }
        for (let i = 1; i <= looks; i++) {
            const final = i === looks;
            const due = o.durationMs > 0 ? (final ? o.durationMs : i * o.intervalMs) : 0;
            if (due > elapsed())
                await sleep(due - elapsed(), signal);
            if (final)
                for (const src of started)
                    await src.settle?.();
            for (;;) {
                const atMs = elapsed();
                try {
                    const { rows, burn, queries } = await judgeLook(o, s, cur, base, signal);
                    consecutiveErrors = 0;
                    const verdict = combine(rows);
                    const failed = rows.filter((r) => r.verdict === 'fail');
                    report.looks.push({ index: i, atMs, verdict, failed: failed.map((r) => r.objective), inconclusive: rows.filter((r) => r.verdict === 'inconclusive').map((r) => r.objective) });
                    report.objectives = rows;
                    if (burn)
                        report.burnRates = burn;
                    if (queries)
                        report.queries = queries;
                    log?.info(`look ${i}/${looks} at ${(0,duration/* formatDuration */.a3)(atMs)}: ${verdict}${rows.length ? ` — ${rows.map((r) => `${r.objective} ${r.verdict} (${r.measured})`).join('; ')}` : ''}`);
                    for (const r of failed)
                        report.failures[r.objective] = (report.failures[r.objective] ?? 0) + 1;
                    const over = failed.find((r) => report.failures[r.objective] > o.failureLimit);
                    if (over) {
                        const n = report.failures[over.objective];
                        return finish(report, 'fail', `${rowShort(over)}${looks > 1 ? ` (failed ${n} time${n > 1 ? 's' : ''}, failure-limit ${o.failureLimit}, at look ${i} of ${looks})` : ''}`, elapsed());
                    }
                    break;
                }
                catch (err) {
                    if (signal?.aborted)
                        throw new errors/* UserError */.yo('cancelled');
                    const msg = (0,errors/* errorMessage */.gJ)(err);
                    report.looks.push({ index: i, atMs, verdict: 'error', failed: [], inconclusive: [], error: msg });
                    report.providerErrors.push(msg);
                    if (isPermanent(err))
                        return finish(report, 'fail', `failing closed: ${msg}`, elapsed());
                    consecutiveErrors++;
                    log?.warning(`look ${i}/${looks}: provider error ${consecutiveErrors} of error-limit ${o.errorLimit}: ${msg}`);
                    if (consecutiveErrors >= o.errorLimit) {
                        return finish(report, 'fail', `failing closed: the provider failed ${consecutiveErrors} time${consecutiveErrors > 1 ? 's' : ''} in a row (error-limit ${o.errorLimit}): ${msg}`, elapsed());
                    }
                    if (!final)
                        break;
                    await sleep(retryDelay, signal);
                }
            }
        }
    }
    finally {
        for (const src of started)
            await src.stop?.();
        for (const [src, key] of [[cur, 'probe'], [base, 'baselineProbe']]) {
            const extra = src?.extra?.();
            if (extra)
                report[key] = extra;
        }
    }
    const rows = report.objectives;
    const verdict = combine(rows);
    const window = o.durationMs > 0 ? ` over ${(0,duration/* formatDuration */.a3)(o.durationMs)} (${looks} look${looks > 1 ? 's' : ''})` : '';
    if (verdict === 'pass') {
        return finish(report, 'pass', `all ${rows.length} objectives met${window}: ${rows.map((r) => `${r.objective} (${r.measured})`).join('; ')}`, elapsed());
    }
    if (verdict === 'fail') {
        const f = rows.find((r) => r.verdict === 'fail');
        return finish(report, 'inconclusive', `the last measurement failed (${rowShort(f)}); failure-limit ${o.failureLimit} tolerates it, but a pass needs a passing last measurement`, elapsed());
    }
    const inc = rows.filter((r) => r.verdict === 'inconclusive');
    const needed = Math.max(0, ...inc.map((r) => r.samplesNeeded ?? 0));
    return finish(report, 'inconclusive', `not enough evidence${window}: ${inc.map(rowShort).join('; ')}${needed ? ` — about ${needed.toLocaleString('en-US')} requests would decide` : ''}`, elapsed());
}
/**
 * mode: budget — the error budget left over the SLO window, before a deploy. Blocks when it is spent
 * (error-budget policy); `override` lets an emergency deploy through and is written in the report.
 */
async function checkBudget(o, src, override, deps = {}) {
    const now = deps.now ?? Date.now;
    const sleep = deps.sleep ?? realSleep;
    const t0 = now();
    const report = newReport({ ...o, durationMs: 0 }, src, undefined, 'budget', t0);
    report.override = override || undefined;
    const slo = o.objectives.find((x) => x.kind === 'slo');
    if (!slo)
        throw new errors/* UserError */.yo('mode: budget needs an SLO objective, for example "slo: 99.5%" and "window: 30d"');
    if (!src.sloCounts)
        throw new errors/* UserError */.yo('mode: budget needs the prometheus provider: the probe cannot see the SLO window');
    let counts;
    for (let attempt = 1;; attempt++) {
        try {
            counts = await src.sloCounts(slo.windowMs, deps.signal);
            break;
        }
        catch (err) {
            if (deps.signal?.aborted)
                throw new errors/* UserError */.yo('cancelled');
            const msg = (0,errors/* errorMessage */.gJ)(err);
            report.providerErrors.push(msg);
            report.looks.push({ index: attempt, atMs: now() - t0, verdict: 'error', failed: [], inconclusive: [], error: msg });
            if (isPermanent(err))
                return finish(report, 'fail', `failing closed: ${msg}`, now() - t0);
            deps.log?.warning(`error budget: provider error ${attempt} of error-limit ${o.errorLimit}: ${msg}`);
            if (attempt >= o.errorLimit)
                return finish(report, 'fail', `failing closed: the provider failed ${attempt} times in a row (error-limit ${o.errorLimit}): ${msg}`, now() - t0);
            await sleep(o.retryDelayMs ?? 2_000, deps.signal);
        }
    }
    const base = { objective: `error budget (${slo.text})`, kind: 'budget', threshold: 'budget left > 0%' };
    if (!counts || counts.total === 0) {
        // Only bad requests spend an error budget: with no requests over the window (a first deploy, a
        // new service) nothing is spent. Said as such, never as "no errors".
        const row = { ...base, measured: 'no requests', samples: 0, nodata: true, verdict: 'pass', reason: `no requests over the SLO window ${objectives_formatWindow(slo.windowMs)}: none of the budget can have been spent (first deploy?)` };
        report.objectives = [row];
        report.looks.push({ index: 1, atMs: now() - t0, verdict: row.verdict, failed: [], inconclusive: [] });
        return finish(report, row.verdict, row.reason, now() - t0);
    }
    const b = errorBudget(slo.target, slo.windowMs, counts);
    const measured = `${fmtRatio(Math.max(-9.99, b.remaining))} left (${fmtCount(b.bad)} bad of ${fmtCount(b.total)}; allowed ${fmtCount(Math.floor(b.allowedBad))})`;
    const row = { ...base, measured, samples: b.total, value: b.remaining, verdict: b.spent ? 'fail' : 'pass', reason: '' };
    report.budget = { ...b, override: report.override, overridden: false };
    report.objectives = [row];
    if (b.spent) {
        row.reason = `the error budget over ${objectives_formatWindow(slo.windowMs)} is spent: ${fmtCount(b.bad)} bad requests, ${fmtCount(Math.floor(b.allowedBad))} allowed`;
        if (report.override) {
            report.budget.overridden = true;
            row.verdict = 'pass';
            row.reason += `; OVERRIDDEN: ${report.override}`;
        }
    }
    else
        row.reason = `${fmtRatio(b.remaining)} of the error budget is left`;
    report.looks.push({ index: 1, atMs: now() - t0, verdict: row.verdict, failed: row.verdict === 'fail' ? [row.objective] : [], inconclusive: [] });
    return finish(report, row.verdict, row.reason, now() - t0);
}
const GATE_DEFAULTS = {
    intervalMs: 30_000,
    probeDurationMs: 30_000,
    failureLimit: 0,
    errorLimit: 3,
    confidence: 0.95,
    minSamples: 100,
    nodata: 'inconclusive',
    onInconclusive: 'fail',
    baselineErrorTolerance: 0.005,
    baselineLatencyTolerance: 0.1,
    windowMs: 300_000,
    rate: 20,
    concurrency: 10,
    timeoutMs: 5_000,
};
/** Checks gate options once (before any traffic or query): throws UserError naming the option. */
function resolveGateOptions(opts) {
    const objectives = typeof opts.objectives === 'string' || opts.objectives === undefined ? parseObjectives(opts.objectives ?? '') : opts.objectives;
    const mode = opts.mode ?? 'gate';
    const durationMs = opts.durationMs ?? (opts.provider === 'probe' ? GATE_DEFAULTS.probeDurationMs : 0);
    const intervalMs = opts.intervalMs ?? GATE_DEFAULTS.intervalMs;
    if (durationMs < 0 || intervalMs <= 0)
        throw new errors/* UserError */.yo('slo-gate: duration cannot be negative and interval must be more than 0');
    if (opts.provider === 'probe' && mode === 'gate' && durationMs <= 0)
        throw new errors/* UserError */.yo('slo-gate: the probe needs a duration (how long to send traffic), for example 30s');
    if (durationMs > 0 && intervalMs > durationMs)
        throw new errors/* UserError */.yo(`slo-gate: interval ${(0,duration/* formatDuration */.a3)(intervalMs)} is longer than duration ${(0,duration/* formatDuration */.a3)(durationMs)}`);
    const confidence = opts.confidence ?? GATE_DEFAULTS.confidence;
    if (!(confidence > 0.5 && confidence < 1))
        throw new errors/* UserError */.yo('slo-gate: confidence must be between 50% and 100% (exclusive), for example 95%');
    const errorLimit = opts.errorLimit ?? GATE_DEFAULTS.errorLimit;
    if (errorLimit < 1)
        throw new errors/* UserError */.yo('slo-gate: error-limit must be at least 1');
    if (mode === 'budget' && opts.provider !== 'prometheus')
        throw new errors/* UserError */.yo('slo-gate: mode budget needs the prometheus provider (the probe cannot see a 30-day window)');
    if (mode === 'budget' && !objectives.some((x) => x.kind === 'slo'))
        throw new errors/* UserError */.yo('slo-gate: mode budget needs an SLO objective, for example "slo: 99.5%" and "window: 30d"');
    return {
        mode,
        objectives,
        durationMs,
        intervalMs,
        failureLimit: opts.failureLimit ?? GATE_DEFAULTS.failureLimit,
        errorLimit,
        confidence,
        minSamples: opts.minSamples ?? GATE_DEFAULTS.minSamples,
        nodata: opts.nodata ?? GATE_DEFAULTS.nodata,
        onInconclusive: opts.onInconclusive ?? GATE_DEFAULTS.onInconclusive,
        baselineErrorTolerance: opts.baselineErrorTolerance ?? GATE_DEFAULTS.baselineErrorTolerance,
        baselineLatencyTolerance: opts.baselineLatencyTolerance ?? GATE_DEFAULTS.baselineLatencyTolerance,
        retryDelayMs: opts.retryDelayMs,
    };
}
/**
 * The gate as a function, for the rollout engine (between batches) and the slo-gate action:
 * probe the new instances' URLs (and the old ones as a baseline), or ask Prometheus by version label.
 * Options are checked when the gate is created, so a bad option fails before any deploy step.
 */
function createSloGate(options) {
    const a = resolveGateOptions(options);
    const sloLatencyMs = a.objectives.find((x) => x.kind === 'slo')?.latencyMs;
    let promOpts;
    if (options.provider === 'prometheus') {
        const p = options.prometheus;
        if (!p?.url)
            throw new errors/* UserError */.yo('slo-gate: the prometheus provider needs prometheus-url');
        promOpts = {
            client: new PrometheusClient({ url: p.url, token: p.token, username: p.username, password: p.password, timeoutMs: p.timeoutMs, retries: p.retries, headers: p.headers, http: options.http }),
            metrics: { ...DEFAULT_METRICS, ...p.metrics },
            custom: p.queries ?? {},
            quantiles: a.objectives.flatMap((x) => (x.kind === 'latency' ? [x.quantile] : [])),
            sloLatencyMs,
            // Latency also feeds the baseline comparison, so it is always read.
            wantLatency: true,
        };
    }
    return async (target) => {
        const deps = { log: options.log, sleep: options.sleep, now: options.now, signal: target.signal };
        let cur;
        let base;
        if (promOpts) {
            const windowMs = options.prometheus?.windowMs ?? GATE_DEFAULTS.windowMs;
            const version = target.version || undefined;
            cur = prometheusSource(promOpts, version, windowMs, version ? `version ${version}` : 'all versions');
            if (target.baselineVersion)
                base = prometheusSource(promOpts, target.baselineVersion, windowMs, `version ${target.baselineVersion}`);
            if (a.mode === 'budget') {
                // The error budget belongs to the service, not to one version.
                cur = prometheusSource(promOpts, undefined, windowMs, 'the service (all versions)');
            }
        }
        else {
            if (!target.urls.length)
                throw new errors/* UserError */.yo('slo-gate: the probe needs at least one URL');
            const p = options.probe ?? {};
            const make = (urls) => new Probe({
                urls,
                paths: p.paths,
                rate: p.rate ?? GATE_DEFAULTS.rate,
                concurrency: p.concurrency ?? GATE_DEFAULTS.concurrency,
                timeoutMs: p.timeoutMs ?? GATE_DEFAULTS.timeoutMs,
                method: p.method,
                headers: p.headers,
                sloLatencyMs,
                http: options.http,
            });
            cur = probeSource(make(target.urls), target.urls.map(secrets/* redactUrl */.BO).join(', '));
            if (target.baselineUrls?.length)
                base = probeSource(make(target.baselineUrls), target.baselineUrls.map(secrets/* redactUrl */.BO).join(', '));
        }
        const report = a.mode === 'budget' ? await checkBudget(a, cur, options.override, deps) : await analyze(a, cur, base, deps);
        report.target = {
            label: cur.label,
            version: target.version || undefined,
            urls: cur.kind === 'probe' ? target.urls.map(secrets/* redactUrl */.BO) : undefined,
            baseline: base?.label,
        };
        if (cur.timeline && a.mode === 'gate' && a.durationMs > 0) {
            try {
                const end = Date.now();
                report.timeline = await cur.timeline(end - report.elapsedMs, end, a.intervalMs, target.signal);
            }
            catch (err) {
                options.log?.warning(`slo-gate: could not read the error-ratio timeline: ${(0,errors/* errorMessage */.gJ)(err)}`);
            }
        }
        return { pass: report.pass, verdict: report.verdict, reason: report.reason, report };
    };
}
// ---------------------------------------------------------------------------------------------
// The summary a person reads
// ---------------------------------------------------------------------------------------------
const ICON = { pass: '✅ pass', fail: '❌ fail', inconclusive: '⚠️ inconclusive', error: '🔌 provider error' };
function renderSloSummary(r) {
    const out = [];
    const passedAnyway = r.verdict === 'inconclusive' && r.pass;
    out.push(heading(`SLO gate: ${ICON[r.verdict]}${passedAnyway ? ' (passed: on-inconclusive is pass)' : r.verdict === 'inconclusive' ? ' (blocks: on-inconclusive is fail)' : ''}`));
    out.push(`**Why:** ${r.reason}\n`);
    const what = r.mode === 'budget'
        ? 'error budget check before the deploy'
        : `${r.plannedLooks > 1 ? `${r.looks.length} of ${r.plannedLooks} planned measurements, every ${formatDuration(r.intervalMs)} over ${formatDuration(r.durationMs)}` : 'one measurement'}`;
    out.push(`Source: **${r.provider}** · ${r.target.label}${r.target.baseline ? ` · baseline ${r.target.baseline}` : ''} · ${what} · ` +
        `${conf(r.confidence)} confidence${r.lookConfidence !== r.confidence ? ` (${conf(r.lookConfidence)} per measurement: Bonferroni over ${r.plannedLooks})` : ''} · took ${formatDuration(r.elapsedMs)}\n`);
    if (r.budget?.overridden)
        out.push(`> **⚠️ Override:** the error budget is spent, and the deploy was let through: “${r.budget.override}”\n`);
    else if (r.override && r.mode === 'budget')
        out.push(`> Override given (“${r.override}”) but not needed: the budget is not spent.\n`);
    if (r.objectives.length) {
        out.push(table(['Objective', 'Measured', 'Threshold', 'Samples', 'Verdict', 'Reason'], r.objectives.map((row) => [row.objective, row.measured, row.threshold, row.samples === undefined ? '—' : row.samples.toLocaleString('en-US'), ICON[row.verdict] + (row.nodata ? ' (no data)' : ''), row.reason])));
    }
    if (r.burnRates?.length) {
        const fmt = (b) => (b === undefined ? '—' : `${b.toFixed(2)}×`);
        out.push(heading('Burn rates', 3));
        out.push(table(['Pair', 'Long window', 'Short window', 'Firing'], r.burnRates.map((p) => [p.label, `${fmt(p.long.burn)} (${fmtRatio(p.long.ratio)} of ${fmtCount(p.long.counts?.total)})`, `${fmt(p.short.burn)} (${fmtRatio(p.short.ratio)} of ${fmtCount(p.short.counts?.total)})`, p.nodata ? 'no data' : p.firing ? '🔥 yes' : 'no'])));
    }
    if (r.budget) {
        out.push(heading('Error budget', 3));
        out.push(table(['SLO', 'Window', 'Requests', 'Bad', 'Allowed bad', 'Left'], [[fmtRatio(r.budget.target), formatWindow(r.budget.windowMs), fmtCount(r.budget.total), fmtCount(r.budget.bad), fmtCount(Math.floor(r.budget.allowedBad)), fmtRatio(Math.max(-9.99, r.budget.remaining))]]));
    }
    if (r.looks.length > 1 || r.providerErrors.length) {
        out.push(heading('Measurements', 3));
        out.push(table(['#', 'At', 'Result', 'Failed', 'Inconclusive / error'], r.looks.map((l) => [l.index, formatDuration(l.atMs), ICON[l.verdict], l.failed.join(', '), l.error ?? l.inconclusive.join(', ')])));
        if (Object.keys(r.failures).length)
            out.push(`Failures per objective: ${Object.entries(r.failures).map(([k, v]) => `${k}: ${v}`).join(', ')} (failure-limit ${r.failureLimit})\n`);
    }
    for (const [title, p] of [['Probe', r.probe], ['Baseline probe', r.baselineProbe]]) {
        if (!p)
            continue;
        const codes = Object.entries(p.codes ?? {}).map(([k, v]) => `${k}: ${v}`).join(', ');
        const failures = Object.entries(p.failures ?? {}).map(([k, v]) => `${k} ×${v}`).join('; ');
        out.push(`${title}: ${p.sent} requests (${codes || 'none'})${p.skipped ? `, ${p.skipped} sends skipped (concurrency limit reached)` : ''}${failures ? `; no answer: ${failures}` : ''}\n`);
    }
    if (r.timeline?.length) {
        out.push(details('Error ratio over the analysis (Prometheus range query)', table(['Time', 'Error ratio'], r.timeline.map((t) => [new Date(t.atMs).toISOString().slice(11, 19), fmtRatio(t.ratio)]))));
    }
    if (r.queries?.length)
        out.push(details('Queries', code(r.queries.join('\n'), 'promql')));
    out.push(`\n<sub>pass needs every confidence bound inside its limit (Wilson interval for ratios, order statistics or histogram counts for quantiles); nodata: ${r.nodata}; on-inconclusive: ${r.onInconclusive}; min-samples: ${r.minSamples}; failure-limit: ${r.failureLimit}; error-limit: ${r.errorLimit}.</sub>\n`);
    return out.join('\n');
}


/***/ })

};

//# sourceMappingURL=66.index.js.map