/**
 * The migration runner against a real PostgreSQL: apply, idempotent rerun, checksum change and the
 * repair path, out-of-order, a failure in the middle, dry run, history table options, lint gate.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireServer, startPostgres, type PostgresServer } from '../../helpers/servers.ts';
import { freshDatabase, history, migrate, query, tableExists, workspace, type Workspace } from './helpers.ts';

const hasPg = requireServer('postgres');

describe.skipIf(!hasPg)('migrate runner (real PostgreSQL)', () => {
  let server: PostgresServer;
  let ws: Workspace;
  let n = 0;
  const db = async () => freshDatabase(server.url, `runner_${++n}`);

  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.stop();
  });

  const setup = () => {
    ws?.cleanup();
    ws = workspace();
    ws.write('0001_create_users.sql', 'CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL);\n');
    ws.write('0002_create_orders.sql', '-- orders belong to users\nCREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id));\nCREATE INDEX orders_user_id_idx ON orders (user_id);\n');
    return ws;
  };

  it('applies pending migrations in order, records them, and a rerun applies nothing', async () => {
    const url = await db();
    setup();
    const first = await migrate(ws, { 'database-url': url });
    expect(first.failure).toBeUndefined();
    const applied = first.outputs.applied as { version: string; name: string; durationMs: number; statements: number }[];
    expect(applied.map((a) => a.version)).toEqual(['0001', '0002']);
    expect(applied[1]!.statements).toBe(2);
    expect(typeof applied[0]!.durationMs).toBe('number');
    expect(first.outputs['pending-count']).toBe(0);
    expect(first.outputs['current-version']).toBe('0002');
    expect(first.summary).toContain('Migrations: applied 2');
    expect(first.summary).toContain('0002_create_orders.sql');
    expect(await tableExists(url, 'orders')).toBe(true);

    const rows = await history(url);
    expect(rows.map((r) => [r.version, r.name, r.status])).toEqual([['0001', 'create_users', 'applied'], ['0002', 'create_orders', 'applied']]);
    expect(rows[0]!.checksum).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0]!.applied_by).toContain('octocat');
    expect(rows[0]!.applied_by).toContain('actions/runs/77');

    const again = await migrate(ws, { 'database-url': url });
    expect(again.failure).toBeUndefined();
    expect(again.outputs.applied).toEqual([]);
    expect(again.outputs['pending-count']).toBe(0);
    expect(again.outputs['current-version']).toBe('0002');
    expect(again.summary).toContain('nothing to apply');
    expect((await history(url)).length).toBe(2);

    ws.write('0003_add_nickname.sql', 'ALTER TABLE users ADD COLUMN nickname text;\n');
    const third = await migrate(ws, { 'database-url': url });
    expect((third.outputs.applied as { version: string }[]).map((a) => a.version)).toEqual(['0003']);
    expect(third.outputs['current-version']).toBe('0003');
  });

  it('fails when an applied file changed, naming the file and both checksums; allow-checksum-change records the new one without rerunning', async () => {
    const url = await db();
    setup();
    expect((await migrate(ws, { 'database-url': url })).failure).toBeUndefined();
    const before = (await history(url))[0]!.checksum;
    ws.write('0001_create_users.sql', 'CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL); -- edited\n');
    ws.write('0003_more.sql', 'CREATE TABLE more_things (id int PRIMARY KEY);\n');

    const bad = await migrate(ws, { 'database-url': url });
    expect(bad.failure).toContain('0001_create_users.sql');
    expect(bad.failure).toContain(before);
    const now = (bad.failure!.match(/now has sha256 ([0-9a-f]{64})/) ?? [])[1];
    expect(now).toMatch(/^[0-9a-f]{64}$/);
    expect(now).not.toBe(before);
    expect(bad.failure).toContain('allow-checksum-change');
    expect(bad.outputs.applied).toEqual([]);
    expect(await tableExists(url, 'more_things')).toBe(false);
    expect(bad.summary).toContain('Not started');

    const repaired = await migrate(ws, { 'database-url': url, 'allow-checksum-change': '0001' });
    expect(repaired.failure).toBeUndefined();
    expect((repaired.outputs.applied as { version: string }[]).map((a) => a.version)).toEqual(['0003']);
    expect(repaired.summary).toContain('Checksums accepted');
    expect((await history(url))[0]!.checksum).toBe(now);
    // users was not recreated (it would fail with "already exists" if the migration ran again)
    expect((await migrate(ws, { 'database-url': url })).failure).toBeUndefined();
  });

  it('refuses a pending migration older than the newest applied one unless out-of-order: allow', async () => {
    const url = await db();
    setup();
    ws.remove('0002_create_orders.sql');
    ws.write('0005_create_products.sql', 'CREATE TABLE products (id int PRIMARY KEY);\n');
    expect((await migrate(ws, { 'database-url': url })).failure).toBeUndefined();
    ws.write('0003_create_tags.sql', 'CREATE TABLE tags (id int PRIMARY KEY);\n');

    const refused = await migrate(ws, { 'database-url': url });
    expect(refused.failure).toContain('0003_create_tags.sql');
    expect(refused.failure).toContain('older than the newest applied one (0005)');
    expect(refused.failure).toContain('out-of-order: allow');
    expect(await tableExists(url, 'tags')).toBe(false);

    const allowed = await migrate(ws, { 'database-url': url, 'out-of-order': 'allow' });
    expect(allowed.failure).toBeUndefined();
    expect((allowed.outputs.applied as { version: string }[]).map((a) => a.version)).toEqual(['0003']);
    expect(allowed.outputs['current-version']).toBe('0005');
    expect(await tableExists(url, 'tags')).toBe(true);
  });

  it('a failure in the middle: earlier migrations stay applied and recorded, the failed one leaves nothing, later ones are not started', async () => {
    const url = await db();
    setup();
    ws.write('0003_broken.sql', 'CREATE TABLE audit (id int PRIMARY KEY);\nINSERT INTO audit VALUES (1);\nINSERT INTO audit VALUES (1);\n');
    ws.write('0004_after.sql', 'CREATE TABLE after_broken (id int PRIMARY KEY);\n');
    const r = await migrate(ws, { 'database-url': url });
    expect(r.failure).toContain('0003_broken.sql:3');
    expect(r.failure).toContain('SQLSTATE 23505');
    expect(r.failure).toContain('duplicate key value violates unique constraint');
    expect((r.outputs.applied as { version: string }[]).map((a) => a.version)).toEqual(['0001', '0002']);
    expect(r.outputs['pending-count']).toBe(2);
    expect(r.outputs['current-version']).toBe('0002');
    expect(r.summary).toContain('INSERT INTO audit VALUES (1)');
    expect(r.summary).toContain('`23505`');
    expect(r.summary).toMatch(/Done\*\* \(committed.*0001_create_users\.sql, migrations\/0002_create_orders\.sql/);
    expect(r.summary).toContain('rolled back: nothing from this migration remains');
    expect(r.summary).toMatch(/Not started\*\*: migrations\/0004_after\.sql/);
    const err = r.log.lines.find((l) => l.level === 'error');
    expect(err?.at).toMatchObject({ file: 'migrations/0003_broken.sql', line: 3 });

    expect((await history(url)).map((h) => h.version)).toEqual(['0001', '0002']);
    expect(await tableExists(url, 'audit')).toBe(false);
    expect(await tableExists(url, 'after_broken')).toBe(false);
    expect(await tableExists(url, 'orders')).toBe(true);
  });

  it('dry-run lists what would be applied and applies nothing (with and without a database)', async () => {
    const url = await db();
    setup();
    const r = await migrate(ws, { 'database-url': url, 'dry-run': 'true' });
    expect(r.failure).toBeUndefined();
    expect(r.outputs['pending-count']).toBe(2);
    expect(r.outputs.applied).toEqual([]);
    expect(r.summary).toContain('dry run');
    expect(r.summary).toContain('0001_create_users.sql');
    expect(await tableExists(url, 'users')).toBe(false);
    expect(await tableExists(url, 'slipway_migrations')).toBe(false);

    const offline = await migrate(ws, { 'dry-run': 'true' });
    expect(offline.failure).toBeUndefined();
    expect(offline.outputs['pending-count']).toBe(2);
    expect(offline.summary).toContain('no database');
  });

  it('uses a configurable history table and search_path', async () => {
    const url = await db();
    setup();
    await query(url, 'CREATE SCHEMA app');
    const r = await migrate(ws, { 'database-url': url, 'history-table': 'ops.migration_log', 'search-path': 'app' });
    expect(r.failure).toBeUndefined();
    expect(await tableExists(url, 'app.users')).toBe(true);
    expect((await history(url, 'ops.migration_log')).map((h) => h.version)).toEqual(['0001', '0002']);
    expect(await tableExists(url, 'public.slipway_migrations')).toBe(false);
  });

  it('stops before applying anything when lint finds errors (fail-on), and applies with lint: off', async () => {
    const url = await db();
    setup();
    expect((await migrate(ws, { 'database-url': url })).failure).toBeUndefined();
    ws.write('0003_drop_email.sql', 'ALTER TABLE users DROP COLUMN email;\n');
    const r = await migrate(ws, { 'database-url': url });
    expect(r.failure).toContain('lint found');
    expect(r.failure).toContain('nothing was applied');
    const violations = r.outputs.violations as { rule: string; file: string; line: number; severity: string }[];
    expect(violations.length).toBeGreaterThan(0);
    expect(violations[0]).toMatchObject({ file: 'migrations/0003_drop_email.sql', line: 1, severity: 'error' });
    expect(r.log.lines.some((l) => l.level === 'error' && l.at?.file === 'migrations/0003_drop_email.sql' && l.at?.line === 1)).toBe(true);
    expect(r.summary).toContain('Migration lint');
    expect((await query(url, "SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'email'"))[0].n).toBe(1);

    const never = await migrate(ws, { 'database-url': url, 'fail-on': 'never' });
    expect(never.failure).toBeUndefined();
    expect((never.outputs.applied as { version: string }[]).map((a) => a.version)).toEqual(['0003']);
  });

  it('rejects BEGIN/COMMIT and CONCURRENTLY in a transactional file before running anything', async () => {
    const url = await db();
    setup();
    ws.write('0003_concurrently.sql', 'CREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n');
    const r = await migrate(ws, { 'database-url': url, lint: 'off' });
    expect(r.failure).toContain('0003_concurrently.sql:1');
    expect(r.failure).toContain('slipway:no-transaction');
    expect(r.outputs.applied).toEqual([]);
    expect(await tableExists(url, 'users')).toBe(false);
  });
});
