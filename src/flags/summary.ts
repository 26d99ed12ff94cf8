/** How flag changes read in a job summary, a notify message and the release plan. */
import { table } from '../lib/markdown.ts';
import { formatDuration } from '../lib/duration.ts';
import { describeState, type FlagChange } from './model.ts';

/** `checkout: off → on 25% (production, unleash http://…)`, `checkout: NOT switched off (error)`. */
export function flagChangeLine(c: FlagChange): string {
  if (!c.ok)
    return `${c.flag}: NOT ${c.action === 'disable' ? 'switched off' : 'changed'} (${c.environment}, ${c.provider} ${c.server}): ${c.error ?? 'failed'}`;
  if (c.unchanged) return `${c.flag}: already ${describeState(c.to)} (${c.environment})`;
  return `${c.flag}: ${describeState(c.from)} → ${describeState(c.to)} (${c.environment}, ${c.provider} ${c.server})`;
}

/** A table of the changes: flag, action, from, to, result, who, when, run. */
export function flagChangesTable(changes: FlagChange[]): string {
  return table(
    ['Flag', 'Change', 'From', 'To', 'Result', 'Who', 'When (UTC)', 'Run'],
    changes.map((c) => [
      `\`${c.flag}\``,
      c.action,
      describeState(c.from),
      describeState(c.to),
      c.ok
        ? c.unchanged
          ? '✅ already so'
          : `✅ ${formatDuration(c.durationMs)}${c.attempts && c.attempts > 1 ? ` (${c.attempts} attempts)` : ''}`
        : `❌ ${c.error ?? 'failed'}`,
      c.who,
      c.at.replace('T', ' ').replace(/\.\d+Z$/, ''),
      /^https?:\/\//.test(c.run) ? `[run](${c.run})` : c.run,
    ]),
  );
}
