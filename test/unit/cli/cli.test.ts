import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { main } from '../../../src/cli/main.ts';
import { parseArgs } from '../../../src/cli/args.ts';
import { repoRoot } from '../../helpers/runner.ts';

let server: http.Server;
let url = '';
beforeAll(async () => {
  server = http.createServer((req, res) => res.writeHead(req.url === '/health' ? 200 : 404).end(req.url === '/health' ? '{"status":"ok"}' : 'no'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function cli(argv: string[], env: Record<string, string> = {}, cwd = repoRoot) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), env, cwd });
  return { code, stdout, stderr };
}

describe('slipway CLI', () => {
  it('lists the actions in --help, generated from their specs', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('smoke-test');
    expect(r.stdout).toContain('Exit codes: 0 passed, 1 failed, 2 bad usage');
  });
  it('prints each action\'s inputs with what they expect', async () => {
    const r = await cli(['smoke-test', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--url\s+Base URL/);
    expect(r.stdout).toContain('a duration such as 500ms');
  });
  it('runs an action over its run function and prints JSON for machines', async () => {
    const r = await cli(['smoke-test', '--url', url, '--checks', '[{path: /health, expect: {json: {status: ok}}}]', '--deadline=0', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ action: 'smoke-test', ok: true, outputs: { passed: true, 'failed-count': 0 } });
    expect(doc.summary).toContain('Smoke test passed');
  });
  it('exits 1 when the action fails', async () => {
    const r = await cli(['smoke-test', '--url', url, '--checks', '[{path: /nope, expect: {status: 200}}]', '--deadline', '0', '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).failure).toContain('1 of 1 checks failed');
  });
  it.each([
    [['smoke-tset'], /unknown command "smoke-tset" \(did you mean smoke-test\?\)/],
    [['smoke-test', '--urll', 'x'], /unknown flag --urll \(did you mean --url\?\)/],
    [['smoke-test', '--url'], /flag --url needs a value/],
    [['smoke-test', '--url', 'ftp://x'], /Input 'url': got "ftp:\/\/x"/],
    [['validate', '--config', 'nope.yml'], /config file not found: nope\.yml/],
  ])('exits 2 on bad usage %j', async (argv, re) => {
    const r = await cli(argv as string[]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(re);
  });
  it('takes inputs from flags, then SLIPWAY_* variables, then slipway.yml', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-'));
    writeFileSync(join(dir, 'slipway.yml'), `version: 1\nenvironments:\n  staging:\n    url: ${url}\n    smoke: { deadline: "0", checks: [{path: /nope}] }\n`);
    const fromConfig = await cli(['smoke-test', '--env', 'staging', '--json'], {}, dir);
    expect(fromConfig.code).toBe(1);
    const fromEnv = await cli(['smoke-test', '--env', 'staging', '--json'], { SLIPWAY_CHECKS: '[{path: /health}]' }, dir);
    expect(fromEnv.code).toBe(0);
    const fromFlag = await cli(['smoke-test', '--env', 'staging', '--json', '--checks', '[{path: /nope}]'], { SLIPWAY_CHECKS: '[{path: /health}]' }, dir);
    expect(fromFlag.code).toBe(1);
    const valid = await cli(['validate'], {}, dir);
    expect(valid).toMatchObject({ code: 0, stdout: expect.stringContaining('valid (staging)') });
    const plan = await cli(['plan', '--env', 'staging', '--json'], {}, dir);
    expect(plan.code).toBe(0);
    expect(JSON.parse(plan.stdout).stages.map((s: { action: string }) => s.action)).toEqual(['smoke-test']);
  });
  it('parses flags in both forms', () => {
    expect(parseArgs(['x', '--a', '1', '--b=2', '--json', 'pos'])).toMatchObject({ command: 'x', flags: { a: '1', b: '2' }, json: true, positional: ['pos'] });
  });
  it('the bin works from the Node on PATH (it re-runs itself on Node 24 when needed)', () => {
    const r = spawnSync('node', [join(repoRoot, 'bin/slipway.js'), 'smoke-test', '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('slipway smoke-test');
  });
});
