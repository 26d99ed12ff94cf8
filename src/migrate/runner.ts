/**
 * The migration runner: plans (history vs files: checksums, out-of-order, partial resumes), takes
 * the migration lock, and applies each pending migration with lock protection:
 *   - its own transaction (or, for `-- slipway:no-transaction` files, statement by statement with
 *     progress recorded after each one so a rerun resumes at the statement that failed);
 *   - `lock_timeout` (default 2s) and `statement_timeout` for every statement, so a migration that
 *     cannot get its lock gives up quickly instead of queueing every application query behind it;
 *   - on a lock timeout (SQLSTATE 55P03) or a deadlock (40P01), a rollback and a retry with
 *     backoff, logging which sessions held the lock (pg_blocking_pids + pg_stat_activity).
 */
import type { Reporter } from '../lib/report.ts';
import { formatDuration } from '../lib/duration.ts';
import { errorMessage } from '../lib/errors.ts';
import type { Db } from './connection.ts';
import { quoteIdent } from './connection.ts';
import { compareVersions, sha256, type MigrationFile } from './files.ts';
import {
  ensureHistory,
  historyExists,
  readHistory,
  recordApplied,
  recordAppliedSql,
  recordPartial,
  resolveHistoryTable,
  updateChecksum,
  type HistoryRow,
  type HistoryTable,
} from './history.ts';
import {
  acquireMigrationLock,
  advisoryKey,
  blockersOf,
  describeSession,
  invalidIndexes,
  longLockHolders,
  oneLine,
  releaseMigrationLock,
  type InvalidIndex,
  type SessionInfo,
} from './locks.ts';
import { SqlSyntaxError, splitStatements, type Statement } from './statements.ts';

/** SQLSTATEs a rollback and a later retry can fix: lock_not_available (lock_timeout), deadlock_detected. */
export const RETRYABLE_CODES = new Set(['55P03', '40P01']);

export interface RunnerOptions {
  db: Db;
  /** Opens a second connection (lock diagnostics and cancelling a running statement). */
  connectMonitor?: () => Promise<Db>;
  files: MigrationFile[];
  historyTable: { schema?: string; table: string };
  /** 0 = no lock_timeout. */
  lockTimeoutMs: number;
  /** 0 = no statement_timeout. */
  statementTimeoutMs: number;
  lockRetries: number;
  retryBackoffMs: number;
  lockWaitMs: number;
  /**
   * Before DDL that needs a strong lock, wait (polling, without joining the lock queue) while a
   * transaction older than half the lock timeout holds a lock on its tables. Default true.
   */
  waitForBlockers?: boolean;
  outOfOrder: 'fail' | 'allow';
  /** Versions or file names whose changed checksum is accepted (`all` for every file). */
  allowChecksumChange: string[];
  dryRun: boolean;
  appliedBy: string;
  log: Reporter;
  signal?: AbortSignal;
  sleep?: (ms: number) => Promise<void>;
  /** Runs (under the lock) once the pending migrations are known, before any is applied; a returned reason stops the run. */
  gate?: (pending: PlannedMigration[]) => Promise<string | undefined>;
  /** Called when a migration starts and ends (progress, tests). */
  onEvent?: (e: RunnerEvent) => void;
}

export type RunnerEvent =
  | { type: 'migration-start'; version: string; file: string }
  | { type: 'statement-start'; version: string; index: number; total: number }
  | { type: 'statement-done'; version: string; index: number; total: number }
  | { type: 'migration-done'; version: string; durationMs: number };

export interface PlannedMigration {
  file: MigrationFile;
  statements?: Statement[];
  /** 0-based statement to start at (a partial no-transaction migration resumes here). */
  resumeAt: number;
  outOfOrder: boolean;
  partial?: HistoryRow;
}

export interface AppliedMigration {
  version: string;
  name: string;
  file: string;
  durationMs: number;
  lockRetries: number;
  statements: number;
  transaction: boolean;
  /** 1-based statement this run started at, when it resumed a partial migration. */
  resumedAt?: number;
  outOfOrder?: boolean;
}

export type FailureKind =
  'lock-wait' | 'sql' | 'lock-timeout' | 'statement-timeout' | 'checksum' | 'out-of-order' | 'invalid-index' | 'syntax' | 'gate' | 'cancelled' | 'connection';

export interface MigrationFailure {
  kind: FailureKind;
  /** One line: what failed and why. */
  message: string;
  migration?: { version: string; name: string; path: string };
  statement?: { index: number; total: number; line: number; sql: string };
  code?: string;
  detail?: string;
  hint?: string;
  blockers?: SessionInfo[];
  attempts?: number;
  /** What this migration left behind: rolled back, or statements done and where the next run resumes. */
  left?: string;
  invalidIndexes?: InvalidIndex[];
  /** Extra lines (checksum mismatches, out-of-order files). */
  items?: string[];
}

export interface RunnerResult {
  dryRun: boolean;
  historyTable: string;
  /** Pending when the run started (after waiting for the lock), in the order they apply. */
  plan: PlannedMigration[];
  applied: AppliedMigration[];
  /** Still pending when the run ended. */
  pending: PlannedMigration[];
  currentVersion?: string;
  repaired: { version: string; file: string; from: string; to: string }[];
  /** History rows whose file is no longer in the directory. */
  missingFiles: { version: string; name: string }[];
  invalidIndexes: InvalidIndex[];
  lockWaitedMs: number;
  failure?: MigrationFailure;
  durationMs: number;
}

// ---------------------------------------------------------------------------------------------
// Planning (pure)
// ---------------------------------------------------------------------------------------------

export interface Plan {
  pending: PlannedMigration[];
  mismatches: { file: MigrationFile; recorded: string }[];
  repairs: { file: MigrationFile; recorded: string }[];
  outOfOrder: MigrationFile[];
  missing: HistoryRow[];
  newestApplied?: string;
}

export function checksumAllowed(allow: string[], f: MigrationFile): boolean {
  return allow.some((a) => ['all', 'true', '*'].includes(a.toLowerCase()) || a === f.version || a === f.file || a === f.name || a === `${f.version}_${f.name}`);
}

export function planMigrations(files: MigrationFile[], rows: HistoryRow[], opts: { allowChecksumChange: string[] }): Plan {
  const byVersion = new Map<string, HistoryRow>();
  for (const r of rows) byVersion.set(BigInt(r.version).toString(), r);
  const fileVersions = new Set(files.map((f) => BigInt(f.version).toString()));
  let newest: string | undefined;
  for (const r of rows) if (!newest || compareVersions(r.version, newest) > 0) newest = r.version;
  const plan: Plan = {
    pending: [],
    mismatches: [],
    repairs: [],
    outOfOrder: [],
    missing: rows.filter((r) => !fileVersions.has(BigInt(r.version).toString())),
    newestApplied: newest,
  };
  for (const f of files) {
    const row = byVersion.get(BigInt(f.version).toString());
    if (row && row.status === 'applied') {
      if (row.checksum !== f.checksum) {
        if (checksumAllowed(opts.allowChecksumChange, f)) plan.repairs.push({ file: f, recorded: row.checksum });
        else plan.mismatches.push({ file: f, recorded: row.checksum });
      }
      continue;
    }
    if (row && row.status === 'partial') {
      plan.pending.push({ file: f, resumeAt: row.statements_done, outOfOrder: false, partial: row });
      continue;
    }
    const ooo = newest !== undefined && compareVersions(f.version, newest) < 0;
    if (ooo) plan.outOfOrder.push(f);
    plan.pending.push({ file: f, resumeAt: 0, outOfOrder: ooo });
  }
  return plan;
}

export function currentVersionOf(rows: { version: string; status: string }[]): string | undefined {
  let v: string | undefined;
  for (const r of rows) if (r.status === 'applied' && (!v || compareVersions(r.version, v) > 0)) v = r.version;
  return v;
}

export function statementsChecksum(stmts: Statement[], count: number): string {
  return sha256(
    stmts
      .slice(0, count)
      .map((s) => s.sql)
      .join('\n;\n'),
  );
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

interface PgError {
  code?: string;
  message?: string;
  detail?: string;
  hint?: string;
  position?: string;
}

function pgError(err: unknown): PgError {
  const e = err as PgError;
  return {
    code: typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined,
    message: errorMessage(err),
    detail: e?.detail,
    hint: e?.hint,
    position: e?.position,
  };
}

export function backoffMs(base: number, retry: number, random = Math.random): number {
  const raw = Math.min(base * 2 ** (retry - 1), 30_000);
  return Math.round(raw * (0.8 + 0.4 * random()));
}

/** How long one migration may spend waiting for locks in all: its retries' backoffs plus a lock timeout per attempt. */
export function lockBudgetMs(o: { lockTimeoutMs: number; lockRetries: number; retryBackoffMs: number }): number {
  let total = (o.lockRetries + 1) * o.lockTimeoutMs;
  for (let k = 1; k <= o.lockRetries; k++) total += Math.min(o.retryBackoffMs * 2 ** (k - 1), 30_000);
  return Math.max(total, 1000);
}

/** A transaction open longer than this, holding a lock on a table the DDL needs, counts as long-running. */
export function longTransactionMs(lockTimeoutMs: number): number {
  return lockTimeoutMs > 0 ? Math.min(Math.max(Math.floor(lockTimeoutMs / 2), 50), 500) : 500;
}

const sleepDefault = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

export async function runMigrations(o: RunnerOptions): Promise<RunnerResult> {
  const started = Date.now();
  const log = o.log;
  const sleep = o.sleep ?? sleepDefault;
  const db = o.db;
  const t = await resolveHistoryTable(db, o.historyTable);
  const key = advisoryKey(t.display);
  const result: RunnerResult = {
    dryRun: o.dryRun,
    historyTable: t.display,
    plan: [],
    applied: [],
    pending: [],
    repaired: [],
    missingFiles: [],
    invalidIndexes: [],
    lockWaitedMs: 0,
    durationMs: 0,
  };
  let locked = false;
  let monitor: Db | undefined;
  let monitorFailed = false;
  const getMonitor = async (): Promise<Db | undefined> => {
    if (monitor || monitorFailed || !o.connectMonitor) return monitor;
    try {
      monitor = await o.connectMonitor();
    } catch (err) {
      monitorFailed = true;
      log.debug(`lock diagnostics unavailable: ${errorMessage(err)}`);
    }
    return monitor;
  };
  const pidRow = await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const pid = Number(pidRow.rows[0]!.pid);

  try {
    if (!o.dryRun) {
      try {
        result.lockWaitedMs = await acquireMigrationLock(db, {
          key,
          waitMs: o.lockWaitMs,
          log,
          signal: o.signal,
          sleep,
          what: `migration lock (advisory lock ${key} for ${t.display})`,
        });
      } catch (err) {
        result.failure = { kind: 'lock-wait', message: errorMessage(err) };
        result.durationMs = Date.now() - started;
        result.lockWaitedMs = result.durationMs;
        return result;
      }
      locked = true;
      if (result.lockWaitedMs > 1000) log.info(`got the migration lock after ${formatDuration(result.lockWaitedMs)}`);
      await ensureHistory(db, t);
    }
    const rows = o.dryRun && !(await historyExists(db, t)) ? [] : await readHistory(db, t);
    result.invalidIndexes = await invalidIndexes(db);
    for (const ix of result.invalidIndexes) {
      log.warning(
        `INVALID index ${ix.schema}.${ix.name} on ${ix.table} (left by a failed CREATE INDEX CONCURRENTLY?): queries do not use it but writes still maintain it; drop it with DROP INDEX CONCURRENTLY ${quoteIdent(ix.schema)}.${quoteIdent(ix.name)}`,
      );
    }
    const plan = planMigrations(o.files, rows, { allowChecksumChange: o.allowChecksumChange });
    result.missingFiles = plan.missing.map((r) => ({ version: r.version, name: r.name }));
    for (const m of plan.missing) log.warning(`history has ${m.version}_${m.name} (${m.status}) but its file is not in the migrations directory`);
    result.plan = plan.pending;
    result.pending = [...plan.pending];
    const finish = () => {
      const appliedNow = new Set(result.applied.map((a) => a.version));
      result.pending = result.plan.filter((p) => !appliedNow.has(p.file.version));
      result.currentVersion = currentVersionOf([...rows, ...result.applied.map((a) => ({ version: a.version, status: 'applied' }))]);
      result.durationMs = Date.now() - started;
      return result;
    };

    const refused = planFailure(plan, o);
    if (refused) {
      result.failure = refused;
      return finish();
    }
    for (const p of plan.pending) {
      if (p.outOfOrder)
        log.warning(`${p.file.path} is older than the newest applied migration (${plan.newestApplied}); applying it out of order (out-of-order: allow)`, {
          file: p.file.path,
          line: 1,
        });
    }

    // Split every pending file with the real parser: syntax errors and misplaced transaction control fail before anything runs.
    const unsplit = await splitPending(plan.pending, log);
    if (unsplit) {
      result.failure = unsplit;
      return finish();
    }

    if (o.gate) {
      const reason = await o.gate(plan.pending);
      if (reason) {
        result.failure = { kind: 'gate', message: reason };
        return finish();
      }
    }
    if (o.dryRun) return finish();

    for (const r of plan.repairs) {
      await updateChecksum(db, t, r.file.version, r.file.checksum);
      result.repaired.push({ version: r.file.version, file: r.file.path, from: r.recorded, to: r.file.checksum });
      log.warning(
        `${r.file.path}: accepted its changed checksum (allow-checksum-change): ${r.recorded} → ${r.file.checksum}; the migration was not run again`,
        { file: r.file.path, line: 1 },
      );
    }

    await applyPending({ o, db, t, pid, log, sleep, getMonitor }, plan.pending, result);
    return finish();
  } finally {
    if (locked) await releaseMigrationLock(db, key).catch(() => {});
    if (monitor) await monitor.end().catch(() => {});
  }
}

type Failure = NonNullable<RunnerResult['failure']>;

/** What the plan itself refuses before anything runs: changed applied migrations, and (out-of-order: fail) older pending ones. */
function planFailure(plan: ReturnType<typeof planMigrations>, o: RunnerOptions): Failure | undefined {
  if (plan.mismatches.length) {
    const items = plan.mismatches.map((m) => `${m.file.path}: applied with sha256 ${m.recorded}, the file now has sha256 ${m.file.checksum}`);
    return {
      kind: 'checksum',
      message: `${plan.mismatches.length === 1 ? `migration ${plan.mismatches[0]!.file.path} was` : `${plan.mismatches.length} migrations were`} changed after being applied (${items.join('; ')}). Restore the applied text and put the change in a new migration, or, if the edit is cosmetic, accept it with allow-checksum-change: ${plan.mismatches.map((m) => m.file.version).join(',')} (records the new checksum; the migration is not run again)`,
      items,
      migration: { version: plan.mismatches[0]!.file.version, name: plan.mismatches[0]!.file.name, path: plan.mismatches[0]!.file.path },
    };
  }
  if (plan.outOfOrder.length && o.outOfOrder === 'fail') {
    const items = plan.outOfOrder.map((f) => f.path);
    return {
      kind: 'out-of-order',
      message: `${items.length} pending migration(s) are older than the newest applied one (${plan.newestApplied}): ${items.join(', ')}. Renumber them after ${plan.newestApplied}, or set out-of-order: allow to apply them anyway`,
      items,
      migration: { version: plan.outOfOrder[0]!.version, name: plan.outOfOrder[0]!.name, path: plan.outOfOrder[0]!.path },
    };
  }
  return undefined;
}

/** Splits every pending file with the real parser and checks it against a partial run's history; the first problem, if any. */
async function splitPending(pending: ReturnType<typeof planMigrations>['pending'], log: RunnerOptions['log']): Promise<Failure | undefined> {
  for (const p of pending) {
    try {
      p.statements = await splitStatements(p.file.sql);
    } catch (err) {
      const line = err instanceof SqlSyntaxError ? err.line : undefined;
      return {
        kind: 'syntax',
        message: `${p.file.path}${line ? `:${line}` : ''}: ${errorMessage(err)}`,
        migration: mig(p.file),
        statement: line ? { index: -1, total: 0, line, sql: '' } : undefined,
      };
    }
    const problem = structureProblem(p);
    if (problem) {
      return {
        kind: 'syntax',
        message: problem.message,
        migration: mig(p.file),
        statement: { index: problem.st.index, total: p.statements.length, line: problem.st.line, sql: problem.st.sql },
      };
    }
    if (p.partial && p.statements.length < p.partial.statements_done) {
      return {
        kind: 'checksum',
        message: `${p.file.path}: the history says ${p.partial.statements_done} statements were applied, but the file now has ${p.statements.length}`,
        migration: mig(p.file),
      };
    }
    if (p.partial && p.partial.checksum !== p.file.checksum) {
      const done = p.partial.statements_done;
      if (p.partial.done_checksum && p.partial.done_checksum !== statementsChecksum(p.statements, done)) {
        return {
          kind: 'checksum',
          message: `${p.file.path} changed in its first ${done} statement(s), which were already applied without a transaction (sha256 of the applied statements ${p.partial.done_checksum}, now ${statementsChecksum(p.statements, done)}). Restore them; only the statements from ${done + 1} on may change before the resume`,
          migration: mig(p.file),
        };
      }
      log.info(`${p.file.path} changed after its failed run, but not in the ${done} statement(s) already applied: resuming with the new text`);
    }
  }
  return undefined;
}

/** Applies the pending migrations in order; stops at the first failure or a cancel, which it records in the result. */
async function applyPending(ctx: ApplyContext, pending: ReturnType<typeof planMigrations>['pending'], result: RunnerResult): Promise<void> {
  const { o } = ctx;
  for (const p of pending) {
    if (o.signal?.aborted) {
      result.failure = { kind: 'cancelled', message: `cancelled before ${p.file.path}`, migration: mig(p.file) };
      break;
    }
    o.onEvent?.({ type: 'migration-start', version: p.file.version, file: p.file.path });
    const outcome = p.file.noTransaction ? await applyNoTransaction(ctx, p) : await applyTransactional(ctx, p);
    if ('kind' in outcome) {
      result.failure = outcome;
      break;
    }
    result.applied.push(outcome);
    o.onEvent?.({ type: 'migration-done', version: outcome.version, durationMs: outcome.durationMs });
  }
}

function mig(f: MigrationFile) {
  return { version: f.version, name: f.name, path: f.path };
}

function structureProblem(p: PlannedMigration): { message: string; st: Statement } | undefined {
  if (p.file.noTransaction) return undefined;
  for (const st of p.statements ?? []) {
    if (st.transactionControl) {
      return {
        st,
        message: `${p.file.path}:${st.line}: ${st.transactionControl} in a migration: each file already runs in its own transaction. Remove it, or mark the file with -- slipway:no-transaction to run its statements one by one`,
      };
    }
    if (st.needsNoTransaction) {
      return {
        st,
        message: `${p.file.path}:${st.line}: ${st.needsNoTransaction} cannot run inside a transaction. Put it in its own file marked with -- slipway:no-transaction`,
      };
    }
  }
  return undefined;
}

interface ApplyContext {
  o: RunnerOptions;
  db: Db;
  t: HistoryTable;
  pid: number;
  log: Reporter;
  sleep: (ms: number) => Promise<void>;
  getMonitor: () => Promise<Db | undefined>;
}

class StatementError extends Error {
  readonly cause: unknown;
  readonly blockers: SessionInfo[];
  constructor(cause: unknown, blockers: SessionInfo[]) {
    super(errorMessage(cause));
    this.cause = cause;
    this.blockers = blockers;
  }
}

/**
 * Runs one statement on the migration session. While it runs longer than half the lock timeout,
 * a second connection asks who blocks it (pg_blocking_pids), so a lock timeout can name the
 * blocking session; cancellation (ctx.signal) cancels the statement on the server.
 */
async function runWatched(c: ApplyContext, sql: string): Promise<void> {
  const probeAfter = c.o.lockTimeoutMs > 0 ? Math.max(20, Math.min(Math.floor(c.o.lockTimeoutMs / 2), 1000)) : 1000;
  let blockers: SessionInfo[] = [];
  let lastShown = '';
  let done = false;
  let timer: NodeJS.Timeout | undefined;
  let inflight: Promise<void> | undefined;
  const probe = () => {
    inflight = (async () => {
      const m = await c.getMonitor();
      if (!m || done) return;
      try {
        const b = await blockersOf(m, c.pid);
        if (b.length) {
          blockers = b;
          const shown = b.map((s) => s.pid).join(',');
          if (shown !== lastShown && !done) c.log.info(`  waiting for a lock, blocked by ${b.map(describeSession).join('; ')}`);
          lastShown = shown;
        }
      } catch {}
    })();
    void inflight.then(() => {
      if (!done) timer = setTimeout(probe, 2000);
    });
  };
  timer = setTimeout(probe, probeAfter);
  const onAbort = () => {
    void (async () => {
      const m = await c.getMonitor();
      await m?.query('SELECT pg_cancel_backend($1)', [c.pid]).catch(() => {});
    })();
  };
  c.o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await c.db.query(sql);
  } catch (err) {
    if (inflight) await inflight;
    throw new StatementError(err, blockers);
  } finally {
    done = true;
    if (timer) clearTimeout(timer);
    c.o.signal?.removeEventListener('abort', onAbort);
  }
}

/** `SET [LOCAL] lock_timeout …; SET [LOCAL] statement_timeout …` (whole milliseconds, so safe to inline). */
function timeoutsSql(c: ApplyContext, local: boolean): string {
  const ms = (n: number) => `'${Math.max(0, Math.floor(Number(n) || 0))}ms'`;
  const scope = local ? 'LOCAL ' : '';
  return `SET ${scope}lock_timeout = ${ms(c.o.lockTimeoutMs)}; SET ${scope}statement_timeout = ${ms(c.o.statementTimeoutMs)}`;
}

async function setTimeouts(c: ApplyContext, local: boolean): Promise<void> {
  await c.db.query(timeoutsSql(c, local));
}

/** Sessions in a transaction older than the lock timeout that hold relation locks: the likely blockers when none were seen waiting. */
async function likelyBlockers(c: ApplyContext): Promise<SessionInfo[]> {
  const m = await c.getMonitor();
  if (!m) return [];
  try {
    const r = await m.query<{ pid: number }>(
      `SELECT a.pid FROM pg_stat_activity a WHERE a.pid <> $1 AND a.xact_start < now() - make_interval(secs => $2::float8 / 1000)
         AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.granted AND l.relation IS NOT NULL)`,
      [c.pid, c.o.lockTimeoutMs],
    );
    const out: SessionInfo[] = [];
    for (const row of r.rows.slice(0, 5)) {
      const s = await m.query(
        `SELECT a.pid, a.usename AS user, a.application_name AS application, a.state,
        (extract(epoch FROM now() - coalesce(a.xact_start, a.query_start)) * 1000)::bigint AS age_ms, left(a.query, 1000) AS query, NULL AS locks
        FROM pg_stat_activity a WHERE a.pid = $1`,
        [row.pid],
      );
      if (s.rows[0])
        out.push({
          pid: Number(s.rows[0].pid),
          user: s.rows[0].user,
          application: s.rows[0].application,
          state: s.rows[0].state,
          ageMs: Number(s.rows[0].age_ms),
          query: s.rows[0].query,
          locks: null,
        });
    }
    return out;
  } catch {
    return [];
  }
}

function isRetryable(err: StatementError | unknown): boolean {
  const code = pgError(err instanceof StatementError ? err.cause : err).code;
  return code !== undefined && RETRYABLE_CODES.has(code);
}

async function retryNote(c: ApplyContext, p: PlannedMigration, err: StatementError, retry: number, st: Statement | undefined): Promise<number> {
  const pe = pgError(err.cause);
  const blockers = err.blockers.length ? err.blockers : await likelyBlockers(c);
  err.blockers.splice(0, err.blockers.length, ...blockers);
  const wait = backoffMs(c.o.retryBackoffMs, retry);
  const what = pe.code === '40P01' ? 'deadlock' : `lock timeout (${formatDuration(c.o.lockTimeoutMs)})`;
  c.log.warning(
    `${p.file.path}${st ? `:${st.line}` : ''}: ${what} (SQLSTATE ${pe.code}); retry ${retry} of ${c.o.lockRetries} in ${formatDuration(wait)}. ` +
      (blockers.length ? `Held by ${blockers.map(describeSession).join('; ')}` : 'The blocking session was not captured'),
    st ? { file: p.file.path, line: st.line, title: 'lock timeout, retrying' } : undefined,
  );
  return wait;
}

function failureFrom(c: ApplyContext, p: PlannedMigration, err: unknown, st: Statement | undefined, attempts: number, left: string): MigrationFailure {
  const se = err instanceof StatementError ? err : undefined;
  const pe = pgError(se ? se.cause : err);
  const total = p.statements?.length ?? 1;
  const where = `${p.file.path}${st ? `:${st.line}` : ''}`;
  let kind: FailureKind = 'sql';
  let message: string;
  if (pe.code && RETRYABLE_CODES.has(pe.code)) {
    kind = 'lock-timeout';
    const blockers = se?.blockers ?? [];
    const what = pe.code === '40P01' ? 'kept deadlocking' : `could not get its lock within lock-timeout ${formatDuration(c.o.lockTimeoutMs)}`;
    message = `${where}: ${what} after ${attempts} attempt(s) (SQLSTATE ${pe.code}: ${pe.message}). ${blockers.length ? `Blocked by ${blockers.map(describeSession).join('; ')}` : 'The blocking session was not captured'}`;
  } else if (pe.code === '57014' && /statement timeout/i.test(pe.message ?? '')) {
    kind = 'statement-timeout';
    message = `${where}: ran longer than statement-timeout ${formatDuration(c.o.statementTimeoutMs)} and was cancelled (SQLSTATE 57014)`;
  } else if (pe.code === '57014' && c.o.signal?.aborted) {
    kind = 'cancelled';
    message = `${where}: cancelled (the job was cancelled)`;
  } else if (!pe.code && /Connection terminated|ECONNRESET|connection/i.test(pe.message ?? '')) {
    kind = 'connection';
    message = `${where}: lost the database connection (${pe.message})`;
  } else {
    message = `${where}: ${pe.code ? `SQLSTATE ${pe.code}: ` : ''}${pe.message}${pe.detail ? ` (${pe.detail})` : ''}`;
  }
  return {
    kind,
    message,
    migration: mig(p.file),
    statement: st ? { index: st.index, total, line: st.line, sql: st.sql } : undefined,
    code: pe.code,
    detail: pe.detail,
    hint: pe.hint,
    blockers: se?.blockers.length ? se.blockers : undefined,
    attempts,
    left,
  };
}

/**
 * Waits, without asking for the lock, while long transactions hold locks on the tables a migration
 * is about to lock strongly. Returns the sessions still holding them when the deadline passed
 * (empty when the way is clear). Asking for the lock now would only put the migration in the lock
 * queue, and every application query on those tables would queue behind it.
 */
async function waitForLongHolders(c: ApplyContext, p: PlannedMigration, relations: string[], deadline: number, st?: Statement): Promise<SessionInfo[]> {
  if (c.o.waitForBlockers === false || !relations.length) return [];
  const minAge = longTransactionMs(c.o.lockTimeoutMs);
  let holders = await longLockHolders(c.db, relations, minAge);
  if (!holders.length) return [];
  const started = Date.now();
  const held = [...new Set(holders.flatMap((h) => h.held ?? []))];
  c.log.info(
    `${p.file.path}${st ? `:${st.line}` : ''}: waiting for ${holders.length === 1 ? 'a long transaction' : `${holders.length} long transactions`} on ${held.join(', ')} to end before asking for the lock (not queueing, so the application is not blocked): ${holders.map(describeSession).join('; ')}`,
  );
  let lastLog = started;
  while (holders.length && Date.now() < deadline && !c.o.signal?.aborted) {
    await c.sleep(Math.max(1, Math.min(200, deadline - Date.now())));
    holders = await longLockHolders(c.db, relations, minAge);
    if (holders.length && Date.now() - lastLog >= 10_000) {
      c.log.info(`  still waiting after ${formatDuration(Date.now() - started)}: ${holders.map(describeSession).join('; ')}`);
      lastLog = Date.now();
    }
  }
  if (!holders.length) c.log.info(`  the way is clear after ${formatDuration(Date.now() - started)}; taking the lock`);
  return holders;
}

function blockedFailure(
  c: ApplyContext,
  p: PlannedMigration,
  holders: SessionInfo[],
  candidates: Statement[],
  left: string,
  attempts: number,
): MigrationFailure {
  const budget = lockBudgetMs(c.o);
  const held = new Set(holders.flatMap((h) => h.held ?? []));
  const st = candidates.find((x) => x.lockedRelations.some((r) => held.has(r))) ?? candidates[0];
  const relations = held.size ? [...held] : (st?.lockedRelations ?? []);
  return {
    kind: 'lock-timeout',
    message: `${p.file.path}${st ? `:${st.line}` : ''}: could not get its lock on ${relations.join(', ')}: blocked by ${holders.map(describeSession).join('; ')}. Waited ${formatDuration(budget)} (the lock budget: lock-retries ${c.o.lockRetries} with retry-backoff ${formatDuration(c.o.retryBackoffMs)} and lock-timeout ${formatDuration(c.o.lockTimeoutMs)}) without queueing for the lock, so the application was not blocked. End or shorten that transaction and run again`,
    migration: mig(p.file),
    statement: st ? { index: st.index, total: p.statements?.length ?? 1, line: st.line, sql: st.sql } : undefined,
    blockers: holders,
    attempts,
    left,
  };
}

async function applyTransactional(c: ApplyContext, p: PlannedMigration): Promise<AppliedMigration | MigrationFailure> {
  const started = Date.now();
  const stmts = p.statements ?? [];
  const deadline = started + lockBudgetMs(c.o);
  const relations = [...new Set(stmts.flatMap((st) => st.lockedRelations))];
  let retries = 0;
  for (;;) {
    let current: Statement | undefined;
    const holders = await waitForLongHolders(c, p, relations, deadline).catch(() => []);
    if (holders.length)
      return blockedFailure(
        c,
        p,
        holders,
        stmts.filter((st) => st.lockedRelations.length),
        'nothing from this migration ran (it never asked for the lock)',
        retries + 1,
      );
    try {
      // Round trips are merged where the failing statement stays known: BEGIN and the timeouts travel
      // with the first statement, the history row and COMMIT with the last (they stand or fall together).
      const attemptStarted = Date.now();
      const record = recordAppliedSql(
        c.t,
        {
          version: p.file.version,
          name: p.file.name,
          checksum: p.file.checksum,
          statementsTotal: stmts.length,
          durationMs: 0,
          appliedBy: c.o.appliedBy,
          lockRetries: retries,
        },
        `${Math.max(0, attemptStarted - started)} + (extract(epoch FROM clock_timestamp() - now()) * 1000)::int`,
      );
      const begin = `BEGIN; ${timeoutsSql(c, true)}`;
      if (!stmts.length) await c.db.query(`${begin};\n${record};\nCOMMIT`);
      for (const st of stmts) {
        current = st;
        c.o.onEvent?.({ type: 'statement-start', version: p.file.version, index: st.index, total: stmts.length });
        const first = st.index === 0;
        const last = st.index === stmts.length - 1;
        await runWatched(c, `${first ? `${begin};\n` : ''}${st.sql}${last ? `;\n${record};\nCOMMIT` : ''}`);
      }
      current = undefined;
      const durationMs = Date.now() - started;
      c.log.info(
        `applied ${p.file.path} in ${formatDuration(durationMs)} (${stmts.length} statement${stmts.length === 1 ? '' : 's'}${retries ? `, ${retries} lock retr${retries === 1 ? 'y' : 'ies'}` : ''})`,
      );
      return {
        version: p.file.version,
        name: p.file.name,
        file: p.file.path,
        durationMs,
        lockRetries: retries,
        statements: stmts.length,
        transaction: true,
        ...(p.outOfOrder ? { outOfOrder: true } : {}),
      };
    } catch (err) {
      await c.db.query('ROLLBACK').catch(() => {});
      const se = err instanceof StatementError ? err : new StatementError(err, []);
      if (isRetryable(se) && retries < c.o.lockRetries && !c.o.signal?.aborted) {
        retries++;
        await c.sleep(await retryNote(c, p, se, retries, current));
        continue;
      }
      if (isRetryable(se) && !se.blockers.length) se.blockers.push(...(await likelyBlockers(c)));
      return failureFrom(
        c,
        p,
        se,
        current ?? (err instanceof StatementError ? undefined : { index: stmts.length, line: 0, sql: 'COMMIT', kind: 'TransactionStmt', lockedRelations: [] }),
        retries + 1,
        'rolled back: nothing from this migration remains (its transaction was rolled back)',
      );
    }
  }
}

/** Whether the index a CREATE INDEX statement names exists, and if so whether it is valid. */
async function indexState(c: ApplyContext, st: Statement): Promise<'missing' | 'valid' | 'invalid' | 'unknown'> {
  if (!st.index_?.name) return 'unknown';
  const name = st.index_.schema ? `${quoteIdent(st.index_.schema)}.${quoteIdent(st.index_.name)}` : quoteIdent(st.index_.name);
  const r = await c.db.query<{ valid: boolean | null }>('SELECT i.indisvalid AS valid FROM pg_index i WHERE i.indexrelid = to_regclass($1)', [name]);
  if (!r.rows.length) return 'missing';
  return r.rows[0]!.valid ? 'valid' : 'invalid';
}

function indexSqlName(st: Statement): string {
  return st.index_!.schema ? `${quoteIdent(st.index_!.schema)}.${quoteIdent(st.index_!.name!)}` : quoteIdent(st.index_!.name!);
}

async function applyNoTransaction(c: ApplyContext, p: PlannedMigration): Promise<AppliedMigration | MigrationFailure> {
  const started = Date.now();
  const stmts = p.statements ?? [];
  const total = stmts.length;
  const f = p.file;
  let retries = 0;
  let i = p.resumeAt;
  const deadline = started + lockBudgetMs(c.o);
  const base = { version: f.version, name: f.name, checksum: f.checksum, statementsTotal: total, appliedBy: c.o.appliedBy };
  const leftText = (done: number) =>
    done === 0
      ? `no statement of this migration completed; the next run starts it again`
      : `statements 1–${done} of ${total} were applied and stay applied (no transaction); the next run resumes at statement ${done + 1}`;
  if (i > 0) c.log.info(`resuming ${f.path} at statement ${i + 1} of ${total}: statements 1–${i} were applied by an earlier run`);
  try {
    await setTimeouts(c, false);
    // A failed CREATE INDEX CONCURRENTLY from an earlier run may have left its index INVALID.
    const next = stmts[i];
    if (i < total && next?.index_?.name && (await indexState(c, next)) === 'invalid') {
      if (f.retryable) {
        c.log.warning(
          `${f.path}:${next.line}: dropping the INVALID index ${indexSqlName(next)} left by an earlier failed run before retrying (-- slipway:retryable)`,
          { file: f.path, line: next.line },
        );
        await c.db.query(`DROP INDEX CONCURRENTLY IF EXISTS ${indexSqlName(next)}`);
      } else {
        return {
          kind: 'invalid-index',
          message: `${f.path}:${next.line}: the index ${indexSqlName(next)} exists but is INVALID (left by an earlier failed CREATE INDEX CONCURRENTLY); rerunning would fail or, with IF NOT EXISTS, keep the broken index. Drop it (DROP INDEX CONCURRENTLY ${indexSqlName(next)}) or mark the file -- slipway:retryable to have it dropped before the retry`,
          migration: mig(f),
          statement: { index: next.index, total, line: next.line, sql: next.sql },
          left: leftText(i),
          invalidIndexes: await invalidIndexes(c.db),
        };
      }
    }
    await recordPartial(c.db, c.t, { ...base, done: i, doneChecksum: statementsChecksum(stmts, i) });
    for (; i < total; i++) {
      const st = stmts[i]!;
      c.o.onEvent?.({ type: 'statement-start', version: f.version, index: i, total });
      c.log.info(`  ${f.path} statement ${i + 1}/${total} (line ${st.line}): ${oneLine(st.sql, 120)}`);
      for (;;) {
        const holders = await waitForLongHolders(c, p, st.lockedRelations, deadline, st).catch(() => []);
        if (holders.length) {
          await recordPartial(c.db, c.t, {
            ...base,
            done: i,
            doneChecksum: statementsChecksum(stmts, i),
            durationMs: Date.now() - started,
            lockRetries: retries,
          }).catch(() => {});
          return blockedFailure(c, p, holders, [st], leftText(i), retries + 1);
        }
        const before = st.index_?.concurrent ? await indexState(c, st) : undefined;
        try {
          await runWatched(c, st.sql);
          break;
        } catch (err) {
          const se = err as StatementError;
          // Our own failed CREATE INDEX CONCURRENTLY can leave an INVALID index: drop it before any retry.
          if (before === 'missing' && (await indexState(c, st).catch(() => 'unknown')) === 'invalid' && isRetryable(se)) {
            await c.db.query(`DROP INDEX CONCURRENTLY IF EXISTS ${indexSqlName(st)}`).catch(() => {});
          }
          if (isRetryable(se) && retries < c.o.lockRetries && !c.o.signal?.aborted) {
            retries++;
            await c.sleep(await retryNote(c, p, se, retries, st));
            continue;
          }
          if (isRetryable(se) && !se.blockers.length) se.blockers.push(...(await likelyBlockers(c)));
          const failure = failureFrom(c, p, se, st, retries + 1, leftText(i));
          await recordPartial(c.db, c.t, {
            ...base,
            done: i,
            doneChecksum: statementsChecksum(stmts, i),
            durationMs: Date.now() - started,
            lockRetries: retries,
          }).catch(() => {});
          const invalid = await invalidIndexes(c.db).catch(() => []);
          if (invalid.length) {
            failure.invalidIndexes = invalid;
            failure.left += `. INVALID index(es) left behind: ${invalid.map((x) => `${x.schema}.${x.name}`).join(', ')}${f.retryable ? ' (dropped automatically before the retry: the file is marked retryable)' : ' (drop them, or mark the file -- slipway:retryable)'}`;
          }
          return failure;
        }
      }
      await recordPartial(c.db, c.t, { ...base, done: i + 1, doneChecksum: statementsChecksum(stmts, i + 1) });
      c.o.onEvent?.({ type: 'statement-done', version: f.version, index: i, total });
    }
    const durationMs = Date.now() - started;
    await recordApplied(c.db, c.t, { ...base, durationMs, lockRetries: retries });
    c.log.info(
      `applied ${f.path} in ${formatDuration(durationMs)} (${total} statement${total === 1 ? '' : 's'} without a transaction${retries ? `, ${retries} lock retr${retries === 1 ? 'y' : 'ies'}` : ''})`,
    );
    return {
      version: f.version,
      name: f.name,
      file: f.path,
      durationMs,
      lockRetries: retries,
      statements: total,
      transaction: false,
      ...(p.resumeAt > 0 ? { resumedAt: p.resumeAt + 1 } : {}),
      ...(p.outOfOrder ? { outOfOrder: true } : {}),
    };
  } catch (err) {
    // History writes or the index checks failed (e.g. the connection dropped).
    return failureFrom(c, p, err, stmts[i], retries + 1, leftText(i));
  } finally {
    await c.db.query('RESET lock_timeout; RESET statement_timeout').catch(() => {});
  }
}
