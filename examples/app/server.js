#!/usr/bin/env node
// Slipway's sample app: the artifact the demo and the end-to-end tests deploy.
// /health (liveness), /ready (readiness), /version, /metrics (Prometheus), /work (a normal request),
// JSON logs with a request id, graceful SIGTERM drain, and knobs for a "bad release":
//   PORT, HOST (127.0.0.1), APP_VERSION, ERROR_RATE (0..1), EXTRA_LATENCY_MS, BOOT_DELAY_MS,
//   READY_FAIL=1 (never ready), DATABASE_URL (readiness checks it when set), DRAIN_TIMEOUT_MS,
//   CRASH_AFTER_MS (exit 1 after this long).
// Feature flag (deploy dark, release by flag; docs/flags.md): with UNLEASH_URL and
// UNLEASH_CLIENT_TOKEN the app reads FEATURE_FLAG (default new-checkout) through OpenFeature on every
// /work request (user: the x-user header); when it is on for that user the request takes the new
// code path, which fails at FEATURE_ERROR_RATE (0..1: a broken feature for the kill switch to stop).
// UNLEASH_REFRESH_MS sets the SDK's poll interval (default 1000).
import http from 'node:http';
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import client from 'prom-client';

const env = process.env;
const port = Number(env.PORT ?? 8080);
const host = env.HOST ?? '127.0.0.1';
const version = env.APP_VERSION ?? 'dev';
const errorRate = Number(env.ERROR_RATE ?? 0);
const extraLatency = Number(env.EXTRA_LATENCY_MS ?? 0);
const bootDelay = Number(env.BOOT_DELAY_MS ?? 0);
const drainTimeout = Number(env.DRAIN_TIMEOUT_MS ?? 10_000);
const started = Date.now();
const featureFlag = env.FEATURE_FLAG ?? 'new-checkout';
const featureErrorRate = Number(env.FEATURE_ERROR_RATE ?? 0);
/** The app's flags, through OpenFeature (only when an Unleash server is configured). */
let flags;
if (env.UNLEASH_URL) {
  const [{ OpenFeature }, { UnleashProvider }] = await Promise.all([import('@openfeature/server-sdk'), import('./openfeature-unleash.js')]);
  await OpenFeature.setProviderAndWait(new UnleashProvider({ url: env.UNLEASH_URL, clientToken: env.UNLEASH_CLIENT_TOKEN ?? '', refreshInterval: Number(env.UNLEASH_REFRESH_MS ?? 1000), environment: env.UNLEASH_ENVIRONMENT }));
  flags = OpenFeature.getClient();
}
let draining = false;
let inFlight = 0;

const registry = new client.Registry();
registry.setDefaultLabels({ version });
const requests = new client.Counter({ name: 'http_requests_total', help: 'HTTP requests by route and status code', labelNames: ['route', 'method', 'code'], registers: [registry] });
const duration = new client.Histogram({
  name: 'http_request_duration_seconds',
  help: 'HTTP request latency',
  labelNames: ['route', 'method', 'code'],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.3, 0.5, 1, 2.5, 5],
  registers: [registry],
});

function log(fields) {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), version, pid: process.pid, ...fields })}\n`);
}

/** Readiness of the database: a TCP connect to DATABASE_URL's host and port. */
function databaseReachable() {
  if (!env.DATABASE_URL) return Promise.resolve(true);
  let u;
  try {
    u = new URL(env.DATABASE_URL);
  } catch {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const sock = net.connect({ host: u.hostname, port: Number(u.port || 5432) });
    const done = (ok) => { sock.destroy(); resolve(ok); };
    sock.setTimeout(1000, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

const booted = () => Date.now() - started >= bootDelay;

async function handle(req, res, route) {
  const send = (code, body, type = 'application/json') => {
    res.writeHead(code, { 'content-type': type, 'x-app-version': version });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
    return code;
  };
  switch (route) {
    case '/health':
      return send(200, { status: 'ok', version });
    case '/ready': {
      if (draining) return send(503, { ready: false, reason: 'draining' });
      if (!booted()) return send(503, { ready: false, reason: 'starting' });
      if (env.READY_FAIL === '1') return send(503, { ready: false, reason: 'READY_FAIL is set' });
      if (!(await databaseReachable())) return send(503, { ready: false, reason: 'database unreachable' });
      return send(200, { ready: true, version });
    }
    case '/version':
      return send(200, { version, pid: process.pid, uptimeMs: Date.now() - started });
    case '/metrics':
      return send(200, await registry.metrics(), registry.contentType);
    default: {
      if (extraLatency > 0) await new Promise((r) => setTimeout(r, extraLatency));
      if (errorRate > 0 && Math.random() < errorRate) return send(500, { error: 'injected failure', version });
      if (flags && (route === '/' || route === '/work')) {
        const user = String(req.headers['x-user'] ?? randomUUID());
        const on = await flags.getBooleanValue(featureFlag, false, { targetingKey: user });
        if (on && featureErrorRate > 0 && Math.random() < featureErrorRate) return send(500, { error: `${featureFlag}: the new code path failed`, version, feature: true });
        return send(200, { ok: true, version, feature: on });
      }
      if (route === '/' || route === '/work') return send(200, { ok: true, version });
      return send(404, { error: 'not found' });
    }
  }
}

const server = http.createServer(async (req, res) => {
  const id = req.headers['x-request-id'] ?? randomUUID();
  const route = (req.url ?? '/').split('?')[0];
  const t0 = process.hrtime.bigint();
  inFlight++;
  let code = 500;
  try {
    code = await handle(req, res, route);
  } catch (err) {
    log({ level: 'error', id, msg: String(err) });
    if (!res.headersSent) res.writeHead(500).end();
  } finally {
    inFlight--;
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const known = ['/health', '/ready', '/version', '/metrics', '/', '/work'].includes(route) ? route : 'other';
    if (known !== '/metrics') {
      requests.inc({ route: known, method: req.method, code: String(code) });
      duration.observe({ route: known, method: req.method, code: String(code) }, secs);
    }
    if (env.LOG_REQUESTS === '1') log({ level: 'info', id, method: req.method, route, code, ms: Math.round(secs * 1000) });
  }
});
server.keepAliveTimeout = 5000;

function shutdown(signal) {
  if (draining) return;
  draining = true;
  log({ level: 'info', msg: `received ${signal}, draining`, inFlight });
  server.close(() => {
    log({ level: 'info', msg: 'drained, exiting' });
    process.exit(0);
  });
  server.closeIdleConnections?.();
  setTimeout(() => {
    log({ level: 'warn', msg: 'drain timeout, exiting', inFlight });
    process.exit(0);
  }, drainTimeout).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
if (env.CRASH_AFTER_MS) setTimeout(() => { log({ level: 'error', msg: 'CRASH_AFTER_MS reached, crashing' }); process.exit(1); }, Number(env.CRASH_AFTER_MS)).unref();

server.listen(port, host, () => log({ level: 'info', msg: `listening on ${host}:${port}`, bootDelayMs: bootDelay, errorRate, extraLatencyMs: extraLatency }));
