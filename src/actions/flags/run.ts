import type { InputsOf } from '../../manifest/fields.ts';
import type { ActionContext, ActionResult } from '../../runner/context.ts';
import { UserError, errorMessage } from '../../lib/errors.ts';
import { heading } from '../../lib/markdown.ts';
import { formatDuration } from '../../lib/duration.ts';
import { redactUrl } from '../../lib/secrets.ts';
import type { Http } from '../../lib/http.ts';
import type { Exec } from '../../lib/exec.ts';
import type { GateFn, RolloutResult } from '../../deploy/engine.ts';
import { flagRollout } from '../../deploy/strategies.ts';
import { makeFlagProvider } from '../../flags/provider.ts';
import { applyFlagChanges, killSwitch } from '../../flags/change.ts';
import { flagSwitch } from '../../flags/switch.ts';
import { flagChangeLine, flagChangesTable } from '../../flags/summary.ts';
import { describeState, releaseRequest, type FlagActor, type FlagChange, type FlagProvider, type FlagRequest } from '../../flags/model.ts';
import type { spec } from './inputs.ts';

export type FlagsInputs = InputsOf<typeof spec>;
export interface FlagsDeps {
  http?: Http;
  exec?: Exec;
  /** The gate between progressive steps (tests); default: gate-slo on gate-urls. */
  gate?: GateFn;
  now?: () => Date;
}

/** The provider from the inputs (src/flags/provider.ts: deploy-rolling's kill switch builds it the same way). */
export function makeProvider(i: FlagsInputs, ctx: ActionContext, deps: FlagsDeps = {}): FlagProvider {
  return makeFlagProvider(i, { env: ctx.env, cwd: ctx.workspace, mask: (v) => ctx.log.mask(v), http: deps.http, exec: deps.exec });
}

async function buildGate(i: FlagsInputs, ctx: ActionContext, deps: FlagsDeps): Promise<GateFn | undefined> {
  if (deps.gate) return deps.gate;
  if (!i['gate-slo']) return undefined;
  const urls = i['gate-urls'] ?? [];
  if (!urls.length) throw new UserError("Input 'gate-urls': got nothing; expected the URLs the SLO gate probes between steps (gate-slo is set)");
  const { createSloGate } = await import('../../metrics/gate.ts');
  const slo = createSloGate({
    objectives: i['gate-slo'],
    provider: 'probe',
    durationMs: i['gate-duration'],
    intervalMs: Math.min(10_000, i['gate-duration']),
    probe: { rate: i['gate-rate'] },
    log: ctx.log,
    http: deps.http,
  });
  return async (g) => {
    const r = await slo({ urls, version: '', signal: g.signal });
    return { pass: r.pass, verdict: r.verdict, reason: r.reason, details: r.report };
  };
}

export function flagsSummary(title: string, changes: FlagChange[], extra = ''): string {
  return `${heading(title)}\n${changes.length ? flagChangesTable(changes) : 'No flag was changed.\n'}${extra}`;
}

function progressiveSummary(flag: string, r: RolloutResult & { flagFrom: unknown; flagSteps: number[] }): string {
  const lines = [
    `\n${heading(`Progressive rollout of \`${flag}\`: ${r.status}`, 3)}`,
    `Steps: ${r.flagSteps.map((p) => `${p}%`).join(' → ') || '(none left)'} · ${formatDuration(r.durationMs)}\n`,
  ];
  for (const b of r.batches) {
    lines.push(
      `- step ${b.batch}: ${b.instances.join(', ') || '(none)'}: ${b.outcome}${b.gate ? `; gate ${b.gate.pass ? 'passed' : 'FAILED'}: ${b.gate.reason}` : ''}`,
    );
  }
  if (r.failure) lines.push(`\n**Why:** ${r.failure.reason}`);
  if (r.finalVersions) lines.push(`\nThe flag now reads: ${Object.values(r.finalVersions)[0] ?? 'unknown'}`);
  return `${lines.join('\n')}\n`;
}

/** mode plan: what `change` would do, from the inputs alone (no server is contacted, no credential needed). */
export function plannedChanges(i: FlagsInputs, actor: FlagActor, at: string): FlagChange[] {
  const server = i.provider === 'command' ? (i.command?.[0] ?? '') : redactUrl(i['unleash-url'] ?? '').replace(/\/+$/, '');
  const base = { provider: i.provider, server, environment: i.environment, who: actor.who, run: actor.run, at, durationMs: 0, ok: true };
  const out: FlagChange[] = [
    ...(i.disable ?? []).map((flag): FlagChange => ({ ...base, flag, action: 'disable', to: { enabled: false } })),
    ...(i.enable ?? []).map((flag): FlagChange => ({ ...base, flag, action: 'enable', to: { enabled: true } })),
    ...(i.rollout ?? []).map((r): FlagChange => ({ ...base, flag: r.flag, action: 'rollout', to: { enabled: true, rollout: r.percent! } })),
    ...(i.release ?? []).map((r): FlagChange =>
      r.percent === undefined
        ? { ...base, flag: r.flag, action: 'enable', to: { enabled: true } }
        : { ...base, flag: r.flag, action: 'rollout', to: { enabled: true, rollout: r.percent } },
    ),
  ];
  if (i.progressive) out.push({ ...base, flag: i.progressive, action: 'rollout', to: { enabled: true, rollout: i.steps.at(-1) ?? 100 }, error: undefined });
  return out;
}

export async function run(inputs: FlagsInputs, ctx: ActionContext, deps: FlagsDeps = {}): Promise<ActionResult> {
  if (inputs.mode === 'plan') {
    const actor: FlagActor = { who: ctx.github.actor || ctx.env.USER || 'unknown', run: ctx.github.runUrl || 'cli' };
    const changes = plannedChanges(inputs, actor, (deps.now?.() ?? new Date()).toISOString());
    const steps = inputs.progressive
      ? `\nProgressive: \`${inputs.progressive}\` through ${inputs.steps.map((p) => `${p}%`).join(' → ')}, the gate between steps.\n`
      : '';
    return {
      outputs: { result: 'unchanged', changes, 'changed-count': 0, 'flags-off': '' },
      summary: flagsSummary(`Flags this release changes on ${inputs.environment} (plan: nothing was changed)`, changes, steps),
    };
  }
  const provider = makeProvider(inputs, ctx, deps);
  const actor: FlagActor = { who: ctx.github.actor || ctx.env.USER || 'unknown', run: ctx.github.runUrl || 'cli' };
  const now = deps.now;
  const where = `${provider.kind} ${redactUrl(provider.server)} (${provider.environment})`;

  if (inputs.mode === 'kill') {
    const flags = [...(inputs.release ?? []).map((r) => r.flag), ...(inputs.disable ?? [])];
    if (!flags.length) throw new UserError("Input 'release': got nothing; expected the flags the kill switch turns off (release or disable)");
    ctx.log.warning(`kill switch: turning off ${flags.join(', ')} on ${where}`);
    const changes = await killSwitch(provider, flags, { actor, log: ctx.log, signal: ctx.signal, deadlineMs: inputs['kill-deadline'], now });
    const failed = changes.filter((c) => !c.ok);
    const off = changes.filter((c) => c.ok).map((c) => c.flag);
    return {
      outputs: {
        result: failed.length ? 'failed' : 'killed',
        changes,
        'changed-count': changes.filter((c) => c.ok && !c.unchanged).length,
        'flags-off': off.join(','),
      },
      summary: flagsSummary(
        failed.length ? `Kill switch: ${failed.length} flag(s) could NOT be switched off` : `Kill switch: ${off.length} flag(s) off`,
        changes,
        failed.length ? `\n**Turn these off by hand:** ${failed.map((c) => `\`${c.flag}\``).join(', ')}\n` : '',
      ),
      failure: failed.length ? `kill switch: ${failed.map(flagChangeLine).join('; ')}` : undefined,
    };
  }

  const requests: FlagRequest[] = [
    ...(inputs.disable ?? []).map((flag): FlagRequest => ({ flag, action: 'disable' })),
    ...(inputs.enable ?? []).map((flag): FlagRequest => ({ flag, action: 'enable' })),
    ...(inputs.rollout ?? []).map((r): FlagRequest => ({ flag: r.flag, action: 'rollout', percent: r.percent })),
    ...(inputs.release ?? []).map(releaseRequest),
  ];
  const progressive = inputs.progressive || undefined;
  if (!requests.length && !progressive) throw new UserError('flags: nothing to do: give enable, disable, rollout, release or progressive (or mode: kill)');
  const gate = progressive ? await buildGate(inputs, ctx, deps) : undefined;
  // Everything is read before anything changes: the progressive flag too.
  if (progressive) {
    const state = await provider.read(progressive, ctx.signal);
    if (!state) throw new UserError(`flag '${progressive}': progressive needs to read the flag to put it back on failure; give read-command`);
  }
  const changes: FlagChange[] = [];
  if (requests.length) {
    const r = await ctx.log.group(`flags on ${where}`, () => applyFlagChanges(provider, requests, { actor, log: ctx.log, signal: ctx.signal, now }));
    changes.push(...r.changes);
    if (r.failure) {
      return {
        outputs: { result: 'failed', changes, 'changed-count': changes.filter((c) => c.ok && !c.unchanged).length, 'flags-off': '' },
        summary: flagsSummary('Flags: a change failed', changes),
        failure: r.failure,
      };
    }
  }
  let extra = '';
  let result: 'changed' | 'unchanged' | 'rolled-back' | 'failed' = changes.some((c) => !c.unchanged) ? 'changed' : 'unchanged';
  let failure: string | undefined;
  if (progressive) {
    const stepChanges: FlagChange[] = [];
    const sw = flagSwitch(provider, progressive, (from, to, ms) => {
      stepChanges.push({
        flag: progressive,
        provider: provider.kind,
        server: provider.server,
        environment: provider.environment,
        action: to.enabled && to.rollout !== undefined ? 'rollout' : 'restore',
        from,
        to,
        who: actor.who,
        run: actor.run,
        at: (now?.() ?? new Date()).toISOString(),
        durationMs: ms,
        ok: true,
      });
    });
    let r;
    try {
      r = await flagRollout(sw, {
        steps: inputs.steps,
        gate,
        pauseMs: inputs.pause,
        log: ctx.log,
        signal: ctx.signal,
        rollbackOnCancel: true,
        http: deps.http,
      });
    } catch (err) {
      changes.push(...stepChanges);
      return {
        outputs: { result: 'failed', changes, 'changed-count': changes.filter((c) => c.ok && !c.unchanged).length, 'flags-off': '' },
        summary: flagsSummary(`Flags: progressive rollout of ${progressive} failed`, changes),
        failure: errorMessage(err),
      };
    }
    changes.push(...stepChanges);
    extra = progressiveSummary(progressive, r);
    if (r.status === 'succeeded') result = 'changed';
    else if (r.status === 'unchanged') result = changes.some((c) => !c.unchanged) ? 'changed' : 'unchanged';
    else {
      result = r.status === 'rolled-back' ? 'rolled-back' : 'failed';
      failure = `flag '${progressive}': ${r.failure?.reason ?? r.status}; ${r.status === 'rolled-back' ? `put back to ${describeState(r.flagFrom)}` : `it may not be back: ${Object.values(r.finalVersions ?? {})[0] ?? 'unknown'}`}`;
    }
  }
  return {
    outputs: { result, changes, 'changed-count': changes.filter((c) => c.ok && !c.unchanged).length, 'flags-off': '' },
    summary: flagsSummary(
      failure ? `Flags: ${result}` : `Flags: ${changes.filter((c) => c.ok && !c.unchanged).length} change(s) on ${provider.environment}`,
      changes,
      extra,
    ),
    failure,
  };
}
