export const id = 458;
export const ids = [458];
export const modules = {

/***/ 3458:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

// ESM COMPAT FLAG
__webpack_require__.r(__webpack_exports__);

// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  RULES: () => (/* reexport */ RULES),
  isRuleId: () => (/* reexport */ isRuleId),
  lintFiles: () => (/* binding */ lintFiles),
  lintSql: () => (/* binding */ lintSql),
  loadParser: () => (/* reexport */ parser/* loadParser */.qd),
  unknownRuleIds: () => (/* reexport */ unknownRuleIds)
});

;// CONCATENATED MODULE: ./src/migrate/lint/rules.ts
/** The migration linter's rules: ids (stable contract: users name them in ignore comments and config). */
const RULES = [
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
function ruleInfo(id) {
    const r = BY_ID.get(id);
    if (!r)
        throw new Error(`unknown lint rule ${id}`);
    return r;
}
function isRuleId(id) {
    return BY_ID.has(id);
}
/** The ids in a list that are not rules (for validating a `lint-disable` input or config). */
function unknownRuleIds(ids) {
    return ids.filter((id) => !BY_ID.has(id));
}

;// CONCATENATED MODULE: ./src/migrate/lint/source.ts
/**
 * Positions and directives in a migration file's text.
 *
 * PostgreSQL's parser reports statement and node locations as UTF-8 byte offsets, and a syntax error's
 * position as a character (code point) offset. Annotations want 1-based line and column (in characters).
 */
class SourceText {
    sql;
    lineStarts = [0];
    /** byte offset → UTF-16 index; undefined when the text is ASCII (both are the same). */
    byteToIndex;
    hasSurrogates;
    constructor(sql) {
        this.sql = sql;
        for (let i = sql.indexOf('\n'); i !== -1; i = sql.indexOf('\n', i + 1))
            this.lineStarts.push(i + 1);
        const ascii = /^[\x00-\x7f]*$/.test(sql);
        this.hasSurrogates = !ascii && /[\uD800-\uDFFF]/.test(sql);
        if (ascii) {
            this.byteToIndex = undefined;
        }
        else {
            const map = new Int32Array(Buffer.byteLength(sql, 'utf8') + 1);
            let b = 0;
            for (let i = 0; i < sql.length; i++) {
                const c = sql.charCodeAt(i);
                let n;
                let units = 1;
                if (c < 0x80)
                    n = 1;
                else if (c < 0x800)
                    n = 2;
                else if (c >= 0xd800 && c <= 0xdbff && i + 1 < sql.length && (sql.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
                    n = 4;
                    units = 2;
                }
                else
                    n = 3;
                for (let k = 0; k < n; k++)
                    map[b + k] = i;
                b += n;
                i += units - 1;
            }
            map[b] = sql.length;
            this.byteToIndex = map;
        }
    }
    /** UTF-16 index of a UTF-8 byte offset (clamped to the text). */
    indexOfByte(byte) {
        if (byte <= 0)
            return 0;
        if (!this.byteToIndex)
            return Math.min(byte, this.sql.length);
        return this.byteToIndex[Math.min(byte, this.byteToIndex.length - 1)];
    }
    /** UTF-16 index of a code point offset (PostgreSQL's error cursor). */
    indexOfCodePoint(cp) {
        if (!this.hasSurrogates)
            return Math.min(Math.max(cp, 0), this.sql.length);
        let i = 0;
        for (let n = 0; n < cp && i < this.sql.length; n++) {
            const c = this.sql.charCodeAt(i);
            i += c >= 0xd800 && c <= 0xdbff ? 2 : 1;
        }
        return Math.min(i, this.sql.length);
    }
    /** 1-based line and column (column counted in characters) of a UTF-16 index. */
    position(index) {
        let lo = 0;
        let hi = this.lineStarts.length - 1;
        while (lo < hi) {
            const mid = (lo + hi + 1) >> 1;
            if (this.lineStarts[mid] <= index)
                lo = mid;
            else
                hi = mid - 1;
        }
        const start = this.lineStarts[lo];
        let column = 1;
        for (let i = start; i < index; i++) {
            const c = this.sql.charCodeAt(i);
            if ((c & 0xfc00) !== 0xdc00)
                column++;
        }
        return { line: lo + 1, column };
    }
    /** Skips whitespace and comments from an index (the parser's first statement may start at 0). */
    skipTrivia(index) {
        const s = this.sql;
        let i = index;
        for (;;) {
            while (i < s.length && /\s/.test(s[i]))
                i++;
            if (s.startsWith('--', i)) {
                const nl = s.indexOf('\n', i);
                i = nl === -1 ? s.length : nl + 1;
            }
            else if (s.startsWith('/*', i)) {
                const end = s.indexOf('*/', i + 2);
                i = end === -1 ? s.length : end + 2;
            }
            else
                return i;
        }
    }
}
/** The first 200 characters of a statement, whitespace collapsed. */
function shortStatement(text) {
    const one = text.replace(/\s+/g, ' ').trim();
    return one.length > 200 ? `${one.slice(0, 199)}…` : one;
}
/**
 * Reads `-- slipway:...` comment lines. `-- slipway:no-transaction` marks a file that runs outside a
 * transaction; `-- slipway:ignore rule-a[,rule-b] reason` disables rules for the whole file. A directive is
 * a comment on its own line (so text inside string literals or function bodies rarely looks like one).
 */
function readDirectives(sql) {
    const out = { noTransaction: false, ignores: [] };
    if (!sql.includes('slipway:'))
        return out;
    const lines = sql.split('\n');
    for (let i = 0; i < lines.length; i++) {
        const m = /^\s*--\s*slipway:([a-z-]+)\b(.*)$/i.exec(lines[i]);
        if (!m)
            continue;
        const kind = m[1].toLowerCase();
        if (kind === 'no-transaction')
            out.noTransaction = true;
        else if (kind === 'ignore') {
            const rest = m[2].trim();
            const sp = rest.search(/\s/);
            const ids = sp === -1 ? rest : rest.slice(0, sp);
            const reason = sp === -1 ? '' : rest.slice(sp + 1).trim();
            out.ignores.push({
                rules: ids.split(',').map((r) => r.trim().toLowerCase()).filter(Boolean),
                reason,
                line: i + 1,
                text: lines[i].trim(),
            });
        }
    }
    return out;
}

;// CONCATENATED MODULE: ./src/migrate/lint/analyze.ts


function newSharedState() {
    return { columnTypes: new Map(), validatedNotNull: new Set(), pendingNotNull: new Map() };
}
const VOLATILE = new Set([
    'random', 'random_normal', 'gen_random_uuid', 'uuid_generate_v1', 'uuid_generate_v1mc', 'uuid_generate_v4',
    'uuidv4', 'uuidv7', 'clock_timestamp', 'timeofday', 'nextval', 'setval', 'txid_current', 'pg_current_xact_id',
    'gen_random_bytes', 'currval', 'lastval',
]);
/** Built-ins known to be STABLE or IMMUTABLE: a default using only these is not rewritten (PG11+). */
const NON_VOLATILE = new Set([
    'now', 'transaction_timestamp', 'statement_timestamp', 'current_setting', 'lower', 'upper', 'concat', 'concat_ws',
    'length', 'md5', 'to_char', 'to_json', 'to_jsonb', 'json_build_object', 'jsonb_build_object', 'json_build_array',
    'jsonb_build_array', 'make_date', 'make_timestamp', 'make_timestamptz', 'make_interval', 'date_trunc', 'abs',
    'round', 'trim', 'btrim', 'ltrim', 'rtrim', 'substring', 'substr', 'replace', 'format', 'array_fill', 'to_timestamp',
    'to_date', 'to_number', 'timezone', 'current_date', 'current_user', 'current_schema', 'inet', 'array',
    'jsonb_object', 'json_object', 'int4range', 'int8range', 'tstzrange', 'daterange', 'numrange', 'tsrange', 'point',
]);
const SERIAL_TYPES = new Set(['serial', 'serial4', 'bigserial', 'serial8', 'smallserial', 'serial2']);
class FileLinter {
    out = [];
    created = new Set();
    createdIndexes = new Map();
    notValidAdded = new Set();
    inExplicitTxn = false;
    lockTimeoutSet = false;
    lockTimeoutReported = false;
    current;
    src;
    file;
    opts;
    noTransaction;
    shared;
    constructor(src, file, opts, noTransaction, shared) {
        this.src = src;
        this.file = file;
        this.opts = opts;
        this.noTransaction = noTransaction;
        this.shared = shared;
    }
    run(stmts) {
        const sql = this.src.sql;
        for (const raw of stmts) {
            const type = Object.keys(raw.stmt)[0];
            const startByte = raw.stmt_location ?? 0;
            const start = this.src.skipTrivia(this.src.indexOfByte(startByte));
            const end = raw.stmt_len ? this.src.indexOfByte(startByte + raw.stmt_len) : sql.length;
            this.current = { node: raw.stmt[type], type, start, end, text: sql.slice(start, end) };
            const locks = this.check(this.current);
            if (locks && !this.opts.insideRunner && !this.lockTimeoutSet && !this.lockTimeoutReported) {
                this.lockTimeoutReported = true;
                this.report('missing-lock-timeout', undefined, 'This statement locks an existing table and no lock_timeout is set before it in this file: if a long transaction holds the table, the statement waits in the lock queue and every later query on the table waits behind it.', "Start the file with SET lock_timeout = '2s'; (SET LOCAL inside a transaction) and retry on timeout, or apply it with Slipway's migrate runner, which does both.");
            }
        }
    }
    // ---- reporting -------------------------------------------------------------------------------
    report(rule, byteLocation, why, fix) {
        const info = ruleInfo(rule);
        const index = byteLocation !== undefined && byteLocation >= 0 ? this.src.indexOfByte(byteLocation) : this.current.start;
        const pos = this.src.position(index);
        this.out.push({
            rule,
            severity: info.severity,
            file: this.file,
            line: pos.line,
            column: pos.column,
            statement: shortStatement(this.current.text),
            message: why,
            fix,
        });
    }
    // ---- helpers ---------------------------------------------------------------------------------
    exists(rel) {
        return !!rel && !this.created.has(rel.relname);
    }
    get inTransaction() {
        return !this.noTransaction || this.inExplicitTxn;
    }
    concurrentlyInTxn(what, location) {
        if (!this.inTransaction)
            return;
        const where = this.inExplicitTxn
            ? 'it is inside an explicit BEGIN ... COMMIT block'
            : 'the file runs in a transaction (it is not marked `-- slipway:no-transaction`)';
        this.report('concurrently-in-transaction', location, `${what} cannot run inside a transaction block and ${where}: PostgreSQL rejects it and the migration fails.`, `Move "${shortStatement(this.current.text).slice(0, 80)}" to its own migration file whose first line is \`-- slipway:no-transaction\`, with no BEGIN/COMMIT around it.`);
    }
    // ---- statements ------------------------------------------------------------------------------
    /** Applies the rules to one statement; returns true when it takes a lock on an existing table. */
    check(s) {
        const n = s.node;
        switch (s.type) {
            case 'TransactionStmt': {
                const k = String(n.kind);
                if (k === 'TRANS_STMT_BEGIN' || k === 'TRANS_STMT_START')
                    this.inExplicitTxn = true;
                else if (k === 'TRANS_STMT_COMMIT' || k === 'TRANS_STMT_ROLLBACK' || k === 'TRANS_STMT_PREPARE')
                    this.inExplicitTxn = false;
                return false;
            }
            case 'VariableSetStmt':
                if (String(n.name).toLowerCase() === 'lock_timeout')
                    this.lockTimeoutSet = n.kind === 'VAR_SET_VALUE' && !isZeroSetting(n.args?.[0]);
                return false;
            case 'SelectStmt':
                this.setConfigCall(n);
                if (n.intoClause?.rel)
                    this.created.add(n.intoClause.rel.relname);
                return false;
            case 'CreateStmt':
                return this.createTable(n);
            case 'CreateTableAsStmt':
                if (n.into?.rel)
                    this.created.add(n.into.rel.relname);
                return false;
            case 'AlterTableStmt':
                return this.alterTable(n);
            case 'IndexStmt':
                return this.createIndex(n);
            case 'DropStmt':
                return this.drop(n);
            case 'RenameStmt':
                return this.rename(n);
            case 'TruncateStmt':
                return this.truncate(n);
            case 'ReindexStmt':
                return this.reindex(n);
            case 'UpdateStmt':
            case 'DeleteStmt':
                this.wholeTable(s.type, n);
                return false;
            case 'CreateTrigStmt':
            case 'ClusterStmt':
                return this.exists(n.relation);
            case 'LockStmt':
                return (n.relations ?? []).some((r) => this.exists(r.RangeVar));
            case 'VacuumStmt':
                return (n.options ?? []).some((o) => o.DefElem?.defname === 'full');
            default:
                return false;
        }
    }
    setConfigCall(n) {
        for (const t of n.targetList ?? []) {
            const f = t.ResTarget?.val?.FuncCall;
            if (!f || funcName(f) !== 'set_config')
                continue;
            const [name, value] = f.args ?? [];
            if (String(constString(name) ?? '').toLowerCase() === 'lock_timeout')
                this.lockTimeoutSet = !isZeroSetting(value);
        }
    }
    createTable(n) {
        const table = n.relation.relname;
        let locks = false;
        for (const el of n.tableElts ?? []) {
            const col = el.ColumnDef;
            if (col) {
                this.shared.columnTypes.set(`${table}.${col.colname}`, typeInfo(col.typeName));
                for (const c of col.constraints ?? [])
                    if (c.Constraint?.contype === 'CONSTR_FOREIGN' && this.exists(c.Constraint.pktable))
                        locks = true;
            }
            const con = el.Constraint;
            if (con?.contype === 'CONSTR_FOREIGN' && this.exists(con.pktable))
                locks = true;
        }
        // CREATE TABLE ... PARTITION OF parent locks the parent.
        if (n.partbound)
            for (const p of n.inhRelations ?? [])
                if (this.exists(p.RangeVar))
                    locks = true;
        // CREATE TABLE IF NOT EXISTS may find the table already there (with rows): not exempt.
        if (!n.if_not_exists)
            this.created.add(table);
        return locks;
    }
    createIndex(n) {
        const table = n.relation?.relname;
        if (n.idxname)
            this.createdIndexes.set(n.idxname, table);
        const name = n.idxname ? ` ${quoteIdent(n.idxname)}` : '';
        if (n.concurrent) {
            this.concurrentlyInTxn('CREATE INDEX CONCURRENTLY');
            return false;
        }
        if (!this.exists(n.relation))
            return false;
        const unique = n.unique ? 'UNIQUE ' : '';
        this.report('create-index-non-concurrently', undefined, `CREATE ${unique}INDEX${name} on existing table ${quoteIdent(table)} blocks every write to the table until the index is built.`, `CREATE ${unique}INDEX CONCURRENTLY${name} ON ${quoteIdent(table)} ... in a migration file marked \`-- slipway:no-transaction\` (if it fails, drop the INVALID index and retry).`);
        return true;
    }
    drop(n) {
        const kind = n.removeType;
        const names = (n.objects ?? []).map((o) => lastName(o.List?.items ?? []));
        if (kind === 'OBJECT_TABLE') {
            const existing = names.filter((t) => !this.created.has(t));
            for (const t of existing) {
                this.report('drop-table', undefined, `DROP TABLE ${quoteIdent(t)} breaks the code still running (it reads this table) and destroys the data.`, `Contract step only: deploy code that no longer uses ${quoteIdent(t)} first, then drop it in a later migration marked \`-- slipway:ignore drop-table <why it is safe now>\` (consider renaming it aside first, to keep the data until you are sure).`);
            }
            return existing.length > 0;
        }
        if (kind === 'OBJECT_INDEX') {
            if (n.concurrent) {
                this.concurrentlyInTxn('DROP INDEX CONCURRENTLY');
                return false;
            }
            const existing = names.filter((i) => {
                const t = this.createdIndexes.get(i);
                return t === undefined || !this.created.has(t);
            });
            if (existing.length === 0)
                return false;
            this.report('drop-index-non-concurrently', undefined, `DROP INDEX ${existing.map(quoteIdent).join(', ')} takes an ACCESS EXCLUSIVE lock on the table: it waits behind every running query and blocks all queries on the table meanwhile.`, `DROP INDEX CONCURRENTLY ${existing.map(quoteIdent).join(', ')}; (one index per statement) in a migration file marked \`-- slipway:no-transaction\`.`);
            return true;
        }
        return false;
    }
    rename(n) {
        if (!this.exists(n.relation))
            return false;
        const table = quoteIdent(n.relation.relname);
        if (n.renameType === 'OBJECT_COLUMN' && (n.relationType === 'OBJECT_TABLE' || n.relationType === undefined)) {
            const from = quoteIdent(n.subname);
            const to = quoteIdent(n.newname);
            this.report('rename-column', undefined, `Renaming ${table}.${from} to ${to} breaks the code still running, which reads and writes ${from}.`, `Expand/contract: ALTER TABLE ${table} ADD COLUMN ${to} <type>; deploy code that writes both; backfill ${to} from ${from} in batches; switch reads to ${to}; drop ${from} in a later release.`);
        }
        else if (n.renameType === 'OBJECT_TABLE') {
            const to = quoteIdent(n.newname);
            this.report('rename-table', undefined, `Renaming ${table} to ${to} breaks the code still running, which uses ${table}.`, `In one transaction: ALTER TABLE ${table} RENAME TO ${to}; CREATE VIEW ${table} AS SELECT * FROM ${to}; (a simple view is updatable, so old code keeps working); drop the view once no deployed code uses ${table}.`);
        }
        return true;
    }
    truncate(n) {
        const rels = (n.relations ?? []).map((r) => r.RangeVar);
        const existing = rels.filter((r) => this.exists(r)).map((r) => quoteIdent(r.relname));
        if (existing.length === 0)
            return false;
        if (n.behavior === 'DROP_CASCADE') {
            this.report('truncate-cascade', undefined, `TRUNCATE ${existing.join(', ')} CASCADE also empties every table with a foreign key to ${existing.length > 1 ? 'them' : 'it'}, whichever those are at deploy time.`, `Name each table to empty explicitly (TRUNCATE a, b without CASCADE), or delete in batches.`);
        }
        else {
            this.report('truncate', undefined, `TRUNCATE ${existing.join(', ')} takes an ACCESS EXCLUSIVE lock and removes data the running code may still use.`, `Delete in batches outside the schema migration, or confirm with \`-- slipway:ignore truncate <reason>\`.`);
        }
        return true;
    }
    reindex(n) {
        const concurrent = (n.params ?? []).some((p) => p.DefElem?.defname === 'concurrently' && !isFalse(p.DefElem.arg));
        const rel = n.relation;
        const isIndex = n.kind === 'REINDEX_OBJECT_INDEX';
        if (rel) {
            const table = isIndex ? this.createdIndexes.get(rel.relname) : rel.relname;
            if (table !== undefined && this.created.has(table))
                return false;
        }
        const target = rel ? `${isIndex ? 'INDEX' : 'TABLE'} ${quoteIdent(rel.relname)}` : String(n.kind).replace('REINDEX_OBJECT_', '');
        if (concurrent) {
            if (this.opts.pgVersion < 12) {
                this.report('reindex-non-concurrently', undefined, `REINDEX CONCURRENTLY does not exist before PostgreSQL 12 (target: ${this.opts.pgVersion}).`, `Build a copy with CREATE INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY the old one, and rename the copy (no-transaction migration).`);
            }
            else
                this.concurrentlyInTxn('REINDEX CONCURRENTLY');
            return false;
        }
        const fix = this.opts.pgVersion >= 12
            ? `REINDEX ${target.startsWith('INDEX') || target.startsWith('TABLE') ? target.replace(' ', ' CONCURRENTLY ') : `${target} CONCURRENTLY`}; in a migration file marked \`-- slipway:no-transaction\`.`
            : `Before PostgreSQL 12: CREATE INDEX CONCURRENTLY a copy, DROP INDEX CONCURRENTLY the old one, rename the copy (no-transaction migration).`;
        this.report('reindex-non-concurrently', undefined, `REINDEX ${target} blocks writes to the table (and reads that use the index) for the whole rebuild.`, fix);
        return true;
    }
    wholeTable(type, n) {
        if (n.whereClause || !this.exists(n.relation))
            return;
        const t = quoteIdent(n.relation.relname);
        if (type === 'UpdateStmt') {
            this.report('update-without-where', undefined, `UPDATE ${t} without WHERE rewrites every row in one transaction, locking them all (the application's writes wait) until the migration commits.`, `Backfill in batches, each its own transaction: UPDATE ${t} SET ... WHERE id IN (SELECT id FROM ${t} WHERE <not yet done> LIMIT 5000); repeated until it updates 0 rows (a no-transaction migration or a background job).`);
        }
        else {
            this.report('delete-without-where', undefined, `DELETE FROM ${t} without WHERE deletes every row in one transaction, holding row locks until commit.`, `Delete in batches, each its own transaction: DELETE FROM ${t} WHERE id IN (SELECT id FROM ${t} LIMIT 5000); repeated until 0 rows (or TRUNCATE if that is really intended, with an ignore comment).`);
        }
    }
    // ---- ALTER TABLE -----------------------------------------------------------------------------
    alterTable(n) {
        const rel = n.relation;
        const table = rel?.relname;
        const existing = this.exists(rel);
        if (n.objtype && n.objtype !== 'OBJECT_TABLE')
            return existing;
        for (const c of n.cmds ?? []) {
            const cmd = c.AlterTableCmd;
            if (!cmd)
                continue;
            if (cmd.subtype === 'AT_DetachPartition' && cmd.def?.PartitionCmd?.concurrent)
                this.concurrentlyInTxn('DETACH PARTITION ... CONCURRENTLY');
            if (!existing) {
                this.trackOnly(table, cmd);
                continue;
            }
            switch (cmd.subtype) {
                case 'AT_AddColumn':
                    this.addColumn(table, cmd.def.ColumnDef);
                    break;
                case 'AT_AlterColumnType':
                    this.alterType(table, cmd.name, cmd.def.ColumnDef);
                    break;
                case 'AT_SetNotNull':
                    this.setNotNull(table, cmd.name);
                    break;
                case 'AT_DropColumn':
                    this.report('drop-column', undefined, `DROP COLUMN ${quoteIdent(table)}.${quoteIdent(cmd.name)} breaks the code still running if it reads or writes the column.`, `Contract step only: deploy code that no longer uses ${quoteIdent(cmd.name)} first (ORMs: mark it ignored), then drop it in a later migration marked \`-- slipway:ignore drop-column <why it is unused now>\`.`);
                    break;
                case 'AT_AddConstraint':
                    this.addConstraint(table, cmd.def.Constraint);
                    break;
                case 'AT_ValidateConstraint':
                    this.validate(table, cmd.name);
                    break;
                default:
                    break;
            }
        }
        return existing;
    }
    /** On a table created in this file: no rule applies, but remember column types and NOT NULL checks. */
    trackOnly(table, cmd) {
        if (cmd.subtype === 'AT_AddColumn')
            this.shared.columnTypes.set(`${table}.${cmd.def.ColumnDef.colname}`, typeInfo(cmd.def.ColumnDef.typeName));
        if (cmd.subtype === 'AT_AlterColumnType')
            this.shared.columnTypes.set(`${table}.${cmd.name}`, typeInfo(cmd.def.ColumnDef.typeName));
    }
    addColumn(table, col) {
        const t = quoteIdent(table);
        const name = quoteIdent(col.colname);
        const info = typeInfo(col.typeName);
        const typeText = formatType(info);
        this.shared.columnTypes.set(`${table}.${col.colname}`, info);
        const cons = (col.constraints ?? []).map((c) => c.Constraint).filter(Boolean);
        const def = cons.find((c) => c.contype === 'CONSTR_DEFAULT' && !isNullConst(c.raw_expr));
        const notNull = cons.some((c) => c.contype === 'CONSTR_NOTNULL' || c.contype === 'CONSTR_PRIMARY');
        const identity = cons.some((c) => c.contype === 'CONSTR_IDENTITY');
        const serial = SERIAL_TYPES.has(info.name);
        const generated = cons.find((c) => c.contype === 'CONSTR_GENERATED');
        const loc = col.location;
        if (serial || identity) {
            this.report('add-serial-column', loc, `Adding ${serial ? `a ${info.name}` : 'an identity'} column ${name} to existing table ${t} fills every existing row from a sequence: a full table rewrite under an ACCESS EXCLUSIVE lock.`, `ALTER TABLE ${t} ADD COLUMN ${name} bigint; CREATE SEQUENCE ${quoteIdent(`${table}_${col.colname}_seq`)} OWNED BY ${t}.${name}; ALTER TABLE ${t} ALTER COLUMN ${name} SET DEFAULT nextval('${table}_${col.colname}_seq'); backfill old rows in batches; then enforce NOT NULL through a validated CHECK.`);
        }
        else if (generated) {
            const virtual = generated.generated_kind === 'v' && this.opts.pgVersion >= 18;
            if (!virtual) {
                this.report('add-stored-generated-column', loc, `Adding the stored generated column ${name} to existing table ${t} computes it for every row: a full table rewrite under an ACCESS EXCLUSIVE lock.`, this.opts.pgVersion >= 18
                    ? `Use a VIRTUAL generated column (PostgreSQL 18+: GENERATED ALWAYS AS (...) VIRTUAL, no rewrite), or add a plain column ${name} kept current by a trigger and backfilled in batches.`
                    : `Add a plain column ${name} ${typeText}, keep it current with a BEFORE INSERT OR UPDATE trigger, and backfill old rows in batches.`);
            }
        }
        else if (def && this.opts.pgVersion < 11) {
            this.report('add-column-default-before-pg11', def.location, `On PostgreSQL ${this.opts.pgVersion}, ADD COLUMN ${name} with a DEFAULT rewrites all of ${t} under an ACCESS EXCLUSIVE lock (PostgreSQL 11+ stores a constant default without a rewrite).`, `ALTER TABLE ${t} ADD COLUMN ${name} ${typeText}; ALTER TABLE ${t} ALTER COLUMN ${name} SET DEFAULT <default>; then backfill old rows in batches.`);
        }
        else if (def) {
            const v = volatility(def.raw_expr);
            if (v.kind !== 'stable') {
                const what = v.kind === 'volatile' ? `the volatile function ${v.name}()` : `the function ${v.name}(), which may be volatile (not a known STABLE/IMMUTABLE built-in)`;
                this.report('add-column-volatile-default', def.location, `ADD COLUMN ${name} with a DEFAULT using ${what} evaluates it for every existing row: a full rewrite of ${t} under an ACCESS EXCLUSIVE lock.`, `ALTER TABLE ${t} ADD COLUMN ${name} ${typeText}; ALTER TABLE ${t} ALTER COLUMN ${name} SET DEFAULT ${v.name}(); (new rows only, no rewrite) then backfill old rows in batches${notNull ? ', and add NOT NULL through a validated CHECK' : ''}.`);
            }
        }
        if (notNull && !def && !serial && !identity && !generated) {
            this.report('add-column-not-null-without-default', loc, `ADD COLUMN ${name} NOT NULL without a DEFAULT fails on a table with rows and breaks old code that inserts into ${t} without it.`, `Add it nullable (ALTER TABLE ${t} ADD COLUMN ${name} ${typeText};), or with a constant DEFAULT${this.opts.pgVersion >= 11 ? ' (no rewrite on PostgreSQL 11+)' : ''}; backfill in batches; then ADD CONSTRAINT ... CHECK (${name} IS NOT NULL) NOT VALID, VALIDATE it, and SET NOT NULL.`);
        }
        for (const c of cons) {
            if (c.contype === 'CONSTR_FOREIGN' && !c.skip_validation) {
                this.report('add-foreign-key-without-not-valid', c.location, `The REFERENCES ${quoteIdent(c.pktable?.relname ?? '?')} on new column ${name} is validated at once, scanning ${t} while blocking writes to both tables.`, `Add the column without REFERENCES, then ALTER TABLE ${t} ADD CONSTRAINT ${quoteIdent(`${table}_${col.colname}_fkey`)} FOREIGN KEY (${name}) REFERENCES ${quoteIdent(c.pktable?.relname ?? '?')} NOT VALID; and VALIDATE CONSTRAINT in a separate migration.`);
            }
            else if (c.contype === 'CONSTR_CHECK' && !c.skip_validation) {
                this.report('add-check-without-not-valid', c.location, `The CHECK on new column ${name} is validated against every row of ${t} under an ACCESS EXCLUSIVE lock.`, `Add the column without the CHECK, then ALTER TABLE ${t} ADD CONSTRAINT ${quoteIdent(`${table}_${col.colname}_check`)} CHECK (...) NOT VALID; and VALIDATE CONSTRAINT in a separate migration.`);
            }
            else if (c.contype === 'CONSTR_UNIQUE' || c.contype === 'CONSTR_PRIMARY') {
                const kind = c.contype === 'CONSTR_PRIMARY' ? 'PRIMARY KEY' : 'UNIQUE';
                this.report('add-unique-constraint', c.location, `A ${kind} on new column ${name} builds its index under an ACCESS EXCLUSIVE lock on ${t}: no reads or writes until it finishes.`, `Add the column plainly; CREATE UNIQUE INDEX CONCURRENTLY ${quoteIdent(`${table}_${col.colname}_key`)} ON ${t} (${name}); (no-transaction migration); then ALTER TABLE ${t} ADD CONSTRAINT ${quoteIdent(`${table}_${col.colname}_key`)} ${kind} USING INDEX ${quoteIdent(`${table}_${col.colname}_key`)};`);
            }
        }
    }
    alterType(table, column, def) {
        const key = `${table}.${column}`;
        const to = typeInfo(def.typeName);
        const from = this.shared.columnTypes.get(key);
        const using = !!def.raw_default;
        this.shared.columnTypes.set(key, to);
        if (!using && binaryCoercible(from, to))
            return;
        const t = quoteIdent(table);
        const c = quoteIdent(column);
        const fromText = from ? ` from ${formatType(from)}` : '';
        this.report('change-column-type', def.location, `Changing ${t}.${c}${fromText} to ${formatType(to)}${using ? ' with USING' : ''} rewrites the table and its indexes under an ACCESS EXCLUSIVE lock${from ? '' : ' (the old type is not known from earlier migrations, so it cannot be shown to be binary-coercible)'}, and old code may not handle the new type.`, `Expand/contract: ALTER TABLE ${t} ADD COLUMN ${quoteIdent(`${column}_new`)} ${formatType(to)}; write both columns from the code; backfill in batches; switch reads; drop ${c} in a later release. (Metadata-only changes such as varchar→text or varchar(n)→varchar(m>n) are not flagged.)`);
    }
    setNotNull(table, column) {
        const key = `${table}.${column}`;
        if (this.opts.pgVersion >= 12 && this.shared.validatedNotNull.has(key))
            return;
        const t = quoteIdent(table);
        const c = quoteIdent(column);
        const con = quoteIdent(`${table}_${column}_not_null`);
        if (this.opts.pgVersion >= 12) {
            this.report('set-not-null', undefined, `SET NOT NULL on ${t}.${c} scans the whole table under an ACCESS EXCLUSIVE lock, because no validated CHECK (${c} IS NOT NULL) precedes it.`, `Migration 1: ALTER TABLE ${t} ADD CONSTRAINT ${con} CHECK (${c} IS NOT NULL) NOT VALID; migration 2: ALTER TABLE ${t} VALIDATE CONSTRAINT ${con}; migration 3: ALTER TABLE ${t} ALTER COLUMN ${c} SET NOT NULL; ALTER TABLE ${t} DROP CONSTRAINT ${con}; (PostgreSQL 12+ skips the scan).`);
        }
        else {
            this.report('set-not-null', undefined, `SET NOT NULL on ${t}.${c} scans the whole table under an ACCESS EXCLUSIVE lock, and before PostgreSQL 12 a validated CHECK does not let it skip the scan.`, `On PostgreSQL ${this.opts.pgVersion}: enforce it with ALTER TABLE ${t} ADD CONSTRAINT ${con} CHECK (${c} IS NOT NULL) NOT VALID; then VALIDATE CONSTRAINT ${con} in a separate migration, and leave the column nullable (or SET NOT NULL in a maintenance window).`);
        }
    }
    addConstraint(table, con) {
        const t = quoteIdent(table);
        const name = con.conname ? quoteIdent(con.conname) : undefined;
        const shown = name ?? '<name>';
        const loc = con.location;
        switch (con.contype) {
            case 'CONSTR_FOREIGN':
                if (con.skip_validation) {
                    if (con.conname)
                        this.notValidAdded.add(`${table}.${con.conname}`);
                    return;
                }
                this.report('add-foreign-key-without-not-valid', loc, `Adding foreign key ${name ?? ''} on ${t} validates every row at once, scanning ${t} while blocking writes to ${t} and ${quoteIdent(con.pktable?.relname ?? '?')}.`.replace('  ', ' '), `ALTER TABLE ${t} ADD CONSTRAINT ${shown} FOREIGN KEY (...) REFERENCES ${quoteIdent(con.pktable?.relname ?? '?')} (...) NOT VALID; then, in a separate migration, ALTER TABLE ${t} VALIDATE CONSTRAINT ${shown}; (it allows reads and writes).`);
                return;
            case 'CONSTR_CHECK': {
                const col = notNullColumn(con.raw_expr);
                if (con.skip_validation) {
                    if (con.conname) {
                        this.notValidAdded.add(`${table}.${con.conname}`);
                        if (col)
                            this.shared.pendingNotNull.set(`${table}.${con.conname}`, col);
                    }
                    return;
                }
                if (col)
                    this.shared.validatedNotNull.add(`${table}.${col}`);
                this.report('add-check-without-not-valid', loc, `Adding CHECK constraint ${name ?? ''} on ${t} validates every row under an ACCESS EXCLUSIVE lock.`.replace('  ', ' '), `ALTER TABLE ${t} ADD CONSTRAINT ${shown} CHECK (...) NOT VALID; then, in a separate migration, ALTER TABLE ${t} VALIDATE CONSTRAINT ${shown};`);
                return;
            }
            case 'CONSTR_UNIQUE':
            case 'CONSTR_PRIMARY':
            case 'CONSTR_EXCLUSION': {
                if (con.indexname)
                    return;
                const kind = con.contype === 'CONSTR_PRIMARY' ? 'PRIMARY KEY' : con.contype === 'CONSTR_UNIQUE' ? 'UNIQUE' : 'EXCLUDE';
                const cols = (con.keys ?? []).map((k) => quoteIdent(k.String?.sval ?? '?')).join(', ') || '...';
                const first = con.keys?.[0]?.String?.sval;
                const idx = quoteIdent(con.conname ?? (kind === 'PRIMARY KEY' ? `${table}_pkey` : `${table}_${first ? `${first}_` : ''}key`));
                this.report('add-unique-constraint', loc, `Adding a ${kind} constraint to ${t} builds its index in place under an ACCESS EXCLUSIVE lock: no reads or writes until it finishes.`, kind === 'EXCLUDE'
                    ? `There is no USING INDEX form for EXCLUDE: build it in a maintenance window, or enforce the rule another way.`
                    : `CREATE UNIQUE INDEX CONCURRENTLY ${idx} ON ${t} (${cols}); in a no-transaction migration; then ALTER TABLE ${t} ADD CONSTRAINT ${idx} ${kind} USING INDEX ${idx};${kind === 'PRIMARY KEY' ? ' (the columns must already be NOT NULL, else this scans the table)' : ''}`);
                return;
            }
            default:
                return;
        }
    }
    validate(table, conname) {
        const key = `${table}.${conname}`;
        const col = this.shared.pendingNotNull.get(key);
        if (col) {
            this.shared.validatedNotNull.add(`${table}.${col}`);
            this.shared.pendingNotNull.delete(key);
        }
        if (this.notValidAdded.has(key) && this.inTransaction) {
            this.report('validate-in-same-transaction', undefined, `VALIDATE CONSTRAINT ${quoteIdent(conname)} runs in the same transaction that added it NOT VALID, so the stronger lock taken by ADD CONSTRAINT is still held during the validation scan.`, `Move ALTER TABLE ${quoteIdent(table)} VALIDATE CONSTRAINT ${quoteIdent(conname)}; to a later migration file.`);
        }
    }
}
// ---- tree helpers ----------------------------------------------------------------------------------
function lastName(items) {
    const last = items[items.length - 1];
    return last?.String?.sval ?? '';
}
function funcName(f) {
    return lastName(f.funcname ?? []).toLowerCase();
}
function constString(n) {
    const c = n?.A_Const ?? n?.TypeCast?.arg?.A_Const;
    if (!c)
        return undefined;
    if (c.sval)
        return c.sval.sval ?? '';
    if (c.ival)
        return String(c.ival.ival ?? 0);
    return undefined;
}
function isZeroSetting(n) {
    const v = constString(n);
    return v === undefined ? false : /^\s*0+\s*(ms|s|min)?\s*$/i.test(v);
}
function isFalse(n) {
    const c = n?.A_Const;
    if (c?.boolval)
        return c.boolval.boolval !== true;
    const s = n?.String?.sval ?? constString(n);
    return s !== undefined && /^(false|off|0)$/i.test(s);
}
function isNullConst(n) {
    return !!n?.A_Const?.isnull;
}
function notNullColumn(expr) {
    const t = expr?.NullTest;
    if (!t || t.nulltesttype !== 'IS_NOT_NULL')
        return undefined;
    const fields = t.arg?.ColumnRef?.fields ?? [];
    return fields.length ? lastName(fields) : undefined;
}
/** The worst function call found in a default expression. */
function volatility(expr) {
    let unknown;
    let volatile;
    const walk = (n) => {
        if (volatile || n === null || typeof n !== 'object')
            return;
        if (Array.isArray(n)) {
            for (const x of n)
                walk(x);
            return;
        }
        const o = n;
        if (o.FuncCall) {
            const name = funcName(o.FuncCall);
            if (VOLATILE.has(name))
                volatile = name;
            else if (!NON_VOLATILE.has(name))
                unknown ??= name;
        }
        for (const v of Object.values(o))
            walk(v);
    };
    walk(expr);
    if (volatile)
        return { kind: 'volatile', name: volatile };
    if (unknown)
        return { kind: 'unknown', name: unknown };
    return { kind: 'stable' };
}
function typeInfo(t) {
    const name = lastName(t?.names ?? []).toLowerCase();
    const mods = (t?.typmods ?? []).map((m) => Number(m.A_Const?.ival?.ival ?? 0));
    return { name: ALIASES[name] ?? name, mods, array: Array.isArray(t?.arrayBounds) && t.arrayBounds.length > 0 };
}
const ALIASES = { decimal: 'numeric', 'character varying': 'varchar', bpchar: 'char', int: 'int4', integer: 'int4', bigint: 'int8', smallint: 'int2' };
const DISPLAY = { int4: 'integer', int8: 'bigint', int2: 'smallint', bool: 'boolean', float8: 'double precision', float4: 'real', char: 'character' };
function formatType(t) {
    return `${DISPLAY[t.name] ?? t.name}${t.mods.length ? `(${t.mods.join(',')})` : ''}${t.array ? '[]' : ''}`;
}
/**
 * Whether PostgreSQL changes the type without rewriting the table. With the old type unknown, only
 * text and unbounded varchar are assumed safe (the usual varchar(n)→text widening; no USING).
 */
function binaryCoercible(from, to) {
    const unbounded = (t) => (t.name === 'text' || (t.name === 'varchar' && t.mods.length === 0)) && !t.array;
    if (!from)
        return unbounded(to);
    if (from.array !== to.array)
        return false;
    if (from.name === to.name && from.mods.join() === to.mods.join())
        return true;
    if ((from.name === 'varchar' || from.name === 'text') && unbounded(to))
        return true;
    if (from.name === 'varchar' && to.name === 'varchar')
        return to.mods.length === 0 || (from.mods.length > 0 && to.mods[0] >= from.mods[0]);
    if ((from.name === 'varbit' && to.name === 'varbit'))
        return to.mods.length === 0 || (from.mods.length > 0 && to.mods[0] >= from.mods[0]);
    if (from.name === 'numeric' && to.name === 'numeric') {
        if (to.mods.length === 0)
            return true;
        if (from.mods.length === 0)
            return false;
        return to.mods[0] >= from.mods[0] && (to.mods[1] ?? 0) === (from.mods[1] ?? 0);
    }
    if (from.name === 'cidr' && to.name === 'inet')
        return true;
    return false;
}
function quoteIdent(name) {
    return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

// EXTERNAL MODULE: ./src/migrate/lint/parser.ts
var parser = __webpack_require__(7964);
;// CONCATENATED MODULE: ./src/migrate/lint/index.ts
/**
 * The expand/contract migration linter: parses SQL with PostgreSQL's own parser and flags statements that
 * lock or rewrite tables, or break the code still running, each with the safe rewrite.
 *
 *   const violations = await lintFiles([{ path: 'migrations/0002_x.sql', sql }], { pgVersion: 15, insideRunner: true });
 */






/** Rules an ignore comment or configuration cannot switch off. */
const ALWAYS_ON = new Set(['syntax-error', 'ignore-without-reason']);
/** Lints one file. Syntax errors come back as a `syntax-error` violation, never as a thrown error. */
async function lintSql(sql, opts) {
    const pg = await (0,parser/* loadParser */.qd)();
    return lintOne(pg, sql, opts.file, opts, newSharedState());
}
/**
 * Lints files in the order given (the order they are applied): later files see the column types and
 * validated NOT NULL checks of earlier ones. Violations are sorted by file order, then line.
 */
async function lintFiles(files, opts) {
    const pg = await (0,parser/* loadParser */.qd)();
    const shared = newSharedState();
    const out = [];
    for (const f of files)
        out.push(...lintOne(pg, f.sql, f.path, opts, shared));
    return out;
}
function lintOne(pg, sql, file, opts, shared) {
    const options = { ...opts, pgVersion: opts.pgVersion || 15 };
    const src = new SourceText(sql);
    const directives = readDirectives(sql);
    const noTransaction = !!options.noTransaction || directives.noTransaction;
    const found = [];
    const ignored = new Set();
    for (const d of directives.ignores) {
        const at = { file, line: d.line, column: 1, statement: shortStatement(d.text) };
        if (d.rules.length === 0 || !d.reason) {
            const fix = `-- slipway:ignore ${d.rules[0] ?? 'rule-id'} <why this is safe here>`;
            found.push({ rule: 'ignore-without-reason', severity: ruleInfo('ignore-without-reason').severity, ...at,
                message: `"${d.text}" ${d.rules.length ? 'gives no reason' : 'names no rule'}: an ignored rule needs a written reason reviewers can check, so nothing is ignored.`, fix });
            continue;
        }
        for (const r of d.rules) {
            if (isRuleId(r))
                ignored.add(r);
            else {
                const fix = 'Use one of the rule ids listed in docs/migrate-lint.md.';
                found.push({ rule: 'ignore-unknown-rule', severity: ruleInfo('ignore-unknown-rule').severity, ...at,
                    message: `"${r}" is not a lint rule, so this comment ignores nothing.`, fix });
            }
        }
    }
    const parsed = (0,parser/* parseWith */.Ku)(pg, sql);
    if (!parsed.ok) {
        const index = src.indexOfCodePoint(parsed.position);
        const pos = src.position(index);
        const lineStart = sql.lastIndexOf('\n', index - 1) + 1;
        const lineEnd = sql.indexOf('\n', index);
        const fix = 'Fix the SQL at this line; PostgreSQL would reject the migration.';
        found.push({ rule: 'syntax-error', severity: 'error', file, line: pos.line, column: pos.column,
            statement: shortStatement(sql.slice(lineStart, lineEnd === -1 ? sql.length : lineEnd)),
            message: `SQL syntax error: ${parsed.message}.`, fix });
    }
    else {
        const linter = new FileLinter(src, file, options, noTransaction, shared);
        linter.run(parsed.stmts);
        found.push(...linter.out);
    }
    const disabled = new Set(options.disabled ?? []);
    return found
        .filter((v) => ALWAYS_ON.has(v.rule) || (!ignored.has(v.rule) && !disabled.has(v.rule)))
        .sort((a, b) => a.line - b.line || a.column - b.column);
}


/***/ })

};

//# sourceMappingURL=458.index.js.map