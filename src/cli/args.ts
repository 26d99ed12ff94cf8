/** Command-line parsing for `slipway <command> [--input value ...]`. */
import { UserError } from '../lib/errors.ts';
import { suggest } from '../lib/suggest.ts';

export interface ParsedArgs {
  command?: string;
  positional: string[];
  flags: Record<string, string>;
  json: boolean;
  help: boolean;
  env?: string;
  config?: string;
}

/** Flags every command takes without a value. */
const GLOBAL_BOOLEANS = new Set(['json', 'help']);

/** A usage mistake (exit 2): a bad flag, a missing value, an unknown command. */
export class UsageError extends UserError {}

/** The command word: the first argument that is not a flag. */
export function commandOf(argv: readonly string[]): string | undefined {
  return argv.find((a) => !a.startsWith('-'));
}

/**
 * Parses flags. A boolean flag (`booleans`, plus --json and --help) needs no value: `--dry-run`
 * means true, and `--dry-run false` or `--dry-run=false` set it. `--env` and `--environment` are one
 * flag; so are `--config` and `-c`.
 */
export function parseArgs(argv: string[], booleans: ReadonlySet<string> = new Set(), known?: ReadonlySet<string>): ParsedArgs {
  const out: ParsedArgs = { positional: [], flags: {}, json: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h') {
      out.help = true;
      continue;
    }
    if (a === '--') {
      out.positional.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--') || a === '-c') {
      const eq = a.indexOf('=');
      let name = a === '-c' ? 'config' : eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (!name || name.startsWith('-')) throw new UsageError(`bad flag ${JSON.stringify(a)}; expected --name value or --name=value`);
      if (name === 'environment') name = 'env';
      const boolean = GLOBAL_BOOLEANS.has(name) || booleans.has(name);
      let value: string;
      if (eq > 0) value = a.slice(eq + 1);
      else if (boolean) {
        const next = argv[i + 1];
        if (next === 'true' || next === 'false') {
          value = next;
          i++;
        } else value = 'true';
      } else {
        const next = argv[i + 1];
        if (next === undefined || (next.startsWith('--') && next.length > 2)) {
          if (known && !known.has(name) && !['env', 'config'].includes(name)) {
            const hint = suggest(name, [...known]);
            throw new UsageError(`unknown flag --${name}${hint ? ` (did you mean --${hint}?)` : ''}`);
          }
          throw new UsageError(`flag --${name} needs a value`);
        }
        value = next;
        i++;
      }
      if (boolean && value !== 'true' && value !== 'false')
        throw new UsageError(`flag --${name}: got ${JSON.stringify(value)}; expected true or false (or the flag alone for true)`);
      if (name === 'json') out.json = value !== 'false';
      else if (name === 'help') out.help = value !== 'false';
      else if (name === 'env') out.env = value;
      else if (name === 'config') out.config = value;
      else out.flags[name] = value;
      continue;
    }
    if (out.command === undefined) out.command = a;
    else out.positional.push(a);
  }
  return out;
}

/** SLIPWAY_FAIL_FAST → fail-fast */
export function envInputs(env: Record<string, string | undefined>, inputNames: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of inputNames) {
    const v = env[`SLIPWAY_${name.toUpperCase().replace(/-/g, '_')}`];
    if (v !== undefined && v !== '') out[name] = v;
  }
  return out;
}
