/**
 * Faults the per-action suites do not cover yet, through the built bundles:
 *  - notify: webhook and Slack receivers that accept the connection and never answer: the step ends
 *    at its deadline, warns, and (fail-on-error false) never fails the deploy;
 *  - smoke-test: a slow-loris readiness endpoint (headers trickled one byte at a time, and a body
 *    that never ends): the per-request timeout holds and the step ends after its deadline;
 *  - migrate: PostgreSQL killed (SIGKILL) while a migration runs: a one-line error, then after the
 *    restart a rerun applies it exactly once and the history is consistent.
 * Covered elsewhere (not repeated here): deploy-rolling SIGTERM + post step
 * (test/e2e/deploy-rolling.test.ts "cancelled mid-rollout"), sshd dying mid-deploy (same file, "a
 * host that dies mid-deploy"), nginx -t failing (test/integration/deploy/hosts.test.ts), Prometheus
 * down mid-analysis (test/integration/metrics/slo-gate.test.ts), 500/429 + Retry-After on webhook,
 * Slack and GitHub (test/integration/notify/*), the migrate runner SIGKILLed mid no-transaction file
 * (test/integration/migrate/no-transaction.test.ts), two migrate runs at once
 * (test/integration/migrate/locking.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findLeaks, registerSecret, runBundle } from '../helpers/runner.ts';
import { requireServer, startPostgres, type PostgresServer } from '../helpers/servers.ts';
import { stackTrace } from './harness.ts';

/** A TCP server that accepts, reads, and then does what `behave` says (hang, trickle …). */
async function rawServer(behave: (s: Socket) => void): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let n = 0;
  const server: Server = createServer((s) => {
    n++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    behave(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    connections: () => n,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

const timers = new Set<NodeJS.Timeout>();
function every(ms: number, fn: () => boolean) {
  const t = setInterval(() => { if (!fn()) { clearInterval(t); timers.delete(t); } }, ms);
  timers.add(t);
}
afterAll(() => { for (const t of timers) clearInterval(t); });

describe('hanging notification receivers', () => {
  let hang: Awaited<ReturnType<typeof rawServer>>;
  beforeAll(async () => { hang = await rawServer((s) => s.resume()); });
  afterAll(async () => { await hang?.close(); });

  it('webhook and Slack never answer: the step ends at the deadline, warns, and does not fail the deploy', async () => {
    const token = 'T0000/B0000/hangSlackTok3n9f';
    const hookToken = 'hook-tok-hang-77a1';
    registerSecret(token, hookToken);
    const r = await runBundle('notify', {
      event: 'succeeded',
      environment: 'staging',
      channels: 'slack,webhook',
      'slack-webhook-url': `http://127.0.0.1:${hang.port}/services/${token}`,
      'webhook-url': `http://127.0.0.1:${hang.port}/hook?token=${hookToken}`,
      timeout: '500ms',
      deadline: '2s',
      'fail-on-error': 'false',
    }, { timeoutMs: 30_000 });
    expect(r.signal).toBeNull(); // not killed by the guard: it ended on its own
    expect(r.code).toBe(0);
    expect(r.errors).toEqual([]);
    const warnings = r.annotations.filter((a) => a.level === 'warning').map((a) => a.message);
    expect(warnings.some((w) => /slack/i.test(w)), warnings.join('\n')).toBe(true);
    expect(warnings.some((w) => /webhook/i.test(w) && /deadline/.test(w)), warnings.join('\n')).toBe(true);
    expect(r.outputs['failed-channels']!.split(',').sort()).toEqual(['slack', 'webhook']);
    expect(hang.connections()).toBeGreaterThanOrEqual(2);
    expect(stackTrace(r)).toBe(false);
    expect(findLeaks(r, [token, hookToken])).toEqual([]);
  });

  it('with fail-on-error true the same hang fails the step with one line naming the channels', async () => {
    const r = await runBundle('notify', {
      event: 'failed',
      environment: 'staging',
      channels: 'webhook',
      'webhook-url': `http://127.0.0.1:${hang.port}/hook`,
      timeout: '300ms',
      deadline: '1s',
      'fail-on-error': 'true',
    }, { timeoutMs: 30_000 });
    expect(r.signal).toBeNull();
    expect(r.code).toBe(1);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(/webhook/);
    expect(r.outputs['failed-channels']).toBe('webhook');
  });
});

describe('slow-loris readiness endpoint', () => {
  let loris: Awaited<ReturnType<typeof rawServer>>;
  let endless: Awaited<ReturnType<typeof rawServer>>;
  beforeAll(async () => {
    // Status line and headers, one byte every 200 ms: a full answer would take minutes.
    loris = await rawServer((s) => {
      const text = `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Pad: ${'x'.repeat(2000)}\r\n\r\nok`;
      let i = 0;
      s.once('data', () => every(200, () => { if (s.destroyed || i >= text.length) return false; s.write(text[i++]!); return true; }));
    });
    // Headers at once, then a chunked body that never ends (a byte every 200 ms).
    endless = await rawServer((s) => {
      s.once('data', () => {
        s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n');
        every(200, () => { if (s.destroyed) return false; s.write('1\r\nx\r\n'); return true; });
      });
    });
  });
  afterAll(async () => { await Promise.all([loris?.close(), endless?.close()]); });

  for (const [name, srv, check] of [
    ['headers trickled one byte at a time', () => loris, { path: '/ready' }],
    ['a body that never ends', () => endless, { path: '/ready', expect: { contains: 'ready' } }],
  ] as const) {
    it(`${name}: each request times out, the step fails with the reason after its deadline`, async () => {
      const r = await runBundle('smoke-test', { url: `http://127.0.0.1:${srv().port}`, checks: JSON.stringify([check]), timeout: '1s', deadline: '3s' }, { timeoutMs: 40_000 });
      expect(r.signal).toBeNull();
      expect(r.code).toBe(1);
      expect(r.outputs.passed).toBe('false');
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0]).toMatch(/time(d)? ?out|timeout/i);
      const results = JSON.parse(r.outputs.results!) as { attempts: number; reason: string }[];
      // Retried within the deadline, each attempt cut by the per-request timeout (not one endless wait).
      expect(results[0]!.attempts).toBeGreaterThanOrEqual(2);
      expect(stackTrace(r)).toBe(false);
    });
  }
});

const hasPg = requireServer('postgres');

describe.skipIf(!hasPg)('PostgreSQL killed mid-migration', () => {
  let server: PostgresServer;
  let ws: string;
  const PASSWORD = 'rel-kill9-pw-3c5e7a';
  beforeAll(async () => {
    registerSecret(PASSWORD);
    // A crash must not lose committed transactions here (the helper's default synchronous_commit=off would).
    server = await startPostgres({ password: PASSWORD, settings: { synchronous_commit: true } });
    ws = mkdtempSync(join(tmpdir(), 'slipway-rel-pgkill-'));
    mkdirSync(join(ws, 'migrations'));
    writeFileSync(join(ws, 'migrations/0001_accounts.sql'), 'CREATE TABLE accounts (id int PRIMARY KEY);\nINSERT INTO accounts VALUES (1);\n');
    writeFileSync(join(ws, 'migrations/0002_slow.sql'), 'CREATE TABLE ledger (n int);\nINSERT INTO ledger VALUES (1);\nSELECT pg_sleep(3);\nUPDATE accounts SET id = id + 100;\n');
    writeFileSync(join(ws, 'migrations/0003_after.sql'), 'ALTER TABLE ledger ADD COLUMN note text;\n');
  });
  afterAll(async () => {
    if (ws) rmSync(ws, { recursive: true, force: true });
    await server?.stop();
  });

  it('fails in one line without the password; after the restart the rerun applies each migration exactly once', async () => {
    const inputs = { 'database-url': server.url, dir: 'migrations', lint: 'off', 'connect-timeout': '3s', 'lock-wait': '10s' };
    // Kill the postmaster once the slow migration is running.
    let killed: Promise<void> | undefined;
    const first = runBundle('migrate', inputs, { cwd: ws, timeoutMs: 60_000 });
    const t0 = Date.now();
    while (!killed && Date.now() - t0 < 30_000) {
      const running = await server.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(3)%' AND pid <> pg_backend_pid()").catch(() => '0');
      if (running.trim() !== '0') killed = server.kill9();
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(killed, 'the slow migration never started').toBeDefined();
    await killed;
    const r1 = await first;
    expect(r1.code).toBe(1);
    // The step's failure line, plus the annotation on the statement that was running.
    expect(r1.errors.at(-1)).toMatch(/^migrate: migrations\/0002_slow\.sql:3: lost the database connection/);
    expect(r1.annotations.filter((a) => a.level === 'error' && a.props.file === 'migrations/0002_slow.sql')).toHaveLength(1);
    expect(r1.summary).toContain('nothing from this migration remains');
    expect(stackTrace(r1)).toBe(false);
    expect(findLeaks(r1, [PASSWORD])).toEqual([]);

    await server.restart();
    // The transaction of 0002 died with the server: nothing of it is left, 0001 stays applied.
    expect(await server.psql("SELECT to_regclass('public.ledger') IS NULL")).toBe('t');
    const r2 = await runBundle('migrate', inputs, { cwd: ws, timeoutMs: 60_000 });
    expect(r2.errors).toEqual([]);
    expect(r2.code).toBe(0);
    expect((JSON.parse(r2.outputs.applied!) as { version: string }[]).map((a) => a.version)).toEqual(['0002', '0003']);
    expect(r2.outputs['current-version']).toBe('0003');
    expect(await server.psql('SELECT count(*) FROM ledger')).toBe('1');
    expect(await server.psql('SELECT id FROM accounts')).toBe('101'); // the UPDATE ran once
    expect(await server.psql('SELECT string_agg(version, \',\' ORDER BY version) FROM slipway_migrations')).toBe('0001,0002,0003');
    expect(findLeaks(r2, [PASSWORD])).toEqual([]);
  }, 120_000);
});
