/**
 * Changing flags with a record of every change. `applyFlagChanges` reads every flag first, so an
 * unknown flag, a server that is down or refuses the token fails before anything changes; then it
 * changes them in order and reads each one back. `killSwitch` turns flags off as fast as it can
 * (all at once), retrying within a deadline, and says loudly which ones it could not switch.
 */
import { errorMessage } from '../lib/errors.ts';
import { formatDuration } from '../lib/duration.ts';
import { sleep } from '../lib/sleep.ts';
import type { Reporter } from '../lib/report.ts';
import {
  FlagError,
  checkFlagName,
  describeRequest,
  describeState,
  sameState,
  targetState,
  type FlagActor,
  type FlagChange,
  type FlagProvider,
  type FlagRequest,
  type FlagState,
} from './model.ts';

export interface ChangeOptions {
  actor: FlagActor;
  log?: Reporter;
  signal?: AbortSignal;
  now?: () => Date;
}

export interface ChangeResult {
  changes: FlagChange[];
  /** One line: why the changes stopped (the changes before it were made). */
  failure?: string;
}

function check(req: FlagRequest): void {
  checkFlagName(req.flag);
  if (req.action === 'rollout' && !(typeof req.percent === 'number' && req.percent >= 0 && req.percent <= 100)) {
    throw new FlagError(`flag '${req.flag}': rollout ${String(req.percent)} is not a percentage from 0% to 100%`);
  }
  if (req.action === 'restore' && !req.state) throw new FlagError(`flag '${req.flag}': restore needs the state to put back`);
}

/** The state read back matches what was asked (an enable leaves the server's own strategy alone). */
function reached(got: FlagState | undefined, to: FlagState): boolean {
  if (!got) return true;
  if (got.enabled !== to.enabled) return false;
  return to.rollout === undefined || got.rollout === to.rollout;
}

function isUnchanged(from: FlagState | undefined, to: FlagState): boolean {
  if (!from) return false;
  return sameState(from, to) || (to.rollout === undefined && from.enabled === to.enabled);
}

/** Reads every flag, then applies the requests in order; a failed change stops the rest. */
export async function applyFlagChanges(provider: FlagProvider, requests: FlagRequest[], o: ChangeOptions): Promise<ChangeResult> {
  for (const r of requests) check(r);
  const now = o.now ?? (() => new Date());
  // 1. Read everything first: nothing changes unless every flag is there and the server lets us.
  const before = new Map<string, FlagState | undefined>();
  for (const r of requests) if (!before.has(r.flag)) before.set(r.flag, await provider.read(r.flag, o.signal));
  const changes: FlagChange[] = [];
  for (const r of requests) {
    const from = before.get(r.flag);
    const to = targetState(r, from);
    const base = {
      flag: r.flag,
      provider: provider.kind,
      server: provider.server,
      environment: provider.environment,
      action: r.action,
      from,
      to,
      who: o.actor.who,
      run: o.actor.run,
      at: now().toISOString(),
    };
    const t0 = performance.now();
    if (isUnchanged(from, to)) {
      changes.push({ ...base, to: from!, durationMs: 0, ok: true, unchanged: true });
      o.log?.info(`flag ${r.flag} (${provider.environment}): already ${describeState(from)}; nothing sent`);
      continue;
    }
    try {
      await provider.write(r.flag, to, from, o.signal);
      const got = await provider.read(r.flag, o.signal);
      if (!reached(got, to))
        throw new FlagError(`flag '${r.flag}': ${provider.server} reads back ${describeState(got)} after the change to ${describeState(to)}`);
      const change: FlagChange = { ...base, to: got ?? to, durationMs: performance.now() - t0, ok: true };
      changes.push(change);
      before.set(r.flag, got ?? to);
      o.log?.info(
        `flag ${r.flag} (${provider.environment}): ${describeRequest(r)}: ${describeState(from)} → ${describeState(change.to)} in ${formatDuration(change.durationMs)}`,
      );
    } catch (err) {
      const error = errorMessage(err);
      changes.push({ ...base, durationMs: performance.now() - t0, ok: false, error });
      o.log?.error(error);
      return { changes, failure: error };
    }
  }
  return { changes };
}

export interface KillOptions extends ChangeOptions {
  /** Give up on a flag after this long. Default 30 s. */
  deadlineMs?: number;
  /** First wait between attempts (doubles, at most 2 s). Default 200 ms. */
  backoffMs?: number;
}

/**
 * Turns every flag off at once, each retried until the deadline (unknown flags are not retried).
 * Never throws: a flag it could not switch is a change with ok: false, and an error in the log.
 */
export async function killSwitch(provider: FlagProvider, flags: string[], o: KillOptions): Promise<FlagChange[]> {
  const now = o.now ?? (() => new Date());
  const deadlineMs = o.deadlineMs ?? 30_000;
  const t0 = performance.now();
  const changes = await Promise.all(
    [...new Set(flags)].map(async (flag): Promise<FlagChange> => {
      const at = now().toISOString();
      let from: FlagState | undefined;
      let attempts = 0;
      let error: string | undefined;
      let wait = o.backoffMs ?? 200;
      const base = {
        flag,
        provider: provider.kind,
        server: provider.server,
        environment: provider.environment,
        action: 'disable' as const,
        who: o.actor.who,
        run: o.actor.run,
        at,
      };
      for (;;) {
        attempts++;
        try {
          checkFlagName(flag);
          // Each attempt ends by the deadline, whatever the provider's own timeouts.
          const left = Math.max(1, Math.ceil(deadlineMs - (performance.now() - t0)));
          const signal = o.signal ? AbortSignal.any([o.signal, AbortSignal.timeout(left)]) : AbortSignal.timeout(left);
          const seen = await provider.read(flag, signal);
          from ??= seen;
          const to: FlagState = { enabled: false, ...(seen?.rollout !== undefined ? { rollout: seen.rollout } : {}) };
          if (seen && !seen.enabled) {
            // Off already: before we came (unchanged), or an earlier attempt's switch went through.
            if (attempts > 1)
              o.log?.warning(
                `kill switch: flag ${flag} (${provider.environment}) switched off (${describeState(from)} → ${describeState(seen)}) in ${formatDuration(performance.now() - t0)} after ${attempts} attempts`,
              );
            return { ...base, from, to: seen, durationMs: performance.now() - t0, ok: true, unchanged: attempts === 1, attempts };
          }
          await provider.write(flag, to, seen, signal);
          const got = await provider.read(flag, signal);
          if (got && got.enabled) throw new FlagError(`flag '${flag}': ${provider.server} still reads on after the switch off`, true);
          const ms = performance.now() - t0;
          o.log?.warning(
            `kill switch: flag ${flag} (${provider.environment}) switched off (${describeState(from)} → ${describeState(got ?? to)}) in ${formatDuration(ms)}${attempts > 1 ? ` after ${attempts} attempts` : ''}`,
          );
          return { ...base, from, to: got ?? to, durationMs: ms, ok: true, attempts };
        } catch (err) {
          error = errorMessage(err);
          const retry = !(err instanceof FlagError) || err.retryable;
          const left = deadlineMs - (performance.now() - t0);
          if (!retry || left <= wait || o.signal?.aborted) break;
          o.log?.info(`kill switch: flag ${flag}: attempt ${attempts} failed (${error}); retrying`);
          await sleep(Math.min(wait, left), o.signal).catch(() => undefined);
          wait = Math.min(2000, wait * 2);
        }
      }
      const ms = performance.now() - t0;
      o.log?.error(
        `KILL SWITCH FAILED: flag '${flag}' could not be switched off on ${provider.kind} ${provider.server} (${provider.environment}) within ${formatDuration(deadlineMs)} after ${attempts} attempt(s): ${(error ?? '').replace(`flag '${flag}': `, '')}. Turn it off by hand.`,
      );
      return { ...base, from, to: { enabled: false }, durationMs: ms, ok: false, attempts, error };
    }),
  );
  return changes;
}
