/**
 * sendNotification: one event to every configured channel. Each channel is tried on its own; a
 * broken channel is reported in the result and never stops the others. The caller (the notify
 * action, the all-in-one release action, the demo) decides whether a failed channel fails the step.
 */
import { UserError, errorMessage } from '../lib/errors.ts';
import type { Http } from '../lib/http.ts';
import type { Reporter } from '../lib/report.ts';
import { STATE_FOR, findOpenDeployment, githubClient, type DeploymentState, type GithubClient } from './github.ts';
import {
  headline,
  isFailure,
  isFinal,
  renderIncidentIssue,
  renderMarkdown,
  renderStatusDescription,
  renderWebhookPayload,
  type NotifyEvent,
} from './message.ts';
import { checkSlackConfig, checkSlackUpdate, notifySlack, type SlackConfig } from './slack.ts';
import { sendWebhook } from './webhook.ts';

export const CHANNELS = ['slack', 'webhook', 'github', 'pr-comment', 'summary'] as const;
export type Channel = (typeof CHANNELS)[number];

export interface WebhookConfig {
  url: string;
  secret?: string;
  headers?: Record<string, string>;
}

export interface GithubConfig {
  token: string;
  repository: string;
  apiUrl?: string;
  /** Reuse this deployment instead of creating or finding one. */
  deploymentId?: number;
  /** Find an unfinished deployment for this commit and environment before creating one. Default true. */
  reuseOpenDeployment?: boolean;
  /** Override the state derived from the event (`auto`). */
  state?: DeploymentState | 'auto';
  /** Git ref for a new deployment (default: the event's commit SHA). */
  ref?: string;
  logUrl?: string;
  /** Mark earlier successful deployments of the environment inactive on success. Default true. */
  autoInactive?: boolean;
  transientEnvironment?: boolean;
  productionEnvironment?: boolean;
  prNumber?: number;
  /** Hidden-marker key of the PR comment. Default `deploy-<environment>`. */
  commentKey?: string;
  issueLabels?: string[];
  fetch?: typeof fetch;
}

export interface NotifyConfig {
  channels: Channel[];
  /** Only slack, webhook and pr-comment are skipped on success; GitHub deployment statuses are always recorded. */
  ifFailureOnly?: boolean;
  onRollback?: 'none' | 'open-issue';
  slack?: SlackConfig;
  webhook?: WebhookConfig;
  github?: GithubConfig;
  /** Per request. Default 10 s. */
  timeoutMs?: number;
  /** Per channel, retries included. Default 30 s. */
  deadlineMs?: number;
}

export interface NotifyDeps {
  log: Pick<Reporter, 'info' | 'warning' | 'debug'>;
  http?: Http;
  signal?: AbortSignal;
}

export interface ChannelResult {
  channel: Channel | 'incident-issue';
  ok: boolean;
  skipped?: boolean;
  /** What was done (`chat.update`, `deployment 12 → success`, `comment updated`…) or why skipped. */
  detail: string;
  error?: string;
  durationMs: number;
}

export interface NotifyReport {
  results: ChannelResult[];
  failed: string[];
  slackTs?: string;
  slackChannel?: string;
  deploymentId?: number;
  deploymentState?: string;
  commentId?: number;
  commentUrl?: string;
  issueNumber?: number;
  issueUrl?: string;
  /** How the Slack message was cut to fit Slack's limits. */
  truncated: string[];
}

/** Every configuration problem, found before anything is sent. */
export function checkNotifyConfig(event: NotifyEvent, c: NotifyConfig): void {
  for (const ch of c.channels) if (!CHANNELS.includes(ch)) throw new UserError(`unknown channel ${JSON.stringify(ch)}; expected one of ${CHANNELS.join(', ')}`);
  if (c.channels.includes('slack')) {
    if (!c.slack) throw new UserError("channel 'slack' needs slack-webhook-url or slack-token (with slack-channel)");
    checkSlackConfig(c.slack);
    checkSlackUpdate(c.slack, isFinal(event.kind));
  }
  if (c.channels.includes('webhook') && !c.webhook?.url) throw new UserError("channel 'webhook' needs webhook-url");
  const needsGithub = c.channels.includes('github') || c.channels.includes('pr-comment') || (c.onRollback === 'open-issue' && event.kind === 'rolled-back');
  if (needsGithub) {
    if (!c.github?.token)
      throw new UserError(
        `${c.channels.includes('github') ? "channel 'github'" : c.channels.includes('pr-comment') ? "channel 'pr-comment'" : 'on-rollback: open-issue'} needs github-token (usually \${{ github.token }})`,
      );
    if (!c.github.repository) throw new UserError('the GitHub channels need a repository (owner/name)');
  }
  if (c.channels.includes('pr-comment') && !c.github?.prNumber)
    throw new UserError("channel 'pr-comment' needs pr-number (none in this event: it is not a pull_request run)");
  if (c.channels.includes('github') && !c.github?.deploymentId && !(c.github?.ref ?? event.version.sha))
    throw new UserError("channel 'github' needs the commit SHA (sha input) or deployment-id");
}

/** Sends the event to every configured channel. Throws only on configuration errors (before sending). */
export async function sendNotification(event: NotifyEvent, c: NotifyConfig, deps: NotifyDeps): Promise<NotifyReport> {
  checkNotifyConfig(event, c);
  const report: NotifyReport = { results: [], failed: [], truncated: [] };
  const failure = isFailure(event.kind);
  const timing = { timeoutMs: c.timeoutMs ?? 10_000, deadlineMs: c.deadlineMs ?? 30_000 };
  const onRetry = (what: string) => (i: { attempt: number; waitMs: number; reason: string }) =>
    deps.log.info(`  ${what}: attempt ${i.attempt} got ${i.reason}; retrying in ${(i.waitMs / 1000).toFixed(1)}s`);

  let gh: Promise<GithubClient> | undefined;
  const github = () =>
    (gh ??= githubClient({
      token: c.github!.token,
      repository: c.github!.repository,
      apiUrl: c.github!.apiUrl,
      fetch: c.github!.fetch,
      ...timing,
      signal: deps.signal,
      onRetry: onRetry('GitHub'),
    }));

  const attempt = async (channel: ChannelResult['channel'], fn: () => Promise<string>) => {
    const started = performance.now();
    try {
      const detail = await fn();
      report.results.push({ channel, ok: true, detail, durationMs: performance.now() - started });
      deps.log.info(`notify: ${channel}: ${detail}`);
    } catch (err) {
      const error = errorMessage(err);
      report.results.push({ channel, ok: false, detail: 'failed', error, durationMs: performance.now() - started });
      report.failed.push(channel);
      deps.log.warning(`notify: ${channel} failed: ${error}`);
    }
  };
  const skip = (channel: Channel, why: string) => {
    report.results.push({ channel, ok: true, skipped: true, detail: why, durationMs: 0 });
    deps.log.info(`notify: ${channel}: skipped (${why})`);
  };

  deps.log.info(`notify: ${headline(event)} → ${c.channels.join(', ') || 'no channels'}`);
  for (const channel of c.channels) {
    if (c.ifFailureOnly && !failure && channel !== 'github') {
      skip(channel, `if-failure-only and the event is ${event.kind}`);
      continue;
    }
    if (channel === 'summary') {
      await attempt('summary', async () => 'written to the job summary');
    } else if (channel === 'slack') {
      await attempt('slack', async () => {
        const r = await notifySlack(event, { ...c.slack!, ...timing, http: deps.http, signal: deps.signal, onRetry: onRetry('Slack') });
        report.slackTs = r.ts;
        report.slackChannel = r.channel;
        report.truncated.push(...r.truncated);
        for (const t of r.truncated) deps.log.warning(`notify: slack message cut to fit Slack's limits: ${t}`);
        return `${r.actions.join(' + ')}${r.ts ? ` (ts ${r.ts})` : ''}`;
      });
    } else if (channel === 'webhook') {
      await attempt('webhook', async () => {
        const r = await sendWebhook(c.webhook!.url, renderWebhookPayload(event), {
          secret: c.webhook!.secret,
          headers: c.webhook!.headers,
          event: event.kind,
          ...timing,
          http: deps.http,
          signal: deps.signal,
          onRetry: onRetry('webhook'),
        });
        return `delivered (HTTP ${r.status}, ${r.attempts} attempt${r.attempts > 1 ? 's' : ''}, delivery ${r.delivery}${c.webhook!.secret ? ', signed' : ', unsigned'})`;
      });
    } else if (channel === 'github') {
      await attempt('github', async () => {
        const g = c.github!;
        const client = await github();
        let id = g.deploymentId;
        let how = 'given';
        if (!id && g.reuseOpenDeployment !== false && event.version.sha) {
          const open = await findOpenDeployment(client, event.environment, event.version.sha);
          if (open) {
            id = open.id;
            how = 'found open';
          }
        }
        if (!id) {
          const d = await client.createDeployment({
            ref: g.ref ?? event.version.sha!,
            environment: event.environment,
            description: headline(event),
            version: event.version,
            transient: g.transientEnvironment,
            production: g.productionEnvironment,
          });
          id = d.id;
          how = 'created';
        }
        const state = !g.state || g.state === 'auto' ? STATE_FOR[event.kind] : g.state;
        await client.createDeploymentStatus(id, {
          state,
          environment: event.environment,
          environmentUrl: event.environmentUrl,
          logUrl: g.logUrl ?? event.runUrl,
          description: renderStatusDescription(event),
          autoInactive: state === 'success' ? (g.autoInactive ?? true) : undefined,
        });
        report.deploymentId = id;
        report.deploymentState = state;
        return `deployment ${id} (${how}) → ${state}`;
      });
    } else if (channel === 'pr-comment') {
      await attempt('pr-comment', async () => {
        const g = c.github!;
        const r = await (await github()).upsertComment(g.prNumber!, g.commentKey ?? `deploy-${event.environment}`, renderMarkdown(event));
        report.commentId = r.id;
        report.commentUrl = r.url;
        return `comment ${r.action} on #${g.prNumber} (${r.url})`;
      });
    }
  }
  if (c.onRollback === 'open-issue' && event.kind === 'rolled-back') {
    await attempt('incident-issue', async () => {
      const issue = renderIncidentIssue(event);
      const r = await (await github()).createIssue({ ...issue, labels: c.github!.issueLabels });
      report.issueNumber = r.number;
      report.issueUrl = r.url;
      return `opened #${r.number} (${r.url})`;
    });
  }
  return report;
}
