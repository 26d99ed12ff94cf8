/**
 * Batch plans for a rollout: `1,25%,100%` (each entry is the size of one batch: a count or a
 * percentage of the fleet; the last entry repeats until every instance is done), or one constant
 * size (`max-unavailable` style). Pure functions: inputs.ts uses parseBatches to reject bad input
 * before anything runs.
 */
import { UserError } from '../lib/errors.ts';

export type BatchSize = { count: number } | { fraction: number };

export const BATCHES_HELP = 'a comma-separated ramp of batch sizes, each a whole number ≥ 1 or a percentage in (0%, 100%], such as 1 or 1,25%,100%';

/** Parses one size: `2` or `25%`. */
export function parseBatchSize(text: string): BatchSize {
  const s = text.trim();
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n < 1) throw new UserError(`batch size ${JSON.stringify(s)} must be at least 1`);
    return { count: n };
  }
  const m = /^(\d+(?:\.\d+)?)\s*%$/.exec(s);
  if (m) {
    const v = Number(m[1]);
    if (v <= 0) throw new UserError(`batch size ${JSON.stringify(s)} must be more than 0%`);
    if (v > 100) throw new UserError(`batch size ${JSON.stringify(s)} is over 100%`);
    return { fraction: v / 100 };
  }
  throw new UserError(`batch size ${JSON.stringify(s)} is neither a whole number nor a percentage`);
}

/**
 * A ramp of batches or canary steps that may hold manual pauses: `1, pause: manual, 25%, 100%`.
 * `manualPauses` lists the batch (step) numbers, from 1, after which the rollout waits for
 * `slipway promote` or `slipway abort` (engine.ts).
 */
export type Ramp<T> = T[] & { manualPauses?: number[] };

export const MANUAL_PAUSE_HELP = 'a manual pause is written "pause: manual" between two entries';

/**
 * Splits a ramp into its entries and the positions of its `pause: manual` steps: a pause follows
 * at least one entry and precedes at least one (a pause after the last entry has nothing to hold).
 */
export function splitRamp(text: string, what = 'batch'): { parts: string[]; manualPauses: number[] } {
  const parts: string[] = [];
  const manualPauses: number[] = [];
  const tokens = text
    .replace(/\bpause\s*:\s*/gi, 'pause:')
    .split(/[,\s]+/)
    .filter(Boolean);
  for (const t of tokens) {
    if (/^pause:/i.test(t) || /^pause$/i.test(t)) {
      if (!/^pause:manual$/i.test(t))
        throw new UserError(
          `${JSON.stringify(t.replace(/^pause:/i, 'pause: '))} is not a pause step: only "pause: manual" is (a timed wait between batches is the pause input)`,
        );
      if (!parts.length) throw new UserError(`"pause: manual" must follow a ${what}: there is nothing to promote before the first one`);
      if (manualPauses.at(-1) === parts.length) throw new UserError(`"pause: manual" twice in a row after ${what} ${parts.length}`);
      manualPauses.push(parts.length);
      continue;
    }
    parts.push(t);
  }
  return { parts, manualPauses };
}

/** Parses a ramp like `1,25%,100%`, or `1, pause: manual, 100%` (manualPauses: [1]). */
export function parseBatches(text: string): Ramp<BatchSize> {
  const { parts, manualPauses } = splitRamp(text);
  if (parts.length === 0) throw new UserError('no batch sizes given');
  const out: Ramp<BatchSize> = parts.map(parseBatchSize);
  if (manualPauses.length) out.manualPauses = manualPauses;
  return out;
}

/**
 * The manual pauses of a ramp, checked against the batches it makes for a fleet of n: a pause
 * after the last batch (the last size repeats, so `1, pause: manual` on one host) has nothing left
 * to hold and is an error.
 */
export function checkManualPauses(manualPauses: readonly number[] | undefined, batchCount: number, what = 'batch'): number[] {
  const list = [...(manualPauses ?? [])];
  const late = list.find((k) => k >= batchCount);
  if (late !== undefined)
    throw new UserError(`"pause: manual" after ${what} ${late} of ${batchCount}: nothing is left to promote; put it before the last ${what}`);
  return list;
}

export function formatBatchSize(b: BatchSize): string {
  return 'count' in b ? String(b.count) : `${Math.round(b.fraction * 10000) / 100}%`;
}

/**
 * The number of instances in each batch for a fleet of n. A percentage is of the whole fleet,
 * rounded up, at least 1; the last size repeats until all n are covered; the final batch takes
 * what is left.
 */
export function planBatches(n: number, sizes: readonly BatchSize[]): number[] {
  if (n <= 0) return [];
  if (sizes.length === 0) sizes = [{ count: 1 }];
  const out: number[] = [];
  let left = n;
  for (let i = 0; left > 0; i++) {
    const spec = sizes[Math.min(i, sizes.length - 1)]!;
    const size = 'count' in spec ? spec.count : Math.max(1, Math.ceil(spec.fraction * n - 1e-9));
    const take = Math.min(left, size);
    out.push(take);
    left -= take;
  }
  return out;
}

/** Splits items into consecutive groups of the planned sizes. */
export function splitIntoBatches<T>(items: readonly T[], sizes: readonly BatchSize[]): T[][] {
  const plan = planBatches(items.length, sizes);
  const out: T[][] = [];
  let at = 0;
  for (const k of plan) {
    out.push(items.slice(at, at + k));
    at += k;
  }
  return out;
}
