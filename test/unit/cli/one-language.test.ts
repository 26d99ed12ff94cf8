/**
 * Issue 17 item 7, "one CLI language": validate and release share one check and report every
 * problem at once in Slipway's words; plan shows migrations, lint, batches and the window verdict;
 * --env/--config mean the same in every command; results on stdout; --json carries JSON values;
 * boolean flags need no value.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../src/cli/main.ts';
import { parseArgs } from '../../../src/cli/args.ts';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

async function cli(argv: string[], cwd: string, env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), env, cwd });
  return { code, stdout, stderr };
}

function project(yml: string, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'cli-lang-'));
  writeFileSync(join(dir, 'slipway.yml'), yml);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

// Four problems: a typo'd key, a string where an argument list is expected, a probe gate without
// URLs and smoke tests without the environment's url. The last two pass the per-key checks and
// used to be found by the release only after the deploy had switched.
const BROKEN = `version: 1
environments:
  staging:
    deploy:
      target: command
      instances: [a, b]
      start-command: "touch started"
      instance-url: http://127.0.0.1:9/{instance}
      batchez: 1
    smoke:
      checks: [{ path: /health }]
    gate:
      provider: probe
      objectives: "error-ratio <= 1%"
`;

describe('slipway validate: every problem at once, with the release\'s own checks', () => {
  it('lists each problem with its line and key, in Slipway\'s words, and exits 1', async () => {
    const dir = project(BROKEN);
    const r = await cli(['validate'], dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('slipway.yml: 4 problems');
    expect(r.stdout).toMatch(/slipway\.yml:9:7: environments\.staging\.deploy\.batchez: not an input of deploy-rolling \(did you mean "batches"\?\)/);
    expect(r.stdout).toMatch(/slipway\.yml:7:7: environments\.staging\.deploy\.start-command: got text; expected a list; expected a YAML or JSON argument list/);
    expect(r.stdout).toMatch(/slipway\.yml:13:7: environments\.staging\.gate\.urls: got nothing; expected the URLs to probe \(provider is probe\)/);
    expect(r.stdout).toMatch(/slipway\.yml:3:3: environments\.staging\.url: missing; expected the environment's base URL/);
    expect(r.stdout + r.stderr).not.toMatch(/Invalid input|\(top\)|received string/);
  });
  it('--json lists the problems as data', async () => {
    const r = await cli(['validate', '--json'], project(BROKEN));
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc.ok).toBe(false);
    expect(doc.problems.map((p: { key: string }) => p.key).sort()).toEqual(['environments.staging.deploy.batchez', 'environments.staging.deploy.start-command', 'environments.staging.gate.urls', 'environments.staging.url']);
    expect(doc.problems[0]).toMatchObject({ line: expect.any(Number), column: expect.any(Number), message: expect.any(String) });
  });
  it('reports problems of the file\'s shape and of its sections together', async () => {
    const r = await cli(['validate'], project('version: 1\nextra: 1\nenvironments:\n  staging:\n    smoke: { deadline: soon, checks: [{path: /}] }\n    url: http://x/\n'));
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('unknown key "extra"');
    expect(r.stdout).toMatch(/smoke\.deadline: got "soon"; expected a duration/);
  });
});

describe('slipway validate on a hostile file', () => {
  it('lists the first 100 problems and counts the rest, in linear time', async () => {
    let text = 'version: 1\nenvironments:\n';
    for (let i = 0; i < 8000; i++) text += `  e${i}: { url: "http://h/", smoke: { dedline: 5s } }\n`;
    const t = performance.now();
    const r = await cli(['validate', '--json'], project(text));
    expect(performance.now() - t).toBeLessThan(30_000);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc.problems).toHaveLength(101);
    expect(doc.problems[0]).toMatchObject({ line: 3, key: 'environments.e0.smoke.dedline', message: 'not an input of smoke-test (did you mean "deadline"?)' });
    expect(doc.problems[100].message).toBe('and 7900 more problems (only the first 100 are listed)');
  }, 60_000);
});

describe('slipway release: the same check, before any side effect; --config and --env like every command', () => {
  it('refuses the file validate refuses, naming every problem, and changes nothing', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'cli-cwd-'));
    const dir = project(BROKEN.replace('      batchez: 1\n', '').replace('"touch started"', `["touch", "${join(tmpdir(), 'never')}-{instance}"]`));
    const r = await cli(['release', '--config', join(dir, 'slipway.yml'), '--env', 'staging', '--version', 'v2', '--stages', 'deploy,smoke,gate'], cwd);
    expect(r.stderr).toMatch(/cannot be released to staging; nothing was changed/);
    expect(r.stderr).toMatch(/environments\.staging\.gate\.urls: got nothing/);
    expect(r.stderr).toMatch(/environments\.staging\.url: missing/);
    expect(existsSync(join(tmpdir(), 'never-a'))).toBe(false);
    expect(r.code).toBe(2);
  });
  it('honours --config (not the slipway.yml of the working directory) and takes --environment as an alias of --env', async () => {
    const cwd = project('version: 1\nenvironments:\n  other: { url: "http://127.0.0.1:9/" }\n');
    const dir = project('version: 1\nenvironments:\n  staging: { url: "http://127.0.0.1:9/" }\n');
    const wrongEnv = await cli(['release', '--config', join(dir, 'slipway.yml'), '--env', 'other'], cwd);
    expect(wrongEnv.code).toBe(2);
    expect(wrongEnv.stderr).toMatch(/--env: got "other"; expected one of the environments in .*slipway\.yml: staging/);
    const noDeploy = await cli(['release', '--config', join(dir, 'slipway.yml'), '--environment', 'staging'], cwd);
    expect(noDeploy.stderr).toMatch(/environment staging has no deploy section/);
  });
});

describe('slipway release: a file that validates is released', () => {
  it('runs deploy and smoke tests from --config with --env, the result on stdout', async () => {
    const server = http.createServer((req, res) => res.writeHead(req.url === '/health' ? 200 : 404).end('{"status":"ok"}'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const dir = project(`version: 1
environments:
  staging:
    url: ${url}
    deploy:
      target: command
      instances: [a]
      start-command: ["true"]
      ready-command: ["true"]
      version-check: "off"
    smoke:
      checks: [{ path: /health }]
      deadline: "0"
`);
      expect((await cli(['validate'], dir)).code).toBe(0);
      const r = await cli(['release', '-c', join(dir, 'slipway.yml'), '--env', 'staging', '--version', 'v2', '--stages', 'deploy,smoke', '--json'], mkdtempSync(join(tmpdir(), 'cli-cwd-')));
      expect(r.code, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout);
      expect(doc.outputs.result).toBe('success');
      expect(Array.isArray(doc.outputs.stages)).toBe(true);
      expect(doc.outputs.stages.map((s: { stage: string }) => s.stage)).toEqual(['deploy', 'smoke']);
    } finally {
      server.close();
    }
  });
});

describe('slipway plan', () => {
  const migrations = {
    'migrations/0001_users.sql': 'create table users (id bigint primary key, created_at timestamptz);\n',
    'migrations/0002_index.sql': 'create index users_created on users (created_at);\n',
  };
  const yml = (window: string) => `version: 1
environments:
  production:
    url: http://127.0.0.1:9/
    database-url: \${{ secrets.PROD_DB }}
    migrate: { dir: migrations }
    deploy:
      target: command
      instances: [web1, web2, web3, web4, web5]
      start-command: ["true"]
      instance-url: http://127.0.0.1:9/{instance}
      batches: 1,50%
${window}`;

  it('shows pending migrations with lint, batch membership and the window, and exits 1 when the window is closed', async () => {
    const dir = project(yml('    window: { deny: [sun, mon, tue, wed, thu, fri, sat] }\n'), migrations);
    const r = await cli(['plan', '--env', 'production'], dir);
    expect(r.stdout).toMatch(/deploy window: CLOSED/);
    expect(r.stdout).toMatch(/pending migrations \(PROD_DB is not set: every migration file counts as pending\)/);
    expect(r.stdout).toContain('migrations/0001_users.sql');
    expect(r.stdout).toMatch(/0002_index\.sql/);
    expect(r.stdout).toMatch(/batch 1\/3: web1\n\s+batch 2\/3: web2, web3, web4\n\s+batch 3\/3: web5/);
    expect(r.stdout).toContain('would not start now');
    expect(r.code).toBe(1);
    const j = await cli(['plan', '--env', 'production', '--json'], dir);
    expect(j.code).toBe(1);
    const doc = JSON.parse(j.stdout);
    expect(doc.window).toMatchObject({ open: false });
    expect(doc.deploy.batches).toEqual([['web1'], ['web2', 'web3', 'web4'], ['web5']]);
    expect(doc.migrations.pending.map((m: { name: string }) => m.name)).toEqual(['users', 'index']);
    expect(Array.isArray(doc.migrations.violations)).toBe(true);
  });
  it('exits 0 when a release may start', async () => {
    const dir = project(yml(''), { 'migrations/0001_users.sql': migrations['migrations/0001_users.sql'] });
    const r = await cli(['plan', '--env', 'production'], dir);
    expect(r.stdout).toMatch(/deploy window: none set/);
    expect(r.code).toBe(0);
  });
  it('names the environments when --env is missing or unknown (exit 2)', async () => {
    const dir = project(yml(''));
    expect(await cli(['plan'], dir)).toMatchObject({ code: 2, stderr: expect.stringMatching(/plan needs --env NAME \(.*slipway\.yml has production\)/) });
    expect(await cli(['plan', '--env', 'prod'], dir)).toMatchObject({ code: 2, stderr: expect.stringContaining('--env: got "prod"; expected one of the environments') });
  });
});

describe('flags and output', () => {
  it('boolean flags need no value', () => {
    expect(parseArgs(['migrate', '--dry-run', '--dir', 'm'], new Set(['dry-run'])).flags).toEqual({ 'dry-run': 'true', dir: 'm' });
    expect(parseArgs(['migrate', '--dry-run', 'false'], new Set(['dry-run'])).flags).toEqual({ 'dry-run': 'false' });
    expect(parseArgs(['x', '--environment', 'prod', '-c', 'a.yml']).env).toBe('prod');
    expect(() => parseArgs(['migrate', '--dry-run=maybe'], new Set(['dry-run']))).toThrow(/flag --dry-run: got "maybe"; expected true or false/);
  });
  it('runs migrate --dry-run with no value, and --json carries the outputs as JSON values', async () => {
    const dir = project('version: 1\nenvironments:\n  staging: { url: "http://127.0.0.1:9/" }\n', { 'migrations/0001_a.sql': 'create table a (id int);\n' });
    const r = await cli(['migrate', '--dry-run', '--dir', 'migrations', '--json'], dir);
    expect(r.stderr).not.toMatch(/needs a value/);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(Array.isArray(doc.outputs.pending)).toBe(true);
    expect(doc.outputs.pending[0]).toMatchObject({ name: 'a' });
    expect(Array.isArray(doc.outputs.violations)).toBe(true);
  });
  it('prints the result on stdout and the progress on stderr', async () => {
    const dir = project('version: 1\nenvironments:\n  staging: { url: "http://127.0.0.1:9/" }\n', { 'migrations/0001_a.sql': 'create table a (id int);\n' });
    const r = await cli(['migrate', '--dry-run', '--dir', 'migrations'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Migrations \(dry run/);
    expect(r.stderr).toMatch(/would apply/);
    expect(r.stdout).not.toMatch(/would apply/);
  });
});
