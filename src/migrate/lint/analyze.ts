/**
 * The rules, applied to one parsed file. Each check reads the PostgreSQL parse tree (libpg_query's JSON
 * form) and reports a violation with the safe rewrite, using the real table and column names.
 */
import type { RawStmt } from './parser.ts';
import { ruleInfo } from './rules.ts';
import { shortStatement, type SourceText } from './source.ts';

type Node = Record<string, any>;

export interface Violation {
  rule: string;
  severity: 'error' | 'warning';
  file: string;
  line: number;
  column: number;
  /** The statement's first 200 characters. */
  statement: string;
  /** What is wrong and why it hurts the running application (the rewrite is in `fix`). */
  message: string;
  /** The safe rewrite, with the statement's real table and column names. Show it with the message. */
  fix: string;
}

export interface LintOptions {
  /** PostgreSQL major version of the target server (default 15). */
  pgVersion: number;
  /** Rule ids disabled by configuration. */
  disabled?: string[];
  /** True when Slipway's runner applies the file (it sets lock_timeout itself). */
  insideRunner?: boolean;
  /** The file runs outside a transaction (marked `-- slipway:no-transaction`). */
  noTransaction?: boolean;
}

/** What earlier files of the same run told us (column types, validated NOT NULL checks). */
export interface SharedState {
  columnTypes: Map<string, TypeInfo>;
  validatedNotNull: Set<string>;
  /** `table.constraint` → column, for CHECK (col IS NOT NULL) NOT VALID not yet validated. */
  pendingNotNull: Map<string, string>;
}

export function newSharedState(): SharedState {
  return { columnTypes: new Map(), validatedNotNull: new Set(), pendingNotNull: new Map() };
}

interface TypeInfo {
  name: string;
  mods: number[];
  array: boolean;
}

interface Stmt {
  node: Node;
  type: string;
  start: number; // UTF-16 index
  end: number;
  text: string;
}

const VOLATILE = new Set([
  'random',
  'random_normal',
  'gen_random_uuid',
  'uuid_generate_v1',
  'uuid_generate_v1mc',
  'uuid_generate_v4',
  'uuidv4',
  'uuidv7',
  'clock_timestamp',
  'timeofday',
  'nextval',
  'setval',
  'txid_current',
  'pg_current_xact_id',
  'gen_random_bytes',
  'currval',
  'lastval',
]);
/** Built-ins known to be STABLE or IMMUTABLE: a default using only these is not rewritten (PG11+). */
const NON_VOLATILE = new Set([
  'now',
  'transaction_timestamp',
  'statement_timestamp',
  'current_setting',
  'lower',
  'upper',
  'concat',
  'concat_ws',
  'length',
  'md5',
  'to_char',
  'to_json',
  'to_jsonb',
  'json_build_object',
  'jsonb_build_object',
  'json_build_array',
  'jsonb_build_array',
  'make_date',
  'make_timestamp',
  'make_timestamptz',
  'make_interval',
  'date_trunc',
  'abs',
  'round',
  'trim',
  'btrim',
  'ltrim',
  'rtrim',
  'substring',
  'substr',
  'replace',
  'format',
  'array_fill',
  'to_timestamp',
  'to_date',
  'to_number',
  'timezone',
  'current_date',
  'current_user',
  'current_schema',
  'inet',
  'array',
  'jsonb_object',
  'json_object',
  'int4range',
  'int8range',
  'tstzrange',
  'daterange',
  'numrange',
  'tsrange',
  'point',
]);
const SERIAL_TYPES = new Set(['serial', 'serial4', 'bigserial', 'serial8', 'smallserial', 'serial2']);

export class FileLinter {
  readonly out: Violation[] = [];
  private readonly created = new Set<string>();
  private readonly createdIndexes = new Map<string, string>();
  private readonly notValidAdded = new Set<string>();
  private inExplicitTxn = false;
  private lockTimeoutSet = false;
  private lockTimeoutReported = false;
  private current!: Stmt;
  private readonly src: SourceText;
  private readonly file: string;
  private readonly opts: LintOptions;
  private readonly noTransaction: boolean;
  private readonly shared: SharedState;

  constructor(src: SourceText, file: string, opts: LintOptions, noTransaction: boolean, shared: SharedState) {
    this.src = src;
    this.file = file;
    this.opts = opts;
    this.noTransaction = noTransaction;
    this.shared = shared;
  }

  run(stmts: RawStmt[]): void {
    const sql = this.src.sql;
    for (const raw of stmts) {
      const type = Object.keys(raw.stmt)[0]!;
      const startByte = raw.stmt_location ?? 0;
      const start = this.src.skipTrivia(this.src.indexOfByte(startByte));
      const end = raw.stmt_len ? this.src.indexOfByte(startByte + raw.stmt_len) : sql.length;
      this.current = { node: raw.stmt[type] as Node, type, start, end, text: sql.slice(start, end) };
      const locks = this.check(this.current);
      if (locks && !this.opts.insideRunner && !this.lockTimeoutSet && !this.lockTimeoutReported) {
        this.lockTimeoutReported = true;
        this.report(
          'missing-lock-timeout',
          undefined,
          'This statement locks an existing table and no lock_timeout is set before it in this file: if a long transaction holds the table, the statement waits in the lock queue and every later query on the table waits behind it.',
          "Start the file with SET lock_timeout = '2s'; (SET LOCAL inside a transaction) and retry on timeout, or apply it with Slipway's migrate runner, which does both.",
        );
      }
    }
  }

  // ---- reporting -------------------------------------------------------------------------------

  report(rule: string, byteLocation: number | undefined, why: string, fix: string): void {
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

  private exists(rel: Node | undefined): boolean {
    return !!rel && !this.created.has(rel.relname);
  }

  private get inTransaction(): boolean {
    return !this.noTransaction || this.inExplicitTxn;
  }

  private concurrentlyInTxn(what: string, location?: number): void {
    if (!this.inTransaction) return;
    const where = this.inExplicitTxn
      ? 'it is inside an explicit BEGIN ... COMMIT block'
      : 'the file runs in a transaction (it is not marked `-- slipway:no-transaction`)';
    this.report(
      'concurrently-in-transaction',
      location,
      `${what} cannot run inside a transaction block and ${where}: PostgreSQL rejects it and the migration fails.`,
      `Move "${shortStatement(this.current.text).slice(0, 80)}" to its own migration file whose first line is \`-- slipway:no-transaction\`, with no BEGIN/COMMIT around it.`,
    );
  }

  // ---- statements ------------------------------------------------------------------------------

  /** Applies the rules to one statement; returns true when it takes a lock on an existing table. */
  private check(s: Stmt): boolean {
    const n = s.node;
    switch (s.type) {
      case 'TransactionStmt': {
        const k = String(n.kind);
        if (k === 'TRANS_STMT_BEGIN' || k === 'TRANS_STMT_START') this.inExplicitTxn = true;
        else if (k === 'TRANS_STMT_COMMIT' || k === 'TRANS_STMT_ROLLBACK' || k === 'TRANS_STMT_PREPARE') this.inExplicitTxn = false;
        return false;
      }
      case 'VariableSetStmt':
        if (String(n.name).toLowerCase() === 'lock_timeout') this.lockTimeoutSet = n.kind === 'VAR_SET_VALUE' && !isZeroSetting(n.args?.[0]);
        return false;
      case 'SelectStmt':
        this.setConfigCall(n);
        if (n.intoClause?.rel) this.created.add(n.intoClause.rel.relname);
        return false;
      case 'CreateStmt':
        return this.createTable(n);
      case 'CreateTableAsStmt':
        if (n.into?.rel) this.created.add(n.into.rel.relname);
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
        return (n.relations ?? []).some((r: Node) => this.exists(r.RangeVar));
      case 'VacuumStmt':
        return (n.options ?? []).some((o: Node) => o.DefElem?.defname === 'full');
      default:
        return false;
    }
  }

  private setConfigCall(n: Node): void {
    for (const t of n.targetList ?? []) {
      const f = t.ResTarget?.val?.FuncCall;
      if (!f || funcName(f) !== 'set_config') continue;
      const [name, value] = f.args ?? [];
      if (String(constString(name) ?? '').toLowerCase() === 'lock_timeout') this.lockTimeoutSet = !isZeroSetting(value);
    }
  }

  private createTable(n: Node): boolean {
    const table = n.relation.relname as string;
    let locks = false;
    for (const el of n.tableElts ?? []) {
      const col = el.ColumnDef;
      if (col) {
        this.shared.columnTypes.set(`${table}.${col.colname}`, typeInfo(col.typeName));
        for (const c of col.constraints ?? []) if (c.Constraint?.contype === 'CONSTR_FOREIGN' && this.exists(c.Constraint.pktable)) locks = true;
      }
      const con = el.Constraint;
      if (con?.contype === 'CONSTR_FOREIGN' && this.exists(con.pktable)) locks = true;
    }
    // CREATE TABLE ... PARTITION OF parent locks the parent.
    if (n.partbound) for (const p of n.inhRelations ?? []) if (this.exists(p.RangeVar)) locks = true;
    // CREATE TABLE IF NOT EXISTS may find the table already there (with rows): not exempt.
    if (!n.if_not_exists) this.created.add(table);
    return locks;
  }

  private createIndex(n: Node): boolean {
    const table = n.relation?.relname as string;
    if (n.idxname) this.createdIndexes.set(n.idxname, table);
    const name = n.idxname ? ` ${quoteIdent(n.idxname)}` : '';
    if (n.concurrent) {
      this.concurrentlyInTxn('CREATE INDEX CONCURRENTLY');
      return false;
    }
    if (!this.exists(n.relation)) return false;
    const unique = n.unique ? 'UNIQUE ' : '';
    this.report(
      'create-index-non-concurrently',
      undefined,
      `CREATE ${unique}INDEX${name} on existing table ${quoteIdent(table)} blocks every write to the table until the index is built.`,
      `CREATE ${unique}INDEX CONCURRENTLY${name} ON ${quoteIdent(table)} ... in a migration file marked \`-- slipway:no-transaction\` (if it fails, drop the INVALID index and retry).`,
    );
    return true;
  }

  private drop(n: Node): boolean {
    const kind = n.removeType as string;
    const names: string[] = (n.objects ?? []).map((o: Node) => lastName(o.List?.items ?? []));
    if (kind === 'OBJECT_TABLE') {
      const existing = names.filter((t) => !this.created.has(t));
      for (const t of existing) {
        this.report(
          'drop-table',
          undefined,
          `DROP TABLE ${quoteIdent(t)} breaks the code still running (it reads this table) and destroys the data.`,
          `Contract step only: deploy code that no longer uses ${quoteIdent(t)} first, then drop it in a later migration marked \`-- slipway:ignore drop-table <why it is safe now>\` (consider renaming it aside first, to keep the data until you are sure).`,
        );
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
      if (existing.length === 0) return false;
      this.report(
        'drop-index-non-concurrently',
        undefined,
        `DROP INDEX ${existing.map(quoteIdent).join(', ')} takes an ACCESS EXCLUSIVE lock on the table: it waits behind every running query and blocks all queries on the table meanwhile.`,
        `DROP INDEX CONCURRENTLY ${existing.map(quoteIdent).join(', ')}; (one index per statement) in a migration file marked \`-- slipway:no-transaction\`.`,
      );
      return true;
    }
    return false;
  }

  private rename(n: Node): boolean {
    if (!this.exists(n.relation)) return false;
    const table = quoteIdent(n.relation.relname);
    if (n.renameType === 'OBJECT_COLUMN' && (n.relationType === 'OBJECT_TABLE' || n.relationType === undefined)) {
      const from = quoteIdent(n.subname);
      const to = quoteIdent(n.newname);
      this.report(
        'rename-column',
        undefined,
        `Renaming ${table}.${from} to ${to} breaks the code still running, which reads and writes ${from}.`,
        `Expand/contract: ALTER TABLE ${table} ADD COLUMN ${to} <type>; deploy code that writes both; backfill ${to} from ${from} in batches; switch reads to ${to}; drop ${from} in a later release.`,
      );
    } else if (n.renameType === 'OBJECT_TABLE') {
      const to = quoteIdent(n.newname);
      this.report(
        'rename-table',
        undefined,
        `Renaming ${table} to ${to} breaks the code still running, which uses ${table}.`,
        `In one transaction: ALTER TABLE ${table} RENAME TO ${to}; CREATE VIEW ${table} AS SELECT * FROM ${to}; (a simple view is updatable, so old code keeps working); drop the view once no deployed code uses ${table}.`,
      );
    }
    return true;
  }

  private truncate(n: Node): boolean {
    const rels: Node[] = (n.relations ?? []).map((r: Node) => r.RangeVar);
    const existing = rels.filter((r) => this.exists(r)).map((r) => quoteIdent(r.relname));
    if (existing.length === 0) return false;
    if (n.behavior === 'DROP_CASCADE') {
      this.report(
        'truncate-cascade',
        undefined,
        `TRUNCATE ${existing.join(', ')} CASCADE also empties every table with a foreign key to ${existing.length > 1 ? 'them' : 'it'}, whichever those are at deploy time.`,
        `Name each table to empty explicitly (TRUNCATE a, b without CASCADE), or delete in batches.`,
      );
    } else {
      this.report(
        'truncate',
        undefined,
        `TRUNCATE ${existing.join(', ')} takes an ACCESS EXCLUSIVE lock and removes data the running code may still use.`,
        `Delete in batches outside the schema migration, or confirm with \`-- slipway:ignore truncate <reason>\`.`,
      );
    }
    return true;
  }

  private reindex(n: Node): boolean {
    const concurrent = (n.params ?? []).some((p: Node) => p.DefElem?.defname === 'concurrently' && !isFalse(p.DefElem.arg));
    const rel = n.relation as Node | undefined;
    const isIndex = n.kind === 'REINDEX_OBJECT_INDEX';
    if (rel) {
      const table = isIndex ? this.createdIndexes.get(rel.relname) : rel.relname;
      if (table !== undefined && this.created.has(table)) return false;
    }
    const target = rel ? `${isIndex ? 'INDEX' : 'TABLE'} ${quoteIdent(rel.relname)}` : String(n.kind).replace('REINDEX_OBJECT_', '');
    if (concurrent) {
      if (this.opts.pgVersion < 12) {
        this.report(
          'reindex-non-concurrently',
          undefined,
          `REINDEX CONCURRENTLY does not exist before PostgreSQL 12 (target: ${this.opts.pgVersion}).`,
          `Build a copy with CREATE INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY the old one, and rename the copy (no-transaction migration).`,
        );
      } else this.concurrentlyInTxn('REINDEX CONCURRENTLY');
      return false;
    }
    const fix =
      this.opts.pgVersion >= 12
        ? `REINDEX ${target.startsWith('INDEX') || target.startsWith('TABLE') ? target.replace(' ', ' CONCURRENTLY ') : `${target} CONCURRENTLY`}; in a migration file marked \`-- slipway:no-transaction\`.`
        : `Before PostgreSQL 12: CREATE INDEX CONCURRENTLY a copy, DROP INDEX CONCURRENTLY the old one, rename the copy (no-transaction migration).`;
    this.report(
      'reindex-non-concurrently',
      undefined,
      `REINDEX ${target} blocks writes to the table (and reads that use the index) for the whole rebuild.`,
      fix,
    );
    return true;
  }

  private wholeTable(type: string, n: Node): void {
    if (n.whereClause || !this.exists(n.relation)) return;
    const t = quoteIdent(n.relation.relname);
    if (type === 'UpdateStmt') {
      this.report(
        'update-without-where',
        undefined,
        `UPDATE ${t} without WHERE rewrites every row in one transaction, locking them all (the application's writes wait) until the migration commits.`,
        `Backfill in batches, each its own transaction: UPDATE ${t} SET ... WHERE id IN (SELECT id FROM ${t} WHERE <not yet done> LIMIT 5000); repeated until it updates 0 rows (a no-transaction migration or a background job).`,
      );
    } else {
      this.report(
        'delete-without-where',
        undefined,
        `DELETE FROM ${t} without WHERE deletes every row in one transaction, holding row locks until commit.`,
        `Delete in batches, each its own transaction: DELETE FROM ${t} WHERE id IN (SELECT id FROM ${t} LIMIT 5000); repeated until 0 rows (or TRUNCATE if that is really intended, with an ignore comment).`,
      );
    }
  }

  // ---- ALTER TABLE -----------------------------------------------------------------------------

  private alterTable(n: Node): boolean {
    const rel = n.relation as Node;
    const table = rel?.relname as string;
    const existing = this.exists(rel);
    if (n.objtype && n.objtype !== 'OBJECT_TABLE') return existing;
    for (const c of n.cmds ?? []) {
      const cmd = c.AlterTableCmd as Node;
      if (!cmd) continue;
      if (cmd.subtype === 'AT_DetachPartition' && cmd.def?.PartitionCmd?.concurrent) this.concurrentlyInTxn('DETACH PARTITION ... CONCURRENTLY');
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
          this.report(
            'drop-column',
            undefined,
            `DROP COLUMN ${quoteIdent(table)}.${quoteIdent(cmd.name)} breaks the code still running if it reads or writes the column.`,
            `Contract step only: deploy code that no longer uses ${quoteIdent(cmd.name)} first (ORMs: mark it ignored), then drop it in a later migration marked \`-- slipway:ignore drop-column <why it is unused now>\`.`,
          );
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
  private trackOnly(table: string, cmd: Node): void {
    if (cmd.subtype === 'AT_AddColumn') this.shared.columnTypes.set(`${table}.${cmd.def.ColumnDef.colname}`, typeInfo(cmd.def.ColumnDef.typeName));
    if (cmd.subtype === 'AT_AlterColumnType') this.shared.columnTypes.set(`${table}.${cmd.name}`, typeInfo(cmd.def.ColumnDef.typeName));
  }

  private addColumn(table: string, col: Node): void {
    const t = quoteIdent(table);
    const name = quoteIdent(col.colname);
    const info = typeInfo(col.typeName);
    const typeText = formatType(info);
    this.shared.columnTypes.set(`${table}.${col.colname}`, info);
    const cons: Node[] = (col.constraints ?? []).map((c: Node) => c.Constraint).filter(Boolean);
    const def = cons.find((c) => c.contype === 'CONSTR_DEFAULT' && !isNullConst(c.raw_expr));
    const notNull = cons.some((c) => c.contype === 'CONSTR_NOTNULL' || c.contype === 'CONSTR_PRIMARY');
    const identity = cons.some((c) => c.contype === 'CONSTR_IDENTITY');
    const serial = SERIAL_TYPES.has(info.name);
    const generated = cons.find((c) => c.contype === 'CONSTR_GENERATED');
    const loc = col.location as number | undefined;

    if (serial || identity) {
      this.report(
        'add-serial-column',
        loc,
        `Adding ${serial ? `a ${info.name}` : 'an identity'} column ${name} to existing table ${t} fills every existing row from a sequence: a full table rewrite under an ACCESS EXCLUSIVE lock.`,
        `ALTER TABLE ${t} ADD COLUMN ${name} bigint; CREATE SEQUENCE ${quoteIdent(`${table}_${col.colname}_seq`)} OWNED BY ${t}.${name}; ALTER TABLE ${t} ALTER COLUMN ${name} SET DEFAULT nextval('${table}_${col.colname}_seq'); backfill old rows in batches; then enforce NOT NULL through a validated CHECK.`,
      );
    } else if (generated) {
      const virtual = generated.generated_kind === 'v' && this.opts.pgVersion >= 18;
      if (!virtual) {
        this.report(
          'add-stored-generated-column',
          loc,
          `Adding the stored generated column ${name} to existing table ${t} computes it for every row: a full table rewrite under an ACCESS EXCLUSIVE lock.`,
          this.opts.pgVersion >= 18
            ? `Use a VIRTUAL generated column (PostgreSQL 18+: GENERATED ALWAYS AS (...) VIRTUAL, no rewrite), or add a plain column ${name} kept current by a trigger and backfilled in batches.`
            : `Add a plain column ${name} ${typeText}, keep it current with a BEFORE INSERT OR UPDATE trigger, and backfill old rows in batches.`,
        );
      }
    } else if (def && this.opts.pgVersion < 11) {
      this.report(
        'add-column-default-before-pg11',
        def.location,
        `On PostgreSQL ${this.opts.pgVersion}, ADD COLUMN ${name} with a DEFAULT rewrites all of ${t} under an ACCESS EXCLUSIVE lock (PostgreSQL 11+ stores a constant default without a rewrite).`,
        `ALTER TABLE ${t} ADD COLUMN ${name} ${typeText}; ALTER TABLE ${t} ALTER COLUMN ${name} SET DEFAULT <default>; then backfill old rows in batches.`,
      );
    } else if (def) {
      const v = volatility(def.raw_expr);
      if (v.kind !== 'stable') {
        const what =
          v.kind === 'volatile'
            ? `the volatile function ${v.name}()`
            : `the function ${v.name}(), which may be volatile (not a known STABLE/IMMUTABLE built-in)`;
        this.report(
          'add-column-volatile-default',
          def.location,
          `ADD COLUMN ${name} with a DEFAULT using ${what} evaluates it for every existing row: a full rewrite of ${t} under an ACCESS EXCLUSIVE lock.`,
          `ALTER TABLE ${t} ADD COLUMN ${name} ${typeText}; ALTER TABLE ${t} ALTER COLUMN ${name} SET DEFAULT ${v.name}(); (new rows only, no rewrite) then backfill old rows in batches${notNull ? ', and add NOT NULL through a validated CHECK' : ''}.`,
        );
      }
    }
    if (notNull && !def && !serial && !identity && !generated) {
      this.report(
        'add-column-not-null-without-default',
        loc,
        `ADD COLUMN ${name} NOT NULL without a DEFAULT fails on a table with rows and breaks old code that inserts into ${t} without it.`,
        `Add it nullable (ALTER TABLE ${t} ADD COLUMN ${name} ${typeText};), or with a constant DEFAULT${this.opts.pgVersion >= 11 ? ' (no rewrite on PostgreSQL 11+)' : ''}; backfill in batches; then ADD CONSTRAINT ... CHECK (${name} IS NOT NULL) NOT VALID, VALIDATE it, and SET NOT NULL.`,
      );
    }
    for (const c of cons) {
      if (c.contype === 'CONSTR_FOREIGN' && !c.skip_validation) {
        this.report(
          'add-foreign-key-without-not-valid',
          c.location,
          `The REFERENCES ${quoteIdent(c.pktable?.relname ?? '?')} on new column ${name} is validated at once, scanning ${t} while blocking writes to both tables.`,
          `Add the column without REFERENCES, then ALTER TABLE ${t} ADD CONSTRAINT ${quoteIdent(`${table}_${col.colname}_fkey`)} FOREIGN KEY (${name}) REFERENCES ${quoteIdent(c.pktable?.relname ?? '?')} NOT VALID; and VALIDATE CONSTRAINT in a separate migration.`,
        );
      } else if (c.contype === 'CONSTR_CHECK' && !c.skip_validation) {
        this.report(
          'add-check-without-not-valid',
          c.location,
          `The CHECK on new column ${name} is validated against every row of ${t} under an ACCESS EXCLUSIVE lock.`,
          `Add the column without the CHECK, then ALTER TABLE ${t} ADD CONSTRAINT ${quoteIdent(`${table}_${col.colname}_check`)} CHECK (...) NOT VALID; and VALIDATE CONSTRAINT in a separate migration.`,
        );
      } else if (c.contype === 'CONSTR_UNIQUE' || c.contype === 'CONSTR_PRIMARY') {
        const kind = c.contype === 'CONSTR_PRIMARY' ? 'PRIMARY KEY' : 'UNIQUE';
        this.report(
          'add-unique-constraint',
          c.location,
          `A ${kind} on new column ${name} builds its index under an ACCESS EXCLUSIVE lock on ${t}: no reads or writes until it finishes.`,
          `Add the column plainly; CREATE UNIQUE INDEX CONCURRENTLY ${quoteIdent(`${table}_${col.colname}_key`)} ON ${t} (${name}); (no-transaction migration); then ALTER TABLE ${t} ADD CONSTRAINT ${quoteIdent(`${table}_${col.colname}_key`)} ${kind} USING INDEX ${quoteIdent(`${table}_${col.colname}_key`)};`,
        );
      }
    }
  }

  private alterType(table: string, column: string, def: Node): void {
    const key = `${table}.${column}`;
    const to = typeInfo(def.typeName);
    const from = this.shared.columnTypes.get(key);
    const using = !!def.raw_default;
    this.shared.columnTypes.set(key, to);
    if (!using && binaryCoercible(from, to)) return;
    const t = quoteIdent(table);
    const c = quoteIdent(column);
    const fromText = from ? ` from ${formatType(from)}` : '';
    this.report(
      'change-column-type',
      def.location,
      `Changing ${t}.${c}${fromText} to ${formatType(to)}${using ? ' with USING' : ''} rewrites the table and its indexes under an ACCESS EXCLUSIVE lock${from ? '' : ' (the old type is not known from earlier migrations, so it cannot be shown to be binary-coercible)'}, and old code may not handle the new type.`,
      `Expand/contract: ALTER TABLE ${t} ADD COLUMN ${quoteIdent(`${column}_new`)} ${formatType(to)}; write both columns from the code; backfill in batches; switch reads; drop ${c} in a later release. (Metadata-only changes such as varchar→text or varchar(n)→varchar(m>n) are not flagged.)`,
    );
  }

  private setNotNull(table: string, column: string): void {
    const key = `${table}.${column}`;
    if (this.opts.pgVersion >= 12 && this.shared.validatedNotNull.has(key)) return;
    const t = quoteIdent(table);
    const c = quoteIdent(column);
    const con = quoteIdent(`${table}_${column}_not_null`);
    if (this.opts.pgVersion >= 12) {
      this.report(
        'set-not-null',
        undefined,
        `SET NOT NULL on ${t}.${c} scans the whole table under an ACCESS EXCLUSIVE lock, because no validated CHECK (${c} IS NOT NULL) precedes it.`,
        `Migration 1: ALTER TABLE ${t} ADD CONSTRAINT ${con} CHECK (${c} IS NOT NULL) NOT VALID; migration 2: ALTER TABLE ${t} VALIDATE CONSTRAINT ${con}; migration 3: ALTER TABLE ${t} ALTER COLUMN ${c} SET NOT NULL; ALTER TABLE ${t} DROP CONSTRAINT ${con}; (PostgreSQL 12+ skips the scan).`,
      );
    } else {
      this.report(
        'set-not-null',
        undefined,
        `SET NOT NULL on ${t}.${c} scans the whole table under an ACCESS EXCLUSIVE lock, and before PostgreSQL 12 a validated CHECK does not let it skip the scan.`,
        `On PostgreSQL ${this.opts.pgVersion}: enforce it with ALTER TABLE ${t} ADD CONSTRAINT ${con} CHECK (${c} IS NOT NULL) NOT VALID; then VALIDATE CONSTRAINT ${con} in a separate migration, and leave the column nullable (or SET NOT NULL in a maintenance window).`,
      );
    }
  }

  private addConstraint(table: string, con: Node): void {
    const t = quoteIdent(table);
    const name = con.conname ? quoteIdent(con.conname) : undefined;
    const shown = name ?? '<name>';
    const loc = con.location as number | undefined;
    switch (con.contype) {
      case 'CONSTR_FOREIGN':
        if (con.skip_validation) {
          if (con.conname) this.notValidAdded.add(`${table}.${con.conname}`);
          return;
        }
        this.report(
          'add-foreign-key-without-not-valid',
          loc,
          `Adding foreign key ${name ?? ''} on ${t} validates every row at once, scanning ${t} while blocking writes to ${t} and ${quoteIdent(con.pktable?.relname ?? '?')}.`.replace(
            '  ',
            ' ',
          ),
          `ALTER TABLE ${t} ADD CONSTRAINT ${shown} FOREIGN KEY (...) REFERENCES ${quoteIdent(con.pktable?.relname ?? '?')} (...) NOT VALID; then, in a separate migration, ALTER TABLE ${t} VALIDATE CONSTRAINT ${shown}; (it allows reads and writes).`,
        );
        return;
      case 'CONSTR_CHECK': {
        const col = notNullColumn(con.raw_expr);
        if (con.skip_validation) {
          if (con.conname) {
            this.notValidAdded.add(`${table}.${con.conname}`);
            if (col) this.shared.pendingNotNull.set(`${table}.${con.conname}`, col);
          }
          return;
        }
        if (col) this.shared.validatedNotNull.add(`${table}.${col}`);
        this.report(
          'add-check-without-not-valid',
          loc,
          `Adding CHECK constraint ${name ?? ''} on ${t} validates every row under an ACCESS EXCLUSIVE lock.`.replace('  ', ' '),
          `ALTER TABLE ${t} ADD CONSTRAINT ${shown} CHECK (...) NOT VALID; then, in a separate migration, ALTER TABLE ${t} VALIDATE CONSTRAINT ${shown};`,
        );
        return;
      }
      case 'CONSTR_UNIQUE':
      case 'CONSTR_PRIMARY':
      case 'CONSTR_EXCLUSION': {
        if (con.indexname) return;
        const kind = con.contype === 'CONSTR_PRIMARY' ? 'PRIMARY KEY' : con.contype === 'CONSTR_UNIQUE' ? 'UNIQUE' : 'EXCLUDE';
        const cols = (con.keys ?? []).map((k: Node) => quoteIdent(k.String?.sval ?? '?')).join(', ') || '...';
        const first = con.keys?.[0]?.String?.sval as string | undefined;
        const idx = quoteIdent(con.conname ?? (kind === 'PRIMARY KEY' ? `${table}_pkey` : `${table}_${first ? `${first}_` : ''}key`));
        this.report(
          'add-unique-constraint',
          loc,
          `Adding a ${kind} constraint to ${t} builds its index in place under an ACCESS EXCLUSIVE lock: no reads or writes until it finishes.`,
          kind === 'EXCLUDE'
            ? `There is no USING INDEX form for EXCLUDE: build it in a maintenance window, or enforce the rule another way.`
            : `CREATE UNIQUE INDEX CONCURRENTLY ${idx} ON ${t} (${cols}); in a no-transaction migration; then ALTER TABLE ${t} ADD CONSTRAINT ${idx} ${kind} USING INDEX ${idx};${kind === 'PRIMARY KEY' ? ' (the columns must already be NOT NULL, else this scans the table)' : ''}`,
        );
        return;
      }
      default:
        return;
    }
  }

  private validate(table: string, conname: string): void {
    const key = `${table}.${conname}`;
    const col = this.shared.pendingNotNull.get(key);
    if (col) {
      this.shared.validatedNotNull.add(`${table}.${col}`);
      this.shared.pendingNotNull.delete(key);
    }
    if (this.notValidAdded.has(key) && this.inTransaction) {
      this.report(
        'validate-in-same-transaction',
        undefined,
        `VALIDATE CONSTRAINT ${quoteIdent(conname)} runs in the same transaction that added it NOT VALID, so the stronger lock taken by ADD CONSTRAINT is still held during the validation scan.`,
        `Move ALTER TABLE ${quoteIdent(table)} VALIDATE CONSTRAINT ${quoteIdent(conname)}; to a later migration file.`,
      );
    }
  }
}

// ---- tree helpers ----------------------------------------------------------------------------------

function lastName(items: Node[]): string {
  const last = items[items.length - 1];
  return (last?.String?.sval as string) ?? '';
}

function funcName(f: Node): string {
  return lastName(f.funcname ?? []).toLowerCase();
}

function constString(n: Node | undefined): string | undefined {
  const c = n?.A_Const ?? n?.TypeCast?.arg?.A_Const;
  if (!c) return undefined;
  if (c.sval) return c.sval.sval ?? '';
  if (c.ival) return String(c.ival.ival ?? 0);
  return undefined;
}

function isZeroSetting(n: Node | undefined): boolean {
  const v = constString(n);
  return v === undefined ? false : /^\s*0+\s*(ms|s|min)?\s*$/i.test(v);
}

function isFalse(n: Node | undefined): boolean {
  const c = n?.A_Const;
  if (c?.boolval) return c.boolval.boolval !== true;
  const s = n?.String?.sval ?? constString(n);
  return s !== undefined && /^(false|off|0)$/i.test(s);
}

function isNullConst(n: Node | undefined): boolean {
  return !!n?.A_Const?.isnull;
}

function notNullColumn(expr: Node | undefined): string | undefined {
  const t = expr?.NullTest;
  if (!t || t.nulltesttype !== 'IS_NOT_NULL') return undefined;
  const fields = t.arg?.ColumnRef?.fields ?? [];
  return fields.length ? lastName(fields) : undefined;
}

type Volatility = { kind: 'stable' } | { kind: 'volatile' | 'unknown'; name: string };

/** The worst function call found in a default expression. */
function volatility(expr: Node | undefined): Volatility {
  let unknown: string | undefined;
  let volatile: string | undefined;
  const walk = (n: unknown): void => {
    if (volatile || n === null || typeof n !== 'object') return;
    if (Array.isArray(n)) {
      for (const x of n) walk(x);
      return;
    }
    const o = n as Node;
    if (o.FuncCall) {
      const name = funcName(o.FuncCall);
      if (VOLATILE.has(name)) volatile = name;
      else if (!NON_VOLATILE.has(name)) unknown ??= name;
    }
    for (const v of Object.values(o)) walk(v);
  };
  walk(expr);
  if (volatile) return { kind: 'volatile', name: volatile };
  if (unknown) return { kind: 'unknown', name: unknown };
  return { kind: 'stable' };
}

function typeInfo(t: Node | undefined): TypeInfo {
  const name = lastName(t?.names ?? []).toLowerCase();
  const mods = (t?.typmods ?? []).map((m: Node) => Number(m.A_Const?.ival?.ival ?? 0));
  return { name: ALIASES[name] ?? name, mods, array: Array.isArray(t?.arrayBounds) && t.arrayBounds.length > 0 };
}

const ALIASES: Record<string, string> = {
  decimal: 'numeric',
  'character varying': 'varchar',
  bpchar: 'char',
  int: 'int4',
  integer: 'int4',
  bigint: 'int8',
  smallint: 'int2',
};

const DISPLAY: Record<string, string> = {
  int4: 'integer',
  int8: 'bigint',
  int2: 'smallint',
  bool: 'boolean',
  float8: 'double precision',
  float4: 'real',
  char: 'character',
};

function formatType(t: TypeInfo): string {
  return `${DISPLAY[t.name] ?? t.name}${t.mods.length ? `(${t.mods.join(',')})` : ''}${t.array ? '[]' : ''}`;
}

/**
 * Whether PostgreSQL changes the type without rewriting the table. With the old type unknown, only
 * text and unbounded varchar are assumed safe (the usual varchar(n)→text widening; no USING).
 */
function binaryCoercible(from: TypeInfo | undefined, to: TypeInfo): boolean {
  const unbounded = (t: TypeInfo) => (t.name === 'text' || (t.name === 'varchar' && t.mods.length === 0)) && !t.array;
  if (!from) return unbounded(to);
  if (from.array !== to.array) return false;
  if (from.name === to.name && from.mods.join() === to.mods.join()) return true;
  if ((from.name === 'varchar' || from.name === 'text') && unbounded(to)) return true;
  if (from.name === 'varchar' && to.name === 'varchar') return to.mods.length === 0 || (from.mods.length > 0 && to.mods[0]! >= from.mods[0]!);
  if (from.name === 'varbit' && to.name === 'varbit') return to.mods.length === 0 || (from.mods.length > 0 && to.mods[0]! >= from.mods[0]!);
  if (from.name === 'numeric' && to.name === 'numeric') {
    if (to.mods.length === 0) return true;
    if (from.mods.length === 0) return false;
    return to.mods[0]! >= from.mods[0]! && (to.mods[1] ?? 0) === (from.mods[1] ?? 0);
  }
  if (from.name === 'cidr' && to.name === 'inet') return true;
  return false;
}

export function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}
