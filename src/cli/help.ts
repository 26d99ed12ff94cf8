/** Help text generated from the actions' input specs (the same source as action.yml). */
import type { ActionSpec } from '../lib/fields.ts';

export const GLOBAL_HELP = `slipway — safe deploys from pull request to production

Usage:
  slipway <action> [--input value ...] [--env NAME] [--config slipway.yml] [--json]
  slipway lint [dir]          lint migration files (the migrate action's linter)
  slipway plan --env NAME     what a deploy would do, without doing it
  slipway validate            check slipway.yml
  slipway demo                the whole pipeline on this machine (same as npm run demo)
  slipway <command> --help

Inputs come from flags, then SLIPWAY_<INPUT> environment variables, then slipway.yml (--env), in that order.
Exit codes: 0 passed, 1 failed, 2 bad usage or bad input.

Actions:`;

export function actionHelp(spec: ActionSpec): string {
  const lines = [`slipway ${spec.name} — ${spec.description}`, '', 'Inputs:'];
  const width = Math.max(...Object.keys(spec.inputs).map((n) => n.length)) + 4;
  for (const [name, i] of Object.entries(spec.inputs)) {
    const flags = [i.required ? 'required' : undefined, i.default !== undefined ? `default ${JSON.stringify(i.default)}` : undefined, i.secret ? 'secret' : undefined].filter(Boolean).join(', ');
    lines.push(`  --${name.padEnd(width)}${i.description}`);
    lines.push(`  ${' '.repeat(width + 2)}${i.expected}${flags ? ` (${flags})` : ''}`);
  }
  lines.push('', 'Outputs:');
  for (const [name, o] of Object.entries(spec.outputs)) lines.push(`  ${name.padEnd(width + 2)}${o.description}`);
  lines.push('', `Environment: SLIPWAY_<INPUT> (e.g. SLIPWAY_${Object.keys(spec.inputs)[0]?.toUpperCase().replace(/-/g, '_')}).`);
  return lines.join('\n');
}
