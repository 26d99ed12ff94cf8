/** Job summary of a migration run: what was applied, in what order, how long, and on failure what is left done and undone. */
import { code, heading, table } from '../lib/markdown.ts';
import { formatDuration } from '../lib/duration.ts';
import type { RunnerResult } from './runner.ts';
import { describeSession } from './locks.ts';

export function runnerSummary(r: RunnerResult, opts: { target: string; lockTimeoutMs: number; lockRetries: number }): string {
  const f = r.failure;
  const title = r.dryRun
    ? `Migrations (dry run): ${r.plan.length} would be applied`
    : f
      ? `Migrations failed: ${f.migration ? `${f.migration.version}_${f.migration.name}` : f.kind}${r.applied.length ? ` (${r.applied.length} applied before it)` : ''}`
      : r.applied.length
        ? `Migrations: applied ${r.applied.length} in ${formatDuration(r.applied.reduce((s, a) => s + a.durationMs, 0))}`
        : 'Migrations: nothing to apply';
  let md = heading(title);
  md += `\nDatabase \`${opts.target}\` · history \`${r.historyTable}\` · current version **${r.currentVersion ?? 'none'}** · lock_timeout ${opts.lockTimeoutMs ? formatDuration(opts.lockTimeoutMs) : 'off'}, up to ${opts.lockRetries} retries${r.lockWaitedMs > 1000 ? ` · waited ${formatDuration(r.lockWaitedMs)} for the migration lock` : ''} · ${formatDuration(r.durationMs)} in all\n\n`;

  if (r.dryRun) {
    if (r.plan.length) {
      md += table(
        ['#', 'Migration', 'Statements', 'Transaction', 'Note'],
        r.plan.map((p, i) => [
          i + 1,
          p.file.path,
          p.statements?.length ?? '?',
          p.file.noTransaction ? 'no (statement by statement)' : 'yes',
          [p.resumeAt ? `resumes at statement ${p.resumeAt + 1}` : '', p.outOfOrder ? 'out of order' : ''].filter(Boolean).join(', '),
        ]),
      );
    } else md += 'The database is up to date.\n';
  } else if (r.applied.length) {
    md += table(
      ['#', 'Migration', 'Duration', 'Statements', 'Lock retries', 'Transaction'],
      r.applied.map((a, i) => [
        i + 1,
        a.file,
        formatDuration(a.durationMs),
        a.resumedAt ? `${a.statements} (resumed at ${a.resumedAt})` : a.statements,
        a.lockRetries,
        a.transaction ? 'yes' : 'no',
      ]),
    );
  } else if (!f) md += 'The database is up to date.\n';

  if (r.repaired.length) {
    md +=
      `\n**Checksums accepted** (allow-checksum-change; not run again):\n\n` +
      table(
        ['Migration', 'Recorded', 'Now'],
        r.repaired.map((x) => [x.file, x.from.slice(0, 12), x.to.slice(0, 12)]),
      );
  }
  if (r.invalidIndexes.length) {
    md += `\n**INVALID indexes found** (left by failed CREATE INDEX CONCURRENTLY): ${r.invalidIndexes.map((x) => `\`${x.schema}.${x.name}\` on \`${x.table}\``).join(', ')}\n`;
  }
  if (r.missingFiles.length) md += `\n**In the history but not in the directory:** ${r.missingFiles.map((m) => `${m.version}_${m.name}`).join(', ')}\n`;

  if (f) {
    md += `\n### What failed\n\n${f.message}\n\n`;
    if (f.statement && f.statement.sql) {
      md += `Statement ${f.statement.index + 1} of ${f.statement.total}${f.statement.line ? ` (line ${f.statement.line})` : ''}:\n\n${code(f.statement.sql.length > 2000 ? `${f.statement.sql.slice(0, 2000)}…` : f.statement.sql, 'sql')}\n`;
    }
    const rows: string[][] = [];
    if (f.code) rows.push(['SQLSTATE', `\`${f.code}\``]);
    if (f.detail) rows.push(['Detail', f.detail]);
    if (f.hint) rows.push(['Hint', f.hint]);
    if (f.attempts && f.attempts > 1) rows.push(['Attempts', String(f.attempts)]);
    if (f.blockers?.length) rows.push(['Blocked by', f.blockers.map(describeSession).join('<br>')]);
    if (rows.length) md += table(['', ''], rows);
    if (f.items?.length) md += `\n${f.items.map((i) => `- ${i}`).join('\n')}\n`;
    md += `\n### Left done and undone\n\n`;
    md += `- **Done** (committed, recorded in \`${r.historyTable}\`): ${r.applied.length ? r.applied.map((a) => a.file).join(', ') : r.dryRun ? 'nothing (dry run)' : 'none in this run'}\n`;
    if (f.migration && f.left) md += `- **${f.migration.path}**: ${f.left}\n`;
    const notStarted = r.pending.filter((p) => p.file.version !== f.migration?.version || !f.left);
    md += `- **Not started**: ${notStarted.length ? notStarted.map((p) => p.file.path).join(', ') : 'none'}\n`;
  }
  return md;
}
