/**
 * The expand/contract migration linter: parses SQL with PostgreSQL's own parser and flags statements that
 * lock or rewrite tables, or break the code still running, each with the safe rewrite.
 *
 *   const violations = await lintFiles([{ path: 'migrations/0002_x.sql', sql }], { pgVersion: 15, insideRunner: true });
 */
import { FileLinter, newSharedState, type LintOptions, type SharedState, type Violation } from './analyze.ts';
import { loadParser, parseWith, type PgQuery } from './parser.ts';
import { isRuleId, ruleInfo } from './rules.ts';
import { readDirectives, shortStatement, SourceText } from './source.ts';

export type { LintOptions, Violation } from './analyze.ts';
export { RULES, isRuleId, unknownRuleIds, type RuleInfo, type Severity } from './rules.ts';
export { loadParser } from './parser.ts';

/** Rules an ignore comment or configuration cannot switch off. */
const ALWAYS_ON = new Set(['syntax-error', 'ignore-without-reason']);

/** Lints one file. Syntax errors come back as a `syntax-error` violation, never as a thrown error. */
export async function lintSql(sql: string, opts: LintOptions & { file: string }): Promise<Violation[]> {
  const pg = await loadParser();
  return lintOne(pg, sql, opts.file, opts, newSharedState());
}

/**
 * Lints files in the order given (the order they are applied): later files see the column types and
 * validated NOT NULL checks of earlier ones. Violations are sorted by file order, then line.
 */
export async function lintFiles(files: { path: string; sql: string }[], opts: LintOptions): Promise<Violation[]> {
  const pg = await loadParser();
  const shared = newSharedState();
  const out: Violation[] = [];
  for (const f of files) out.push(...lintOne(pg, f.sql, f.path, opts, shared));
  return out;
}

function lintOne(pg: PgQuery, sql: string, file: string, opts: LintOptions, shared: SharedState): Violation[] {
  const options: LintOptions = { ...opts, pgVersion: opts.pgVersion || 15 };
  const src = new SourceText(sql);
  const directives = readDirectives(sql);
  const noTransaction = !!options.noTransaction || directives.noTransaction;
  const found: Violation[] = [];

  const ignored = new Set<string>();
  for (const d of directives.ignores) {
    const at = { file, line: d.line, column: 1, statement: shortStatement(d.text) };
    if (d.rules.length === 0 || !d.reason) {
      const fix = `-- slipway:ignore ${d.rules[0] ?? 'rule-id'} <why this is safe here>`;
      found.push({
        rule: 'ignore-without-reason',
        severity: ruleInfo('ignore-without-reason').severity,
        ...at,
        message: `"${d.text}" ${d.rules.length ? 'gives no reason' : 'names no rule'}: an ignored rule needs a written reason reviewers can check, so nothing is ignored.`,
        fix,
      });
      continue;
    }
    for (const r of d.rules) {
      if (isRuleId(r)) ignored.add(r);
      else {
        const fix = 'Use one of the rule ids listed in docs/migrate-lint.md.';
        found.push({
          rule: 'ignore-unknown-rule',
          severity: ruleInfo('ignore-unknown-rule').severity,
          ...at,
          message: `"${r}" is not a lint rule, so this comment ignores nothing.`,
          fix,
        });
      }
    }
  }

  const parsed = parseWith(pg, sql);
  if (!parsed.ok) {
    const index = src.indexOfCodePoint(parsed.position);
    const pos = src.position(index);
    const lineStart = sql.lastIndexOf('\n', index - 1) + 1;
    const lineEnd = sql.indexOf('\n', index);
    const fix = 'Fix the SQL at this line; PostgreSQL would reject the migration.';
    found.push({
      rule: 'syntax-error',
      severity: 'error',
      file,
      line: pos.line,
      column: pos.column,
      statement: shortStatement(sql.slice(lineStart, lineEnd === -1 ? sql.length : lineEnd)),
      message: `SQL syntax error: ${parsed.message}.`,
      fix,
    });
  } else {
    const linter = new FileLinter(src, file, options, noTransaction, shared);
    linter.run(parsed.stmts);
    found.push(...linter.out);
  }

  const disabled = new Set(options.disabled ?? []);
  return found.filter((v) => ALWAYS_ON.has(v.rule) || (!ignored.has(v.rule) && !disabled.has(v.rule))).sort((a, b) => a.line - b.line || a.column - b.column);
}
