/**
 * GitHub's concurrency rules as documented ("Control the concurrency of workflows and jobs"), as a
 * small model the workflow tests drive with the groups this repository's workflows really declare:
 *
 * - A run or job that names a group waits (pending) while another run or job of the same group in
 *   the repository is in progress.
 * - A group holds at most one pending entry: a newly queued one cancels the pending one and takes
 *   its place (unless the group uses `queue: max`, where they wait in order).
 * - `cancel-in-progress: true` cancels the one in progress instead.
 * - A workflow-level group is held for the whole run, including a job that waits for an
 *   environment's reviewers; a job-level group only while that job runs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { interpolate, strict, type Value } from './workflow-emulator.ts';
import { repoRoot } from './runner.ts';

export interface Concurrency { group: string; cancelInProgress: boolean; queueMax: boolean }
export type EntryState = 'running' | 'pending' | 'cancelled' | 'done';
export interface Entry { name: string; group: string; state: EntryState }

/** A `concurrency:` value evaluated with the given contexts (undefined when there is none). */
export function concurrencyOf(value: unknown, contexts: Record<string, Value>): Concurrency | undefined {
  if (value === undefined || value === null) return undefined;
  const scope = { contexts: Object.fromEntries(Object.entries(contexts).map(([k, v]) => [k, v && typeof v === 'object' && !Array.isArray(v) ? strict({ ...(v as Record<string, Value>) }, k) : v])) };
  if (typeof value === 'string') return { group: String(interpolate(value, scope)), cancelInProgress: false, queueMax: false };
  const v = value as { group: string; 'cancel-in-progress'?: unknown; queue?: string };
  const cancel = v['cancel-in-progress'];
  return {
    group: String(interpolate(v.group, scope)),
    cancelInProgress: cancel === true || (typeof cancel === 'string' && interpolate(cancel, scope) === true),
    queueMax: v.queue === 'max',
  };
}

export function workflow(path: string): Record<string, any> {
  return YAML.parse(readFileSync(join(repoRoot, path), 'utf8')) as Record<string, any>;
}

export class ConcurrencyModel {
  readonly entries: Entry[] = [];
  private readonly modes = new Map<string, Concurrency>();

  /** Queues `name` in `c`'s group; returns its entry (running, or pending behind another). */
  queue(name: string, c: Concurrency): Entry {
    this.modes.set(c.group, c);
    const same = this.entries.filter((e) => e.group === c.group);
    const running = same.find((e) => e.state === 'running');
    const entry: Entry = { name, group: c.group, state: 'pending' };
    if (running && c.cancelInProgress) running.state = 'cancelled';
    if (!c.queueMax) for (const p of same.filter((e) => e.state === 'pending')) p.state = 'cancelled';
    this.entries.push(entry);
    if (!running || c.cancelInProgress) entry.state = this.entries.some((e) => e !== entry && e.group === c.group && e.state === 'running') ? 'pending' : 'running';
    return entry;
  }

  /** `entry` finished: the next pending entry of its group starts. */
  finish(entry: Entry): void {
    if (entry.state !== 'running') throw new Error(`${entry.name} is ${entry.state}, not running`);
    entry.state = 'done';
    const next = this.entries.find((e) => e.group === entry.group && e.state === 'pending');
    if (next) next.state = 'running';
  }

  state(name: string): EntryState | undefined {
    return this.entries.find((e) => e.name === name)?.state;
  }
}
