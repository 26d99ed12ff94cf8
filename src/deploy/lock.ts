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
      return {
        token: o.token,
        actor: String(o.actor ?? ''),
        runUrl: String(o.runUrl ?? ''),
        version: String(o.version ?? ''),
        reason: String(o.reason ?? ''),
        since: o.since,
        until: o.until,
      };
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

// ---------------------------------------------------------------------------------------------
// Manual promotion: a paused rollout and a person meet in two files next to the lock on every host
// (`pause: manual` steps, engine.ts). The rollout writes `<deploy-root>/.slipway-pause.json` (its
// pause id, batch, version, deadline) and removes any older `.slipway-signal.json`; `slipway
// promote` / `slipway abort` reads the pause record and writes `.slipway-signal.json` with the same
// id, so a decision never reaches a later pause. Both are written to a temp name and renamed (a
// reader never sees half a record). Any host's signal counts (a host that cannot be reached does
// not block a decision).
// ---------------------------------------------------------------------------------------------

/** What runs a script on a host (SshClient.script). */
export interface ScriptRunner {
  script(
    h: { user: string; host: string; port: number },
    script: string,
    args: readonly string[],
    what: string,
    o?: { timeoutMs?: number; signal?: AbortSignal; input?: string },
  ): Promise<{ stdout: string }>;
}
export interface PromotionHost {
  user: string;
  host: string;
  port: number;
  id: string;
  deployRoot: string;
}

export interface PauseRecord {
  id: string;
  batch: number;
  totalBatches: number;
  version: string;
  deadline: string;
  actor?: string;
  runUrl?: string;
  since?: string;
}
export interface SignalRecord {
  id: string;
  action: 'promote' | 'abort';
  actor: string;
  at: string;
  run?: string;
}

/** $1 root, stdin the record: `.slipway-pause.json` written, an older signal removed. */
const PAUSE_OPEN = `mkdir -p "$1" || exit 3
rm -f "$1/.slipway-signal.json"
cat > "$1/.slipway-pause.json.tmp" && mv -f "$1/.slipway-pause.json.tmp" "$1/.slipway-pause.json"`;
/** $1 root: prints the signal record, or nothing. */
const SIGNAL_READ = `cat "$1/.slipway-signal.json" 2>/dev/null || true`;
/** $1 root: prints the pause record, or nothing. */
const PAUSE_READ = `cat "$1/.slipway-pause.json" 2>/dev/null || true`;
/** $1 root: the pause and its signal removed. */
const PAUSE_CLOSE = `rm -f "$1/.slipway-pause.json" "$1/.slipway-signal.json" "$1/.slipway-pause.json.tmp" "$1/.slipway-signal.json.tmp"`;
/** $1 root, $2 pause id, stdin the signal: written only while that pause is open (else prints gone). */
const SIGNAL_WRITE = `rec=$(cat)
case "$(cat "$1/.slipway-pause.json" 2>/dev/null || true)" in
  *"\\"id\\":\\"$2\\""*) printf '%s\\n' "$rec" > "$1/.slipway-signal.json.tmp" && mv -f "$1/.slipway-signal.json.tmp" "$1/.slipway-signal.json" && echo written ;;
  *) echo gone ;;
esac`;

function parseJson<T>(text: string, check: (o: any) => boolean): T | undefined {
  try {
    const o = JSON.parse(text);
    return o && typeof o === 'object' && check(o) ? (o as T) : undefined;
  } catch {
    return undefined;
  }
}
export const parsePause = (t: string) =>
  parseJson<PauseRecord>(t, (o) => typeof o.id === 'string' && typeof o.deadline === 'string' && typeof o.batch === 'number');
export const parseSignal = (t: string) =>
  parseJson<SignalRecord>(t, (o) => typeof o.id === 'string' && (o.action === 'promote' || o.action === 'abort') && typeof o.actor === 'string');

/** The promotion channel of a hosts fleet (engine.ts `Promotion`). */
export function hostPromotion(ssh: ScriptRunner, hosts: readonly PromotionHost[], who: { actor?: string; runUrl?: string } = {}) {
  const onAll = <T>(fn: (h: PromotionHost) => Promise<T>) => Promise.allSettled(hosts.map(fn));
  return {
    where: `${hosts.length} host(s) (<deploy-root>/.slipway-pause.json)`,
    async open(info: Omit<PauseRecord, 'actor' | 'runUrl' | 'since'>, signal: AbortSignal): Promise<void> {
      const rec: PauseRecord = { ...info, actor: who.actor, runUrl: who.runUrl, since: new Date().toISOString() };
      const r = await onAll((h) =>
        ssh.script(h, PAUSE_OPEN, [h.deployRoot], 'recording the manual pause', { signal, timeoutMs: 30_000, input: JSON.stringify(rec) }),
      );
      const failed = r.flatMap((x, k) => (x.status === 'rejected' ? [`${hosts[k]!.id}: ${errorMessage(x.reason)}`] : []));
      // One host is enough for a person to find the pause; none is not.
      if (failed.length === hosts.length) throw new UserError(`no host took the pause record: ${failed.join('; ')}`);
    },
    async poll(id: string, signal: AbortSignal) {
      const r = await onAll((h) => ssh.script(h, SIGNAL_READ, [h.deployRoot], 'reading the promote signal', { signal, timeoutMs: 30_000 }));
      for (const x of r) {
        const s = x.status === 'fulfilled' ? parseSignal(x.value.stdout.trim()) : undefined;
        if (s && s.id === id) return { action: s.action, actor: s.actor, at: s.at };
      }
      if (r.every((x) => x.status === 'rejected'))
        throw new UserError(
          (r[0] as PromiseRejectedResult).reason instanceof Error ? ((r[0] as PromiseRejectedResult).reason as Error).message : 'no host answered',
        );
      return undefined;
    },
    async close(signal: AbortSignal): Promise<void> {
      await onAll((h) => ssh.script(h, PAUSE_CLOSE, [h.deployRoot], 'clearing the manual pause', { signal, timeoutMs: 30_000 }));
    },
  };
}

/** The open pause of a fleet, as `slipway promote/abort` and `slipway status` see it (undefined: none). */
export async function readPause(ssh: ScriptRunner, hosts: readonly PromotionHost[], signal: AbortSignal): Promise<PauseRecord | undefined> {
  const r = await Promise.allSettled(hosts.map((h) => ssh.script(h, PAUSE_READ, [h.deployRoot], 'reading the manual pause', { signal, timeoutMs: 30_000 })));
  for (const x of r) {
    const p = x.status === 'fulfilled' ? parsePause(x.value.stdout.trim()) : undefined;
    if (p) return p;
  }
  if (r.every((x) => x.status === 'rejected')) throw new UserError(`no host answered: ${errorMessage((r[0] as PromiseRejectedResult).reason)}`);
  return undefined;
}

/** Writes a decision for the open pause `s.id` on every host that holds it; returns how many took it. */
export async function sendSignal(
  ssh: ScriptRunner,
  hosts: readonly PromotionHost[],
  s: SignalRecord,
  signal: AbortSignal,
): Promise<{ written: string[]; failed: string[] }> {
  const r = await Promise.allSettled(
    hosts.map((h) =>
      ssh.script(h, SIGNAL_WRITE, [h.deployRoot, s.id], `writing the ${s.action} signal`, { signal, timeoutMs: 30_000, input: JSON.stringify(s) }),
    ),
  );
  const written: string[] = [];
  const failed: string[] = [];
  r.forEach((x, k) => {
    if (x.status === 'fulfilled' && x.value.stdout.trim() === 'written') written.push(hosts[k]!.id);
    else if (x.status === 'rejected') failed.push(`${hosts[k]!.id}: ${errorMessage(x.reason)}`);
  });
  return { written, failed };
}
