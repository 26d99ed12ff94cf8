import { UserError, errorMessage } from './errors.ts';
import { quote, redactUrl, requestSecrets } from './secrets.ts';
import { sleep } from './sleep.ts';

export interface HttpRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Per attempt. Default 10 s. */
  timeoutMs?: number;
  /**
   * Extra attempts after the first. Default 0. Only a request whose repeat is harmless is repeated
   * after a timeout, a dropped connection or a 5xx: see `idempotent`.
   */
  retries?: number;
  /**
   * Whether sending this request twice has the effect of sending it once. Default: true for GET,
   * HEAD, OPTIONS, PUT and DELETE (RFC 9110 §9.2.2) and for any request carrying an Idempotency-Key
   * header; false otherwise (POST, PATCH). A request that is not idempotent is retried only when
   * the server says it did not act on it (`unprocessed`, default 408, 425, 429, 503) or when the
   * connection was never made (refused, unknown host): never after a timeout, which may come after
   * the server acted (a Slack message posted twice).
   */
  idempotent?: boolean;
  /** Answers that say the server did not act on the request. Default: 408, 425, 429, 503 (RFC 9110: unable to handle it). */
  unprocessed?: (status: number, headers: Headers) => boolean;
  /** The longest Retry-After honoured; a longer one ends the retries with that answer. Default 30 s. */
  maxRetryAfterMs?: number;
  /** fetch to use (tests, Octokit adapters). Default: the global fetch. */
  fetch?: typeof fetch;
  /** First backoff; doubles each attempt, with full jitter. Default 200 ms. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Overall deadline for all attempts and waits, in ms from now. Default: 60 s, or timeoutMs when longer. */
  deadlineMs?: number;
  /** Which answers are worth retrying. Default: 408, 425, 429, 5xx (for a non-idempotent request, only those `unprocessed` also admits). */
  retryOn?: (status: number, headers: Headers) => boolean;
  signal?: AbortSignal;
  /** Cap on the body read (bytes). Default 4 MiB. */
  maxBodyBytes?: number;
  /** Called before each retry (for logs). */
  onRetry?: (info: { attempt: number; waitMs: number; reason: string }) => void;
  redirect?: 'follow' | 'manual';
}

export interface HttpResponse {
  url: string;
  status: number;
  headers: Headers;
  body: string;
  /** Time of the last attempt, until the body was read. */
  durationMs: number;
  /** The body was longer than maxBodyBytes: `body` holds only the first maxBodyBytes. */
  truncated?: boolean;
  attempts: number;
  json<T = unknown>(): T;
}

export class HttpError extends UserError {
  readonly status?: number;
  readonly response?: HttpResponse;
  constructor(message: string, status?: number, response?: HttpResponse) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.response = response;
  }
}

export const defaultRetryOn = (status: number) => status === 408 || status === 425 || status === 429 || status >= 500;
/** Answers that say the server did not act on the request: repeating it cannot do a thing twice. */
export const defaultUnprocessed = (status: number) => status === 408 || status === 425 || status === 429 || status === 503;
export const DEFAULT_DEADLINE_MS = 60_000;
export const DEFAULT_MAX_RETRY_AFTER_MS = 30_000;

const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** Whether a request may be repeated after an unknown outcome (see HttpRequest.idempotent). */
export function isIdempotent(req: Pick<HttpRequest, 'method' | 'headers' | 'idempotent'>): boolean {
  if (req.idempotent !== undefined) return req.idempotent;
  if (IDEMPOTENT_METHODS.has((req.method ?? 'GET').toUpperCase())) return true;
  return Object.keys(req.headers ?? {}).some((h) => h.toLowerCase() === 'idempotency-key');
}

/** Network errors that happen before anything is sent: the connection was never made. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);

/** Milliseconds to wait from a Retry-After header (seconds or an HTTP date), or undefined. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value) * 1000;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** Moves user:password from the URL into a Basic Authorization header (fetch refuses credentials in URLs). */
export function splitCredentials(url: string, headers: Record<string, string> = {}): { url: string; headers: Record<string, string> } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError(`not a valid URL: ${redactUrl(url).slice(0, 200)}`);
  }
  if (!u.username && !u.password) return { url: u.toString(), headers };
  const basic = Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64');
  u.username = '';
  u.password = '';
  return { url: u.toString(), headers: { authorization: `Basic ${basic}`, ...headers } };
}

async function readCapped(res: Response, max: number): Promise<{ text: string; truncated: boolean }> {
  if (!res.body) return { text: '', truncated: false };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.byteLength > max) {
      chunks.push(value.subarray(0, max - size));
      truncated = true;
      await reader.cancel().catch(() => undefined);
      break;
    }
    size += value.byteLength;
    chunks.push(value);
  }
  return { text: Buffer.concat(chunks).toString('utf8'), truncated };
}

/** A response body fit to quote in an error: the request's own credentials redacted first, then cut short. */
export function quoteBody(res: Pick<HttpResponse, 'body'>, secrets: Iterable<string> = [], max = 200): string {
  return quote(res.body, secrets, max);
}

/**
 * One HTTP request with per-attempt timeout, retries with exponential backoff and full jitter,
 * Retry-After honoured up to a cap, and an overall deadline (default 60 s); every wait ends at once
 * when `signal` aborts. Only idempotent requests are repeated after an unknown outcome (see
 * HttpRequest.idempotent). Resolves with the last answer (any status); rejects with HttpError only
 * when no answer came (network error or timeout on every attempt).
 */
export async function request(url: string, req: HttpRequest = {}): Promise<HttpResponse> {
  const { url: target, headers } = splitCredentials(url, req.headers);
  let own: string[] | undefined;
  const ownSecrets = () => (own ??= requestSecrets(url, headers));
  const retries = req.retries ?? 0;
  const retryOn = req.retryOn ?? defaultRetryOn;
  const idempotent = isIdempotent({ method: req.method, headers, idempotent: req.idempotent });
  const unprocessed = req.unprocessed ?? defaultUnprocessed;
  const maxRetryAfter = req.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS;
  const doFetch = req.fetch ?? fetch;
  const deadline = Date.now() + (req.deadlineMs ?? Math.max(DEFAULT_DEADLINE_MS, req.timeoutMs ?? 10_000));
  const base = req.backoffMs ?? 200;
  const maxBackoff = req.maxBackoffMs ?? 10_000;
  for (let attempt = 1; ; attempt++) {
    let lastError: string;
    const remaining = deadline - Date.now();
    const timeout = Math.max(1, Math.min(req.timeoutMs ?? 10_000, remaining));
    const signals = [AbortSignal.timeout(timeout)];
    if (req.signal) signals.push(req.signal);
    const started = performance.now();
    let response: HttpResponse | undefined;
    let wait: number | undefined;
    let repeatable: boolean;
    try {
      const res = await doFetch(target, {
        method: req.method ?? 'GET',
        headers,
        body: req.body as RequestInit['body'],
        signal: AbortSignal.any(signals),
        redirect: req.redirect ?? 'follow',
      });
      const { text: body, truncated } = await readCapped(res, req.maxBodyBytes ?? 4 << 20);
      response = {
        url: target,
        status: res.status,
        headers: res.headers,
        body,
        truncated,
        durationMs: performance.now() - started,
        attempts: attempt,
        json<T>() {
          try {
            return JSON.parse(body) as T;
          } catch {
            throw new HttpError(
              `${req.method ?? 'GET'} ${redactUrl(target)} answered ${res.status} with a body that is not JSON${truncated ? ` (cut at ${req.maxBodyBytes ?? 4 << 20} bytes)` : ''}: ${quote(body, ownSecrets())}`,
              res.status,
            );
          }
        },
      };
      if (!retryOn(res.status, res.headers)) return response;
      lastError = `HTTP ${res.status}`;
      repeatable = idempotent || unprocessed(res.status, res.headers);
      wait = retryAfterMs(res.headers.get('retry-after'));
      // A server that asks for a longer pause than we wait gets its answer back, not a hammering.
      if (wait !== undefined && wait > maxRetryAfter) return response;
    } catch (err) {
      if (req.signal?.aborted) throw new HttpError(`${req.method ?? 'GET'} ${redactUrl(target)} cancelled`);
      const e = err as { name?: string; cause?: { code?: string; message?: string } };
      lastError = e.name === 'TimeoutError' ? `timed out after ${timeout}ms` : (e.cause?.code ?? e.cause?.message ?? errorMessage(err));
      repeatable = idempotent || NOT_SENT.has(e.cause?.code ?? '');
      if (!repeatable && attempt <= retries)
        lastError += ` (not retried: a ${(req.method ?? 'GET').toUpperCase()} may have been acted on, and repeating it could do it twice)`;
    }
    const backoff = Math.min(maxBackoff, base * 2 ** (attempt - 1));
    const delay = wait ?? Math.random() * backoff;
    if (!repeatable || attempt > retries || Date.now() + delay >= deadline) {
      if (response) return response;
      throw new HttpError(`${req.method ?? 'GET'} ${redactUrl(target)} failed after ${attempt} attempt${attempt > 1 ? 's' : ''}: ${lastError}`);
    }
    req.onRetry?.({ attempt, waitMs: delay, reason: lastError });
    await sleep(delay, req.signal);
  }
}

export type Http = typeof request;
