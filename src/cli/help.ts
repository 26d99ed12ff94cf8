/** Help text generated from the actions' input specs (the same source as action.yml). */
import type { ActionSpec } from '../manifest/fields.ts';

export const GLOBAL_HELP = `slipway — safe deploys from pull request to production

Usage:
  slipway <action> [--input value ...] [--env NAME] [--config slipway.yml] [--json]
  slipway validate [--env NAME]           check slipway.yml with the release's own checks; every problem at once
  slipway plan --env NAME                 what a release would do: migrations and lint, batches, deploy window
  slipway lint [dir]                      lint migration files (the migrate action's linter)
  slipway status --env NAME               what runs where: version, since when, ready, the lock holder
  slipway releases --env NAME             the releases kept on the target (what rollback can go back to)
  slipway rollback --env NAME [--to V]    put the environment back on a kept release (default: the previous one)
  slipway lock acquire|release|status --env NAME [--reason TEXT] [--ttl 1h]
  slipway audit --env NAME [--since 7d]   who deployed, rolled back, locked and unlocked, when
  slipway promote|abort --env NAME        a rollout waiting at a "pause: manual" step goes on, or rolls back
  slipway report --out report.html [--env NAME] [--since 90d]
                                          deployment history page from GitHub deployments, with DORA figures
  slipway demo                            the whole pipeline on this machine (same as npm run demo)
  slipway <command> --help

Every command: --env NAME (also --environment) picks the slipway.yml environment, --config PATH
(also -c) the file, --json prints one JSON document. Flags that switch something on need no value
(--dry-run, --json). Inputs come from flags, then SLIPWAY_<INPUT> environment variables, then
slipway.yml (--env), in that order. Results go to stdout, progress and errors to stderr.
Exit codes: 0 passed, 1 failed, 2 bad usage or bad input.

Actions:`;

export function actionHelp(spec: ActionSpec): string {
  const lines = [`slipway ${spec.name} — ${spec.description}`, '', 'Inputs:'];
  const width = Math.max(...Object.keys(spec.inputs).map((n) => n.length)) + 4;
  for (const [name, i] of Object.entries(spec.inputs)) {
    const flags = [
      i.required ? 'required' : undefined,
      i.default !== undefined ? `default ${JSON.stringify(i.default)}` : undefined,
      i.secret ? 'secret' : undefined,
    ]
      .filter(Boolean)
      .join(', ');
    lines.push(`  --${name.padEnd(width)}${i.description}`);
    lines.push(`  ${' '.repeat(width + 2)}${i.expected}${flags ? ` (${flags})` : ''}`);
  }
  lines.push('', 'Outputs:');
  for (const [name, o] of Object.entries(spec.outputs)) lines.push(`  ${name.padEnd(width + 2)}${o.description}`);
  lines.push('', `Environment: SLIPWAY_<INPUT> (e.g. SLIPWAY_${Object.keys(spec.inputs)[0]?.toUpperCase().replace(/-/g, '_')}).`);
  return lines.join('\n');
}
