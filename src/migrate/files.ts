/**
 * Migration files: `NNNN_name.sql` (or a timestamp prefix such as `20240102150405_name.sql`) in one
 * directory, applied in version order. Directives live in SQL comments:
 *   -- slipway:no-transaction   run statement by statement, outside a transaction (CREATE INDEX CONCURRENTLY)
 *   -- slipway:retryable        a leftover INVALID index from this file is dropped before a retry
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { UserError } from '../lib/errors.ts';
import { FILE_PATTERN, compareVersions, parseMigrationFileName } from '../lib/migration-names.ts';

export { FILE_PATTERN, compareVersions, parseMigrationFileName };

export interface MigrationFile {
  /** Digits before the first `_`, as written (`0001`, `20240102150405`). */
  version: string;
  /** The part after the version, without `.sql`: `add_users`. */
  name: string;
  /** File name: `0001_add_users.sql`. */
  file: string;
  /** Path for annotations and messages (relative to the workspace when inside it). */
  path: string;
  sql: string;
  /** SHA-256 of the file's bytes, hex. */
  checksum: string;
  noTransaction: boolean;
  retryable: boolean;
}

export function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Directives are comment lines `-- slipway:<word>` anywhere in the file. */
export function directives(sql: string): Set<string> {
  const out = new Set<string>();
  for (const m of sql.matchAll(/^[ \t]*--[ \t]*slipway:([a-z-]+)/gim)) out.add(m[1]!.toLowerCase());
  return out;
}

export function migrationFromText(file: string, sql: string, path = file): MigrationFile {
  const parsed = parseMigrationFileName(file);
  if (!parsed) throw new UserError(`${path}: not a migration file name; expected NNNN_name.sql (digits, underscore, name)`);
  const d = directives(sql);
  return { ...parsed, file, path, sql, checksum: sha256(sql), noTransaction: d.has('no-transaction'), retryable: d.has('retryable') };
}

/**
 * Reads every `*.sql` file of dir, in version order. Fails (before any connection) on a missing
 * directory, a `.sql` file whose name has no version, or two files with the same version.
 */
export function readMigrations(dir: string, opts: { workspace?: string; input?: string } = {}): MigrationFile[] {
  const workspace = opts.workspace ?? process.cwd();
  const abs = resolve(workspace, dir);
  const what = opts.input ? `Input '${opts.input}': ` : '';
  if (!existsSync(abs))
    throw new UserError(`${what}migrations directory ${JSON.stringify(dir)} does not exist (looked in ${abs}); expected a directory of NNNN_name.sql files`);
  if (!statSync(abs).isDirectory())
    throw new UserError(`${what}${JSON.stringify(dir)} is not a directory (${abs}); expected a directory of NNNN_name.sql files`);
  const entries = readdirSync(abs)
    .filter((f) => f.endsWith('.sql') && statSync(join(abs, f)).isFile())
    .sort();
  const bad = entries.filter((f) => !FILE_PATTERN.test(f));
  if (bad.length)
    throw new UserError(
      `${what}${bad.length} file(s) in ${dir} do not follow NNNN_name.sql: ${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ', …' : ''} (rename them with a numeric version prefix, e.g. 0003_${bad[0]})`,
    );
  const files = entries.map((f) => {
    const full = join(abs, f);
    const rel = relative(workspace, full);
    return migrationFromText(f, readFileSync(full, 'utf8'), rel.startsWith('..') ? full : rel);
  });
  files.sort((a, b) => compareVersions(a.version, b.version));
  for (let i = 1; i < files.length; i++) {
    if (BigInt(files[i]!.version) === BigInt(files[i - 1]!.version)) {
      throw new UserError(
        `${what}two migrations share version ${files[i]!.version}: ${files[i - 1]!.file} and ${files[i]!.file} (give each file its own version)`,
      );
    }
  }
  return files;
}
