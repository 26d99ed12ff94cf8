/**
 * Bad inputs fail before any connection, with the input's name and without the password; an
 * unreachable or password-protected database gives a clear error with the password masked.
 * Also lint mode and command mode (no database needed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorMessage } from '../../../src/lib/errors.ts';
import type { Connect } from '../../../src/migrate/connection.ts';
import { freePort, requireServer, startPostgres, type PostgresServer } from '../../helpers/servers.ts';
import { migrate, workspace, type Workspace } from './helpers.ts';

const hasPg = requireServer('postgres');
const PASSWORD = 'pw-Zq8_tr0ub4dor';

function spyConnect(): { connect: Connect; calls: number } {
  const spy = {
    calls: 0,
    connect: (async () => {
      spy.calls++;
      throw new Error('must not connect');
    }) as Connect,
  };
  return spy;
}

async function failureOf(p: Promise<{ failure?: string }>): Promise<string> {
  try {
    const r = await p;
    return r.failure ?? '';
  } catch (err) {
    return errorMessage(err);
  }
}

describe('migrate inputs (no database)', () => {
  let ws: Workspace;
  beforeAll(() => {
    ws = workspace();
    ws.write('0001_a.sql', 'CREATE TABLE a (id int);\n');
  });
  afterAll(() => ws.cleanup());

  it('a missing dir fails before any connection, naming the input and the path', async () => {
    const spy = spyConnect();
    const msg = await failureOf(migrate(ws, { 'database-url': `postgresql://app:${PASSWORD}@127.0.0.1:5/db`, dir: 'db/migrations' }, { connect: spy.connect }));
    expect(msg).toContain("Input 'dir'");
    expect(msg).toContain('"db/migrations" does not exist');
    expect(msg).not.toContain(PASSWORD);
    expect(spy.calls).toBe(0);
  });

  it('a badly named .sql file and duplicate versions fail before any connection', async () => {
    const spy = spyConnect();
    ws.write('add_users.sql', 'SELECT 1;\n');
    let msg = await failureOf(migrate(ws, { 'database-url': 'postgresql://app@127.0.0.1:5/db' }, { connect: spy.connect }));
    expect(msg).toContain('add_users.sql');
    expect(msg).toContain('NNNN_name.sql');
    ws.remove('add_users.sql');
    ws.write('1_dup.sql', 'SELECT 1;\n');
    msg = await failureOf(migrate(ws, { 'database-url': 'postgresql://app@127.0.0.1:5/db' }, { connect: spy.connect }));
    expect(msg).toContain('two migrations share version');
    ws.remove('1_dup.sql');
    expect(spy.calls).toBe(0);
  });

  it.each([
    ['a port that is not a number', `postgresql://app:${PASSWORD}@db.internal:fivefour/app`, 'the port is not a number'],
    ['a wrong scheme', `mysql://app:${PASSWORD}@db.internal/app`, 'unsupported scheme mysql:'],
    ['a libpq string', `host=db user=app password=${PASSWORD}`, 'key=value'],
    ['an unencoded # in the password', `postgresql://app:${PASSWORD}#x@127.0.0.1:5432/app`, 'percent-encode special characters'],
  ])('a bad URL (%s) fails clearly without showing the password', async (_what, url, why) => {
    const spy = spyConnect();
    const msg = await failureOf(migrate(ws, { 'database-url': url }, { connect: spy.connect }));
    expect(msg).toContain("Input 'database-url'");
    expect(msg).toContain(why);
    expect(msg).toContain('(a secret value, not shown)');
    expect(msg).not.toContain(PASSWORD);
    expect(spy.calls).toBe(0);
  });

  it('mode run without database-url, and mode command without command, fail with the input name', async () => {
    expect(await failureOf(migrate(ws, {}))).toContain("Input 'database-url'");
    expect(await failureOf(migrate(ws, { mode: 'command' }))).toContain("Input 'command'");
    expect(await failureOf(migrate(ws, { mode: 'command', command: 'npx prisma migrate deploy' }))).toContain("Input 'command'");
    expect(await failureOf(migrate(ws, { 'lock-timeout': 'soon', 'database-url': 'postgresql://a@b/c' }))).toContain("Input 'lock-timeout'");
    expect(await failureOf(migrate(ws, { 'history-table': 'a.b.c', 'database-url': 'postgresql://a@b/c' }))).toContain("Input 'history-table'");
  });

  it('an unreachable database gives a clear error with the password masked', async () => {
    const port = await freePort();
    const r = await migrate(ws, { 'database-url': `postgresql://app:${PASSWORD}@127.0.0.1:${port}/app`, 'connect-timeout': '3s' });
    expect(r.failure).toContain(`could not connect to postgresql://app:***@127.0.0.1:${port}/app: connection refused`);
    expect(r.failure).not.toContain(PASSWORD);
    expect(r.summary).not.toContain(PASSWORD);
    expect(r.log.secrets.has(PASSWORD)).toBe(true);
  });

  it('lint mode lints every file (or the files given) with annotations on file and line, and fail-on decides', async () => {
    const w = workspace();
    try {
      w.write('0001_users.sql', 'CREATE TABLE users (id int PRIMARY KEY, email text);\n');
      w.write('0002_index.sql', '\nCREATE INDEX users_email_idx ON users (email);\n');
      const r = await migrate(w, { mode: 'lint' });
      const v = r.outputs.violations as { rule: string; file: string; line: number; severity: string; fix: string }[];
      expect(v.length).toBeGreaterThan(0);
      expect(v[0]).toMatchObject({ file: 'migrations/0002_index.sql', line: 2 });
      expect(v[0]!.fix).toContain('CONCURRENTLY');
      expect(r.log.lines.some((l) => (l.level === 'error' || l.level === 'warning') && l.at?.file === 'migrations/0002_index.sql' && l.at?.line === 2)).toBe(true);
      expect(r.summary).toContain('Migration lint');
      expect(r.summary).toContain(v[0]!.rule);
      const errors = v.filter((x) => x.severity === 'error').length;
      if (errors) expect(r.failure).toContain('migration lint failed');
      expect((await migrate(w, { mode: 'lint', 'fail-on': 'never' })).failure).toBeUndefined();
      expect((await migrate(w, { mode: 'lint', 'fail-on': 'warning' })).failure).toContain('migration lint failed');
      const only = await migrate(w, { mode: 'lint', files: 'migrations/0001_users.sql' });
      expect(only.outputs.violations).toEqual([]);
      expect(only.failure).toBeUndefined();
      expect((await migrate(w, { mode: 'lint', 'disable-rules': [...new Set(v.map((x) => x.rule))].join(',') })).outputs.violations).toEqual([]);
    } finally {
      w.cleanup();
    }
  });

  it('command mode runs an argument array with DATABASE_URL, streams masked output, and a non-zero exit fails', async () => {
    const url = `postgresql://app:${PASSWORD}@127.0.0.1:5432/app`;
    const ok = await migrate(ws, { mode: 'command', 'database-url': url, command: JSON.stringify([process.execPath, '-e', 'console.log("migrating with " + process.env.DATABASE_URL); console.log("2 migrations applied")']) });
    expect(ok.failure).toBeUndefined();
    expect(ok.outputs['exit-code']).toBe(0);
    expect(ok.text).toContain('2 migrations applied');
    expect(ok.summary).toContain('succeeded');
    expect(ok.summary).toContain('postgresql://app:***@127.0.0.1:5432/app');
    expect(ok.log.secrets.has(PASSWORD)).toBe(true);

    const bad = await migrate(ws, { mode: 'command', command: `["${process.execPath}", "-e", "console.error('relation \\"users\\" already exists'); process.exit(3)"]` });
    expect(bad.failure).toContain('exited with code 3');
    expect(bad.failure).toContain('relation "users" already exists');
    expect(bad.outputs['exit-code']).toBe(3);
    expect(bad.summary).toContain('The deploy halts here');

    const slow = await migrate(ws, { mode: 'command', 'command-timeout': '300ms', command: JSON.stringify([process.execPath, '-e', 'setTimeout(() => {}, 10000)']) });
    expect(slow.failure).toContain('timed out after 300ms');

    const missing = await failureOf(migrate(ws, { mode: 'command', command: '["definitely-not-a-real-migrate-tool"]' }));
    expect(missing).toContain('program not found: definitely-not-a-real-migrate-tool');
  });
});

describe.skipIf(!hasPg)('migrate against a password-protected PostgreSQL', () => {
  let server: PostgresServer;
  let ws: Workspace;
  beforeAll(async () => {
    server = await startPostgres({ password: PASSWORD });
    ws = workspace();
    ws.write('0001_a.sql', 'CREATE TABLE a (id int);\n');
  });
  afterAll(async () => {
    ws?.cleanup();
    await server?.stop();
  });

  it('applies with the right password and never shows it', async () => {
    const r = await migrate(ws, { 'database-url': server.url });
    expect(r.failure).toBeUndefined();
    expect(r.outputs['current-version']).toBe('0001');
    expect(JSON.stringify(r)).not.toContain(PASSWORD);
    expect(r.summary).toContain('postgres:***@127.0.0.1');
  });

  it('a wrong password gives a clear error without either password', async () => {
    const wrong = 'wrong-Pa55word-xyz';
    const r = await migrate(ws, { 'database-url': `postgresql://postgres:${wrong}@127.0.0.1:${server.port}/postgres` });
    expect(r.failure).toContain('password authentication failed');
    expect(r.failure).toContain('postgres:***@127.0.0.1');
    expect(`${r.failure} ${r.summary} ${r.text}`).not.toContain(wrong);
    expect(`${r.failure} ${r.summary} ${r.text}`).not.toContain(PASSWORD);
  });
});
