import { z } from 'zod';
import { defineAction, f, out, type InputSpec } from '../../manifest/fields.ts';
import { databaseUrlProblem } from '../../migrate/connection.ts';

/** A postgres:// URL checked without ever echoing it (the password stays out of errors). */
function databaseUrl(o: { description: string }): InputSpec<string> {
  const expected = 'a postgres:// or postgresql:// URL (postgresql://user:password@host:5432/dbname)';
  return {
    ...o,
    secret: true,
    expected,
    schema: z.string().transform((s, ctx) => {
      const problem = databaseUrlProblem(s);
      if (problem) {
        ctx.addIssue({ code: 'custom', message: problem });
        return z.NEVER;
      }
      return s.trim();
    }),
  };
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

const VIOLATION = z.looseObject({
  rule: z.string(),
  severity: z.enum(['error', 'warning']),
  file: z.string(),
  line: z.number().int(),
  column: z.number().int(),
  statement: z.string(),
  message: z.string(),
  fix: z.string(),
});
const MIGRATION = z.looseObject({ version: z.string(), name: z.string(), file: z.string() });

export const spec = defineAction({
  name: 'migrate',
  title: 'Slipway migrate',
  description:
    'Safe PostgreSQL migrations before the deploy: a runner with history, checksums, an advisory lock, lock_timeout with retries and resumable no-transaction files; an expand/contract linter; or your own migration command. A failure halts the deploy.',
  branding: { icon: 'database', color: 'blue' },
  inputs: {
    mode: f.enum(['run', 'lint', 'command'] as const, {
      description:
        'run: lint then apply pending migrations from dir. lint: only lint (no database needed). command: run your own migration tool (command input).',
      default: 'run',
    }),
    dir: f.string({
      description: 'Directory of migration files named NNNN_name.sql (or a timestamp prefix), relative to the workspace.',
      default: 'migrations',
    }),
    files: f.list({
      description: 'lint mode: lint only these files (e.g. the migrations changed in a pull request) instead of every file in dir.',
      item: /\.sql$/,
      itemExpected: 'paths ending in .sql',
    }),
    'database-url': databaseUrl({
      description:
        'postgres:// URL of the database (masked, password included; pass it from a secret). In command mode it reaches the command as DATABASE_URL.',
    }),
    sslmode: f.enum(['disable', 'require', 'verify-ca', 'verify-full'] as const, {
      description:
        "TLS to the database: disable, require (encrypt, no certificate check), verify-ca, verify-full. Default: the URL's sslmode parameter, else no TLS.",
    }),
    'ssl-root-cert': f.string({ description: 'CA certificate (PEM text, or a path) for sslmode verify-ca / verify-full.' }),
    'search-path': f.list({ description: 'search_path for the migration session, e.g. app,public.', item: IDENT, itemExpected: 'schema names' }),
    'history-table': f.string({
      description: 'History table, table or schema.table (an unqualified name lands in the current schema).',
      default: 'slipway_migrations',
      pattern: /^([A-Za-z_][A-Za-z0-9_$]{0,62}\.)?[A-Za-z_][A-Za-z0-9_$]{0,62}$/,
      expected: 'table or schema.table (letters, digits, _ and $)',
    }),
    'lock-timeout': f.duration({
      description:
        'lock_timeout for every migration statement (0 = off). A statement that cannot get its lock in time is rolled back and retried, instead of queueing the application behind it.',
      default: '2s',
      max: 3_600_000,
    }),
    'statement-timeout': f.duration({ description: 'statement_timeout for every migration statement (0 = off).', default: '0', max: 86_400_000 }),
    'lock-retries': f.integer({
      description: 'How many times a migration that hit the lock timeout (or a deadlock) is retried, with exponential backoff.',
      default: '5',
      min: 0,
      max: 100,
    }),
    'retry-backoff': f.duration({
      description: 'Wait before the first lock retry; doubles each retry (capped at 30s, ±20% jitter).',
      default: '1s',
      max: 300_000,
    }),
    'wait-for-blockers': f.boolean({
      description:
        'Before DDL that needs a strong lock, wait (polling, without joining the lock queue) while a transaction open longer than half the lock-timeout holds a lock on its tables, up to the lock budget (lock-retries backoffs). The application keeps running meanwhile. false: only lock-timeout and retries.',
      default: 'true',
    }),
    'lock-wait': f.duration({
      description: 'How long to wait for another runner holding the migration lock (advisory lock, polled) before failing.',
      default: '10m',
      max: 86_400_000,
    }),
    'connect-timeout': f.duration({ description: 'Timeout of the database connection.', default: '10s', min: 1, max: 600_000 }),
    'out-of-order': f.enum(['fail', 'allow'] as const, {
      description: 'A pending migration older than the newest applied one: fail, or allow (apply it anyway).',
      default: 'fail',
    }),
    'allow-checksum-change': f.list({
      description:
        'Repair path for applied migrations whose file changed: versions or file names (or all) whose new checksum is recorded without running them again.',
      item: /^[\w.-]+$/,
      itemExpected: 'versions, file names or all',
    }),
    'dry-run': f.boolean({
      description: 'List (and lint) what would be applied; apply nothing. Works without database-url (then every file counts as pending).',
      default: 'false',
    }),
    lint: f.enum(['on', 'off'] as const, { description: 'Lint pending migrations before applying them (run mode).', default: 'on' }),
    'fail-on': f.enum(['error', 'warning', 'never'] as const, {
      description: 'Lint findings that fail the step (and, in run mode, stop before anything is applied).',
      default: 'error',
    }),
    'pg-version': f.integer({
      description: "PostgreSQL major version the linter assumes. Default: the server's version in run mode, 16 otherwise.",
      min: 9,
      max: 30,
    }),
    'disable-rules': f.list({ description: 'Lint rule ids to turn off everywhere.', item: /^[a-z0-9-]+$/, itemExpected: 'rule ids' }),
    'external-runner': f.boolean({
      description:
        "lint mode: the files are applied by another tool (not this action's runner), so also flag statements without lock_timeout and transaction assumptions.",
      default: 'false',
    }),
    command: f.yaml(z.array(z.string().min(1)).min(1, 'needs at least the program name'), {
      description: 'command mode: the migration tool as an argument array, e.g. ["npx", "prisma", "migrate", "deploy"] (never a shell string).',
      expected: 'a YAML or JSON list of strings like ["npx", "prisma", "migrate", "deploy"]',
    }),
    'command-timeout': f.duration({
      description: 'command mode: stop the command (SIGTERM, then SIGKILL) after this long.',
      default: '30m',
      min: 1,
      max: 86_400_000,
    }),
  },
  outputs: {
    applied: out.json(
      'JSON list of migrations applied by this run: version, name, file, durationMs, lockRetries, statements, transaction, resumedAt.',
      'a JSON list of migrations',
      z.array(MIGRATION),
      [
        '[]',
        '[{"version":"0002","name":"add_display_name","file":"migrations/0002_add_display_name.sql","durationMs":41,"lockRetries":0,"statements":1,"transaction":true}]',
      ],
    ),
    pending: out.json(
      'JSON list of migrations still pending after the run (in a dry run: what would be applied): version, name, file.',
      'a JSON list of migrations',
      z.array(MIGRATION),
      ['[]', '[{"version":"0003","name":"index_users","file":"migrations/0003_index_users.sql","noTransaction":true}]'],
    ),
    'pending-count': out.integer('Migrations still pending after the run (in a dry run: how many would be applied).'),
    'current-version': out.text('Newest applied migration version after the run (empty when none).', ['0003', '20260101120000']),
    violations: out.json(
      'JSON list of lint findings: rule, severity, file, line, column, statement, message, fix.',
      'a JSON list of lint findings',
      z.array(VIOLATION),
      [
        '[]',
        '[{"rule":"add-column-not-null-without-default","severity":"error","file":"migrations/0004_x.sql","line":1,"column":1,"statement":"ALTER TABLE users ADD COLUMN x int NOT NULL","message":"rewrites the table","fix":"add it nullable, backfill, then set NOT NULL"}]',
      ],
    ),
    'exit-code': out.integer('command mode: the exit code of the command.', ['0', '1']),
  },
});
