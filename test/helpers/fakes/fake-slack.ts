/**
 * A local stand-in for Slack on 127.0.0.1: the Web API methods chat.postMessage and chat.update
 * (bearer token, JSON body, `{ok:false, error}` answers with HTTP 200 like the real API) and
 * incoming webhooks (`/services/T…/B…/…`, plain-text answers: `ok`, `invalid_blocks`, `no_service`…).
 * Every message is checked against Slack's documented Block Kit rules and limits; a message that
 * breaks one is refused with `invalid_blocks` and `response_metadata.messages` naming the JSON path,
 * as Slack does. Rate limits (429 + Retry-After) are served on demand.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { freePort } from '../servers.ts';

export interface FakeChannel {
  id: string;
  name: string;
  /** Is the bot a member? (not_in_channel otherwise) */
  member?: boolean;
  archived?: boolean;
}

export interface FakeMessage {
  channel: string;
  ts: string;
  thread_ts?: string;
  reply_broadcast?: boolean;
  text?: string;
  blocks?: any[];
  attachments?: any[];
  /** Earlier versions, oldest first (chat.update). */
  edits: any[];
  via: 'api' | 'webhook';
}

export interface FakeSlackRequest {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: any;
  status: number;
  answer: unknown;
}

export interface FakeSlack {
  url: string;
  /** Base for slack-api-url. */
  apiUrl: string;
  /** A valid incoming webhook URL (posts to the channel given at start). */
  webhookUrl: string;
  messages: FakeMessage[];
  requests: FakeSlackRequest[];
  /** The next `times` requests (any endpoint) answer 429 with Retry-After: seconds. */
  rateLimit(times: number, retryAfterSec: number): void;
  /** The next `times` requests answer this HTTP status (500, 503…). */
  failWith(times: number, status: number): void;
  close(): Promise<void>;
}

const HEX = /^#?[0-9a-fA-F]{6}$/;
const BLOCK_TYPES = new Set(['header', 'section', 'context', 'divider', 'actions', 'image', 'rich_text', 'input', 'file', 'video', 'markdown']);

function textObject(t: any, path: string, max: number, out: string[], plainOnly = false): number {
  if (!t || typeof t !== 'object') { out.push(`[ERROR] missing required field: text [json-pointer:${path}]`); return 0; }
  if (t.type !== 'plain_text' && (plainOnly || t.type !== 'mrkdwn')) out.push(`[ERROR] must be ${plainOnly ? 'plain_text' : 'plain_text or mrkdwn'} [json-pointer:${path}/type]`);
  if (typeof t.text !== 'string' || t.text.length === 0) out.push(`[ERROR] must be more than 0 characters [json-pointer:${path}/text]`);
  else if (t.text.length > max) out.push(`[ERROR] must be less than ${max + 1} characters [json-pointer:${path}/text]`);
  return typeof t.text === 'string' ? t.text.length : 0;
}

/** Slack's documented rules for blocks; returns Slack-style error messages and the total text. */
export function validateBlocks(blocks: unknown, path: string, out: string[]): number {
  if (!Array.isArray(blocks)) { out.push(`[ERROR] must be an array [json-pointer:${path}]`); return 0; }
  if (blocks.length > 50) out.push(`[ERROR] no more than 50 items allowed [json-pointer:${path}]`);
  let total = 0;
  blocks.forEach((b: any, i: number) => {
    const p = `${path}/${i}`;
    if (!b || !BLOCK_TYPES.has(b.type)) { out.push(`[ERROR] unsupported type: ${b?.type} [json-pointer:${p}/type]`); return; }
    if (b.block_id !== undefined && (typeof b.block_id !== 'string' || b.block_id.length > 255)) out.push(`[ERROR] must be less than 256 characters [json-pointer:${p}/block_id]`);
    if (b.type === 'header') total += textObject(b.text, `${p}/text`, 150, out, true);
    if (b.type === 'section') {
      if (!b.text && !b.fields) out.push(`[ERROR] must provide either text or fields [json-pointer:${p}]`);
      if (b.text) total += textObject(b.text, `${p}/text`, 3000, out);
      if (b.fields !== undefined) {
        if (!Array.isArray(b.fields) || b.fields.length === 0) out.push(`[ERROR] must be a non-empty array [json-pointer:${p}/fields]`);
        else {
          if (b.fields.length > 10) out.push(`[ERROR] no more than 10 items allowed [json-pointer:${p}/fields]`);
          b.fields.forEach((f: any, k: number) => (total += textObject(f, `${p}/fields/${k}`, 2000, out)));
        }
      }
    }
    if (b.type === 'context') {
      if (!Array.isArray(b.elements) || b.elements.length === 0) out.push(`[ERROR] must be a non-empty array [json-pointer:${p}/elements]`);
      else {
        if (b.elements.length > 10) out.push(`[ERROR] no more than 10 items allowed [json-pointer:${p}/elements]`);
        b.elements.forEach((e: any, k: number) => { if (e?.type !== 'image') total += textObject(e, `${p}/elements/${k}`, 3000, out); });
      }
    }
  });
  return total;
}

/** The whole message: text or blocks present, attachments with valid colours, block limits, total text. */
export function validateMessage(m: any): { error?: string; messages: string[] } {
  const messages: string[] = [];
  const hasBlocks = Array.isArray(m.blocks) && m.blocks.length > 0;
  const hasAtt = Array.isArray(m.attachments) && m.attachments.length > 0;
  if (!m.text && !hasBlocks && !hasAtt) return { error: 'no_text', messages };
  let total = typeof m.text === 'string' ? m.text.length : 0;
  let blocks = 0;
  if (m.blocks !== undefined) { total += validateBlocks(m.blocks, '/blocks', messages); blocks += Array.isArray(m.blocks) ? m.blocks.length : 0; }
  if (m.attachments !== undefined) {
    if (!Array.isArray(m.attachments) || m.attachments.length > 100) messages.push('[ERROR] attachments must be an array of at most 100 [json-pointer:/attachments]');
    else m.attachments.forEach((a: any, i: number) => {
      if (a.color !== undefined && !HEX.test(a.color) && !['good', 'warning', 'danger'].includes(a.color)) messages.push(`[ERROR] invalid color [json-pointer:/attachments/${i}/color]`);
      if (a.blocks !== undefined) { total += validateBlocks(a.blocks, `/attachments/${i}/blocks`, messages); blocks += Array.isArray(a.blocks) ? a.blocks.length : 0; }
    });
  }
  if (blocks > 50) messages.push('[ERROR] no more than 50 blocks allowed in one message [json-pointer:/blocks]');
  if (messages.length) return { error: 'invalid_blocks', messages };
  if (total > 40_000) return { error: 'msg_too_long', messages: [`[ERROR] ${total} characters of text is over 40000`] };
  return { messages };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startFakeSlack(opts: { token: string; channels?: FakeChannel[]; webhookChannel?: string; port?: number } = { token: 'xoxb-fake' }): Promise<FakeSlack> {
  const channels: FakeChannel[] = opts.channels ?? [{ id: 'C0DEPLOYS1', name: 'deploys', member: true }];
  const messages: FakeMessage[] = [];
  const requests: FakeSlackRequest[] = [];
  const limits: { times: number; after: number }[] = [];
  const failures: { times: number; status: number }[] = [];
  const webhookPath = '/services/T0FAKE000/B0FAKE000/fakeWebhookSecretToken1234';
  let seq = 0;
  const port = opts.port ?? (await freePort());
  const base = `http://127.0.0.1:${port}`;
  const tsNow = () => `${1_735_689_600 + ++seq}.${String(seq).padStart(6, '0')}`;
  const find = (ch: string) => channels.find((c) => c.id === ch || `#${c.name}` === ch || c.name === ch);

  const answer = (res: ServerResponse, rec: FakeSlackRequest, status: number, body: unknown, headers: Record<string, string> = {}) => {
    rec.status = status;
    rec.answer = body;
    requests.push(rec);
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json; charset=utf-8', ...headers });
    res.end(text);
  };

  const server: Server = createServer((req, res) => {
    void (async () => {
      const raw = await readBody(req);
      const url = new URL(req.url ?? '/', base);
      let body: any;
      try { body = raw ? JSON.parse(raw) : {}; } catch { body = undefined; }
      const rec: FakeSlackRequest = { path: url.pathname, headers: req.headers, body, status: 0, answer: undefined };
      const limit = limits[0];
      if (limit) {
        if (--limit.times <= 0) limits.shift();
        const isApi = url.pathname.startsWith('/api/');
        return answer(res, rec, 429, isApi ? { ok: false, error: 'ratelimited' } : 'rate_limited', { 'retry-after': String(limit.after) });
      }
      const fail = failures[0];
      if (fail) {
        if (--fail.times <= 0) failures.shift();
        return answer(res, rec, fail.status, url.pathname.startsWith('/api/') ? { ok: false, error: 'fatal_error' } : 'internal_error');
      }
      if (req.method !== 'POST') return answer(res, rec, 405, 'method_not_allowed');

      // Incoming webhook.
      if (url.pathname.startsWith('/services/')) {
        if (url.pathname !== webhookPath) return answer(res, rec, 404, 'no_service');
        if (body === undefined) return answer(res, rec, 400, 'invalid_payload');
        const v = validateMessage(body);
        if (v.error) return answer(res, rec, 400, v.error);
        messages.push({ channel: opts.webhookChannel ?? channels[0]!.id, ts: tsNow(), text: body.text, blocks: body.blocks, attachments: body.attachments, edits: [], via: 'webhook' });
        return answer(res, rec, 200, 'ok');
      }

      // Web API.
      const method = url.pathname.replace(/^\/api\//, '');
      const auth = req.headers.authorization;
      if (!auth) return answer(res, rec, 200, { ok: false, error: 'not_authed' });
      if (auth !== `Bearer ${opts.token}`) return answer(res, rec, 200, { ok: false, error: 'invalid_auth' });
      if (body === undefined) return answer(res, rec, 200, { ok: false, error: 'invalid_json' });
      const warning = /charset=utf-8/i.test(req.headers['content-type'] ?? '') ? undefined : 'missing_charset';
      const ok = (extra: Record<string, unknown>) => answer(res, rec, 200, { ok: true, ...extra, ...(warning ? { warning, response_metadata: { warnings: [warning] } } : {}) });
      const err = (error: string, msgs?: string[]) => answer(res, rec, 200, { ok: false, error, ...(msgs?.length ? { response_metadata: { messages: msgs } } : {}) });

      if (method === 'chat.postMessage' || method === 'chat.update') {
        if (!body.channel) return err('channel_not_found');
        // chat.update takes the channel ID only (a #name is not found), as on real Slack.
        const ch = method === 'chat.update' ? channels.find((c) => c.id === body.channel) : find(body.channel);
        if (!ch) return err('channel_not_found');
        if (ch.archived) return err('is_archived');
        if (!ch.member) return err('not_in_channel');
        const v = validateMessage(body);
        if (v.error) return err(v.error, v.messages);
        if (method === 'chat.postMessage') {
          if (body.thread_ts && !messages.some((m) => m.channel === ch.id && m.ts === body.thread_ts)) return err('thread_not_found');
          const m: FakeMessage = { channel: ch.id, ts: tsNow(), thread_ts: body.thread_ts, reply_broadcast: body.reply_broadcast, text: body.text, blocks: body.blocks, attachments: body.attachments, edits: [], via: 'api' };
          messages.push(m);
          return ok({ channel: ch.id, ts: m.ts, message: { type: 'message', text: m.text, ts: m.ts, bot_id: 'B0FAKEBOT' } });
        }
        if (!body.ts) return err('message_not_found');
        const m = messages.find((x) => x.channel === ch.id && x.ts === body.ts);
        if (!m) return err('message_not_found');
        if (m.via !== 'api') return err('cant_update_message');
        m.edits.push({ text: m.text, blocks: m.blocks, attachments: m.attachments });
        m.text = body.text;
        m.blocks = body.blocks;
        m.attachments = body.attachments;
        return ok({ channel: ch.id, ts: m.ts, text: m.text, message: { text: m.text } });
      }
      return answer(res, rec, 200, { ok: false, error: 'unknown_method' });
    })().catch((e: Error) => {
      res.writeHead(500);
      res.end(`fake slack crashed: ${e.message}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    url: base,
    apiUrl: `${base}/api`,
    webhookUrl: `${base}${webhookPath}`,
    messages,
    requests,
    rateLimit: (times, after) => limits.push({ times, after }),
    failWith: (times, status) => failures.push({ times, status }),
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
