/**
 * Signed webhooks. The body is JSON; the signature is HMAC-SHA256 over `<timestamp>.<body>` with a
 * shared secret, sent as `X-Slipway-Signature-256: sha256=<hex>` beside `X-Slipway-Timestamp`
 * (seconds). That is GitHub's webhook scheme plus a signed timestamp, so a receiver can refuse
 * replays older than its tolerance. Retries (network errors, 408/425/429/5xx) back off with jitter
 * inside a deadline; each attempt is signed afresh and carries the same delivery id (X-Slipway-Delivery:
 * the idempotency key a receiver dedupes on, which is what makes repeating a POST after a timeout
 * acceptable here). A Retry-After longer than the HTTP layer's cap (30 s) ends the retries.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { UserError, errorMessage } from '../lib/errors.ts';
import { DEFAULT_MAX_RETRY_AFTER_MS, defaultRetryOn, request, retryAfterMs, type Http } from '../lib/http.ts';
import { quote, requestSecrets, secretForms } from '../lib/secrets.ts';

export const SIGNATURE_HEADER = 'X-Slipway-Signature-256';
export const TIMESTAMP_HEADER = 'X-Slipway-Timestamp';
export const EVENT_HEADER = 'X-Slipway-Event';
export const DELIVERY_HEADER = 'X-Slipway-Delivery';
export const DEFAULT_TOLERANCE_SEC = 300;

/** `sha256=<hex>` over `<timestamp>.<body>`. */
export function signPayload(secret: string, body: string, timestamp: number): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export type HeaderBag = Headers | Record<string, string | string[] | undefined>;

function header(h: HeaderBag, name: string): string | undefined {
  if (typeof (h as Headers).get === 'function') return (h as Headers).get(name) ?? undefined;
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(h)) if (k.toLowerCase() === lower) return Array.isArray(v) ? v[0] : v;
  return undefined;
}

export interface VerifyResult {
  ok: boolean;
  /** Why it failed: missing headers, stale timestamp, bad signature. */
  reason?: string;
  timestamp?: number;
}

/**
 * For receivers: checks the signature of a Slipway webhook and that its timestamp is within
 * `toleranceSec` of now (both directions). `body` must be the raw request body, byte for byte.
 */
export function verifySignature(
  secret: string,
  body: string | Uint8Array,
  headers: HeaderBag,
  toleranceSec = DEFAULT_TOLERANCE_SEC,
  nowMs = Date.now(),
): VerifyResult {
  const sig = header(headers, SIGNATURE_HEADER);
  const ts = header(headers, TIMESTAMP_HEADER);
  if (!sig) return { ok: false, reason: `missing ${SIGNATURE_HEADER} header` };
  if (!ts || !/^\d{1,12}$/.test(ts)) return { ok: false, reason: `missing or malformed ${TIMESTAMP_HEADER} header` };
  const timestamp = Number(ts);
  const age = Math.abs(nowMs / 1000 - timestamp);
  if (age > toleranceSec)
    return { ok: false, reason: `timestamp is ${Math.round(age)}s away from now (tolerance ${toleranceSec}s): a replay or a wrong clock`, timestamp };
  const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
  const expected = Buffer.from(signPayload(secret, text, timestamp));
  const given = Buffer.from(sig.trim());
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'signature does not match', timestamp };
  return { ok: true, timestamp };
}

export interface WebhookOptions {
  /** Shared secret; without it the request is sent unsigned. */
  secret?: string;
  /** Value of X-Slipway-Event. */
  event?: string;
  headers?: Record<string, string>;
  /** Per attempt. Default 10 s. */
  timeoutMs?: number;
  /** All attempts. Default 30 s. */
  deadlineMs?: number;
  /** First backoff (doubles, full jitter). Default 500 ms. */
  backoffMs?: number;
  maxAttempts?: number;
  http?: Http;
  signal?: AbortSignal;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  onRetry?: (info: { attempt: number; waitMs: number; reason: string }) => void;
}

export interface WebhookResult {
  status: number;
  attempts: number;
  delivery: string;
}

const defaultSleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });

/**
 * POSTs a JSON payload. The URL is treated as a secret: errors never show it.
 * Resolves on 2xx; throws UserError with the last status or network error otherwise.
 */
export async function sendWebhook(url: string, payload: unknown, o: WebhookOptions = {}): Promise<WebhookResult> {
  const http = o.http ?? request;
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? defaultSleep;
  const body = JSON.stringify(payload);
  const delivery = randomUUID();
  const deadline = now() + (o.deadlineMs ?? 30_000);
  const maxAttempts = o.maxAttempts ?? 8;
  const base = o.backoffMs ?? 500;
  let last: string;
  for (let attempt = 1; ; attempt++) {
    const ts = Math.floor(now() / 1000);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'Slipway-Webhook/1',
      [DELIVERY_HEADER]: delivery,
      [TIMESTAMP_HEADER]: String(ts),
      ...(o.event ? { [EVENT_HEADER]: o.event } : {}),
      ...(o.secret ? { [SIGNATURE_HEADER]: signPayload(o.secret, body, ts) } : {}),
      ...o.headers,
    };
    let wait: number | undefined;
    const remaining = deadline - now();
    try {
      const res = await http(url, {
        method: 'POST',
        headers,
        body,
        timeoutMs: Math.max(1, Math.min(o.timeoutMs ?? 10_000, remaining)),
        retries: 0,
        idempotent: true,
        signal: o.signal,
        redirect: 'manual',
      });
      if (res.status >= 200 && res.status < 300) return { status: res.status, attempts: attempt, delivery };
      // The receiver's answer is quoted only after the request's own credentials are redacted, then cut.
      last = `HTTP ${res.status}${res.body ? `: ${quote(res.body, [...requestSecrets(url, headers), ...(o.secret ? secretForms(o.secret) : [])], 120)}` : ''}`;
      if (!defaultRetryOn(res.status)) throw new UserError(`webhook: the receiver answered ${last} (not retried: fix the receiver or the secret)`);
      wait = retryAfterMs(res.headers.get('retry-after'));
      if (wait !== undefined && wait > DEFAULT_MAX_RETRY_AFTER_MS)
        throw new UserError(
          `webhook: the receiver answered ${last} and asks for a ${Math.round(wait / 1000)}s pause, longer than Slipway waits (${DEFAULT_MAX_RETRY_AFTER_MS / 1000}s)`,
        );
    } catch (err) {
      if (err instanceof UserError && err.message.startsWith('webhook:')) throw err;
      if (o.signal?.aborted) throw new UserError('webhook: cancelled');
      last = errorMessage(err).replace(/\bhttps?:\/\/\S+/g, '(webhook URL)');
    }
    const delay = wait ?? Math.random() * Math.min(10_000, base * 2 ** (attempt - 1));
    if (attempt >= maxAttempts || now() + delay >= deadline) {
      throw new UserError(
        `webhook: no success after ${attempt} attempt${attempt > 1 ? 's' : ''} within the ${Math.round((o.deadlineMs ?? 30_000) / 1000)}s deadline; last: ${last}`,
      );
    }
    o.onRetry?.({ attempt, waitMs: delay, reason: last });
    await sleep(delay, o.signal);
  }
}
