/**
 * A small built-in HTTP reverse proxy with drain support, for the local target. Smooth weighted
 * round-robin over the upstreams that are not down. Zero downtime for clients that never retry
 * (issue 16, item 1; bench/deploy-local-zero.ts):
 * - drain (`setDown` + `waitIdle`): no new request goes to the upstream; waitIdle resolves when its
 *   requests in flight have been answered AND the proxy let go of its pooled keep-alive sockets
 *   to it, so the caller can stop the instance without cutting anything;
 * - blue/green (`setPorts`): new requests go to the new port at once; `waitIdle` with the old
 *   addresses waits until nothing is in flight there any more before the old copy is stopped;
 * - retries only what was never delivered: a request whose upstream connection failed before it
 *   connected (refused, reset while connecting) goes to the next ready upstream, whatever its
 *   method (the body is buffered, up to maxBodyBytes); an idempotent one (GET, HEAD, OPTIONS)
 *   also when a reused keep-alive socket was closed under it before any answer, like nginx's
 *   `proxy_next_upstream error`. A request the upstream may have seen is never sent twice.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

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
  /**
   * Points upstreams at other ports (blue/green), all in one step. Returns the addresses
   * (`host:port`) they left: pass them to waitIdle before stopping what listens there.
   */
  setPorts(ports: Record<string, number>): string[];
  isDown(id: string): boolean;
  /** Requests in flight to an upstream (by id) or to an address (`host:port`). */
  inFlight(idOrAddress: string): number;
  /**
   * Resolves true when none of ids (upstream ids or `host:port` addresses) has a request in
   * flight, after closing the proxy's idle pooled sockets to them; false after timeoutMs.
   */
  waitIdle(ids: string[], timeoutMs: number): Promise<boolean>;
  /** Upstream attempts retried on another upstream, by reason (benchmarks, tests). */
  readonly retries: { connect: number; reused: number };
  close(): Promise<void>;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

/** Errors of a connection that never connected: the request was not delivered. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ETIMEDOUT']);

export async function startProxy(opts: {
  upstreams: ProxyUpstream[];
  port?: number;
  host?: string;
  /** Further upstreams tried after the first. Default 3. */
  retries?: number;
  /** Largest request body buffered (so it can be sent again when a connect fails). Default 16 MiB; larger: 413. */
  maxBodyBytes?: number;
}): Promise<ReverseProxy> {
  const ups = opts.upstreams.map((u) => ({ ...u, weight: u.weight ?? 1, current: 0, down: false, inFlight: 0 }));
  const byAddress = new Map<string, number>();
  const addressOf = (u: { host: string; port: number }) => `${u.host}:${u.port}`;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 1000 });
  const maxBody = opts.maxBodyBytes ?? 16 * 1024 * 1024;
  const retries = { connect: 0, reused: 0 };
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
  const forward = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => {
    const tried = new Set<string>();
    const idempotent = IDEMPOTENT.has(req.method ?? 'GET');
    const attempt = () => {
      const up = pick(tried);
      if (!up) {
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('no upstream available\n');
        return;
      }
      tried.add(up.id);
      // In flight by upstream (drain) and by address (blue/green: the old port after setPorts).
      const address = addressOf(up);
      up.inFlight++;
      byAddress.set(address, (byAddress.get(address) ?? 0) + 1);
      let done = false;
      const finish = () => {
        if (!done) {
          done = true;
          up.inFlight--;
          byAddress.set(address, byAddress.get(address)! - 1);
        }
      };
      const headers: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k)) headers[k] = v;
      headers['x-forwarded-for'] = req.socket.remoteAddress ?? '';
      if (body.length || req.headers['content-length'] !== undefined) headers['content-length'] = String(body.length);
      let connected = false;
      let answered = false;
      const preq = http.request({ host: up.host, port: up.port, method: req.method, path: req.url, headers, agent }, (pres) => {
        answered = true;
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
      preq.on('socket', (sock: Socket) => {
        if (!sock.connecting) connected = true;
        else sock.once('connect', () => (connected = true));
      });
      preq.on('error', (err: NodeJS.ErrnoException) => {
        finish();
        // Never delivered: the connection never opened. Idempotent and no answer yet: a reused
        // keep-alive socket the upstream closed (or any error before the answer), as nginx does.
        const never = !connected && NOT_CONNECTED.has(err.code ?? '');
        const safe = never || (idempotent && !answered);
        if (!res.headersSent && safe && tried.size < (opts.retries ?? 3) + 1) {
          if (never) retries.connect++;
          else retries.reused++;
          return attempt();
        }
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end('upstream error\n');
        else res.destroy();
      });
      preq.end(body);
    };
    attempt();
  };
  const server = http.createServer((req, res) => {
    // The body is read whole first: a request whose connect failed can then go to another upstream.
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (d: Buffer) => {
      if (tooBig) return;
      size += d.length;
      if (size > maxBody) {
        tooBig = true;
        chunks.length = 0;
        res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end(`request body over ${maxBody} bytes\n`);
        return;
      }
      chunks.push(d);
    });
    req.on('end', () => {
      if (!tooBig) forward(req, res, Buffer.concat(chunks));
    });
    req.on('error', () => res.destroy());
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const byId = (id: string) => ups.find((u) => u.id === id);
  const busy = (key: string) => {
    const u = byId(key);
    return u ? u.inFlight : (byAddress.get(key) ?? 0);
  };
  /** Closes the agent's idle pooled sockets to an address (the pool's names start with `host:port:`). */
  const release = (address: string) => {
    for (const [name, socks] of Object.entries(agent.freeSockets)) if (name.startsWith(`${address}:`)) for (const s of socks ?? []) s.destroy();
  };
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    port,
    retries,
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
      const left: string[] = [];
      for (const u of ups)
        if (ports[u.id] !== undefined && ports[u.id] !== u.port) {
          left.push(addressOf(u));
          u.port = ports[u.id]!;
        }
      return left;
    },
    isDown: (id) => byId(id)?.down ?? false,
    inFlight: busy,
    async waitIdle(ids, timeoutMs) {
      const until = Date.now() + timeoutMs;
      while (ids.some((id) => busy(id) > 0)) {
        if (Date.now() >= until) return false;
        await new Promise((r) => setTimeout(r, 10));
      }
      for (const id of ids) {
        const u = byId(id);
        release(u ? addressOf(u) : id);
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
