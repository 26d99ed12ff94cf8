/**
 * The deploy lock: one deploy per environment at a time, held ON THE TARGET (so two runners, two
 * workflows or a person with the CLI all see it), taken before the first change and released at
 * the end — by the post step after a cancellation.
 *
 * A lock is a set of parts taken in a fixed order, all or none: `hosts` has one part per host (an
 * atomic `mkdir <deploy-root>/.slipway-lock`), `command` one part (the user's lock-command), and
 * kubernetes (kubernetes.ts, a coordination.k8s.io/v1 Lease) plugs in as another `LockPart`. The
 * first part decides between deploys started together: the loser fails there, having changed
 * nothing, and gives back whatever it took. A part whose holder's `until` has passed is broken,
 * with a warning that names the old holder.
 */
import { randomUUID } from 'node:crypto';
import { UserError, errorMessage } from '../lib/errors.ts';
import { formatDuration } from '../lib/duration.ts';
import type { Reporter } from '../lib/report.ts';
import { sleep } from '../lib/sleep.ts';

/** Who holds a lock: written on the target, shown to whoever finds it held. */
export interface LockHolder {
  /** Random per deploy: only the holder releases. */
  token: string;
  actor: string;
  runUrl: string;
  version: string;
  reason: string;
  /** ISO times. */
  since: string;
  until: string;
}

export type TakeResult = { taken: true; broke?: LockHolder } | { taken: false; holder?: LockHolder; raw?: string };

/** One place a lock is held (a host, a Lease, the user's lock command). */
export interface LockPart {
  /** `web1 (/srv/app/.slipway-lock)`. */
  readonly where: string;
  take(h: LockHolder, nowMs: number, signal: AbortSignal): Promise<TakeResult>;
  /** Gives the part back when `token` holds it; does nothing otherwise. */
  give(token: string, signal: AbortSignal): Promise<void>;
}

export interface LockOptions {
  /** How long to wait for a held lock (ms); 0: fail at once. */
  waitMs: number;
  /** Time between tries while waiting (ms). Default 1000 (with jitter). */
  pollMs?: number;
  log: Reporter;
  signal: AbortSignal;
  now?: () => number;
}

export function newHolder(o: { actor?: string; runUrl?: string; version: string; reason?: string; ttlMs: number; now?: number }): LockHolder {
  const since = o.now ?? Date.now();
  return {
    token: randomUUID(),
    actor: o.actor || 'unknown',
    runUrl: o.runUrl || '',
    version: o.version,
    reason: o.reason || `deploy ${o.version}`,
    since: new Date(since).toISOString(),
    until: new Date(since + o.ttlMs).toISOString(),
  };
}

/** "alice (https://…/runs/7) for v4, "deploy v4", since …, until …". */
export function describeHolder(h: LockHolder | undefined, raw?: string): string {
  if (!h) return raw ? `an unknown holder (${raw.slice(0, 200)})` : 'an unknown holder (the lock is being taken or holds no record)';
  return `${h.actor}${h.runUrl ? ` (${h.runUrl})` : ''} for ${h.version}, "${h.reason}", since ${h.since}, until ${h.until}`;
}

/** Parses a holder record; undefined when it is not one. */
export function parseHolder(text: string): LockHolder | undefined {
  try {
    const o = JSON.parse(text) as Partial<LockHolder>;
    if (typeof o.token === 'string' && typeof o.since === 'string' && typeof o.until === 'string') {
      return { token: o.token, actor: String(o.actor ?? ''), runUrl: String(o.runUrl ?? ''), version: String(o.version ?? ''), reason: String(o.reason ?? ''), since: o.since, until: o.until };
    }
  } catch {}
  return undefined;
}

export class LockHeldError extends UserError {}

/** A lock made of parts, taken in order, all or none. */
export class DeployLock {
  readonly parts: readonly LockPart[];
  constructor(parts: LockPart[]) {
    if (!parts.length) throw new Error('a deploy lock needs at least one part');
    this.parts = parts;
  }

  /**
   * Takes every part in order. When one is held: gives back what was taken, then fails naming the
   * holder, or tries again until `waitMs` passed.
   */
  async acquire(h: LockHolder, o: LockOptions): Promise<void> {
    const now = o.now ?? Date.now;
    const deadline = now() + o.waitMs;
    let waited = false;
    for (;;) {
      if (o.signal.aborted) throw new UserError('cancelled while taking the deploy lock');
      const taken: LockPart[] = [];
      let held: { part: LockPart; r: Extract<TakeResult, { taken: false }> } | undefined;
      try {
        for (const part of this.parts) {
          const r = await part.take(h, now(), o.signal);
          if (!r.taken) {
            held = { part, r };
            break;
          }
          taken.push(part);
          if (r.broke) o.log.warning(`broke the expired deploy lock on ${part.where}: it was held by ${describeHolder(r.broke)}`);
        }
      } catch (err) {
        await this.giveBack(taken, h.token);
        throw new UserError(`taking the deploy lock failed, nothing was changed: ${errorMessage(err)}`);
      }
      if (!held) {
        o.log.info(`deploy lock taken on ${this.parts.length} part(s)${waited ? ' after waiting' : ''}, until ${h.until}`);
        return;
      }
      await this.giveBack(taken, h.token);
      const who = describeHolder(held.r.holder, held.r.raw);
      const left = deadline - now();
      if (left <= 0) {
        throw new LockHeldError(
          `the deploy lock on ${held.part.where} is held by ${who}; nothing was changed${o.waitMs ? ` (waited ${formatDuration(o.waitMs)}, the lock-wait input)` : ' (give lock-wait to wait for it)'}`,
        );
      }
      if (!waited) o.log.info(`the deploy lock on ${held.part.where} is held by ${who}: waiting up to ${formatDuration(left)}`);
      waited = true;
      const poll = o.pollMs ?? 1000;
      await sleep(Math.min(left, poll / 2 + Math.random() * poll), o.signal);
    }
  }

  /** Gives back every part this token holds (safe to call when some or none are held). */
  async release(token: string, signal: AbortSignal = AbortSignal.timeout(60_000)): Promise<void> {
    await this.giveBack([...this.parts], token, signal, true);
  }

  private async giveBack(parts: LockPart[], token: string, signal: AbortSignal = AbortSignal.timeout(60_000), strict = false): Promise<void> {
    const errors: string[] = [];
    for (const p of parts.reverse()) {
      try {
        await p.give(token, signal);
      } catch (err) {
        errors.push(`${p.where}: ${errorMessage(err)}`);
      }
    }
    if (strict && errors.length) throw new UserError(`releasing the deploy lock failed on ${errors.join('; ')}`);
  }
}
