/**
 * The one HTTP layer (src/lib/http.ts) against a real HTTP server on 127.0.0.1 that accepts a
 * request and answers only after the client has given up (a timeout after accept): a POST (Slack's
 * chat.postMessage, an incoming webhook) reaches the server once, never twice; an idempotent request
 * (GET, chat.update, a POST with an Idempotency-Key) is repeated. Retry-After beyond the cap is not
 * waited for, and every wait ends when the step is cancelled. The server counts what arrived.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpError, request } from '../../../src/lib/http.ts';
import { SlackError, sendSlackWebhook, slackApi } from '../../../src/notify/slack.ts';

let server: http.Server;
let base = '';
/** Requests that arrived (the body read in full), per method and path. */
let arrived: string[] = [];
const held: http.ServerResponse[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]!;
      arrived.push(`${req.method} ${path}`);
      // Accepted, acted on (counted), and answered too late: the client's timeout fires first.
      if (path.startsWith('/slow')) return void held.push(res);
      if (path === '/rate-limited-long') return void res.writeHead(429, { 'retry-after': '3600' }).end('{"ok":false,"error":"ratelimited"}');
      if (path === '/rate-limited-20s') return void res.writeHead(429, { 'retry-after': '20' }).end();
      if (path === '/unavailable') return void res.writeHead(502).end('bad gateway');
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true,"channel":"C1","ts":"1.2"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
beforeEach(() => {
  arrived = [];
});
afterAll(async () => {
  for (const r of held) r.destroy();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

const count = (what: string) => arrived.filter((a) => a === what).length;

describe('a timeout after the server accepted the request', () => {
  it('a POST is sent once, with retries allowed, and the error says why it was not repeated', async () => {
    const err = await request(`${base}/slow/post`, { method: 'POST', body: '{}', timeoutMs: 300, retries: 5, backoffMs: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect((err as Error).message).toMatch(/failed after 1 attempt: timed out after 300ms \(not retried: a POST may have been acted on/);
    expect(count('POST /slow/post')).toBe(1);
  });

  it('a GET (idempotent) is repeated: the same server sees every attempt', async () => {
    const err = await request(`${base}/slow/get`, { timeoutMs: 300, retries: 2, backoffMs: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect(count('GET /slow/get')).toBe(3);
  });

  it('a POST with an Idempotency-Key is repeated', async () => {
    await request(`${base}/slow/keyed`, { method: 'POST', body: '{}', headers: { 'Idempotency-Key': 'k-1' }, timeoutMs: 300, retries: 1, backoffMs: 1 }).catch(() => undefined);
    expect(count('POST /slow/keyed')).toBe(2);
  });

  it('Slack chat.postMessage is posted once; chat.update (same ts, same text) is repeated', async () => {
    const post = await slackApi('chat.postMessage', { channel: 'C1', text: 'deploy started' }, { token: 'xoxb-test', apiUrl: `${base}/slow`, timeoutMs: 300 }).catch((e: unknown) => e);
    expect(post).toBeInstanceOf(SlackError);
    expect(count('POST /slow/chat.postMessage')).toBe(1);
    await slackApi('chat.update', { channel: 'C1', ts: '1.2', text: 'deploy done' }, { token: 'xoxb-test', apiUrl: `${base}/slow`, timeoutMs: 300, deadlineMs: 3_000 }).catch(() => undefined);
    expect(count('POST /slow/chat.update')).toBeGreaterThan(1);
  });

  it('a Slack incoming webhook is posted once', async () => {
    await expect(sendSlackWebhook(`${base}/slow/hook`, { text: 'hello' }, { timeoutMs: 300 })).rejects.toBeInstanceOf(SlackError);
    expect(count('POST /slow/hook')).toBe(1);
  });

  it('a 502 from a gateway (the upstream may have acted) is not repeated for a POST, and is for a GET', async () => {
    expect((await request(`${base}/unavailable`, { method: 'POST', body: '{}', retries: 3, backoffMs: 1 })).status).toBe(502);
    expect(count('POST /unavailable')).toBe(1);
    expect((await request(`${base}/unavailable`, { retries: 3, backoffMs: 1 })).attempts).toBe(4);
    expect(count('GET /unavailable')).toBe(4);
  });
});

describe('waits are capped and cancellable', () => {
  it('a Retry-After beyond the cap ends the retries with that answer (no hour-long wait)', async () => {
    const r = await request(`${base}/rate-limited-long`, { retries: 5, maxRetryAfterMs: 30_000 });
    expect(r.status).toBe(429);
    expect(r.attempts).toBe(1);
    expect(count('GET /rate-limited-long')).toBe(1);
  });

  it('cancelling during a Retry-After wait ends the request at once (the test would time out otherwise)', async () => {
    const controller = new AbortController();
    const pending = request(`${base}/rate-limited-20s`, { retries: 5, signal: controller.signal, onRetry: () => controller.abort(new Error('cancelled by the test')) });
    await expect(pending).rejects.toThrow(/cancelled/);
    expect(count('GET /rate-limited-20s')).toBe(1);
  }, 10_000);

  it('the deadline bounds all attempts: a 20 s Retry-After is not waited for with a 5 s deadline', async () => {
    const r = await request(`${base}/rate-limited-20s`, { retries: 5, deadlineMs: 5_000 });
    expect(r.status).toBe(429);
    expect(count('GET /rate-limited-20s')).toBe(1);
  }, 10_000);
});
