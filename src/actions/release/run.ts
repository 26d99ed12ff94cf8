/**
 * The all-in-one release: one environment from slipway.yml, through the same run functions the
 * single actions use (no copies). Every stage's inputs are read and checked before the first side
 * effect; a failure after the fleet switched rolls it back; the team is told in every case.
 */
import { join, isAbsolute, relative } from 'node:path';
import type { ActionSpec, InputsOf } from '../../manifest/fields.ts';
import { parseInputs } from '../../manifest/fields.ts';
import { UserError, errorMessage } from '../../lib/errors.ts';
import { formatDuration } from '../../lib/duration.ts';
import { heading, table, ok as okMark } from '../../lib/markdown.ts';
import type { ActionContext, ActionResult } from '../../runner/context.ts';
import { loadConfig, resolveSecrets, type LoadedConfig } from '../../config/load.ts';
import { checkDeployWindow } from '../../policy/deploy-window.ts';
import type { spec } from './inputs.ts';
import { spec as migrateSpec } from '../migrate/inputs.ts';
import { spec as deploySpec } from '../deploy-rolling/inputs.ts';
import { spec as smokeSpec } from '../smoke-test/inputs.ts';
import { spec as gateSpec } from '../slo-gate/inputs.ts';
import { spec as notifySpec } from '../notify/inputs.ts';
import { run as migrateRun } from '../migrate/run.ts';
import { run as deployRun, post as deployPost, killSwitchOf, type DeployDeps } from '../deploy-rolling/run.ts';
import { run as smokeRun } from '../smoke-test/run.ts';
import { run as gateRun } from '../slo-gate/run.ts';
import { run as notifyRun } from '../notify/run.ts';
import { checkRelease } from './check.ts';
import { STAGE_ORDER, type Stage } from '../../config/stages.ts';

export type ReleaseInputs = InputsOf<typeof spec>;

const STAGE_ACTIONS: Record<Stage, { spec: ActionSpec; run: (i: any, ctx: ActionContext, deps?: any) => Promise<ActionResult> }> = {
  migrate: { spec: migrateSpec, run: migrateRun },
  deploy: { spec: deploySpec, run: deployRun },
  smoke: { spec: smokeSpec, run: smokeRun },
  gate: { spec: gateSpec, run: gateRun },
  notify: { spec: notifySpec, run: notifyRun },
};

export const SPECS: Record<string, ActionSpec> = Object.fromEntries(Object.values(STAGE_ACTIONS).map((a) => [a.spec.name, a.spec]));

export interface ReleaseDeps {
  deploy?: DeployDeps;
  /** Dependencies handed to a stage's run function (tests, the demo). */
  stages?: Partial<Record<Stage, unknown>>;
  now?: () => Date;
}

interface StageRecord {
  stage: string;
  ok: boolean;
  skipped?: string;
  ms: number;
  outputs: Record<string, unknown>;
  failure?: string;
}

const given = (v: string | undefined) => (v && !v.startsWith('${{') ? v : undefined);

function configPath(inputs: ReleaseInputs, ctx: ActionContext): string {
  return isAbsolute(inputs.config) ? inputs.config : join(ctx.workspace, inputs.config);
}

/** The raw inputs of one stage: slipway.yml's section, then what the release step was given. */
export function stageRaw(config: LoadedConfig, inputs: ReleaseInputs, ctx: ActionContext, stage: Stage): Record<string, string> {
  const action = STAGE_ACTIONS[stage].spec.name;
  const raw = resolveSecrets(config.inputs(inputs.environment, action), ctx.env, (s) => ctx.log.mask(s));
  const version = inputs.version ?? (ctx.github.sha || undefined);
  const set = (k: string, v: string | undefined) => {
    if (v !== undefined) raw[k] = v;
  };
  if (stage === 'migrate') set('database-url', given(inputs['database-url']));
  if (stage === 'deploy') {
    set('version', version);
    set('ssh-key', given(inputs['ssh-key']));
  }
  if (stage === 'gate') {
    set('prometheus-token', given(inputs['prometheus-token']));
    if (raw.version === undefined && raw.provider === 'prometheus') set('version', version);
  }
  if (stage === 'notify') {
    set('environment', inputs.environment);
    set('version', version);
    set('image', inputs.image);
    set('slack-webhook-url', given(inputs['slack-webhook-url']));
    set('webhook-url', given(inputs['webhook-url']));
    set('webhook-secret', given(inputs['webhook-secret']));
    set('github-token', given(inputs['github-token']));
  }
  return raw;
}

function hasSection(config: LoadedConfig, inputs: ReleaseInputs, stage: Stage): boolean {
  const env = config.config.environments[inputs.environment];
  if (!env) return false;
  const key = stage === 'gate' ? 'gate' : stage;
  if (stage === 'migrate') return Boolean(env.migrate || env['database-url'] || given(inputs['database-url']));
  if (stage === 'smoke') return Boolean(env.smoke || env.url);
  return Boolean(env[key as 'deploy' | 'gate' | 'notify']);
}

export async function run(inputs: ReleaseInputs, ctx: ActionContext, deps: ReleaseDeps = {}): Promise<ActionResult> {
  const started = Date.now();
  const config = await loadConfig(configPath(inputs, ctx), SPECS);
  if (!config.environments().includes(inputs.environment)) config.inputs(inputs.environment, 'notify'); // throws with a suggestion
  const wanted = new Set(inputs.stages);
  const order: readonly Stage[] = STAGE_ORDER;
  const plan = order.filter((s) => wanted.has(s) && hasSection(config, inputs, s));
  if (wanted.has('deploy') && !plan.includes('deploy')) throw new UserError(`slipway.yml: environment ${inputs.environment} has no deploy section`);

  // Every stage's inputs and the checks between them, before anything happens: the same function
  // as `slipway validate` (the notify event is known only at the end; checked now as "started").
  const { problems, parsed } = await checkRelease(config, inputs.environment, plan, {
    rawFor: (s) => stageRaw(config, inputs, ctx, s),
    workspace: ctx.workspace,
    onSecret: (v) => ctx.log.mask(v),
  });
  // Each problem also as an annotation on its line of slipway.yml (the job's Files changed view shows them).
  for (const p of problems) ctx.log.error(`${p.key}: ${p.detail}`, { file: relative(ctx.workspace, config.path) || config.path, line: p.line, col: p.col });
  if (problems.length)
    throw new UserError(
      `${config.path} cannot be released to ${inputs.environment}; nothing was changed: ${problems.length} problem${problems.length === 1 ? '' : 's'} (${problems.map((p) => p.key).join(', ')}), each reported above with its line and what is expected`,
    );

  // The kill switch (slipway.yml's flags section, `release`): the deploy stage runs it before its own
  // undo, the rollback stage first of all. Built now, so a bad section fails before any change.
  const baseDeployDeps = (deps.deploy ?? deps.stages?.deploy) as DeployDeps | undefined;
  const deployDeps: DeployDeps = {
    ...baseDeployDeps,
    killSwitch: plan.includes('deploy')
      ? ((await killSwitchOf({ ...ctx, env: { ...ctx.env, SLIPWAY_CONFIG: config.path, SLIPWAY_ENVIRONMENT: inputs.environment } }, baseDeployDeps ?? {})) ??
        null)
      : null,
  };

  const records: StageRecord[] = [];
  const summaries: string[] = [];
  const outputs: Partial<Record<Stage, Record<string, unknown>>> = {};
  const runStage = async (s: Stage, inputsFor: unknown): Promise<boolean> => {
    const t = Date.now();
    const a = STAGE_ACTIONS[s];
    const r = await ctx.log
      .group(`${s} (${a.spec.name})`, () => a.run(inputsFor, ctx, s === 'deploy' ? deployDeps : deps.stages?.[s]))
      .catch((err): ActionResult => ({ outputs: {}, failure: `${a.spec.name}: ${errorMessage(err)}` }));
    outputs[s] = r.outputs;
    records.push({ stage: s, ok: !r.failure, ms: Date.now() - t, outputs: r.outputs, failure: r.failure });
    if (r.summary) summaries.push(r.summary);
    if (r.failure) ctx.log.error(r.failure);
    return !r.failure;
  };

  // 1. Deploy window.
  let failure: string | undefined;
  let windowNote = '';
  const window = config.window(inputs.environment);
  if (wanted.has('window') && window) {
    const d = checkDeployWindow(window, deps.now?.() ?? new Date(), given(inputs['window-override']));
    windowNote = `Deploy window: ${d.allowed ? (d.overridden ? '⚠️ overridden' : 'open') : '⛔ closed'}: ${d.reason}`;
    records.push({
      stage: 'window',
      ok: d.allowed,
      ms: 0,
      outputs: { allowed: d.allowed, overridden: d.overridden, reason: d.reason },
      failure: d.allowed ? undefined : `release: ${d.reason}`,
    });
    if (d.overridden) ctx.log.warning(windowNote);
    if (!d.allowed) failure = `release: deploy window closed: ${d.reason}`;
  }

  // 2. migrate → deploy → smoke → gate; stop at the first failure.
  let switched = false;
  for (const s of plan.filter((x) => x !== 'notify')) {
    if (failure) {
      records.push({ stage: s, ok: false, skipped: 'an earlier stage failed', ms: 0, outputs: {} });
      continue;
    }
    const okStage = await runStage(s, parsed[s]);
    if (s === 'deploy' && okStage) switched = true;
    if (!okStage) failure = records.at(-1)!.failure;
  }

  // 3. Roll back when a check failed after the switch.
  let rolledBack = outputs.deploy?.['rolled-back'] === true || outputs.deploy?.['rolled-back'] === 'true';
  if (failure && switched && inputs['rollback-on-failure']) {
    ctx.log.warning(`release: ${failure}; rolling the fleet back`);
    const raw: Record<string, string> = { ...stageRaw(config, inputs, ctx, 'deploy'), rollback: 'true' };
    const rbInputs = await parseInputs(deploySpec, (n) => raw[n]);
    const t = Date.now();
    const r = await deployRun(rbInputs, ctx, deployDeps).catch((err): ActionResult => ({ outputs: {}, failure: errorMessage(err) }));
    records.push({ stage: 'rollback', ok: !r.failure, ms: Date.now() - t, outputs: r.outputs, failure: r.failure });
    if (r.summary) summaries.push(r.summary);
    rolledBack = !r.failure;
    if (r.failure) failure = `${failure}; the rollback failed too: ${r.failure}`;
  }

  const result = !failure ? 'success' : rolledBack ? 'rolled-back' : 'failure';
  const version = inputs.version ?? ctx.github.sha;
  const previous = outputs.deploy?.['previous-version'] as string | undefined;

  // 4. Tell the team (never turns a success into a failure unless notify says fail-on-error).
  if (plan.includes('notify')) {
    const raw: Record<string, string> = {
      ...stageRaw(config, inputs, ctx, 'notify'),
      event: result === 'success' ? 'succeeded' : result === 'rolled-back' ? 'rolled-back' : 'failed',
      duration: `${Math.round((Date.now() - started) / 1000)}s`,
    };
    if (previous) raw['previous-version'] = previous;
    if (failure) raw.reason = failure.slice(0, 1000);
    if (outputs.migrate?.applied !== undefined) raw.migrations = JSON.stringify(outputs.migrate.applied);
    if (outputs.deploy?.instances !== undefined) raw.rollout = JSON.stringify(outputs.deploy.instances);
    // The flags the kill switch switched (the deploy stage's failed rollout, or the rollback stage).
    const flagsSwitched = [outputs.deploy?.['flags-switched'], records.find((x) => x.stage === 'rollback')?.outputs['flags-switched']].flatMap((v) =>
      Array.isArray(v) ? v : [],
    );
    if (flagsSwitched.length && raw.details === undefined) raw.details = JSON.stringify({ flags: flagsSwitched });
    if (outputs.gate?.report !== undefined) raw.gate = typeof outputs.gate.report === 'string' ? outputs.gate.report : JSON.stringify(outputs.gate.report);
    const notifyInputs = await parseInputs(
      notifySpec,
      (n) => raw[n],
      (v) => ctx.log.mask(v),
    );
    const okNotify = await runStage('notify', notifyInputs);
    if (!okNotify && !failure) failure = records.at(-1)!.failure;
  }

  const rows = records.map((r) => [
    r.stage,
    r.skipped ? `⏭ skipped (${r.skipped})` : `${okMark(r.ok)} ${r.ok ? 'ok' : 'failed'}`,
    formatDuration(r.ms),
    r.failure ?? '',
  ]);
  const summary =
    heading(`Release to ${inputs.environment}: ${result === 'success' ? '✅ success' : result === 'rolled-back' ? '↩️ rolled back' : '❌ failed'}`) +
    `\nVersion \`${version}\`${previous ? ` (was \`${previous}\`)` : ''} · ${formatDuration(Date.now() - started)}${windowNote ? `\n\n${windowNote}` : ''}\n\n` +
    table(['Stage', 'Result', 'Took', 'Why'], rows) +
    '\n' +
    summaries.map((s) => s.replace(/^## /gm, '### ')).join('\n');
  return {
    outputs: {
      result,
      version: result === 'success' ? version : (previous ?? ''),
      'previous-version': previous ?? '',
      stages: records.map(({ stage, ok, skipped, outputs: o }) => ({ stage, ok, skipped, outputs: o })),
    },
    summary,
    failure,
  };
}

/** The post: step: finishes or undoes an unfinished rollout (cancellation), through deploy-rolling's own post. */
/** The post: step: the deploy stage's post with the deploy inputs composed from slipway.yml, as the main step composed them. */
export async function post(inputs: ReleaseInputs | undefined, ctx: ActionContext, deps: ReleaseDeps = {}): Promise<ActionResult | void> {
  if (!ctx.getState('rollout')) return;
  if (!inputs) return { outputs: {}, failure: 'release post: the inputs do not parse, so the saved rollout cannot be finished or undone' };
  const { parseInputs: parse } = await import('../../manifest/fields.ts');
  const config = await loadConfig(configPath(inputs, ctx), SPECS);
  const raw = stageRaw(config, inputs, ctx, 'deploy');
  const deployInputs = await parse(
    deploySpec,
    (n) => raw[n],
    (s) => ctx.log.mask(s),
  );
  return deployPost(deployInputs, ctx, deps.deploy);
}
