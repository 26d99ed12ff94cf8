/**
 * The one decision on whether an environment of slipway.yml can be released: every stage's inputs
 * parsed with that action's own spec, then the checks between inputs that the actions make when they
 * start (deploy-rolling's target and strategy rules, slo-gate's source, the smoke tests' URL).
 * `slipway validate` runs it on every environment; the release action runs it before its first side
 * effect. Both report every problem at once, each naming its key in slipway.yml.
 */
import { z } from 'zod';
import type { ActionSpec } from '../../manifest/fields.ts';
import { parseInputs } from '../../manifest/fields.ts';
import { InputError, errorMessage } from '../../lib/errors.ts';
import { ConfigError, inSlipwayWords, type LoadedConfig, type SectionName } from '../../config/load.ts';
import { STAGE_ORDER, type Stage } from '../../config/stages.ts';
import { spec as migrateSpec } from '../migrate/inputs.ts';
import { spec as deploySpec } from '../deploy-rolling/inputs.ts';
import { spec as smokeSpec } from '../smoke-test/inputs.ts';
import { spec as gateSpec } from '../slo-gate/inputs.ts';
import { spec as notifySpec } from '../notify/inputs.ts';
import { checkInputs as checkDeployInputs, type DeployInputs } from '../deploy-rolling/run.ts';
import { gateOptions, type SloGateInputs } from '../slo-gate/run.ts';

export type { Stage };
export const STAGE_SPECS: Record<Stage, ActionSpec> = { migrate: migrateSpec, deploy: deploySpec, smoke: smokeSpec, gate: gateSpec, notify: notifySpec };
/** The slipway.yml section of each stage. */
const SECTION: Record<Stage, SectionName> = { migrate: 'migrate', deploy: 'deploy', smoke: 'smoke', gate: 'gate', notify: 'notify' };

export interface ReleaseCheck {
  /** Every problem found, with its place in slipway.yml. */
  problems: ConfigError[];
  /** The parsed inputs of each stage that had no problem (notify: checked with event "started"). */
  parsed: Partial<Record<Stage, unknown>>;
}

const SECRET_REF = /^\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$/;

/** The stages an environment has a section for (migrate also with database-url, smoke also with url). */
export function stagesOf(config: LoadedConfig, environment: string, extra: { databaseUrl?: boolean } = {}): Stage[] {
  const env = config.config.environments[environment];
  if (!env) return [];
  return STAGE_ORDER.filter((s) =>
    s === 'migrate'
      ? Boolean(env.migrate || env['database-url'] || extra.databaseUrl)
      : s === 'smoke'
        ? Boolean(env.smoke || env.url)
        : Boolean(env[SECTION[s]]),
  );
}

export interface CheckOptions {
  /** The raw inputs of a stage as the release gives them (slipway.yml's section, then the step's own inputs). */
  rawFor: (stage: Stage) => Record<string, string>;
  /** Without secrets (slipway validate): a `${{ secrets.NAME }}` value counts as given and is not parsed. */
  secretsAsReferences?: boolean;
  workspace: string;
  onSecret?: (value: string) => void;
}

/** Checks the given stages of one environment; never contacts anything. */
export async function checkRelease(config: LoadedConfig, environment: string, stages: readonly Stage[], o: CheckOptions): Promise<ReleaseCheck> {
  const problems: ConfigError[] = [];
  const parsed: Partial<Record<Stage, unknown>> = {};
  const problem = (path: (string | number)[], message: string, near: (string | number)[] = path) => {
    const at = config.at(near);
    problems.push(new ConfigError(config.path, at.line, at.col, path.join('.'), inSlipwayWords(message)));
  };
  const base = ['environments', environment];
  for (const stage of stages) {
    const section = [...base, SECTION[stage]];
    let raw: Record<string, string>;
    try {
      raw = o.rawFor(stage);
    } catch (err) {
      problem(section, errorMessage(err));
      continue;
    }
    if (stage === 'notify') raw = { ...raw, event: raw.event ?? 'started' };
    const pathOf = (input: string) =>
      stage === 'smoke' && input === 'url' && !config.config.environments[environment]?.smoke?.url
        ? [...base, 'url']
        : stage === 'migrate' && input === 'database-url' && !config.config.environments[environment]?.migrate?.['database-url']
          ? [...base, 'database-url']
          : [...section, input];
    if (stage === 'smoke' && !raw.url) {
      problem([...base, 'url'], "missing; expected the environment's base URL, such as https://staging.example.com (the smoke tests run against it)", base);
      continue;
    }
    let spec = STAGE_SPECS[stage];
    if (o.secretsAsReferences) {
      const refs = Object.keys(raw).filter((k) => SECRET_REF.test(raw[k]!.trim()));
      if (refs.length) spec = { ...spec, inputs: { ...spec.inputs, ...Object.fromEntries(refs.map((k) => [k, { ...spec.inputs[k]!, schema: z.string() }])) } };
    }
    let inputs: unknown;
    try {
      inputs = await parseInputs(spec, (n) => raw[n], o.onSecret);
    } catch (err) {
      const m = /^Input '([^']+)': (.*)$/s.exec(errorMessage(err));
      if (m) problem(pathOf(m[1]!), m[2]!);
      else problem(section, errorMessage(err));
      continue;
    }
    try {
      if (stage === 'deploy') checkDeployInputs(inputs as DeployInputs, { workspace: o.workspace });
      if (stage === 'gate') gateOptions(inputs as SloGateInputs);
    } catch (err) {
      const msg = errorMessage(err);
      const m = /^Input '([^']+)': (.*)$/s.exec(msg);
      if (err instanceof InputError && m) problem(pathOf(err.input), m[2]!);
      else if (m) problem(pathOf(m[1]!), m[2]!);
      else problem(section, msg);
      continue;
    }
    parsed[stage] = inputs;
  }
  return { problems, parsed };
}

/**
 * What `slipway validate` checks on each environment: the release's own check, with secrets as
 * references and the version a release would be given.
 */
export async function checkEnvironmentForValidate(config: LoadedConfig, environment: string, workspace: string): Promise<ConfigError[]> {
  const stages = stagesOf(config, environment);
  const { problems } = await checkRelease(config, environment, stages, {
    workspace,
    secretsAsReferences: true,
    rawFor: (stage) => {
      const raw = config.inputs(environment, STAGE_SPECS[stage].name);
      if (stage === 'deploy' && raw.version === undefined) raw.version = 'release-version';
      if (stage === 'notify') {
        raw.environment ??= environment;
        raw.version ??= 'release-version';
      }
      return raw;
    },
  });
  return problems;
}
