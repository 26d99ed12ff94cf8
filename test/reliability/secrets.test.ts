/**
 * Secrets: the scan that ends `npm test` can see a leak (it is fed by runBundle's recordings), and
 * the actions never show a secret even when a server echoes it back in an error body, when it sits
 * inside a URL, or when it is part of an unexpected error's stack trace.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { findLeaks, leakForms, registerSecret, repoRoot, runBundle, type BundleRun } from '../helpers/runner.ts';
import { runAction } from '../../src/runner/run-action.ts';
import { defineAction, f } from '../../src/manifest/fields.ts';
import { stackTrace } from './harness.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('the secret scan can fail', () => {
  const empty: BundleRun = { code: 0, signal: null, stdout: '', stderr: '', outputs: {}, state: {}, env: {}, summary: '', masks: [], annotations: [], errors: [], durationMs: 0 };

  it('findLeaks finds a secret in stdout, stderr, summary and outputs, but not in the add-mask line', () => {
    const s = 'leak-me-9f8e7d';
    expect(findLeaks({ ...empty, stdout: `::add-mask::${s}\n` }, [s])).toEqual([]);
    expect(findLeaks({ ...empty, stdout: `connecting with ${s}\n` }, [s])).toEqual([s]);
    expect(findLeaks({ ...empty, stderr: `Error: ${s}\n    at x` }, [s])).toEqual([s]);
    expect(findLeaks({ ...empty, summary: `| url | https://u:${s}@x |` }, [s])).toEqual([s]);
    expect(findLeaks({ ...empty, outputs: { url: `https://u:${s}@x` } }, [s])).toEqual([s]);
    expect(findLeaks({ ...empty, stdout: 'abc' }, ['abc'])).toEqual([]); // shorter than 4: ignored
  });

  it('findLeaks (and the suite-wide scan, through leakForms) finds a secret in its encoded forms too', () => {
    const s = 'Wh/SecretSig+1';
    expect(findLeaks({ ...empty, stdout: 'echo: sig=Wh%2FSecretSig%2B1\n' }, [s])).toEqual([s]);
    expect(findLeaks({ ...empty, stdout: 'echo: sig=Wh%2fSecretSig%2b1\n' }, [s])).toEqual([s]);
    expect(findLeaks({ ...empty, summary: `Authorization: Basic ${b64(s)}` }, [s])).toEqual([s]);
    expect(findLeaks({ ...empty, stdout: JSON.stringify({ q: 'a"b\\c-secret' }) }, ['a"b\\c-secret'])).toEqual(['a"b\\c-secret']);
    expect(leakForms(s)).toEqual(expect.arrayContaining([s, 'Wh%2FSecretSig%2B1', b64(s).replace(/=+$/, '')]));
  });

  it('a real run that shows a value is recorded for the suite-wide scan (which would fail on it if it were a secret)', async () => {
    // Deliberately NOT registered: this value is shown on purpose (a non-secret input).
    const shown = `not-a-secret-${Date.now().toString(36)}-marker`;
    const before = Date.now();
    const r = await runBundle('notify', { event: 'failed', environment: 'staging', channels: 'webhook', 'webhook-url': 'http://127.0.0.1:9/x', reason: shown, timeout: '200ms', deadline: '300ms' });
    expect(findLeaks(r, [shown])).toEqual([shown]);
    const dir = join(repoRoot, '.tmp/runs');
    const recorded = readdirSync(dir).filter((f) => f.startsWith(`${process.pid}-`) && statSync(join(dir, f)).mtimeMs >= before - 1000);
    expect(recorded.some((f) => readFileSync(join(dir, f), 'utf8').includes(shown))).toBe(true);
  });
});

/** A server that answers every request with an error whose body echoes the URL and all headers back. */
let echo: Server;
let port = 0;
const seen: IncomingMessage[] = [];
beforeAll(async () => {
  echo = createServer((req, res) => {
    seen.push(req);
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const echoed = `you sent ${req.method} ${req.url} with headers ${JSON.stringify(req.headers)} and body ${body.slice(0, 500)}`;
      if (req.url?.startsWith('/api/v1/')) {
        // Prometheus' error format: its error text is shown to the user by design.
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: 'error', errorType: 'bad_data', error: echoed }));
      } else if (req.url?.startsWith('/v2/')) {
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="echo"' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: echoed }] }));
      } else {
        res.writeHead(req.url?.startsWith('/gh/') ? 401 : 500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: echoed }));
      }
    });
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  port = (echo.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise<void>((r) => echo.close(() => r()));
});

function expectClean(r: BundleRun, secrets: string[]) {
  expect(findLeaks(r, secrets)).toEqual([]);
  expect(stackTrace(r)).toBe(false);
  expect(r.code).toBe(1);
}

describe('servers that echo credentials back in their error bodies', () => {
  it('smoke-test: URL password (Basic auth), an API-key header and the base64 of user:password never show', async () => {
    const pw = 'smoke-echo-pw-41d2';
    const key = 'smoke-echo-key-8b7c';
    const secrets = [pw, key, b64(`ops:${pw}`)];
    registerSecret(...secrets);
    const r = await runBundle('smoke-test', { url: `http://ops:${pw}@127.0.0.1:${port}`, headers: JSON.stringify({ 'X-Api-Key': key }), checks: JSON.stringify([{ path: '/health', expect: { status: 200, contains: 'ok' } }]), deadline: '0', timeout: '2s' });
    expect(seen.at(-1)?.headers.authorization).toBe(`Basic ${b64(`ops:${pw}`)}`); // it was really sent
    expectClean(r, secrets);
  });

  it('slo-gate: the bearer token in Prometheus\' error text is masked', async () => {
    const token = 'prom-echo-token-5a6b7c';
    registerSecret(token);
    const r = await runBundle('slo-gate', { 'prometheus-url': `http://127.0.0.1:${port}`, 'prometheus-token': token, objectives: 'error-ratio <= 1%', version: 'v2', 'query-retries': '0', 'query-timeout': '2s' });
    expect(seen.at(-1)?.headers.authorization).toBe(`Bearer ${token}`);
    expectClean(r, [token]);
  });

  it('slo-gate: basic auth from the URL, echoed as base64, is masked', async () => {
    const pw = 'prom-echo-pw-19af';
    const secrets = [pw, b64(`gate:${pw}`)];
    registerSecret(...secrets);
    const r = await runBundle('slo-gate', { 'prometheus-url': `http://gate:${pw}@127.0.0.1:${port}`, objectives: 'error-ratio <= 1%', version: 'v2', 'query-retries': '0', 'query-timeout': '2s' });
    expect(seen.at(-1)?.headers.authorization).toBe(`Basic ${b64(`gate:${pw}`)}`);
    expectClean(r, secrets);
  });

  it('notify: webhook URL token, HMAC secret, Slack webhook path and GitHub token echoed by failing receivers never show', async () => {
    const hook = 'hook-echo-tok-77c1';
    const hmac = 'hmac-echo-secret-2e4f';
    const slack = 'T0ECHO/B0ECHO/slackEchoTok3n';
    const gh = 'ghp_echoEchoEchoEcho0123456789abcd';
    const hookPw = 'hook-echo-pw-90ab';
    const secrets = [hook, hmac, slack, gh, hookPw, b64(`hooker:${hookPw}`)];
    registerSecret(...secrets);
    const r = await runBundle('notify', {
      event: 'failed',
      environment: 'staging',
      channels: 'webhook,slack,github',
      'webhook-url': `http://hooker:${hookPw}@127.0.0.1:${port}/hook?token=${hook}`,
      'webhook-secret': hmac,
      'slack-webhook-url': `http://127.0.0.1:${port}/services/${slack}`,
      'github-token': gh,
      'github-api-url': `http://127.0.0.1:${port}/gh`,
      sha: '0123456789abcdef0123456789abcdef01234567',
      timeout: '1s',
      deadline: '1s',
      'fail-on-error': 'true',
    });
    expect(seen.some((q) => q.url?.includes(hook))).toBe(true);
    expectClean(r, secrets);
  });

  it('build-and-tag: the registry password echoed back (as base64 Basic auth) never shows', async () => {
    const pw = 'reg-echo-pw-6c3d9e';
    const secrets = [pw, b64(`robot:${pw}`)];
    registerSecret(...secrets);
    const r = await runBundle('build-and-tag', { image: `127.0.0.1:${port}/acme/app`, username: 'robot', password: pw, context: '.tmp/reliability/context', cache: 'false', 'registry-timeout': '2s', 'github-token': '' });
    expectClean(r, secrets);
  });
});

describe('secrets in stack traces', () => {
  it('an unexpected error (not a UserError) whose message and stack hold a secret input and a URL password is redacted', async () => {
    const token = 'stack-secret-tok-0a9b8c';
    const urlPw = 'stack-url-pw-3d4e';
    const spec = defineAction({
      name: 'boom',
      title: 'boom',
      description: 'throws',
      inputs: { token: f.string({ description: 't', secret: true }), url: f.url({ description: 'u', secret: true }) },
      outputs: {},
    });
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      lines.push(String(s));
      return true;
    });
    const exitCode = process.exitCode;
    try {
      await runAction(spec, async (i) => {
        const err = new TypeError(`cannot read x of undefined while using ${i.token} at ${i.url}`);
        err.stack = `${err.message}\n    at secretFrame (${i.token}:1:1)\n    at ${i.url}`;
        throw err;
      }, undefined, { INPUT_TOKEN: token, INPUT_URL: `https://bot:${urlPw}@example.invalid/x`, RUNNER_TEMP: '/tmp', RUNNER_DEBUG: '1' });
    } finally {
      spy.mockRestore();
      process.exitCode = exitCode;
    }
    const out = lines.join('');
    expect(out).toMatch(/^::error::boom: cannot read x of undefined/m);
    expect(out.split('\n').filter((l) => !l.startsWith('::add-mask::')).join('\n')).not.toContain(token);
    expect(out.split('\n').filter((l) => !l.startsWith('::add-mask::')).join('\n')).not.toContain(urlPw);
    expect(out).toMatch(/::debug::.*secretFrame \(\*\*\*:1:1\)/); // the stack is there, redacted
  });
});
