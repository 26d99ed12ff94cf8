/**
 * From a deployment history to what the report shows: each deployment's outcome and duration, the
 * version each environment runs now, and the four DORA figures per environment. Pure functions
 * (no clock, no network): the caller gives the window.
 */
import type { HistoryDeployment } from './history.ts';

export type Outcome = 'success' | 'rolled-back' | 'failed' | 'in-progress';

export interface AnalyzedDeployment extends HistoryDeployment {
  outcome: Outcome;
  /** A rollback's record of the version it restored (rollback.yml): not a change, but the end of an outage. */
  restore: boolean;
  /** When the outcome was posted (the last success/failure/error status). */
  finishedAt?: string;
  /** finishedAt − createdAt */
  durationMs?: number;
  /** Successful changes: finishedAt − commit date. */
  leadTimeMs?: number;
  /** Failed changes: from createdAt to the moment the environment ran a good version again (undefined: not yet). */
  restoreMs?: number;
}

export interface DoraFigures {
  /** Successful changes in the window. */
  deployments: number;
  windowDays: number;
  /** Successful changes per day. */
  perDay: number;
  /** Median, ms; null when no successful change has a known commit date. */
  leadTimeMs: number | null;
  leadTimeSamples: number;
  /** Failed or rolled-back changes / finished changes; null when none finished. */
  changeFailureRate: number | null;
  failedChanges: number;
  finishedChanges: number;
  /** Median, ms; null when no failure was restored. */
  timeToRestoreMs: number | null;
  restoredFailures: number;
  unrestoredFailures: number;
}

export interface EnvironmentReport {
  environment: string;
  /** The successful deployment with the newest outcome: what runs now. */
  current?: AnalyzedDeployment;
  /** Newest first. */
  deployments: AnalyzedDeployment[];
  figures: DoraFigures;
}

export interface Report {
  repository: string;
  since: string;
  until: string;
  environments: EnvironmentReport[];
}

/** The definitions shown beside the figures (one sentence each, also in docs/day-two.md). */
export const DEFINITIONS = {
  frequency: "Deployment frequency: successful deployments of a change (rollback restores not counted) in the window, divided by the window's days.",
  leadTime:
    "Lead time for changes: for each successful deployment, the time from the deployed commit's committer date to the deployment's success status; the median.",
  changeFailureRate:
    'Change failure rate: deployments of a change that failed or were rolled back, divided by all deployments of a change that finished (in progress ones left out).',
  timeToRestore:
    "Time to restore: for each failed or rolled-back deployment, from its start to the moment the environment ran a good version again (the automatic rollback's finish, or else the next successful deployment); the median of those restored.",
} as const;

const TERMINAL = new Set(['success', 'failure', 'error']);
const ms = (iso: string) => Date.parse(iso);

export function median(values: number[]): number | null {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** A deployment's outcome: its newest success/failure/error status (inactive only marks a later deployment). */
export function outcomeOf(d: HistoryDeployment): { outcome: Outcome; finishedAt?: string } {
  const last = d.statuses.find((s) => TERMINAL.has(s.state));
  if (!last) return { outcome: 'in-progress' };
  if (last.state === 'success') return { outcome: 'success', finishedAt: last.createdAt };
  return { outcome: /rolled back/i.test(last.description) ? 'rolled-back' : 'failed', finishedAt: last.createdAt };
}

const isRestore = (d: HistoryDeployment) =>
  /restored by a rollback/i.test(d.description) || d.statuses.some((s) => s.state === 'success' && /restored by a rollback/i.test(s.description));

export function analyze(repository: string, deployments: HistoryDeployment[], window: { since: Date; until: Date }, environments?: string[]): Report {
  const byEnv = new Map<string, AnalyzedDeployment[]>();
  for (const env of environments ?? []) byEnv.set(env, []);
  for (const d of deployments) {
    const { outcome, finishedAt } = outcomeOf(d);
    const a: AnalyzedDeployment = { ...d, outcome, finishedAt, restore: outcome === 'success' && isRestore(d) };
    if (finishedAt) a.durationMs = ms(finishedAt) - ms(d.createdAt);
    if (outcome === 'success' && !a.restore && d.commitDate) a.leadTimeMs = ms(finishedAt!) - ms(d.commitDate);
    if (!byEnv.has(d.environment)) byEnv.set(d.environment, []);
    byEnv.get(d.environment)!.push(a);
  }
  const windowDays = (window.until.getTime() - window.since.getTime()) / 86_400_000;
  const envs: EnvironmentReport[] = [];
  for (const [environment, list] of byEnv) {
    list.sort((a, b) => ms(b.createdAt) - ms(a.createdAt) || b.id - a.id);
    const successes = list.filter((d) => d.outcome === 'success').sort((a, b) => ms(b.finishedAt!) - ms(a.finishedAt!));
    const changes = list.filter((d) => !d.restore && d.outcome !== 'in-progress');
    const failed = changes.filter((d) => d.outcome === 'failed' || d.outcome === 'rolled-back');
    for (const f of failed) {
      if (f.outcome === 'rolled-back') f.restoreMs = ms(f.finishedAt!) - ms(f.createdAt);
      else {
        const next = successes.filter((s) => ms(s.finishedAt!) > ms(f.finishedAt!)).at(-1);
        if (next) f.restoreMs = ms(next.finishedAt!) - ms(f.createdAt);
      }
    }
    const good = changes.filter((d) => d.outcome === 'success');
    const lead = good.map((d) => d.leadTimeMs).filter((x): x is number => x !== undefined);
    const restores = failed.map((d) => d.restoreMs).filter((x): x is number => x !== undefined);
    envs.push({
      environment,
      current: successes[0],
      deployments: list,
      figures: {
        deployments: good.length,
        windowDays,
        perDay: windowDays > 0 ? good.length / windowDays : 0,
        leadTimeMs: median(lead),
        leadTimeSamples: lead.length,
        changeFailureRate: changes.length ? failed.length / changes.length : null,
        failedChanges: failed.length,
        finishedChanges: changes.length,
        timeToRestoreMs: median(restores),
        restoredFailures: restores.length,
        unrestoredFailures: failed.length - restores.length,
      },
    });
  }
  // production first, then by name
  envs.sort((a, b) => (a.environment === 'production' ? -1 : b.environment === 'production' ? 1 : a.environment.localeCompare(b.environment)));
  return { repository, since: window.since.toISOString(), until: window.until.toISOString(), environments: envs };
}

/** A duration the way a person reads it: 45s, 12m, 3.5h, 2.1d. */
export function humanDuration(msValue: number | null | undefined): string {
  if (msValue === null || msValue === undefined || !Number.isFinite(msValue)) return '—';
  const s = msValue / 1000;
  if (s < 90) return `${Math.round(s)}s`;
  const m = s / 60;
  if (m < 90) return `${Math.round(m)}m`;
  const h = m / 60;
  if (h < 48) return `${h.toFixed(1)}h`;
  return `${(h / 24).toFixed(1)}d`;
}

export function frequencyText(f: DoraFigures): string {
  if (f.perDay >= 1) return `${f.perDay.toFixed(1)}/day`;
  if (f.perDay * 7 >= 1) return `${(f.perDay * 7).toFixed(1)}/week`;
  return `${(f.perDay * 30).toFixed(1)}/month`;
}

export const percentText = (x: number | null) => (x === null ? '—' : `${(x * 100).toFixed(1)}%`);

/** The figures as a Markdown table (the job summary). */
export function figuresMarkdown(r: Report): string {
  const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
  const rows = r.environments.map((e) => {
    const f = e.figures;
    const now = e.current ? `${esc(e.current.version ?? e.current.sha.slice(0, 7))} (\`${e.current.sha.slice(0, 7)}\`)` : '—';
    return `| ${esc(e.environment)} | ${now} | ${frequencyText(f)} (${f.deployments} in ${Math.round(f.windowDays)}d) | ${humanDuration(f.leadTimeMs)} (${f.leadTimeSamples}) | ${percentText(f.changeFailureRate)} (${f.failedChanges}/${f.finishedChanges}) | ${humanDuration(f.timeToRestoreMs)} (${f.restoredFailures}${f.unrestoredFailures ? `, ${f.unrestoredFailures} not restored` : ''}) |`;
  });
  return [
    `### Deployments of ${esc(r.repository)} since ${r.since.slice(0, 10)}`,
    '',
    '| Environment | Running now | Deployment frequency | Lead time (median, n) | Change failure rate | Time to restore (median, n) |',
    '| --- | --- | --- | --- | --- | --- |',
    ...(rows.length ? rows : ['| (no deployments in the window) | | | | | |']),
    '',
    ...Object.values(DEFINITIONS).map((d) => `- ${d}`),
    '',
  ].join('\n');
}
