/** The SLO gate's summary a person reads (Markdown). */
import { formatDuration } from '../lib/duration.ts';
import { heading, table, details, code } from '../lib/markdown.ts';
import { formatWindow } from './objectives.ts';
import { conf, fmtCount, fmtRatio, type Verdict } from './judge.ts';
import type { SloReport } from './analysis.ts';

const ICON: Record<Verdict | 'error', string> = { pass: '✅ pass', fail: '❌ fail', inconclusive: '⚠️ inconclusive', error: '🔌 provider error' };

export function renderSloSummary(r: SloReport): string {
  const out: string[] = [];
  const passedAnyway = r.verdict === 'inconclusive' && r.pass;
  out.push(
    heading(
      `SLO gate: ${ICON[r.verdict]}${passedAnyway ? ' (passed: on-inconclusive is pass)' : r.verdict === 'inconclusive' ? ' (blocks: on-inconclusive is fail)' : ''}`,
    ),
  );
  out.push(`**Why:** ${r.reason}\n`);
  const what =
    r.mode === 'budget'
      ? 'error budget check before the deploy'
      : `${r.plannedLooks > 1 ? `${r.looks.length} of ${r.plannedLooks} planned measurements, every ${formatDuration(r.intervalMs)} over ${formatDuration(r.durationMs)}` : 'one measurement'}`;
  out.push(
    `Source: **${r.provider}** · ${r.target.label}${r.target.baseline ? ` · baseline ${r.target.baseline}` : ''} · ${what} · ` +
      `${conf(r.confidence)} confidence${r.lookConfidence !== r.confidence ? ` (${conf(r.lookConfidence)} per measurement: Bonferroni over ${r.plannedLooks})` : ''} · took ${formatDuration(r.elapsedMs)}\n`,
  );
  if (r.budget?.overridden) out.push(`> **⚠️ Override:** the error budget is spent, and the deploy was let through: “${r.budget.override}”\n`);
  else if (r.override && r.mode === 'budget') out.push(`> Override given (“${r.override}”) but not needed: the budget is not spent.\n`);
  if (r.objectives.length) {
    out.push(
      table(
        ['Objective', 'Measured', 'Threshold', 'Samples', 'Verdict', 'Reason'],
        r.objectives.map((row) => [
          row.objective,
          row.measured,
          row.threshold,
          row.samples === undefined ? '—' : row.samples.toLocaleString('en-US'),
          ICON[row.verdict] + (row.nodata ? ' (no data)' : ''),
          row.reason,
        ]),
      ),
    );
  }
  if (r.burnRates?.length) {
    const fmt = (b?: number) => (b === undefined ? '—' : `${b.toFixed(2)}×`);
    out.push(heading('Burn rates', 3));
    out.push(
      table(
        ['Pair', 'Long window', 'Short window', 'Firing'],
        r.burnRates.map((p) => [
          p.label,
          `${fmt(p.long.burn)} (${fmtRatio(p.long.ratio)} of ${fmtCount(p.long.counts?.total)})`,
          `${fmt(p.short.burn)} (${fmtRatio(p.short.ratio)} of ${fmtCount(p.short.counts?.total)})`,
          p.nodata ? 'no data' : p.firing ? '🔥 yes' : 'no',
        ]),
      ),
    );
  }
  if (r.budget) {
    out.push(heading('Error budget', 3));
    out.push(
      table(
        ['SLO', 'Window', 'Requests', 'Bad', 'Allowed bad', 'Left'],
        [
          [
            fmtRatio(r.budget.target),
            formatWindow(r.budget.windowMs),
            fmtCount(r.budget.total),
            fmtCount(r.budget.bad),
            fmtCount(Math.floor(r.budget.allowedBad)),
            fmtRatio(Math.max(-9.99, r.budget.remaining)),
          ],
        ],
      ),
    );
  }
  if (r.looks.length > 1 || r.providerErrors.length) {
    out.push(heading('Measurements', 3));
    out.push(
      table(
        ['#', 'At', 'Result', 'Failed', 'Inconclusive / error'],
        r.looks.map((l) => [l.index, formatDuration(l.atMs), ICON[l.verdict], l.failed.join(', '), l.error ?? l.inconclusive.join(', ')]),
      ),
    );
    if (Object.keys(r.failures).length)
      out.push(
        `Failures per objective: ${Object.entries(r.failures)
          .map(([k, v]) => `${k}: ${v}`)
          .join(', ')} (failure-limit ${r.failureLimit})\n`,
      );
  }
  for (const [title, p] of [
    ['Probe', r.probe],
    ['Baseline probe', r.baselineProbe],
  ] as const) {
    if (!p) continue;
    const codes = Object.entries((p.codes as Record<string, number>) ?? {})
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ');
    const failures = Object.entries((p.failures as Record<string, number>) ?? {})
      .map(([k, v]) => `${k} ×${v}`)
      .join('; ');
    out.push(
      `${title}: ${p.sent} requests (${codes || 'none'})${p.skipped ? `, ${p.skipped} sends skipped (concurrency limit reached)` : ''}${failures ? `; no answer: ${failures}` : ''}\n`,
    );
  }
  if (r.timeline?.length) {
    out.push(
      details(
        'Error ratio over the analysis (Prometheus range query)',
        table(
          ['Time', 'Error ratio'],
          r.timeline.map((t) => [new Date(t.atMs).toISOString().slice(11, 19), fmtRatio(t.ratio)]),
        ),
      ),
    );
  }
  if (r.queries?.length) out.push(details('Queries', code(r.queries.join('\n'), 'promql')));
  out.push(
    `\n<sub>pass needs every confidence bound inside its limit (Wilson interval for ratios, order statistics or histogram counts for quantiles); nodata: ${r.nodata}; on-inconclusive: ${r.onInconclusive}; min-samples: ${r.minSamples}; failure-limit: ${r.failureLimit}; error-limit: ${r.errorLimit}.</sub>\n`,
  );
  return out.join('\n');
}
