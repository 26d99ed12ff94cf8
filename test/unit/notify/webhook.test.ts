import { createHmac, timingSafeEqual } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sendWebhook, signPayload, verifySignature } from '../../../src/notify/webhook.ts';
import type { Http, HttpRequest, HttpResponse } from '../../../src/lib/http.ts';

/** An independent verifier, written from the scheme's description with node:crypto only. */
function independentVerify(secret: string, body: string, headers: Record<string, string>): boolean {
  const ts = headers['X-Slipway-Timestamp'];
  const sig = headers['X-Slipway-Signature-256'] ?? '';
  const mac = createHmac('sha256', secret);
  mac.update(ts + '.');
  mac.update(body);
  const want = Buffer.from('sha256=' + mac.digest('hex'), 'utf8');
  const got = Buffer.from(sig, 'utf8');
  return want.length === got.length && timingSafeEqual(want, got);
}

function fakeHttp(answers: (number | Error)[], seen: { url: string; req: HttpRequest }[]) {
  return async (url: string, req: HttpRequest = {}): Promise<HttpResponse> => {
    seen.push({ url, req });
    const a = answers.shift() ?? 200;
    if (a instanceof Error) throw a;
    const headers = new Headers(a === 429 ? { 'retry-after': '2' } : {});
    return { url, status: a, headers, body: a >= 400 ? 'nope' : 'ok', durationMs: 1, attempts: 1, json: () => ({}) as never };
  };
}

describe('webhook signatures', () => {
  it('signs <timestamp>.<body> with HMAC-SHA256 the way an independent verifier checks it', async () => {
    const seen: { url: string; req: HttpRequest }[] = [];
    await sendWebhook('https://hooks.example.com/x', { a: 1, text: 'ünïcode' }, { secret: 's3cr3t', http: fakeHttp([200], seen), event: 'succeeded' });
    const { req } = seen[0]!;
    const headers = req.headers!;
    expect(independentVerify('s3cr3t', req.body as string, headers)).toBe(true);
    expect(independentVerify('wrong', req.body as string, headers)).toBe(false);
    expect(headers['X-Slipway-Event']).toBe('succeeded');
    expect(headers['X-Slipway-Delivery']).toMatch(/^[0-9a-f-]{36}$/);
    expect(Math.abs(Number(headers['X-Slipway-Timestamp']) - Date.now() / 1000)).toBeLessThan(5);
  });

  it('verifySignature accepts a good request and refuses tampering, other secrets, replays and missing headers', () => {
    const body = '{"event":"failed"}';
    const now = 1_700_000_000_000;
    const ts = now / 1000;
    const headers = { 'x-slipway-signature-256': signPayload('k', body, ts), 'x-slipway-timestamp': String(ts) };
    expect(verifySignature('k', body, headers, 300, now)).toEqual({ ok: true, timestamp: ts });
    expect(verifySignature('k', body, new Headers(headers), 300, now).ok).toBe(true);
    expect(verifySignature('k', Buffer.from(body), headers, 300, now).ok).toBe(true);
    expect(verifySignature('k', body.replace('failed', 'succeeded'), headers, 300, now)).toMatchObject({ ok: false, reason: 'signature does not match' });
    expect(verifySignature('other', body, headers, 300, now).ok).toBe(false);
    expect(verifySignature('k', body, headers, 300, now + 301_000)).toMatchObject({ ok: false, reason: expect.stringMatching(/replay/) });
    expect(verifySignature('k', body, headers, 300, now - 301_000).ok).toBe(false);
    expect(verifySignature('k', body, { 'x-slipway-timestamp': String(ts) }, 300, now).reason).toMatch(/missing X-Slipway-Signature-256/);
    // A signature over the body alone (no timestamp) is refused: the timestamp is part of what is signed.
    const bodyOnly = `sha256=${createHmac('sha256', 'k').update(body).digest('hex')}`;
    expect(verifySignature('k', body, { ...headers, 'x-slipway-signature-256': bodyOnly }, 300, now).ok).toBe(false);
  });
});

describe('webhook delivery', () => {
  it('retries 5xx and network errors with a fresh signature and the same delivery id', async () => {
    const seen: { url: string; req: HttpRequest }[] = [];
    const waits: number[] = [];
    const r = await sendWebhook('https://hooks.example.com/x', { n: 1 }, { secret: 'k', http: fakeHttp([503, new Error('ECONNRESET'), 200], seen), sleep: async (ms) => { waits.push(ms); } });
    expect(r).toMatchObject({ status: 200, attempts: 3 });
    expect(seen).toHaveLength(3);
    expect(new Set(seen.map((s) => s.req.headers!['X-Slipway-Delivery'])).size).toBe(1);
    for (const s of seen) expect(independentVerify('k', s.req.body as string, s.req.headers!)).toBe(true);
    expect(waits).toHaveLength(2);
  });

  it('waits as long as Retry-After says on 429', async () => {
    const waits: number[] = [];
    await sendWebhook('https://h.example.com/', {}, { http: fakeHttp([429, 200], []), sleep: async (ms) => { waits.push(ms); } });
    expect(waits).toEqual([2000]);
  });

  it('does not retry a 4xx (the receiver refused it) and never shows the URL', async () => {
    const seen: { url: string; req: HttpRequest }[] = [];
    const url = 'https://hooks.example.com/T123/secret-path-token';
    const err = await sendWebhook(url, {}, { http: fakeHttp([401], seen) }).catch((e: Error) => e);
    expect(seen).toHaveLength(1);
    expect(String(err)).toMatch(/HTTP 401.*not retried/);
    expect(String(err)).not.toContain('secret-path-token');
  });

  it('stops at the deadline', async () => {
    let clock = 0;
    const err = await sendWebhook('https://h.example.com/secret-token-path', {}, {
      http: async () => { clock += 4000; throw new Error('connect ETIMEDOUT https://h.example.com/secret-token-path'); },
      now: () => clock,
      sleep: async (ms) => { clock += ms; },
      deadlineMs: 10_000,
      maxAttempts: 100,
    }).catch((e: Error) => e);
    expect(String(err)).toMatch(/no success after [23] attempts within the 10s deadline/);
    expect(String(err)).not.toContain('secret-token-path');
  });
});

describe('a receiver that echoes the request (issue 18)', () => {
  it('its answer is quoted only after the URL\'s token (raw and decoded) and the HMAC secret are redacted, then cut', async () => {
    const raw = 'Wh%2FSecretSig%2B1';
    const http = (async (url: string) => ({ url, status: 400, headers: new Headers(), body: `${'x'.repeat(100)} ${raw} Wh/SecretSig+1 hmac-secret-77 ${'y'.repeat(500)}`, durationMs: 1, attempts: 1, json: () => ({}) })) as unknown as Http;
    const err = await sendWebhook(`http://127.0.0.1:9/hook?sig=${raw}`, { a: 1 }, { http, secret: 'hmac-secret-77', maxAttempts: 1 }).catch((e: Error) => e);
    expect(String(err)).toMatch(/answered HTTP 400: x+ \*\*\* \*\*\* \*\*\* y+… \(cut\)/);
    expect(String(err)).not.toMatch(/SecretSig|hmac-secret/);
  });
});
