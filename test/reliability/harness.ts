/**
 * Runs one corpus case through the built bundle and checks what a user (and an attacker) would see:
 * exit code, one error naming the input, no stack trace, no output, no forged workflow command, no
 * connection to the listener the inputs point at, no file created by an injected command.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { existsSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { findLeaks, registerSecret, runBundle, type BundleRun } from '../helpers/runner.ts';
import type { ActionSpec } from '../../src/manifest/fields.ts';
import { FORGED, baseline, fill, type ActionName, type Case } from './corpus.ts';

/** A TCP listener on 127.0.0.1 that counts accepted connections and closes each at once. */
export interface CountingListener { port: number; count(): number; close(): Promise<void> }

export async function countingListener(): Promise<CountingListener> {
  let n = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    n++;
    sockets.add(s);
    s.on('error', () => {});
    s.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    count: () => n,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

const BUNDLE_MISSING = /Cannot find module '[^']*\/dist\/[^']*'/;

const COMMANDS = /^::(add-mask|error|warning|notice|debug|group|endgroup)( [^:]*)?::/;

/** Lines that look like a workflow command the action did not mean to write, and other forgeries. */
export function forgeries(r: BundleRun, spec: ActionSpec): string[] {
  const out: string[] = [];
  for (const line of r.stdout.split(/\r?\n|\r/)) {
    if (!line.startsWith('::')) continue;
    if (!COMMANDS.test(line)) out.push(`unexpected workflow command: ${JSON.stringify(line.slice(0, 120))}`);
    if (line === `::error::${FORGED.error}`) out.push('forged ::error:: line');
  }
  if (r.masks.includes(FORGED.mask)) out.push(`forged ::add-mask::${FORGED.mask}`);
  if (r.annotations.some((a) => a.message === FORGED.error)) out.push('forged annotation');
  for (const [where, rec] of [['outputs', r.outputs], ['state', r.state], ['env', r.env]] as const) {
    if (FORGED.output in rec) out.push(`forged ${where}.${FORGED.output}`);
  }
  for (const k of Object.keys(r.outputs)) if (!(k in spec.outputs)) out.push(`undeclared output ${k}`);
  return out;
}

export function stackTrace(r: BundleRun): boolean {
  return /^\s+at \S/m.test(r.stdout) || /^\s+at \S/m.test(r.stderr) || /%0A\s+at \S/.test(r.stdout);
}

export interface CaseResult {
  case: Case;
  held: boolean;
  problems: string[];
  run: BundleRun;
  connections: number;
}

export interface RunCaseOptions {
  repoRoot: string;
  fixtures: string;
  spec: ActionSpec;
  /** Overrides the baseline (the control run). */
  baselineOnly?: boolean;
  timeoutMs?: number;
}

/** Runs a case with every other input at its harmless baseline; returns what did not hold. */
export async function runCase(c: Case, o: RunCaseOptions): Promise<CaseResult> {
  const listener = await countingListener();
  const tag = randomBytes(6).toString('hex');
  const pwned = `/tmp/pwned-${tag}`;
  const sentinel = join(tmpdir(), `slipway-sentinel-${tag}`);
  try {
    const inputs = baseline(c.action, listener.port, o.fixtures, sentinel);
    if (!o.baselineOnly) inputs[c.input] = fill(c.value, listener.port, tag);
    if (c.secretToken) registerSecret(c.secretToken);
    let run = await runBundle(c.action, inputs, { timeoutMs: o.timeoutMs ?? 60_000 });
    // Another process rebuilding dist/ (scripts/build.ts empties the folder first): wait and run again.
    for (let i = 0; i < 30 && BUNDLE_MISSING.test(run.stderr + run.stdout); i++) {
      await new Promise((r) => setTimeout(r, 5_000));
      run = await runBundle(c.action, inputs, { timeoutMs: o.timeoutMs ?? 60_000 });
    }
    // Let a late connection attempt land before counting.
    await new Promise((r) => setTimeout(r, 20));
    const connections = listener.count();
    const problems: string[] = [];
    if (run.signal) problems.push(`ended by ${run.signal} (timeout?)`);
    if (stackTrace(run)) problems.push('shows a stack trace');
    problems.push(...forgeries(run, o.spec));
    if (existsSync(pwned)) problems.push(`injected command ran: ${pwned} exists`);
    if (c.secretToken && findLeaks(run, [c.secretToken]).length) problems.push('shows the secret');
    if (!o.baselineOnly && c.expect === 'reject') {
      if (run.code !== 1) problems.push(`exit code ${run.code}, expected 1`);
      if (run.errors.length !== 1) problems.push(`${run.errors.length} ::error:: lines, expected 1: ${JSON.stringify(run.errors.map((e) => e.slice(0, 160)))}`);
      else if (!run.errors[0]!.includes(c.input)) problems.push(`the error does not name the input: ${JSON.stringify(run.errors[0]!.slice(0, 200))}`);
      if (Object.keys(run.outputs).length) problems.push(`outputs set: ${Object.keys(run.outputs).join(', ')}`);
      if (connections) problems.push(`${connections} connection(s) made to 127.0.0.1:${listener.port}`);
      if (existsSync(sentinel)) problems.push('a command ran (sentinel file exists)');
    } else if (run.code !== 0 && run.code !== 1) problems.push(`exit code ${run.code}`);
    return { case: c, held: problems.length === 0, problems, run, connections };
  } finally {
    rmSync(pwned, { force: true });
    rmSync(sentinel, { force: true });
    await listener.close();
  }
}

/** Runs items through fn with at most `limit` at a time, in order of the input. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

export function describeCase(c: Case): string {
  return `${c.action} ${c.input} [${c.category}: ${c.label}] (${c.expect})`;
}

export type { ActionName };
