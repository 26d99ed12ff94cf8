/**
 * The migrate action end to end: dist/migrate/index.js run as the GitHub runner runs it (INPUT_*
 * variables with action.yml defaults, GITHUB_OUTPUT/STEP_SUMMARY files, workflow commands), against a
 * real password-protected PostgreSQL. Asserts what a user sees and that the password never shows.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findLeaks, registerSecret, runBundle } from '../helpers/runner.ts';
import { freePort, requireServer, startPostgres, type PostgresServer } from '../helpers/servers.ts';

const hasPg = requireServer('postgres');
const PASSWORD = 'e2e-S3cret_pw-4711';

describe.skipIf(!hasPg)('migrate action (dist bundle, real PostgreSQL)', () => {
  let server: PostgresServer;
  let ws: string;
  const write = (file: string, sql: string) => writeFileSync(join(ws, 'migrations', file), sql);

  beforeAll(async () => {
    registerSecret(PASSWORD);
    server = await startPostgres({ password: PASSWORD });
    ws = mkdtempSync(join(tmpdir(), 'slipway-e2e-migrate-'));
    mkdirSync(join(ws, 'migrations'));
  });
  afterAll(async () => {
    if (ws) rmSync(ws, { recursive: true, force: true });
    await server?.stop();
  });

  async function rows(sql: string) {
    const c = new pg.Client({ connectionString: server.url });
    await c.connect();
    try {
      return (await c.query(sql)).rows;
    } finally {
      await c.end();
    }
  }

  it('applies migrations, writes outputs and a summary, masks the password, and a rerun applies nothing', async () => {
    write('0001_create_users.sql', 'CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\n');
    write('0002_users_email_idx.sql', '-- slipway:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);\n');
    const run = await runBundle('migrate', { 'database-url': server.url }, { cwd: ws });
    expect(run.errors).toEqual([]);
    expect(run.code).toBe(0);
    const applied = JSON.parse(run.outputs.applied!) as { version: string; durationMs: number; transaction: boolean }[];
    expect(applied.map((a) => [a.version, a.transaction])).toEqual([['0001', true], ['0002', false]]);
    expect(run.outputs['pending-count']).toBe('0');
    expect(run.outputs['current-version']).toBe('0002');
    expect(JSON.parse(run.outputs.violations!)).toEqual([]);
    expect(run.summary).toContain('Migrations: applied 2');
    expect(run.summary).toContain('migrations/0002_users_email_idx.sql');
    expect(run.summary).toContain('postgres:***@127.0.0.1');
    expect(run.masks).toContain(PASSWORD);
    expect(findLeaks(run, [PASSWORD])).toEqual([]);
    expect(await rows("SELECT version, applied_by FROM slipway_migrations ORDER BY 1")).toEqual([
      { version: '0001', applied_by: expect.stringContaining('octocat') },
      { version: '0002', applied_by: expect.stringContaining('octocat') },
    ]);

    const again = await runBundle('migrate', { 'database-url': server.url }, { cwd: ws });
    expect(again.code).toBe(0);
    expect(again.outputs.applied).toBe('[]');
    expect(again.summary).toContain('nothing to apply');
  });

  it('a failing migration fails the step with the statement, SQLSTATE and an annotation on its line; nothing of it remains', async () => {
    write('0003_bad.sql', 'CREATE TABLE audit (id int);\nINSERT INTO missing_table VALUES (1);\n');
    const run = await runBundle('migrate', { 'database-url': server.url, lint: 'off' }, { cwd: ws });
    expect(run.code).toBe(1);
    const ann = run.annotations.find((a) => a.level === 'error' && a.props.file === 'migrations/0003_bad.sql');
    expect(ann?.props.line).toBe('2');
    expect(ann?.message).toContain('42P01');
    expect(run.errors.some((e) => e.startsWith('migrate: migrations/0003_bad.sql:2: SQLSTATE 42P01'))).toBe(true);
    expect(run.summary).toContain('INSERT INTO missing_table VALUES (1)');
    expect(run.summary).toContain('rolled back');
    expect(run.outputs['current-version']).toBe('0002');
    expect(run.outputs['pending-count']).toBe('1');
    expect(await rows("SELECT to_regclass('audit') AS t")).toEqual([{ t: null }]);
    expect(findLeaks(run, [PASSWORD])).toEqual([]);
    rmSync(join(ws, 'migrations', '0003_bad.sql'));
  });

  it('lint mode annotates the file and line and fails on errors, without a database', async () => {
    write('0004_drop_email.sql', '-- contract step\nALTER TABLE users DROP COLUMN email;\n');
    const run = await runBundle('migrate', { mode: 'lint', files: 'migrations/0004_drop_email.sql' }, { cwd: ws });
    expect(run.code).toBe(1);
    const ann = run.annotations.find((a) => a.props.file === 'migrations/0004_drop_email.sql');
    expect(ann?.props.line).toBe('2');
    expect(ann?.props.title).toMatch(/^slipway /);
    const v = JSON.parse(run.outputs.violations!) as { rule: string; line: number }[];
    expect(v[0]!.line).toBe(2);
    expect(run.summary).toContain('Migration lint');
    expect(run.summary).toContain(v[0]!.rule);
    rmSync(join(ws, 'migrations', '0004_drop_email.sql'));
  });

  it('bad inputs fail before any connection, with a clear one-line error and no password anywhere', async () => {
    const port = await freePort();
    const cases: [Record<string, string>, RegExp][] = [
      [{ 'database-url': `postgresql://app:${PASSWORD}@127.0.0.1:${port}/app`, dir: 'nope' }, /Input 'dir': migrations directory "nope" does not exist/],
      [{ 'database-url': `postgresql://app:${PASSWORD}@127.0.0.1:notaport/app` }, /Input 'database-url': got \(a secret value, not shown\).*the port is not a number/],
      [{ 'database-url': `postgresql://app:${PASSWORD}@127.0.0.1:${port}/app`, 'connect-timeout': '3s' }, new RegExp(`could not connect to postgresql://app:\\*\\*\\*@127\\.0\\.0\\.1:${port}/app: connection refused`)],
      [{ 'database-url': `postgresql://postgres:wrong-${PASSWORD}@127.0.0.1:${server.port}/postgres` }, /password authentication failed/],
    ];
    for (const [inputs, expected] of cases) {
      const run = await runBundle('migrate', inputs, { cwd: ws });
      expect(run.code).toBe(1);
      expect(run.errors.join('\n')).toMatch(expected);
      expect(run.stdout + run.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(findLeaks(run, [PASSWORD, `wrong-${PASSWORD}`])).toEqual([]);
    }
  });

  it('command mode runs the argument array with DATABASE_URL set and masked; a non-zero exit fails the step', async () => {
    const script = 'const u = new URL(process.env.DATABASE_URL); console.log("connecting to " + process.env.DATABASE_URL); console.log("user " + u.username); process.exit(Number(process.argv[1] ?? 0))';
    const ok = await runBundle('migrate', { mode: 'command', 'database-url': server.url, command: JSON.stringify([process.execPath, '-e', script, '0']) }, { cwd: ws });
    expect(ok.code).toBe(0);
    expect(ok.outputs['exit-code']).toBe('0');
    expect(ok.stdout).toContain('user postgres');
    expect(ok.stdout).toContain('connecting to ***'); // the whole URL is the secret input
    expect(ok.summary).toContain('Migration command succeeded');
    expect(findLeaks(ok, [PASSWORD])).toEqual([]);

    const bad = await runBundle('migrate', { mode: 'command', 'database-url': server.url, command: JSON.stringify([process.execPath, '-e', script, '4']) }, { cwd: ws });
    expect(bad.code).toBe(1);
    expect(bad.outputs['exit-code']).toBe('4');
    expect(bad.errors.join('\n')).toContain('exited with code 4');
    expect(bad.summary).toContain('The deploy halts here');
    expect(findLeaks(bad, [PASSWORD])).toEqual([]);
  });

  it('the documented example (examples/app/migrations) lints clean and applies', async () => {
    await rows('CREATE DATABASE docs_example');
    const url = server.url.replace(/\/postgres$/, '/docs_example');
    const run = await runBundle('migrate', { 'database-url': url, dir: 'examples/app/migrations' });
    expect(run.errors).toEqual([]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.outputs.violations!)).toEqual([]);
    expect(JSON.parse(run.outputs.applied!).map((a: { version: string }) => a.version)).toEqual(['0001', '0002', '0003']);
    expect(run.outputs['current-version']).toBe('0003');
    expect(findLeaks(run, [PASSWORD])).toEqual([]);
  });

  it('dry-run lists pending migrations and applies nothing', async () => {
    write('0005_add_nickname.sql', 'ALTER TABLE users ADD COLUMN nickname text;\n');
    const run = await runBundle('migrate', { 'database-url': server.url, 'dry-run': 'true' }, { cwd: ws });
    expect(run.code).toBe(0);
    expect(run.outputs['pending-count']).toBe('1');
    expect(run.outputs.applied).toBe('[]');
    expect(JSON.parse(run.outputs.pending!)).toEqual([{ version: '0005', name: 'add_nickname', file: 'migrations/0005_add_nickname.sql', noTransaction: false }]);
    expect(run.summary).toContain('dry run');
    expect(run.stdout).toContain('would apply migrations/0005_add_nickname.sql');
    expect(await rows("SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'nickname'")).toEqual([{ n: 0 }]);
    expect(findLeaks(run, [PASSWORD])).toEqual([]);
  });
});
