/**
 * `-- slipway:no-transaction` migrations against a real PostgreSQL: statement-by-statement progress,
 * resume after the runner is killed with SIGKILL halfway, and INVALID indexes left by a failed
 * CREATE INDEX CONCURRENTLY (reported; dropped before the retry when the file is retryable).
 */
import { spawn } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireServer, startPostgres, type PostgresServer } from '../../helpers/servers.ts';
import { freshDatabase, history, migrate, query, workspace, type Workspace } from './helpers.ts';

const hasPg = requireServer('postgres');
const repo = new URL('../../..', import.meta.url).pathname;
const node24 = join(repo, 'node_modules/.bin/node');

async function indexes(url: string, table: string) {
  return query<{ name: string; valid: boolean }>(url, `SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = $1::regclass AND NOT i.indisprimary ORDER BY 1`, [table]);
}

/** Runs the action from source in a child process (as the runner would run the bundle) and SIGKILLs it when `killWhen` matches its log. */
function runChild(ws: Workspace, inputs: Record<string, string>, killWhen: RegExp): Promise<{ stdout: string; signal: NodeJS.Signals | null }> {
  const tmp = mkdtempSync(join(tmpdir(), 'slipway-child-'));
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', GITHUB_WORKSPACE: ws.dir, GITHUB_ACTOR: 'octocat', GITHUB_RUN_ID: '9', RUNNER_TEMP: tmp };
  for (const f of ['GITHUB_OUTPUT', 'GITHUB_STATE', 'GITHUB_STEP_SUMMARY']) {
    env[f] = join(tmp, f);
    writeFileSync(env[f]!, '');
  }
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  const child = spawn(node24, [join(repo, 'src/actions/migrate/main.ts')], { env, cwd: ws.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (killWhen.test(stdout)) child.kill('SIGKILL');
  });
  child.stderr.on('data', (d: Buffer) => (stdout += d.toString()));
  return new Promise((resolve) =>
    child.on('close', (_code, signal) => {
      clearTimeout(guard);
      rmSync(tmp, { recursive: true, force: true });
      resolve({ stdout, signal });
    }),
  );
}

describe.skipIf(!hasPg)('migrate no-transaction files (real PostgreSQL)', () => {
  let server: PostgresServer;
  const spaces: Workspace[] = [];
  let n = 0;
  const db = async () => freshDatabase(server.url, `notx_${++n}`);
  const ws = () => {
    const w = workspace();
    spaces.push(w);
    return w;
  };

  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    for (const w of spaces) w.cleanup();
    await server?.stop();
  });

  it('runs statement by statement outside a transaction (CREATE INDEX CONCURRENTLY) and records the count', async () => {
    const url = await db();
    const w = ws();
    w.write('0001_items.sql', 'CREATE TABLE items (id int PRIMARY KEY, a int, b int);\n');
    w.write('0002_indexes.sql', '-- slipway:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS items_a_idx ON items (a);\nCREATE INDEX CONCURRENTLY IF NOT EXISTS items_b_idx ON items (b);\n');
    const r = await migrate(w, { 'database-url': url });
    expect(r.failure).toBeUndefined();
    expect(r.outputs.applied).toMatchObject([{ version: '0001', transaction: true }, { version: '0002', transaction: false, statements: 2 }]);
    expect(await indexes(url, 'items')).toEqual([{ name: 'items_a_idx', valid: true }, { name: 'items_b_idx', valid: true }]);
    expect((await history(url))[1]).toMatchObject({ status: 'applied', statements_done: 2, statements_total: 2 });
  });

  it('resumes from the failed statement after the runner is killed with SIGKILL halfway', async () => {
    const url = await db();
    const w = ws();
    w.write('0001_items.sql', 'CREATE TABLE items (id int PRIMARY KEY, a int, b int);\nCREATE TABLE statement_log (n int);\n');
    w.write(
      '0002_backfill_and_index.sql',
      '-- slipway:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS items_a_idx ON items (a);\nINSERT INTO statement_log SELECT 2 FROM pg_sleep(1.5);\nCREATE INDEX CONCURRENTLY IF NOT EXISTS items_b_idx ON items (b);\n',
    );
    const killed = await runChild(w, { 'database-url': url, dir: 'migrations', mode: 'run', lint: 'off', 'lock-wait': '1m', 'lock-timeout': '2s', 'lock-retries': '5', 'retry-backoff': '1s', 'history-table': 'slipway_migrations', 'out-of-order': 'fail', 'connect-timeout': '10s', 'statement-timeout': '0', 'dry-run': 'false', 'fail-on': 'error', 'command-timeout': '30m', 'external-runner': 'false' }, /statement 2\/3/);
    expect(killed.signal).toBe('SIGKILL');
    expect(killed.stdout).toContain('applied migrations/0001_items.sql');
    const partial = await history(url);
    expect(partial.map((h) => [h.version, h.status, h.statements_done, h.statements_total])).toEqual([['0001', 'applied', 0 + 2, 2], ['0002', 'partial', 1, 3]]);
    expect(await indexes(url, 'items')).toEqual([{ name: 'items_a_idx', valid: true }]);

    // The killed runner's session still runs statement 2 and holds the migration lock: the next run waits, then resumes at statement 2.
    const resumed = await migrate(w, { 'database-url': url, lint: 'off', 'lock-wait': '1m' });
    expect(resumed.failure).toBeUndefined();
    expect(resumed.text).toContain('resuming migrations/0002_backfill_and_index.sql at statement 2 of 3');
    expect(resumed.outputs.applied).toMatchObject([{ version: '0002', resumedAt: 2, statements: 3, transaction: false }]);
    expect(resumed.summary).toContain('3 (resumed at 2)');
    expect(await indexes(url, 'items')).toEqual([{ name: 'items_a_idx', valid: true }, { name: 'items_b_idx', valid: true }]);
    expect((await history(url))[1]).toMatchObject({ status: 'applied', statements_done: 3 });
  });

  it('reports an INVALID index left by a failed CREATE INDEX CONCURRENTLY, refuses to resume over it, and drops it before the retry when the file is retryable', async () => {
    const url = await db();
    const w = ws();
    w.write('0001_items.sql', 'CREATE TABLE items (id int PRIMARY KEY, sku text);\nINSERT INTO items VALUES (1, \'a\'), (2, \'a\'), (3, \'b\');\n');
    const file = '0002_unique_sku.sql';
    const body = 'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS items_sku_key ON items (sku);\n';
    w.write(file, `-- slipway:no-transaction\n${body}`);

    const failed = await migrate(w, { 'database-url': url, lint: 'off' });
    expect(failed.failure).toContain('0002_unique_sku.sql:2');
    expect(failed.failure).toContain('23505');
    expect(failed.summary).toContain('INVALID index(es) left behind: public.items_sku_key');
    expect(failed.summary).toContain('no statement of this migration completed');
    expect(await indexes(url, 'items')).toEqual([{ name: 'items_sku_key', valid: false }]);
    expect((await history(url))[1]).toMatchObject({ version: '0002', status: 'partial', statements_done: 0 });

    // Data fixed, file not retryable: IF NOT EXISTS would silently keep the broken index, so the runner refuses.
    await query(url, "UPDATE items SET sku = 'c' WHERE id = 2");
    const refused = await migrate(w, { 'database-url': url, lint: 'off' });
    expect(refused.failure).toContain('"items_sku_key" exists but is INVALID');
    expect(refused.failure).toContain('slipway:retryable');
    expect(refused.log.lines.some((l) => l.level === 'warning' && l.message.includes('INVALID index public.items_sku_key'))).toBe(true);
    expect(refused.summary).toContain('INVALID indexes found');

    w.write(file, `-- slipway:no-transaction\n-- slipway:retryable\n${body}`);
    const retried = await migrate(w, { 'database-url': url, lint: 'off' });
    expect(retried.failure).toBeUndefined();
    expect(retried.text).toContain('dropping the INVALID index "items_sku_key"');
    expect(await indexes(url, 'items')).toEqual([{ name: 'items_sku_key', valid: true }]);
    expect((await history(url))[1]).toMatchObject({ status: 'applied' });
  });

  it('refuses to resume when an already-applied statement of a partial migration was edited', async () => {
    const url = await db();
    const w = ws();
    w.write('0001_t.sql', 'CREATE TABLE t (a int, b int);\n');
    w.write('0002_two.sql', '-- slipway:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_a_idx ON t (a);\nSELECT 1/0;\n');
    expect((await migrate(w, { 'database-url': url, lint: 'off' })).failure).toContain('22012');
    expect((await history(url))[1]).toMatchObject({ status: 'partial', statements_done: 1 });

    w.write('0002_two.sql', '-- slipway:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_a2_idx ON t (a);\nSELECT 1;\n');
    const edited = await migrate(w, { 'database-url': url, lint: 'off' });
    expect(edited.failure).toContain('changed in its first 1 statement(s)');

    w.write('0002_two.sql', '-- slipway:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_a_idx ON t (a);\nSELECT 1;\n');
    const fixed = await migrate(w, { 'database-url': url, lint: 'off' });
    expect(fixed.failure).toBeUndefined();
    expect(fixed.outputs.applied).toMatchObject([{ version: '0002', resumedAt: 2 }]);
  });
});
