/**
 * Splits a migration into statements with the real PostgreSQL parser (libpg-query, WebAssembly,
 * loaded on first use by the linter's parser module), so semicolons inside strings, dollar quotes
 * and comments never cut a statement.
 */
import { parseSql } from './lint/parser.ts';

export interface Statement {
  /** 0-based index in the file. */
  index: number;
  sql: string;
  /** 1-based line of the statement's first character. */
  line: number;
  /** The parse-tree node name: CreateStmt, IndexStmt, TransactionStmt, … */
  kind: string;
  /** For CREATE INDEX: the index it creates (schema may be undefined) and whether CONCURRENTLY. */
  index_?: { schema?: string; name?: string; concurrent: boolean; ifNotExists: boolean };
  /** BEGIN, COMMIT, ROLLBACK, … (a transactional migration must not contain them). */
  transactionControl?: string;
  /** PostgreSQL refuses it inside a transaction block (CONCURRENTLY, VACUUM, CREATE DATABASE). */
  needsNoTransaction?: string;
  /** Tables it names (`"schema"."table"` or `"table"`), for DDL that takes a lock blocking reads or writes. */
  lockedRelations: string[];
}

/** DDL whose lock blocks the application's reads or writes (ACCESS EXCLUSIVE, SHARE, SHARE ROW EXCLUSIVE). */
const STRONG_LOCK_KINDS = new Set([
  'AlterTableStmt',
  'RenameStmt',
  'DropStmt',
  'TruncateStmt',
  'CreateTrigStmt',
  'IndexStmt',
  'ReindexStmt',
  'ClusterStmt',
  'VacuumStmt',
  'LockStmt',
  'RuleStmt',
  'AlterObjectSchemaStmt',
  'CreateStmt',
  'RefreshMatViewStmt',
  'AlterTableMoveAllStmt',
]);

function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/** Every table a statement names: RangeVar-like nodes ({relname, schemaname}) and DROP TABLE name lists. */
function relationsOf(kind: string, node: Record<string, any>): string[] {
  const out = new Set<string>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (!v || typeof v !== 'object') return;
    const o = v as Record<string, any>;
    if (typeof o.relname === 'string') out.add(o.schemaname ? `${quoteIdent(o.schemaname)}.${quoteIdent(o.relname)}` : quoteIdent(o.relname));
    for (const x of Object.values(o)) visit(x);
  };
  // A table being created is new: only the tables it references (foreign keys, parents) can be locked by others.
  visit(kind === 'CreateStmt' ? { ...node, relation: undefined } : node);
  if (kind === 'DropStmt' && ['OBJECT_TABLE', 'OBJECT_MATVIEW', 'OBJECT_VIEW'].includes(node.removeType)) {
    for (const obj of node.objects ?? []) {
      const parts = (obj?.List?.items ?? []).map((i: any) => i?.String?.sval).filter(Boolean) as string[];
      if (parts.length) out.add(parts.map(quoteIdent).join('.'));
    }
  }
  return [...out];
}

function takesStrongLock(kind: string, node: Record<string, any>): boolean {
  if (!STRONG_LOCK_KINDS.has(kind)) return false;
  if (kind === 'IndexStmt' && node.concurrent) return false;
  if (kind === 'DropStmt' && node.concurrent) return false;
  if (kind === 'ReindexStmt' && (node.params ?? []).some((p: any) => p?.DefElem?.defname === 'concurrently')) return false;
  if (kind === 'VacuumStmt' && !(node.options ?? []).some((p: any) => p?.DefElem?.defname === 'full')) return false;
  return true;
}

const TX_CONTROL: Record<string, string> = {
  TRANS_STMT_BEGIN: 'BEGIN',
  TRANS_STMT_START: 'START TRANSACTION',
  TRANS_STMT_COMMIT: 'COMMIT',
  TRANS_STMT_ROLLBACK: 'ROLLBACK',
  TRANS_STMT_PREPARE: 'PREPARE TRANSACTION',
  TRANS_STMT_COMMIT_PREPARED: 'COMMIT PREPARED',
  TRANS_STMT_ROLLBACK_PREPARED: 'ROLLBACK PREPARED',
};

function outsideTransactionReason(kind: string, node: Record<string, any>): string | undefined {
  if (kind === 'IndexStmt' && node.concurrent) return 'CREATE INDEX CONCURRENTLY';
  if (kind === 'DropStmt' && node.concurrent) return 'DROP INDEX CONCURRENTLY';
  if (kind === 'ReindexStmt' && (node.params ?? []).some((p: any) => p?.DefElem?.defname === 'concurrently')) return 'REINDEX CONCURRENTLY';
  if (kind === 'VacuumStmt') return node.is_vacuumcmd ? 'VACUUM' : undefined;
  if (kind === 'CreatedbStmt') return 'CREATE DATABASE';
  if (kind === 'DropdbStmt') return 'DROP DATABASE';
  if (kind === 'AlterSystemStmt') return 'ALTER SYSTEM';
  return undefined;
}

export class SqlSyntaxError extends Error {
  readonly line?: number;
  constructor(message: string, line?: number) {
    super(message);
    this.name = 'SqlSyntaxError';
    this.line = line;
  }
}

function lineAt(text: string, charIndex: number): number {
  let line = 1;
  for (let i = 0; i < charIndex && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Statements of sql, with their text, starting line and kind. Throws SqlSyntaxError (with a line) on bad SQL. */
export async function splitStatements(sql: string): Promise<Statement[]> {
  const parsed = await parseSql(sql);
  if (!parsed.ok) {
    // position: 0-based character (code point) offset of the error.
    const line = parsed.position >= 0 ? lineAt(sql, [...sql].slice(0, parsed.position).join('').length) : undefined;
    throw new SqlSyntaxError(`${parsed.message}${line ? ` (line ${line})` : ''}`, line);
  }
  // stmt_location / stmt_len count UTF-8 bytes.
  const bytes = Buffer.from(sql, 'utf8');
  const out: Statement[] = [];
  for (const raw of parsed.stmts) {
    const start = raw.stmt_location ?? 0;
    const end = raw.stmt_len ? start + raw.stmt_len : bytes.length;
    const chunk = bytes.subarray(start, end).toString('utf8');
    const text = chunk.trim();
    if (!text) continue;
    const kind = Object.keys(raw.stmt)[0] ?? 'Unknown';
    const prefixChars = bytes.subarray(0, start).toString('utf8').length;
    // The parser may include leading whitespace in a statement; report the line of its first character.
    const skip = chunk.length - chunk.trimStart().length;
    const node = (raw.stmt[kind] ?? {}) as Record<string, any>;
    const st: Statement = {
      index: out.length,
      sql: text,
      line: lineAt(sql, prefixChars + skip),
      kind,
      lockedRelations: takesStrongLock(kind, node) ? relationsOf(kind, node) : [],
    };
    if (kind === 'TransactionStmt' && TX_CONTROL[node.kind]) st.transactionControl = TX_CONTROL[node.kind];
    const outside = outsideTransactionReason(kind, node);
    if (outside) st.needsNoTransaction = outside;
    if (kind === 'IndexStmt') {
      st.index_ = { name: node.idxname, schema: node.relation?.schemaname, concurrent: Boolean(node.concurrent), ifNotExists: Boolean(node.if_not_exists) };
    }
    out.push(st);
  }
  return out;
}
