/**
 * Lazy loader for the real PostgreSQL parser (libpg-query, libpg_query compiled to WebAssembly).
 *
 * The module (1.7 MB of wasm) is imported only when linting runs, so the migration runner's cold start
 * does not pay for it. It works from source (vitest, node with type stripping: Node loads the package's
 * CommonJS build, which has its own __dirname) and from an ESM ncc bundle: there the emscripten glue
 * reads `__dirname` to find `libpg-query.wasm`, which the build copies beside the bundle
 * (src/actions/migrate/assets.json), so we point `globalThis.__dirname` at the bundle's folder.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One raw statement of a parse tree: `{ stmt: { NodeType: {...} }, stmt_location?, stmt_len? }` (byte offsets). */
export interface RawStmt {
  stmt: Record<string, any>;
  stmt_location?: number;
  stmt_len?: number;
}

export type ParseOutcome =
  | { ok: true; stmts: RawStmt[] }
  /** `position` is a 0-based character (code point) offset into the SQL text, as PostgreSQL reports it. */
  | { ok: false; message: string; position: number };

export interface PgQuery {
  loadModule(): Promise<void>;
  parseSync(sql: string): { stmts?: RawStmt[] };
}

let loading: Promise<PgQuery> | undefined;

/** The folder the code runs from: the bundle's folder under ncc, src/migrate/lint from source. */
function hereDir(): string {
  try {
    return dirname(fileURLToPath(import.meta.url));
  } catch {
    return process.cwd();
  }
}

export function loadParser(): Promise<PgQuery> {
  loading ??= (async () => {
    const g = globalThis as { __dirname?: string };
    const here = hereDir();
    // Only under a bundle is the wasm beside us; from source the package's own CommonJS __dirname is used.
    if (g.__dirname === undefined && existsSync(join(here, 'libpg-query.wasm'))) g.__dirname = here;
    try {
      const mod = (await import('libpg-query')) as unknown as PgQuery & { default?: PgQuery };
      const api: PgQuery = typeof mod.parseSync === 'function' ? mod : mod.default!;
      await api.loadModule();
      return api;
    } catch (err) {
      throw new Error(
        `could not load the PostgreSQL parser (libpg-query.wasm, looked in ${g.__dirname ?? 'node_modules/libpg-query'}): ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  })();
  loading.catch(() => {
    loading = undefined;
  });
  return loading;
}

/** Parses a whole SQL file. Never throws on bad SQL: a syntax error comes back as `{ ok: false }`. */
export async function parseSql(sql: string): Promise<ParseOutcome> {
  const pg = await loadParser();
  return parseWith(pg, sql);
}

export function parseWith(pg: PgQuery, sql: string): ParseOutcome {
  if (sql.trim() === '') return { ok: true, stmts: [] };
  try {
    return { ok: true, stmts: pg.parseSync(sql).stmts ?? [] };
  } catch (err) {
    const e = err as { message?: string; sqlDetails?: { cursorPosition?: number } };
    return { ok: false, message: e.message ?? String(err), position: e.sqlDetails?.cursorPosition ?? 0 };
  }
}
