import type { InputsOf } from '../../manifest/fields.ts';
import type { ActionContext, ActionResult } from '../../runner/context.ts';
import { runChecks, type CheckResult } from '../../smoke/checks.ts';
import { headerSecrets, redactUrl, urlSecrets } from '../../lib/secrets.ts';
import { heading, table, ok } from '../../lib/markdown.ts';
import { formatDuration } from '../../lib/duration.ts';
import type { Http } from '../../lib/http.ts';
import type { spec } from './inputs.ts';

export type SmokeInputs = InputsOf<typeof spec>;

export function smokeSummary(url: string, results: CheckResult[], elapsedMs: number): string {
  const failed = results.filter((r) => !r.passed).length;
  const rows = results.map((r) => [
    r.name,
    `${ok(r.passed)} ${r.passed ? 'passed' : 'failed'}`,
    r.status ?? '—',
    r.latencyMs !== undefined ? `${r.latencyMs} ms` : '—',
    r.attempts,
    r.reason ?? '',
  ]);
  return (
    heading(`Smoke test ${failed ? `failed: ${failed} of ${results.length} checks` : `passed: ${results.length} checks`}`) +
    `\nTarget: \`${redactUrl(url)}\` · ${formatDuration(elapsedMs)}\n\n` +
    table(['Check', 'Result', 'Status', 'Latency', 'Attempts', 'Reason'], rows)
  );
}

export async function run(inputs: SmokeInputs, ctx: ActionContext, deps: { http?: Http } = {}): Promise<ActionResult> {
  for (const s of urlSecrets(inputs.url)) ctx.log.mask(s);
  const headers = inputs.headers ?? {};
  for (const s of headerSecrets(headers)) ctx.log.mask(s);
  for (const c of inputs.checks) for (const s of headerSecrets(c.headers)) ctx.log.mask(s);

  const started = Date.now();
  ctx.log.info(`smoke-test: ${inputs.checks.length} check(s) against ${redactUrl(inputs.url)}, deadline ${formatDuration(inputs.deadline)}`);
  const results = await runChecks({
    baseUrl: inputs.url,
    checks: inputs.checks,
    headers,
    timeoutMs: inputs.timeout,
    deadlineMs: inputs.deadline,
    failFast: inputs['fail-fast'],
    http: deps.http,
    signal: ctx.signal,
    onAttempt: (r) =>
      ctx.log.info(
        `  ${r.passed ? 'ok  ' : 'FAIL'} ${r.name} (attempt ${r.attempts})${r.status ? ` ${r.status}` : ''}${r.latencyMs !== undefined ? ` ${r.latencyMs}ms` : ''}${r.reason ? `: ${r.reason}` : ''}`,
      ),
  });
  const failed = results.filter((r) => !r.passed);
  return {
    outputs: { passed: failed.length === 0, 'failed-count': failed.length, results },
    summary: smokeSummary(inputs.url, results, Date.now() - started),
    failure: failed.length
      ? `smoke-test: ${failed.length} of ${results.length} checks failed: ${failed.map((r) => `${r.name} (${r.reason})`).join('; ')}`
      : undefined,
  };
}
