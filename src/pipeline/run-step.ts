/**
 * The composition layer between an action's step and slipway.yml: the runner parses a step's
 * inputs once (src/runner/run-action.ts) from the source given here, which puts slipway.yml's
 * values in front of the runner's INPUT_* when the step sets SLIPWAY_CONFIG and
 * SLIPWAY_ENVIRONMENT. The config loader (and the YAML parser) is loaded only then, so a step
 * without slipway.yml starts as fast as before.
 */
import type { ActionSpec } from '../manifest/fields.ts';
import { runAction, type InputSource, type PostFn, type RunFn } from '../runner/run-action.ts';
import type { Runtime } from '../runner/runtime.ts';

/** The runner fills unset inputs with action.yml defaults: slipway.yml beats a default, a value given in the workflow beats slipway.yml. */
function fromConfigWins(spec: ActionSpec, name: string, given: string): boolean {
  return given === '' || given === spec.inputs[name]?.default;
}

/** Inputs from slipway.yml when the step sets SLIPWAY_CONFIG and SLIPWAY_ENVIRONMENT (loaded only then). */
async function configInputs(spec: ActionSpec, rt: Runtime, env: Record<string, string | undefined>): Promise<Record<string, string>> {
  const path = env.SLIPWAY_CONFIG;
  const environment = env.SLIPWAY_ENVIRONMENT;
  if (!path || !environment) return {};
  const { configInputsFor } = await import('../config/load.ts');
  const full = path.startsWith('/') ? path : `${env.GITHUB_WORKSPACE || process.cwd()}/${path}`;
  return configInputsFor(
    full,
    environment,
    spec,
    env,
    (s) => rt.mask(s),
    (n) => fromConfigWins(spec, n, rt.getInput(n)),
    (input, variable) => rt.info(`slipway.yml: ${input} refers to secret ${variable}, which this step's environment does not have: left unset`),
  );
}

/** A step's raw inputs: slipway.yml's values where the workflow gave none (see fromConfigWins), else the runner's. */
export const slipwayInputs: InputSource = async (spec, rt, env) => {
  const fromConfig = await configInputs(spec, rt, env);
  return (n) => (fromConfig[n] !== undefined ? fromConfig[n] : rt.getInput(n));
};

/** runAction with slipway.yml composed into the inputs: what every action's main.ts calls. */
export function runStep<S extends ActionSpec>(spec: S, run: RunFn<S>, post?: PostFn<S>, env: Record<string, string | undefined> = process.env): Promise<void> {
  return runAction(spec, run, post, env, slipwayInputs);
}
