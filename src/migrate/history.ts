/**
 * The history table: one row per migration, written in the same transaction as the migration
 * (transactional files) or updated after every statement (no-transaction files, status `partial`
 * until the last statement is done, so a rerun resumes from the statement that failed).
 */
import type { Db } from './connection.ts';
import { isIdentifier, quoteIdent } from './connection.ts';
import { UserError } from '../lib/errors.ts';

export interface HistoryTable {
  schema: string;
  table: string;
  /** `"schema"."table"`, quoted for SQL. */
  sql: string;
  /** schema.table, for messages. */
  display: string;
}

export interface HistoryRow {
  version: string;
  name: string;
  checksum: string;
  status: 'applied' | 'partial';
  statements_done: number;
  statements_total: number;
  done_checksum: string | null;
  applied_at: Date;
  duration_ms: number;
  applied_by: string | null;
  lock_retries: number;
}

export const DEFAULT_HISTORY_TABLE = 'slipway_migrations';

/** Splits `schema.table` or `table`; an unqualified name lands in the session's current schema. */
export function parseHistoryTableName(text: string): { schema?: string; table: string } {
  const parts = text.trim().split('.');
  if (parts.length > 2 || !parts.every(isIdentifier)) {
    throw new UserError(
      `Input 'history-table': got ${JSON.stringify(text)}; expected table or schema.table (letters, digits, _ and $; not starting with a digit)`,
    );
  }
  return parts.length === 2 ? { schema: parts[0], table: parts[1]! } : { table: parts[0]! };
}

export async function resolveHistoryTable(db: Db, name: { schema?: string; table: string }): Promise<HistoryTable> {
  let schema = name.schema;
  if (!schema) {
    const r = await db.query<{ s: string | null }>('SELECT current_schema() AS s');
    schema = r.rows[0]?.s ?? 'public';
  }
  return { schema, table: name.table, sql: `${quoteIdent(schema)}.${quoteIdent(name.table)}`, display: `${schema}.${name.table}` };
}

export async function historyExists(db: Db, t: HistoryTable): Promise<boolean> {
  const r = await db.query<{ oid: string | null }>('SELECT to_regclass($1) AS oid', [t.sql]);
  return r.rows[0]?.oid != null;
}

/** Creates the schema and table when missing (call with the migration lock held). */
export async function ensureHistory(db: Db, t: HistoryTable): Promise<void> {
  if (await historyExists(db, t)) return;
  await db.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(t.schema)}`);
  await db.query(`CREATE TABLE IF NOT EXISTS ${t.sql} (
  version text PRIMARY KEY,
  name text NOT NULL,
  checksum text NOT NULL,
  status text NOT NULL DEFAULT 'applied' CHECK (status IN ('applied', 'partial')),
  statements_done integer NOT NULL DEFAULT 0,
  statements_total integer NOT NULL DEFAULT 0,
  done_checksum text,
  applied_at timestamptz NOT NULL DEFAULT now(),
  duration_ms integer NOT NULL DEFAULT 0,
  applied_by text,
  lock_retries integer NOT NULL DEFAULT 0
)`);
  await db.query(
    `COMMENT ON TABLE ${t.sql} IS 'Migrations applied by Slipway (slipway/migrate). Do not edit by hand; see docs/migrate.md for the repair path.'`,
  );
}

export async function readHistory(db: Db, t: HistoryTable): Promise<HistoryRow[]> {
  const r = await db.query<HistoryRow>(
    `SELECT version, name, checksum, status, statements_done, statements_total, done_checksum, applied_at, duration_ms, applied_by, lock_retries FROM ${t.sql}`,
  );
  return r.rows;
}

export interface RecordApplied {
  version: string;
  name: string;
  checksum: string;
  statementsTotal: number;
  durationMs: number;
  appliedBy: string;
  lockRetries: number;
}

/** A SQL string literal (as pg's escapeLiteral: quotes doubled; backslashes doubled under E''). */
export function sqlLiteral(value: string | number | null): string {
  if (value === null) return 'NULL';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`not a finite number: ${value}`);
    return String(Math.round(value));
  }
  const body = value.replace(/'/g, "''");
  return value.includes('\\') ? ` E'${body.replace(/\\/g, '\\\\')}'` : `'${body}'`;
}

/** The upsert of a finished migration as one SQL text, so it can travel with the COMMIT in one round trip. */
export function recordAppliedSql(t: HistoryTable, m: RecordApplied, durationSql?: string): string {
  const v = [m.version, m.name, m.checksum, m.statementsTotal, Math.round(m.durationMs), m.appliedBy, m.lockRetries].map(sqlLiteral);
  if (durationSql) v[4] = durationSql;
  return `INSERT INTO ${t.sql} (version, name, checksum, status, statements_done, statements_total, done_checksum, applied_at, duration_ms, applied_by, lock_retries)
     VALUES (${v[0]}, ${v[1]}, ${v[2]}, 'applied', ${v[3]}, ${v[3]}, NULL, now(), ${v[4]}, ${v[5]}, ${v[6]})
     ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, checksum = EXCLUDED.checksum, status = 'applied',
       statements_done = EXCLUDED.statements_done, statements_total = EXCLUDED.statements_total, done_checksum = NULL,
       applied_at = now(), duration_ms = ${t.sql}.duration_ms + EXCLUDED.duration_ms, applied_by = EXCLUDED.applied_by,
       lock_retries = ${t.sql}.lock_retries + EXCLUDED.lock_retries`;
}

/** Upsert of a finished migration (inside the migration's own transaction for transactional files). */
export async function recordApplied(db: Db, t: HistoryTable, m: RecordApplied): Promise<void> {
  await db.query(
    `INSERT INTO ${t.sql} (version, name, checksum, status, statements_done, statements_total, done_checksum, applied_at, duration_ms, applied_by, lock_retries)
     VALUES ($1, $2, $3, 'applied', $4, $4, NULL, now(), $5, $6, $7)
     ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, checksum = EXCLUDED.checksum, status = 'applied',
       statements_done = EXCLUDED.statements_done, statements_total = EXCLUDED.statements_total, done_checksum = NULL,
       applied_at = now(), duration_ms = ${t.sql}.duration_ms + EXCLUDED.duration_ms, applied_by = EXCLUDED.applied_by,
       lock_retries = ${t.sql}.lock_retries + EXCLUDED.lock_retries`,
    [m.version, m.name, m.checksum, m.statementsTotal, Math.round(m.durationMs), m.appliedBy, m.lockRetries],
  );
}

/** Progress of a no-transaction migration: statements [0, done) are applied. */
export async function recordPartial(
  db: Db,
  t: HistoryTable,
  m: Omit<RecordApplied, 'lockRetries' | 'durationMs'> & { done: number; doneChecksum: string; durationMs?: number; lockRetries?: number },
): Promise<void> {
  await db.query(
    `INSERT INTO ${t.sql} (version, name, checksum, status, statements_done, statements_total, done_checksum, applied_at, duration_ms, applied_by, lock_retries)
     VALUES ($1, $2, $3, 'partial', $4, $5, $6, now(), $7, $8, $9)
     ON CONFLICT (version) DO UPDATE SET checksum = EXCLUDED.checksum, status = 'partial', statements_done = EXCLUDED.statements_done,
       statements_total = EXCLUDED.statements_total, done_checksum = EXCLUDED.done_checksum, applied_at = now(),
       duration_ms = ${t.sql}.duration_ms + EXCLUDED.duration_ms, applied_by = EXCLUDED.applied_by, lock_retries = ${t.sql}.lock_retries + EXCLUDED.lock_retries`,
    [m.version, m.name, m.checksum, m.done, m.statementsTotal, m.doneChecksum, Math.round(m.durationMs ?? 0), m.appliedBy, m.lockRetries ?? 0],
  );
}

/** The repair path: accept the file's new checksum for an applied migration without running it again. */
export async function updateChecksum(db: Db, t: HistoryTable, version: string, checksum: string): Promise<void> {
  await db.query(`UPDATE ${t.sql} SET checksum = $2 WHERE version = $1`, [version, checksum]);
}
