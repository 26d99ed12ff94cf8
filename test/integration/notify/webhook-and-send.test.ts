import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../helpers/servers.ts';
import { node24, repoRoot } from '../../helpers/runner.ts';
import { startFakeSlack, type FakeSlack } from '../../helpers/fakes/fake-slack.ts';
import { sendNotification } from '../../../src/notify/send.ts';
import { verifySignature } from '../../../src/notify/webhook.ts';
import { MemoryReporter } from '../../../src/lib/report.ts';
import type { NotifyEvent } from '../../../src/notify/message.ts';

const SECRET = 'whsec_integration_Secret';

interface Received { headers: IncomingMessage['headers']; body: string; verified: boolean; viaSlipway: boolean }

/** A receiver that verifies signatures on its own (node:crypto), and can be told to fail or hang. */
let receiver: Server;
let url = '';
const received: Received[] = [];
const plan: ('ok' | 500 | 429 | 'hang' | 401)[] = [];

function independentVerify(headers: IncomingMessage['headers'], body: string): boolean {
  const ts = String(headers['x-slipway-timestamp'] ?? '');
  if (!/^\d+$/.test(ts) || Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false;
  const expected = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(`${ts}.${body}`).digest('hex')}`);
  const got = Buffer.from(String(headers['x-slipway-signature-256'] ?? ''));
  return expected.length === got.length && timingSafeEqual(expected, got);
}

let slack: FakeSlack;
beforeAll(async () => {
  const port = await freePort();
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ headers: req.headers, body, verified: independentVerify(req.headers, body), viaSlipway: verifySignature(SECRET, body, req.headers).ok });
      const step = plan.shift() ?? 'ok';
      if (step === 'hang') return; // never answers
      if (step === 'ok') { res.writeHead(204); res.end(); return; }
      res.writeHead(step, step === 429 ? { 'retry-after': '1' } : {});
      res.end(step === 401 ? 'bad signature' : 'busy');
    });
  });
  await new Promise<void>((r) => receiver.listen(port, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${port}/hooks/deploys?token=abc123secret`;
  slack = await startFakeSlack({ token: 'xoxb-1' });
});
afterAll(async () => {
  receiver?.closeAllConnections();
  await new Promise((r) => receiver?.close(r));
  await slack?.close();
});

const event = (over: Partial<NotifyEvent> = {}): NotifyEvent => ({ kind: 'failed', environment: 'production', repository: 'acme/shop', version: { label: 'v9', sha: 'a'.repeat(40) }, reason: 'smoke test failed', details: {}, ...over });

describe('signed webhook delivery to a real receiver', () => {
  it('delivers a body that an independent verifier accepts', async () => {
    received.length = 0;
    const r = await sendNotification(event(), { channels: ['webhook'], webhook: { url, secret: SECRET } }, { log: new MemoryReporter() });
    expect(r.failed).toEqual([]);
    expect(received).toHaveLength(1);
    expect(received[0]!.verified).toBe(true);
    expect(received[0]!.viaSlipway).toBe(true);
    const payload = JSON.parse(received[0]!.body);
    expect(payload).toMatchObject({ type: 'slipway.deployment', event: 'failed', environment: 'production', reason: 'smoke test failed' });
    expect(received[0]!.headers['x-slipway-event']).toBe('failed');
  });

  it('retries 500 and 429 (after Retry-After) with valid signatures each time, then succeeds', async () => {
    received.length = 0;
    plan.push(500, 429);
    const log = new MemoryReporter();
    const r = await sendNotification(event(), { channels: ['webhook'], webhook: { url, secret: SECRET }, deadlineMs: 15_000 }, { log });
    expect(r.failed).toEqual([]);
    expect(r.results[0]!.detail).toMatch(/3 attempts/);
    expect(received.map((x) => x.verified)).toEqual([true, true, true]);
    expect(new Set(received.map((x) => x.headers['x-slipway-delivery'])).size).toBe(1);
    expect(log.text()).toMatch(/webhook: attempt 2 got HTTP 429: busy; retrying in 1\.0s/);
  });

  it('gives up at the deadline on a hanging receiver, reports it, and never shows the URL', async () => {
    plan.push('hang', 'hang', 'hang', 'hang');
    const log = new MemoryReporter();
    const r = await sendNotification(event(), { channels: ['webhook'], webhook: { url, secret: SECRET }, timeoutMs: 300, deadlineMs: 1500 }, { log });
    expect(r.failed).toEqual(['webhook']);
    expect(r.results[0]!.error).toMatch(/no success after \d+ attempts? within the 2s deadline/);
    expect(JSON.stringify(r)).not.toContain('abc123secret');
    expect(log.text()).not.toContain('abc123secret');
    plan.length = 0;
  });

  it('does not retry a refusal (401) from the receiver', async () => {
    received.length = 0;
    plan.push(401);
    const r = await sendNotification(event(), { channels: ['webhook'], webhook: { url, secret: 'wrong' } }, { log: new MemoryReporter() });
    expect(received).toHaveLength(1);
    expect(received[0]!.verified).toBe(false);
    expect(r.results[0]!.error).toMatch(/HTTP 401: bad signature \(not retried/);
  });
});

describe('sendNotification across channels', () => {
  it('skips chat channels on success with if-failure-only, sends them on failure', async () => {
    received.length = 0;
    const cfg = { channels: ['slack' as const, 'webhook' as const], ifFailureOnly: true, slack: { token: 'xoxb-1', apiUrl: slack.apiUrl, channel: '#deploys' }, webhook: { url, secret: SECRET } };
    const ok = await sendNotification(event({ kind: 'succeeded' }), cfg, { log: new MemoryReporter() });
    expect(ok.results.map((x) => x.skipped)).toEqual([true, true]);
    expect(received).toHaveLength(0);
    const before = slack.messages.length;
    const bad = await sendNotification(event({ kind: 'failed' }), cfg, { log: new MemoryReporter() });
    expect(bad.results.map((x) => x.ok && !x.skipped)).toEqual([true, true]);
    expect(slack.messages.length).toBe(before + 1);
    expect(received).toHaveLength(1);
  });

  it('a broken channel is reported and the others still go out', async () => {
    received.length = 0;
    const r = await sendNotification(event(), { channels: ['slack', 'webhook'], slack: { token: 'xoxb-1', apiUrl: slack.apiUrl, channel: '#missing' }, webhook: { url, secret: SECRET } }, { log: new MemoryReporter() });
    expect(r.failed).toEqual(['slack']);
    expect(r.results[0]!.error).toMatch(/channel not found/);
    expect(received).toHaveLength(1);
  });

  it('refuses a bad configuration before sending anything', async () => {
    received.length = 0;
    const before = slack.requests.length;
    await expect(sendNotification(event(), { channels: ['webhook', 'slack'], webhook: { url, secret: SECRET }, slack: { token: 'xoxb-1' } }, { log: new MemoryReporter() })).rejects.toThrow(/needs slack-channel/);
    await expect(sendNotification(event(), { channels: ['webhook', 'teams' as never], webhook: { url } }, { log: new MemoryReporter() })).rejects.toThrow(/unknown channel "teams"/);
    await expect(sendNotification(event(), { channels: ['github'] }, { log: new MemoryReporter() })).rejects.toThrow(/needs github-token/);
    expect(received).toHaveLength(0);
    expect(slack.requests.length).toBe(before);
  });

  it('a webhook-only run never loads Octokit (@actions/github is imported lazily)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-lazy-'));
    const trace = join(dir, 'trace.txt');
    const hooks = join(dir, 'hooks.mjs');
    // A module hook that records, in order, every resolution of Octokit's packages.
    writeFileSync(hooks, `import { appendFileSync } from 'node:fs';\nexport async function resolve(s, c, next) { if (s.includes('@actions/github') || s.includes('@octokit/')) appendFileSync(${JSON.stringify(trace)}, 'LOADED ' + s + '\\n'); return next(s, c); }\n`);
    const script = join(dir, 'run.ts');
    writeFileSync(script, `
import { register } from 'node:module';
import { appendFileSync } from 'node:fs';
register(${JSON.stringify(`file://${hooks}`)});
const { sendNotification } = await import(${JSON.stringify(join(repoRoot, 'src/notify/send.ts'))});
const log = { info() {}, warning(m) { console.log('W', m); }, debug() {} };
const r = await sendNotification({ kind: 'succeeded', environment: 'p', version: {}, details: {} }, { channels: ['webhook'], webhook: { url: ${JSON.stringify(url)}, secret: 's' } }, { log });
appendFileSync(${JSON.stringify(trace)}, 'SENT ' + JSON.stringify(r.failed) + '\\n');
const g = await import(${JSON.stringify(join(repoRoot, 'src/notify/github.ts'))});
await g.loadActionsGithub();
appendFileSync(${JSON.stringify(trace)}, 'DONE\\n');
`);
    writeFileSync(trace, '');
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(node24, [script], { stdio: 'ignore' });
      const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('close', (c) => { clearTimeout(t); resolve(c); });
    });
    expect(code).toBe(0);
    const lines = readFileSync(trace, 'utf8').trim().split('\n');
    const sent = lines.indexOf('SENT []');
    expect(sent).toBeGreaterThanOrEqual(0);
    // Nothing of Octokit before the webhook was sent; the explicit load afterwards proves the hook sees it.
    expect(lines.slice(0, sent).filter((l) => l.startsWith('LOADED'))).toEqual([]);
    expect(lines.slice(sent).some((l) => l.startsWith('LOADED @actions/github'))).toBe(true);
    expect(lines.at(-1)).toBe('DONE');
  });
});
