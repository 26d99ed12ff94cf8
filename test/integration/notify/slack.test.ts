import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeSlack, type FakeSlack } from '../../helpers/fakes/fake-slack.ts';
import { notifySlack, postSlackMessage, sendSlackWebhook, SlackError } from '../../../src/notify/slack.ts';
import { renderSlack, type NotifyEvent } from '../../../src/notify/message.ts';

const TOKEN = 'xoxb-fake-123-abc';
let slack: FakeSlack;

beforeAll(async () => {
  slack = await startFakeSlack({
    token: TOKEN,
    channels: [
      { id: 'C0DEPLOYS1', name: 'deploys', member: true },
      { id: 'C0PRIVATE1', name: 'private', member: false },
      { id: 'C0OLD00001', name: 'old', member: true, archived: true },
    ],
  });
});
afterAll(() => slack?.close());

const event = (over: Partial<NotifyEvent> = {}): NotifyEvent => ({
  kind: 'started',
  environment: 'production',
  repository: 'acme/shop',
  version: { label: 'v2', sha: '0123456789abcdef0123456789abcdef01234567' },
  runUrl: 'https://github.com/acme/shop/actions/runs/1',
  details: {},
  ...over,
});

const bot = (over: Record<string, unknown> = {}) => ({ token: TOKEN, apiUrl: slack.apiUrl, channel: '#deploys', deadlineMs: 10_000, ...over });

describe('Slack with a bot token', () => {
  it('posts "deploying…", then turns that same message into the result with chat.update (channel ID and ts)', async () => {
    const start = await notifySlack(event(), bot());
    expect(start).toMatchObject({ actions: ['chat.postMessage'], channel: 'C0DEPLOYS1' });
    expect(start.ts).toMatch(/^\d+\.\d+$/);
    // A later step that names the channel by #name cannot update: a clear error before sending.
    const before = slack.requests.length;
    await expect(notifySlack(event({ kind: 'succeeded' }), bot({ ts: start.ts }))).rejects.toThrow(/needs the channel ID, not "#deploys": pass the slack-channel output/);
    expect(slack.requests.length).toBe(before);
    const done = await notifySlack(event({ kind: 'succeeded', durationMs: 61_000 }), bot({ ts: start.ts, channel: start.channel }));
    expect(done).toMatchObject({ actions: ['chat.update'], ts: start.ts, channel: 'C0DEPLOYS1' });
    const update = slack.requests.at(-1)!;
    expect(update.path).toBe('/api/chat.update');
    // chat.update must name the channel by ID: Slipway uses the ID Slack returned, not '#deploys'.
    expect(update.body).toMatchObject({ channel: 'C0DEPLOYS1', ts: start.ts });
    const msg = slack.messages.find((m) => m.ts === start.ts)!;
    expect(msg.edits).toHaveLength(1);
    expect(msg.text).toContain('Deployed shop v2 to production');
    expect(msg.attachments![0].color).toBe('#2da44e');
    expect(slack.messages.filter((m) => m.thread_ts === start.ts)).toHaveLength(0);
  });

  it('on failure updates the message and also replies in its thread, broadcast to the channel', async () => {
    const start = await notifySlack(event(), bot());
    const r = await notifySlack(event({ kind: 'rolled-back', reason: 'p99 1.4s > 1s' }), bot({ channel: start.channel, ts: start.ts }));
    expect(r.actions).toEqual(['chat.update', 'thread reply']);
    const reply = slack.messages.find((m) => m.thread_ts === start.ts)!;
    expect(reply).toMatchObject({ reply_broadcast: true });
    expect(reply.text).toContain('rolled back');
    expect(reply.text).toContain('p99 1.4s > 1s');
  });

  it('threads non-final events under the earlier message', async () => {
    const start = await notifySlack(event(), bot());
    const r = await notifySlack(event({ kind: 'approval-waiting' }), bot({ ts: start.ts }));
    expect(r).toMatchObject({ actions: ['thread reply'], ts: start.ts });
    expect(slack.messages.at(-1)).toMatchObject({ thread_ts: start.ts });
  });

  it('cuts an oversized message before sending, so Slack accepts it', async () => {
    const huge = event({
      kind: 'failed',
      reason: 'why '.repeat(2000),
      details: { migrations: Array.from({ length: 3000 }, (_, i) => ({ version: String(i), name: `m_${i}_${'x'.repeat(30)}` })), gate: { verdict: 'fail', objectives: Array.from({ length: 12 }, (_, i) => ({ objective: `o${i}` })) } },
    });
    // Proof that the fake enforces the limits: the raw rendering is refused...
    const raw = await postSlackMessage(bot(), { channel: '#deploys', message: renderSlack(huge) }).catch((e: SlackError) => e);
    expect(raw).toBeInstanceOf(SlackError);
    expect((raw as SlackError).code).toBe('invalid_blocks');
    expect((raw as SlackError).message).toMatch(/json-pointer/);
    // ...and Slipway's path fits it first.
    const before = slack.requests.length;
    const r = await notifySlack(huge, bot());
    expect(slack.requests.length - before).toBe(1);
    expect(r.truncated.length).toBeGreaterThan(0);
    const sent = slack.requests.at(-1)!;
    expect(sent.answer).toMatchObject({ ok: true });
    expect(sent.body.attachments[0].blocks.length).toBeLessThanOrEqual(50);
  });

  it('waits out a 429 for as long as Retry-After says, then posts', async () => {
    slack.rateLimit(1, 1);
    const retries: number[] = [];
    const before = slack.requests.length;
    const r = await notifySlack(event(), bot({ onRetry: (i: { waitMs: number }) => retries.push(i.waitMs) }));
    expect(r.ts).toBeTruthy();
    const reqs = slack.requests.slice(before);
    expect(reqs.map((x) => x.status)).toEqual([429, 200]);
    expect(retries).toEqual([1000]);
  });

  it('reports a rate limit that outlasts the deadline as rate_limited', async () => {
    slack.rateLimit(1, 30);
    const err = await notifySlack(event(), bot({ deadlineMs: 2000 })).catch((e: SlackError) => e);
    expect(err).toBeInstanceOf(SlackError);
    expect((err as SlackError).code).toBe('rate_limited');
    expect((err as SlackError).message).toMatch(/Retry-After 30s/);
  });

  it.each([
    [{ channel: '#nope' }, 'channel_not_found', /channel not found/],
    [{ channel: '#private' }, 'not_in_channel', /invite it/],
    [{ channel: '#old' }, 'is_archived', /archived/],
    [{ token: 'xoxb-wrong' }, 'invalid_auth', /check slack-token/],
  ])('explains Slack error answers: %o → %s', async (over, code, text) => {
    const err = await notifySlack(event(), bot(over)).catch((e: SlackError) => e);
    expect(err).toBeInstanceOf(SlackError);
    expect((err as SlackError).code).toBe(code);
    expect((err as SlackError).message).toMatch(text);
    expect((err as SlackError).message).not.toContain('xoxb');
  });

  it('explains an update of a message that does not exist', async () => {
    const err = await notifySlack(event({ kind: 'succeeded' }), bot({ channel: 'C0DEPLOYS1', ts: '1.000001' })).catch((e: SlackError) => e);
    expect((err as SlackError).code).toBe('message_not_found');
  });
});

describe('Slack incoming webhook', () => {
  it('posts the Block Kit message', async () => {
    const before = slack.messages.length;
    const r = await notifySlack(event({ kind: 'succeeded' }), { webhookUrl: slack.webhookUrl });
    expect(r.actions).toEqual(['incoming webhook']);
    expect(slack.messages.length).toBe(before + 1);
    expect(slack.messages.at(-1)).toMatchObject({ via: 'webhook' });
  });

  it('explains a revoked webhook without showing its URL', async () => {
    const url = `${slack.url}/services/T0FAKE000/B0FAKE000/revokedTokenZZZ`;
    const err = await sendSlackWebhook(url, { text: 'x' }).catch((e: SlackError) => e);
    expect((err as SlackError).code).toBe('no_service');
    expect((err as SlackError).message).toMatch(/revoked or the URL is wrong/);
    expect((err as SlackError).message).not.toContain('revokedTokenZZZ');
  });

  it('retries a 503 from the webhook', async () => {
    slack.failWith(1, 503);
    await sendSlackWebhook(slack.webhookUrl, { text: 'after a 503' }, { deadlineMs: 10_000 });
    expect(slack.messages.at(-1)!.text).toBe('after a 503');
  });
});
