/**
 * The rollout engine: batches, readiness, drain, gates, automatic rollback, saved state.
 * It never knows which platform it drives: everything platform-specific is behind DeployTarget.
 *
 * ## The target interface (implemented by hosts.ts, local.ts, command.ts; kubernetes.ts later)
 *
 * A target is a set of instances (a host, a process, a pod, a slot) that each run one version of
 * the application. Every method takes an AbortSignal (the job was cancelled) and throws on
 * failure (prefer UserError with a one-line reason that names the instance). Methods that take a
 * list act on all of it at once (one load-balancer reload for a whole batch).
 *
 * | member | contract |
 * | --- | --- |
 * | `kind` | `'hosts'`, `'local'`, `'command'`, … (logs and saved state) |
 * | `strategy` | `'in-place'`: the new version replaces the old one in the same slot (stop, then start). `'beside'`: the new version starts next to the old one, traffic moves, then the old one stops |
 * | `instances()` | every instance, in a stable order (the rollout order): `{ id, url }` (url: where the instance serves, for gates) |
 * | `currentVersion(i)` | the version instance i runs now, or undefined when it runs none |
 * | `previousVersion(i)` | the version kept on the target to go back to (rollback mode), or undefined |
 * | `prepare?(version, instances)` | before anything is switched: upload/fetch the release, check the load balancer config. A failure here changes nothing |
 * | `drain(list)` | take the instances out of the load balancer and wait until in-flight requests finished (bounded by the target's drain timeout) |
 * | `undrain(list)` | put them back in |
 * | `stop(i)` | stop what runs on i (in-place: before start; beside: the old copy after traffic moved), SIGTERM then SIGKILL after a grace period |
 * | `deploy(i, version)` | start `version` on i; resolves with `{ readyUrl }` once started (not ready). The engine then polls readyUrl |
 * | `switchBack(i, version)` | start an earlier `version` again (kept on the target, no new upload); same result as deploy |
 * | `replace?(i, version, how, go)` | in-place: `stop` then `deploy` (how `deploy`) or `switchBack` (how `switchBack`) as ONE step (hosts: one SSH round trip); used instead of the two when present. Called while the load balancer still moves traffic away: it may get ready at once but stops nothing until `go` resolves true; on false it changes nothing and throws NotStarted |
 * | `probe?(i, readyUrl)` | own readiness check (command target); default: HTTP GET readyUrl, 2xx = ready |
 * | `exited?(i)` | the started process has ended: the reason (fails readiness at once), else undefined |
 * | `logs?(i, lines)` | the last log lines of what runs on i, for failure summaries |
 * | `finish?(version, instances)` | after a successful rollout (prune old releases) |
 * | `reportedVersion?(i)` | the version i says it serves (a version command; '' when it printed nothing, undefined when none is configured), checked instead of the readiness answer's |
 * | `setWeights?(weights, apply)` | canary: load-balancer weights by instance id (undefined: all equal); `apply` false = keep them for the next drain/undrain reload |
 * | `swap?(back, out)` | at a batch boundary with no pause and no gate: the previous batch back in and the next one out in one change (nginx: one checked reload instead of two) |
 * | `lockParts?()` | where the deploy lock is held (lock.ts): hosts one part per host, command the lock-command; the action takes it before `instances()` |
 * | `close()` | release connections and temp files; called once, always |
 *
 * Strategies: rolling is the batch loop below. **Canary** (`EngineOptions.canary`: cumulative
 * shares of traffic such as [0.1, 0.5, 1]) is the same loop with batches derived from the shares
 * (step k has max(1, ceil(share × n)) instances switched in total) and weights set before each
 * step's undrain so the new instances receive the step's share (`canaryWeights`); the gate runs
 * between steps; on failure weights are cleared and the usual undo runs. **Blue/green** needs a
 * second slot per instance and lives in strategies.ts (BlueGreenTarget).
 *
 * The batches (canary steps) run as a plan on the shared step executor (executor.ts): it owns the
 * step loop, the pause and the gate between steps, the kill switch before the undo, the undo log
 * (here one entry: Run.undo, last batch first, also what the post step runs from saved state),
 * the failure/rolled-back/rollback-failed rule and the saves.
 *
 * Sequence per batch, in-place: `drain(batch)` → per instance in parallel: `stop` → `deploy` →
 * readiness (`healthy-threshold` consecutive 2xx within `ready-timeout`, then `min-ready` still
 * ready) → `undrain(batch)`. Beside: per instance `deploy` → readiness → `undrain(batch)` →
 * `stop` (old copies). Between batches: `pause`, then the gate. A failure anywhere (readiness
 * timeout, process exit, gate fail, target error) rolls back every switched instance in reverse
 * order with the same discipline (`switchBack` instead of `deploy`); instances whose rollback
 * fails stay out of traffic and the result names which instance runs which version.
 * State (RolloutState, JSON) is handed to `saveState` before and after every batch, so a post
 * step can finish the undo after a cancellation (resumeRollback).
 */
import { errorMessage, UserError } from '../lib/errors.ts';
import { request, type Http } from '../lib/http.ts';
import type { Reporter } from '../lib/report.ts';
import { formatDuration } from '../lib/duration.ts';
import { redactUrl } from '../lib/secrets.ts';
import { splitIntoBatches, type BatchSize } from './batches.ts';
import { sleep } from '../lib/sleep.ts';
import type { LockPart } from './lock.ts';
import { executeSteps, type Failure, type GateContext, type GateFn, type GateResult, type Step, type UndoEntry } from './executor.ts';

export interface InstanceRef {
  id: string;
  /** Base URL where the instance serves traffic (for gates and the summary). */
  url: string;
}

export interface Started {
  /** Full URL polled for readiness (the target appends the readiness path). */
  readyUrl: string;
}

export interface ReadyProbe {
  ok: boolean;
  /** What the check saw: `HTTP 503 {"ready":false}` or `ECONNREFUSED`. */
  answer: string;
  /** The version the instance says it serves (X-App-Version header or JSON `version` field). */
  version?: string;
  /** Set by the version check: the instance answered 2xx but serves this other version. */
  mismatch?: string;
  /** Set by the version check: the instance answered 2xx without saying its version. */
  noVersion?: boolean;
}

/**
 * `required`: an instance is ready only when it also says it serves the version being rolled out
 * (the contract in docs/deploy-rolling.md); `off`: a 2xx is enough (apps that cannot say their version).
 */
export type VersionCheck = 'required' | 'off';

export interface DeployTarget {
  readonly kind: string;
  readonly strategy: 'in-place' | 'beside';
  instances(signal: AbortSignal): Promise<InstanceRef[]>;
  currentVersion(inst: InstanceRef, signal: AbortSignal): Promise<string | undefined>;
  previousVersion(inst: InstanceRef, signal: AbortSignal): Promise<string | undefined>;
  prepare?(version: string, insts: InstanceRef[], signal: AbortSignal): Promise<void>;
  drain(insts: InstanceRef[], signal: AbortSignal): Promise<void>;
  undrain(insts: InstanceRef[], signal: AbortSignal): Promise<void>;
  stop(inst: InstanceRef, signal: AbortSignal): Promise<void>;
  deploy(inst: InstanceRef, version: string, signal: AbortSignal): Promise<Started>;
  switchBack(inst: InstanceRef, version: string, signal: AbortSignal): Promise<Started>;
  /**
   * In place: stop what runs on inst and start `version` (deploy or switchBack) in one step; same
   * result as deploy. Nothing may be stopped before `go` resolves true (the drain is done); false
   * (the drain failed) leaves inst as it was and rejects with NotStarted.
   */
  replace?(inst: InstanceRef, version: string, how: 'deploy' | 'switchBack', signal: AbortSignal, go: Promise<boolean>): Promise<Started>;
  probe?(inst: InstanceRef, readyUrl: string, signal: AbortSignal): Promise<ReadyProbe>;
  exited?(inst: InstanceRef): string | undefined;
  logs?(inst: InstanceRef, lines: number, signal: AbortSignal): Promise<string>;
  finish?(version: string, insts: InstanceRef[], signal: AbortSignal): Promise<void>;
  /** The version instance i says it serves, from the user's version-command (instead of the readiness answer). */
  reportedVersion?(inst: InstanceRef, signal: AbortSignal): Promise<string | undefined>;
  setWeights?(weights: Record<string, number> | undefined, signal: AbortSignal, apply: boolean): Promise<void>;
  /** Puts `back` into traffic and takes `out` out of it in ONE load-balancer change (one reload at a batch boundary). */
  swap?(back: InstanceRef[], out: InstanceRef[], signal: AbortSignal): Promise<void>;
  /** Where this target holds the deploy lock (lock.ts), in the order they are taken; [] = no lock. */
  lockParts?(): LockPart[];
  /** Where a `pause: manual` step waits for `slipway promote` / `slipway abort` (lock.ts: files next to the lock on hosts). */
  promotion?(): Promotion;
  close(): Promise<void>;
}

/** A human's decision at a `pause: manual` step. */
export interface PromotionDecision {
  action: 'promote' | 'abort';
  actor: string;
  at: string;
}

/**
 * The place a paused rollout and a person meet (lock.ts: `hostPromotion`). `open` records that this
 * rollout waits (with a fresh id, so a decision meant for an earlier pause is never taken) and
 * clears any older decision; `poll` returns the decision for that id, if any; `close` removes both.
 */
export interface Promotion {
  readonly where: string;
  open(info: { id: string; batch: number; totalBatches: number; version: string; deadline: string }, signal: AbortSignal): Promise<void>;
  poll(id: string, signal: AbortSignal): Promise<PromotionDecision | undefined>;
  close(signal: AbortSignal): Promise<void>;
}

export type StrategyName = 'rolling' | 'canary' | 'blue-green';

/** The gate between steps and a step's failure are the step executor's (executor.ts); re-exported here. */
export type { Failure, GateContext, GateFn, GateResult };

export interface ReadinessOptions {
  /** Consecutive 2xx answers needed. */
  threshold: number;
  /** Time allowed to become ready (ms). */
  timeoutMs: number;
  /** Time between probes (ms). */
  intervalMs: number;
  /** Must stay ready this long after the threshold is met (ms). */
  minReadyMs: number;
  /** Timeout of one probe request (ms). */
  requestTimeoutMs: number;
  /** Whether readiness also checks the version the instance serves. Default 'off' here; the action's default is 'required'. */
  versionCheck?: VersionCheck;
}

/**
 * Time between probes while an instance has not answered 2xx yet (or intervalMs when shorter): the
 * end of a boot is seen within this. Between the threshold's consecutive 2xx answers, and after a
 * 2xx with the wrong version, probes stay intervalMs apart.
 */
export const FIRST_POLL_MS = 50;

/** Consecutive 2xx answers with the wrong version (or none) that fail readiness at once. */
export const VERSION_STRIKES = 3;

export const DEFAULT_READINESS: ReadinessOptions = { threshold: 1, timeoutMs: 60_000, intervalMs: 250, minReadyMs: 0, requestTimeoutMs: 2_000 };

export type InstanceStatus = 'old' | 'drained' | 'switching' | 'new' | 'rolled-back' | 'rollback-failed';

export interface InstanceState {
  id: string;
  url: string;
  /** 1-based batch number. */
  batch: number;
  /** The version before the rollout (undefined: none ran). */
  from?: string;
  to: string;
  status: InstanceStatus;
  /** Time from start to ready (ms), forward and back. */
  readyMs?: number;
  rollbackReadyMs?: number;
  error?: string;
}

export interface BatchRecord {
  batch: number;
  instances: string[];
  startedAt: number;
  endedAt?: number;
  outcome: 'done' | 'failed' | 'cancelled' | 'running';
  gate?: GateResult & { durationMs: number };
  /** Canary: the new version's share of traffic after this step, and the weights set. */
  share?: number;
  weights?: Record<string, number>;
  /** A `pause: manual` after this batch: who decided what (deadline: nobody did), and how long it waited. */
  promotion?: { action: 'promote' | 'abort' | 'deadline'; actor: string; at: string; waitedMs: number };
}

/** Saved after every step (GITHUB_STATE). */
export interface RolloutState {
  schema: 1;
  /** 'rollout': deploy a new version; 'rollback': rollback mode (back to the kept version). */
  mode: 'rollout' | 'rollback';
  target: string;
  version: string;
  previousVersion?: string;
  startedAt: number;
  finished: boolean;
  totalBatches: number;
  instances: InstanceState[];
  /** Absent: rolling (or canary: undone like rolling). */
  strategy?: StrategyName;
  /** Blue/green: each instance's live slot before, the slot the new version starts in, whether traffic moved. */
  blueGreen?: { from: Record<string, string>; to: Record<string, string>; switched: boolean };
}

export type RolloutStatus = 'succeeded' | 'unchanged' | 'rolled-back' | 'rollback-failed' | 'cancelled' | 'failed';

export interface BlueGreenRecord {
  /** instance → slot (`blue`/`green`) that served before, and the one the new version started in. */
  from: Record<string, string>;
  to: Record<string, string>;
  switched: boolean;
  switchedBack: boolean;
  /** Time of the one load-balancer change that moved every instance's traffic (ms). */
  switchMs?: number;
  switchBackMs?: number;
  /** Instances whose idle slot already ran the version (no start needed). */
  reused: string[];
  /** The old set keeps running until then (ISO time), or 'stopped'. */
  keepUntil?: string;
}

export interface RolloutResult {
  status: RolloutStatus;
  /** Absent: rolling. */
  strategy?: StrategyName;
  blueGreen?: BlueGreenRecord;
  mode: 'rollout' | 'rollback';
  version: string;
  previousVersion?: string;
  startedAt: number;
  durationMs: number;
  batches: BatchRecord[];
  instances: InstanceState[];
  failure?: Failure;
  /** Versions read back after a rollback (instance → version or 'unknown: why'). */
  finalVersions?: Record<string, string>;
  rollbackMs?: number;
  warnings: string[];
  /** What EngineOptions.beforeUndo returned (the kill switch's record), when it ran. */
  beforeUndo?: unknown;
}

export interface EngineOptions {
  batches: readonly BatchSize[];
  readiness?: Partial<ReadinessOptions>;
  pauseMs?: number;
  gate?: GateFn;
  signal?: AbortSignal;
  log: Reporter;
  saveState?: (state: RolloutState) => void;
  http?: Http;
  /** On cancellation: roll back now (CLI), or leave it to a post step (action; default). */
  rollbackOnCancel?: boolean;
  /**
   * Runs once when the rollout failed, BEFORE any instance is rolled back: the kill switch turns the
   * release's feature flags off (seconds) while the fleet still runs the new version. Its result is
   * put on RolloutResult.beforeUndo; a throw is a warning, the undo goes on.
   */
  beforeUndo?: (failure: Failure) => Promise<unknown>;
  /** Lines of process log to show for a failed instance. Default 10. */
  logLines?: number;
  /**
   * Canary: cumulative shares of traffic for the new version, ending with 1 ([0.1, 0.5, 1]).
   * Replaces `batches`; needs a target with setWeights.
   */
  canary?: readonly number[];
  /** Batch (canary step) numbers, from 1, after which the rollout waits for a promote or an abort (`pause: manual`). */
  manualPauses?: readonly number[];
  /** Where it waits; required when manualPauses is not empty. */
  promotion?: Promotion;
  /** How long a manual pause waits before it aborts (rolls back). Default 1h. */
  promotionDeadlineMs?: number;
  /** Time between looks at the promotion signal. Default 1000 ms. */
  promotionPollMs?: number;
  /** How the person promotes, for the log: `slipway promote --env production`. */
  promoteHint?: string;
}

/**
 * Integer load-balancer weights so that `newIds` together receive `share` of the traffic and
 * `oldIds` the rest (within 0.5 percentage points, weights ≤ 1000). Undefined when one side is
 * empty (all equal).
 */
export function canaryWeights(newIds: readonly string[], oldIds: readonly string[], share: number): Record<string, number> | undefined {
  if (!newIds.length || !oldIds.length) return undefined;
  const m = newIds.length;
  const n = oldIds.length;
  const ratio = share / m / ((1 - share) / n); // weight of one new instance ÷ weight of one old one
  let best = { wn: 1, wo: 1, err: Infinity };
  for (let base = 1; base <= 1000; base++) {
    const [wn, wo] = ratio >= 1 ? [Math.round(base * ratio), base] : [base, Math.round(base / ratio)];
    if (wn < 1 || wo < 1 || wn > 1000 || wo > 1000) continue;
    const err = Math.abs((wn * m) / (wn * m + wo * n) - share);
    if (err < best.err - 1e-12) best = { wn, wo, err };
    if (err <= 0.005) break;
  }
  return Object.fromEntries([...newIds.map((id) => [id, best.wn]), ...oldIds.map((id) => [id, best.wo])]);
}

/** Share of traffic the weights give to `ids` (for logs and tests). */
export function shareOf(weights: Record<string, number> | undefined, ids: readonly string[], all: readonly string[]): number {
  const w = (id: string) => weights?.[id] ?? 1;
  const total = all.reduce((a, id) => a + w(id), 0);
  return total ? ids.reduce((a, id) => a + w(id), 0) / total : 0;
}

/** The version an answer carries: the X-App-Version header, else a string `version` field of a JSON body. */
export function answeredVersion(headers: Headers, body: string): string | undefined {
  const h = headers.get('x-app-version')?.trim();
  if (h) return h;
  if (!/^\s*\{/.test(body)) return undefined;
  try {
    const v = (JSON.parse(body) as { version?: unknown }).version;
    return typeof v === 'string' && v ? v : typeof v === 'number' ? String(v) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Readiness with the version check: a 2xx counts only when the instance says it serves `expected`
 * (from the answer, or from `reported` when the user gave a version command).
 */
export async function checkVersion(
  p: ReadyProbe,
  expected: string,
  mode: VersionCheck | undefined,
  reported?: () => Promise<string | undefined>,
): Promise<ReadyProbe> {
  if (!p.ok || mode !== 'required') return p;
  let v = p.version;
  if (reported) {
    try {
      const r = await reported(); // undefined: the target has no version command configured
      if (r !== undefined) v = r;
    } catch (err) {
      return { ok: false, answer: `${p.answer}; version-command failed: ${errorMessage(err)}` };
    }
  }
  if (v === undefined || v === '') return { ...p, ok: false, noVersion: true };
  if (v !== expected) return { ...p, ok: false, version: v, mismatch: v };
  return { ...p, version: v };
}

/** The HTTP readiness probe: GET, 2xx = ready; the answer keeps the status and the start of the body. */
export async function httpProbe(url: string, timeoutMs: number, signal: AbortSignal, http: Http = request): Promise<ReadyProbe> {
  try {
    const r = await http(url, { timeoutMs, retries: 0, signal, redirect: 'manual' });
    const body = r.body.replace(/\s+/g, ' ').trim().slice(0, 200);
    return { ok: r.status >= 200 && r.status < 300, answer: `HTTP ${r.status}${body ? ` ${body}` : ''}`, version: answeredVersion(r.headers, r.body) };
  } catch (err) {
    const m = errorMessage(err).replace(`GET ${redactUrl(url)} failed after 1 attempt: `, '');
    return { ok: false, answer: m };
  }
}

/** "answers v3, expected v4" (the engine puts the instance name first). */
function versionReason(p: ReadyProbe, expected: string | undefined): string {
  if (p.mismatch !== undefined) return `answers ${p.mismatch}, expected ${expected ?? '(the new version)'}`;
  return `answers without saying its version (expected ${expected ?? 'the new version'}): send an X-App-Version header or a JSON "version" field on the readiness path, give version-command, or set version-check: off`;
}

export interface ReadyOutcome {
  ok: boolean;
  readyMs: number;
  lastAnswer: string;
  reason?: string;
}

/**
 * Polls check() until it passes `threshold` times in a row within timeoutMs, then keeps polling
 * for minReadyMs (any failure then fails). exited() ends the wait at once.
 */
export async function waitReady(
  check: () => Promise<ReadyProbe>,
  opts: ReadinessOptions & { signal: AbortSignal; exited?: () => string | undefined; expectVersion?: string },
): Promise<ReadyOutcome> {
  const t0 = performance.now();
  const deadline = t0 + opts.timeoutMs;
  let streak = 0;
  let strikes = 0;
  let last = '(no answer yet)';
  for (;;) {
    if (opts.signal.aborted) throw opts.signal.reason ?? new UserError('cancelled');
    const gone = opts.exited?.();
    if (gone) return { ok: false, readyMs: performance.now() - t0, lastAnswer: last, reason: `process exited: ${gone}` };
    const p = await check();
    last = p.answer;
    streak = p.ok ? streak + 1 : 0;
    strikes = p.mismatch !== undefined || p.noVersion ? strikes + 1 : 0;
    if (strikes >= VERSION_STRIKES) return { ok: false, readyMs: performance.now() - t0, lastAnswer: last, reason: versionReason(p, opts.expectVersion) };
    if (streak >= opts.threshold) break;
    if (performance.now() >= deadline) {
      return { ok: false, readyMs: performance.now() - t0, lastAnswer: last, reason: `not ready within ${formatDuration(opts.timeoutMs)}` };
    }
    const booting = !p.ok && p.mismatch === undefined && !p.noVersion;
    await sleep(Math.min(booting ? Math.min(opts.intervalMs, FIRST_POLL_MS) : opts.intervalMs, Math.max(0, deadline - performance.now())), opts.signal);
  }
  const readyMs = performance.now() - t0;
  const until = performance.now() + opts.minReadyMs;
  while (performance.now() < until) {
    await sleep(Math.min(opts.intervalMs, Math.max(0, until - performance.now())), opts.signal);
    const gone = opts.exited?.();
    if (gone) return { ok: false, readyMs, lastAnswer: last, reason: `process exited during min-ready: ${gone}` };
    const p = await check();
    last = p.answer;
    if (p.mismatch !== undefined || p.noVersion) return { ok: false, readyMs, lastAnswer: last, reason: versionReason(p, opts.expectVersion) };
    if (!p.ok) return { ok: false, readyMs, lastAnswer: last, reason: `became unready during min-ready ${formatDuration(opts.minReadyMs)}` };
  }
  return { ok: true, readyMs, lastAnswer: last };
}

interface Plan {
  inst: InstanceRef;
  state: InstanceState;
}

class Cancelled extends Error {}

/** A replace whose `go` came back false: nothing was stopped or started on the instance. */
export class NotStarted extends Error {
  constructor(id: string) {
    super(`${id}: not replaced (the load balancer change before it failed)`);
  }
}

/** Shared machinery of rollout, rollback mode and the post-step undo. */
class Run {
  readonly target: DeployTarget;
  readonly opts: EngineOptions;
  readonly readiness: ReadinessOptions;
  readonly signal: AbortSignal;
  readonly state: RolloutState;
  readonly batches: BatchRecord[] = [];
  readonly warnings: string[] = [];
  readonly http: Http;
  constructor(target: DeployTarget, opts: EngineOptions, state: RolloutState) {
    this.target = target;
    this.opts = opts;
    this.readiness = { ...DEFAULT_READINESS, ...opts.readiness };
    this.signal = opts.signal ?? new AbortController().signal;
    this.state = state;
    this.http = opts.http ?? request;
  }
  save() {
    try {
      this.opts.saveState?.(structuredClone(this.state));
    } catch (err) {
      this.opts.log.warning(`could not save rollout state: ${errorMessage(err)}`);
    }
  }
  private async check(inst: InstanceRef, readyUrl: string, expected: string, signal: AbortSignal): Promise<ReadyProbe> {
    const t = this.target;
    const p = t.probe
      ? await t.probe(inst, readyUrl, signal).catch((e) => ({ ok: false, answer: errorMessage(e) }))
      : await httpProbe(readyUrl, this.readiness.requestTimeoutMs, signal, this.http);
    return checkVersion(p, expected, this.readiness.versionCheck, t.reportedVersion ? () => t.reportedVersion!(inst, signal) : undefined);
  }
  private async logsOf(inst: InstanceRef): Promise<string | undefined> {
    if (!this.target.logs) return undefined;
    try {
      const ctl = AbortSignal.timeout(10_000);
      return (await this.target.logs(inst, this.opts.logLines ?? 10, ctl)).trim() || undefined;
    } catch (err) {
      return `(could not read logs: ${errorMessage(err)})`;
    }
  }

  /**
   * Switches one group to the versions in their plans (deploy forward, switchBack when undoing).
   * Forward: the first failure cancels the siblings and the group fails. Undo: every member is
   * tried; the ready ones go back into traffic, the others stay out.
   */
  async switchGroup(
    group: Plan[],
    direction: 'forward' | 'undo',
    how: 'deploy' | 'switchBack',
    record: BatchRecord,
    boundary: { putBack?: InstanceRef[]; deferUndrain?: boolean } = {},
  ): Promise<Failure | undefined> {
    const t = this.target;
    const forward = direction === 'forward';
    const groupCtl = new AbortController();
    const signal = AbortSignal.any([this.signal, groupCtl.signal]);
    const insts = group.map((p) => p.inst);
    const undoFailed = (p: Plan, reason: string) => {
      p.state.status = 'rollback-failed';
      p.state.error = reason;
    };
    // In place with replace: every instance's replace starts now, beside the load balancer change
    // (hosts: the SSH session opens and the release gets ready while nginx reloads), and stops the
    // old copy only on go, once the drain is done.
    let go: ((ok: boolean) => void) | undefined;
    const early = new Map<Plan, Promise<Started>>();
    if (t.strategy === 'in-place' && t.replace) {
      const gate = new Promise<boolean>((res) => (go = res));
      for (const p of group) {
        const version = forward ? p.state.to : p.state.from;
        if (!version) continue;
        const started = t.replace(p.inst, version, how, signal, gate);
        started.catch(() => undefined);
        early.set(p, started);
      }
    }
    if (t.strategy === 'in-place') {
      try {
        if (boundary.putBack?.length && t.swap) await t.swap(boundary.putBack, insts, this.signal);
        else {
          if (boundary.putBack?.length) await t.undrain(boundary.putBack, this.signal);
          await t.drain(insts, this.signal);
        }
      } catch (err) {
        go?.(false);
        await Promise.allSettled(early.values());
        if (this.signal.aborted) throw new Cancelled();
        const reason = `drain failed: ${errorMessage(err)}`;
        if (!forward) group.forEach((p) => undoFailed(p, reason));
        return { phase: 'drain', instance: insts.map((i) => i.id).join(', '), reason };
      }
      if (forward) for (const p of group) if (p.state.status === 'old') p.state.status = 'drained';
      this.save();
    }
    const started = performance.now();
    const running = group.map(async (p): Promise<Failure | undefined> => {
      const version = forward ? p.state.to : p.state.from;
      try {
        if (!version) throw new UserError('no previous version to switch back to');
        if (forward) p.state.status = 'switching';
        this.save();
        let s: Started;
        // In place: stop and start as one step when the target can (hosts: one SSH round trip),
        // started above beside the drain.
        const replaced = early.get(p);
        if (replaced) s = await replaced;
        else {
          if (t.strategy === 'in-place') await t.stop(p.inst, signal);
          s = how === 'deploy' ? await t.deploy(p.inst, version, signal) : await t.switchBack(p.inst, version, signal);
        }
        const r = await waitReady(() => this.check(p.inst, s.readyUrl, version, signal), {
          ...this.readiness,
          signal,
          expectVersion: version,
          exited: t.exited ? () => t.exited!(p.inst) : undefined,
        });
        if (!r.ok) {
          const fail: Failure = { phase: 'readiness', instance: p.inst.id, reason: `${p.inst.id} ${r.reason}`, lastAnswer: r.lastAnswer };
          groupCtl.abort(new Cancelled());
          fail.logs = await this.logsOf(p.inst);
          if (!forward) undoFailed(p, `${r.reason}; last answer: ${r.lastAnswer}`);
          return fail;
        }
        const took = performance.now() - started;
        if (forward) p.state.readyMs = Math.round(took);
        else p.state.rollbackReadyMs = Math.round(took);
        this.opts.log.info(`  ${p.inst.id}: ${version} ready in ${formatDuration(took)}`);
        return undefined;
      } catch (err) {
        if (this.signal.aborted) return { phase: 'cancelled', instance: p.inst.id, reason: 'cancelled' };
        if (groupCtl.signal.aborted && forward) return undefined; // a sibling failed first
        groupCtl.abort(new Cancelled());
        const reason = `${p.inst.id}: ${errorMessage(err)}`;
        if (!forward) undoFailed(p, errorMessage(err));
        return { phase: 'start', instance: p.inst.id, reason, logs: await this.logsOf(p.inst) };
      }
    });
    // Every instance is marked switching (saved): the hosts may stop the old copies now.
    go?.(true);
    const outcomes = await Promise.all(running);
    if (this.signal.aborted) throw new Cancelled();
    const failure = outcomes.find((o) => o !== undefined);
    if (forward && failure) return failure;
    // Into traffic: everything forward; only what came back when undoing.
    const good = forward ? group : group.filter((p) => p.state.status !== 'rollback-failed');
    try {
      // deferUndrain: the next batch's drain puts these back in the same load-balancer change.
      if (good.length && !(forward && boundary.deferUndrain))
        await t.undrain(
          good.map((p) => p.inst),
          this.signal,
        );
      if (t.strategy === 'beside') await Promise.all(good.map((p) => t.stop(p.inst, signal)));
    } catch (err) {
      if (this.signal.aborted) throw new Cancelled();
      const reason = `${t.strategy === 'beside' ? 'switching traffic' : 'undrain'} failed: ${errorMessage(err)}`;
      if (!forward) good.forEach((p) => undoFailed(p, reason));
      return { phase: 'undrain', instance: good.map((p) => p.inst.id).join(', '), reason };
    }
    for (const p of good) p.state.status = forward ? 'new' : 'rolled-back';
    record.endedAt = Date.now();
    this.save();
    return failure;
  }

  /** Undo: every instance that is not on its `from` version goes back, last batch first. */
  async undo(plans: Plan[]): Promise<void> {
    const t0 = performance.now();
    const touched = plans.filter((p) => p.state.status !== 'old' && p.state.status !== 'rolled-back');
    const drainedOnly = touched.filter((p) => p.state.status === 'drained');
    const toSwitch = touched.filter((p) => p.state.status !== 'drained');
    this.opts.log.info(`rolling back ${toSwitch.length} instance(s)${drainedOnly.length ? `, putting ${drainedOnly.length} drained instance(s) back` : ''}`);
    // Keep everything that is not known-good out of traffic while we work.
    if (toSwitch.length && this.target.strategy === 'in-place') {
      try {
        await this.target.drain(
          toSwitch.map((p) => p.inst),
          this.signal,
        );
      } catch (err) {
        this.opts.log.warning(`could not take switched instances out of traffic: ${errorMessage(err)}`);
      }
    }
    const byBatch = new Map<number, Plan[]>();
    for (const p of toSwitch) byBatch.set(p.state.batch, [...(byBatch.get(p.state.batch) ?? []), p]);
    for (const b of [...byBatch.keys()].sort((a, z) => z - a)) {
      const group = byBatch.get(b)!;
      await this.opts.log.group(`rollback batch ${b}: ${group.map((p) => p.inst.id).join(', ')}`, async () => {
        const rec: BatchRecord = { batch: b, instances: group.map((p) => p.inst.id), startedAt: Date.now(), outcome: 'running' };
        const f = await this.switchGroup(group, 'undo', 'switchBack', rec);
        rec.outcome = f ? 'failed' : 'done';
        rec.endedAt = Date.now();
        if (f) this.opts.log.error(`rollback of ${f.instance ?? 'batch'} failed: ${f.reason}${f.lastAnswer ? ` (last answer: ${f.lastAnswer})` : ''}`);
      });
    }
    if (drainedOnly.length) {
      try {
        await this.target.undrain(
          drainedOnly.map((p) => p.inst),
          this.signal,
        );
        for (const p of drainedOnly) p.state.status = 'rolled-back';
      } catch (err) {
        for (const p of drainedOnly) {
          p.state.status = 'rollback-failed';
          p.state.error = `still out of traffic: ${errorMessage(err)}`;
        }
      }
    }
    this.save();
    this.rollbackMs = performance.now() - t0;
  }
  rollbackMs?: number;

  async readVersions(insts: InstanceRef[]): Promise<Record<string, string>> {
    const got = await Promise.all(
      insts.map(async (i) => {
        try {
          return (await this.target.currentVersion(i, AbortSignal.timeout(15_000))) ?? '(none)';
        } catch (err) {
          return `unknown: ${errorMessage(err)}`;
        }
      }),
    );
    return Object.fromEntries(insts.map((i, k) => [i.id, got[k]!]));
  }
}

function mostCommon(values: (string | undefined)[]): string | undefined {
  const counts = new Map<string, number>();
  for (const v of values) if (v !== undefined) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: string | undefined;
  let n = 0;
  for (const [v, c] of counts) if (c > n) [best, n] = [v, c];
  return best;
}

/**
 * Shared loop: switch the plans batch by batch (rollout or rollback mode); undo on failure.
 * `how` is 'deploy' for a rollout and 'switchBack' for rollback mode (to an earlier version).
 */
async function converge(
  target: DeployTarget,
  opts: EngineOptions,
  mode: 'rollout' | 'rollback',
  version: string,
  all: InstanceRef[],
  versions: (string | undefined)[],
  targetVersion: (i: number) => string,
): Promise<RolloutResult> {
  const startedAt = Date.now();
  const t0 = performance.now();
  const plans: Plan[] = [];
  all.forEach((inst, i) => {
    const to = targetVersion(i);
    if (versions[i] === to) return;
    plans.push({ inst, state: { id: inst.id, url: inst.url, batch: 0, from: versions[i], to, status: 'old' } });
  });
  const previousVersion = mostCommon(plans.map((p) => p.state.from)) ?? mostCommon(versions);
  const canary = mode === 'rollout' ? opts.canary : undefined;
  if (canary && !target.setWeights) throw new UserError(`the ${target.kind} target cannot weight traffic (canary needs a load balancer)`);
  const groups: Plan[][] = [];
  if (canary) {
    let at = 0;
    for (const share of canary) {
      const upTo = Math.min(plans.length, Math.max(1, Math.ceil(share * plans.length - 1e-9)));
      groups.push(plans.slice(at, Math.max(at, upTo)));
      at = Math.max(at, upTo);
    }
    if (at < plans.length) groups[groups.length - 1]!.push(...plans.slice(at));
  } else groups.push(...splitIntoBatches(plans, opts.batches));
  groups.forEach((g, k) => g.forEach((p) => (p.state.batch = k + 1)));
  const state: RolloutState = {
    schema: 1,
    mode,
    target: target.kind,
    version,
    previousVersion,
    startedAt,
    finished: false,
    totalBatches: groups.length,
    instances: plans.map((p) => p.state),
    ...(canary ? { strategy: 'canary' as const } : {}),
  };
  const run = new Run(target, opts, state);
  const result = (status: RolloutStatus, failure?: Failure, finalVersions?: Record<string, string>): RolloutResult => ({
    status,
    ...(canary ? { strategy: 'canary' as const } : {}),
    mode,
    version,
    previousVersion,
    startedAt,
    durationMs: performance.now() - t0,
    batches: run.batches,
    instances: [
      ...plans.map((p) => p.state),
      ...all
        .filter((i) => !plans.some((p) => p.inst.id === i.id))
        .map((i): InstanceState => ({ id: i.id, url: i.url, batch: 0, from: version, to: version, status: 'new' })),
    ],
    failure,
    finalVersions,
    rollbackMs: run.rollbackMs,
    warnings: run.warnings,
  });
  if (plans.length === 0) {
    opts.log.info(`every instance already runs ${version}: nothing to do`);
    state.finished = true;
    return result('unchanged');
  }
  if (target.strategy === 'in-place' && groups.some((g) => g.length >= all.length)) {
    run.warnings.push(`a batch covers every instance (${all.length}): with in-place switching no instance serves traffic during that batch`);
    opts.log.warning(run.warnings.at(-1)!);
  }
  // Manual pauses (rollouts only): after a batch that has one after it; one that would follow the
  // last batch (fewer instances to switch than the ramp has entries) holds nothing and is skipped.
  const manual = new Set<number>();
  if (mode === 'rollout') {
    for (const k of opts.manualPauses ?? []) {
      if (k < groups.length) manual.add(k);
      else {
        run.warnings.push(`"pause: manual" after batch ${k} skipped: this rollout has ${groups.length} batch(es), so nothing would be left to promote`);
        opts.log.warning(run.warnings.at(-1)!);
      }
    }
    if (manual.size && !opts.promotion) {
      state.finished = true;
      return result('failed', {
        phase: 'prepare',
        reason: `"pause: manual" needs a target that can hold the promote signal (hosts); the ${target.kind} target cannot. Nothing was switched`,
      });
    }
  }
  run.save();

  // The plan: prepare (no undo: it changes nothing that serves), then one step per batch (canary
  // step), run by the shared step executor (executor.ts): gate, pause, undo log, failure rules.
  const steps: Step[] = [];
  if (mode === 'rollout' && target.prepare) {
    steps.push({
      record: { outcome: 'running' },
      run: async (ctx) => {
        try {
          await opts.log.group(`prepare ${version} on ${plans.length} instance(s)`, () =>
            target.prepare!(
              version,
              plans.map((p) => p.inst),
              ctx.signal,
            ),
          );
          return undefined;
        } catch (err) {
          if (run.signal.aborted) throw new Cancelled();
          return { phase: 'prepare', reason: `prepare failed, nothing was switched: ${errorMessage(err)}` };
        }
      },
    });
  }
  // No pause and no gate between batches: one load-balancer change per batch boundary (the
  // previous batch back in, the next one out), instead of an undrain and a drain.
  const mergeBoundaries = !canary && target.strategy === 'in-place' && !!target.swap && !opts.pauseMs && !opts.gate && !manual.size;
  let pending: InstanceRef[] | undefined;
  // The undo entry of this target: every instance not known to be back goes back, last batch
  // first (Run.undo, the same code the post step runs from the saved state).
  const undoEntry: UndoEntry = {
    what: `roll back the switched instances`,
    run: async (undoSignal) => {
      if (canary)
        await target.setWeights!(undefined, undoSignal, false).catch((err) => run.warnings.push(`clearing the canary weights failed: ${errorMessage(err)}`));
      const undoRun = new Run(target, { ...opts, signal: undoSignal }, state);
      await undoRun.undo(plans);
      run.rollbackMs = undoRun.rollbackMs;
      return plans.every((p) => p.state.status === 'rolled-back' || p.state.status === 'old') ? undefined : { ok: false };
    },
  };
  groups.forEach((group, k) => {
    const rec: BatchRecord = { batch: k + 1, instances: group.map((p) => p.inst.id), startedAt: 0, outcome: 'running' };
    const between = k < groups.length - 1;
    steps.push({
      record: rec,
      run: async (ctx) => {
        if (k === 0) ctx.undo(undoEntry);
        rec.startedAt = Date.now();
        run.batches.push(rec);
        if (canary) {
          // Weights for this step, in effect from the batch's own reloads (drain, undrain).
          const share = canary[k]!;
          const upNew = new Set([
            ...all.filter((_, i) => versions[i] === version).map((i) => i.id),
            ...groups
              .slice(0, k + 1)
              .flat()
              .map((p) => p.inst.id),
          ]);
          const ids = all.map((i) => i.id);
          const w = canaryWeights(
            ids.filter((id) => upNew.has(id)),
            ids.filter((id) => !upNew.has(id)),
            share,
          );
          rec.share = share;
          rec.weights = w;
          opts.log.info(
            `canary step ${k + 1}/${groups.length}: ${upNew.size} of ${all.length} instance(s) on ${version}, ${Math.round(shareOf(w, [...upNew], ids) * 1000) / 10}% of traffic${
              w
                ? ` (weights ${Object.entries(w)
                    .map(([id, x]) => `${id}=${x}`)
                    .join(', ')})`
                : ''
            }`,
          );
          try {
            await target.setWeights!(w, run.signal, group.length === 0);
          } catch (err) {
            if (run.signal.aborted) throw new Cancelled();
            return { phase: 'target', reason: `setting the canary weights failed: ${errorMessage(err)}` };
          }
        }
        const defer = mergeBoundaries && k < groups.length - 1;
        const putBack = pending;
        pending = undefined;
        const failure = await opts.log.group(
          `${canary ? 'canary step' : 'batch'} ${k + 1}/${groups.length}: ${rec.instances.join(', ') || '(weights only)'} → ${mode === 'rollout' ? version : 'previous version'}`,
          () => run.switchGroup(group, 'forward', mode === 'rollout' ? 'deploy' : 'switchBack', rec, { putBack, deferUndrain: defer }),
        );
        if (!failure && defer) pending = group.map((p) => p.inst);
        rec.endedAt = Date.now();
        if (failure) return failure;
        // Done once its gate passed (the executor says so): a batch whose gate failed is failed.
        opts.log.info(`batch ${k + 1}/${groups.length}: ${rec.instances.join(', ')} ready in ${formatDuration(rec.endedAt - rec.startedAt)}`);
        return undefined;
      },
      pauseMs: between ? opts.pauseMs : undefined,
      gate: between
        ? {
            after: `batch ${k + 1}`,
            context: async (signal) => {
              const newSet = new Set(plans.filter((p) => p.state.status === 'new').map((p) => p.inst.id));
              const ctxInst = (i: InstanceRef, idx: number) => ({ id: i.id, url: i.url, version: newSet.has(i.id) ? version : (versions[idx] ?? '') });
              return {
                batch: k + 1,
                totalBatches: groups.length,
                newInstances: all.map(ctxInst).filter((i) => newSet.has(i.id) || i.version === version),
                oldInstances: all.map(ctxInst).filter((i) => !newSet.has(i.id) && i.version !== version),
                signal,
              };
            },
          }
        : undefined,
      after: between && manual.has(k + 1) ? (signal) => waitForPromotion(opts, signal, rec, { batch: k + 1, totalBatches: groups.length, version }) : undefined,
    });
  });
  const x = await executeSteps(steps, {
    gate: opts.gate,
    signal: run.signal,
    log: opts.log,
    save: () => run.save(),
    leaveCancelled: !opts.rollbackOnCancel,
    beforeUndo: opts.beforeUndo,
    warnings: run.warnings,
    onFailure: (failure) => {
      if (failure.phase === 'prepare' || (failure.phase === 'cancelled' && !opts.rollbackOnCancel)) return;
      opts.log.error(
        `${mode === 'rollout' ? 'rollout' : 'rollback'} failed: ${failure.reason}${failure.lastAnswer ? ` (last answer: ${failure.lastAnswer})` : ''}`,
      );
    },
  });
  if (x.status === 'succeeded') {
    state.finished = true;
    run.save();
    if (mode === 'rollout' && target.finish) {
      try {
        await target.finish(version, all, run.signal);
      } catch (err) {
        run.warnings.push(`cleanup after the rollout failed: ${errorMessage(err)}`);
      }
    }
    return result('succeeded');
  }
  if (x.status === 'cancelled') return result('cancelled', x.failure);
  state.finished = true;
  run.save();
  if (x.status === 'failed') return result('failed', x.failure);
  const finalVersions = await run.readVersions(all);
  return { ...result(x.status, x.failure, finalVersions), ...(x.ranBeforeUndo ? { beforeUndo: x.beforeUndo } : {}) };
}

/**
 * A `pause: manual` step: records that the rollout waits, then looks for a decision until the
 * deadline. promote → undefined (go on); abort or the deadline → a failure (the caller rolls back).
 */
async function waitForPromotion(
  opts: EngineOptions,
  signal: AbortSignal,
  rec: BatchRecord,
  info: { batch: number; totalBatches: number; version: string },
): Promise<Failure | undefined> {
  const p = opts.promotion!;
  const deadlineMs = opts.promotionDeadlineMs ?? 3_600_000;
  const deadline = Date.now() + deadlineMs;
  const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  const hint = opts.promoteHint ?? 'slipway promote';
  const t0 = performance.now();
  try {
    await p.open({ id, ...info, deadline: new Date(deadline).toISOString() }, signal);
  } catch (err) {
    if (signal.aborted) throw new Cancelled();
    return { phase: 'promotion', reason: `pausing after batch ${info.batch} failed: ${errorMessage(err)}` };
  }
  opts.log.info(
    `paused after batch ${info.batch}/${info.totalBatches} (pause: manual): waiting for \`${hint}\` or \`${hint.replace(/\bpromote\b/, 'abort')}\` until ${new Date(deadline).toISOString()} (then it aborts and rolls back)`,
  );
  let failure: Failure | undefined;
  try {
    for (;;) {
      let d: PromotionDecision | undefined;
      try {
        d = await p.poll(id, signal);
      } catch (err) {
        if (signal.aborted) throw new Cancelled();
        opts.log.warning(`reading the promote signal on ${p.where} failed (trying again): ${errorMessage(err)}`);
      }
      if (d?.action === 'promote') {
        rec.promotion = { action: 'promote', actor: d.actor, at: d.at, waitedMs: performance.now() - t0 };
        opts.log.info(`promoted by ${d.actor} after ${formatDuration(performance.now() - t0)}: going on`);
        break;
      }
      if (d?.action === 'abort') {
        rec.promotion = { action: 'abort', actor: d.actor, at: d.at, waitedMs: performance.now() - t0 };
        failure = { phase: 'promotion', reason: `aborted by ${d.actor} at the manual pause after batch ${info.batch}` };
        break;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        rec.promotion = { action: 'deadline', actor: '', at: new Date().toISOString(), waitedMs: performance.now() - t0 };
        failure = {
          phase: 'promotion',
          reason: `nobody promoted within ${formatDuration(deadlineMs)} at the manual pause after batch ${info.batch} (the pause-deadline input): aborted`,
        };
        break;
      }
      await sleep(Math.min(left, opts.promotionPollMs ?? 1000), signal).catch(() => undefined);
      if (signal.aborted) throw new Cancelled();
    }
  } finally {
    await p.close(AbortSignal.timeout(30_000)).catch((err) => opts.log.warning(`clearing the pause on ${p.where} failed: ${errorMessage(err)}`));
  }
  return failure;
}

/** Deploys `version` to every instance of the target in batches; rolls back on failure. */
export async function rollout(target: DeployTarget, version: string, opts: EngineOptions): Promise<RolloutResult> {
  const signal = opts.signal ?? new AbortController().signal;
  const all = await target.instances(signal);
  if (all.length === 0) throw new UserError(`the ${target.kind} target has no instances`);
  const versions = await Promise.all(all.map((i) => target.currentVersion(i, signal)));
  opts.log.info(`fleet: ${all.map((i, k) => `${i.id}=${versions[k] ?? '(none)'}`).join(', ')}`);
  return converge(target, opts, 'rollout', version, all, versions, () => version);
}

/**
 * Rollback mode: puts every instance back on the version kept on the target (previousVersion),
 * or on `toVersion` when given. Fails before any change when an instance keeps no earlier version.
 */
export async function rollbackFleet(target: DeployTarget, opts: EngineOptions & { toVersion?: string }): Promise<RolloutResult> {
  const signal = opts.signal ?? new AbortController().signal;
  const all = await target.instances(signal);
  if (all.length === 0) throw new UserError(`the ${target.kind} target has no instances`);
  const versions = await Promise.all(all.map((i) => target.currentVersion(i, signal)));
  const prev = opts.toVersion ? all.map(() => opts.toVersion) : await Promise.all(all.map((i) => target.previousVersion(i, signal)));
  const missing = all.filter((_, k) => !prev[k]);
  if (missing.length) throw new UserError(`rollback: no previous version is kept on ${missing.map((i) => i.id).join(', ')}; nothing was changed`);
  const to = mostCommon(prev)!;
  if (new Set(prev).size > 1) opts.log.warning(`instances keep different previous versions: ${all.map((i, k) => `${i.id}=${prev[k]}`).join(', ')}`);
  opts.log.info(`rollback: ${all.map((i, k) => `${i.id} ${versions[k] ?? '(none)'} → ${prev[k]}`).join(', ')}`);
  return converge(target, opts, 'rollback', to, all, versions, (k) => prev[k]!);
}

/**
 * The post step after a cancellation: undoes what the saved state says was switched (every
 * instance not known to be back on its old version), then reads the versions back.
 */
export async function resumeRollback(target: DeployTarget, saved: RolloutState, opts: Omit<EngineOptions, 'batches'>): Promise<RolloutResult> {
  const t0 = performance.now();
  const signal = opts.signal ?? AbortSignal.timeout(10 * 60_000);
  const all = await target.instances(signal);
  const byId = new Map(all.map((i) => [i.id, i]));
  const state: RolloutState = structuredClone(saved);
  const plans: Plan[] = [];
  for (const s of state.instances) {
    const inst = byId.get(s.id);
    if (!inst) {
      s.status = 'rollback-failed';
      s.error = 'no longer listed by the target';
      continue;
    }
    plans.push({ inst, state: s });
  }
  const run = new Run(target, { ...opts, batches: [], signal }, state);
  await run.undo(plans);
  state.finished = true;
  run.save();
  const finalVersions = await run.readVersions(all);
  const ok = state.instances.every((p) => p.status === 'rolled-back' || p.status === 'old');
  return {
    status: ok ? 'rolled-back' : 'rollback-failed',
    mode: state.mode,
    version: state.version,
    previousVersion: state.previousVersion,
    startedAt: state.startedAt,
    durationMs: performance.now() - t0,
    batches: [],
    instances: state.instances,
    failure: { phase: 'cancelled', reason: 'the rollout was cancelled before it finished' },
    finalVersions,
    rollbackMs: run.rollbackMs,
    warnings: [],
  };
}

/** Whether a saved state still needs the post step (an unfinished rollout that switched something). */
export function needsUndo(state: RolloutState | undefined): boolean {
  return !!state && !state.finished && state.instances.some((s) => s.status !== 'old' && s.status !== 'rolled-back');
}
