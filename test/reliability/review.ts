/**
 * The hostile review's findings (issue 18), each a scenario run the way the review ran it: the
 * built bundle with inputs as INPUT_* variables, against a local server on 127.0.0.1 that answers
 * 500 with the request's URL and headers in its body (so a credential the action sends comes back
 * in an error), or that serves a body built to make a backtracking regex run for hours.
 *
 * Used by test/reliability/review.test.ts and bench/bad-input.ts (the "hostile review" table).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findLeaks, node24, registerSecret, repoRoot, runBundle, type BundleRun } from '../helpers/runner.ts';
import { stackTrace } from './harness.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** The review's server: records each request; /redos… serve a body and a header that make `^(a+)+$` backtrack. */
export interface ReviewServer { port: number; seen: IncomingMessage[]; close(): Promise<void> }

export async function reviewServer(): Promise<ReviewServer> {
  const seen: IncomingMessage[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(req);
    req.resume();
    req.on('end', () => {
      if (req.url?.startsWith('/redos')) {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-redos': `${'a'.repeat(40)}!` });
        res.end(`${'a'.repeat(40)}!`);
        return;
      }
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'error', errorType: 'internal', error: `you sent ${req.method} ${req.url} with headers ${JSON.stringify(req.headers)}` }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as { port: number }).port,
    seen,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export interface ReviewResult { finding: string; name: string; held: boolean; problems: string[]; durationMs: number }

interface Scenario { finding: string; name: string; run(s: ReviewServer): Promise<string[]> }

/** What must hold for every run: it ended by itself, with exit 1, no stack trace, and no secret in any form. */
function common(r: BundleRun, secrets: string[], maxMs: number): string[] {
  const p: string[] = [];
  if (r.signal) p.push(`ended by ${r.signal} after ${Math.round(r.durationMs)} ms`);
  else if (r.durationMs > maxMs) p.push(`took ${Math.round(r.durationMs)} ms (limit ${maxMs} ms)`);
  if (r.code !== 1 && !r.signal) p.push(`exit code ${r.code}, expected 1`);
  if (stackTrace(r)) p.push('shows a stack trace');
  const leaks = findLeaks(r, secrets);
  if (leaks.length) p.push(`shows ${leaks.length} secret form(s): ${leaks.map((l) => `${l.slice(0, 4)}…`).join(', ')}`);
  return p;
}

const tag = () => randomBytes(4).toString('hex');

export const SCENARIOS: Scenario[] = [
  {
    finding: '1 user-part token',
    name: 'slo-gate: token as the user of prometheus-url, and its Basic value, echoed back',
    async run(s) {
      const tok = `ghp_UserOnlyTok3n${tag()}`;
      const secrets = [tok, b64(`${tok}:`)];
      registerSecret(...secrets);
      const r = await runBundle('slo-gate', { 'prometheus-url': `http://${tok}@127.0.0.1:${s.port}/echo`, objectives: 'error-ratio <= 1%', version: 'v2', 'query-retries': '0', 'query-timeout': '2s', duration: '1s', interval: '1s' }, { timeoutMs: 60_000 });
      return common(r, secrets, 30_000);
    },
  },
  {
    finding: '1 user-part token',
    name: 'smoke-test: token as the user of url, and its Basic value, echoed back',
    async run(s) {
      const tok = `ghp_UserOnlyTok3n${tag()}`;
      const secrets = [tok, b64(`${tok}:`)];
      registerSecret(...secrets);
      const r = await runBundle('smoke-test', { url: `http://${tok}@127.0.0.1:${s.port}/echo`, checks: JSON.stringify([{ path: '/health', expect: { status: 200 } }]), deadline: '0', timeout: '2s' }, { timeoutMs: 60_000 });
      return common(r, secrets, 30_000);
    },
  },
  {
    finding: '1 user-part token',
    name: 'slipway validate: a literal token as the user of a URL in slipway.yml is refused',
    async run() {
      const dir = mkdtempSync(join(tmpdir(), 'slipway-review-'));
      try {
        const file = join(dir, 'slipway.yml');
        writeFileSync(file, 'version: 1\nenvironments:\n  staging:\n    url: http://glpat-abcdefghij0123456789@127.0.0.1:9/\n    gate:\n      prometheus-url: http://glpat-abcdefghij0123456789@127.0.0.1:9/\n');
        const started = performance.now();
        const r = spawnSync(node24, [join(repoRoot, 'bin/slipway.js'), 'validate', '--config', file], { encoding: 'utf8', timeout: 60_000 });
        const ms = performance.now() - started;
        const p: string[] = [];
        if (r.status === 0) p.push('accepted');
        else if (!/environments\.staging\.url: contains a password or token/.test(r.stderr + r.stdout)) p.push(`error does not name the key: ${(r.stderr + r.stdout).slice(0, 160)}`);
        if (ms > 30_000) p.push(`took ${Math.round(ms)} ms`);
        return p;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
  {
    finding: '2 percent-encoded echo',
    name: 'notify: webhook-url ?sig=Wh%2FSecretSig%2B1 echoed back percent-encoded',
    async run(s) {
      const raw = `Wh%2FSecretSig%2B1${tag()}`;
      const secrets = [raw, decodeURIComponent(raw)];
      registerSecret(...secrets);
      const r = await runBundle('notify', { event: 'failed', environment: 'staging', channels: 'webhook', 'webhook-url': `http://127.0.0.1:${s.port}/hook?sig=${raw}`, timeout: '1s', deadline: '1s', 'fail-on-error': 'true' }, { timeoutMs: 60_000 });
      return common(r, secrets, 30_000);
    },
  },
  {
    finding: '2 percent-encoded echo, 3 path after query',
    name: 'slo-gate: prometheus-url ?token=… is kept after the API path, and its echo is masked',
    async run(s) {
      const raw = `Pq%2FTok%2B${tag()}`;
      const secrets = [raw, decodeURIComponent(raw)];
      registerSecret(...secrets);
      const before = s.seen.length;
      const r = await runBundle('slo-gate', { 'prometheus-url': `http://127.0.0.1:${s.port}/prom?token=${raw}`, objectives: 'error-ratio <= 1%', version: 'v2', 'query-retries': '0', 'query-timeout': '2s', duration: '1s', interval: '1s' }, { timeoutMs: 60_000 });
      const p = common(r, secrets, 30_000);
      const urls = s.seen.slice(before).map((q) => q.url ?? '');
      if (!urls.length) p.push('no request reached the server');
      for (const u of urls) if (!u.startsWith('/prom/api/v1/') || !u.endsWith(`?token=${raw}`)) p.push(`queried ${JSON.stringify(u.replace(raw, '<token>'))}, expected /prom/api/v1/…?token=<token>`);
      return p;
    },
  },
  {
    finding: '4 regex ReDoS',
    name: 'smoke-test: matches ^(a+)+$ on a body of 40 a and ! ends within its timeout',
    async run(s) {
      const r = await runBundle('smoke-test', { url: `http://127.0.0.1:${s.port}/`, checks: JSON.stringify([{ path: '/redos', expect: { matches: '^(a+)+$' } }]), deadline: '0', timeout: '5s' }, { timeoutMs: 30_000 });
      const p = common(r, [], 15_000);
      if (!r.signal && !r.errors.some((e) => /does not match/.test(e))) p.push(`no "does not match" failure: ${JSON.stringify(r.errors.map((e) => e.slice(0, 120)))}`);
      return p;
    },
  },
  {
    finding: '4 regex ReDoS',
    name: 'smoke-test: a header regex /^(a+)+$/ on 40 a and ! ends within its timeout',
    async run(s) {
      const r = await runBundle('smoke-test', { url: `http://127.0.0.1:${s.port}/`, checks: JSON.stringify([{ path: '/redos', expect: { headers: { 'x-redos': '/^(a+)+$/' } } }]), deadline: '0', timeout: '5s' }, { timeoutMs: 30_000 });
      return common(r, [], 15_000);
    },
  },
  {
    finding: '5 huge slipway.yml',
    name: 'release: a 3 MB slipway.yml is refused at once, naming the file, its size and the cap',
    async run() {
      const dir = mkdtempSync(join(tmpdir(), 'slipway-review-'));
      try {
        const file = join(dir, 'slipway.yml');
        let text = 'version: 1\nenvironments:\n';
        for (let i = 0; text.length < 3 << 20; i++) text += `  env${i}:\n    url: http://127.0.0.1:9/\n    smoke: { timeout: 5s }\n    gate: { objectives: "error-ratio <= 1%" }\n`;
        writeFileSync(file, text);
        const r = await runBundle('release', { environment: 'env0', config: file, version: 'v1', stages: 'smoke', 'github-token': '' }, { timeoutMs: 30_000 });
        const p = common(r, [], 10_000);
        if (!r.signal && !r.errors.some((e) => /slipway\.yml: is 3\.\d MB; expected at most 1 MB/.test(e))) p.push(`error does not give the size and the cap: ${JSON.stringify(r.errors.map((e) => e.slice(0, 160)))}`);
        return p;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
];

/** Runs every scenario (one at a time: the ReDoS ones would skew the others' timings). */
export async function runReview(): Promise<ReviewResult[]> {
  const server = await reviewServer();
  const out: ReviewResult[] = [];
  try {
    for (const sc of SCENARIOS) {
      const t = performance.now();
      let problems: string[];
      try {
        problems = await sc.run(server);
      } catch (err) {
        problems = [`threw: ${String(err).slice(0, 200)}`];
      }
      out.push({ finding: sc.finding, name: sc.name, held: problems.length === 0, problems, durationMs: performance.now() - t });
    }
  } finally {
    await server.close();
  }
  return out;
}
