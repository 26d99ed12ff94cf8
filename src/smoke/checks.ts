/**
 * Declarative HTTP checks: the smoke-test domain. Regular expressions (`matches`, `/…/` header
 * values) come from the user and run on bodies the deployed app controls, so they run on RE2
 * (re2js: linear time, no backtracking): `^(a+)+$` cannot stall the step. RE2 has no lookaround
 * and no backreferences; such a pattern is refused when the inputs are read.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { z } from 'zod';
import type { RE2JS } from 're2js';
import { parseDuration, formatDuration } from '../lib/duration.ts';
import { request, type Http, type HttpResponse } from '../lib/http.ts';
import { errorMessage } from '../lib/errors.ts';
import { quote } from '../lib/secrets.ts';

/** The largest body a check reads (bytes); a larger one fails the check with that reason. */
export const MAX_CHECK_BODY_BYTES = 1 << 20;
/** The longest regular expression accepted. */
export const MAX_PATTERN_LENGTH = 1000;

/**
 * The RE2 engine, loaded on the first pattern (synchronously: the input schema needs it while it
 * parses). Loaded through require so that an action run without a pattern never parses its ~260 kB:
 * the build keeps re2js out of the bundle and ships its CommonJS build beside it (scripts/build.ts).
 */
let engine: typeof RE2JS | undefined;
function re2(): typeof RE2JS {
  if (!engine) {
    const require = createRequire(import.meta.url);
    // In dist/, the build puts re2js beside the chunks as re2js.cjs; from source, the package.
    const beside = new URL('./re2js.cjs', import.meta.url);
    engine = (require(existsSync(beside) ? beside.pathname : 're2js') as { RE2JS: typeof RE2JS }).RE2JS;
  }
  return engine;
}

const compiled = new Map<string, RE2JS>();
/** Compiles a pattern with RE2 (linear-time matching); throws with RE2's reason when it cannot. */
export function compilePattern(pattern: string): RE2JS {
  let re = compiled.get(pattern);
  if (!re) {
    if (pattern.length > MAX_PATTERN_LENGTH) throw new Error(`longer than ${MAX_PATTERN_LENGTH} characters`);
    re = re2().compile(pattern);
    compiled.set(pattern, re);
  }
  return re;
}

/** Why RE2 refuses a pattern, or undefined when it compiles. */
function patternProblem(pattern: string): string | undefined {
  try {
    compilePattern(pattern);
    return undefined;
  } catch (err) {
    return errorMessage(err).replace(/^error parsing regexp: /, '');
  }
}

const statusItem = z.union([
  z.number().int().min(100).max(599),
  z.string().regex(/^([1-5]xx|[1-5]\d\d(-[1-5]\d\d)?)$/, 'expected a status like 200, "2xx" or "200-299"'),
]);

const durationText = z.union([z.number().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  try {
    return parseDuration(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: errorMessage(err) });
    return z.NEVER;
  }
});

const RE2_HINT = 'RE2 syntax: no lookaround, no backreferences';
const regexText = z.string().superRefine((s, ctx) => {
  const why = patternProblem(s);
  if (why) ctx.addIssue({ code: 'custom', message: `not a regular expression the linear-time engine accepts (${why}; ${RE2_HINT})` });
});
const headerExpect = z.string().superRefine((s, ctx) => {
  if (!(s.length > 1 && s.startsWith('/') && s.endsWith('/'))) return;
  const why = patternProblem(s.slice(1, -1));
  if (why) ctx.addIssue({ code: 'custom', message: `not a regular expression the linear-time engine accepts (${why}; ${RE2_HINT})` });
});

export const checkSchema = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  path: z
    .string()
    .regex(/^\/[^\s]*$/, 'expected a path starting with / and without spaces')
    .default('/'),
  method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']).default('GET'),
  headers: z.record(z.string(), z.union([z.string(), z.number()]).transform(String)).default({}),
  body: z.union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())]).optional(),
  expect: z
    .strictObject({
      status: z.union([statusItem, z.array(statusItem).min(1)]).optional(),
      contains: z.string().optional(),
      matches: regexText.optional(),
      json: z.record(z.string(), z.unknown()).optional(),
      headers: z.record(z.string(), headerExpect).optional(),
      'max-latency': durationText.optional(),
    })
    .default({}),
});

export const checksSchema = z.array(checkSchema).min(1, 'expected at least one check').max(200);

export type Check = z.output<typeof checkSchema>;

export interface CheckResult {
  name: string;
  method: string;
  path: string;
  passed: boolean;
  attempts: number;
  status?: number;
  latencyMs?: number;
  reason?: string;
}

export function checkName(c: Check): string {
  return c.name ?? `${c.method} ${c.path}`;
}

export function statusMatches(status: number, spec: Check['expect']['status']): boolean {
  if (spec === undefined) return status >= 200 && status < 400;
  const items = Array.isArray(spec) ? spec : [spec];
  return items.some((it) => {
    if (typeof it === 'number') return status === it;
    if (/^[1-5]xx$/.test(it)) return Math.floor(status / 100) === Number(it[0]);
    const [lo, hi] = it.split('-').map(Number);
    return hi === undefined ? status === lo : status >= lo! && status <= hi;
  });
}

/** Reads `a.b[0].c` or `$.a.b[0]` from a JSON value. */
export function jsonPath(value: unknown, path: string): unknown {
  const parts = path.replace(/^\$\.?/, '').match(/[^.[\]]+/g) ?? [];
  let cur: any = value;
  for (const p of parts) {
    if (cur === null || cur === undefined) return undefined;
    cur = cur[/^\d+$/.test(p) && Array.isArray(cur) ? Number(p) : p];
  }
  return cur;
}

/** Why a response does not meet the check, or undefined when it does. */
export function evaluate(check: Check, res: Pick<HttpResponse, 'status' | 'body' | 'headers' | 'durationMs' | 'truncated'>): string | undefined {
  const e = check.expect;
  if (!statusMatches(res.status, e.status)) {
    const want = e.status === undefined ? '2xx or 3xx' : JSON.stringify(e.status);
    return `status ${res.status}, expected ${want}`;
  }
  if (res.truncated && (e.contains !== undefined || e.matches !== undefined || e.json)) {
    return `body is larger than ${MAX_CHECK_BODY_BYTES >> 10} KiB (the most a check reads): check a smaller endpoint`;
  }
  if (e.contains !== undefined && !res.body.includes(e.contains)) return `body does not contain ${JSON.stringify(e.contains)}`;
  if (e.matches !== undefined && !compilePattern(e.matches).test(res.body)) return `body does not match /${e.matches}/`;
  if (e.json) {
    let doc: unknown;
    try {
      doc = JSON.parse(res.body);
    } catch {
      return 'body is not JSON';
    }
    for (const [path, want] of Object.entries(e.json)) {
      const got = jsonPath(doc, path);
      if (JSON.stringify(got) !== JSON.stringify(want))
        return `JSON ${path} is ${got === undefined ? 'missing' : quote(JSON.stringify(got), [], 100)}, expected ${JSON.stringify(want)}`;
    }
  }
  for (const [name, want] of Object.entries(e.headers ?? {})) {
    const got = res.headers.get(name);
    const isRe = want.length > 1 && want.startsWith('/') && want.endsWith('/');
    const okHeader = got !== null && (isRe ? compilePattern(want.slice(1, -1)).test(got) : got === want);
    if (!okHeader) return `header ${name} is ${got === null ? 'missing' : JSON.stringify(quote(got, [], 100))}, expected ${want}`;
  }
  if (e['max-latency'] !== undefined && res.durationMs > e['max-latency']) {
    return `latency ${formatDuration(res.durationMs)} over the limit of ${formatDuration(e['max-latency'])}`;
  }
  return undefined;
}

export interface RunChecksOptions {
  baseUrl: string;
  checks: Check[];
  headers?: Record<string, string>;
  timeoutMs: number;
  /** Keep retrying failed checks until this many ms from the start. 0: one attempt each. */
  deadlineMs: number;
  failFast: boolean;
  http?: Http;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  signal?: AbortSignal;
  onAttempt?: (r: CheckResult) => void;
}

export function joinUrl(base: string, path: string): string {
  const u = new URL(base);
  const basePath = u.pathname.replace(/\/$/, '');
  const [p, q] = path.split('?', 2) as [string, string | undefined];
  u.pathname = basePath + p;
  // The base URL's query (a token is often passed there) stays; the check's query is added to it.
  if (q !== undefined) u.search = u.search ? `${u.search.slice(1)}&${q}` : q;
  return u.toString();
}

async function attempt(check: Check, opts: RunChecksOptions): Promise<Omit<CheckResult, 'attempts'>> {
  const http = opts.http ?? request;
  const base = { name: checkName(check), method: check.method, path: check.path };
  const body = check.body === undefined ? undefined : typeof check.body === 'string' ? check.body : JSON.stringify(check.body);
  const headers: Record<string, string> = { 'user-agent': 'slipway-smoke-test', ...opts.headers, ...check.headers };
  if (body !== undefined && typeof check.body !== 'string' && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
    headers['content-type'] = 'application/json';
  }
  try {
    const res = await http(joinUrl(opts.baseUrl, check.path), {
      method: check.method,
      headers,
      body,
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
      redirect: 'manual',
      maxBodyBytes: MAX_CHECK_BODY_BYTES,
    });
    const reason = evaluate(check, res);
    return { ...base, passed: !reason, status: res.status, latencyMs: Math.round(res.durationMs), reason };
  } catch (err) {
    return { ...base, passed: false, reason: errorMessage(err) };
  }
}

/**
 * Runs every check; failed ones are retried with backoff (1 s doubling to 10 s) until the deadline,
 * so a fresh deploy has time to come up. fail-fast stops at the first failure without retrying.
 */
export async function runChecks(opts: RunChecksOptions): Promise<CheckResult[]> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const start = now();
  const results: CheckResult[] = opts.checks.map((c) => ({
    name: checkName(c),
    method: c.method,
    path: c.path,
    passed: false,
    attempts: 0,
    reason: 'not run',
  }));
  let pending = opts.checks.map((_, i) => i);
  let backoff = 1000;
  for (;;) {
    const still: number[] = [];
    for (const i of pending) {
      if (opts.signal?.aborted) return results;
      const r = await attempt(opts.checks[i]!, opts);
      results[i] = { ...r, attempts: results[i]!.attempts + 1 };
      opts.onAttempt?.(results[i]!);
      if (!r.passed) {
        if (opts.failFast) return results;
        still.push(i);
      }
    }
    pending = still;
    if (pending.length === 0) return results;
    const left = start + opts.deadlineMs - now();
    if (left <= 0) return results;
    await sleep(Math.min(backoff, left));
    backoff = Math.min(backoff * 2, 10_000);
  }
}
