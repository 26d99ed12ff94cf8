/**
 * Blue/green on the nginx-based targets (hosts, local): every instance has two slots, `blue`
 * (its usual port) and `green` (a second port). The whole new set starts in the idle slots, must
 * become ready, then the load balancer moves every instance's traffic to the new slots in ONE
 * checked reload. The old set keeps running (`keepPreviousMs`) so switching back is one more
 * reload; a failed gate (it runs once, after the switch, with the old set as its baseline) or a
 * cancellation switches back at once. Rolling and canary stay in engine.ts. The plan (prepare,
 * start the idle set, switch, gate) runs on the shared step executor (executor.ts): its undo log
 * (switch back, stop the new set), failure rule and saves are the same as every other strategy's.
 *
 * ## The slot interface (implemented by hosts.ts and local.ts beside DeployTarget)
 * | member | contract |
 * | --- | --- |
 * | `slotInfo(i)` | the live slot, the version it runs, and what runs in the idle slot |
 * | `startSlot(i, slot, version)` | stop whatever runs in that slot, start `version` there (never in traffic yet); resolves when started with its readyUrl |
 * | `stopSlot(i, slot)` | SIGTERM, SIGKILL after the drain timeout |
 * | `slotUrl(i, slot)`, `slotReadyUrl(i, slot)` | base URL of that slot (gates probe it directly), its readiness URL |
 * | `switchTraffic(live)` | routes each instance to the given slot in ONE load-balancer reload and records it as live (`current` on hosts) |
 * | `keepPrevious(i, slot, ms)` | keep that slot running for ms, then stop it unless it became live again (0: stop now); returns the ISO time |
 * | `slotExited?(i, slot)` | the slot's process ended: why |
 */
import { errorMessage, UserError } from '../lib/errors.ts';
import { formatDuration } from '../lib/duration.ts';
import { request } from '../lib/http.ts';
import {
  DEFAULT_READINESS,
  checkVersion,
  httpProbe,
  waitReady,
  type BatchRecord,
  type BlueGreenRecord,
  type EngineOptions,
  type Failure,
  type InstanceRef,
  type InstanceState,
  type ReadinessOptions,
  type ReadyProbe,
  type RolloutResult,
  type RolloutState,
  type Started,
  type DeployTarget,
  rollout,
} from './engine.ts';
import { executeSteps, type Step } from './executor.ts';

export type Slot = 'blue' | 'green';
export const otherSlot = (s: Slot): Slot => (s === 'blue' ? 'green' : 'blue');

export interface SlotInfo {
  live: Slot;
  liveVersion?: string;
  /** Version last started in the idle slot, and whether it still runs. */
  idleVersion?: string;
  idleRunning: boolean;
}

export interface BlueGreenTarget {
  readonly kind: string;
  instances(signal: AbortSignal): Promise<InstanceRef[]>;
  slotInfo(inst: InstanceRef, signal: AbortSignal): Promise<SlotInfo>;
  prepare?(version: string, insts: InstanceRef[], signal: AbortSignal): Promise<void>;
  startSlot(inst: InstanceRef, slot: Slot, version: string, signal: AbortSignal): Promise<Started>;
  stopSlot(inst: InstanceRef, slot: Slot, signal: AbortSignal): Promise<void>;
  slotUrl(inst: InstanceRef, slot: Slot): string;
  slotReadyUrl(inst: InstanceRef, slot: Slot): string;
  switchTraffic(live: Record<string, Slot>, signal: AbortSignal): Promise<void>;
  keepPrevious(inst: InstanceRef, slot: Slot, ms: number, signal: AbortSignal): Promise<string>;
  probe?(inst: InstanceRef, readyUrl: string, signal: AbortSignal): Promise<ReadyProbe>;
  slotExited?(inst: InstanceRef, slot: Slot): string | undefined;
  /** The version the app in that slot says it serves (the user's version-command). */
  reportedVersion?(inst: InstanceRef, signal: AbortSignal, slot?: Slot): Promise<string | undefined>;
  logs?(inst: InstanceRef, lines: number, signal: AbortSignal): Promise<string>;
  finish?(version: string, insts: InstanceRef[], signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export function isBlueGreenTarget(t: unknown): t is BlueGreenTarget {
  return !!t && typeof (t as BlueGreenTarget).switchTraffic === 'function' && typeof (t as BlueGreenTarget).startSlot === 'function';
}

export interface BlueGreenOptions extends Omit<EngineOptions, 'batches' | 'canary'> {
  /** How long the old set keeps running after a successful switch. 0: stopped right after the gate. */
  keepPreviousMs: number;
}

/**
 * Blue/green deploy of `version` (mode 'rollback': back to the version kept in the idle slots or
 * on the target; a slot that still runs it is reused, so the switch back is instant).
 */
export async function blueGreenRollout(
  target: BlueGreenTarget,
  version: string,
  opts: BlueGreenOptions & { mode?: 'rollout' | 'rollback' },
): Promise<RolloutResult> {
  const mode = opts.mode ?? 'rollout';
  const signal = opts.signal ?? new AbortController().signal;
  const readiness: ReadinessOptions = { ...DEFAULT_READINESS, ...opts.readiness };
  const log = opts.log;
  const startedAt = Date.now();
  const t0 = performance.now();
  const all = await target.instances(signal);
  if (all.length === 0) throw new UserError(`the ${target.kind} target has no instances`);
  const infos = await Promise.all(all.map((i) => target.slotInfo(i, signal)));
  log.info(
    `fleet: ${all.map((i, k) => `${i.id}=${infos[k]!.liveVersion ?? '(none)'} (${infos[k]!.live}${infos[k]!.idleRunning ? `; idle ${otherSlot(infos[k]!.live)} runs ${infos[k]!.idleVersion}` : ''})`).join(', ')}`,
  );
  const from: Record<string, Slot> = {};
  const to: Record<string, Slot> = {};
  all.forEach((i, k) => {
    from[i.id] = infos[k]!.live;
    to[i.id] = infos[k]!.liveVersion === version ? infos[k]!.live : otherSlot(infos[k]!.live);
  });
  const moving = all.filter((i) => to[i.id] !== from[i.id]);
  const states: InstanceState[] = all.map((i, k) => ({
    id: i.id,
    url: target.slotUrl(i, to[i.id]!),
    batch: moving.includes(i) ? 1 : 0,
    from: infos[k]!.liveVersion,
    to: version,
    status: moving.includes(i) ? 'old' : 'new',
  }));
  const previousVersion = mostCommon(moving.map((i) => infos[all.indexOf(i)]!.liveVersion)) ?? mostCommon(infos.map((x) => x.liveVersion));
  const bg: BlueGreenRecord = { from, to, switched: false, switchedBack: false, reused: [] };
  const batches: BatchRecord[] = [];
  const warnings: string[] = [];
  const state: RolloutState = {
    schema: 1,
    mode,
    target: target.kind,
    version,
    previousVersion,
    startedAt,
    finished: false,
    totalBatches: 1,
    instances: states,
    strategy: 'blue-green',
    blueGreen: { from, to, switched: false },
  };
  const save = () => {
    try {
      opts.saveState?.(structuredClone(state));
    } catch (err) {
      log.warning(`could not save rollout state: ${errorMessage(err)}`);
    }
  };
  const result = (status: RolloutResult['status'], failure?: Failure, rollbackMs?: number): RolloutResult => ({
    status,
    strategy: 'blue-green',
    blueGreen: bg,
    mode,
    version,
    previousVersion,
    startedAt,
    durationMs: performance.now() - t0,
    batches,
    instances: states,
    failure,
    rollbackMs,
    finalVersions: Object.fromEntries(all.map((i, k) => [i.id, bg.switched && !bg.switchedBack ? version : (infos[k]!.liveVersion ?? '(none)')])),
    warnings,
  });
  if (!moving.length) {
    log.info(`every instance already serves ${version}: nothing to do`);
    state.finished = true;
    return result('unchanged');
  }
  save();
  const stateOf = (i: InstanceRef) => states.find((s) => s.id === i.id)!;
  // The plan, run by the shared step executor (executor.ts): prepare; 1. the whole new set in the
  // idle slots (undo: stop it); 2. one load-balancer change moves every instance's traffic (undo:
  // switch back), then the gate with the old set still running as its baseline.
  const rec: BatchRecord = { batch: 1, instances: moving.map((i) => i.id), startedAt: 0, outcome: 'running' };
  const started = new Set<string>();
  const own = () => AbortSignal.timeout(5 * 60_000);
  const stopNew = async (which: InstanceRef[]) => {
    await Promise.all(
      which.map((i) =>
        target.stopSlot(i, to[i.id]!, own()).catch((err) => warnings.push(`${i.id}: stopping the ${to[i.id]} slot failed: ${errorMessage(err)}`)),
      ),
    );
  };
  const check = async (i: InstanceRef, url: string, s: AbortSignal) =>
    checkVersion(
      target.probe
        ? await target.probe(i, url, s).catch((e) => ({ ok: false, answer: errorMessage(e) }))
        : await httpProbe(url, readiness.requestTimeoutMs, s, opts.http ?? request),
      version,
      readiness.versionCheck,
      target.reportedVersion ? () => target.reportedVersion!(i, s, to[i.id]) : undefined,
    );
  let switching = false;
  const steps: Step[] = [];
  if (mode === 'rollout' && target.prepare) {
    steps.push({
      record: { outcome: 'running' },
      run: async (ctx) => {
        try {
          await log.group(`prepare ${version} on ${moving.length} instance(s)`, () => target.prepare!(version, moving, ctx.signal));
          return undefined;
        } catch (err) {
          if (signal.aborted) throw err;
          return { phase: 'prepare', reason: `prepare failed, nothing was switched: ${errorMessage(err)}` };
        }
      },
    });
  }
  steps.push({
    record: { outcome: 'running' },
    run: async (ctx) => {
      rec.startedAt = Date.now();
      batches.push(rec);
      ctx.undo({
        what: 'stop the new set',
        run: async () => {
          if (bg.switched && !bg.switchedBack) return; // it serves: the switch back failed
          await stopNew(moving.filter((i) => started.has(i.id)));
          for (const s of states) if (s.status === 'switching') s.status = 'rolled-back';
        },
      });
      const startCtl = new AbortController();
      const startSignal = AbortSignal.any([signal, startCtl.signal]);
      const startFailures = await log.group(`start ${version} on the idle slots: ${moving.map((i) => `${i.id}→${to[i.id]}`).join(', ')}`, () =>
        Promise.all(
          moving.map(async (i): Promise<Failure | undefined> => {
            const st = stateOf(i);
            const k = all.indexOf(i);
            const slot = to[i.id]!;
            const t = performance.now();
            try {
              st.status = 'switching';
              save();
              let readyUrl: string;
              if (infos[k]!.idleRunning && infos[k]!.idleVersion === version) {
                bg.reused.push(i.id);
                readyUrl = target.slotReadyUrl(i, slot);
                log.info(`${i.id}: ${version} still runs in the ${slot} slot: no start needed`);
              } else {
                started.add(i.id);
                readyUrl = (await target.startSlot(i, slot, version, startSignal)).readyUrl;
              }
              const out = await waitReady(() => check(i, readyUrl, startSignal), {
                ...readiness,
                signal: startSignal,
                expectVersion: version,
                exited: target.slotExited ? () => target.slotExited!(i, slot) : undefined,
              });
              st.readyMs = performance.now() - t;
              if (!out.ok) {
                startCtl.abort();
                return {
                  phase: 'readiness',
                  instance: i.id,
                  reason: `${i.id} (${slot} slot): ${out.reason}`,
                  lastAnswer: out.lastAnswer,
                  logs: await logsOf(target, i),
                };
              }
              log.info(`${i.id}: ${version} ready in the ${slot} slot in ${formatDuration(st.readyMs)}`);
              return undefined;
            } catch (err) {
              if (signal.aborted) return { phase: 'cancelled', reason: 'the rollout was cancelled' };
              startCtl.abort();
              if (startCtl.signal.aborted && !(err instanceof UserError)) return undefined;
              return { phase: 'start', instance: i.id, reason: `${i.id} (${slot} slot): ${errorMessage(err)}`, logs: await logsOf(target, i) };
            }
          }),
        ),
      );
      return signal.aborted ? { phase: 'cancelled', reason: 'the rollout was cancelled' } : startFailures.find((f) => f !== undefined);
    },
  });
  steps.push({
    record: rec,
    run: async (ctx) => {
      ctx.undo({
        what: 'switch traffic back to the old set',
        run: async () => {
          if (bg.switched) {
            await switchBack(target, moving, from, to, bg, states, log, warnings);
            return bg.switchedBack ? undefined : { ok: false };
          }
          // The switch is one checked reload: when it failed, traffic did not move. Put the record back to be sure.
          await target.switchTraffic(from, own()).catch((e) => warnings.push(`restoring the old slots failed: ${errorMessage(e)}`));
          for (const i of moving) stateOf(i).status = 'rolled-back';
          return undefined;
        },
      });
      switching = true;
      try {
        const s0 = performance.now();
        await target.switchTraffic(to, ctx.signal);
        bg.switchMs = performance.now() - s0;
      } catch (err) {
        if (signal.aborted) throw err;
        return { phase: 'undrain', reason: `switching traffic failed, it stays on the old set: ${errorMessage(err)}` };
      }
      bg.switched = true;
      state.blueGreen!.switched = true;
      for (const i of moving) stateOf(i).status = 'new';
      rec.endedAt = Date.now();
      save();
      log.info(
        `switched ${moving.length} instance(s) to ${version} in one load-balancer change (${formatDuration(bg.switchMs)}): ${moving.map((i) => `${i.id} ${from[i.id]}→${to[i.id]}`).join(', ')}`,
      );
      return undefined;
    },
    gate: {
      after: 'the switch',
      context: async (s) => ({
        batch: 1,
        totalBatches: 1,
        newInstances: all.map((i) => ({ id: i.id, url: target.slotUrl(i, to[i.id]!), version })),
        oldInstances: moving.map((i) => ({ id: i.id, url: target.slotUrl(i, from[i.id]!), version: infos[all.indexOf(i)]!.liveVersion ?? '' })),
        signal: s,
      }),
    },
  });
  const x = await executeSteps(steps, {
    gate: opts.gate,
    signal,
    log,
    save,
    // Blue/green undoes a cancellation at once (switching back is one load-balancer change).
    leaveCancelled: false,
    beforeUndo: opts.beforeUndo,
    warnings,
    onFailure: (f) => {
      if (rec.outcome === 'running' && rec.startedAt) {
        rec.outcome = f.phase === 'cancelled' ? 'cancelled' : 'failed';
        rec.endedAt = Date.now();
      }
      if (f.phase === 'prepare' || !rec.startedAt || bg.switched) return;
      log.error(
        switching ? `blue/green: ${f.reason}` : `blue/green: ${f.reason}${f.lastAnswer ? ` (last answer: ${f.lastAnswer})` : ''}; traffic was never switched`,
      );
    },
  });
  if (x.status !== 'succeeded') {
    state.blueGreen!.switched = bg.switched && !bg.switchedBack;
    state.finished = true;
    save();
    const failure = x.failure!;
    if (x.status === 'failed') {
      if (failure.phase === 'cancelled') return result('cancelled', { phase: 'cancelled', reason: 'the rollout was cancelled before anything was started' });
      return result('failed', failure);
    }
    // A cancellation that was undone says so (the post step has nothing left to do).
    const status = x.status === 'rolled-back' && failure.phase === 'cancelled' ? 'cancelled' : x.status;
    return { ...result(status, failure, x.rollbackMs), ...(x.ranBeforeUndo ? { beforeUndo: x.beforeUndo } : {}) };
  }

  // 4. Keep the old set for an instant switch back, then finish.
  const keep = await Promise.all(
    moving.map((i) =>
      target.keepPrevious(i, from[i.id]!, opts.keepPreviousMs, own()).catch((err) => {
        warnings.push(`${i.id}: keeping the ${from[i.id]} slot failed: ${errorMessage(err)}`);
        return '';
      }),
    ),
  );
  bg.keepUntil = opts.keepPreviousMs > 0 ? keep.find(Boolean) : 'stopped';
  if (opts.keepPreviousMs > 0) log.info(`the old set keeps running until ${bg.keepUntil} for an instant switch back`);
  state.finished = true;
  save();
  if (target.finish) await target.finish(version, all, own()).catch((err) => warnings.push(`cleanup after the rollout failed: ${errorMessage(err)}`));
  return result('succeeded');
}

async function switchBack(
  target: BlueGreenTarget,
  moving: InstanceRef[],
  from: Record<string, Slot>,
  to: Record<string, Slot>,
  bg: BlueGreenRecord,
  states: InstanceState[],
  log: EngineOptions['log'],
  warnings: string[],
) {
  const back: Record<string, Slot> = { ...to };
  for (const i of moving) back[i.id] = from[i.id]!;
  const b0 = performance.now();
  try {
    await target.switchTraffic(back, AbortSignal.timeout(5 * 60_000));
    bg.switchBackMs = performance.now() - b0;
    bg.switchedBack = true;
    for (const s of states) if (s.status === 'new' && moving.some((i) => i.id === s.id)) s.status = 'rolled-back';
    log.info(`switched back to the old set in one load-balancer change (${formatDuration(bg.switchBackMs)})`);
  } catch (err) {
    for (const s of states)
      if (moving.some((i) => i.id === s.id)) {
        s.status = 'rollback-failed';
        s.error = errorMessage(err);
      }
    log.error(`switching back failed: ${errorMessage(err)}`);
    warnings.push(`switching back failed: ${errorMessage(err)}`);
  }
}

/**
 * Rollback mode with blue/green: back to the version the idle slots still run (instant: no
 * start), else to `fallback` (the version kept on the target), started in the idle slots.
 */
export async function blueGreenRollback(
  target: BlueGreenTarget,
  opts: BlueGreenOptions & { fallback?: (inst: InstanceRef) => Promise<string | undefined> },
): Promise<RolloutResult> {
  const signal = opts.signal ?? new AbortController().signal;
  const all = await target.instances(signal);
  const infos = await Promise.all(all.map((i) => target.slotInfo(i, signal)));
  const kept = mostCommon(infos.filter((x) => x.idleRunning && x.idleVersion !== x.liveVersion).map((x) => x.idleVersion));
  let to = kept;
  if (!to && opts.fallback) to = mostCommon(await Promise.all(all.map((i) => opts.fallback!(i))));
  if (!to)
    throw new UserError(
      `rollback: no idle slot runs an earlier version and no previous version is kept on ${all.map((i) => i.id).join(', ')}; nothing was changed`,
    );
  opts.log.info(`blue/green rollback to ${to}${kept ? ' (still running in the idle slots)' : ''}`);
  return blueGreenRollout(target, to, { ...opts, mode: 'rollback' });
}

/** The post step after a cancelled blue/green rollout: switch back if traffic moved, stop the new set. */
export async function resumeBlueGreen(target: BlueGreenTarget, saved: RolloutState, opts: Omit<BlueGreenOptions, 'keepPreviousMs'>): Promise<RolloutResult> {
  const t0 = performance.now();
  const state = structuredClone(saved);
  const signal = opts.signal ?? AbortSignal.timeout(10 * 60_000);
  const all = await target.instances(signal);
  const from = (state.blueGreen?.from ?? {}) as Record<string, Slot>;
  const to = (state.blueGreen?.to ?? {}) as Record<string, Slot>;
  const moving = all.filter((i) => from[i.id] && to[i.id] && from[i.id] !== to[i.id]);
  const bg: BlueGreenRecord = { from, to, switched: !!state.blueGreen?.switched, switchedBack: false, reused: [] };
  const warnings: string[] = [];
  if (bg.switched) await switchBack(target, moving, from, to, bg, state.instances, opts.log, warnings);
  else {
    // Traffic never moved: make sure the record says the old slots (a switch may have been half-written).
    await target
      .switchTraffic({ ...to, ...Object.fromEntries(moving.map((i) => [i.id, from[i.id]!])) }, signal)
      .catch((err) => warnings.push(`restoring the old slots: ${errorMessage(err)}`));
    for (const s of state.instances) if (s.status !== 'old') s.status = 'rolled-back';
  }
  if (!bg.switched || bg.switchedBack)
    await Promise.all(moving.map((i) => target.stopSlot(i, to[i.id]!, signal).catch((err) => warnings.push(`${i.id}: ${errorMessage(err)}`))));
  state.finished = true;
  opts.saveState?.(state);
  const ok = !bg.switched || bg.switchedBack;
  return {
    status: ok ? 'rolled-back' : 'rollback-failed',
    strategy: 'blue-green',
    blueGreen: bg,
    mode: state.mode,
    version: state.version,
    previousVersion: state.previousVersion,
    startedAt: state.startedAt,
    durationMs: performance.now() - t0,
    batches: [],
    instances: state.instances,
    failure: { phase: 'cancelled', reason: 'the rollout was cancelled before it finished' },
    rollbackMs: performance.now() - t0,
    finalVersions: Object.fromEntries(state.instances.map((s) => [s.id, ok ? (s.from ?? '(none)') : s.to])),
    warnings,
  };
}

async function logsOf(target: BlueGreenTarget, i: InstanceRef): Promise<string | undefined> {
  if (!target.logs) return undefined;
  try {
    return (await target.logs(i, 10, AbortSignal.timeout(10_000))).trim() || undefined;
  } catch (err) {
    return `(could not read logs: ${errorMessage(err)})`;
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
 * Progressive enablement (`strategy: flag`): a feature flag's gradual rollout goes through `steps`
 * (percentages such as 5, 25, 50, 100) with the gate between steps, on the SAME executor as an
 * instance rollout: each step is one "instance" of a target whose deploy sets the flag's
 * percentage and whose readiness reads it back, so the gate, the pause, the saved state and the
 * undo log are the engine's. A failed step or gate undoes in reverse order; every undo puts the
 * flag back where it was before the rollout (one change; the later undos find it there already).
 * The flag is reached through FlagSwitch (src/flags implements it): deploy imports no flag code.
 */
export interface FlagSwitchState {
  enabled: boolean;
  rollout?: number;
}
export interface FlagSwitch {
  /** The flag's name. */
  readonly flag: string;
  /** Where it lives, for messages: `unleash http://… (production)`. */
  readonly where: string;
  read(signal?: AbortSignal): Promise<FlagSwitchState | undefined>;
  write(to: FlagSwitchState, from: FlagSwitchState | undefined, signal?: AbortSignal): Promise<void>;
}

export interface FlagRolloutOptions extends Omit<EngineOptions, 'batches' | 'canary'> {
  /** Increasing percentages (0 < p ≤ 100), e.g. [5, 25, 50, 100]. */
  steps: readonly number[];
}

const flagLabel = (s: FlagSwitchState | undefined) =>
  !s ? 'unknown' : s.enabled ? `on ${s.rollout ?? 100}%` : s.rollout === undefined ? 'off' : `off (${s.rollout}% when on)`;
const flagSame = (a: FlagSwitchState | undefined, b: FlagSwitchState) =>
  !!a && a.enabled === b.enabled && (!b.enabled || (a.rollout ?? 100) === (b.rollout ?? 100)) && (b.enabled || (a.rollout ?? null) === (b.rollout ?? null));

/** The flag's rollout through the steps, gated between steps; the result's instances are the steps. */
export async function flagRollout(flag: FlagSwitch, opts: FlagRolloutOptions): Promise<RolloutResult & { flagFrom: FlagSwitchState; flagSteps: number[] }> {
  const signal = opts.signal ?? new AbortController().signal;
  for (const p of opts.steps) if (!(p > 0 && p <= 100)) throw new UserError(`flag '${flag.flag}': step ${p}% is not in (0%, 100%]`);
  const from = await flag.read(signal);
  if (!from)
    throw new UserError(
      `flag '${flag.flag}': strategy flag needs to read the flag's state (to put it back on failure); ${flag.where} cannot read it (give read-command)`,
    );
  // Steps at or below what users already see are skipped: a progressive rollout never lowers the share.
  const seen = from.enabled ? (from.rollout ?? 100) : 0;
  const steps = opts.steps.filter((p) => p > seen);
  const last = steps.at(-1) ?? seen;
  const version = `on ${last}%`;
  const fromLabel = flagLabel(from);
  let current: FlagSwitchState | undefined = from;
  const expected = new Map<string, FlagSwitchState>();
  const byId = new Map(steps.map((p) => [`${flag.flag}@${p}%`, p]));
  const set = async (id: string, to: FlagSwitchState, s: AbortSignal): Promise<Started> => {
    expected.set(id, to);
    if (!flagSame(current, to)) {
      await flag.write(to, current, s);
      current = to;
    }
    return { readyUrl: `flag:${id}` };
  };
  const target: DeployTarget = {
    kind: 'flag',
    strategy: 'beside',
    instances: async () => steps.map((p) => ({ id: `${flag.flag}@${p}%`, url: flag.where })),
    currentVersion: async () => fromLabel,
    previousVersion: async () => fromLabel,
    drain: async () => undefined,
    undrain: async () => undefined,
    stop: async () => undefined,
    deploy: (i, _v, s) => set(i.id, { enabled: true, rollout: byId.get(i.id)! }, s),
    switchBack: (i, _v, s) => set(i.id, from, s),
    probe: async (i, _url, s) => {
      const got = await flag.read(s);
      current = got;
      const want = expected.get(i.id)!;
      return { ok: flagSame(got, want), answer: `${flag.where} reads ${flagLabel(got)} (expected ${flagLabel(want)})` };
    },
    close: async () => undefined,
  };
  if (!steps.length) {
    opts.log.info(`flag ${flag.flag}: already ${fromLabel}; every step (${opts.steps.join('%, ')}%) is at or below it: nothing to do`);
  } else {
    opts.log.info(`flag ${flag.flag} on ${flag.where}: ${fromLabel} → ${steps.map((p) => `${p}%`).join(' → ')}${opts.gate ? ', the gate between steps' : ''}`);
  }
  const r = steps.length
    ? await rollout(target, version, {
        ...opts,
        batches: [{ count: 1 }],
        readiness: { threshold: 1, timeoutMs: 30_000, intervalMs: 200, minReadyMs: 0, requestTimeoutMs: 10_000, versionCheck: 'off', ...opts.readiness },
      })
    : {
        status: 'unchanged' as const,
        mode: 'rollout' as const,
        version,
        previousVersion: fromLabel,
        startedAt: Date.now(),
        durationMs: 0,
        batches: [],
        instances: [],
        warnings: [],
      };
  return { ...r, flagFrom: from, flagSteps: steps };
}
