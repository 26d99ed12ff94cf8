/**
 * The notify bundle (dist/notify) run as the GitHub runner runs it, against the fake Slack and the
 * fake GitHub (which validates every request against GitHub's OpenAPI description) and a real
 * webhook receiver that verifies signatures with node:crypto.
 */
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findLeaks, registerSecret, runBundle } from '../helpers/runner.ts';
import { freePort } from '../helpers/servers.ts';
import { startFakeGithub, type FakeGithub } from '../helpers/fakes/fake-github.ts';
import { startFakeSlack, type FakeSlack } from '../helpers/fakes/fake-slack.ts';

const GH_TOKEN = 'ghs_e2eTokenValue0123456789';
const SLACK_TOKEN = 'xoxb-e2e-0000-secretpart';
const HOOK_SECRET = 'whsec_e2e_signing_secret';
const SHA = '0123456789abcdef0123456789abcdef01234567';
const secrets = [GH_TOKEN, SLACK_TOKEN, HOOK_SECRET];

let gh: FakeGithub;
let slack: FakeSlack;
let hook: Server;
let hookUrl = '';
const hookBodies: { ok: boolean; body: any }[] = [];
let hookStatus = 204;

beforeAll(async () => {
  gh = await startFakeGithub({ token: GH_TOKEN, repository: 'acme/shop' });
  slack = await startFakeSlack({ token: SLACK_TOKEN, channels: [{ id: 'C0DEPLOYS1', name: 'deploys', member: true }] });
  const port = await freePort();
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const ts = String(req.headers['x-slipway-timestamp']);
      const want = `sha256=${createHmac('sha256', HOOK_SECRET).update(`${ts}.${body}`).digest('hex')}`;
      hookBodies.push({ ok: want === req.headers['x-slipway-signature-256'], body: JSON.parse(body) });
      res.writeHead(hookStatus);
      res.end();
    });
  });
  await new Promise<void>((r) => hook.listen(port, '127.0.0.1', () => r()));
  hookUrl = `http://127.0.0.1:${port}/hooks/secretHookPath9876`;
  registerSecret(...secrets, hookUrl, slack.webhookUrl, 'secretHookPath9876', 'fakeWebhookSecretToken1234');
});
afterAll(async () => {
  await gh?.close();
  await slack?.close();
  hook?.closeAllConnections();
  await new Promise((r) => hook?.close(r));
});

const common = () => ({
  environment: 'production',
  version: 'v2',
  sha: SHA,
  digest: `sha256:${'c'.repeat(64)}`,
  'environment-url': 'https://shop.example.com',
  'github-token': GH_TOKEN,
  'github-api-url': gh.url,
  'slack-token': SLACK_TOKEN,
  'slack-api-url': slack.apiUrl,
  'webhook-url': hookUrl,
  'webhook-secret': HOOK_SECRET,
});

describe('notify bundle', () => {
  it('started → rolled-back: one Slack message updated in place, a GitHub deployment, a signed webhook, an incident issue', async () => {
    const start = await runBundle('notify', { ...common(), event: 'started', channels: 'slack,github,webhook', 'slack-channel': '#deploys' });
    expect(start.errors).toEqual([]);
    expect(start.code).toBe(0);
    expect(start.outputs['slack-channel']).toBe('C0DEPLOYS1');
    expect(start.outputs['slack-ts']).toMatch(/^\d+\.\d+$/);
    const deploymentId = Number(start.outputs['deployment-id']);
    expect(gh.deployments.find((d) => d.id === deploymentId)?.statuses[0]?.state).toBe('in_progress');
    expect(hookBodies.at(-1)).toMatchObject({ ok: true, body: { event: 'started', environment: 'production' } });
    expect(findLeaks(start, [...secrets, hookUrl])).toEqual([]);
    for (const s of secrets) expect(start.masks).toContain(s);
    expect(start.masks).toContain(hookUrl);

    const gate = JSON.stringify({ verdict: 'fail', reason: 'error ratio above threshold', objectives: [{ objective: 'error-ratio', measured: '4.1%', threshold: '1%', samples: 1200, verdict: 'fail' }] });
    const end = await runBundle('notify', {
      ...common(),
      event: 'rolled-back',
      channels: 'slack,github,webhook',
      'slack-channel': start.outputs['slack-channel']!,
      'slack-ts': start.outputs['slack-ts']!,
      'deployment-id': String(deploymentId),
      'previous-version': 'v1',
      reason: 'slo-gate failed: error ratio 4.1% > 1%',
      gate,
      migrations: '[{"version":"0004","name":"add_index","durationMs":830}]',
      'on-rollback': 'open-issue',
    });
    expect(end.errors).toEqual([]);
    expect(end.code).toBe(0);
    const msg = slack.messages.find((m) => m.ts === start.outputs['slack-ts'])!;
    expect(msg.edits).toHaveLength(1);
    expect(msg.text).toContain('rolled back to v1');
    expect(msg.attachments![0].color).toBe('#d4a72c');
    expect(slack.messages.some((m) => m.thread_ts === start.outputs['slack-ts'] && m.reply_broadcast)).toBe(true);
    expect(gh.deployments.find((d) => d.id === deploymentId)?.statuses[0]).toMatchObject({ state: 'failure', environment_url: 'https://shop.example.com', log_url: 'https://github.com/acme/shop/actions/runs/4242' });
    const issue = gh.issues.at(-1)!;
    expect(end.outputs['issue-url']).toBe(`https://github.com/acme/shop/issues/${issue.number}`);
    expect(issue.body).toContain('| error-ratio | 4.1% | 1% | 1200 | fail |');
    expect(issue.body).toContain('0004');
    expect(hookBodies.at(-1)).toMatchObject({ ok: true, body: { event: 'rolled-back', details: { gate: { verdict: 'fail' } } } });
    expect(end.summary).toContain('Notify: rolled-back in production');
    expect(end.summary).toMatch(/\| slack \| ✅ sent \| chat\.update \+ thread reply/);
    expect(end.summary).toMatch(/\| incident-issue \| ✅ sent \| opened #\d+/);
    expect(JSON.parse(end.outputs.sent!).map((x: { channel: string }) => x.channel)).toEqual(['slack', 'github', 'webhook', 'incident-issue']);
    expect(findLeaks(end, [...secrets, hookUrl])).toEqual([]);
    expect(gh.selfCheck).toEqual([]);
  });

  it('a broken notifier warns but does not fail a successful deploy; fail-on-error makes it fail', async () => {
    hookStatus = 500;
    try {
      const soft = await runBundle('notify', { ...common(), event: 'succeeded', channels: 'webhook', deadline: '1s', timeout: '500ms' });
      expect(soft.code).toBe(0);
      expect(soft.outputs['failed-channels']).toBe('webhook');
      expect(soft.annotations.some((a) => a.level === 'warning' && /notify: webhook failed: webhook: no success after/.test(a.message))).toBe(true);
      expect(soft.summary).toMatch(/webhook failed/);
      const hard = await runBundle('notify', { ...common(), event: 'succeeded', channels: 'webhook', deadline: '1s', timeout: '500ms', 'fail-on-error': 'true' });
      expect(hard.code).toBe(1);
      expect(hard.errors.join('\n')).toMatch(/notify: 1 channel\(s\) failed: webhook/);
      expect(findLeaks(hard, [...secrets, hookUrl])).toEqual([]);
    } finally {
      hookStatus = 204;
    }
  });

  it('bad inputs fail before anything is sent, with the input named', async () => {
    const before = { gh: gh.requests.length, slack: slack.requests.length, hook: hookBodies.length };
    const unknown = await runBundle('notify', { ...common(), event: 'started', channels: 'slack,teams' });
    expect(unknown.code).toBe(1);
    expect(unknown.errors[0]).toMatch(/notify: Input 'channels': got "slack,teams"; expected .*bad entry "teams"/);
    const badUrl = await runBundle('notify', { ...common(), event: 'started', channels: 'webhook', 'webhook-url': 'not a url/secretHookPath9876' });
    expect(badUrl.code).toBe(1);
    expect(badUrl.errors[0]).toMatch(/Input 'webhook-url': got \(a secret value, not shown\)/);
    expect(findLeaks(badUrl, ['secretHookPath9876'])).toEqual([]);
    const noToken = await runBundle('notify', { ...common(), 'github-token': '', event: 'succeeded', channels: 'github' });
    expect(noToken.code).toBe(1);
    expect(noToken.errors[0]).toMatch(/Input 'github-token': got nothing/);
    expect({ gh: gh.requests.length, slack: slack.requests.length, hook: hookBodies.length }).toEqual(before);
  });

  it('keeps one PR comment per environment on pull_request runs', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const eventPath = join(mkdtempSync(join(tmpdir(), 'slipway-event-')), 'event.json');
    writeFileSync(eventPath, JSON.stringify({ pull_request: { number: 31 } }));
    const env = { GITHUB_EVENT_NAME: 'pull_request', GITHUB_EVENT_PATH: eventPath };
    const a = await runBundle('notify', { ...common(), event: 'started', environment: 'preview', channels: 'pr-comment' }, { env });
    const b = await runBundle('notify', { ...common(), event: 'succeeded', environment: 'preview', channels: 'pr-comment' }, { env });
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    expect(b.outputs['comment-url']).toBe(a.outputs['comment-url']);
    const mine = gh.comments.filter((c) => c.issue === 31);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.body).toContain('<!-- slipway:deploy-preview -->');
    expect(mine[0]!.body).toContain('Deployed shop v2 to preview');
  });
});
