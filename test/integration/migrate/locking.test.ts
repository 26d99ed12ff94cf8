/**
 * Concurrency and lock protection against a real PostgreSQL: two runners racing (the advisory lock),
 * and lock_timeout retries while another session holds a lock on the table.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireServer, startPostgres, type PostgresServer } from '../../helpers/servers.ts';
import { freshDatabase, history, migrate, query, workspace, type Workspace } from './helpers.ts';

const hasPg = requireServer('postgres');

async function holdLock(url: string, sql: string): Promise<{ client: pg.Client; release: () => Promise<void> }> {
  const client = new pg.Client({ connectionString: url, application_name: 'app-long-transaction' });
  await client.connect();
  await client.query('BEGIN');
  await client.query(sql);
  let released = false;
  return {
    client,
    release: async () => {
      if (released) return;
      released = true;
      await client.query('COMMIT').catch(() => {});
      await client.end().catch(() => {});
    },
  };
}

describe.skipIf(!hasPg)('migrate locking (real PostgreSQL)', () => {
  let server: PostgresServer;
  const spaces: Workspace[] = [];
  let n = 0;
  const db = async () => freshDatabase(server.url, `locking_${++n}`);
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

  it('two runners racing: exactly one applies, the other waits for the lock and then finds nothing pending', async () => {
    const url = await db();
    const w = ws();
    w.write('0001_slow.sql', 'CREATE TABLE counter (n int NOT NULL);\nINSERT INTO counter VALUES (1);\nSELECT pg_sleep(1.5);\n');
    w.write('0002_next.sql', 'UPDATE counter SET n = n + 1 WHERE true;\n');
    const [a, b] = await Promise.all([migrate(w, { 'database-url': url, lint: 'off' }), migrate(w, { 'database-url': url, lint: 'off' })]);
    expect(a.failure).toBeUndefined();
    expect(b.failure).toBeUndefined();
    const counts = [a, b].map((r) => (r.outputs.applied as unknown[]).length).sort();
    expect(counts).toEqual([0, 2]);
    const waiter = (a.outputs.applied as unknown[]).length === 0 ? a : b;
    expect(waiter.text).toContain('waiting for the migration lock');
    expect(waiter.outputs['pending-count']).toBe(0);
    expect(waiter.outputs['current-version']).toBe('0002');
    // Each migration ran exactly once.
    expect((await query(url, 'SELECT n FROM counter'))[0].n).toBe(2);
    expect((await history(url)).length).toBe(2);
  });

  it('fails after lock-wait when another runner keeps the migration lock, naming its holder', async () => {
    const url = await db();
    const w = ws();
    w.write('0001_t.sql', 'CREATE TABLE t (id int);\n');
    // Find the key the runner uses: run once, then hold the same advisory lock from another session.
    expect((await migrate(w, { 'database-url': url, lint: 'off' })).failure).toBeUndefined();
    const { advisoryKey } = await import('../../../src/migrate/locks.ts');
    const holder = new pg.Client({ connectionString: url, application_name: 'other-runner' });
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1::bigint)', [advisoryKey('public.slipway_migrations')]);
      w.write('0002_u.sql', 'CREATE TABLE u (id int);\n');
      const r = await migrate(w, { 'database-url': url, lint: 'off', 'lock-wait': '1s' });
      expect(r.failure).toContain('still held by another runner');
      expect(r.failure).toContain('other-runner');
      expect((await history(url)).length).toBe(1);
    } finally {
      await holder.end();
    }
  });

  it('waits without queueing while a long transaction holds the table, then applies once it ends', async () => {
    const url = await db();
    const w = ws();
    w.write('0001_accounts.sql', 'CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL DEFAULT 0);\nINSERT INTO accounts VALUES (1, 10);\n');
    expect((await migrate(w, { 'database-url': url, lint: 'off' })).failure).toBeUndefined();
    w.write('0002_add_note.sql', 'ALTER TABLE accounts ADD COLUMN note text;\n');

    const blocker = await holdLock(url, 'SELECT balance FROM accounts WHERE id = 1 /* long report */');
    await new Promise((r) => setTimeout(r, 300));
    // While the migration waits, the application still reads the table (nothing queues behind the migration).
    let appReads = 0;
    const app = setInterval(() => void query(url, 'SELECT balance FROM accounts WHERE id = 1').then(() => appReads++), 100);
    const releaseAfter = setTimeout(() => void blocker.release(), 1200);
    try {
      const r = await migrate(w, { 'database-url': url, 'lock-timeout': '200ms', 'lock-retries': '8', 'retry-backoff': '150ms' });
      expect(r.failure).toBeUndefined();
      expect((r.outputs.applied as { version: string }[]).map((a) => a.version)).toEqual(['0002']);
      const waited = r.log.lines.find((l) => l.message.includes('to end before asking for the lock'));
      expect(waited?.message).toContain('long report');
      expect(waited?.message).toContain('app-long-transaction');
      expect(waited?.message).toContain('"accounts"');
      expect(r.text).toContain('the way is clear');
      expect(appReads).toBeGreaterThan(3);
      expect((await history(url))[1]).toMatchObject({ version: '0002', status: 'applied' });
    } finally {
      clearInterval(app);
      clearTimeout(releaseAfter);
      await blocker.release();
    }
  });

  it('with wait-for-blockers off: retries on lock_timeout (55P03) naming the blocker, and succeeds once the lock is released', async () => {
    const url = await db();
    const w = ws();
    w.write('0001_accounts.sql', 'CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL DEFAULT 0);\nINSERT INTO accounts VALUES (1, 10);\n');
    expect((await migrate(w, { 'database-url': url, lint: 'off' })).failure).toBeUndefined();
    w.write('0002_add_note.sql', 'ALTER TABLE accounts ADD COLUMN note text;\n');

    const blocker = await holdLock(url, 'SELECT balance FROM accounts WHERE id = 1 /* long report */');
    const releaseAfter = setTimeout(() => void blocker.release(), 900);
    try {
      const r = await migrate(w, { 'database-url': url, 'lock-timeout': '200ms', 'lock-retries': '8', 'retry-backoff': '150ms', 'wait-for-blockers': 'false' });
      expect(r.failure).toBeUndefined();
      const applied = r.outputs.applied as { version: string; lockRetries: number }[];
      expect(applied.map((a) => a.version)).toEqual(['0002']);
      expect(applied[0]!.lockRetries).toBeGreaterThanOrEqual(1);
      const warning = r.log.lines.find((l) => l.level === 'warning' && l.message.includes('lock timeout'));
      expect(warning?.message).toContain('55P03');
      expect(warning?.message).toContain('long report');
      expect(warning?.message).toContain('app-long-transaction');
      expect(r.summary).toMatch(/\| 1 \| migrations\/0002_add_note\.sql \| [^|]+ \| 1 \| [1-9]\d* \| yes \|/);
      expect((await history(url))[1]!.lock_retries).toBeGreaterThanOrEqual(1);
    } finally {
      clearTimeout(releaseAfter);
      await blocker.release();
    }
  });

  it.each([
    ['waiting without queueing (default)', {}, /blocked by pid \d+ .*without queueing/],
    ['lock_timeout retries (wait-for-blockers: false)', { 'wait-for-blockers': 'false' }, /could not get its lock within lock-timeout 150ms after 3 attempt\(s\) \(SQLSTATE 55P03.*Blocked by pid \d+/],
  ])('gives up when the lock never frees (%s), naming the blocking query; nothing of the migration remains', async (_what, extra, expected) => {
    const url = await db();
    const w = ws();
    w.write('0001_accounts.sql', 'CREATE TABLE accounts (id int PRIMARY KEY);\n');
    expect((await migrate(w, { 'database-url': url, lint: 'off' })).failure).toBeUndefined();
    w.write('0002_add_note.sql', 'CREATE TABLE side_effect (id int);\nALTER TABLE accounts ADD COLUMN note text;\n');

    const blocker = await holdLock(url, 'SELECT count(*) FROM accounts /* nightly export */');
    await new Promise((r) => setTimeout(r, 300));
    try {
      const r = await migrate(w, { 'database-url': url, 'lock-timeout': '150ms', 'lock-retries': '2', 'retry-backoff': '100ms', lint: 'off', ...extra });
      expect(r.failure).toContain('0002_add_note.sql:2');
      expect(r.failure).toMatch(expected);
      expect(r.failure).toContain('nightly export');
      expect(r.failure).toContain('app-long-transaction');
      expect(r.summary).toContain('Blocked by');
      expect(r.summary).toContain('ALTER TABLE accounts ADD COLUMN note text');
      expect((await history(url)).map((h) => h.version)).toEqual(['0001']);
      expect((await query(url, "SELECT to_regclass('side_effect') AS t"))[0].t).toBeNull();
    } finally {
      await blocker.release();
    }
  });

  it('statement-timeout cancels a long statement without retrying it', async () => {
    const url = await db();
    const w = ws();
    w.write('0001_slow.sql', 'SELECT pg_sleep(5);\n');
    const r = await migrate(w, { 'database-url': url, 'statement-timeout': '300ms', lint: 'off' });
    expect(r.failure).toContain('statement-timeout 300ms');
    expect(r.failure).toContain('57014');
    expect(r.outputs.applied).toEqual([]);
  });
});
