/**
 * Slack: an incoming webhook, or a bot token with chat.postMessage and chat.update (one
 * "deploying…" message turned into the final result; later events threaded under it).
 * Messages are fitted to Slack's documented limits before they are sent; Slack's `ok:false`
 * answers and 429 rate limits (Retry-After) are handled and explained.
 */
import { UserError } from '../lib/errors.ts';
import { request, type Http, type HttpResponse } from '../lib/http.ts';
import { fitSlackLimits, headline, isFailure, isFinal, renderSlack, EMOJI, type NotifyEvent, type SlackMessage } from './message.ts';

export const DEFAULT_SLACK_API_URL = 'https://slack.com/api';

export class SlackError extends UserError {
  /** Slack's error code (`channel_not_found`, `invalid_blocks`, `rate_limited`, `http_500`…). */
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.name = 'SlackError';
    this.code = code;
  }
}

/** What each of Slack's error codes means for the person reading the log. */
const EXPLAIN: Record<string, string> = {
  invalid_blocks: 'Slack rejected the message layout (invalid_blocks)',
  invalid_blocks_format: 'Slack rejected the message layout (invalid_blocks_format)',
  invalid_attachments: 'Slack rejected the message attachments',
  msg_too_long: 'the message is too long for Slack',
  no_text: 'the message has no text',
  channel_not_found: 'channel not found: check slack-channel (a private channel needs the bot invited; chat.update needs the channel ID)',
  not_in_channel: 'the bot is not a member of the channel: invite it with /invite @your-bot',
  is_archived: 'the channel is archived',
  channel_is_archived: 'the channel is archived',
  invalid_auth: 'Slack rejected the token (invalid_auth): check slack-token',
  not_authed: 'no Slack token was sent (not_authed)',
  token_revoked: 'the Slack token was revoked',
  token_expired: 'the Slack token expired',
  account_inactive: 'the Slack token belongs to a deactivated user or app',
  missing_scope: 'the Slack token lacks the chat:write scope',
  message_not_found: 'the message to update was not found: check slack-ts and slack-channel',
  cant_update_message: 'this token cannot update that message (only the bot that posted it can)',
  edit_window_closed: 'the message can no longer be edited',
  rate_limited: 'Slack rate limit (429) still in force when the deadline ran out',
  ratelimited: 'Slack rate limit (429) still in force when the deadline ran out',
  no_service: 'the incoming webhook does not exist (no_service): it was revoked or the URL is wrong',
  invalid_token: 'the incoming webhook URL is not valid (invalid_token)',
  action_prohibited: 'an admin restricted posting to this channel (action_prohibited)',
  posting_to_general_channel_denied: 'posting to #general is restricted for this app',
};

export function explainSlackError(code: string, extra?: string): string {
  return `${EXPLAIN[code] ?? `Slack answered ${code}`}${extra ? ` (${extra})` : ''}`;
}

export interface SlackTransport {
  http?: Http;
  /** Per attempt. */
  timeoutMs?: number;
  /** For all attempts, 429 waits included. */
  deadlineMs?: number;
  signal?: AbortSignal;
  onRetry?: (info: { attempt: number; waitMs: number; reason: string }) => void;
}

const retryable = (s: number) => s === 429 || s === 502 || s === 503 || s === 504;

/**
 * One POST through the HTTP layer. `idempotent` only for calls whose repeat changes nothing
 * (chat.update of the same ts with the same text): a chat.postMessage or an incoming webhook that
 * timed out may have been posted already, so it is repeated only on a 429 (Slack did not post it).
 */
function send(url: string, body: unknown, headers: Record<string, string>, t: SlackTransport, idempotent = false): Promise<HttpResponse> {
  const http = t.http ?? request;
  return http(url, {
    idempotent,
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
    body: JSON.stringify(body),
    timeoutMs: t.timeoutMs ?? 10_000,
    deadlineMs: t.deadlineMs ?? 30_000,
    retries: 5,
    backoffMs: 500,
    retryOn: retryable,
    signal: t.signal,
    onRetry: t.onRetry,
  });
}

/** Posts to an incoming webhook. The URL is a secret (it holds the token): it is never in an error. */
export async function sendSlackWebhook(url: string, message: SlackMessage, t: SlackTransport = {}): Promise<void> {
  let res: HttpResponse;
  try {
    res = await send(url, message, {}, t);
  } catch (err) {
    throw new SlackError(`Slack incoming webhook unreachable: ${(err as Error).message.replace(/\bhttps?:\/\/\S+/g, '(webhook URL)')}`, 'unreachable');
  }
  if (res.status === 200) return;
  const code = res.body.trim().slice(0, 100) || `http_${res.status}`;
  if (res.status === 429) throw new SlackError(explainSlackError('rate_limited', `Retry-After ${res.headers.get('retry-after') ?? '?'}s`), 'rate_limited');
  throw new SlackError(
    `Slack incoming webhook: ${explainSlackError(/^[a-z_]+$/.test(code) ? code : `http_${res.status}`, `HTTP ${res.status}`)}`,
    /^[a-z_]+$/.test(code) ? code : `http_${res.status}`,
  );
}

export interface SlackApiOptions extends SlackTransport {
  token: string;
  /** Default https://slack.com/api */
  apiUrl?: string;
}

export interface SlackApiOk {
  ok: true;
  channel?: string;
  ts?: string;
  warning?: string;
  [k: string]: unknown;
}

/** Web API methods whose repeat has the effect of one call (retried after a timeout too). */
const IDEMPOTENT_METHODS = new Set(['chat.update', 'auth.test', 'conversations.info']);

/** Calls a Slack Web API method with a JSON body; throws SlackError on ok:false or HTTP errors. */
export async function slackApi(method: string, body: Record<string, unknown>, o: SlackApiOptions): Promise<SlackApiOk> {
  const url = `${(o.apiUrl ?? DEFAULT_SLACK_API_URL).replace(/\/+$/, '')}/${method}`;
  const res = await send(url, body, { authorization: `Bearer ${o.token}` }, o, IDEMPOTENT_METHODS.has(method)).catch((err: Error) => {
    throw new SlackError(`Slack ${method}: ${err.message}`, 'unreachable');
  });
  if (res.status === 429)
    throw new SlackError(`Slack ${method}: ${explainSlackError('rate_limited', `Retry-After ${res.headers.get('retry-after') ?? '?'}s`)}`, 'rate_limited');
  let data: { ok?: boolean; error?: string; response_metadata?: { messages?: string[] } } & Record<string, unknown>;
  try {
    data = JSON.parse(res.body);
  } catch {
    throw new SlackError(`Slack ${method}: HTTP ${res.status} with a body that is not JSON`, `http_${res.status}`);
  }
  if (!data.ok) {
    const code = data.error ?? `http_${res.status}`;
    const detail = data.response_metadata?.messages?.slice(0, 3).join('; ');
    throw new SlackError(`Slack ${method}: ${explainSlackError(code, detail)}`, code);
  }
  return data as SlackApiOk;
}

export interface PostArgs {
  channel: string;
  message: SlackMessage;
  threadTs?: string;
  replyBroadcast?: boolean;
}

export async function postSlackMessage(o: SlackApiOptions, a: PostArgs): Promise<{ channel: string; ts: string }> {
  const r = await slackApi(
    'chat.postMessage',
    {
      channel: a.channel,
      ...a.message,
      unfurl_links: false,
      unfurl_media: false,
      ...(a.threadTs ? { thread_ts: a.threadTs, reply_broadcast: !!a.replyBroadcast } : {}),
    },
    o,
  );
  // Slack answers with the channel ID; chat.update needs it (a #name does not work there).
  return { channel: String(r.channel ?? a.channel), ts: String(r.ts ?? '') };
}

export async function updateSlackMessage(
  o: SlackApiOptions,
  a: { channel: string; ts: string; message: SlackMessage },
): Promise<{ channel: string; ts: string }> {
  const r = await slackApi('chat.update', { channel: a.channel, ts: a.ts, ...a.message }, o);
  return { channel: String(r.channel ?? a.channel), ts: String(r.ts ?? a.ts) };
}

export interface SlackConfig extends SlackTransport {
  webhookUrl?: string;
  token?: string;
  apiUrl?: string;
  /** Channel name or ID (bot mode). */
  channel?: string;
  /** The earlier message's ts: final events update it, other events are threaded under it. */
  ts?: string;
}

export interface SlackResult {
  /** What was done, in order: `chat.postMessage`, `chat.update`, `thread reply`, `incoming webhook`. */
  actions: string[];
  /** The message that stands for this deploy (for later events' slack-ts). */
  ts?: string;
  /** Channel ID as Slack reports it. */
  channel?: string;
  /** How the message was cut to fit Slack's limits (empty when it fit). */
  truncated: string[];
}

/** Checks the configuration before anything is sent. */
export function checkSlackConfig(c: SlackConfig): void {
  if (!c.webhookUrl && !c.token) throw new UserError("channel 'slack' needs slack-webhook-url or slack-token (with slack-channel)");
  if (c.token && !c.webhookUrl && !c.channel)
    throw new UserError("channel 'slack' with slack-token needs slack-channel (a channel name like #deploys or an ID like C0123456789)");
}

/** Slack channel IDs (C…, G…, D…): chat.update accepts only these, not #names. */
export const isChannelId = (channel: string) => /^[CGD][A-Z0-9]{6,}$/.test(channel);

/** chat.update needs the channel ID: checked before anything is sent. */
export function checkSlackUpdate(c: SlackConfig, final: boolean): void {
  if (c.token && c.ts && final && c.channel && !isChannelId(c.channel)) {
    throw new UserError(
      `updating the Slack message ${c.ts} needs the channel ID, not ${JSON.stringify(c.channel)}: pass the slack-channel output of the step that posted it (Slack's chat.update does not accept channel names)`,
    );
  }
}

/**
 * Sends the event to Slack. With a bot token: no slack-ts → a new message; a final event with
 * slack-ts → that message is updated in place (and a failure is also posted in its thread and
 * broadcast to the channel, since an edit notifies nobody); other events with slack-ts → a thread reply.
 */
export async function notifySlack(event: NotifyEvent, c: SlackConfig): Promise<SlackResult> {
  checkSlackConfig(c);
  checkSlackUpdate(c, isFinal(event.kind));
  const { message, truncated } = fitSlackLimits(renderSlack(event), event.runUrl);
  if (c.webhookUrl && !c.token) {
    await sendSlackWebhook(c.webhookUrl, message, c);
    return { actions: ['incoming webhook'], truncated };
  }
  const o: SlackApiOptions = { ...c, token: c.token! };
  const actions: string[] = [];
  if (c.ts && isFinal(event.kind)) {
    const up = await updateSlackMessage(o, { channel: c.channel!, ts: c.ts, message });
    actions.push('chat.update');
    if (isFailure(event.kind)) {
      const reply: SlackMessage = { text: `${EMOJI[event.kind]} ${headline(event)}${event.reason ? `: ${event.reason}` : ''}` };
      await postSlackMessage(o, { channel: up.channel, message: { ...reply, text: fitSlackLimits(reply).message.text }, threadTs: c.ts, replyBroadcast: true });
      actions.push('thread reply');
    }
    return { actions, ts: up.ts, channel: up.channel, truncated };
  }
  if (c.ts) {
    const r = await postSlackMessage(o, { channel: c.channel!, message, threadTs: c.ts });
    return { actions: ['thread reply'], ts: c.ts, channel: r.channel, truncated };
  }
  const r = await postSlackMessage(o, { channel: c.channel!, message });
  return { actions: ['chat.postMessage'], ts: r.ts, channel: r.channel, truncated };
}
