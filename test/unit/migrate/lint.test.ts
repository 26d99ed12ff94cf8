import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RULES, lintFiles, lintSql, unknownRuleIds, type LintOptions, type Violation } from '../../../src/migrate/lint/index.ts';

const FIXTURES = join(import.meta.dirname, '../../fixtures/lint');

/** A fixture may start with `-- fixture: {json LintOptions}`; defaults: PostgreSQL 15, applied by Slipway's runner. */
function fixtureOptions(sql: string): LintOptions {
  const m = /^-- fixture: (\{.*\})$/m.exec(sql);
  return { pgVersion: 15, insideRunner: true, ...(m ? (JSON.parse(m[1]!) as Partial<LintOptions>) : {}) };
}

/** The line a bad fixture expects its violation on: `-- expect-line: N`, else the line ending in `-- expect`. */
function expectedLine(sql: string): number {
  const header = /^-- expect-line: (\d+)$/m.exec(sql);
  if (header) return Number(header[1]);
  const i = sql.split('\n').findIndex((l) => /-- expect$/.test(l));
  if (i === -1) throw new Error('fixture has no `-- expect` marker');
  return i + 1;
}

const lint = (sql: string, extra: Partial<LintOptions> = {}) => lintSql(sql, { file: 'm.sql', pgVersion: 15, insideRunner: true, ...extra });
const rules = (vs: Violation[]) => vs.map((v) => v.rule);

describe('lint rules: one dangerous and one safe fixture per rule', () => {
  const files = readdirSync(FIXTURES);

  it('every rule has a bad and a good fixture, and every fixture names a rule', () => {
    for (const r of RULES) {
      expect(files, `test/fixtures/lint/${r.id}.bad.sql`).toContain(`${r.id}.bad.sql`);
      expect(files, `test/fixtures/lint/${r.id}.good.sql`).toContain(`${r.id}.good.sql`);
    }
    const named = files.map((f) => f.replace(/\.(bad|good)\.sql$/, ''));
    expect(unknownRuleIds(named)).toEqual([]);
  });

  it('docs/migrate-lint.md documents every rule', () => {
    const doc = readFileSync(join(import.meta.dirname, '../../../docs/migrate-lint.md'), 'utf8');
    for (const r of RULES) expect(doc, r.id).toContain(`| \`${r.id}\` | ${r.severity} |`);
  });

  for (const r of RULES) {
    it(`${r.id}: flags the dangerous example at its line, with a safe rewrite`, async () => {
      const sql = readFileSync(join(FIXTURES, `${r.id}.bad.sql`), 'utf8');
      const vs = await lintSql(sql, { file: `${r.id}.bad.sql`, ...fixtureOptions(sql) });
      const v = vs.find((x) => x.rule === r.id);
      expect(v, `${r.id} not reported; got ${JSON.stringify(rules(vs))}`).toBeDefined();
      expect(v!.line).toBe(expectedLine(sql));
      expect(v!.severity).toBe(r.severity);
      expect(v!.file).toBe(`${r.id}.bad.sql`);
      expect(v!.fix.length).toBeGreaterThan(10);
      expect(v!.message.length).toBeGreaterThan(10);
      expect(v!.message).not.toContain(v!.fix);
      expect(v!.statement.length).toBeGreaterThan(0);
      expect(v!.statement.length).toBeLessThanOrEqual(200);
    });

    it(`${r.id}: accepts the safe example`, async () => {
      const sql = readFileSync(join(FIXTURES, `${r.id}.good.sql`), 'utf8');
      const vs = await lintSql(sql, { file: `${r.id}.good.sql`, ...fixtureOptions(sql) });
      expect(vs).toEqual([]);
    });
  }
});

describe('lintSql', () => {
  it('reports line and column of each statement in a multi-statement file, multi-byte text included', async () => {
    const sql = [
      '-- Ünïcödé comment: ✓ 😀',
      "SELECT 'ä';",
      'CREATE INDEX a_idx ON users (a);',
      '',
      "  UPDATE users SET note = '😀😀'; DROP INDEX b_idx;",
      '/* block',
      '   comment */ TRUNCATE "Grüße";',
    ].join('\n');
    const vs = await lint(sql);
    expect(vs.map((v) => [v.rule, v.line, v.column])).toEqual([
      ['create-index-non-concurrently', 3, 1],
      ['update-without-where', 5, 3],
      ['drop-index-non-concurrently', 5, 33],
      ['truncate', 7, 15],
    ]);
    expect(vs[1]!.statement).toBe("UPDATE users SET note = '😀😀'");
    expect(vs[3]!.statement).toBe('TRUNCATE "Grüße"');
    expect(vs[3]!.message).toContain('"Grüße"');
  });

  it('points at the offending sub-command of a multi-line ALTER TABLE', async () => {
    const sql = 'ALTER TABLE users\n  ADD COLUMN a text,\n  ADD COLUMN b uuid DEFAULT gen_random_uuid();\n';
    const [v] = await lint(sql);
    expect(v).toMatchObject({ rule: 'add-column-volatile-default', line: 3, column: 21 });
  });

  it('reports a syntax error as a violation with its line, not an exception', async () => {
    const sql = "SELECT 1;\n-- 😀 comment\nSELECT 'é' + FROM users;\n";
    const vs = await lint(sql);
    expect(vs).toHaveLength(1);
    expect(vs[0]).toMatchObject({ rule: 'syntax-error', severity: 'error', line: 3, column: 14, statement: "SELECT 'é' + FROM users;" });
    expect(vs[0]!.message).toContain('syntax error at or near "FROM"');
    // The error wins over the rest of the file: the ignore cannot hide it either.
    expect(rules(await lint('-- slipway:ignore syntax-error no\nSELEC 1;'))).toEqual(['syntax-error']);
  });

  it('returns nothing for an empty or comment-only file', async () => {
    expect(await lint('')).toEqual([]);
    expect(await lint('-- nothing yet\n/* still nothing */\n')).toEqual([]);
  });

  it('exempts tables created in the same file from the existing-table rules', async () => {
    const created = `
      CREATE TABLE widgets (id bigint, name varchar(20));
      CREATE INDEX widgets_name_idx ON widgets (name);
      ALTER TABLE widgets ADD COLUMN n int NOT NULL, ADD COLUMN s serial, ADD CONSTRAINT u UNIQUE (name),
        ADD CONSTRAINT c CHECK (id > 0), ALTER COLUMN id TYPE integer, ALTER COLUMN name SET NOT NULL, DROP COLUMN n;
      ALTER TABLE widgets RENAME COLUMN name TO title;
      UPDATE widgets SET title = 'x';
      DROP INDEX widgets_name_idx;
      TRUNCATE widgets CASCADE;
      DROP TABLE widgets;`;
    expect(await lint(created, { insideRunner: false })).toEqual([]);
    // CREATE TABLE IF NOT EXISTS may find an existing table with rows: no exemption.
    expect(rules(await lint('CREATE TABLE IF NOT EXISTS widgets (id int);\nCREATE INDEX w_id ON widgets (id);'))).toEqual(['create-index-non-concurrently']);
    // The same statements on a table the file did not create are flagged.
    const existing = created.replace('CREATE TABLE widgets (id bigint, name varchar(20));', '');
    const found = new Set(rules(await lint(existing, { insideRunner: false })));
    for (const r of ['create-index-non-concurrently', 'add-column-not-null-without-default', 'add-serial-column', 'add-unique-constraint',
      'add-check-without-not-valid', 'change-column-type', 'set-not-null', 'drop-column', 'rename-column', 'update-without-where',
      'drop-index-non-concurrently', 'truncate-cascade', 'drop-table', 'missing-lock-timeout']) expect(found, r).toContain(r);
  });

  it('honours ignore comments with a reason, for the whole file, and several ids at once', async () => {
    const sql = 'ALTER TABLE users DROP COLUMN a;\nDROP TABLE old_stuff;\n-- slipway:ignore drop-column,drop-table contract step of release 12\n';
    expect(await lint(sql)).toEqual([]);
    const noReason = await lint('-- slipway:ignore drop-column\nALTER TABLE users DROP COLUMN a;');
    expect(rules(noReason)).toEqual(['ignore-without-reason', 'drop-column']);
    expect(noReason[0]).toMatchObject({ line: 1, severity: 'error' });
  });

  it('honours rules disabled in config, but never syntax-error', async () => {
    expect(await lint('ALTER TABLE users DROP COLUMN a;', { disabled: ['drop-column'] })).toEqual([]);
    expect(rules(await lint('SELEC 1', { disabled: ['syntax-error'] }))).toEqual(['syntax-error']);
  });

  it('reads -- slipway:no-transaction from the file as well as from the options', async () => {
    const cic = 'CREATE INDEX CONCURRENTLY i ON t (a);';
    expect(rules(await lint(cic))).toEqual(['concurrently-in-transaction']);
    expect(await lint(cic, { noTransaction: true })).toEqual([]);
    expect(await lint(`-- slipway:no-transaction\n${cic}`)).toEqual([]);
    // An explicit transaction block is still a transaction, even in a no-transaction file.
    expect(rules(await lint(`BEGIN;\n${cic}\nCOMMIT;`, { noTransaction: true }))).toEqual(['concurrently-in-transaction']);
    expect(await lint(`BEGIN;\nSELECT 1;\nCOMMIT;\n${cic}`, { noTransaction: true })).toEqual([]);
  });

  it('missing-lock-timeout: only outside the runner, once per file, and SET lock_timeout = 0 does not count', async () => {
    const two = 'ALTER TABLE a ADD COLUMN x text;\nALTER TABLE b ADD COLUMN y text;';
    expect(rules(await lint(two, { insideRunner: false }))).toEqual(['missing-lock-timeout']);
    expect(await lint(two, { insideRunner: true })).toEqual([]);
    expect(await lint(`SET LOCAL lock_timeout TO '1s';\n${two}`, { insideRunner: false })).toEqual([]);
    expect(await lint(`SELECT set_config('lock_timeout', '1s', false);\n${two}`, { insideRunner: false })).toEqual([]);
    const zero = await lint(`SET lock_timeout = 0;\n${two}`, { insideRunner: false });
    expect(zero.map((v) => [v.rule, v.line])).toEqual([['missing-lock-timeout', 2]]);
    // Statements on tables the file created, and reads, lock nothing that matters.
    expect(await lint('CREATE TABLE n (id int);\nALTER TABLE n ADD COLUMN x int;\nSELECT * FROM users;', { insideRunner: false })).toEqual([]);
  });

  it('uses the PostgreSQL version: defaults before 11, SET NOT NULL before 12, REINDEX CONCURRENTLY before 12', async () => {
    const constDefault = 'ALTER TABLE users ADD COLUMN active boolean DEFAULT true;';
    expect(await lint(constDefault, { pgVersion: 11 })).toEqual([]);
    expect(rules(await lint(constDefault, { pgVersion: 10 }))).toEqual(['add-column-default-before-pg11']);

    const viaCheck = '-- slipway:no-transaction\nALTER TABLE users ADD CONSTRAINT nn CHECK (email IS NOT NULL) NOT VALID;\nALTER TABLE users VALIDATE CONSTRAINT nn;\nALTER TABLE users ALTER COLUMN email SET NOT NULL;';
    expect(await lint(viaCheck, { pgVersion: 12 })).toEqual([]);
    const old = await lint(viaCheck, { pgVersion: 11 });
    expect(rules(old)).toEqual(['set-not-null']);
    expect(old[0]!.message).toContain('before PostgreSQL 12');

    const reindexConc = '-- slipway:no-transaction\nREINDEX INDEX CONCURRENTLY i;';
    expect(await lint(reindexConc, { pgVersion: 12 })).toEqual([]);
    expect(rules(await lint(reindexConc, { pgVersion: 11 }))).toEqual(['reindex-non-concurrently']);

    const virtual = 'ALTER TABLE orders ADD COLUMN total numeric GENERATED ALWAYS AS (amount * 2) VIRTUAL;';
    expect(await lint(virtual, { pgVersion: 18 })).toEqual([]);
  });

  it('SET NOT NULL needs the CHECK to be validated, not only added', async () => {
    const notValidated = '-- slipway:no-transaction\nALTER TABLE users ADD CONSTRAINT nn CHECK (email IS NOT NULL) NOT VALID;\nALTER TABLE users ALTER COLUMN email SET NOT NULL;';
    expect(rules(await lint(notValidated))).toEqual(['set-not-null']);
    const otherColumn = '-- slipway:no-transaction\nALTER TABLE users ADD CONSTRAINT nn CHECK (name IS NOT NULL) NOT VALID;\nALTER TABLE users VALIDATE CONSTRAINT nn;\nALTER TABLE users ALTER COLUMN email SET NOT NULL;';
    expect(rules(await lint(otherColumn))).toEqual(['set-not-null']);
  });

  it('volatile defaults: known volatile and unknown functions are flagged, stable built-ins are not', async () => {
    for (const d of ['clock_timestamp()', "nextval('s')", 'random() * 10', 'my_func()']) {
      expect(rules(await lint(`ALTER TABLE t ADD COLUMN c int DEFAULT ${d};`)), d).toEqual(['add-column-volatile-default']);
    }
    for (const d of ['now()', 'CURRENT_TIMESTAMP', "'x'", "lower('A')", 'NULL', '1 + 2']) {
      expect(await lint(`ALTER TABLE t ADD COLUMN c text DEFAULT ${d};`), d).toEqual([]);
    }
  });
});

describe('lintFiles', () => {
  it('lints files in order, keeping file names, and uses column types from earlier files', async () => {
    const files = [
      { path: 'migrations/0001_init.sql', sql: 'CREATE TABLE users (id bigint, name varchar(20), price numeric(8,2), code varchar(10));' },
      { path: 'migrations/0002_widen.sql', sql: 'ALTER TABLE users ALTER COLUMN name TYPE varchar(50), ALTER COLUMN price TYPE numeric(12,2);' },
      { path: 'migrations/0003_narrow.sql', sql: '\nALTER TABLE users ALTER COLUMN name TYPE varchar(10);' },
      { path: 'migrations/0004_int.sql', sql: 'ALTER TABLE users ALTER COLUMN id TYPE text;\nALTER TABLE users ALTER COLUMN code TYPE text;' },
    ];
    const vs = await lintFiles(files, { pgVersion: 15, insideRunner: true });
    expect(vs.map((v) => [v.file, v.rule, v.line])).toEqual([
      ['migrations/0003_narrow.sql', 'change-column-type', 2],
      ['migrations/0004_int.sql', 'change-column-type', 1],
    ]);
    expect(vs[0]!.message).toContain('from varchar(50) to varchar(10)');
    expect(vs[1]!.message).toContain('from bigint to text');
  });

  it('carries a validated NOT NULL check from one file to a later SET NOT NULL', async () => {
    const files = [
      { path: '1.sql', sql: 'ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;' },
      { path: '2.sql', sql: 'ALTER TABLE users VALIDATE CONSTRAINT users_email_nn;' },
      { path: '3.sql', sql: 'ALTER TABLE users ALTER COLUMN email SET NOT NULL;' },
    ];
    expect(await lintFiles(files, { pgVersion: 15, insideRunner: true })).toEqual([]);
    expect(rules(await lintFiles([files[0]!, files[2]!], { pgVersion: 15, insideRunner: true }))).toEqual(['set-not-null']);
  });

  it('the same-file exemption does not carry across files', async () => {
    const vs = await lintFiles([
      { path: '1.sql', sql: 'CREATE TABLE t (id int);' },
      { path: '2.sql', sql: 'CREATE INDEX t_id ON t (id);' },
    ], { pgVersion: 15, insideRunner: true });
    expect(vs.map((v) => [v.file, v.rule])).toEqual([['2.sql', 'create-index-non-concurrently']]);
  });
});
