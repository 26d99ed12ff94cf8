/**
 * `slipway <action> [--input value …]`: runs any action locally over the same run functions the
 * actions use. Human output on stderr (colours on a TTY), `--json` prints one JSON document on stdout.
 * Exit codes: 0 pass, 1 fail, 2 bad usage or bad input.
 */
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import type { ActionSpec } from '../lib/fields.ts';
import { parseInputs } from '../lib/fields.ts';
import { UserError, errorMessage } from '../lib/errors.ts';
import { suggest } from '../lib/suggest.ts';
import { ConsoleRuntime } from '../runner/console.ts';
import { deliver, makeContext } from '../runner/run-action.ts';
import { parseArgs, envInputs, type ParsedArgs } from './args.ts';
import { GLOBAL_HELP, actionHelp } from './help.ts';
import { actionNames, loadAction } from './registry.ts';
import { loadConfig, resolveSecrets, type LoadedConfig } from '../config/load.ts';

export interface CliIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: Record<string, string | undefined>;
  cwd: string;
}

const defaultIO: CliIO = { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s), env: process.env, cwd: process.cwd() };

class UsageError extends UserError {}

export async function allSpecs(): Promise<Record<string, ActionSpec>> {
  const out: Record<string, ActionSpec> = {};
  for (const n of actionNames()) out[n] = (await loadAction(n))!.spec;
  return out;
}

async function readConfig(args: ParsedArgs, io: CliIO, required: boolean): Promise<LoadedConfig | undefined> {
  const path = args.config ?? 'slipway.yml';
  const full = path.startsWith('/') ? path : `${io.cwd}/${path}`;
  if (!existsSync(full)) {
    if (required || args.config || args.env) throw new UsageError(`config file not found: ${path}`);
    return undefined;
  }
  return loadConfig(full, await allSpecs());
}

/** Runs one action with inputs from flags > SLIPWAY_* env > slipway.yml. Returns the exit code. */
export async function runActionCli(name: string, args: ParsedArgs, io: CliIO): Promise<number> {
  const action = await loadAction(name);
  if (!action) {
    const hint = suggest(name, [...actionNames(), 'lint', 'plan', 'validate', 'demo']);
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
  const config = await readConfig(args, io, false);
  const rt = new ConsoleRuntime({}, { write: io.stderr });
  const fromConfig = config && args.env ? resolveSecrets(config.inputs(args.env, name), io.env, (s) => rt.mask(s)) : {};
  const raw = { ...fromConfig, ...envInputs(io.env, Object.keys(spec.inputs)), ...args.flags };
  let inputs;
  try {
    inputs = await parseInputs(spec, (n) => raw[n], (s) => rt.mask(s));
  } catch (err) {
    throw new UsageError(errorMessage(err));
  }
  const controller = new AbortController();
  const onSig = () => controller.abort(new UserError('cancelled'));
  process.once('SIGINT', onSig);
  let ok = false;
  try {
    const result = await run(inputs, makeContext(rt, { ...io.env, GITHUB_WORKSPACE: io.cwd }, controller.signal));
    ok = deliver(spec, rt, result);
  } catch (err) {
    rt.setFailed(`${name}: ${errorMessage(err)}`);
  } finally {
    process.off('SIGINT', onSig);
  }
  if (args.json) io.stdout(`${JSON.stringify({ action: name, ok, outputs: rt.outputs, failure: rt.failure || undefined, summary: rt.summary }, null, 2)}\n`);
  else if (rt.summary) io.stderr(`\n${rt.summary}\n`);
  return ok ? 0 : 1;
}

export async function main(argv: string[], io: CliIO = defaultIO): Promise<number> {
  let args: ParsedArgs;
  try {
    args = parseArgs(argv);
    if (!args.command || (args.command === 'help')) {
      io.stdout(`${GLOBAL_HELP}\n${(await Promise.all(actionNames().map(async (n) => `  ${n.padEnd(16)}${(await loadAction(n))!.spec.description}`))).join('\n')}\n`);
      return args.command || args.help ? 0 : 2;
    }
    switch (args.command) {
      case 'lint':
        return await runActionCli('migrate', { ...args, flags: { mode: 'lint', dir: args.positional[0] ?? args.flags.dir ?? 'migrations', ...args.flags } }, io);
      case 'validate': {
        if (args.help) { io.stdout('slipway validate [--config slipway.yml]: checks slipway.yml against every action\'s inputs.\n'); return 0; }
        const config = (await readConfig(args, io, true))!;
        io.stdout(args.json ? `${JSON.stringify({ ok: true, environments: config.environments() })}\n` : `${config.path}: valid (${config.environments().join(', ')})\n`);
        return 0;
      }
      case 'plan': {
        const { plan } = await import('./plan.ts');
        return await plan(args, io, (required) => readConfig(args, io, required));
      }
      case 'demo': {
        const demo = new URL('./demo.ts', import.meta.url).pathname;
        return spawnSync(process.execPath, [demo, ...argv.slice(1)], { stdio: 'inherit' }).status ?? 1;
      }
      default:
        return await runActionCli(args.command, args, io);
    }
  } catch (err) {
    const usage = err instanceof UsageError || err instanceof UserError;
    io.stderr(`slipway: ${errorMessage(err)}\n`);
    return usage ? 2 : 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
