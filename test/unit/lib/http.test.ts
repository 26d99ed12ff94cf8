import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { request, retryAfterMs } from '../../../src/lib/http.ts';

let server: http.Server;
let base = '';
const hits: Record<string, number> = {};
const auth: string[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const path = req.url ?? '/';
    hits[path] = (hits[path] ?? 0) + 1;
    if (req.headers.authorization) auth.push(req.headers.authorization);
    if (path === '/flaky' && hits[path]! < 3) return res.writeHead(503).end('busy');
    if (path === '/limited' && hits[path]! < 2) return res.writeHead(429, { 'retry-after': '1' }).end();
    if (path === '/slow') return setTimeout(() => res.end('late'), 2000);
    if (path === '/always-500') return res.writeHead(500).end('no');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));

describe('http.request', () => {
  it('retries 5xx with backoff until it succeeds', async () => {
    const r = await request(`${base}/flaky`, { retries: 4, backoffMs: 10 });
    expect(r.status).toBe(200);
    expect(r.attempts).toBe(3);
  });
  it('waits for Retry-After on 429', async () => {
    const t = Date.now();
    const r = await request(`${base}/limited`, { retries: 2, backoffMs: 1 });
    expect(r.status).toBe(200);
    expect(Date.now() - t).toBeGreaterThanOrEqual(900);
  });
  it('returns the last answer when retries run out', async () => {
    const r = await request(`${base}/always-500`, { retries: 1, backoffMs: 1 });
    expect(r.status).toBe(500);
    expect(r.attempts).toBe(2);
  });
  it('times out each attempt and reports it', async () => {
    await expect(request(`${base}/slow`, { timeoutMs: 100 })).rejects.toThrow(/timed out after 100ms/);
  });
  it('respects the overall deadline', async () => {
    const t = Date.now();
    await expect(request(`${base}/slow`, { timeoutMs: 5000, retries: 10, deadlineMs: 300 })).rejects.toThrow(/timed out/);
    expect(Date.now() - t).toBeLessThan(1500);
  });
  it('sends URL credentials as Basic auth and never shows them in errors', async () => {
    const r = await request(`${base.replace('http://', 'http://user:pw%40x@')}/ok`);
    expect(r.json<{ path: string }>().path).toBe('/ok');
    expect(auth.at(-1)).toBe(`Basic ${Buffer.from('user:pw@x').toString('base64')}`);
    const err = await request('http://user:hunter22@127.0.0.1:1/x', { timeoutMs: 500 }).catch((e: Error) => e);
    expect(String(err)).toMatch(/GET http:\/\/127\.0\.0\.1:1\/x failed/);
    expect(String(err)).not.toContain('hunter22');
  });
  it('parses Retry-After in seconds and as a date', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(retryAfterMs(null)).toBeUndefined();
  });
});
