/**
 * The deployment history page: one self-contained HTML file (inline CSS and SVG, system fonts, no
 * script, no image or font to load; a Content-Security-Policy that forbids any load, so the page
 * makes no request when opened). Every text from GitHub is escaped.
 */
import { DEFINITIONS, frequencyText, humanDuration, percentText, type AnalyzedDeployment, type EnvironmentReport, type Outcome, type Report } from './dora.ts';

export function escapeHtml(s: unknown): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const COLORS: Record<Outcome | 'restore', string> = {
  success: '#1a7f37',
  'rolled-back': '#bf8700',
  failed: '#cf222e',
  'in-progress': '#8c959f',
  restore: '#0969da',
};
const LABELS: Record<Outcome | 'restore', string> = {
  success: 'success',
  'rolled-back': 'rolled back',
  failed: 'failed',
  'in-progress': 'in progress',
  restore: 'restore',
};
const kindOf = (d: AnalyzedDeployment): Outcome | 'restore' => (d.restore ? 'restore' : d.outcome);
const label = (d: AnalyzedDeployment) => d.version ?? d.sha.slice(0, 7);
const when = (iso: string | undefined) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC') : '—');
/** Only http(s) links (a log URL from GitHub); anything else is shown as text. */
const safeUrl = (u: string | undefined) => (u && /^https?:\/\//.test(u) ? u : undefined);

function timeline(r: Report, e: EnvironmentReport): string {
  const W = 960;
  const H = 84;
  const pad = 24;
  const t0 = Date.parse(r.since);
  const t1 = Date.parse(r.until);
  const x = (iso: string) => pad + ((Date.parse(iso) - t0) / Math.max(1, t1 - t0)) * (W - 2 * pad);
  const ticks: string[] = [];
  for (let k = 0; k <= 4; k++) {
    const t = t0 + ((t1 - t0) * k) / 4;
    const tx = pad + ((W - 2 * pad) * k) / 4;
    ticks.push(
      `<line x1="${tx.toFixed(1)}" y1="50" x2="${tx.toFixed(1)}" y2="56" stroke="#8c959f"/><text x="${tx.toFixed(1)}" y="72" text-anchor="${k === 0 ? 'start' : k === 4 ? 'end' : 'middle'}" class="tick">${new Date(t).toISOString().slice(0, 10)}</text>`,
    );
  }
  const dots = [...e.deployments].reverse().map((d) => {
    const k = kindOf(d);
    const cx = x(d.createdAt).toFixed(1);
    const cy = k === 'success' || k === 'restore' ? 24 : 38;
    const tip = `${label(d)} (${d.sha.slice(0, 7)}): ${LABELS[k]}, ${when(d.createdAt)}${d.durationMs !== undefined ? `, ${humanDuration(d.durationMs)}` : ''}`;
    return `<circle cx="${cx}" cy="${cy}" r="6" fill="${COLORS[k]}" stroke="#fff" stroke-width="1.5"><title>${escapeHtml(tip)}</title></circle>`;
  });
  return `<svg class="timeline" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${escapeHtml(`deployments of ${e.environment} over time`)}"><line x1="${pad}" y1="50" x2="${W - pad}" y2="50" stroke="#d1d9e0" stroke-width="2"/>${ticks.join('')}${dots.join('')}</svg>`;
}

function figureCards(e: EnvironmentReport): string {
  const f = e.figures;
  const card = (name: string, value: string, detail: string, def: string) =>
    `<div class="card"><div class="name">${escapeHtml(name)}</div><div class="value">${escapeHtml(value)}</div><div class="detail">${escapeHtml(detail)}</div><div class="def">${escapeHtml(def)}</div></div>`;
  return `<div class="cards">${[
    card('Deployment frequency', frequencyText(f), `${f.deployments} successful in ${Math.round(f.windowDays)} days`, DEFINITIONS.frequency),
    card('Lead time for changes', humanDuration(f.leadTimeMs), `median of ${f.leadTimeSamples}`, DEFINITIONS.leadTime),
    card(
      'Change failure rate',
      percentText(f.changeFailureRate),
      `${f.failedChanges} of ${f.finishedChanges} failed or rolled back`,
      DEFINITIONS.changeFailureRate,
    ),
    card(
      'Time to restore',
      humanDuration(f.timeToRestoreMs),
      `median of ${f.restoredFailures}${f.unrestoredFailures ? `; ${f.unrestoredFailures} not restored yet` : ''}`,
      DEFINITIONS.timeToRestore,
    ),
  ].join('')}</div>`;
}

/** Rows per environment in the table (the timeline shows every deployment). */
const MAX_ROWS = 25;

function rows(e: EnvironmentReport): string {
  if (!e.deployments.length) return '<p class="muted">No deployments in the window.</p>';
  const shown = e.deployments.slice(0, MAX_ROWS);
  const body = shown.map((d) => {
    const k = kindOf(d);
    const run = safeUrl(d.runUrl);
    return `<tr><td>${escapeHtml(when(d.createdAt))}</td><td><b>${escapeHtml(label(d))}</b> <code>${escapeHtml(d.sha.slice(0, 7))}</code></td><td><span class="badge" style="background:${COLORS[k]}">${LABELS[k]}</span></td><td>${escapeHtml(humanDuration(d.durationMs))}</td><td>${escapeHtml(d.approvers === undefined ? '—' : d.approvers.length ? d.approvers.join(', ') : 'no approval')}</td><td>${escapeHtml(humanDuration(d.leadTimeMs ?? d.restoreMs))}${d.restoreMs !== undefined ? ' to restore' : ''}</td><td>${run ? `<a href="${escapeHtml(run)}">run ${d.runId}</a>` : '—'}</td></tr>`;
  });
  return `<table><thead><tr><th>Started</th><th>Version</th><th>Outcome</th><th>Duration</th><th>Approved by</th><th>Lead time</th><th>Run</th></tr></thead><tbody>${body.join('')}</tbody></table>${e.deployments.length > shown.length ? `<p class="muted">${e.deployments.length - shown.length} older deployments are on the timeline only (all of them: slipway report --json).</p>` : ''}`;
}

export function renderHtml(r: Report, generatedAt: string): string {
  const envs = r.environments.map((e) => {
    const now = e.current
      ? `<p class="now">Running now: <b>${escapeHtml(label(e.current))}</b> <code>${escapeHtml(e.current.sha.slice(0, 7))}</code> since ${escapeHtml(when(e.current.finishedAt))}</p>`
      : '<p class="now muted">No successful deployment in the window.</p>';
    return `<section><h2>${escapeHtml(e.environment)}</h2>${now}${figureCards(e)}${timeline(r, e)}${rows(e)}</section>`;
  });
  const legend = (Object.keys(COLORS) as (Outcome | 'restore')[]).map((k) => `<span><i style="background:${COLORS[k]}"></i>${LABELS[k]}</span>`).join('');
  const css = [
    'body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1f2328;max-width:1040px;margin:24px auto;padding:0 16px}',
    'h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;border-bottom:1px solid #d1d9e0;padding-bottom:6px;margin-top:28px}',
    '.muted,.sub{color:#59636e}.now{font-size:15px}code{background:#eff1f3;padding:1px 4px;border-radius:4px;font-size:12px}',
    '.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:10px;margin:10px 0}.card{border:1px solid #d1d9e0;border-radius:6px;padding:10px}',
    '.card .name{font-weight:600;font-size:13px}.card .value{font-size:24px;font-weight:600;margin:2px 0}.card .detail{color:#59636e;font-size:12px}.card .def{color:#59636e;font-size:11px;margin-top:6px}',
    '.timeline{display:block;margin:8px 0}.tick{font-size:11px;fill:#59636e}',
    'table{border-collapse:collapse;width:100%;margin:8px 0 16px}th,td{border-bottom:1px solid #d1d9e0;padding:5px 8px;text-align:left;font-size:13px}th{background:#f6f8fa}',
    '.badge{color:#fff;border-radius:10px;padding:1px 8px;font-size:12px;white-space:nowrap}.legend span{margin-right:14px;font-size:12px}.legend i{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:4px}',
    'a{color:#0969da;text-decoration:none}dl dt{font-weight:600}dl dd{margin:0 0 8px 0;color:#59636e}',
  ].join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(`Deployments of ${r.repository}`)}</title>
<style>${css}</style></head>
<body>
<h1>Deployments of ${escapeHtml(r.repository)}</h1>
<p class="sub">From ${escapeHtml(when(r.since))} to ${escapeHtml(when(r.until))}, read from GitHub deployments; generated ${escapeHtml(when(generatedAt))} by slipway report.</p>
<p class="legend">${legend}</p>
${envs.length ? envs.join('\n') : '<p class="muted">No deployments in the window.</p>'}
<h2>Definitions</h2>
<dl>${Object.values(DEFINITIONS)
    .map((d) => {
      const [n, ...rest] = d.split(': ');
      return `<dt>${escapeHtml(n)}</dt><dd>${escapeHtml(rest.join(': '))}</dd>`;
    })
    .join('')}
<dt>Outcome</dt><dd>success: the newest success/failure/error status is success; rolled back: it is a failure whose description says rolled back (Slipway's automatic rollback); failed: any other failure or error; restore: a rollback's record of the version it put back (rollback.yml), not a change. Duration: from the deployment's creation to that status.</dd>
<dt>Approved by</dt><dd>The reviewers who approved this environment in the workflow run that made the deployment (GitHub's environment review log); — when the run or the log is unknown.</dd></dl>
</body></html>
`;
}
