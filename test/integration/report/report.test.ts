/**
 * slipway report against the fake GitHub API (every request checked against GitHub's OpenAPI
 * description, answers checked too) with a seeded history (test/helpers/deployment-history.ts):
 * the DORA figures equal the ones computed by hand from the fixture; each deployment's outcome,
 * duration and approvers; bad input is one line, exit 2 (usage) or 1 (failed read), and no page;
 * the page rendered by headless Chromium makes no request (a recording proxy sees none), and its
 * screenshot is docs/report.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeGithub, type FakeGithub } from '../../helpers/fakes/fake-github.ts';
import { EXPECTED_PRODUCTION, seedHistory } from '../../helpers/deployment-history.ts';
import { chromium, screenshotHtml } from '../../helpers/screenshot.ts';
import { freePort } from '../../helpers/servers.ts';
import { readHistory } from '../../../src/report/history.ts';
import { analyze } from '../../../src/report/dora.ts';
import { request } from '../../../src/lib/http.ts';
import { main } from '../../../src/cli/main.ts';

const TOKEN = 'ghs_reportFakeToken0123456789abcdef';
const M = 60_000;
const H = 60 * M;
const repoRoot = new URL('../../../', import.meta.url).pathname;

function cli(argv: string[], env: Record<string, string | undefined>, cwd: string) {
  let stdout = '';
  let stderr = '';
  return main(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), env, cwd }).then((code) => ({ code, stdout, stderr }));
}

describe('slipway report (fake GitHub API, seeded history)', () => {
  let gh: FakeGithub;
  let dir: string;
  let T: number;
  let shas: Record<string, string>;
  let env: Record<string, string>;

  beforeAll(async () => {
    gh = await startFakeGithub({ token: TOKEN, repository: 'acme/shop' });
    ({ T, shas } = seedHistory(gh));
    dir = mkdtempSync(join(tmpdir(), 'slipway-report-'));
    env = { GITHUB_TOKEN: TOKEN, GITHUB_REPOSITORY: 'acme/shop', GITHUB_API_URL: gh.url, PATH: process.env.PATH ?? '' };
  });
  afterAll(async () => {
    await gh?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the figures equal the hand-computed ones; outcomes, durations and approvers per deployment', async () => {
    const until = new Date();
    const since = new Date(until.getTime() - 90 * 24 * H);
    const warnings: string[] = [];
    const history = await readHistory({ http: request, token: TOKEN, repository: 'acme/shop', apiUrl: gh.url, since, onWarning: (w) => warnings.push(w) });
    expect(gh.selfCheck).toEqual([]);
    // Every request is a GET the description knows, answered 200 (or 404 for the commits GitHub does not know).
    expect(gh.requests.every((r) => r.method === 'GET' && r.operationId)).toBe(true);
    expect(gh.requests.filter((r) => r.status !== 200).map((r) => r.operationId)).toEqual(expect.arrayContaining(['repos/get-commit']));
    expect(new Set(gh.requests.filter((r) => r.status !== 200).map((r) => `${r.operationId} ${r.status}`))).toEqual(new Set(['repos/get-commit 404']));
    // 128 deployments in all, 127 in the window: two pages of 100.
    expect(gh.requests.filter((r) => r.operationId === 'repos/list-deployments').map((r) => r.query.page)).toEqual(['1', '2']);
    expect(history.deployments).toHaveLength(127);
    expect(warnings).toEqual([expect.stringMatching(/^report: commit [0-9a-f]{7} could not be read \(HTTP 404\)/)]);

    const report = analyze('acme/shop', history.deployments, { since, until });
    expect(report.environments.map((e) => e.environment)).toEqual(['production', 'staging']);
    const prod = report.environments[0]!;
    expect(prod.figures).toEqual({ ...EXPECTED_PRODUCTION, perDay: 3 / 90 });
    expect(prod.current?.sha).toBe(shas.c5);
    expect(prod.current?.version).toBe('v1.5');
    const rows = prod.deployments.map((d) => [d.version, d.outcome, d.restore, d.durationMs, d.approvers, d.leadTimeMs, d.restoreMs]);
    expect(rows).toEqual([
      ['v1.5', 'in-progress', false, undefined, [], undefined, undefined],
      ['v1.5', 'success', false, 30 * M, [], 6 * H + 30 * M, undefined],
      ['v1.4', 'failed', false, 5 * M, [], undefined, 24 * H + 30 * M],
      ['v1.2', 'success', true, M, [], undefined, undefined],
      ['v1.3', 'rolled-back', false, 15 * M, ['linus'], undefined, 15 * M],
      ['v1.2', 'success', false, 20 * M, ['grace'], 4 * H + 20 * M, undefined],
      ['v1.1', 'success', false, 10 * M, ['ada'], 2 * H + 10 * M, undefined],
    ]);
    expect(Date.parse(prod.deployments.at(-1)!.createdAt)).toBe(Math.floor(T / 1000) * 1000);
    const staging = report.environments[1]!;
    expect(staging.figures).toMatchObject({ deployments: 120, perDay: 120 / 90, leadTimeMs: null, leadTimeSamples: 0, changeFailureRate: 0, timeToRestoreMs: null });
    expect(staging.current?.version).toBe('s120');
  });

  it('slipway report --env production writes one self-contained page and the figures table', async () => {
    const out = join(dir, 'report.html');
    const md = join(dir, 'summary.md');
    writeFileSync(md, '# before\n');
    const r = await cli(['report', '--out', 'report.html', '--env', 'production', '--since', '90d', '--markdown', md, '--json'], env, dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.environments).toHaveLength(1);
    expect(json.environments[0].figures).toEqual({ ...EXPECTED_PRODUCTION, perDay: 3 / 90 });
    expect(json.environments[0].current).toMatchObject({ sha: shas.c5, version: 'v1.5' });
    const html = readFileSync(out, 'utf8');
    // Self-contained: no script, no stylesheet or font or image to load, and a CSP that forbids any load.
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(|@font-face/i);
    expect(html).toContain(`Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'"`);
    for (const f of ['Deployment frequency', 'Lead time for changes', 'Change failure rate', 'Time to restore']) expect(html).toContain(f);
    expect(html).toContain('40.0%');
    expect(html).toContain('4.3h'); // lead time 260m
    expect(html).toContain('12.4h'); // time to restore 742.5m
    expect(html).toContain('rolled back');
    expect(html).toMatch(/<b>v1\.5<\/b> <code>c5c5c5c<\/code> since/);
    expect(html).not.toContain('staging');
    expect(html).not.toContain(TOKEN);
    const summary = readFileSync(md, 'utf8');
    expect(summary.startsWith('# before\n### Deployments of acme/shop since')).toBe(true);
    expect(summary).toMatch(/\| production \| v1\.5 \(`c5c5c5c`\) \| 1\.0\/month \(3 in 90d\) \| 4\.3h \(3\) \| 40\.0% \(2\/5\) \| 12\.4h \(2\) \|/);
    // A request with --env asks GitHub for that environment only.
    expect(gh.requests.filter((q) => q.operationId === 'repos/list-deployments').at(-1)!.query.environment).toBe('production');
  });

  it('bad input: one line naming what and what to do, exit 2 (usage) or 1 (failed read), no page written', async () => {
    const out = join(dir, 'bad.html');
    const cases: [string[], Record<string, string | undefined>, number, RegExp][] = [
      [['report', '--out', out], { ...env, GITHUB_TOKEN: undefined }, 2, /no GitHub token: give --token TOKEN or set GITHUB_TOKEN/],
      [['report', '--out', out], { ...env, GITHUB_REPOSITORY: undefined }, 2, /no repository: give --repo owner\/name/],
      [['report'], env, 2, /--out: got nothing; expected the HTML file to write/],
      [['report', '--out', out, '--since', 'forever'], env, 2, /--since: got "forever"; expected a duration/],
      [['report', '--out', join(dir, 'nope', 'x.html')], env, 2, /its folder .*nope does not exist/],
      [['report', '--out', out, '--ouput', 'x'], env, 2, /unknown flag --ouput/],
      [['report', '--out', out, '--repo', 'not a repo'], env, 2, /--repo: got "not a repo"; expected owner\/name/],
      [['report', '--out', out, '--token', 'ghs_wrong'], env, 1, /the token was rejected \(401\): give a valid token with --token or GITHUB_TOKEN/],
      [['report', '--out', out, '--repo', 'acme/other'], env, 1, /not found \(404 Not Found\): check the repository acme\/other/],
    ];
    for (const [argv, e, code, msg] of cases) {
      const r = await cli(argv, e, dir);
      expect([argv.join(' '), r.code]).toEqual([argv.join(' '), code]);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).not.toContain('ghs_wrong');
      expect(existsSync(out)).toBe(false);
    }
    // With a slipway.yml, --env is checked against its environments before any request.
    writeFileSync(join(dir, 'slipway.yml'), 'version: 1\napp: { name: shop }\nenvironments:\n  staging: {}\n  production: {}\n');
    const before = gh.requests.length;
    const r = await cli(['report', '--out', out, '--env', 'prod'], env, dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--env: got "prod"; expected one of the environments in .*slipway\.yml: staging, production/);
    expect(gh.requests.length).toBe(before);
    rmSync(join(dir, 'slipway.yml'));
  });

  it.skipIf(!chromium && process.env.CI !== 'true')('renders in headless Chromium without a single request; screenshot in docs/report.png', async () => {
    const out = join(dir, 'shot.html');
    const r = await cli(['report', '--out', out], env, dir);
    expect(r.code).toBe(0);
    // Every request Chromium makes for the page would go through this proxy: it must see none.
    const seen: string[] = [];
    const port = await freePort();
    const proxy: Server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(502).end();
    });
    await new Promise<void>((ok) => proxy.listen(port, '127.0.0.1', ok));
    try {
      const png = screenshotHtml(readFileSync(out, 'utf8'), { width: 1100, height: 1900 }, [`--proxy-server=http://127.0.0.1:${port}`, '--proxy-bypass-list=<-loopback>']);
      expect(png.length).toBeGreaterThan(40_000);
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      writeFileSync(join(repoRoot, 'docs/report.png'), png);
    } finally {
      await new Promise<void>((ok) => proxy.close(() => ok()));
    }
    expect(seen).toEqual([]);
  }, 120_000);
});
