/**
 * Client load through a load balancer for the strategy tests and the blue/green bench: requests
 * counted per version (the sample app's `x-app-version` header). A request whose connection was
 * closed under it (nginx's old workers close keepalive client connections at a reload, see
 * TESTING.md) is retried once and counted apart as `retried`; anything else that is not a 2xx,
 * or a second failure, is `failed`.
 */
import http from 'node:http';
import net from 'node:net';

export interface LoadStats {
  ok: number;
  failed: number;
  retried: number;
  byVersion: Record<string, number>;
  errors: string[];
}

const agentFor = (concurrency: number) => new http.Agent({ keepAlive: true, maxSockets: concurrency });

function once(agent: http.Agent | false, url: URL, timeoutMs: number): Promise<{ status: number; version: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: url.hostname, port: url.port, path: url.pathname, agent, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, version: String(res.headers['x-app-version'] ?? '') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** One request, retried once when the connection failed (not when an answer came). */
async function request(agent: http.Agent, url: URL, s: LoadStats, timeoutMs = 5000): Promise<void> {
  let r: { status: number; version: string };
  try {
    r = await once(agent, url, timeoutMs);
  } catch {
    s.retried++;
    try {
      r = await once(false, url, timeoutMs); // a fresh connection, not another pooled one

    } catch (err) {
      s.failed++;
      if (s.errors.length < 10) s.errors.push((err as Error).message);
      return;
    }
  }
  if (r.status >= 200 && r.status < 300) {
    s.ok++;
    s.byVersion[r.version] = (s.byVersion[r.version] ?? 0) + 1;
  } else {
    s.failed++;
    if (s.errors.length < 10) s.errors.push(`HTTP ${r.status}`);
  }
}

const empty = (): LoadStats => ({ ok: 0, failed: 0, retried: 0, byVersion: {}, errors: [] });

/** Constant load (concurrency loops, each with a small pause) until stop(). */
export function startLoad(base: string, o: { concurrency?: number; path?: string; pauseMs?: number } = {}) {
  const url = new URL(o.path ?? '/work', base);
  const c = o.concurrency ?? 4;
  const agent = agentFor(c);
  const stats = empty();
  let running = true;
  const loops = Array.from({ length: c }, async () => {
    while (running) {
      await request(agent, url, stats);
      if (o.pauseMs) await new Promise((r) => setTimeout(r, o.pauseMs));
    }
  });
  return {
    stats,
    /** Counts since the last mark (a copy), and a new mark. */
    async stop(): Promise<LoadStats> {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return stats;
    },
  };
}

/** Sends n requests (concurrency c) and returns the counts per version. */
export async function measure(base: string, n = 400, c = 8, path = '/work'): Promise<LoadStats> {
  const url = new URL(path, base);
  const agent = agentFor(c);
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
  agent.destroy();
  return stats;
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

/** An offset so that every port + offset is free (blue/green's second slot). */
export async function freeOffset(ports: number[], start = 1): Promise<number> {
  for (let off = start; off < start + 2000; off++) {
    if (ports.some((p) => p + off > 32_000 || ports.includes(p + off))) continue;
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
