/**
 * One message model for every channel. An action (or the all-in-one release action) describes what
 * happened as a NotifyEvent; the renderers here turn it into a Slack Block Kit message, a webhook
 * JSON payload, Markdown (PR comments, job summaries), a GitHub deployment status description and
 * an incident issue. No action builds its own notification strings.
 */
import { formatDuration } from '../lib/duration.ts';
import { cell, table } from '../lib/markdown.ts';

export const EVENT_KINDS = ['started', 'succeeded', 'failed', 'rolled-back', 'approval-waiting'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export interface VersionInfo {
  /** Image reference without digest, e.g. ghcr.io/acme/api. */
  image?: string;
  /** sha256:… image digest. */
  digest?: string;
  /** Commit SHA the image was built from. */
  sha?: string;
  /** Human label (tag or release name), e.g. v2 or 1.4.0. */
  label?: string;
}

export interface MigrationDetail {
  version: string;
  name?: string;
  durationMs?: number;
  lockRetries?: number;
}

export interface TimelineEntry {
  /** ISO time, when known. */
  at?: string;
  step: string;
  detail?: string;
  durationMs?: number;
  ok?: boolean;
}

export interface GateObjective {
  objective: string;
  measured?: string;
  threshold?: string;
  samples?: number;
  verdict?: string;
}

export interface GateDetail {
  verdict: string;
  reason?: string;
  objectives: GateObjective[];
}

export interface LintFinding {
  rule: string;
  severity: 'error' | 'warning';
  file: string;
  line: number;
  message: string;
  fix?: string;
}

export interface EventDetails {
  /** Migrations applied (migrate's `applied` output), or to apply (the release plan's pending list). */
  migrations?: MigrationDetail[];
  /** Migration lint findings (migrate's `violations` output); an empty list means a clean lint. */
  lint?: LintFinding[];
  /** Rollout timeline (deploy-rolling's report: batches, readiness, rollback). */
  timeline?: TimelineEntry[];
  /** Gate verdict with its numbers (slo-gate's `report`). */
  gate?: GateDetail;
  /** Any other report, as titled text. */
  notes?: { title: string; text: string }[];
  /** Feature flags this run switched (the flags action's `changes`; the kill switch's on a rollback). */
  flags?: FlagNote[];
}

/** One flag change as a message shows it. */
export interface FlagNote {
  flag: string;
  environment?: string;
  action?: string;
  /** `on 25%`, `off`, … */
  from?: string;
  to?: string;
  ok: boolean;
  error?: string;
  who?: string;
  at?: string;
}

export interface NotifyEvent {
  kind: EventKind;
  environment: string;
  /** Application or service name shown in titles; defaults to the repository name. */
  app?: string;
  /** owner/name */
  repository?: string;
  version: VersionInfo;
  /** The version running before (or restored by a rollback). */
  previousVersion?: VersionInfo;
  actor?: string;
  runUrl?: string;
  commitUrl?: string;
  environmentUrl?: string;
  /** ISO time the deploy started. */
  startedAt?: string;
  durationMs?: number;
  /** Why it failed / rolled back / waits (one line). */
  reason?: string;
  /** Replaces the derived headline (a message that is not about a deploy, e.g. a PR check). */
  title?: string;
  details: EventDetails;
}

export type Outcome = 'neutral' | 'good' | 'bad' | 'warning';

export const OUTCOME: Record<EventKind, Outcome> = {
  started: 'neutral',
  succeeded: 'good',
  failed: 'bad',
  'rolled-back': 'warning',
  'approval-waiting': 'neutral',
};

/** Attachment bar colours (Slack), one per outcome. */
export const COLORS: Record<EventKind, string> = {
  started: '#1f6feb',
  succeeded: '#2da44e',
  failed: '#cf222e',
  'rolled-back': '#d4a72c',
  'approval-waiting': '#8250df',
};

export const EMOJI: Record<EventKind, string> = {
  started: '🚀',
  succeeded: '✅',
  failed: '❌',
  'rolled-back': '↩️',
  'approval-waiting': '⏸️',
};

export const isFailure = (kind: EventKind) => kind === 'failed' || kind === 'rolled-back';
export const isFinal = (kind: EventKind) => kind === 'succeeded' || kind === 'failed' || kind === 'rolled-back';

export function shortSha(sha?: string): string | undefined {
  return sha ? sha.slice(0, 7) : undefined;
}

/** `v2 (sha256:abcd1234…, 0123456)`: the most telling version text. */
export function versionText(v?: VersionInfo): string {
  if (!v) return 'unknown';
  const main = v.label ?? (v.image ? v.image.split('/').pop() : undefined);
  const extra = [v.digest ? `${v.digest.slice(0, 19)}…` : undefined, shortSha(v.sha)].filter(Boolean);
  if (!main) return extra.length ? extra.join(', ') : 'unknown';
  return extra.length ? `${main} (${extra.join(', ')})` : main;
}

export function appName(e: NotifyEvent): string {
  return e.app || (e.repository ? e.repository.split('/').pop()! : 'app');
}

/** The one-line headline every channel shares (line breaks in user-given names become spaces, so a
 * value can never start a new log line, such as a forged `::set-output` workflow command). */
export function headline(e: NotifyEvent): string {
  return headlineText(e).replace(/[\r\n\u2028\u2029]+/g, ' ');
}

function headlineText(e: NotifyEvent): string {
  if (e.title) return e.title;
  const app = appName(e);
  const v = e.version.label ?? shortSha(e.version.sha) ?? '';
  const ver = v ? ` ${v}` : '';
  switch (e.kind) {
    case 'started':
      return `Deploying ${app}${ver} to ${e.environment}…`;
    case 'succeeded':
      return `Deployed ${app}${ver} to ${e.environment}`;
    case 'failed':
      return `Deploy of ${app}${ver} to ${e.environment} failed`;
    case 'rolled-back':
      return `Deploy of ${app}${ver} to ${e.environment} rolled back${e.previousVersion ? ` to ${e.previousVersion.label ?? shortSha(e.previousVersion.sha) ?? 'the previous version'}` : ''}`;
    case 'approval-waiting':
      return `${app}${ver} is waiting for approval to deploy to ${e.environment}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Normalising other actions' report outputs (lenient: field names vary between tools).

const str = (v: unknown): string | undefined =>
  v === undefined || v === null || v === ''
    ? undefined
    : typeof v === 'string'
      ? v
      : typeof v === 'number' || typeof v === 'boolean'
        ? String(v)
        : JSON.stringify(v);
const num = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && /^\d+(\.\d+)?$/.test(v) ? Number(v) : undefined;
const pick = (o: Record<string, unknown>, ...keys: string[]) => {
  for (const k of keys) if (o[k] !== undefined && o[k] !== null) return o[k];
  return undefined;
};
const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

function asList(v: unknown, ...keys: string[]): unknown[] | undefined {
  if (Array.isArray(v)) return v;
  if (isObj(v)) for (const k of keys) if (Array.isArray(v[k])) return v[k] as unknown[];
  return undefined;
}

/** migrate's `applied` output (a list) or a report holding one. */
export function normalizeMigrations(raw: unknown): MigrationDetail[] | undefined {
  const list = asList(raw, 'applied', 'migrations');
  if (!list) return undefined;
  return list.map((m) => {
    if (!isObj(m)) return { version: String(m) };
    return {
      version: str(pick(m, 'version', 'id', 'file')) ?? '?',
      name: str(pick(m, 'name', 'description')),
      durationMs: num(pick(m, 'durationMs', 'duration_ms', 'duration')),
      lockRetries: num(pick(m, 'lockRetries', 'lock_retries', 'retries')),
    };
  });
}

/** deploy-rolling's report: a list of steps/batches, or an object holding one. */
export function normalizeTimeline(raw: unknown): TimelineEntry[] | undefined {
  let list = asList(raw, 'timeline', 'batches', 'steps', 'events');
  // A map of instance → state (deploy-rolling's `instances` output): one entry per instance.
  if (!list && isObj(raw))
    list = Object.entries(raw).map(([name, v]) => (isObj(v) ? { name, ...v, detail: str(pick(v, 'detail', 'version')) } : { name, detail: str(v) }));
  if (!list) return undefined;
  return list.map((t, i) => {
    if (!isObj(t)) return { step: String(t) };
    const okRaw = pick(t, 'ok', 'passed', 'success');
    const status = str(pick(t, 'status', 'result'));
    const instances = pick(t, 'instances', 'hosts');
    return {
      at: str(pick(t, 'at', 'time', 'startedAt', 'started_at', 'timestamp')),
      step: str(pick(t, 'step', 'name', 'phase', 'batch', 'event')) ?? `step ${i + 1}`,
      detail:
        str(pick(t, 'detail', 'message', 'reason')) ??
        (Array.isArray(instances) ? instances.map((x) => str(isObj(x) ? pick(x, 'name', 'id', 'host') : x)).join(', ') : str(instances)),
      durationMs: num(pick(t, 'durationMs', 'duration_ms', 'duration', 'readyMs')),
      ok: typeof okRaw === 'boolean' ? okRaw : status ? /^(ok|pass|passed|success|succeeded|ready|done)$/i.test(status) : undefined,
    };
  });
}

/** slo-gate's `report`: verdict, reason and the objectives with their numbers. */
export function normalizeGate(raw: unknown): GateDetail | undefined {
  if (!isObj(raw)) return typeof raw === 'string' ? { verdict: raw, objectives: [] } : undefined;
  const list = asList(raw, 'objectives', 'results', 'checks') ?? [];
  return {
    verdict: str(pick(raw, 'verdict', 'result', 'status')) ?? 'unknown',
    reason: str(pick(raw, 'reason', 'message')),
    objectives: list.filter(isObj).map((o) => ({
      objective: str(pick(o, 'objective', 'name', 'id')) ?? '?',
      measured: str(pick(o, 'measured', 'value', 'actual')),
      threshold: str(pick(o, 'threshold', 'target', 'limit')),
      samples: num(pick(o, 'samples', 'count', 'n')),
      verdict: str(pick(o, 'verdict', 'result', 'status')) ?? (typeof o.passed === 'boolean' ? (o.passed ? 'pass' : 'fail') : undefined),
    })),
  };
}

/** Any extra report: a titled block of text (objects shown as compact JSON). */
export function normalizeNotes(raw: unknown): { title: string; text: string }[] | undefined {
  if (!isObj(raw)) return undefined;
  // `flags` holding flag changes is shown as its own section (normalizeFlags), not as a note.
  return Object.entries(raw)
    .filter(([title, v]) => !(title === 'flags' && normalizeFlags(v)))
    .map(([title, v]) => ({ title, text: typeof v === 'string' ? v : JSON.stringify(v, null, 1) }));
}

const flagStateText = (v: unknown): string | undefined => {
  if (typeof v === 'string') return v;
  if (!isObj(v) || typeof v.enabled !== 'boolean') return undefined;
  const pct = typeof v.rollout === 'number' ? v.rollout : undefined;
  return v.enabled ? (pct === undefined ? 'on' : `on ${pct}%`) : pct === undefined ? 'off' : `off (${pct}% when on)`;
};

/** The flags action's `changes` output (a list of {flag, from, to, ok, …}); undefined when it is not one. */
export function normalizeFlags(raw: unknown): FlagNote[] | undefined {
  if (!Array.isArray(raw) || !raw.length || !raw.every((c) => isObj(c) && typeof c.flag === 'string')) return undefined;
  return (raw as Record<string, unknown>[]).map((c) => ({
    flag: String(c.flag),
    environment: str(c.environment),
    action: str(c.action),
    from: flagStateText(c.from),
    to: flagStateText(c.to),
    ok: c.ok !== false,
    error: str(c.error),
    who: str(c.who),
    at: str(c.at),
  }));
}

/** `checkout: on 25% → off` / `checkout: NOT switched (why)`, for every renderer. */
export function flagLine(f: FlagNote): string {
  if (!f.ok) return `${f.flag}: NOT switched${f.to ? ` to ${f.to}` : ''}${f.error ? ` (${f.error})` : ''}: turn it off by hand`;
  return `${f.flag}: ${f.from ?? 'unknown'} → ${f.to ?? 'unknown'}${f.environment ? ` (${f.environment})` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Plain facts, shared by every renderer.

export interface Fact {
  label: string;
  text: string;
  url?: string;
}

export function facts(e: NotifyEvent): Fact[] {
  const out: Fact[] = [{ label: 'Environment', text: e.environment, url: e.environmentUrl }];
  out.push({ label: 'Version', text: versionText(e.version) });
  if (e.version.sha) out.push({ label: 'Commit', text: shortSha(e.version.sha)!, url: e.commitUrl });
  if (e.previousVersion) out.push({ label: e.kind === 'rolled-back' ? 'Restored' : 'Previous', text: versionText(e.previousVersion) });
  if (e.actor) out.push({ label: 'Actor', text: e.actor });
  if (e.durationMs !== undefined) out.push({ label: 'Duration', text: formatDuration(e.durationMs) });
  else if (e.startedAt) out.push({ label: 'Started', text: e.startedAt });
  return out;
}

function timelineRows(e: NotifyEvent): string[][] {
  return (e.details.timeline ?? []).map((t) => [
    t.at ? t.at.replace(/^\d{4}-\d\d-\d\dT/, '').replace(/\.\d+Z$|Z$/, '') : '',
    t.ok === undefined ? '' : t.ok ? '✅' : '❌',
    t.step,
    t.detail ?? '',
    t.durationMs !== undefined ? formatDuration(t.durationMs) : '',
  ]);
}

// ---------------------------------------------------------------------------------------------
// Markdown (PR comments, job summaries, incident issues).

export function renderMarkdown(e: NotifyEvent, opts: { heading?: boolean } = {}): string {
  const parts: string[] = [];
  if (opts.heading !== false) parts.push(`### ${EMOJI[e.kind]} ${headline(e)}\n`);
  if (e.reason) parts.push(`**Why:** ${e.reason}\n`);
  parts.push(
    table(
      ['', ''],
      facts(e).map((f) => [`**${f.label}**`, f.url ? `[${f.text}](${f.url})` : f.text]),
    ),
  );
  const links = [
    e.runUrl ? `[Run](${e.runUrl})` : '',
    e.commitUrl ? `[Commit](${e.commitUrl})` : '',
    e.environmentUrl ? `[Environment](${e.environmentUrl})` : '',
  ].filter(Boolean);
  if (links.length) parts.push(`${links.join(' · ')}\n`);
  parts.push(...markdownDetails(e));
  return parts.join('\n');
}

function markdownDetails(e: NotifyEvent): string[] {
  const out: string[] = [];
  const d = e.details;
  if (d.gate) {
    out.push(`**Gate: ${d.gate.verdict}**${d.gate.reason ? ` — ${d.gate.reason}` : ''}\n`);
    if (d.gate.objectives.length)
      out.push(
        table(
          ['Objective', 'Measured', 'Threshold', 'Samples', 'Verdict'],
          d.gate.objectives.map((o) => [o.objective, o.measured ?? '', o.threshold ?? '', o.samples ?? '', o.verdict ?? '']),
        ),
      );
  }
  if (d.timeline?.length) out.push(`**Rollout timeline**\n`, table(['Time', '', 'Step', 'Detail', 'Took'], timelineRows(e)));
  if (d.lint) out.push(...lintMarkdown(d.lint));
  if (d.migrations?.length) {
    const ran = d.migrations.some((m) => m.durationMs !== undefined);
    if (ran)
      out.push(
        `**Migrations applied (${d.migrations.length})**\n`,
        table(
          ['Version', 'Name', 'Took', 'Lock retries'],
          d.migrations.map((m) => [m.version, m.name ?? '', m.durationMs !== undefined ? formatDuration(m.durationMs) : '', m.lockRetries ?? '']),
        ),
      );
    else
      out.push(
        `**${e.kind === 'approval-waiting' ? 'Migrations this release applies' : 'Migrations'} (${d.migrations.length})**\n`,
        table(
          ['Version', 'Name'],
          d.migrations.map((m) => [m.version, m.name ?? '']),
        ),
      );
  }
  if (d.flags?.length) {
    const failed = d.flags.filter((f) => !f.ok).length;
    out.push(
      `**${e.kind === 'approval-waiting' ? 'Feature flags this release changes' : `Feature flags switched${e.kind === 'rolled-back' || e.kind === 'failed' ? ' (kill switch, before the rollback)' : ''}`}**${failed ? ` — ❌ ${failed} could NOT be switched: turn them off by hand` : ''}\n`,
    );
    out.push(
      table(
        ['Flag', 'From', 'To', 'Result', 'When'],
        d.flags.map((f) => [`\`${f.flag}\``, f.from ?? '—', f.to ?? '—', f.ok ? '✅' : `❌ ${f.error ?? 'failed'}`, f.at ?? '']),
      ),
    );
  }
  for (const n of d.notes ?? []) out.push(`**${cell(n.title)}**\n`, '```\n' + n.text.replace(/```/g, '`\u200b``') + '\n```\n');
  return out;
}

function lintMarkdown(findings: LintFinding[]): string[] {
  if (!findings.length) return ['**Migration lint:** ✅ no findings\n'];
  const errors = findings.filter((f) => f.severity === 'error').length;
  const warnings = findings.length - errors;
  return [
    `**Migration lint:** ${errors ? `❌ ${errors} error(s)` : '✅ no errors'}${warnings ? `, ⚠️ ${warnings} warning(s)` : ''}\n`,
    table(
      ['', 'Where', 'Rule', 'Problem', 'Safe rewrite'],
      findings.map((f) => [f.severity === 'error' ? '❌' : '⚠️', `${f.file}:${f.line}`, `\`${f.rule}\``, f.message, f.fix ?? '']),
    ),
  ];
}

/** migrate's `violations` output: the findings (anything unusable is refused by the input's schema). */
export function normalizeLint(raw: unknown): LintFinding[] | undefined {
  if (!Array.isArray(raw)) return undefined;
  return raw.filter(isObj).map((v) => ({
    rule: str(v.rule) ?? '?',
    severity: v.severity === 'warning' ? 'warning' : 'error',
    file: str(v.file) ?? '?',
    line: num(v.line) ?? 0,
    message: str(v.message) ?? '',
    fix: str(v.fix),
  }));
}

/** The hidden marker that finds a PR comment again: `<!-- slipway:KEY -->`. */
export function commentMarker(key: string): string {
  return `<!-- slipway:${key.replace(/-->/g, '')} -->`;
}

// ---------------------------------------------------------------------------------------------
// GitHub deployment status and incident issue.

/** GitHub caps a deployment status description at 140 characters. */
export function renderStatusDescription(e: NotifyEvent): string {
  const text = e.reason ? `${headline(e)}: ${e.reason}` : headline(e);
  return text.length > 140 ? `${text.slice(0, 139)}…` : text;
}

export function renderIncidentIssue(e: NotifyEvent): { title: string; body: string } {
  const when = e.startedAt ?? new Date().toISOString();
  const title = `Incident: ${headline(e)}`.slice(0, 250);
  const body = [
    `${commentMarker(`incident-${e.environment}`)}`,
    `## ${EMOJI[e.kind]} ${headline(e)}\n`,
    e.reason ? `**What Slipway saw:** ${e.reason}\n` : '',
    table(
      ['', ''],
      [
        ...facts(e).map((f) => [`**${f.label}**`, f.url ? `[${f.text}](${f.url})` : f.text]),
        ['**Run**', e.runUrl ? `[${e.runUrl}](${e.runUrl})` : '—'],
        ['**Started**', when],
      ],
    ),
    '',
    '## Versions\n',
    table(
      ['', 'Image', 'Digest', 'Commit'],
      [
        ['Bad (rolled back)', e.version.image ?? e.version.label ?? '—', e.version.digest ?? '—', e.version.sha ?? '—'],
        ['Restored', e.previousVersion?.image ?? e.previousVersion?.label ?? '—', e.previousVersion?.digest ?? '—', e.previousVersion?.sha ?? '—'],
      ],
    ),
    '',
    '## Timeline and numbers\n',
    ...(e.details.gate ||
    e.details.timeline?.length ||
    e.details.migrations?.length ||
    e.details.lint?.length ||
    e.details.notes?.length ||
    e.details.flags?.length
      ? markdownDetails(e)
      : ['_No reports were attached to this event._\n']),
    '## Post-mortem\n',
    '_Blameless: describe systems and decisions, not people._\n',
    '### What happened\n\n<!-- A short narrative, with times (UTC). -->\n',
    '### Impact\n\n<!-- Who was affected, for how long, how many requests/users; error budget spent. -->\n',
    '### Why it happened\n\n<!-- Root cause and contributing factors (5 whys). Why did checks before production not catch it? -->\n',
    '### How we prevent it\n\n<!-- Action items, each with an owner and an issue link. -->\n- [ ] \n',
    '### Detection and response\n\n<!-- How it was detected (the gate above?), time to detect, time to roll back. -->\n',
  ].join('\n');
  return { title, body };
}

// ---------------------------------------------------------------------------------------------
// Webhook JSON.

export interface WebhookPayload {
  type: 'slipway.deployment';
  event: EventKind;
  outcome: Outcome;
  headline: string;
  environment: string;
  app: string;
  repository?: string;
  version: VersionInfo;
  previousVersion?: VersionInfo;
  actor?: string;
  runUrl?: string;
  commitUrl?: string;
  environmentUrl?: string;
  startedAt?: string;
  durationMs?: number;
  reason?: string;
  details: EventDetails;
  sentAt: string;
}

export function renderWebhookPayload(e: NotifyEvent, now = new Date()): WebhookPayload {
  return {
    type: 'slipway.deployment',
    event: e.kind,
    outcome: OUTCOME[e.kind],
    headline: headline(e),
    environment: e.environment,
    app: appName(e),
    repository: e.repository,
    version: e.version,
    previousVersion: e.previousVersion,
    actor: e.actor,
    runUrl: e.runUrl,
    commitUrl: e.commitUrl,
    environmentUrl: e.environmentUrl,
    startedAt: e.startedAt,
    durationMs: e.durationMs,
    reason: e.reason,
    details: e.details,
    sentAt: now.toISOString(),
  };
}

// ---------------------------------------------------------------------------------------------
// Slack Block Kit.

export type SlackText = { type: 'plain_text'; text: string; emoji?: boolean } | { type: 'mrkdwn'; text: string };
export type SlackBlock =
  | { type: 'header'; text: { type: 'plain_text'; text: string; emoji?: boolean } }
  | { type: 'section'; text?: SlackText; fields?: SlackText[] }
  | { type: 'context'; elements: SlackText[] }
  | { type: 'divider' };

export interface SlackMessage {
  /** Fallback text: notifications, screen readers, clients without blocks. */
  text: string;
  blocks?: SlackBlock[];
  attachments?: { color: string; blocks: SlackBlock[]; fallback?: string }[];
}

/** Slack's documented limits (Block Kit reference, chat.postMessage). */
export const SLACK_LIMITS = {
  blocks: 50,
  sectionText: 3000,
  headerText: 150,
  fields: 10,
  fieldText: 2000,
  contextElements: 10,
  totalText: 40_000,
} as const;

/** Escapes &, < and > as Slack's mrkdwn requires. */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function slackLink(url: string | undefined, text: string): string {
  if (!url) return slackEscape(text);
  return `<${url.replace(/[<>|]/g, encodeURIComponent)}|${slackEscape(text).replace(/\|/g, '¦')}>`;
}

const mrkdwn = (text: string): SlackText => ({ type: 'mrkdwn', text });

/** A Slack message for the event: a header, facts, links and the reports, in a coloured attachment. */
export function renderSlack(e: NotifyEvent): SlackMessage {
  const blocks: SlackBlock[] = [{ type: 'header', text: { type: 'plain_text', text: `${EMOJI[e.kind]} ${headline(e)}`, emoji: true } }];
  if (e.reason) blocks.push({ type: 'section', text: mrkdwn(`*Why:* ${slackEscape(e.reason)}`) });
  blocks.push({ type: 'section', fields: facts(e).map((f) => mrkdwn(`*${f.label}*\n${slackLink(f.url, f.text)}`)) });
  const links = [
    e.runUrl ? slackLink(e.runUrl, 'Run') : '',
    e.commitUrl ? slackLink(e.commitUrl, 'Commit') : '',
    e.environmentUrl ? slackLink(e.environmentUrl, 'Environment') : '',
  ].filter(Boolean);
  if (links.length) blocks.push({ type: 'context', elements: [mrkdwn(links.join('  ·  '))] });

  const d = e.details;
  if (d.gate) {
    blocks.push(
      { type: 'divider' },
      { type: 'section', text: mrkdwn(`*Gate: ${slackEscape(d.gate.verdict)}*${d.gate.reason ? ` — ${slackEscape(d.gate.reason)}` : ''}`) },
    );
    if (d.gate.objectives.length) {
      blocks.push({
        type: 'section',
        fields: d.gate.objectives.map((o) =>
          mrkdwn(
            `*${slackEscape(o.objective)}* ${o.verdict ? `(${slackEscape(o.verdict)})` : ''}\n${slackEscape(o.measured ?? '?')} vs ${slackEscape(o.threshold ?? '?')}${o.samples !== undefined ? `, n=${o.samples}` : ''}`,
          ),
        ),
      });
    }
  }
  if (d.timeline?.length) {
    blocks.push({ type: 'divider' }, { type: 'section', text: mrkdwn('*Rollout timeline*') });
    // One section per ~20 lines, so long timelines split instead of blowing one section's limit.
    const lines = timelineRows(e).map((r) => slackEscape([r[0], r[1], r[2], r[3], r[4] ? `(${r[4]})` : ''].filter(Boolean).join(' ')));
    for (let i = 0; i < lines.length; i += 20) blocks.push({ type: 'section', text: mrkdwn(lines.slice(i, i + 20).join('\n')) });
  }
  if (d.lint) {
    const errors = d.lint.filter((f) => f.severity === 'error').length;
    blocks.push(
      { type: 'divider' },
      { type: 'section', text: mrkdwn(`*Migration lint:* ${d.lint.length ? `${errors} error(s), ${d.lint.length - errors} warning(s)` : 'no findings'}`) },
    );
    const lines = d.lint.map((f) => slackEscape(`${f.severity === 'error' ? '❌' : '⚠️'} ${f.file}:${f.line} ${f.rule}: ${f.message}`));
    for (let i = 0; i < lines.length && i < 60; i += 20) blocks.push({ type: 'section', text: mrkdwn(lines.slice(i, i + 20).join('\n')) });
  }
  if (d.migrations?.length) {
    blocks.push({ type: 'divider' }, { type: 'section', text: mrkdwn(`*Migrations applied (${d.migrations.length})*`) });
    const lines = d.migrations.map((m) =>
      slackEscape(
        `${m.version}${m.name ? ` ${m.name}` : ''}${m.durationMs !== undefined ? ` (${formatDuration(m.durationMs)})` : ''}${m.lockRetries ? `, ${m.lockRetries} lock retries` : ''}`,
      ),
    );
    for (let i = 0; i < lines.length; i += 30) blocks.push({ type: 'section', text: mrkdwn(lines.slice(i, i + 30).join('\n')) });
  }
  if (d.flags?.length) {
    blocks.push(
      { type: 'divider' },
      { type: 'section', text: mrkdwn(`*Feature flags switched*${d.flags.some((f) => !f.ok) ? ' — some could NOT be switched' : ''}`) },
    );
    const lines = d.flags.map((f) => slackEscape(`${f.ok ? '✅' : '❌'} ${flagLine(f)}`));
    for (let i = 0; i < lines.length && i < 60; i += 20) blocks.push({ type: 'section', text: mrkdwn(lines.slice(i, i + 20).join('\n')) });
  }
  for (const n of d.notes ?? [])
    blocks.push({ type: 'divider' }, { type: 'section', text: mrkdwn(`*${slackEscape(n.title)}*\n\`\`\`${slackEscape(n.text)}\`\`\``) });
  return { text: `${EMOJI[e.kind]} ${headline(e)}${e.reason ? `: ${e.reason}` : ''}`, attachments: [{ color: COLORS[e.kind], blocks, fallback: headline(e) }] };
}

function cut(text: string, max: number, note: string): string {
  if (text.length <= max) return text;
  const suffix = `… ${note}`;
  return text.slice(0, Math.max(0, max - suffix.length)) + suffix;
}

function blockText(b: SlackBlock): number {
  switch (b.type) {
    case 'header':
      return b.text.text.length;
    case 'section':
      return (b.text?.text.length ?? 0) + (b.fields ?? []).reduce((n, f) => n + f.text.length, 0);
    case 'context':
      return b.elements.reduce((n, el) => n + el.text.length, 0);
    default:
      return 0;
  }
}

/** Total characters of text in a message (Slack truncates chat.postMessage text past 40,000). */
export function slackTextLength(m: SlackMessage): number {
  const all = [...(m.blocks ?? []), ...(m.attachments ?? []).flatMap((a) => a.blocks)];
  return m.text.length + all.reduce((n, b) => n + blockText(b), 0);
}

/**
 * Makes a message fit Slack's documented limits before it is sent: long texts are cut with a note,
 * extra fields and blocks are dropped with a note saying how many and where to see them.
 * Returns the fitted message and what was changed (for the log and the summary).
 */
export function fitSlackLimits(m: SlackMessage, moreUrl?: string): { message: SlackMessage; truncated: string[] } {
  const truncated: string[] = [];
  const seeRun = moreUrl ? `(cut: see ${moreUrl})` : '(cut)';
  const fitBlock = (b: SlackBlock): SlackBlock => {
    if (b.type === 'header' && b.text.text.length > SLACK_LIMITS.headerText) {
      truncated.push(`header text cut from ${b.text.text.length} to ${SLACK_LIMITS.headerText} characters`);
      return { ...b, text: { ...b.text, text: cut(b.text.text, SLACK_LIMITS.headerText, '') } };
    }
    if (b.type === 'section') {
      const out: typeof b = { ...b };
      if (b.text && b.text.text.length > SLACK_LIMITS.sectionText) {
        truncated.push(`section text cut from ${b.text.text.length} to ${SLACK_LIMITS.sectionText} characters`);
        let t = cut(b.text.text, SLACK_LIMITS.sectionText, seeRun);
        // Do not leave an unclosed code fence behind.
        if ((t.match(/```/g) ?? []).length % 2 === 1) t = `${t.slice(0, SLACK_LIMITS.sectionText - 3)}\`\`\``;
        out.text = { ...b.text, text: t };
      }
      if (b.fields) {
        let fields = b.fields.map((f) => {
          if (f.text.length <= SLACK_LIMITS.fieldText) return f;
          truncated.push(`field text cut from ${f.text.length} to ${SLACK_LIMITS.fieldText} characters`);
          return { ...f, text: cut(f.text, SLACK_LIMITS.fieldText, seeRun) };
        });
        if (fields.length > SLACK_LIMITS.fields) {
          const dropped = fields.length - (SLACK_LIMITS.fields - 1);
          truncated.push(`${dropped} of ${fields.length} fields dropped (Slack allows ${SLACK_LIMITS.fields} per section)`);
          fields = [...fields.slice(0, SLACK_LIMITS.fields - 1), mrkdwn(`_…and ${dropped} more ${moreUrl ? slackLink(moreUrl, 'in the run') : 'not shown'}_`)];
        }
        out.fields = fields;
      }
      return out;
    }
    if (b.type === 'context' && b.elements.length > SLACK_LIMITS.contextElements) {
      truncated.push(`${b.elements.length - SLACK_LIMITS.contextElements} context elements dropped`);
      return { ...b, elements: b.elements.slice(0, SLACK_LIMITS.contextElements) };
    }
    return b;
  };
  const fitList = (blocks: SlackBlock[], budget: number): SlackBlock[] => {
    let out = blocks.map(fitBlock);
    if (out.length > budget) {
      const dropped = out.length - (budget - 1);
      truncated.push(`${dropped} of ${out.length} blocks dropped (Slack allows ${SLACK_LIMITS.blocks} per message)`);
      out = [
        ...out.slice(0, budget - 1),
        { type: 'context', elements: [mrkdwn(`_${dropped} more blocks not shown${moreUrl ? `: ${slackLink(moreUrl, 'see the run')}` : ''}_`)] },
      ];
    }
    return out;
  };
  const top = m.blocks ?? [];
  const attachments = m.attachments ?? [];
  const topFitted = fitList(top, SLACK_LIMITS.blocks);
  let budget = SLACK_LIMITS.blocks - topFitted.length;
  const attFitted = attachments.map((a) => {
    const blocks = fitList(a.blocks, Math.max(1, budget));
    budget -= blocks.length;
    return { ...a, blocks };
  });
  let message: SlackMessage = { ...m, text: m.text, ...(m.blocks ? { blocks: topFitted } : {}), ...(m.attachments ? { attachments: attFitted } : {}) };
  if (message.text.length > 3000) {
    // The fallback text is for notifications: a headline is enough.
    truncated.push(`fallback text cut from ${message.text.length} to 3000 characters`);
    message = { ...message, text: cut(message.text, 3000, '') };
  }
  // Total text: drop detail blocks from the end until the message fits.
  let total = slackTextLength(message);
  if (total > SLACK_LIMITS.totalText) {
    const before = total;
    const lists = [message.blocks ?? [], ...(message.attachments ?? []).map((a) => a.blocks)];
    let dropped = 0;
    for (let li = lists.length - 1; li >= 0 && total > SLACK_LIMITS.totalText - 200; li--) {
      const list = lists[li]!;
      while (list.length > 1 && total > SLACK_LIMITS.totalText - 200) {
        total -= blockText(list.pop()!);
        dropped++;
      }
    }
    const last = lists.findLast((l) => l.length > 0);
    last?.push({
      type: 'context',
      elements: [
        mrkdwn(`_${dropped} blocks not shown (message over ${SLACK_LIMITS.totalText} characters)${moreUrl ? `: ${slackLink(moreUrl, 'see the run')}` : ''}_`),
      ],
    });
    truncated.push(`${dropped} blocks dropped: ${before} characters of text is over Slack's ${SLACK_LIMITS.totalText}`);
  }
  return { message, truncated };
}
