import { describe, expect, it } from 'vitest';
import { compareVersions, directives, migrationFromText, parseMigrationFileName } from '../../../src/migrate/files.ts';
import { backoffMs, checksumAllowed, currentVersionOf, lockBudgetMs, longTransactionMs, planMigrations } from '../../../src/migrate/runner.ts';
import { clientConfig, databaseUrlProblem } from '../../../src/migrate/connection.ts';
import { splitStatements } from '../../../src/migrate/statements.ts';
import type { HistoryRow } from '../../../src/migrate/history.ts';

const file = (name: string, sql = 'SELECT 1;') => migrationFromText(name, sql, `migrations/${name}`);
const row = (f: ReturnType<typeof file>, over: Partial<HistoryRow> = {}): HistoryRow => ({
  version: f.version, name: f.name, checksum: f.checksum, status: 'applied', statements_done: 1, statements_total: 1, done_checksum: null,
  applied_at: new Date(), duration_ms: 1, applied_by: null, lock_retries: 0, ...over,
});

describe('migration files', () => {
  it('parses versions (numeric prefixes and timestamps) and orders them numerically', () => {
    expect(parseMigrationFileName('0001_create_users.sql')).toEqual({ version: '0001', name: 'create_users' });
    expect(parseMigrationFileName('20240102150405_add-index.sql')).toEqual({ version: '20240102150405', name: 'add-index' });
    expect(parseMigrationFileName('create_users.sql')).toBeUndefined();
    expect(['10', '9', '0002'].sort(compareVersions)).toEqual(['0002', '9', '10']);
  });
  it('reads directives from comments', () => {
    expect([...directives('-- slipway:no-transaction\n--slipway:retryable\nSELECT 1;')]).toEqual(['no-transaction', 'retryable']);
    expect(file('0001_a.sql', '-- slipway:no-transaction\nSELECT 1;').noTransaction).toBe(true);
    expect(file('0001_a.sql', "SELECT '-- slipway:no-transaction';").noTransaction).toBe(false);
  });
});

describe('planMigrations', () => {
  const a = file('0001_a.sql');
  const b = file('0002_b.sql');
  const c = file('0003_c.sql');
  it('pending = files without an applied row, in order; partial rows resume', () => {
    const p = planMigrations([a, b, c], [row(a), row(b, { status: 'partial', statements_done: 1 })], { allowChecksumChange: [] });
    expect(p.pending.map((x) => [x.file.version, x.resumeAt, x.outOfOrder])).toEqual([['0002', 1, false], ['0003', 0, false]]);
  });
  it('flags changed checksums, or accepts them when allowed by version, file name or all', () => {
    const changed = row(a, { checksum: 'f'.repeat(64) });
    expect(planMigrations([a], [changed], { allowChecksumChange: [] }).mismatches).toHaveLength(1);
    for (const allow of ['0001', '0001_a.sql', 'all']) expect(planMigrations([a], [changed], { allowChecksumChange: [allow] }).repairs).toHaveLength(1);
    expect(checksumAllowed(['0002'], a)).toBe(false);
  });
  it('marks files older than the newest applied as out of order; reports rows whose file is gone', () => {
    const p = planMigrations([a, c], [row(b), row(c)], { allowChecksumChange: [] });
    expect(p.outOfOrder.map((f) => f.version)).toEqual(['0001']);
    expect(p.missing.map((r) => r.version)).toEqual(['0002']);
    expect(currentVersionOf([row(a), row(c), row(b, { status: 'partial' })])).toBe('0003');
  });
});

describe('lock budget and backoff', () => {
  it('backoff doubles, is capped at 30s, with ±20% jitter', () => {
    expect(backoffMs(1000, 1, () => 0.5)).toBe(1000);
    expect(backoffMs(1000, 3, () => 0.5)).toBe(4000);
    expect(backoffMs(1000, 20, () => 0.5)).toBe(30_000);
    expect(backoffMs(1000, 1, () => 0)).toBe(800);
  });
  it('the budget is the retries\' backoffs plus a lock timeout per attempt; a long transaction is one older than half the lock timeout', () => {
    expect(lockBudgetMs({ lockTimeoutMs: 2000, lockRetries: 5, retryBackoffMs: 1000 })).toBe(6 * 2000 + 1000 + 2000 + 4000 + 8000 + 16000);
    expect(longTransactionMs(2000)).toBe(500);
    expect(longTransactionMs(200)).toBe(100);
    expect(longTransactionMs(0)).toBe(500);
  });
});

describe('connection settings', () => {
  it('explains a bad URL without echoing it', () => {
    expect(databaseUrlProblem('postgresql://u:secretpw@h:port/db')).toBe('the port is not a number');
    expect(databaseUrlProblem('mysql://u:secretpw@h/db')).toContain('unsupported scheme mysql:');
    expect(databaseUrlProblem('postgres://u:p@h:5432/db')).toBeUndefined();
    expect(databaseUrlProblem('postgresql://u:se#cret@h/db')).toContain('percent-encode');
  });
  it('sslmode maps to pg TLS options and cannot be overridden by the URL', () => {
    expect(clientConfig({ url: 'postgres://u@h/db?sslmode=require' }).ssl).toEqual({ rejectUnauthorized: false });
    expect(clientConfig({ url: 'postgres://u@h/db?sslmode=require', sslmode: 'disable' }).ssl).toBe(false);
    expect(clientConfig({ url: 'postgres://u@h/db', sslmode: 'verify-full' }).ssl).toMatchObject({ rejectUnauthorized: true });
    expect(String(clientConfig({ url: 'postgres://u@h/db?sslmode=require' }).connectionString)).not.toContain('sslmode');
    expect(clientConfig({ url: 'postgres://u@h/db', searchPath: ['app', 'public'] }).options).toBe('-c search_path="app","public"');
  });
});

describe('splitStatements', () => {
  it('splits with the real parser and keeps lines, tables locked and CONCURRENTLY', async () => {
    const s = await splitStatements("-- c\nALTER TABLE app.accounts ADD COLUMN note text;\nSELECT ';';\nCREATE INDEX CONCURRENTLY i ON t (a);\nDROP TABLE old_t;\n");
    expect(s.map((x) => [x.kind, x.line])).toEqual([['AlterTableStmt', 2], ['SelectStmt', 3], ['IndexStmt', 4], ['DropStmt', 5]]);
    expect(s[0]!.lockedRelations).toEqual(['"app"."accounts"']);
    expect(s[1]!.lockedRelations).toEqual([]);
    expect(s[2]!.lockedRelations).toEqual([]);
    expect(s[2]!.needsNoTransaction).toBe('CREATE INDEX CONCURRENTLY');
    expect(s[3]!.lockedRelations).toEqual(['"old_t"']);
  });
});

describe('history SQL literals', () => {
  it('escapes quotes and backslashes like pg escapeLiteral', async () => {
    const { sqlLiteral } = await import('../../../src/migrate/history.ts');
    expect(sqlLiteral("o'brien via https://x/runs/1")).toBe("'o''brien via https://x/runs/1'");
    expect(sqlLiteral('a\\b')).toBe(" E'a\\\\b'");
    expect(sqlLiteral(12.4)).toBe('12');
    expect(sqlLiteral(null)).toBe('NULL');
  });
});
