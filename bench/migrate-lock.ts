/**
 * Lock protection: an application keeps running short queries on a table while a long transaction
 * holds a lock on it and a migration tries to ALTER it. Measures the application's p99 latency and
 * failed queries while the migration is blocked, side by side in one run:
 *   - naive:               ALTER TABLE with no lock_timeout (it waits in the lock queue; every later query waits behind it)
 *   - Slipway (lock_timeout only): the runner with wait-for-blockers: false (queues for at most lock-timeout per attempt, then backs off)
 *   - Slipway (default):   the runner as shipped: waits for the long transaction without queueing, then ALTERs
 *
 *   node_modules/.bin/node bench/migrate-lock.ts [hold-seconds=5]
 *
 * The application: 8 connections, each running `SELECT balance FROM accounts WHERE id = $1` in a loop
 * (2 ms pause), with statement_timeout 1s (a typical app-side timeout: a query that waits longer fails).
 */
import pg from 'pg';
import { startPostgres } from '../test/helpers/servers.ts';
import { MemoryReporter } from '../src/lib/report.ts';
import { migrationFromText } from '../src/migrate/files.ts';
import { runMigrations } from '../src/migrate/runner.ts';
import { connectPg } from '../src/migrate/connection.ts';

const HOLD_MS = Number(process.argv[2] ?? 5) * 1000;
const WORKERS = 8;
const BASELINE_MS = 2500;
const MIGRATION_START_MS = 1000; // after the long transaction began

const server = await startPostgres({ settings: { max_connections: 60 } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function client(url: string, app: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, application_name: app });
  await c.connect();
  return c;
}

async function freshDb(name: string): Promise<string> {
  const admin = await client(server.url, 'bench-admin');
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(server.url);
  u.pathname = `/${name}`;
  const url = u.toString();
  const c = await client(url, 'bench-setup');
  await c.query('CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)');
  await c.query('INSERT INTO accounts SELECT g, g % 1000 FROM generate_series(1, 10000) g');
  await c.query('ANALYZE accounts');
  await c.end();
  return url;
}

interface Sample { at: number; ms: number; ok: boolean }

/** Runs the application load until stop() and returns every query's start time, latency and outcome. */
async function appLoad(url: string) {
  const clients = await Promise.all(Array.from({ length: WORKERS }, () => client(url, 'app')));
  for (const c of clients) await c.query("SET statement_timeout = '1s'");
  const samples: Sample[] = [];
  let running = true;
  const loops = clients.map(async (c) => {
    while (running) {
      const at = performance.now();
      let ok = true;
      try {
        await c.query('SELECT balance FROM accounts WHERE id = $1', [1 + Math.floor(Math.random() * 10000)]);
      } catch {
        ok = false;
      }
      samples.push({ at, ms: performance.now() - at, ok });
      await sleep(2);
    }
  });
  return {
    samples,
    async stop() {
      running = false;
      await Promise.all(loops);
      await Promise.all(clients.map((c) => c.end()));
    },
  };
}

function pct(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

type Mode = 'naive' | 'slipway-timeout-only' | 'slipway';

async function scenario(mode: Mode) {
  const url = await freshDb(`lock_${mode.replace(/-/g, '_')}`);
  const load = await appLoad(url);
  const t0 = performance.now();
  await sleep(BASELINE_MS);
  // The long transaction: a report holding ACCESS SHARE on accounts for HOLD_MS.
  const long = await client(url, 'long-report');
  await long.query('BEGIN');
  await long.query('SELECT sum(balance) FROM accounts');
  const release = sleep(HOLD_MS).then(() => long.query('COMMIT')).then(() => long.end());
  await sleep(MIGRATION_START_MS);
  const migStart = performance.now();
  let outcome: string;
  let retries = 0;
  if (mode === 'naive') {
    const m = await client(url, 'naive-migration');
    await m.query('ALTER TABLE accounts ADD COLUMN note text');
    await m.end();
    outcome = 'applied';
  } else {
    const db = await connectPg({ url, applicationName: 'slipway-migrate' });
    const r = await runMigrations({
      db,
      connectMonitor: () => connectPg({ url, applicationName: 'slipway-monitor' }),
      files: [migrationFromText('0001_add_note.sql', 'ALTER TABLE accounts ADD COLUMN note text;\n')],
      historyTable: { table: 'slipway_migrations' },
      lockTimeoutMs: 2000,
      statementTimeoutMs: 0,
      lockRetries: 5,
      retryBackoffMs: 1000,
      lockWaitMs: 60_000,
      waitForBlockers: mode === 'slipway',
      outOfOrder: 'fail',
      allowChecksumChange: [],
      dryRun: false,
      appliedBy: 'bench',
      log: new MemoryReporter(),
    });
    await db.end();
    outcome = r.failure ? `failed: ${r.failure.kind}` : 'applied';
    retries = r.applied[0]?.lockRetries ?? 0;
  }
  const migEnd = performance.now();
  await release;
  await sleep(500);
  await load.stop();
  const baseline = load.samples.filter((s) => s.at - t0 < BASELINE_MS);
  const during = load.samples.filter((s) => s.at >= migStart && s.at <= migEnd);
  return {
    mode,
    baselineP99: pct(baseline.filter((s) => s.ok).map((s) => s.ms), 99),
    duringP50: pct(during.map((s) => s.ms), 50),
    duringP99: pct(during.map((s) => s.ms), 99),
    duringMax: Math.max(...during.map((s) => s.ms)),
    duringQueries: during.length,
    baselineRate: (baseline.length / BASELINE_MS) * 1000,
    duringRate: (during.length / Math.max(1, migEnd - migStart)) * 1000,
    failed: during.filter((s) => !s.ok).length,
    migrationMs: migEnd - migStart,
    outcome,
    retries,
  };
}

const rows = [];
try {
  for (const mode of ['naive', 'slipway-timeout-only', 'slipway'] as Mode[]) {
    const r = await scenario(mode);
    console.error(`${mode}: baseline p99 ${r.baselineP99.toFixed(1)} ms, during p99 ${r.duringP99.toFixed(1)} ms, failed ${r.failed}, migration ${(r.migrationMs / 1000).toFixed(2)} s (${r.outcome})`);
    rows.push(r);
  }
} finally {
  await server.stop();
}

const label: Record<Mode, string> = {
  naive: 'naive ALTER (no lock_timeout)',
  'slipway-timeout-only': 'Slipway, lock_timeout 2s + retries only (wait-for-blockers: false)',
  slipway: 'Slipway default (waits without queueing, then lock_timeout 2s)',
};
console.log(`\n### Lock protection: app load while a ${HOLD_MS / 1000}s transaction holds the table and a migration ALTERs it\n`);
console.log(`${WORKERS} app connections, point SELECTs with a 2 ms pause and statement_timeout 1s; the migration starts ${MIGRATION_START_MS / 1000}s into the long transaction. "During" = while the migration runs (until it is applied).\n`);
console.log('| Runner | Baseline p99 | p99 during migration | p99 ratio | Max during | Failed app queries | App queries/s (baseline → during) | Migration time | Lock retries | Outcome |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) {
  console.log(`| ${label[r.mode]} | ${r.baselineP99.toFixed(1)} ms | ${r.duringP99.toFixed(1)} ms | ${(r.duringP99 / r.baselineP99).toFixed(1)}× | ${r.duringMax.toFixed(0)} ms | ${r.failed} of ${r.duringQueries} | ${Math.round(r.baselineRate)} → ${Math.round(r.duringRate)} | ${(r.migrationMs / 1000).toFixed(2)} s | ${r.retries} | ${r.outcome} |`);
}
const s = rows.find((r) => r.mode === 'slipway')!;
console.log(`\nGoal (p99 during the blocked migration ≤ 2× baseline with Slipway): ${s.duringP99 <= 2 * s.baselineP99 ? 'met' : 'NOT met'} (${(s.duringP99 / s.baselineP99).toFixed(2)}×).`);
