/**
 * Throughput: apply 500 small migrations to a fresh database with Slipway's runner and with
 * node-pg-migrate, on the same real PostgreSQL server in the same run.
 *
 *   node_modules/.bin/node bench/migrate-throughput.ts [count=500] [rounds=2]
 *
 * Each runner gets its own fresh database per round; the same .sql files feed both (node-pg-migrate
 * reads plain SQL files too). Slipway is measured through the action's run() (parsing, history,
 * advisory lock, lock_timeout per migration), with lint off and with lint on.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { runner as pgMigrate } from 'node-pg-migrate';
import { startPostgres } from '../test/helpers/servers.ts';
import { parseInputs } from '../src/manifest/fields.ts';
import { MemoryReporter } from '../src/lib/report.ts';
import { spec } from '../src/actions/migrate/inputs.ts';
import { run } from '../src/actions/migrate/run.ts';
import type { ActionContext } from '../src/runner/context.ts';

const COUNT = Number(process.argv[2] ?? 500);
const ROUNDS = Number(process.argv[3] ?? 3);
const root = new URL('..', import.meta.url).pathname;
const work = join(root, '.tmp/bench-migrate-throughput');
const dir = join(work, 'migrations');
rmSync(work, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
for (let i = 1; i <= COUNT; i++) {
  const v = String(i).padStart(4, '0');
  writeFileSync(join(dir, `${v}_create_t${v}.sql`), `CREATE TABLE t${v} (id int PRIMARY KEY, v text NOT NULL DEFAULT '');\nINSERT INTO t${v} (id) VALUES (1);\n`);
}

const server = await startPostgres();
let dbN = 0;
async function freshDb(): Promise<string> {
  const name = `tp_${++dbN}`;
  const c = new pg.Client({ connectionString: server.url });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(server.url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function countTables(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const r = await c.query("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 't%'");
  await c.end();
  return r.rows[0].n;
}

function ctx(): ActionContext {
  return {
    log: new MemoryReporter(),
    github: { serverUrl: '', repository: '', sha: '', ref: '', refName: '', eventName: '', actor: 'bench', runId: '', runAttempt: '1', workflow: '', job: '', runUrl: '', event: {} },
    saveState: () => {},
    getState: () => '',
    signal: new AbortController().signal,
    tempDir: work,
    workspace: work,
    env: {},
  };
}

async function slipway(lint: 'on' | 'off'): Promise<number> {
  const url = await freshDb();
  const inputs = await parseInputs(spec, (n) => ({ 'database-url': url, lint, dir: 'migrations' } as Record<string, string>)[n]);
  const t = performance.now();
  const r = await run(inputs, ctx());
  const ms = performance.now() - t;
  if (r.failure) throw new Error(`slipway failed: ${r.failure}`);
  if ((await countTables(url)) !== COUNT) throw new Error('slipway: wrong table count');
  return ms;
}

async function nodePgMigrate(): Promise<number> {
  const url = await freshDb();
  const t = performance.now();
  await pgMigrate({ databaseUrl: url, dir, direction: 'up', migrationsTable: 'pgmigrations', count: Infinity, log: () => {}, checkOrder: true });
  const ms = performance.now() - t;
  if ((await countTables(url)) !== COUNT) throw new Error('node-pg-migrate: wrong table count');
  return ms;
}

const results: Record<string, number[]> = { 'Slipway (lint off)': [], 'Slipway (lint on)': [], 'node-pg-migrate 9': [] };
try {
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate the order so neither runner always goes first.
    const order = round % 2 === 0 ? ['Slipway (lint off)', 'node-pg-migrate 9', 'Slipway (lint on)'] : ['node-pg-migrate 9', 'Slipway (lint on)', 'Slipway (lint off)'];
    for (const name of order) {
      const ms = name === 'node-pg-migrate 9' ? await nodePgMigrate() : await slipway(name.includes('lint on') ? 'on' : 'off');
      results[name]!.push(ms);
      console.error(`round ${round + 1}: ${name} ${ms.toFixed(0)} ms`);
    }
  }
} finally {
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const best = (xs: number[]) => Math.min(...xs);
const base = median(results['node-pg-migrate 9']!);
console.log(`\n### Migration throughput: ${COUNT} small migrations on a fresh database (${ROUNDS} rounds, alternating order)\n`);
console.log('| Runner | Median time | Best time | Migrations/s (median) | Speed vs node-pg-migrate (median) |');
console.log('| --- | --- | --- | --- | --- |');
for (const [name, xs] of Object.entries(results)) {
  const ms = median(xs);
  console.log(`| ${name} | ${(ms / 1000).toFixed(2)} s | ${(best(xs) / 1000).toFixed(2)} s | ${Math.round((COUNT * 1000) / ms)} | ${(base / ms).toFixed(2)}× |`);
}
