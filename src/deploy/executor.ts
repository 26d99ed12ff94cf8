/**
 * The step executor: the one control flow every strategy (rolling, canary, blue/green) on every
 * target (hosts, local, command, Kubernetes) runs as a plan of steps. What a step DOES is a
 * capability of the target (engine.ts: drain/stop/deploy/readiness of a batch; strategies.ts:
 * start the idle slots, one load-balancer switch; kubernetes.ts: surge a Deployment to a pod
 * count, size a canary, scale a slot, patch a Service selector, wait for endpoints); the RULES
 * are written here once:
 *
 * - Steps run in order. A step returns a Failure (or throws: phase `target`, its message); the
 *   first failure ends the plan. A cancelled signal is a failure of phase `cancelled`.
 * - After a step that has one (by default every step but the last): the pause, then the gate.
 *   A gate that throws is a failing verdict (`gate error: …`); a failing verdict is the failure
 *   `gate failed after <step>: <reason>`; the verdict and its duration go on the step's record.
 * - A step records in the undo log what it changed, as soon as it changed it (before its
 *   readiness wait), so a failure anywhere undoes exactly what moved.
 * - On failure: the record of the running step says failed/cancelled; a cancellation is left to a
 *   post step when `leaveCancelled` (saved state); otherwise `beforeUndo` runs once (the kill
 *   switch, a throw is a warning), then the undo log runs in REVERSE order with a signal of its
 *   own (a cancelled run still rolls back). Every undo entry runs even when one before it failed.
 * - The result's status: nothing in the undo log → `failed` (nothing changed); every required
 *   undo entry succeeded → `rolled-back`; any failed → `rollback-failed`. A failed entry that
 *   throws appends `; <its message>` to the failure's reason; an optional entry that fails does
 *   not fail the rollback. The state is saved after every step and after the undo.
 */
import { errorMessage } from '../lib/errors.ts';
import type { Reporter } from '../lib/report.ts';
import { formatDuration } from '../lib/duration.ts';
import { sleep } from '../lib/sleep.ts';

/** What a gate between steps sees (batches on hosts, pods on Kubernetes: KubeGateContext adds to it). */
export interface GateContext {
  batch: number;
  totalBatches: number;
  newInstances: { id: string; url: string; version: string }[];
  oldInstances: { id: string; url: string; version: string }[];
  signal: AbortSignal;
}
export interface GateResult {
  pass: boolean;
  verdict?: string;
  reason: string;
  details?: unknown;
}
export type GateFn = (ctx: GateContext) => Promise<GateResult>;

/** Why a rollout failed (engine.ts, strategies.ts; kubernetes.ts has its own phases, see StepFailure). */
export interface Failure {
  instance?: string;
  /** One line: why. */
  reason: string;
  lastAnswer?: string;
  logs?: string;
  phase: 'prepare' | 'drain' | 'start' | 'readiness' | 'undrain' | 'gate' | 'promotion' | 'cancelled' | 'target';
}

/** What the executor writes on a step's record (BatchRecord on hosts, KubeStep on Kubernetes). */
export interface StepRecord {
  outcome: 'running' | 'done' | 'failed' | 'cancelled';
  endedAt?: number;
  gate?: GateResult & { durationMs: number };
}

/** One entry of the undo log: how to put back what a step changed. */
export interface UndoEntry {
  /** For the log: `delete web-canary`. */
  what: string;
  /**
   * Puts it back. A throw (or `{ ok: false }`) = this undo failed; a thrown message is appended
   * to the failure's reason, a returned `reason` too.
   */
  run(signal: AbortSignal): Promise<void | { ok: false; reason?: string }>;
  /** A failure of this entry is a warning, not a failed rollback (clean-up of something not in traffic). */
  optional?: boolean;
}

/** What a failed step (or the executor) reports: engine.ts's Failure, kubernetes.ts's KubeFailure. */
export interface StepFailure {
  phase: string;
  reason: string;
  instance?: string;
}

export interface StepContext {
  /** 0-based index of the step. */
  index: number;
  total: number;
  signal: AbortSignal;
  /** Records an undo entry (call it as soon as the change is made). */
  undo(entry: UndoEntry): void;
}

export interface Step<F extends StepFailure = Failure> {
  /** Its record (created by the strategy, read when needed: it may be a getter; the executor sets outcome, endedAt and gate). */
  readonly record: StepRecord;
  /** The switch and its readiness wait: a failure, or undefined when the step is done. */
  run(ctx: StepContext): Promise<F | undefined>;
  /**
   * Gate after this step: where it stands (`batch 2`, `step 1`, `the switch`) and the context the
   * gate sees (undefined: no gate after this step, e.g. a step the previous one already reached).
   * Absent: no gate.
   */
  gate?: { after: string | (() => string); context(signal: AbortSignal): Promise<GateContext | undefined> };
  /** Pause before the gate (ms). */
  pauseMs?: number;
  /** After the gate passed: a manual promotion (engine.ts) or anything else that may still fail the plan. */
  after?(signal: AbortSignal): Promise<F | undefined>;
}

export interface ExecuteOptions<F extends StepFailure = Failure> {
  gate?: GateFn;
  signal: AbortSignal;
  log: Reporter;
  /** Saves the plan's state (GITHUB_STATE for the post step), after every step and after the undo. */
  save?(): void;
  /** A cancellation is not undone here: the saved state lets a post step do it (the action's default). */
  leaveCancelled?: boolean;
  /** Runs once before the first undo entry (the kill switch); its result is returned. */
  beforeUndo?: (failure: F) => Promise<unknown>;
  /** Where warnings go (the result's warnings list). */
  warnings: string[];
  /** Time the undo log has in all (ms). Default 10 min. */
  undoTimeoutMs?: number;
  /** Called with the failure before anything is undone (the strategy's error line). */
  onFailure?(failure: F): void;
  /** Log lines: `gate after batch 2: pass: …` (default) or a note that also goes on a timeline. */
  note?(line: string): void;
}

export type ExecuteStatus = 'succeeded' | 'failed' | 'cancelled' | 'rolled-back' | 'rollback-failed';

export interface ExecuteResult<F extends StepFailure = Failure> {
  status: ExecuteStatus;
  failure?: F;
  /** Steps that finished (gate passed included). */
  done: number;
  /** Time the undo log took (ms), when it ran. */
  rollbackMs?: number;
  /** The undo entries that ran, in the order they ran, with whether each worked. */
  undone: { what: string; ok: boolean; optional: boolean }[];
  /** What beforeUndo returned, when it ran. */
  beforeUndo?: unknown;
  ranBeforeUndo: boolean;
}

/** Runs the steps in order with the gate between them; on failure undoes the undo log in reverse. */
export async function executeSteps<F extends StepFailure = Failure>(steps: Step<F>[], o: ExecuteOptions<F>): Promise<ExecuteResult<F>> {
  const cancelled = () => ({ phase: 'cancelled', reason: 'the rollout was cancelled' }) as F;
  const log: UndoEntry[] = [];
  const note = o.note ?? ((line: string) => o.log.info(line));
  let failure: F | undefined;
  let done = 0;
  let current: Step<F> | undefined;
  for (let k = 0; k < steps.length && !failure; k++) {
    const step = steps[k]!;
    current = step;
    try {
      if (o.signal.aborted) throw new CancelledStep();
      failure = await step.run({ index: k, total: steps.length, signal: o.signal, undo: (e) => log.push(e) });
      if (failure) break;
      step.record.endedAt ??= Date.now();
      if (step.pauseMs) {
        o.log.info(`pause ${formatDuration(step.pauseMs)}`);
        await sleep(step.pauseMs, o.signal);
      }
      const gateCtx = step.gate && o.gate ? await step.gate.context(o.signal) : undefined;
      if (step.gate && o.gate && gateCtx) {
        const after = typeof step.gate.after === 'string' ? step.gate.after : step.gate.after();
        const g0 = performance.now();
        let verdict: GateResult;
        try {
          verdict = await o.gate(gateCtx);
        } catch (err) {
          if (o.signal.aborted) throw new CancelledStep();
          verdict = { pass: false, verdict: 'error', reason: `gate error: ${errorMessage(err)}` };
        }
        step.record.gate = { ...verdict, durationMs: performance.now() - g0 };
        note(`gate after ${after}: ${verdict.pass ? 'pass' : 'FAIL'}: ${verdict.reason}`);
        if (!verdict.pass) {
          failure = { phase: 'gate', reason: `gate failed after ${after}: ${verdict.reason}` } as F;
          break;
        }
      }
      if (step.after) {
        failure = await step.after(o.signal);
        if (failure) break;
      }
      if (step.record.outcome === 'running') step.record.outcome = 'done';
      done++;
      o.save?.();
    } catch (err) {
      failure = err instanceof CancelledStep || o.signal.aborted ? cancelled() : ({ phase: 'target', reason: errorMessage(err) } as F);
    }
  }
  if (o.signal.aborted && failure?.phase !== 'cancelled') failure = { ...cancelled(), instance: failure?.instance };
  if (!failure) {
    o.save?.();
    return { status: 'succeeded', done, undone: [], ranBeforeUndo: false };
  }
  const rec = current?.record;
  if (rec && rec.outcome === 'running') {
    rec.outcome = failure.phase === 'cancelled' ? 'cancelled' : 'failed';
    rec.endedAt ??= Date.now();
  }
  o.onFailure?.(failure);
  if (failure.phase === 'cancelled' && o.leaveCancelled) {
    o.log.warning('rollout cancelled: the saved state lets the post step roll back what was switched');
    o.save?.();
    return { status: 'cancelled', failure, done, undone: [], ranBeforeUndo: false };
  }
  if (!log.length) {
    o.save?.();
    return { status: 'failed', failure, done, undone: [], ranBeforeUndo: false };
  }
  let killed: unknown;
  if (o.beforeUndo) {
    try {
      killed = await o.beforeUndo(failure);
    } catch (err) {
      o.warnings.push(`before the rollback (kill switch): ${errorMessage(err)}`);
      o.log.warning(o.warnings.at(-1)!);
    }
  }
  const u0 = performance.now();
  const undoSignal = AbortSignal.timeout(o.undoTimeoutMs ?? 10 * 60_000);
  const undone: ExecuteResult<F>['undone'] = [];
  let ok = true;
  for (const entry of [...log].reverse()) {
    let why: string | undefined;
    let worked = true;
    try {
      const r = await entry.run(undoSignal);
      if (r && r.ok === false) {
        worked = false;
        why = r.reason;
      }
    } catch (err) {
      worked = false;
      why = errorMessage(err);
    }
    undone.push({ what: entry.what, ok: worked, optional: !!entry.optional });
    if (worked) continue;
    if (entry.optional) {
      if (why) failure.reason += `; ${why}`;
      continue;
    }
    ok = false;
    if (why) failure.reason += `; ${why}`;
  }
  o.save?.();
  return {
    status: ok ? 'rolled-back' : 'rollback-failed',
    failure,
    done,
    rollbackMs: performance.now() - u0,
    undone,
    ranBeforeUndo: !!o.beforeUndo,
    ...(o.beforeUndo ? { beforeUndo: killed } : {}),
  };
}

/** Thrown inside a step when the plan's signal is aborted: the executor turns it into the `cancelled` failure. */
export class CancelledStep extends Error {
  constructor() {
    super('cancelled');
  }
}
