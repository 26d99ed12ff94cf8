/** Shared fixtures for the migrate integration tests: a migrations dir, the action's run() with parsed inputs, and SQL helpers. */
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { parseInputs } from '../../../src/manifest/fields.ts';
import { MemoryReporter } from '../../../src/lib/report.ts';
import type { ActionContext, ActionResult } from '../../../src/runner/context.ts';
import { spec } from '../../../src/actions/migrate/inputs.ts';
import { run, type MigrateDeps } from '../../../src/actions/migrate/run.ts';

export interface Workspace {
  dir: string;
  migrations: string;
  write(file: string, sql: string): void;
  remove(file: string): void;
  cleanup(): void;
}

export function workspace(): Workspace {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-migrate-'));
  const migrations = join(dir, 'migrations');
  mkdirSync(migrations);
  return {
    dir,
    migrations,
    write: (file, sql) => writeFileSync(join(migrations, file), sql),
    remove: (file) => rmSync(join(migrations, file), { force: true }),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function testContext(workspaceDir: string, signal?: AbortSignal): ActionContext & { log: MemoryReporter } {
  const log = new MemoryReporter();
  return {
    log,
    github: { serverUrl: 'https://github.com', repository: 'acme/shop', sha: '0123456789abcdef', ref: 'refs/heads/main', refName: 'main', eventName: 'push', actor: 'octocat', runId: '77', runAttempt: '1', workflow: 'deploy', job: 'migrate', runUrl: 'https://github.com/acme/shop/actions/runs/77', event: {} },
    saveState: () => {},
    getState: () => '',
    signal: signal ?? new AbortController().signal,
    tempDir: tmpdir(),
    workspace: workspaceDir,
    env: { PATH: process.env.PATH },
  };
}

export interface MigrateRun extends ActionResult {
  log: MemoryReporter;
  text: string;
}

/** Parses raw inputs exactly as the runner does (defaults, validation), then calls run(). */
export async function migrate(ws: { dir: string }, inputs: Record<string, string>, deps: MigrateDeps = {}, signal?: AbortSignal): Promise<MigrateRun> {
  const ctx = testContext(ws.dir, signal);
  const parsed = await parseInputs(spec, (n) => inputs[n], (s) => ctx.log.mask(s));
  const result = await run(parsed, ctx, { sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 300))), ...deps });
  return { ...result, log: ctx.log, text: ctx.log.text() };
}

/** A fresh database on the server for one test (so tests stay independent). */
export async function freshDatabase(serverUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function query<R = any>(url: string, sql: string, values?: unknown[]): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql, values)).rows as R[];
  } finally {
    await c.end();
  }
}

export async function history(url: string, table = 'public.slipway_migrations') {
  return query<{ version: string; name: string; checksum: string; status: string; statements_done: number; statements_total: number; applied_by: string; duration_ms: number; lock_retries: number }>(
    url,
    `SELECT version, name, checksum, status, statements_done, statements_total, applied_by, duration_ms, lock_retries FROM ${table} ORDER BY version`,
  );
}

export async function tableExists(url: string, name: string): Promise<boolean> {
  const r = await query<{ t: string | null }>(url, 'SELECT to_regclass($1)::text AS t', [name]);
  return r[0]!.t !== null;
}
