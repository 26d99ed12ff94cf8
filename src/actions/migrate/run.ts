import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, relative, resolve } from 'node:path';
import type { InputsOf } from '../../manifest/fields.ts';
import type { ActionContext, ActionResult } from '../../runner/context.ts';
import { InputError, UserError, errorMessage } from '../../lib/errors.ts';
import { redactUrl, urlSecrets } from '../../lib/secrets.ts';
import { code, details, heading, table } from '../../lib/markdown.ts';
import { formatDuration } from '../../lib/duration.ts';
import type { Exec } from '../../lib/exec.ts';
import { connectPg, serverMajorVersion, type Connect, type ConnectionOptions, type Db } from '../../migrate/connection.ts';
import { migrationFromText, readMigrations, type MigrationFile } from '../../migrate/files.ts';
import { parseHistoryTableName } from '../../migrate/history.ts';
import { runMigrations, type PlannedMigration, type RunnerResult } from '../../migrate/runner.ts';
import { runnerSummary } from '../../migrate/summary.ts';
import { runMigrationCommand } from '../../migrate/command.ts';
import { annotateViolations, countBySeverity, lintFails, lintVerdictLine, violationsSummary, type LintViolation } from '../../migrate/violations.ts';
import type { spec } from './inputs.ts';

export type MigrateInputs = InputsOf<typeof spec>;

/** The linter's entry point (src/migrate/lint/index.ts), loaded on demand. */
export type LintFn = (
  files: { path: string; sql: string }[],
  opts: { pgVersion: number; disabled?: string[]; insideRunner?: boolean; noTransaction?: boolean },
) => Promise<LintViolation[]>;

export interface MigrateDeps {
  connect?: Connect;
  lint?: LintFn;
  exec?: Exec;
  sleep?: (ms: number) => Promise<void>;
}

const DEFAULT_LINT_PG_VERSION = 16;

async function loadLinter(): Promise<LintFn> {
  const mod = (await import('../../migrate/lint/index.ts')) as { lintFiles: LintFn };
  return mod.lintFiles;
}

/**
 * Lints files in the order they apply (the linter carries what earlier files created into later
 * ones, and reads each file's -- slipway:no-transaction directive itself).
 */
export async function lintMigrations(
  lint: LintFn,
  files: { path: string; sql: string; noTransaction: boolean }[],
  o: { pgVersion: number; disabled: string[]; insideRunner: boolean },
): Promise<LintViolation[]> {
  if (!files.length) return [];
  return lint(
    files.map((f) => ({ path: f.path, sql: f.sql })),
    { pgVersion: o.pgVersion, disabled: o.disabled, insideRunner: o.insideRunner },
  );
}

function appliedBy(ctx: ActionContext): string {
  const g = ctx.github;
  const who = g.actor || 'unknown';
  const where = g.runUrl || (g.runId ? `run ${g.runId}` : '');
  return `${who}${where ? ` via ${where}` : ''}${g.sha ? ` @ ${g.sha.slice(0, 12)}` : ''}`.slice(0, 500);
}

function checkInputs(i: MigrateInputs): void {
  if (i.mode === 'command' && !i.command)
    throw new InputError('command', '', 'a YAML or JSON list of strings like ["npx", "prisma", "migrate", "deploy"] (mode is command)');
  if (i.mode === 'run' && !i['dry-run'] && !i['database-url'])
    throw new InputError('database-url', '', 'a postgres:// URL (mode run needs a database; pass it from a secret)');
  if (i.mode !== 'command' && i.command) throw new UserError(`Input 'command' is set but mode is ${i.mode}; set mode: command to run it`);
  parseHistoryTableName(i['history-table']);
}

export async function run(inputs: MigrateInputs, ctx: ActionContext, deps: MigrateDeps = {}): Promise<ActionResult> {
  const url = inputs['database-url'];
  if (url) {
    ctx.log.mask(url);
    for (const s of urlSecrets(url)) ctx.log.mask(s);
  }
  checkInputs(inputs);
  if (inputs.mode === 'command') return runCommandMode(inputs, ctx, deps);
  if (inputs.mode === 'lint') return runLintMode(inputs, ctx, deps);
  return runRunMode(inputs, ctx, deps);
}

// ---------------------------------------------------------------------------------------------

async function runCommandMode(i: MigrateInputs, ctx: ActionContext, deps: MigrateDeps): Promise<ActionResult> {
  const command = i.command!;
  const url = i['database-url'];
  const outcome = await ctx.log.group(`migrate: ${command.join(' ')}`, () =>
    runMigrationCommand({
      command,
      timeoutMs: i['command-timeout'],
      cwd: ctx.workspace,
      env: ctx.env,
      databaseUrl: url,
      log: ctx.log,
      signal: ctx.signal,
      exec: deps.exec,
    }),
  );
  const r = outcome.result;
  const status = outcome.ok ? '✅ succeeded' : r.timedOut ? '❌ timed out' : '❌ failed';
  let md = heading(`Migration command ${outcome.ok ? 'succeeded' : 'failed'}`);
  md += `\n${table(['Command', 'Result', 'Exit code', 'Duration'], [[`\`${command.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}\``, status, r.code ?? r.signal ?? '—', formatDuration(r.durationMs)]])}`;
  if (url) md += `\nDATABASE_URL was set to \`${redactUrl(url)}\`.\n`;
  if (outcome.tail.length) md += `\n${details(`Last ${outcome.tail.length} line(s) of output`, code(outcome.tail.join('\n')))}`;
  if (!outcome.ok) md += `\nThe deploy halts here: fix the migration and run again.\n`;
  return {
    outputs: { 'exit-code': r.code ?? -1 },
    summary: md,
    failure: outcome.failure,
  };
}

// ---------------------------------------------------------------------------------------------

function lintFileList(i: MigrateInputs, ctx: ActionContext): MigrationFile[] {
  if (!i.files?.length) return readMigrations(i.dir, { workspace: ctx.workspace, input: 'dir' });
  return i.files.map((p) => {
    const abs = resolve(ctx.workspace, p);
    if (!existsSync(abs) || !statSync(abs).isFile()) throw new UserError(`Input 'files': ${JSON.stringify(p)} does not exist (looked in ${abs})`);
    const rel = relative(ctx.workspace, abs);
    const sql = readFileSync(abs, 'utf8');
    try {
      return migrationFromText(basename(abs), sql, rel.startsWith('..') ? abs : rel);
    } catch {
      // Linting a file whose name is not a migration name still works: version 0.
      return { ...migrationFromText('0_file.sql', sql, rel.startsWith('..') ? abs : rel), file: basename(abs), name: basename(abs, '.sql') };
    }
  });
}

async function runLintMode(i: MigrateInputs, ctx: ActionContext, deps: MigrateDeps): Promise<ActionResult> {
  const files = lintFileList(i, ctx);
  const lint = deps.lint ?? (await loadLinter());
  const pgVersion = i['pg-version'] ?? DEFAULT_LINT_PG_VERSION;
  const started = Date.now();
  const violations = await lintMigrations(lint, files, { pgVersion, disabled: i['disable-rules'] ?? [], insideRunner: !i['external-runner'] });
  annotateViolations(ctx.log, violations);
  const verdict = lintVerdictLine(violations, i['fail-on'], files.length);
  ctx.log.info(`${verdict} in ${formatDuration(Date.now() - started)} (PostgreSQL ${pgVersion} rules)`);
  const fails = lintFails(violations, i['fail-on']);
  const { errors, warnings } = countBySeverity(violations);
  return {
    outputs: { violations },
    summary: violationsSummary(violations, i['fail-on'], files.length) + (files.length ? '' : '\nNo migration files found.\n'),
    failure: fails
      ? `migration lint failed: ${errors} error(s), ${warnings} warning(s) (fail-on: ${i['fail-on']}); see the annotations and the job summary`
      : undefined,
  };
}

// ---------------------------------------------------------------------------------------------

async function runRunMode(i: MigrateInputs, ctx: ActionContext, deps: MigrateDeps): Promise<ActionResult> {
  // Everything that can be checked without the database is checked first.
  const files = readMigrations(i.dir, { workspace: ctx.workspace, input: 'dir' });
  const historyName = parseHistoryTableName(i['history-table']);
  const url = i['database-url'];
  const target = url ? redactUrl(url) : '(no database)';
  ctx.log.info(`migrate: ${files.length} migration file(s) in ${i.dir}${url ? ` → ${target}` : ''}${i['dry-run'] ? ' (dry run)' : ''}`);

  if (!url) return dryRunWithoutDatabase(i, ctx, deps, files);

  const connect = deps.connect ?? connectPg;
  const connOpts: ConnectionOptions = {
    url,
    sslmode: i.sslmode,
    sslRootCert: i['ssl-root-cert'],
    searchPath: i['search-path'],
    connectTimeoutMs: i['connect-timeout'],
  };
  let db: Db;
  try {
    db = await connect(connOpts);
  } catch (err) {
    const why = errorMessage(err);
    return {
      outputs: { applied: [], 'pending-count': files.length, 'current-version': '', violations: [] },
      summary: `${heading('Migrations failed: no database connection')}\n${why}\n\nNothing was applied (${files.length} migration file(s) in \`${i.dir}\`).\n`,
      failure: `migrate: ${why}`,
    };
  }
  let violations: LintViolation[] = [];
  let lintNote = '';
  try {
    const pgVersion = i['pg-version'] ?? (await serverMajorVersion(db));
    const gate = async (pending: PlannedMigration[]): Promise<string | undefined> => {
      if (i.lint === 'off' || !pending.length) return undefined;
      const lint = deps.lint ?? (await loadLinter());
      violations = await lintMigrations(
        lint,
        pending.map((p) => ({ path: p.file.path, sql: p.file.sql, noTransaction: p.file.noTransaction })),
        { pgVersion, disabled: i['disable-rules'] ?? [], insideRunner: true },
      );
      annotateViolations(ctx.log, violations);
      lintNote = violationsSummary(violations, i['fail-on'], pending.length);
      ctx.log.info(lintVerdictLine(violations, i['fail-on'], pending.length));
      if (lintFails(violations, i['fail-on'])) {
        const { errors, warnings } = countBySeverity(violations);
        return `lint found ${errors} error(s) and ${warnings} warning(s) in the pending migrations (fail-on: ${i['fail-on']}); nothing was applied. Fix them, add -- slipway:ignore <rule> <reason>, or change fail-on`;
      }
      return undefined;
    };
    const result = await ctx.log.group(i['dry-run'] ? 'migrate: dry run' : 'migrate: apply', () =>
      runMigrations({
        db,
        connectMonitor: () => connect({ ...connOpts, applicationName: 'slipway-migrate-monitor' }),
        files,
        historyTable: historyName,
        lockTimeoutMs: i['lock-timeout'],
        statementTimeoutMs: i['statement-timeout'],
        lockRetries: i['lock-retries'],
        retryBackoffMs: i['retry-backoff'],
        lockWaitMs: i['lock-wait'],
        waitForBlockers: i['wait-for-blockers'],
        outOfOrder: i['out-of-order'],
        allowChecksumChange: i['allow-checksum-change'] ?? [],
        dryRun: i['dry-run'],
        appliedBy: appliedBy(ctx),
        log: ctx.log,
        signal: ctx.signal,
        sleep: deps.sleep,
        gate,
      }),
    );
    return resultOf(i, ctx, result, violations, lintNote, target);
  } finally {
    await db.end().catch(() => {});
  }
}

function resultOf(i: MigrateInputs, ctx: ActionContext, r: RunnerResult, violations: LintViolation[], lintNote: string, target: string): ActionResult {
  const f = r.failure;
  if (f) {
    const at = f.migration ? { file: f.migration.path, line: f.statement?.line || 1, title: `migration failed (${f.kind})` } : undefined;
    if (f.kind !== 'gate') ctx.log.error(f.message, at);
    if (f.left) ctx.log.info(`${f.migration?.path}: ${f.left}`);
  }
  if (r.dryRun) for (const p of r.plan) ctx.log.info(`would apply ${p.file.path}${p.resumeAt ? ` (resuming at statement ${p.resumeAt + 1})` : ''}`);
  const applied = r.applied.map((a) => ({
    version: a.version,
    name: a.name,
    file: a.file,
    durationMs: a.durationMs,
    lockRetries: a.lockRetries,
    statements: a.statements,
    transaction: a.transaction,
    ...(a.resumedAt ? { resumedAt: a.resumedAt } : {}),
  }));
  const summary = runnerSummary(r, { target, lockTimeoutMs: i['lock-timeout'], lockRetries: i['lock-retries'] }) + (lintNote ? `\n${lintNote}` : '');
  return {
    outputs: {
      applied,
      'pending-count': r.dryRun ? r.plan.length : r.pending.length,
      pending: (r.dryRun ? r.plan : r.pending).map((p) => ({
        version: p.file.version,
        name: p.file.name,
        file: p.file.path,
        noTransaction: p.file.noTransaction,
        ...(p.resumeAt ? { resumeAt: p.resumeAt } : {}),
      })),
      'current-version': r.currentVersion ?? '',
      violations,
    },
    summary,
    failure: f ? `migrate: ${f.message}` : undefined,
  };
}

/** dry-run without a database: every file counts as pending; lint them. */
async function dryRunWithoutDatabase(i: MigrateInputs, ctx: ActionContext, deps: MigrateDeps, files: MigrationFile[]): Promise<ActionResult> {
  let violations: LintViolation[] = [];
  let lintNote = '';
  let failure: string | undefined;
  if (i.lint === 'on' && files.length) {
    const lint = deps.lint ?? (await loadLinter());
    violations = await lintMigrations(lint, files, {
      pgVersion: i['pg-version'] ?? DEFAULT_LINT_PG_VERSION,
      disabled: i['disable-rules'] ?? [],
      insideRunner: true,
    });
    annotateViolations(ctx.log, violations);
    lintNote = violationsSummary(violations, i['fail-on'], files.length);
    if (lintFails(violations, i['fail-on'])) {
      const { errors, warnings } = countBySeverity(violations);
      failure = `migrate (dry run): lint found ${errors} error(s) and ${warnings} warning(s) (fail-on: ${i['fail-on']})`;
    }
  }
  for (const f of files) ctx.log.info(`would apply ${f.path} (no database-url: every file counts as pending)`);
  let md = heading(`Migrations (dry run, no database): ${files.length} file(s)`);
  md += `\nNo database-url was given, so every file is listed as pending.\n\n`;
  md += files.length
    ? table(
        ['#', 'Migration', 'Transaction'],
        files.map((f, n) => [n + 1, f.path, f.noTransaction ? 'no (statement by statement)' : 'yes']),
      )
    : 'No migration files found.\n';
  return {
    outputs: {
      applied: [],
      pending: files.map((f) => ({ version: f.version, name: f.name, file: f.path, noTransaction: f.noTransaction })),
      'pending-count': files.length,
      'current-version': '',
      violations,
    },
    summary: md + (lintNote ? `\n${lintNote}` : ''),
    failure,
  };
}
