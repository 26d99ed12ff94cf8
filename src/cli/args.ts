/** Command-line parsing for `slipway <command> [--input value ...]`. */
import { UserError } from '../lib/errors.ts';

export interface ParsedArgs {
  command?: string;
  positional: string[];
  flags: Record<string, string>;
  json: boolean;
  help: boolean;
  env?: string;
  config?: string;
}

const BOOLEAN_FLAGS = new Set(['json', 'help']);

export function parseArgs(argv: string[]): ParsedArgs {
  const out: ParsedArgs = { positional: [], flags: {}, json: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h') { out.help = true; continue; }
    if (a === '--') { out.positional.push(...argv.slice(i + 1)); break; }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (!name) throw new UserError(`bad flag ${JSON.stringify(a)}`);
      let value: string;
      if (eq > 0) value = a.slice(eq + 1);
      else if (BOOLEAN_FLAGS.has(name)) value = 'true';
      else {
        const next = argv[i + 1];
        if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new UserError(`flag --${name} needs a value`);
        value = next;
        i++;
      }
      if (name === 'json') out.json = value !== 'false';
      else if (name === 'help') out.help = true;
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
