/**
 * `slipway <command> [--flags]`: runs any action locally over the same run functions the actions
 * use, plus validate, plan and the day-two commands. Results on stdout (one JSON document with
 * --json), progress and errors on stderr. `--env` and `--config` mean the same in every command.
 * Exit codes: 0 pass, 1 fail, 2 bad usage or bad input.
 */
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import type { ActionSpec } from '../manifest/fields.ts';
import { parseInputs } from '../manifest/fields.ts';
import { UserError, errorMessage } from '../lib/errors.ts';
import { suggest } from '../lib/suggest.ts';
import { ConsoleRuntime } from '../runner/console.ts';
import { deliver, makeContext } from '../runner/run-action.ts';
import type { ActionResult } from '../runner/context.ts';
import { parseArgs, envInputs, commandOf, UsageError, type ParsedArgs } from './args.ts';
import { GLOBAL_HELP, actionHelp } from './help.ts';
import { actionNames, loadAction } from './registry.ts';
import { loadConfig, resolveSecrets, inSlipwayWords, type LoadedConfig } from '../config/load.ts';

export interface CliIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: Record<string, string | undefined>;
  cwd: string;
}

const defaultIO: CliIO = { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s), env: process.env, cwd: process.cwd() };

export { UsageError };

/** The commands that are not actions, with the flags that take no value. */
export const COMMANDS: Record<
  string,
  { booleans: string[]; flags?: string[]; load?: () => Promise<{ default: (args: ParsedArgs, io: CliIO) => Promise<number> }> }
> = {
  lint: { booleans: ['external-runner'] },
  validate: { booleans: [], flags: [], load: () => import('./validate.ts') },
  plan: { booleans: [], flags: [], load: () => import('./plan.ts') },
  demo: { booleans: [] },
  status: { booleans: ['watch'], flags: ['interval'], load: () => import('./day-two.ts').then((m) => ({ default: m.status })) },
  releases: { booleans: [], flags: [], load: () => import('./day-two.ts').then((m) => ({ default: m.releases })) },
  rollback: { booleans: [], flags: ['to', 'reason'], load: () => import('./day-two.ts').then((m) => ({ default: m.rollback })) },
  lock: { booleans: [], flags: ['reason', 'ttl'], load: () => import('./day-two.ts').then((m) => ({ default: m.lock })) },
  audit: { booleans: [], flags: ['since'], load: () => import('./day-two.ts').then((m) => ({ default: m.audit })) },
  report: { booleans: [], flags: ['out', 'since', 'token', 'repo', 'markdown', 'api-url'], load: () => import('./report.ts') },
  promote: { booleans: [], flags: ['reason'], load: () => import('./promote.ts').then((m) => ({ default: m.promote })) },
  abort: { booleans: [], flags: ['reason'], load: () => import('./promote.ts').then((m) => ({ default: m.abort })) },
};

export async function allSpecs(): Promise<Record<string, ActionSpec>> {
  const out: Record<string, ActionSpec> = {};
  for (const n of actionNames()) out[n] = (await loadAction(n))!.spec;
  return out;
}

/** The path --config names (default slipway.yml), resolved against the working directory. */
export function configPath(args: ParsedArgs, io: CliIO): string {
  const path = args.config ?? 'slipway.yml';
  return path.startsWith('/') ? path : `${io.cwd}/${path}`;
}

/** Reads slipway.yml (or --config). Required when asked, or when --config or --env is given. */
export async function readConfig(args: ParsedArgs, io: CliIO, required: boolean): Promise<LoadedConfig | undefined> {
  const full = configPath(args, io);
  if (!existsSync(full)) {
    if (required || args.config || args.env)
      throw new UsageError(`config file not found: ${args.config ?? 'slipway.yml'} (give --config PATH, or run in the folder that holds slipway.yml)`);
    return undefined;
  }
  return loadConfig(full, await allSpecs());
}

/** --env, checked against the file's environments: unknown names fail here, naming the ones there are. */
export function requireEnv(args: ParsedArgs, config: LoadedConfig, command: string): string {
  const envs = config.environments();
  if (!args.env) throw new UsageError(`${command} needs --env NAME (${config.path} has ${envs.join(', ')})`);
  if (!envs.includes(args.env)) {
    const hint = suggest(args.env, envs);
    throw new UsageError(
      `--env: got ${JSON.stringify(args.env)}; expected one of the environments in ${config.path}: ${envs.join(', ')}${hint ? ` (did you mean ${hint}?)` : ''}`,
    );
  }
  return args.env;
}

/**
 * An action's outputs as JSON values: a JSON list or map is carried as itself (not as a string
 * holding JSON), booleans and numbers as such where the output declares that shape.
 */
export function outputsAsJson(spec: ActionSpec, outputs: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, text] of Object.entries(outputs)) {
    const kind = (spec.outputs[name] as { shape?: { kind?: string } } | undefined)?.shape?.kind;
    let value: unknown = text;
    if (kind === 'boolean' && (text === 'true' || text === 'false')) value = text === 'true';
    else if ((kind === 'integer' || kind === 'number') && text !== '' && Number.isFinite(Number(text))) value = Number(text);
    else if (kind === 'json' || /^\s*[[{]/.test(text)) {
      try {
        value = JSON.parse(text);
      } catch {
        value = text;
      }
    }
    out[name] = value;
  }
  return out;
}

/** Runs one action with inputs from flags > SLIPWAY_* env > slipway.yml. Returns the exit code. */
export async function runActionCli(name: string, args: ParsedArgs, io: CliIO): Promise<number> {
  const action = await loadAction(name);
  if (!action) {
    const hint = suggest(name, [...actionNames(), ...Object.keys(COMMANDS)]);
    throw new UsageError(`unknown command ${JSON.stringify(name)}${hint ? ` (did you mean ${hint}?)` : ''}; run slipway --help`);
  }
  const { spec, run } = action;
  if (args.help) {
    io.stdout(`${actionHelp(spec)}\n`);
    return 0;
  }
  for (const flag of Object.keys(args.flags)) {
    if (!(flag in spec.inputs)) {
      const hint = suggest(flag, Object.keys(spec.inputs));
      throw new UsageError(`${name}: unknown flag --${flag}${hint ? ` (did you mean --${hint}?)` : ''}; see slipway ${name} --help`);
    }
  }
  // An action that takes the environment (release, notify) gets --env as its input; one that reads
  // slipway.yml itself (release) gets --config as its input.
  const takesEnv = 'environment' in spec.inputs;
  const takesConfig = 'config' in spec.inputs;
  const config = takesEnv && !args.config && !existsSync(configPath(args, io)) ? undefined : await readConfig(args, io, false);
  if (config && args.env) requireEnv(args, config, name);
  const rt = new ConsoleRuntime({}, { write: io.stderr });
  const fromConfig = config && args.env && !takesConfig ? resolveSecrets(config.inputs(args.env, name), io.env, (s) => rt.mask(s)) : {};
  const fromArgs: Record<string, string> = {};
  if (takesEnv && args.env) fromArgs.environment = args.env;
  if (takesConfig && args.config) fromArgs.config = configPath(args, io);
  const raw = { ...fromConfig, ...envInputs(io.env, Object.keys(spec.inputs)), ...fromArgs, ...args.flags };
  let inputs;
  try {
    inputs = await parseInputs(
      spec,
      (n) => raw[n],
      (s) => rt.mask(s),
    );
  } catch (err) {
    throw new UsageError(`${name}: ${inSlipwayWords(errorMessage(err))}`);
  }
  const controller = new AbortController();
  const onSig = () => controller.abort(new UserError('cancelled'));
  process.once('SIGINT', onSig);
  let ok = false;
  let usage = false;
  try {
    const result: ActionResult = await run(
      inputs,
      makeContext(rt, { ...io.env, GITHUB_WORKSPACE: io.cwd, ...(args.env ? { SLIPWAY_ENVIRONMENT: args.env } : {}) }, controller.signal),
    );
    ok = deliver(spec, rt, result);
  } catch (err) {
    // Bad input found by the run function before any side effect is a usage error, like a bad flag.
    usage = err instanceof UserError && /nothing was changed|^Input '|^Inputs '/.test(errorMessage(err));
    rt.setFailed(`${name}: ${inSlipwayWords(errorMessage(err))}`);
  } finally {
    process.off('SIGINT', onSig);
  }
  if (args.json)
    io.stdout(
      `${JSON.stringify({ action: name, ok, outputs: outputsAsJson(spec, rt.outputs), failure: rt.failure || undefined, summary: rt.summary }, null, 2)}\n`,
    );
  else if (rt.summary) io.stdout(`${rt.summary}\n`);
  return ok ? 0 : usage ? 2 : 1;
}

/** The flags of a command: which need no value, and (when known) every flag it takes. */
async function flagsOf(command: string | undefined): Promise<{ booleans: Set<string>; known?: Set<string> }> {
  if (!command) return { booleans: new Set() };
  const c = COMMANDS[command];
  if (c) return { booleans: new Set(c.booleans), known: c.flags ? new Set([...c.flags, ...c.booleans]) : undefined };
  const action = actionNames().includes(command) ? await loadAction(command) : undefined;
  const inputs = Object.entries(action?.spec.inputs ?? {});
  return { booleans: new Set(inputs.filter(([, i]) => i.kind === 'boolean').map(([n]) => n)), known: action ? new Set(inputs.map(([n]) => n)) : undefined };
}

export async function main(argv: string[], io: CliIO = defaultIO): Promise<number> {
  let args: ParsedArgs;
  try {
    const flags = await flagsOf(commandOf(argv));
    args = parseArgs(argv, flags.booleans, flags.known);
    if (!args.command || args.command === 'help') {
      io.stdout(
        `${GLOBAL_HELP}\n${(await Promise.all(actionNames().map(async (n) => `  ${n.padEnd(16)}${(await loadAction(n))!.spec.description}`))).join('\n')}\n`,
      );
      return args.command || args.help ? 0 : 2;
    }
    const command = COMMANDS[args.command];
    if (args.command === 'lint')
      return await runActionCli('migrate', { ...args, flags: { mode: 'lint', dir: args.positional[0] ?? args.flags.dir ?? 'migrations', ...args.flags } }, io);
    if (args.command === 'demo') {
      const demo = new URL('./demo/demo.ts', import.meta.url).pathname;
      return spawnSync(process.execPath, [demo, ...argv.slice(argv.indexOf('demo') + 1)], { stdio: 'inherit' }).status ?? 1;
    }
    if (command?.load) return await (await command.load()).default(args, io);
    return await runActionCli(args.command, args, io);
  } catch (err) {
    const usage = err instanceof UserError;
    const text = inSlipwayWords(errorMessage(err));
    io.stderr(`slipway: ${text.replace(/\n/g, '\n  ')}\n`);
    return usage ? 2 : 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
