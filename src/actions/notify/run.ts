import type { InputsOf } from '../../manifest/fields.ts';
import type { ActionContext, ActionResult, GithubContext } from '../../runner/context.ts';
import { InputError } from '../../lib/errors.ts';
import { formatDuration } from '../../lib/duration.ts';
import { heading, table, ok } from '../../lib/markdown.ts';
import type { Http } from '../../lib/http.ts';
import { urlSecrets } from '../../lib/secrets.ts';
import {
  normalizeFlags,
  normalizeGate,
  normalizeLint,
  normalizeMigrations,
  normalizeNotes,
  normalizeTimeline,
  renderMarkdown,
  type NotifyEvent,
} from '../../notify/message.ts';
import { resolve as resolvePath } from 'node:path';
import { renderReleasePlan } from '../../notify/plan.ts';
import { sendNotification, type Channel, type NotifyConfig, type NotifyReport } from '../../notify/send.ts';
import type { spec } from './inputs.ts';

export type NotifyInputs = InputsOf<typeof spec>;

export interface NotifyRunDeps {
  http?: Http;
  /** fetch for Octokit (tests). */
  fetch?: typeof fetch;
  now?: () => number;
}

/** The pull request of the triggering event, if any. */
export function prNumberFromEvent(gh: GithubContext): number | undefined {
  const e = gh.event ?? {};
  const n = e.pull_request?.number ?? (e.issue?.pull_request ? e.issue.number : undefined);
  return typeof n === 'number' ? n : undefined;
}

function startedMs(text: string): number {
  return /^\d+$/.test(text) ? Number(text) : Date.parse(text);
}

/** Builds the event from the inputs and the workflow context. */
export function eventFromInputs(i: NotifyInputs, gh: GithubContext, now = Date.now()): NotifyEvent {
  const sha = i.sha ?? (gh.sha || undefined);
  const repository = i.repository ?? (gh.repository || undefined);
  const start = i['started-at'] ? startedMs(i['started-at']) : undefined;
  if (start !== undefined && Number.isNaN(start)) throw new InputError('started-at', i['started-at'], 'an ISO 8601 time or epoch milliseconds');
  return {
    kind: i.event,
    environment: i.environment,
    app: i.app,
    repository,
    version: { image: i.image, digest: i.digest, sha, label: i.version },
    previousVersion: i['previous-version'] ? { label: i['previous-version'] } : undefined,
    actor: gh.actor || undefined,
    runUrl: gh.runUrl || undefined,
    commitUrl: sha && repository ? `${gh.serverUrl || 'https://github.com'}/${repository}/commit/${sha}` : undefined,
    environmentUrl: i['environment-url'],
    startedAt: start !== undefined ? new Date(start).toISOString() : undefined,
    durationMs: i.duration ?? (start !== undefined && i.event !== 'started' && i.event !== 'approval-waiting' ? Math.max(0, now - start) : undefined),
    reason: i.reason,
    title: i.title,
    details: {
      migrations: normalizeMigrations(i.migrations),
      lint: normalizeLint(i.lint),
      timeline: normalizeTimeline(i.rollout),
      gate: normalizeGate(i.gate),
      notes: normalizeNotes(i.details),
      flags: normalizeFlags((i.details as Record<string, unknown> | undefined)?.flags),
    },
  };
}

/** Checks the inputs the chosen channels need, naming the input; nothing is sent before this passes. */
export function configFromInputs(i: NotifyInputs, event: NotifyEvent, gh: GithubContext, deps: NotifyRunDeps = {}): NotifyConfig {
  const channels = [...new Set(i.channels)] as Channel[];
  const has = (c: Channel) => channels.includes(c);
  if (has('slack') && !i['slack-webhook-url'] && !i['slack-token'])
    throw new InputError('slack-webhook-url', '', 'a Slack incoming webhook URL, or slack-token with slack-channel, because channels includes slack');
  if (has('slack') && i['slack-token'] && !i['slack-webhook-url'] && !i['slack-channel'])
    throw new InputError('slack-channel', '', 'a channel (#deploys or C0123456789) for slack-token');
  if (has('webhook') && !i['webhook-url']) throw new InputError('webhook-url', '', 'the URL to POST to, because channels includes webhook');
  const wantsIssue = i['on-rollback'] === 'open-issue';
  const needsGithub = has('github') || has('pr-comment') || (wantsIssue && event.kind === 'rolled-back');
  if ((needsGithub || wantsIssue) && !i['github-token'])
    throw new InputError(
      'github-token',
      '',
      `a token (\${{ github.token }}), because ${has('github') ? 'channels includes github' : has('pr-comment') ? 'channels includes pr-comment' : 'on-rollback is open-issue'}`,
    );
  if ((needsGithub || wantsIssue) && !event.repository) throw new InputError('repository', '', 'owner/name (the workflow repository is unknown)');
  const prNumber = i['pr-number'] ?? prNumberFromEvent(gh);
  if (has('pr-comment') && !prNumber) throw new InputError('pr-number', '', `a pull request number: the ${gh.eventName || 'triggering'} event has none`);
  if (has('github') && !i['deployment-id'] && !event.version.sha)
    throw new InputError('sha', '', 'the commit SHA to create the deployment for (or deployment-id)');
  return {
    channels,
    ifFailureOnly: i['if-failure-only'],
    onRollback: i['on-rollback'],
    timeoutMs: i.timeout,
    deadlineMs: i.deadline,
    slack: has('slack')
      ? { webhookUrl: i['slack-webhook-url'], token: i['slack-token'], channel: i['slack-channel'], ts: i['slack-ts'], apiUrl: i['slack-api-url'] }
      : undefined,
    webhook: has('webhook') ? { url: i['webhook-url']!, secret: i['webhook-secret'] } : undefined,
    github: i['github-token']
      ? {
          token: i['github-token'],
          repository: event.repository!,
          apiUrl: i['github-api-url'],
          deploymentId: i['deployment-id'],
          state: i['deployment-status'],
          logUrl: i['log-url'],
          prNumber,
          commentKey: i['comment-key'],
          issueLabels: i['issue-labels'],
          fetch: deps.fetch,
        }
      : undefined,
  };
}

export function notifySummary(event: NotifyEvent, r: NotifyReport, afterPlan = false): string {
  const rows = r.results.map((x) => [
    x.channel,
    x.skipped ? '⏭️ skipped' : `${ok(x.ok)} ${x.ok ? 'sent' : 'failed'}`,
    x.ok ? x.detail : (x.error ?? ''),
    x.skipped ? '' : formatDuration(x.durationMs),
  ]);
  const channels = rows.length ? heading('Channels', 3) + table(['Channel', 'Result', 'Detail', 'Took'], rows) : '';
  // After a release plan, the event itself is already told: only where it was sent remains.
  if (afterPlan) return channels.replace(/^### Channels/, '### Where this plan was sent');
  let out = heading(`Notify: ${event.kind} in ${event.environment}`) + '\n' + renderMarkdown(event) + '\n' + (channels || 'No channels configured.\n');
  if (r.truncated.length) out += `\nThe Slack message was cut to fit Slack's limits: ${r.truncated.join('; ')}.\n`;
  if (r.failed.length) out += `\n⚠️ ${r.failed.join(', ')} failed. fail-on-error is off unless set: the deploy result stands.\n`;
  return out;
}

export async function run(inputs: NotifyInputs, ctx: ActionContext, deps: NotifyRunDeps = {}): Promise<ActionResult> {
  // Secrets first: the webhook URLs carry tokens in their path, so the whole URL is masked.
  for (const name of ['slack-webhook-url', 'webhook-url'] as const) {
    const url = inputs[name];
    if (!url) continue;
    ctx.log.mask(url);
    for (const s of urlSecrets(url)) ctx.log.mask(s);
    try {
      const u = new URL(url);
      // Token-like path segments (Slack's last segment is a 24-character token); short words such as
      // 'services' stay readable.
      for (const part of u.pathname.split('/')) if (part.length >= 16) ctx.log.mask(part);
    } catch {
      /* checked by the input parser */
    }
  }
  for (const name of ['slack-token', 'webhook-secret', 'github-token'] as const) if (inputs[name]) ctx.log.mask(inputs[name]);

  const now = deps.now ?? Date.now;
  const event = eventFromInputs(inputs, ctx.github, now());
  const config = configFromInputs(inputs, event, ctx.github, deps);
  const report = await ctx.log.group(`notify: ${event.kind} (${event.environment})`, () =>
    sendNotification(event, config, { log: ctx.log, http: deps.http, signal: ctx.signal }),
  );
  const failedList = report.failed.join(',');
  // The release plan comes first: it is what the approver reads; the channels come after.
  const plan =
    event.kind === 'approval-waiting'
      ? `${await renderReleasePlan({
          event,
          github: config.github,
          migrations: inputs['migrations-dir'] ? { dir: resolvePath(ctx.workspace, inputs['migrations-dir']), path: inputs['migrations-dir'] } : undefined,
          lint: event.details.lint,
          stage: inputs.stage as Record<string, string> | undefined,
          window: inputs['window-verdict'] ? { verdict: inputs['window-verdict'], reason: inputs['window-reason'] } : undefined,
          serverUrl: ctx.github.serverUrl,
          flags: event.details.flags,
        })}\n`
      : '';
  return {
    outputs: {
      sent: report.results.map((x) => ({ channel: x.channel, ok: x.ok, skipped: x.skipped ?? false, detail: x.detail, error: x.error })),
      'failed-channels': failedList,
      'started-at': event.startedAt ?? (event.kind === 'started' ? new Date(now()).toISOString() : ''),
      'slack-ts': report.slackTs ?? inputs['slack-ts'] ?? '',
      'slack-channel': report.slackChannel ?? '',
      'deployment-id': report.deploymentId ?? inputs['deployment-id'] ?? '',
      'comment-url': report.commentUrl ?? '',
      'issue-url': report.issueUrl ?? '',
    },
    summary: plan + notifySummary(event, report, Boolean(plan)),
    failure:
      inputs['fail-on-error'] && report.failed.length
        ? `notify: ${report.failed.length} channel(s) failed: ${report.results
            .filter((x) => !x.ok)
            .map((x) => `${x.channel} (${x.error})`)
            .join('; ')}`
        : undefined,
  };
}
