/**
 * What the migrate action does with the linter's findings (src/migrate/lint): annotations on the
 * file and line, a summary table, the `violations` output, and the `fail-on` verdict.
 */
import type { Reporter } from '../lib/report.ts';
import { table, heading } from '../lib/markdown.ts';
import { oneLine } from './locks.ts';

/** The linter's finding. */
import type { Violation as LintViolation } from './lint/analyze.ts';
export type { LintViolation };

export type FailOn = 'error' | 'warning' | 'never';

export function lintFails(violations: LintViolation[], failOn: FailOn): boolean {
  if (failOn === 'never') return false;
  if (failOn === 'warning') return violations.length > 0;
  return violations.some((v) => v.severity === 'error');
}

export function countBySeverity(violations: LintViolation[]): { errors: number; warnings: number } {
  const errors = violations.filter((v) => v.severity === 'error').length;
  return { errors, warnings: violations.length - errors };
}

export function annotateViolations(log: Reporter, violations: LintViolation[]): void {
  for (const v of violations) {
    const text = `${v.message}${v.fix ? `\nSafe rewrite: ${v.fix}` : ''}`;
    const at = { file: v.file, line: v.line, col: v.column, title: `slipway ${v.rule}` };
    if (v.severity === 'error') log.error(text, at);
    else log.warning(text, at);
  }
}

export function lintVerdictLine(violations: LintViolation[], failOn: FailOn, files: number): string {
  const { errors, warnings } = countBySeverity(violations);
  const found = violations.length ? `${errors} error(s), ${warnings} warning(s)` : 'no problems';
  return `lint: ${files} file(s), ${found}${violations.length ? ` (fail-on: ${failOn})` : ''}`;
}

export function violationsSummary(violations: LintViolation[], failOn: FailOn, files: number): string {
  const { errors, warnings } = countBySeverity(violations);
  let md = heading(`Migration lint: ${violations.length ? `${errors} error(s), ${warnings} warning(s)` : 'no problems'} in ${files} file(s)`, 3);
  if (!violations.length) return md;
  md += `\nfail-on: \`${failOn}\`${lintFails(violations, failOn) ? ' → **fails**' : ' → passes'}. Disable a rule for one statement with \`-- slipway:ignore <rule> <reason>\`, or everywhere with \`disable-rules\`.\n\n`;
  const sorted = [...violations].sort((a, b) =>
    a.severity === b.severity ? a.file.localeCompare(b.file) || a.line - b.line : a.severity === 'error' ? -1 : 1,
  );
  md += table(
    ['Severity', 'Rule', 'Where', 'Statement', 'Problem', 'Safe rewrite'],
    sorted.map((v) => [
      v.severity === 'error' ? '❌ error' : '⚠️ warning',
      `\`${v.rule}\``,
      `${v.file}:${v.line}`,
      `\`${oneLine(v.statement, 80).replace(/`/g, "'")}\``,
      v.message,
      v.fix,
    ]),
  );
  return md;
}
