/** The job summary of a rollout: what happened, in what order, how long, and why it stopped. */
import { formatDuration, formatPercent } from '../lib/duration.ts';
import { code, heading, table } from '../lib/markdown.ts';
import type { RolloutResult } from './engine.ts';

const TITLES: Record<RolloutResult['status'], string> = {
  succeeded: '✅ deployed',
  unchanged: '✅ already deployed',
  'rolled-back': '↩️ failed and rolled back',
  'rollback-failed': '❌ failed, and the rollback failed too',
  cancelled: '⚠️ cancelled',
  failed: '❌ failed before anything was switched',
};

/** One line a person reads first. */
const STRATEGY = { rolling: 'Rolling deploy', canary: 'Canary deploy', 'blue-green': 'Blue/green deploy' } as const;

export function headline(r: RolloutResult): string {
  const what =
    r.mode === 'rollback'
      ? `${r.strategy === 'blue-green' ? 'Blue/green rollback' : 'Rollback'} to ${r.version}`
      : `${STRATEGY[r.strategy ?? 'rolling']} of ${r.version}`;
  const title = r.status === 'failed' && r.strategy === 'blue-green' ? '❌ failed before traffic was switched' : TITLES[r.status];
  return `${what}: ${title}`;
}

/** instance → version, for the `instances` output and the mixed-fleet message. */
export function fleetVersions(r: RolloutResult): Record<string, string> {
  if (r.finalVersions) return r.finalVersions;
  const out: Record<string, string> = {};
  for (const s of r.instances) {
    const v = s.status === 'new' ? s.to : s.status === 'rolled-back' || s.status === 'old' ? s.from : undefined;
    out[s.id] = v ?? `unknown (${s.status})`;
  }
  return out;
}

/** "web1 runs v1, web2 runs v2" when the fleet is not on one version, else undefined. */
export function mixedFleet(r: RolloutResult): string | undefined {
  const v = fleetVersions(r);
  if (new Set(Object.values(v)).size <= 1) return undefined;
  return Object.entries(v)
    .map(([id, ver]) => `${id} runs ${ver}`)
    .join(', ');
}

export function renderSummary(r: RolloutResult, opts: { target?: string } = {}): string {
  let md = heading(headline(r));
  md += `\nTarget: ${opts.target ?? r.instances.length + ' instance(s)'} · from ${r.previousVersion ?? '(none)'} to ${r.version} · ${formatDuration(r.durationMs)}`;
  if (r.rollbackMs !== undefined) md += ` · rollback took ${formatDuration(r.rollbackMs)}`;
  md += '\n\n';
  if (r.failure) {
    md += heading('Why', 3);
    md += `${r.failure.instance ? `**${r.failure.instance}**: ` : ''}${r.failure.reason}\n\n`;
    if (r.failure.lastAnswer) md += `Last readiness answer: \`${r.failure.lastAnswer.replace(/`/g, "'")}\`\n\n`;
    if (r.failure.logs) md += `Last log lines of ${r.failure.instance ?? 'the instance'}:\n\n${code(r.failure.logs)}\n`;
  }
  if (r.blueGreen) {
    const b = r.blueGreen;
    const moved = Object.keys(b.to).filter((id) => b.to[id] !== b.from[id]);
    md += heading('Traffic', 3);
    md += `${b.switched ? `Switched ${moved.length} instance(s) to the new set in one load-balancer change${b.switchMs !== undefined ? ` (${formatDuration(b.switchMs)})` : ''}` : 'Traffic was never switched: it stayed on the old set'}`;
    if (b.switchedBack) md += `, then switched back in one load-balancer change${b.switchBackMs !== undefined ? ` (${formatDuration(b.switchBackMs)})` : ''}`;
    md += '.';
    if (b.reused.length) md += ` Already running in the idle slot (no start): ${b.reused.join(', ')}.`;
    if (b.keepUntil && b.switched && !b.switchedBack)
      md +=
        b.keepUntil === 'stopped'
          ? ' The old set was stopped (keep-previous 0).'
          : ` The old set keeps running until ${b.keepUntil} for an instant switch back (\`rollback: true\` with \`strategy: blue-green\`).`;
    md += '\n\n';
    md += table(
      ['Instance', 'Old slot', 'New slot'],
      moved.map((id) => [id, b.from[id]!, b.to[id]!]),
    );
    md += '\n';
  }
  if (r.batches.length) {
    md += heading('Timeline', 3);
    const t0 = r.startedAt;
    const rows = r.batches.map((b) => {
      const ready = b.instances
        .map((id) => r.instances.find((s) => s.id === id))
        .map((s) => (s ? `${s.id} ${s.readyMs !== undefined ? formatDuration(s.readyMs) : '—'}` : ''))
        .join(', ');
      return [
        b.batch,
        b.instances.join(', '),
        `+${formatDuration(b.startedAt - t0)}`,
        ready,
        b.endedAt ? formatDuration(b.endedAt - b.startedAt) : '—',
        b.gate ? `${b.gate.pass ? '✅' : '❌'} ${b.gate.verdict ?? (b.gate.pass ? 'pass' : 'fail')}: ${b.gate.reason}` : '—',
        b.outcome,
      ];
    });
    const canary = r.batches.some((b) => b.share !== undefined);
    if (canary)
      r.batches.forEach((b, k) =>
        rows[k]!.splice(
          2,
          0,
          b.share !== undefined
            ? `${formatPercent(b.share)}${b.weights && new Set(Object.values(b.weights)).size > 1 ? ` (weights new:old ${[...new Set(Object.values(b.weights))].join(':')})` : ''}`
            : '—',
        ),
      );
    md += table(['Batch', 'Instances', ...(canary ? ['Traffic to new'] : []), 'Started', 'Ready in', 'Took', 'Gate', 'Outcome'], rows);
    md += '\n';
  }
  md += heading('Instances', 3);
  const final = r.finalVersions;
  md += table(
    ['Instance', 'From', 'To', 'Batch', 'Status', 'Ready in', ...(final ? ['Runs now'] : []), 'Note'],
    r.instances.map((s) => [
      s.id,
      s.from ?? '(none)',
      s.to,
      s.batch || '—',
      s.status,
      s.readyMs !== undefined ? formatDuration(s.readyMs) : s.rollbackReadyMs !== undefined ? `back in ${formatDuration(s.rollbackReadyMs)}` : '—',
      ...(final ? [final[s.id] ?? '—'] : []),
      s.error ?? '',
    ]),
  );
  const rolled = r.instances.filter((s) => s.status === 'rolled-back').sort((a, b) => b.batch - a.batch);
  if (rolled.length) md += `\nRolled back: ${rolled.map((s) => `${s.id} (→ ${s.from})`).join(', ')}\n`;
  const mixed = mixedFleet(r);
  if (mixed && r.status !== 'succeeded' && r.status !== 'unchanged' && r.status !== 'cancelled') md += `\n**The fleet is on mixed versions:** ${mixed}\n`;
  for (const w of r.warnings) md += `\n> ⚠️ ${w}\n`;
  return md;
}
