import { tmpdir } from 'node:os';
import type { ActionSpec, InputsOf } from '../manifest/fields.ts';
import { outputShapeProblem, parseInputs } from '../manifest/fields.ts';
import { UserError, errorMessage } from '../lib/errors.ts';
import type { ActionContext, ActionResult } from './context.ts';
import { githubContextFromEnv } from './context.ts';
import { GithubRuntime, readTextFile, type Runtime } from './runtime.ts';
import { redact } from '../lib/secrets.ts';

export type RunFn<S extends ActionSpec> = (inputs: InputsOf<S>, ctx: ActionContext) => Promise<ActionResult>;
/**
 * A post: step. It gets the same typed inputs as the main step (parsed once by runAction, slipway.yml
 * merged by the composition layer's source), or undefined when they do not parse (then the main step
 * failed before any side effect).
 */
export type PostFn<S extends ActionSpec = ActionSpec> = (inputs: InputsOf<S> | undefined, ctx: ActionContext) => Promise<ActionResult | void>;

/** One failure line: the runner shows it as the step's error. Long values never flood the log. Redact before cutting (a cut secret is not masked). */
export function failureLine(message: string, max = 2000): string {
  const one = message.replace(/\r?\n/g, ' ');
  return one.length > max ? `${one.slice(0, max)}… (cut)` : one;
}

export function formatOutput(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

export function makeContext(rt: Runtime, env: Record<string, string | undefined>, signal: AbortSignal): ActionContext {
  return {
    log: rt,
    github: githubContextFromEnv(env, readTextFile),
    saveState: (n, v) => rt.saveState(n, v),
    getState: (n) => rt.getState(n),
    signal,
    tempDir: env.RUNNER_TEMP || tmpdir(),
    workspace: env.GITHUB_WORKSPACE || process.cwd(),
    env,
  };
}

/** Writes a result through a runtime; returns true when the action passed. */
export function deliver(spec: ActionSpec, rt: Runtime, result: ActionResult): boolean {
  for (const [name, value] of Object.entries(result.outputs)) {
    if (!(name in spec.outputs)) throw new Error(`${spec.name}: output '${name}' is not declared in its spec`);
    const text = formatOutput(value);
    if (text === undefined) continue;
    // The declared shape is a contract with the inputs that read this output: a mismatch is a bug.
    const problem = text === '' ? undefined : outputShapeProblem(spec.outputs[name]!, text);
    if (problem) rt.warning(`${spec.name}: output '${name}' does not match its declared shape: ${problem.slice(0, 300)}`);
    rt.setOutput(name, text);
  }
  if (result.summary) rt.appendSummary(result.summary);
  if (result.failure) {
    rt.setFailed(failureLine(redact(result.failure, rt.secrets)));
    return false;
  }
  return true;
}

/**
 * Where a step's raw inputs come from. The runner's own source reads INPUT_* only; a composition
 * layer may put more in front of it (src/pipeline/run-step.ts merges slipway.yml): the runner
 * knows nothing of slipway.yml.
 */
export type InputSource = (spec: ActionSpec, rt: Runtime, env: Record<string, string | undefined>) => Promise<(name: string) => string>;

const runnerInputs: InputSource = async (_spec, rt) => (n) => rt.getInput(n);

/** The step's inputs, parsed once, from the given source. */
async function stepInputs<S extends ActionSpec>(spec: S, rt: Runtime, env: Record<string, string | undefined>, source: InputSource): Promise<InputsOf<S>> {
  const raw = await source(spec, rt, env);
  return parseInputs(spec, raw, (s) => rt.mask(s));
}

/**
 * The whole life of an action step: read and check inputs (before any side effect), run, write
 * outputs and the summary, fail with one line. With a post function, the same bundle serves as
 * the post: step (the runner sets STATE_isPost). `source` gives the raw inputs (INPUT_* by default).
 */
export async function runAction<S extends ActionSpec>(
  spec: S,
  run: RunFn<S>,
  post?: PostFn<S>,
  env: Record<string, string | undefined> = process.env,
  source: InputSource = runnerInputs,
): Promise<void> {
  const rt = new GithubRuntime(env);
  const controller = new AbortController();
  const onSignal = (sig: string) => {
    rt.warning(`${spec.name}: received ${sig}, cancelling`);
    controller.abort(new UserError(`cancelled (${sig})`));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const ctx = makeContext(rt, env, controller.signal);
  try {
    if (post && rt.getState('isPost') === 'true') {
      let inputs: InputsOf<S> | undefined;
      try {
        inputs = await stepInputs(spec, rt, env, source);
      } catch (err) {
        // The main step refused these inputs before doing anything: the post step has nothing to finish.
        rt.debug(`${spec.name} post: inputs do not parse (${errorMessage(err)})`);
      }
      const result = await post(inputs, ctx);
      if (result && !deliver(spec, rt, result)) process.exitCode = 1;
      return;
    }
    if (post) rt.saveState('isPost', 'true');
    const inputs = await stepInputs(spec, rt, env, source);
    const result = await run(inputs, ctx);
    if (!deliver(spec, rt, result)) process.exitCode = 1;
  } catch (err) {
    if (!(err instanceof UserError) && err instanceof Error && err.stack) rt.debug(err.stack);
    rt.setFailed(failureLine(redact(`${spec.name}: ${errorMessage(err)}`, rt.secrets)));
    process.exitCode = 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
