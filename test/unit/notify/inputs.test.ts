import { describe, expect, it } from 'vitest';
import { parseInputs } from '../../../src/manifest/fields.ts';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { spec } from '../../../src/actions/notify/inputs.ts';
import { eventFromInputs, prNumberFromEvent, run } from '../../../src/actions/notify/run.ts';
import { CHANNELS } from '../../../src/notify/send.ts';
import type { ActionContext, GithubContext } from '../../../src/runner/context.ts';

const gh: GithubContext = {
  serverUrl: 'https://github.com', repository: 'acme/shop', sha: '0123456789abcdef0123456789abcdef01234567', ref: 'refs/heads/main', refName: 'main',
  eventName: 'push', actor: 'octocat', runId: '1', runAttempt: '1', workflow: 'deploy', job: 'deploy', runUrl: 'https://github.com/acme/shop/actions/runs/1', event: {},
};

function ctx(log = new MemoryReporter(), github = gh): ActionContext {
  return { log, github, saveState: () => {}, getState: () => '', signal: new AbortController().signal, tempDir: '/tmp', workspace: '/tmp', env: {} };
}

const parse = (raw: Record<string, string>) => parseInputs(spec, (n) => raw[n]);

/** An http that fails the test if anything is sent. */
const noHttp = async () => { throw new Error('nothing may be sent'); };
const noFetch = (async () => { throw new Error('nothing may be sent'); }) as unknown as typeof fetch;

describe('notify inputs', () => {
  it('declares the same channels as the domain', () => {
    for (const c of CHANNELS) expect(spec.inputs.channels.description).toContain(c);
  });

  it('refuses an unknown channel with the input name, the value and the choices', async () => {
    await expect(parse({ event: 'started', environment: 'prod', channels: 'slack,teams' })).rejects.toThrow(/Input 'channels': got "slack,teams"; expected .*slack, webhook, github, pr-comment.*bad entry "teams"/);
  });

  it('refuses a malformed webhook URL without showing it (it is a secret)', async () => {
    const err = await parse({ event: 'started', environment: 'prod', 'webhook-url': 'hooks.example.com/T1/zzhidden' }).catch((e: Error) => e.message);
    expect(err).toMatch(/Input 'webhook-url': got \(a secret value, not shown\); expected a URL starting with http:\/\/ or https:\/\//);
    expect(err).not.toContain('zzhidden');
  });

  it('refuses an unknown event and a bad digest', async () => {
    await expect(parse({ event: 'done', environment: 'prod' })).rejects.toThrow(/Input 'event': got "done"; expected one of started, succeeded, failed, rolled-back, approval-waiting/);
    await expect(parse({ event: 'started', environment: 'prod', digest: 'sha256:xyz' })).rejects.toThrow(/Input 'digest'/);
  });

  for (const [name, raw, msg] of [
    ['missing Slack settings', { channels: 'slack' }, /Input 'slack-webhook-url': got nothing; expected a Slack incoming webhook URL, or slack-token/],
    ['a bot token without a channel', { channels: 'slack', 'slack-token': 'xoxb-1-2-3' }, /Input 'slack-channel': got nothing/],
    ['a webhook channel without URL', { channels: 'webhook' }, /Input 'webhook-url': got nothing/],
    ['the github channel without token', { channels: 'github' }, /Input 'github-token': got nothing; expected a token .*channels includes github/],
    ['open-issue without token', { channels: 'webhook', 'webhook-url': 'https://h.example.com/x', 'on-rollback': 'open-issue', event: 'rolled-back' }, /Input 'github-token'.*on-rollback is open-issue/],
    ['pr-comment outside a pull request', { channels: 'pr-comment', 'github-token': 'ghs_x' }, /Input 'pr-number': got nothing; expected a pull request number: the push event has none/],
  ] as const) {
    it(`fails before sending anything: ${name}`, async () => {
      const inputs = await parse({ event: 'succeeded', environment: 'prod', ...raw });
      await expect(run(inputs, ctx(), { http: noHttp, fetch: noFetch })).rejects.toThrow(msg);
    });
  }

  it('masks the webhook URLs whole and every token as soon as they are read', async () => {
    const log = new MemoryReporter();
    const inputs = await parse({ event: 'succeeded', environment: 'prod', channels: 'github', 'slack-webhook-url': 'https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX', 'webhook-url': 'https://h.example.com/x?token=abc123', 'github-token': 'ghs_abcdef', 'webhook-secret': 'whsec' });
    await run(inputs, ctx(log), { fetch: (async () => new Response('{"message":"Bad credentials"}', { status: 401, headers: { 'content-type': 'application/json' } })) as unknown as typeof fetch });
    for (const s of ['https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX', 'XXXXXXXXXXXXXXXXXXXXXXXX', 'https://h.example.com/x?token=abc123', 'abc123', 'ghs_abcdef', 'whsec']) expect(log.secrets.has(s)).toBe(true);
    // Short path words stay readable in logs.
    expect(log.secrets.has('services')).toBe(false);
  });

  it('builds the event from inputs and the workflow context', async () => {
    const inputs = await parse({ event: 'failed', environment: 'staging', version: 'v3', 'started-at': '2025-01-01T00:00:00Z', gate: '{"verdict":"fail","objectives":[{"name":"p99","value":"1.4s","threshold":"1s"}]}', details: 'notes: hello' });
    const e = eventFromInputs(inputs, gh, Date.parse('2025-01-01T00:02:00Z'));
    expect(e).toMatchObject({ kind: 'failed', environment: 'staging', repository: 'acme/shop', actor: 'octocat', durationMs: 120_000, version: { sha: gh.sha, label: 'v3' }, commitUrl: `https://github.com/acme/shop/commit/${gh.sha}` });
    expect(e.details.gate?.objectives[0]).toMatchObject({ objective: 'p99', measured: '1.4s' });
    expect(e.details.notes).toEqual([{ title: 'notes', text: 'hello' }]);
  });

  it('finds the pull request in pull_request and issue_comment events', () => {
    expect(prNumberFromEvent({ ...gh, event: { pull_request: { number: 7 } } })).toBe(7);
    expect(prNumberFromEvent({ ...gh, event: { issue: { number: 8, pull_request: {} } } })).toBe(8);
    expect(prNumberFromEvent({ ...gh, event: { issue: { number: 9 } } })).toBeUndefined();
  });
});
