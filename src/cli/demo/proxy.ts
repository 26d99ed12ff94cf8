/**
 * A small built-in HTTP reverse proxy with drain support, for the local target when nginx is not
 * installed. Round-robin over the upstreams that are not down; a request that could not reach an
 * upstream (connection refused or reset before any answer) is retried on the next one when it is
 * idempotent (GET, HEAD, OPTIONS), like nginx's proxy_next_upstream error.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxyUpstream {
  id: string;
  host: string;
  port: number;
  /** Share of picks relative to the others (smooth weighted round-robin, like nginx). Default 1. */
  weight?: number;
}

export interface ReverseProxy {
  url: string;
  port: number;
  /** Takes upstreams out of rotation (down) or puts them back. */
  setDown(ids: string[], down: boolean): void;
  /** Weights by id (undefined: all 1). */
  setWeights(weights: Record<string, number> | undefined): void;
  /** Points an upstream at another port (blue/green), all in one step. */
  setPorts(ports: Record<string, number>): void;
  isDown(id: string): boolean;
  /** Requests in flight to an upstream. */
  inFlight(id: string): number;
  /** Resolves when none of ids has a request in flight, or after timeoutMs (returns false then). */
  waitIdle(ids: string[], timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

export async function startProxy(opts: { upstreams: ProxyUpstream[]; port?: number; host?: string; retries?: number }): Promise<ReverseProxy> {
  const ups = opts.upstreams.map((u) => ({ ...u, weight: u.weight ?? 1, current: 0, down: false, inFlight: 0 }));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 1000 });
  // Smooth weighted round-robin (nginx's): equal weights give plain round-robin.
  const pick = (tried: Set<string>) => {
    const live = ups.filter((u) => !u.down && !tried.has(u.id));
    if (!live.length) return undefined;
    let total = 0;
    let best = live[0]!;
    for (const u of live) {
      u.current += u.weight;
      total += u.weight;
      if (u.current > best.current) best = u;
    }
    best.current -= total;
    return best;
  };
  const server = http.createServer((req, res) => {
    const tried = new Set<string>();
    const retryable = IDEMPOTENT.has(req.method ?? 'GET');
    const attempt = () => {
      const up = pick(tried);
      if (!up) {
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('no upstream available\n');
        return;
      }
      tried.add(up.id);
      up.inFlight++;
      let done = false;
      const finish = () => {
        if (!done) {
          done = true;
          up.inFlight--;
        }
      };
      const headers: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k)) headers[k] = v;
      headers['x-forwarded-for'] = req.socket.remoteAddress ?? '';
      const preq = http.request({ host: up.host, port: up.port, method: req.method, path: req.url, headers, agent }, (pres) => {
        const out: http.OutgoingHttpHeaders = {};
        for (const [k, v] of Object.entries(pres.headers)) if (!HOP.has(k)) out[k] = v;
        res.writeHead(pres.statusCode ?? 502, out);
        pres.pipe(res);
        pres.on('end', finish);
        pres.on('error', () => {
          finish();
          res.destroy();
        });
      });
      preq.on('error', () => {
        finish();
        if (!res.headersSent && retryable && tried.size < (opts.retries ?? 3) + 1) return attempt();
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end('upstream error\n');
        else res.destroy();
      });
      if (retryable) preq.end();
      else req.pipe(preq);
    };
    if (retryable) req.resume();
    attempt();
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const byId = (id: string) => ups.find((u) => u.id === id);
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    port,
    setDown(ids, down) {
      for (const id of ids) {
        const u = byId(id);
        if (u) u.down = down;
      }
    },
    setWeights(weights) {
      for (const u of ups) {
        u.weight = weights?.[u.id] ?? 1;
        u.current = 0;
      }
    },
    setPorts(ports) {
      for (const u of ups) if (ports[u.id] !== undefined) u.port = ports[u.id]!;
    },
    isDown: (id) => byId(id)?.down ?? false,
    inFlight: (id) => byId(id)?.inFlight ?? 0,
    async waitIdle(ids, timeoutMs) {
      const until = Date.now() + timeoutMs;
      while (ids.some((id) => (byId(id)?.inFlight ?? 0) > 0)) {
        if (Date.now() >= until) return false;
        await new Promise((r) => setTimeout(r, 10));
      }
      return true;
    },
    close() {
      agent.destroy();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
