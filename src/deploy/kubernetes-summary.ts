/** The job summary of a Kubernetes rollout: what happened, in what order, how long, and why. */
import { formatDuration, formatPercent } from '../lib/duration.ts';
import { heading, table } from '../lib/markdown.ts';
import type { KubeRolloutResult } from './kubernetes.ts';

const TITLES: Record<KubeRolloutResult['status'], string> = {
  succeeded: '✅ deployed',
  unchanged: '✅ already deployed',
  'rolled-back': '↩️ failed and rolled back',
  'rollback-failed': '❌ failed, and the rollback failed too',
  cancelled: '⚠️ cancelled',
  failed: '❌ failed',
};

const STRATEGY: Record<KubeRolloutResult['strategy'], string> = { rolling: 'Rolling deploy', canary: 'Canary deploy', 'blue-green': 'Blue/green deploy' };

export function kubeHeadline(r: KubeRolloutResult): string {
  if (r.mode === 'rollback')
    return `${r.strategy === 'blue-green' ? 'Blue/green switch back' : 'Rollback (to the last good pod template)'} of Deployment ${r.namespace}/${r.deployment} to ${r.version}: ${r.status === 'succeeded' ? '✅ done' : TITLES[r.status]}`;
  return `${STRATEGY[r.strategy]} of ${r.version} to Deployment ${r.namespace}/${r.deployment}: ${TITLES[r.status]}`;
}

export function renderKubeSummary(r: KubeRolloutResult): string {
  let md = heading(kubeHeadline(r));
  const rev = r.revision !== undefined ? ` · revision ${r.previousRevision ?? '—'} → ${r.revision}` : '';
  md += `\nImage ${r.previousImage ?? '(none)'} → ${r.image} · ${r.replicas} replica(s)${rev} · ${formatDuration(r.durationMs)}`;
  if (r.rollbackMs !== undefined) md += ` · rollback took ${formatDuration(r.rollbackMs)}`;
  md += `\n\nNamespace \`${r.namespace}\`${r.context ? ` · context \`${r.context}\`` : ''}${r.finalImage ? ` · runs now: \`${r.finalImage}\`` : ''}\n\n`;
  if (r.failure) {
    md += heading('Why', 3);
    md += `${r.failure.reason}\n\n`;
    if (r.failure.lastState) md += `Last state seen: ${r.failure.lastState}\n\n`;
  }
  if (r.canary)
    md += `Canary \`${r.canary.deployment}\`: sizes ${r.canary.sizes.join(' → ') || '—'} pod(s) of ${r.replicas}; ${r.canary.deleted ? 'deleted' : 'still present'}\n\n`;
  if (r.blueGreen) {
    const b = r.blueGreen;
    md += `Service \`${b.service}\`: ${b.switched ? `switched ${b.from} → ${b.to}` : `not switched (still ${b.from})`}${b.switchedBack ? `, then switched back to ${b.from}` : ''}${b.keepUntil ? `; ${b.previousDeployment} kept until ${b.keepUntil} for an instant switch back` : ''}\n\n`;
  }
  if (r.steps.length) {
    md += heading('Steps', 3);
    md += table(
      ['Step', 'Wanted', 'New pods available', 'Started', 'Took', 'Gate', 'Outcome'],
      r.steps.map((s) => [
        s.step,
        `${formatPercent(s.fraction)} (${s.target})`,
        s.available,
        `+${formatDuration(s.startedAt - r.startedAt)}`,
        s.endedAt ? formatDuration(s.endedAt - s.startedAt) : '—',
        s.gate
          ? `${s.gate.pass ? '✅' : '❌'} ${s.gate.verdict ?? (s.gate.pass ? 'pass' : 'fail')}: ${s.gate.reason} (${formatDuration(s.gate.durationMs)})`
          : '—',
        s.outcome,
      ]),
    );
    md += '\n';
  }
  if (r.pods.length) {
    md += heading('Pods', 3);
    md += table(
      ['Pod', 'Version', 'Owner', 'Ready', 'Ready after', 'Ready at', 'Restarts', 'Note'],
      r.pods.map((p) => [
        p.name,
        p.version,
        p.owner ?? '—',
        p.ready ? '✅' : '❌',
        p.readyAfterMs !== undefined ? formatDuration(p.readyAfterMs) : '—',
        p.readyAt ?? '—',
        p.restarts,
        p.why ?? '',
      ]),
    );
    md += '\n';
  }
  if (r.events.length) {
    md += heading('Timeline', 3);
    md += table(
      ['At', 'What'],
      r.events.map((e) => [`+${formatDuration(e.atMs)}`, e.message]),
    );
  }
  for (const w of r.warnings) md += `\n> ⚠️ ${w}\n`;
  return md;
}
