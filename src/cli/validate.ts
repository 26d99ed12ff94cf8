/**
 * `slipway validate [--config slipway.yml] [--json]`: every problem in the file at once, with the
 * checks the release makes before it starts (one function decides both: checkRelease).
 */
import type { CliIO } from './main.ts';
import type { ParsedArgs } from './args.ts';
import { UsageError, allSpecs, configPath } from './main.ts';
import { existsSync } from 'node:fs';
import { ConfigError, ConfigProblems, MAX_PROBLEMS, loadConfig, type LoadedConfig } from '../config/load.ts';
import { checkEnvironmentForValidate } from '../actions/release/check.ts';

export default async function validate(args: ParsedArgs, io: CliIO): Promise<number> {
  if (args.help) {
    io.stdout(
      'slipway validate [--config slipway.yml] [--env NAME] [--json]\n  Checks slipway.yml with the checks a release makes before it starts, and lists every problem with its line and key.\n  Exit 0 valid, 1 problems found, 2 bad usage.\n',
    );
    return 0;
  }
  const full = configPath(args, io);
  if (!existsSync(full))
    throw new UsageError(`config file not found: ${args.config ?? 'slipway.yml'} (give --config PATH, or run in the folder that holds slipway.yml)`);
  let config: LoadedConfig | undefined;
  let problems: ConfigError[];
  try {
    config = await loadConfig(full, await allSpecs(), { collect: true });
    problems = [...config.problems];
  } catch (err) {
    if (err instanceof ConfigProblems) problems = err.problems;
    else if (err instanceof ConfigError)
      problems = [err]; // YAML syntax: nothing more can be read
    else throw err;
  }
  let environments: string[] = [];
  if (config) {
    environments = config.environments();
    if (args.env && !environments.includes(args.env))
      throw new UsageError(`--env: got ${JSON.stringify(args.env)}; expected one of the environments in ${config.path}: ${environments.join(', ')}`);
    // The release's own checks; a key already reported by the file's checks is not reported twice.
    const seen = new Set(problems.map((p) => p.key));
    const listed = problems.length;
    let more = 0;
    for (const e of args.env ? [args.env] : environments) {
      if (problems.length >= MAX_PROBLEMS) {
        more++;
        continue;
      }
      for (const p of await checkEnvironmentForValidate(config, e, io.cwd))
        if (!seen.has(p.key) && !p.key.split('.').some((_, n, parts) => n > 0 && seen.has(parts.slice(0, n).join('.')))) problems.push(p);
    }
    if (more && listed < MAX_PROBLEMS)
      problems.push(
        new ConfigError(
          config.path,
          undefined,
          undefined,
          '',
          `${more} more environment${more === 1 ? ' was' : 's were'} not checked (only the first ${MAX_PROBLEMS} problems are listed)`,
        ),
      );
    problems.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
  }
  const shown = args.config ?? 'slipway.yml';
  if (args.json) {
    io.stdout(
      `${JSON.stringify({ ok: problems.length === 0, file: shown, environments, problems: problems.map((p) => ({ line: p.line ?? null, column: p.col ?? null, key: p.key, message: p.detail })) }, null, 2)}\n`,
    );
  } else if (problems.length === 0) {
    io.stdout(`${shown}: valid (${environments.join(', ')})\n`);
  } else {
    io.stdout(`${shown}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${problems.map((p) => `  ${p.message}\n`).join('')}`);
  }
  return problems.length === 0 ? 0 : 1;
}
