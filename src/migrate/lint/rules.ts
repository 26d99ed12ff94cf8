/** The migration linter's rules: ids (stable contract: users name them in ignore comments and config). */

export type Severity = 'error' | 'warning';

export interface RuleInfo {
  id: string;
  severity: Severity;
  /** One line: what is flagged. */
  summary: string;
  /** Why it hurts a running application. */
  why: string;
  /** The safe way to do it (generic form; violations carry a rewrite with the real names). */
  fix: string;
}

export const RULES: RuleInfo[] = [
  {
    id: 'syntax-error',
    severity: 'error',
    summary: 'The file does not parse as PostgreSQL SQL',
    why: 'PostgreSQL would reject the migration and halt the deploy.',
    fix: 'Fix the SQL at the reported line.',
  },
  {
    id: 'ignore-without-reason',
    severity: 'error',
    summary: '`-- slipway:ignore` without a reason',
    why: 'A silenced rule needs a written reason so reviewers can judge it.',
    fix: '`-- slipway:ignore rule-id why this is safe here`',
  },
  {
    id: 'ignore-unknown-rule',
    severity: 'warning',
    summary: '`-- slipway:ignore` names a rule that does not exist',
    why: 'A misspelt rule id silences nothing.',
    fix: 'Use one of the rule ids listed in docs/migrate-lint.md.',
  },
  {
    id: 'add-column-volatile-default',
    severity: 'error',
    summary: 'ADD COLUMN with a volatile (or unknown) function as its default',
    why: 'A volatile default (random(), gen_random_uuid(), clock_timestamp(), nextval()) rewrites the whole table under an ACCESS EXCLUSIVE lock.',
    fix: 'Add the column without a default (or with a constant one), then ALTER COLUMN ... SET DEFAULT for new rows, and backfill old rows in batches.',
  },
  {
    id: 'add-column-default-before-pg11',
    severity: 'error',
    summary: 'ADD COLUMN with any default on PostgreSQL 10 or older',
    why: 'Before PostgreSQL 11 every non-null default rewrites the table under an ACCESS EXCLUSIVE lock.',
    fix: 'Add the column without a default, SET DEFAULT in a second statement, backfill existing rows in batches.',
  },
  {
    id: 'add-column-not-null-without-default',
    severity: 'error',
    summary: 'ADD COLUMN ... NOT NULL without a default on an existing table',
    why: 'It fails on a table with rows, and old code that inserts without the column breaks.',
    fix: 'Add it nullable (or NOT NULL with a constant DEFAULT on PostgreSQL 11+), backfill, then enforce NOT NULL through a validated CHECK.',
  },
  {
    id: 'set-not-null',
    severity: 'error',
    summary: 'ALTER COLUMN ... SET NOT NULL without a validated CHECK (col IS NOT NULL)',
    why: 'SET NOT NULL scans the whole table while holding an ACCESS EXCLUSIVE lock.',
    fix: 'PostgreSQL 12+: ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT c (separate migration); SET NOT NULL (no scan); DROP CONSTRAINT c.',
  },
  {
    id: 'change-column-type',
    severity: 'error',
    summary: 'ALTER COLUMN ... TYPE that is not binary-coercible',
    why: 'Changing a type rewrites the table and its indexes under an ACCESS EXCLUSIVE lock, and old code may not read the new type.',
    fix: 'Expand/contract: add a new column, write both, backfill in batches, switch reads, drop the old column later. varchar→text, varchar(n)→varchar(m≥n), numeric(p,s)→numeric(q≥p,s) are metadata-only and not flagged.',
  },
  {
    id: 'rename-column',
    severity: 'error',
    summary: 'RENAME COLUMN on an existing table',
    why: 'The code still running during and after the migration reads and writes the old name.',
    fix: 'Expand/contract: add the new column, write both, backfill, switch reads, drop the old column in a later release.',
  },
  {
    id: 'rename-table',
    severity: 'error',
    summary: 'RENAME of an existing table',
    why: 'The code still running uses the old name.',
    fix: 'Rename, then CREATE VIEW old_name AS SELECT * FROM new_name in the same transaction (simple views are updatable); drop the view once no code uses the old name.',
  },
  {
    id: 'drop-column',
    severity: 'error',
    summary: 'DROP COLUMN on an existing table',
    why: 'Backward incompatible while code that reads the column is still deployed.',
    fix: 'Contract step only: first deploy code that no longer uses the column, then drop it in a later migration (mark it with `-- slipway:ignore drop-column <reason>`).',
  },
  {
    id: 'drop-table',
    severity: 'error',
    summary: 'DROP TABLE of an existing table',
    why: 'Backward incompatible while code that uses the table is still deployed; the data is gone.',
    fix: 'Contract step only: deploy code that no longer uses the table first, then drop it in a later migration (mark it with `-- slipway:ignore drop-table <reason>`).',
  },
  {
    id: 'add-foreign-key-without-not-valid',
    severity: 'error',
    summary: 'Foreign key added to an existing table without NOT VALID',
    why: 'Validating the key scans the table while blocking writes to both tables.',
    fix: 'ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID; then ALTER TABLE ... VALIDATE CONSTRAINT in a separate migration (it allows writes).',
  },
  {
    id: 'add-check-without-not-valid',
    severity: 'error',
    summary: 'CHECK constraint added to an existing table without NOT VALID',
    why: 'Validation scans the whole table under an ACCESS EXCLUSIVE lock.',
    fix: 'ADD CONSTRAINT ... CHECK (...) NOT VALID; then VALIDATE CONSTRAINT in a separate migration.',
  },
  {
    id: 'validate-in-same-transaction',
    severity: 'warning',
    summary: 'VALIDATE CONSTRAINT in the same transaction that added it NOT VALID',
    why: 'The lock taken by ADD CONSTRAINT is held until commit, so the validation scan still blocks writes.',
    fix: 'Move VALIDATE CONSTRAINT to its own migration (or a no-transaction file).',
  },
  {
    id: 'add-unique-constraint',
    severity: 'error',
    summary: 'UNIQUE / PRIMARY KEY / EXCLUDE constraint built in place on an existing table',
    why: 'The index is built under an ACCESS EXCLUSIVE lock: no reads or writes until it finishes.',
    fix: 'CREATE UNIQUE INDEX CONCURRENTLY idx ... (no-transaction migration); then ADD CONSTRAINT c UNIQUE USING INDEX idx (or PRIMARY KEY USING INDEX).',
  },
  {
    id: 'create-index-non-concurrently',
    severity: 'error',
    summary: 'CREATE INDEX without CONCURRENTLY on an existing table',
    why: 'Blocks all writes to the table for the whole build.',
    fix: 'CREATE INDEX CONCURRENTLY in a file marked `-- slipway:no-transaction`.',
  },
  {
    id: 'drop-index-non-concurrently',
    severity: 'error',
    summary: 'DROP INDEX without CONCURRENTLY',
    why: 'Takes an ACCESS EXCLUSIVE lock on the table, queued behind every running query.',
    fix: 'DROP INDEX CONCURRENTLY in a file marked `-- slipway:no-transaction`.',
  },
  {
    id: 'reindex-non-concurrently',
    severity: 'error',
    summary: 'REINDEX without CONCURRENTLY',
    why: 'Blocks writes (and reads through the index) for the whole rebuild.',
    fix: 'REINDEX ... CONCURRENTLY (PostgreSQL 12+) in a no-transaction file; before 12: CREATE INDEX CONCURRENTLY a copy, DROP INDEX CONCURRENTLY the old one, rename.',
  },
  {
    id: 'concurrently-in-transaction',
    severity: 'error',
    summary: 'A CONCURRENTLY operation inside a transaction',
    why: 'PostgreSQL refuses CREATE/DROP INDEX CONCURRENTLY in a transaction block: the migration fails.',
    fix: 'Put it in its own file marked `-- slipway:no-transaction`, outside BEGIN/COMMIT.',
  },
  {
    id: 'add-serial-column',
    severity: 'error',
    summary: 'serial / identity column added to an existing table',
    why: 'Filling the new column from a sequence rewrites the table under an ACCESS EXCLUSIVE lock.',
    fix: 'Add a plain nullable column, create the sequence, SET DEFAULT nextval(...), backfill in batches, then enforce NOT NULL through a validated CHECK.',
  },
  {
    id: 'add-stored-generated-column',
    severity: 'error',
    summary: 'Stored generated column added to an existing table',
    why: 'Computing the stored values rewrites the table under an ACCESS EXCLUSIVE lock.',
    fix: 'Add a plain column kept up to date by a trigger and backfill in batches, or (PostgreSQL 18+) a VIRTUAL generated column.',
  },
  {
    id: 'missing-lock-timeout',
    severity: 'error',
    summary: 'A statement that locks an existing table with no lock_timeout set before it',
    why: 'Without lock_timeout the statement waits in the lock queue behind a long transaction, and every later query on the table waits behind it: the application stalls.',
    fix: "SET lock_timeout = '2s'; at the top of the file (and retry on timeout), or apply it with Slipway's runner, which does both.",
  },
  {
    id: 'truncate-cascade',
    severity: 'error',
    summary: 'TRUNCATE ... CASCADE',
    why: 'Silently empties every table that references this one too, under ACCESS EXCLUSIVE locks.',
    fix: 'Name every table to truncate explicitly, or delete in batches.',
  },
  {
    id: 'truncate',
    severity: 'warning',
    summary: 'TRUNCATE of an existing table',
    why: 'Takes an ACCESS EXCLUSIVE lock and removes data the running code may still use.',
    fix: 'Delete in batches outside the schema migration, or confirm with `-- slipway:ignore truncate <reason>`.',
  },
  {
    id: 'update-without-where',
    severity: 'warning',
    summary: 'UPDATE of a whole existing table (backfill without batching)',
    why: 'One statement locks every row until the migration commits, blocking the application\u2019s writes, and bloats the table.',
    fix: 'Backfill in batches of a few thousand rows, each its own transaction (a no-transaction migration or a job), until no rows are left.',
  },
  {
    id: 'delete-without-where',
    severity: 'warning',
    summary: 'DELETE of a whole existing table',
    why: 'One statement locks every row until commit and can run for a long time.',
    fix: 'Delete in batches (DELETE ... WHERE id IN (SELECT id ... LIMIT 5000)), each its own transaction.',
  },
];

const BY_ID = new Map(RULES.map((r) => [r.id, r]));

export function ruleInfo(id: string): RuleInfo {
  const r = BY_ID.get(id);
  if (!r) throw new Error(`unknown lint rule ${id}`);
  return r;
}

export function isRuleId(id: string): boolean {
  return BY_ID.has(id);
}

/** The ids in a list that are not rules (for validating a `lint-disable` input or config). */
export function unknownRuleIds(ids: string[]): string[] {
  return ids.filter((id) => !BY_ID.has(id));
}
