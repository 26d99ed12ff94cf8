/**
 * Feature flags as Slipway changes them: a provider (a flag server's admin API, or the user's own
 * commands) reads and writes one flag's state in ONE environment. Evaluation stays the app's
 * business (OpenFeature in the app); Slipway only switches.
 *
 * ## The provider interface (unleash.ts, command.ts)
 * | member | contract |
 * | --- | --- |
 * | `kind`, `server` | for messages: `unleash`, and where (a URL without credentials, or the command) |
 * | `read(flag)` | the flag's state in the environment (undefined: cannot be read); throws FlagError (unknown flag, server down, refused) |
 * | `write(flag, to, from)` | puts the flag into `to` (from: what read() said, so only what differs is sent) |
 */
import { UserError } from '../lib/errors.ts';

export interface FlagState {
  enabled: boolean;
  /** Share of users (0–100) of the gradual rollout Slipway manages; undefined: no gradual rollout (on = everyone). */
  rollout?: number;
}

export type FlagAction = 'enable' | 'disable' | 'rollout' | 'restore';

/** One requested change. */
export interface FlagRequest {
  flag: string;
  action: FlagAction;
  /** rollout: the percentage 0–100. restore: the state to put back. */
  percent?: number;
  state?: FlagState;
}

/** Who changed a flag, from which run. */
export interface FlagActor {
  who: string;
  /** The run that made the change: its URL, or `cli` / `demo`. */
  run: string;
}

/** The record of one change: who, when, from which run, from what to what. */
export interface FlagChange {
  flag: string;
  provider: string;
  server: string;
  environment: string;
  action: FlagAction;
  from?: FlagState;
  to: FlagState;
  who: string;
  run: string;
  /** ISO time the change was made. */
  at: string;
  durationMs: number;
  /** false: the change was tried and failed (error says why); the flag may still be in `from`. */
  ok: boolean;
  /** The flag was already in the wanted state: nothing was sent. */
  unchanged?: boolean;
  attempts?: number;
  error?: string;
}

export interface FlagProvider {
  readonly kind: string;
  /** Where the flags live, safe to print (no credentials). */
  readonly server: string;
  readonly environment: string;
  /** undefined: this provider cannot read flags (a command provider without read-command). */
  read(flag: string, signal?: AbortSignal): Promise<FlagState | undefined>;
  write(flag: string, to: FlagState, from: FlagState | undefined, signal?: AbortSignal): Promise<void>;
}

/** A flag error: one line naming the flag and the server. `retryable`: the server may answer next time (down, 5xx, timeout). */
export class FlagError extends UserError {
  readonly retryable: boolean;
  constructor(message: string, retryable = false) {
    super(message);
    this.name = 'FlagError';
    this.retryable = retryable;
  }
}

/** Unleash's feature-name rule (URL-friendly, 1–100 characters). */
export const FLAG_NAME = /^[A-Za-z0-9][A-Za-z0-9._~-]{0,99}$/;
export const FLAG_NAME_HELP = 'a flag name of letters, digits and . _ ~ - (up to 100 characters)';

export function checkFlagName(flag: string): string {
  if (!FLAG_NAME.test(flag)) throw new UserError(`flag name ${JSON.stringify(flag.slice(0, 120))} is not ${FLAG_NAME_HELP}`);
  return flag;
}

/** `25%` or `25` → 25; anything outside 0–100 is an error naming the flag. */
export function parseRolloutPercent(text: string, flag?: string): number {
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*%?\s*$/.exec(text);
  const n = m ? Number(m[1]) : NaN;
  if (!m || !Number.isFinite(n) || n < 0 || n > 100) {
    throw new UserError(`${flag ? `flag '${flag}': ` : ''}rollout ${JSON.stringify(text.slice(0, 60))} is not a percentage from 0% to 100%`);
  }
  return n;
}

/** What a request turns the state into. */
export function targetState(req: FlagRequest, from: FlagState | undefined): FlagState {
  switch (req.action) {
    case 'enable':
      return { enabled: true, rollout: from?.rollout };
    case 'disable':
      return { enabled: false, rollout: from?.rollout };
    case 'rollout':
      return { enabled: true, rollout: req.percent! };
    case 'restore':
      return { ...req.state! };
  }
}

export function sameState(a: FlagState | undefined, b: FlagState | undefined): boolean {
  if (!a || !b) return false;
  if (a.enabled !== b.enabled) return false;
  // An off flag's rollout is not seen by anyone, but restoring it matters: compare it too.
  return (a.rollout ?? null) === (b.rollout ?? null);
}

/** `off`, `on (100%)`, `on 25%`, `off (25% when on)`, `unknown`. */
export function describeState(s: FlagState | undefined): string {
  if (!s) return 'unknown';
  if (s.enabled) return s.rollout === undefined ? 'on' : `on ${s.rollout}%`;
  return s.rollout === undefined ? 'off' : `off (${s.rollout}% when on)`;
}

/** `enable`, `disable`, `rollout 25%`, `restore to off`. */
export function describeRequest(r: FlagRequest): string {
  if (r.action === 'rollout') return `rollout ${r.percent}%`;
  if (r.action === 'restore') return `restore to ${describeState(r.state)}`;
  return r.action;
}

/** `5%,25%,50%,100%` → [5, 25, 50, 100]: increasing, each in (0, 100]. */
export function parseFlagSteps(text: string): number[] {
  const parts = text.split(/[,\s]+/).filter(Boolean);
  if (!parts.length) throw new UserError('no steps given');
  const out = parts.map((p) => {
    const m = /^(\d+(?:\.\d+)?)%$/.exec(p);
    const n = m ? Number(m[1]) : NaN;
    if (!m || !(n > 0 && n <= 100)) throw new UserError(`step ${JSON.stringify(p.slice(0, 40))} is not a percentage in (0%, 100%]`);
    return n;
  });
  for (let k = 1; k < out.length; k++) if (out[k]! <= out[k - 1]!) throw new UserError(`steps must increase (${parts[k - 1]} then ${parts[k]})`);
  return out;
}

/** A release flag: `checkout` (turned on) or `checkout=25%` (a gradual rollout of 25%). */
export interface ReleaseFlag {
  flag: string;
  percent?: number;
}

export function parseReleaseFlag(text: string): ReleaseFlag {
  const [name, pct, ...rest] = text.split('=');
  if (rest.length) throw new UserError(`${JSON.stringify(text.slice(0, 80))} is not flag or flag=25%`);
  const flag = checkFlagName(name!.trim());
  return pct === undefined ? { flag } : { flag, percent: parseRolloutPercent(pct, flag) };
}

export function releaseRequest(r: ReleaseFlag): FlagRequest {
  return r.percent === undefined ? { flag: r.flag, action: 'enable' } : { flag: r.flag, action: 'rollout', percent: r.percent };
}
