import { z } from 'zod';
import { defineAction, f, out } from '../../manifest/fields.ts';

const report = z.unknown();
const CHANNEL_NAMES = ['slack', 'webhook', 'github', 'pr-comment', 'summary'];

export const spec = defineAction({
  name: 'notify',
  title: 'Slipway notify',
  description:
    'Tells the team and GitHub what a deploy did: Slack (Block Kit, updated in place), signed webhooks, GitHub deployment statuses, one PR comment updated in place, and an incident issue on rollback.',
  branding: { icon: 'bell', color: 'blue' },
  inputs: {
    event: f.enum(['started', 'succeeded', 'failed', 'rolled-back', 'approval-waiting'] as const, { description: 'What happened.', required: true }),
    environment: f.string({ description: 'Environment name, e.g. production.', required: true, maxLength: 255 }),
    channels: f.list({
      description: `Where to send: any of ${CHANNEL_NAMES.join(', ')} (summary: only this step's job summary; with event approval-waiting and a github-token it lists the commits since the environment's last successful deployment, for the approver).`,
      default: 'github',
      item: /^(slack|webhook|github|pr-comment|summary)$/,
      itemExpected: CHANNEL_NAMES.join(', '),
    }),
    'if-failure-only': f.boolean({
      description: 'Send to slack, webhook and pr-comment only for failed and rolled-back events (GitHub deployment statuses are always recorded).',
      default: 'false',
    }),
    'fail-on-error': f.boolean({
      description: 'Fail the step when a channel fails. By default a broken notifier only warns: it never fails a deploy that succeeded.',
      default: 'false',
    }),
    'on-rollback': f.enum(['none', 'open-issue'] as const, {
      description: 'On a rolled-back event, open-issue opens a GitHub issue with the timeline, gate numbers, versions and a post-mortem template.',
      default: 'none',
    }),

    app: f.string({ description: 'Application name shown in messages (default: the repository name).', maxLength: 100 }),
    image: f.string({ description: 'Image reference deployed (without digest), e.g. ghcr.io/acme/api.', maxLength: 500 }),
    digest: f.string({ description: 'Image digest, sha256:….', pattern: /^sha256:[0-9a-f]{64}$/, expected: 'sha256: followed by 64 hex digits' }),
    sha: f.string({
      description: 'Commit SHA of the release (default: the workflow commit).',
      pattern: /^[0-9a-f]{7,40}$/,
      expected: 'a commit SHA (7 to 40 hex digits)',
    }),
    version: f.string({ description: 'Human version label (tag or release name), e.g. v2.', maxLength: 200 }),
    'previous-version': f.string({ description: 'The version that ran before, or that a rollback restored.', maxLength: 200 }),
    'environment-url': f.url({ description: 'URL of the deployed environment (linked in messages, environment_url of the deployment status).' }),
    'started-at': f.string({
      description: 'When the deploy started (ISO 8601 or epoch milliseconds): the duration is measured from it.',
      pattern: /^(\d{10,13}|\d{4}-\d\d-\d\dT[0-9:.]+(Z|[+-]\d\d:?\d\d)?)$/,
      expected: 'an ISO 8601 time like 2025-01-31T12:00:00Z or epoch milliseconds',
    }),
    duration: f.duration({ description: 'How long the deploy took (instead of started-at).' }),
    reason: f.string({ description: 'Why it failed, rolled back or waits (one line).', maxLength: 2000 }),
    title: f.string({
      description:
        'One line that replaces the headline every channel shows (default: from the event, e.g. "Deployed shop 3f9c2e1 to production"); for messages that are not about a deploy, such as a PR check\'s comment.',
      pattern: /^[^\r\n\u2028\u2029]{1,120}$/,
      expected: 'one line of at most 120 characters',
    }),
    migrations: f.yaml(report, {
      description: "migrate's `applied` output (JSON list): shown as the migrations applied.",
      expected: 'a JSON list of migrations',
    }),
    rollout: f.yaml(report, {
      description: "deploy-rolling's report (JSON): shown as the rollout timeline.",
      expected: 'a JSON report or list of timeline entries',
    }),
    gate: f.yaml(report, { description: "slo-gate's `report` output (JSON): shown as the gate verdict with its numbers.", expected: 'a JSON gate report' }),
    'migrations-dir': f.string({
      description:
        "approval-waiting: the repository's migrations folder (relative to the repository root). The release plan lists the files added since the live deployment's commit, with their lint verdicts (lint input), and flags any older than a migration already live; no database connection is needed.",
      pattern: /^[^\0\r\n]+$/,
      expected: 'a folder path',
    }),
    stage: f.yaml(z.looseObject({ environment: z.string().optional(), result: z.string().optional(), version: z.string().optional() }), {
      description:
        "approval-waiting: the previous stage's results as a map (environment, result, version, smoke-passed, smoke-failed-count, gate-verdict, gate-reason), shown as one table in the release plan.",
      expected: 'a YAML or JSON map of stage results',
    }),
    'window-verdict': f.enum(['pass', 'fail', 'inconclusive'] as const, {
      description: "approval-waiting: the deploy window's verdict for the environment (slo-gate mode budget's verdict output).",
    }),
    'window-reason': f.string({ description: "approval-waiting: why (slo-gate's reason output).", maxLength: 2000 }),
    lint: f.yaml(
      z.array(z.looseObject({ rule: z.string(), severity: z.enum(['error', 'warning']), file: z.string(), line: z.number(), message: z.string() })),
      {
        description:
          "migrate's `violations` output (JSON list): the migration lint findings, shown as a table with each safe rewrite; an empty list shows a clean lint.",
        expected: 'a JSON list of lint findings (rule, severity, file, line, message)',
      },
    ),
    details: f.yaml(z.record(z.string(), z.unknown()), {
      description: 'Any other reports as a YAML/JSON map of title → text or JSON.',
      expected: 'a YAML or JSON map of titles to reports',
    }),

    'slack-webhook-url': f.url({ description: 'Slack incoming webhook URL (a secret: it contains the token).', secret: true, protocols: ['https:', 'http:'] }),
    'slack-token': f.string({
      description: 'Slack bot token (xoxb-…) with chat:write, for chat.postMessage and chat.update.',
      secret: true,
      expected: 'a Slack token (xoxb-…)',
    }),
    'slack-channel': f.string({ description: 'Channel for the bot token: #name or ID (C…).', maxLength: 200 }),
    'slack-ts': f.string({
      description: 'ts of an earlier message (the slack-ts output of the started event): final events update it in place, other events reply in its thread.',
      pattern: /^\d+\.\d+$/,
      expected: 'a Slack message ts like 1712345678.123456',
    }),
    'slack-api-url': f.url({ description: 'Slack Web API base URL.', default: 'https://slack.com/api' }),

    'webhook-url': f.url({ description: 'URL to POST the event JSON to (a secret: masked everywhere).', secret: true }),
    'webhook-secret': f.string({
      description: 'HMAC-SHA256 secret: the request carries X-Slipway-Signature-256: sha256=HMAC(secret, "<timestamp>.<body>") and X-Slipway-Timestamp.',
      secret: true,
      expected: 'a shared secret',
    }),

    'github-token': f.string({
      description: "Token for deployments, PR comments and issues (usually the workflow's own `github.token`).",
      secret: true,
      expected: 'a GitHub token',
    }),
    'github-api-url': f.url({
      description: 'GitHub REST API base URL (on GitHub Enterprise Server pass the `github.api_url` context value).',
      default: 'https://api.github.com',
    }),
    repository: f.string({
      description: 'owner/name (default: the workflow repository).',
      pattern: /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/,
      expected: 'owner/name',
    }),
    'deployment-id': f.integer({
      description: 'Reuse this GitHub deployment (the deployment-id output of the started event) instead of finding or creating one.',
      min: 1,
    }),
    'deployment-status': f.enum(['auto', 'error', 'failure', 'inactive', 'in_progress', 'queued', 'pending', 'success'] as const, {
      description:
        'Deployment status to post; auto derives it from the event (started → in_progress, succeeded → success, failed/rolled-back → failure, approval-waiting → queued).',
      default: 'auto',
    }),
    'log-url': f.url({ description: 'log_url of the deployment status (default: the run URL).' }),
    'pr-number': f.integer({ description: 'Pull request for the pr-comment channel (default: the pull request of the event).', min: 1 }),
    'comment-key': f.string({
      description: 'Key of the hidden marker that finds the PR comment again (default: deploy-<environment>).',
      pattern: /^[A-Za-z0-9_.:/-]{1,100}$/,
      expected: 'letters, digits and _.:/- (at most 100)',
    }),
    'issue-labels': f.list({ description: 'Labels of the incident issue.', default: 'incident,slipway' }),

    timeout: f.duration({ description: 'Timeout of each request.', default: '10s', min: 100, max: 120_000 }),
    deadline: f.duration({ description: 'Per channel, retries (and Retry-After waits) included.', default: '30s', min: 100, max: 600_000 }),
  },
  outputs: {
    sent: out.json(
      'JSON list of channel results: channel, ok, skipped, detail, error.',
      'a JSON list of channel results',
      z.array(z.looseObject({ channel: z.string(), ok: z.boolean() })),
      ['[{"channel":"slack","ok":true,"skipped":false}]'],
    ),
    'failed-channels': out.text(
      'Comma-separated channels that failed (empty when all succeeded).',
      ['slack', 'slack,webhook'],
      /^[a-z,-]*$/,
      'channel names separated by commas',
    ),
    'started-at': out.timestamp(
      'When the deploy started (ISO 8601): the started-at input, or now for a started event. Pass it to the final step for the duration.',
    ),
    'slack-ts': out.text(
      "ts of the Slack message that stands for this deploy (pass it to the next notify step's slack-ts).",
      ['1733506800.123456'],
      /^\d+\.\d+$/,
      'a Slack message ts',
    ),
    'slack-channel': out.text('Slack channel ID of that message.', ['C0123456789']),
    'deployment-id': out.integer('GitHub deployment id (pass it to the next notify step).', ['1001']),
    'comment-url': out.text('URL of the PR comment.', ['https://github.com/acme/shop/pull/7#issuecomment-1']),
    'issue-url': out.text('URL of the incident issue.', ['https://github.com/acme/shop/issues/9']),
  },
});
