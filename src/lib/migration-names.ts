/**
 * Migration file names (`0001_add_users.sql`): the one rule for what a migration's version is and
 * how versions order, shared by the migrate runner and the release plan (which lists what a
 * deployment would apply without a database connection).
 */
import { readdirSync } from 'node:fs';

export const FILE_PATTERN = /^(\d+)_([A-Za-z0-9][A-Za-z0-9_.-]*)\.sql$/;

export function parseMigrationFileName(file: string): { version: string; name: string } | undefined {
  const m = FILE_PATTERN.exec(file);
  return m ? { version: m[1]!, name: m[2]! } : undefined;
}

/** Numeric order (0010 after 9), then the text for equal numbers written differently. */
export function compareVersions(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : a < b ? -1 : a > b ? 1 : 0;
}

export interface MigrationName {
  version: string;
  name: string;
  file: string;
}

/** The migration files of a directory, oldest first (other files are ignored); [] when it does not exist. */
export function listMigrationNames(dir: string): MigrationName[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries
    .map((file) => ({ file, parsed: parseMigrationFileName(file) }))
    .filter((x): x is { file: string; parsed: { version: string; name: string } } => Boolean(x.parsed))
    .map((x) => ({ version: x.parsed.version, name: x.parsed.name, file: x.file }))
    .sort((a, b) => compareVersions(a.version, b.version));
}
