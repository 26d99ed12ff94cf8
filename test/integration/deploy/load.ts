/**
 * Client load through a load balancer for the strategy tests and the blue/green bench: requests
 * counted per version (the sample app's `x-app-version` header). NO retries: like a client that
 * never retries, every answer that is not a 2xx counts as failed (by status), and so does every
 * socket error (a connection reset or closed under a request, a timeout) — `socketErrors`.
 * `keepAlive: false` opens a fresh connection per request.
 */
import http from 'node:http';
import net from 'node:net';

export interface LoadStats {
  ok: number;
  /** Non-2xx answers plus socket errors. */
  failed: number;
  /** Answers by status code ("200", "502", …). */
  statuses: Record<string, number>;
  socketErrors: number;
  byVersion: Record<string, number>;
  errors: string[];
}

const agentFor = (concurrency: number, keepAlive = true) => (keepAlive ? new http.Agent({ keepAlive: true, maxSockets: concurrency }) : false);

function once(agent: http.Agent | false, url: URL, timeoutMs: number, method = 'GET'): Promise<{ status: number; version: string }> {
  return new Promise((resolve, reject) => {
    const body = method === 'GET' ? undefined : '{}';
    const headers = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(body.length) };
    const req = http.request({ method, host: url.hostname, port: url.port, path: url.pathname, agent, timeout: timeoutMs, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, version: String(res.headers['x-app-version'] ?? '') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

/** One request, never retried. */
async function request(agent: http.Agent | false, url: URL, s: LoadStats, timeoutMs = 5000, method = 'GET'): Promise<void> {
  let r: { status: number; version: string };
  try {
    r = await once(agent, url, timeoutMs, method);
  } catch (err) {
    s.failed++;
    s.socketErrors++;
    if (s.errors.length < 10) s.errors.push((err as Error).message);
    return;
  }
  s.statuses[String(r.status)] = (s.statuses[String(r.status)] ?? 0) + 1;
  if (r.status >= 200 && r.status < 300) {
    s.ok++;
    s.byVersion[r.version] = (s.byVersion[r.version] ?? 0) + 1;
  } else {
    s.failed++;
    if (s.errors.length < 10) s.errors.push(`HTTP ${r.status}${r.version ? ` from ${r.version}` : ''}`);
  }
}

const empty = (): LoadStats => ({ ok: 0, failed: 0, statuses: {}, socketErrors: 0, byVersion: {}, errors: [] });

/** Constant load (concurrency loops, each with a small pause) until stop(). `method: 'POST'` sends a small JSON body (never safe to send twice). */
export function startLoad(base: string, o: { concurrency?: number; path?: string; pauseMs?: number; keepAlive?: boolean; method?: string } = {}) {
  const url = new URL(o.path ?? '/work', base);
  const c = o.concurrency ?? 4;
  const agent = agentFor(c, o.keepAlive);
  const stats = empty();
  let running = true;
  const loops = Array.from({ length: c }, async () => {
    while (running) {
      await request(agent, url, stats, 5000, o.method);
      if (o.pauseMs) await new Promise((r) => setTimeout(r, o.pauseMs));
    }
  });
  return {
    stats,
    async stop(): Promise<LoadStats> {
      running = false;
      await Promise.all(loops);
      if (agent) agent.destroy();
      return stats;
    },
  };
}

/** Sends n requests (concurrency c) and returns the counts per version. */
export async function measure(base: string, n = 400, c = 8, path = '/work', keepAlive = true): Promise<LoadStats> {
  const url = new URL(path, base);
  const agent = agentFor(c, keepAlive);
  const stats = empty();
  let sent = 0;
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (sent < n) {
        sent++;
        await request(agent, url, stats);
      }
    }),
  );
  if (agent) agent.destroy();
  return stats;
}

/** One line for logs: `1234 requests: 1230 ok, 4 failed (HTTP 502: 3, socket errors: 1)`. */
export function describeLoad(s: LoadStats): string {
  const bad = Object.entries(s.statuses).filter(([k]) => !/^2/.test(k)).map(([k, n]) => `HTTP ${k}: ${n}`);
  if (s.socketErrors) bad.push(`socket errors: ${s.socketErrors}`);
  return `${s.ok + s.failed} requests: ${s.ok} ok, ${s.failed} failed${bad.length ? ` (${bad.join(', ')})` : ''}, by version ${JSON.stringify(s.byVersion)}`;
}

export function share(s: LoadStats, version: string): number {
  return s.ok ? (s.byVersion[version] ?? 0) / s.ok : 0;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * An offset so that every port + offset is free (blue/green's second slot), staying in freePort's
 * range (below the ephemeral ports): upwards first, then downwards, so that a port handed out near
 * the top of the range (freePort's max is 32,000) still finds one.
 */
export async function freeOffset(ports: number[], start = 1): Promise<number> {
  const offsets = Array.from({ length: 2000 }, (_, k) => start + k);
  for (const off of [...offsets, ...offsets.map((o) => -o)]) {
    if (ports.some((p) => p + off > 32_000 || p + off < 1_024 || ports.includes(p + off))) continue;
    const ok = await Promise.all(ports.map((p) => canListen(p + off)));
    if (ok.every(Boolean)) return off;
  }
  throw new Error('no free port offset');
}

/** A tiny HTTP server whose GET runs `fn` and answers 200 (or 500 when it throws): a gate-url for tests. */
export async function gateServer(fn: () => Promise<boolean>): Promise<{ url: string; calls: number; close(): Promise<void> }> {
  const state = { calls: 0 };
  const srv = http.createServer((req, res) => {
    state.calls++;
    fn().then(
      (ok) => res.writeHead(ok ? 200 : 500).end(ok ? 'pass\n' : 'fail\n'),
      (err: Error) => res.writeHead(500).end(`error: ${err.message}\n`),
    );
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/gate`,
    get calls() {
      return state.calls;
    },
    close: () => new Promise<void>((r) => {
      srv.closeAllConnections();
      srv.close(() => r());
    }),
  };
}
