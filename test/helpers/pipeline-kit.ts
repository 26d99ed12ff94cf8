/**
 * What the end-to-end pipeline tests share: steady user traffic through a load balancer (so that
 * Prometheus sees every version serve), and a webhook receiver that checks each notification's
 * HMAC signature with Slipway's own verifier (the one documented for users' receivers).
 */
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { freePort } from './servers.ts';
import { verifySignature } from '../../src/notify/webhook.ts';

export interface Traffic {
  /** "<version> <status>" → count, and `error` for requests that got no answer. */
  counts: Record<string, number>;
  /** Marks now; the function returns the counts of what was sent since (e.g. during one deploy). */
  mark(): () => Record<string, number>;
  stop(): Promise<void>;
}

/** Of a count table: all requests, and those that failed (no answer, or a 5xx). */
export function failedOf(counts: Record<string, number>): { total: number; failed: number } {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const failed = Object.entries(counts)
    .filter(([k]) => k === 'error' || / 5\d\d$/.test(k))
    .reduce((a, [, n]) => a + n, 0);
  return { total, failed };
}

/** `perSecond` GET <url>/work per second (in tenths), counting each answer by X-App-Version and status. */
export function startTraffic(url: string, perSecond = 40): Traffic {
  const counts: Record<string, number> = {};
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const t0 = Date.now();
      await Promise.all(
        Array.from({ length: perSecond / 10 }, async () => {
          try {
            const r = await fetch(`${url}/work`, { signal: AbortSignal.timeout(2000) });
            const v = r.headers.get('x-app-version') ?? '?';
            counts[`${v} ${r.status}`] = (counts[`${v} ${r.status}`] ?? 0) + 1;
            await r.arrayBuffer();
          } catch {
            counts.error = (counts.error ?? 0) + 1;
          }
        }),
      );
      await new Promise((res) => setTimeout(res, Math.max(0, 100 - (Date.now() - t0))));
    }
  })();
  const mark = () => {
    const before = { ...counts };
    return () => Object.fromEntries(Object.entries(counts).map(([k, n]) => [k, n - (before[k] ?? 0)]));
  };
  return { counts, mark, stop: async () => { stopped = true; await loop; } };
}

export interface Delivery { event: string; verified: boolean; reason?: string; body: Record<string, unknown> }

export interface WebhookReceiver {
  /** http://127.0.0.1:PORT/hooks/<random>: the path is part of the secret. */
  url: string;
  secret: string;
  deliveries: Delivery[];
  close(): Promise<void>;
}

/** A receiver on 127.0.0.1 that answers 204 to a correctly signed delivery and 401 otherwise. */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const secret = `whsec-${randomBytes(12).toString('hex')}`;
  const path = `/hooks/${randomBytes(8).toString('hex')}`;
  const deliveries: Delivery[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (req.url !== path) {
        res.writeHead(404).end();
        return;
      }
      const v = verifySignature(secret, body, req.headers);
      deliveries.push({ event: String(req.headers['x-slipway-event'] ?? ''), verified: v.ok, reason: v.reason, body: JSON.parse(body) as Record<string, unknown> });
      res.writeHead(v.ok ? 204 : 401).end();
    });
  });
  const port = await freePort();
  await new Promise<void>((res) => server.listen(port, '127.0.0.1', res));
  return { url: `http://127.0.0.1:${port}${path}`, secret, deliveries, close: () => new Promise((res) => server.close(() => res())) };
}
