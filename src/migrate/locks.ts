/**
 * Locks around migrations.
 * - The migration lock: a session-level advisory lock taken by polling pg_try_advisory_lock (never
 *   the blocking pg_advisory_lock: a runner waiting inside it holds a snapshot, and a
 *   CREATE INDEX CONCURRENTLY run by the lock holder waits for that snapshot: a deadlock).
 * - Who blocks a statement: pg_blocking_pids + pg_stat_activity, for lock-timeout messages.
 */
import { createHash } from 'node:crypto';
import type { Db } from './connection.ts';
import type { Reporter } from '../lib/report.ts';
import { UserError } from '../lib/errors.ts';
import { formatDuration } from '../lib/duration.ts';

/** A signed 64-bit advisory lock key derived from the history table, as a decimal string. */
export function advisoryKey(historyDisplay: string): string {
  const h = createHash('sha256').update(`slipway-migrate:${historyDisplay}`).digest();
  return h.readBigInt64BE(0).toString();
}

export interface SessionInfo {
  pid: number;
  user: string | null;
  application: string | null;
  state: string | null;
  /** How long its transaction (or, outside one, its current query) has run. */
  ageMs: number;
  query: string | null;
  /** Locks it holds on relations: `AccessExclusiveLock on public.accounts`. */
  locks: string | null;
  /** longLockHolders: which of the asked-about tables it holds a lock on. */
  held?: string[];
}

const SESSION_COLUMNS = `a.pid, a.usename AS user, a.application_name AS application, a.state,
  (extract(epoch FROM now() - coalesce(a.xact_start, a.query_start, a.backend_start)) * 1000)::bigint AS age_ms,
  left(a.query, 1000) AS query,
  (SELECT string_agg(DISTINCT l2.mode || ' on ' || l2.relation::regclass::text, ', ')
     FROM pg_locks l2 WHERE l2.pid = a.pid AND l2.granted AND l2.relation IS NOT NULL
       AND l2.database = (SELECT oid FROM pg_database WHERE datname = current_database())) AS locks`;

function toSession(r: any): SessionInfo {
  return {
    pid: Number(r.pid),
    user: r.user,
    application: r.application,
    state: r.state,
    ageMs: Number(r.age_ms ?? 0),
    query: r.query,
    locks: r.locks,
    ...(r.held ? { held: r.held as string[] } : {}),
  };
}

export function describeSession(s: SessionInfo): string {
  const q = s.query ? oneLine(s.query, 200) : '(no query)';
  return `pid ${s.pid}${s.user ? ` (${s.user}${s.application ? `, ${s.application}` : ''})` : ''}, ${s.state ?? 'unknown state'} for ${formatDuration(s.ageMs)}${s.locks ? `, holding ${s.locks}` : ''}: ${q}`;
}

export function oneLine(text: string, max = 300): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max)}…` : t;
}

/** Sessions that block the given backend (pg_blocking_pids), with what they run and hold. */
export async function blockersOf(monitor: Db, pid: number): Promise<SessionInfo[]> {
  const r = await monitor.query(`SELECT ${SESSION_COLUMNS} FROM pg_stat_activity a WHERE a.pid = ANY(pg_blocking_pids($1)) ORDER BY a.xact_start NULLS LAST`, [
    pid,
  ]);
  return r.rows.map(toSession);
}

/**
 * Sessions other than this one whose transaction has been open longer than minAgeMs and that hold
 * a lock on one of the given tables (names as SQL text; tables that do not exist are skipped).
 * A migration that needs a strong lock waits for these to end before it asks for the lock, so it
 * never sits in the lock queue (where every later application query would wait behind it).
 */
export async function longLockHolders(db: Db, relations: string[], minAgeMs: number): Promise<SessionInfo[]> {
  if (!relations.length) return [];
  const r = await db.query(
    `SELECT * FROM (
       SELECT ${SESSION_COLUMNS}, a.xact_start,
         ARRAY(SELECT x FROM unnest($1::text[]) AS x
               WHERE to_regclass(x)::oid IN (SELECT l.relation FROM pg_locks l WHERE l.pid = a.pid AND l.granted AND l.relation IS NOT NULL)) AS held
       FROM pg_stat_activity a
       WHERE a.pid <> pg_backend_pid() AND a.xact_start < now() - make_interval(secs => $2::float8 / 1000)
     ) s WHERE cardinality(s.held) > 0 ORDER BY s.xact_start`,
    [relations, minAgeMs],
  );
  return r.rows.map(toSession);
}

/** The session holding the migration lock, if any. */
export async function advisoryHolder(db: Db, key: string): Promise<SessionInfo | undefined> {
  const r = await db.query(
    `SELECT ${SESSION_COLUMNS} FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
       AND l.classid = ((($1::bigint) >> 32) & 4294967295)::oid AND l.objid = (($1::bigint) & 4294967295)::oid
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    [key],
  );
  return r.rows[0] ? toSession(r.rows[0]) : undefined;
}

export interface LockWaitOptions {
  key: string;
  waitMs: number;
  log: Reporter;
  signal?: AbortSignal;
  sleep?: (ms: number) => Promise<void>;
  pollMs?: number;
  what?: string;
}

/**
 * Takes the session-level advisory lock, polling pg_try_advisory_lock until waitMs has passed.
 * Returns how long it waited. Throws UserError naming the holder when the wait runs out.
 */
export async function acquireMigrationLock(db: Db, o: LockWaitOptions): Promise<number> {
  const started = Date.now();
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let lastLog = -Infinity;
  let delay = 50;
  for (;;) {
    const r = await db.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [o.key]);
    if (r.rows[0]?.ok) return Date.now() - started;
    const waited = Date.now() - started;
    if (waited >= o.waitMs) {
      const holder = await advisoryHolder(db, o.key).catch(() => undefined);
      throw new UserError(
        `${o.what ?? 'migration lock'}: still held by another runner after ${formatDuration(waited)} (lock-wait)${holder ? `: ${describeSession(holder)}` : ''}`,
      );
    }
    if (o.signal?.aborted) throw new UserError('cancelled while waiting for the migration lock');
    if (waited - lastLog >= 10_000) {
      const holder = await advisoryHolder(db, o.key).catch(() => undefined);
      o.log.info(
        `waiting for the migration lock (another runner is applying migrations${holder ? `: pid ${holder.pid}, ${holder.application || 'unknown client'}, ${holder.state}` : ''}); waited ${formatDuration(waited)} of ${formatDuration(o.waitMs)}`,
      );
      lastLog = waited;
    }
    await sleep(Math.min(delay, Math.max(1, o.waitMs - waited)));
    delay = Math.min(delay * 2, o.pollMs ?? 1000);
  }
}

export async function releaseMigrationLock(db: Db, key: string): Promise<void> {
  await db.query('SELECT pg_advisory_unlock($1::bigint)', [key]);
}

export interface InvalidIndex {
  schema: string;
  name: string;
  table: string;
}

/** Indexes left INVALID (pg_index.indisvalid = false), typically by a failed CREATE INDEX CONCURRENTLY. */
export async function invalidIndexes(db: Db): Promise<InvalidIndex[]> {
  const r = await db.query<InvalidIndex>(
    `SELECT n.nspname AS schema, c.relname AS name, t.relname AS table
     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE NOT i.indisvalid ORDER BY 1, 2`,
  );
  return r.rows;
}
