/**
 * Day-two commands on the command target and their bad input (issue 19): status reads each
 * instance's version from version-command and its readiness from ready-command; commands that need
 * the hosts target say so; unknown environments and bad flags fail with exit 2 before anything runs.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../src/cli/main.ts';
import { auditLine, parseAudit } from '../../../src/deploy/audit.ts';
import { githubClient } from '../../../src/notify/github.ts';
import { parseUpstreamState } from '../../../src/deploy/status.ts';
import { renderUpstream } from '../../../src/deploy/nginx.ts';
import { startFakeGithub } from '../../helpers/fakes/fake-github.ts';

async function cli(argv: string[], cwd: string) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), env: { PATH: process.env.PATH ?? '' }, cwd });
  return { code, stdout, stderr };
}

function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cli-day-two-'));
  const deploy = {
    target: 'command',
    instances: ['a', 'b'],
    'start-command': ['true'],
    'version-command': ['cat', join(dir, '{instance}.version')],
    'ready-command': ['test', '-f', join(dir, '{instance}.ready')],
  };
  writeFileSync(join(dir, 'slipway.yml'), JSON.stringify({ version: 1, environments: { staging: { deploy } } }));
  return dir;
}

describe('slipway status on the command target', () => {
  it('shows what each instance runs and whether it is ready; exit 1 when mixed or not ready', async () => {
    const dir = project();
    for (const i of ['a', 'b']) { writeFileSync(join(dir, `${i}.version`), 'v7\n'); writeFileSync(join(dir, `${i}.ready`), ''); }
    const r = await cli(['status', '--env', 'staging'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/staging: every instance runs v7/);
    expect(r.stdout).toMatch(/a\s+v7\s+yes/);
    writeFileSync(join(dir, 'b.version'), 'v6\n');
    const mixed = await cli(['status', '--env', 'staging', '--json'], dir);
    expect(mixed.code).toBe(1);
    expect(JSON.parse(mixed.stdout)).toMatchObject({ versions: ['v7', 'v6'], instances: [{ instance: 'a', version: 'v7', ready: true }, { instance: 'b', version: 'v6', ready: true }] });
  });
});

describe('slipway status with a GitHub token: the environment\'s last deployment (fake GitHub API)', () => {
  it('shows its commit, version and latest status; never prints the token', async () => {
    const token = 'ghs_statusTestToken0123456789';
    const gh = await startFakeGithub({ token, repository: 'acme/shop' });
    try {
      const client = await githubClient({ token, repository: 'acme/shop', apiUrl: gh.url, deadlineMs: 10_000 });
      const d = await client.createDeployment({ ref: 'main', environment: 'staging', version: { label: 'v7', sha: 'a'.repeat(40) } });
      await client.createDeploymentStatus(d.id, { state: 'success' });
      const dir = project();
      for (const i of ['a', 'b']) { writeFileSync(join(dir, `${i}.version`), 'v7\n'); writeFileSync(join(dir, `${i}.ready`), ''); }
      const env = { PATH: process.env.PATH ?? '', GITHUB_TOKEN: token, GITHUB_REPOSITORY: 'acme/shop', GITHUB_API_URL: gh.url };
      let stdout = '';
      let stderr = '';
      const code = await main(['status', '--env', 'staging'], { stdout: (x) => (stdout += x), stderr: (x) => (stderr += x), env, cwd: dir });
      expect(code, stderr).toBe(0);
      expect(stdout).toMatch(new RegExp(`GitHub: last deployment ${d.sha.slice(0, 7)} \\(v7\\), success, created \\d{4}-`));
      let json = '';
      await main(['status', '--env', 'staging', '--json'], { stdout: (x) => (json += x), stderr: (x) => (stderr += x), env, cwd: dir });
      expect(JSON.parse(json).github).toMatchObject({ sha: d.sha, version: 'v7', state: 'success' });
      expect(stdout + stderr + json).not.toContain(token);
      expect(gh.selfCheck).toEqual([]);
    } finally {
      await gh.close();
    }
  });
});

describe('slipway rollback on the command target', () => {
  it('goes back to --to through deploy-rolling (start, readiness, version check); without a kept previous version it changes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-day-two-rb-'));
    const deploy = {
      target: 'command',
      instances: ['a', 'b'],
      'start-command': ['sh', '-c', 'printf "%s\\n" "$1" > "$2"', 'start', '{version}', join(dir, '{instance}.version')],
      'version-command': ['cat', join(dir, '{instance}.version')],
      'ready-command': ['true'],
    };
    writeFileSync(join(dir, 'slipway.yml'), JSON.stringify({ version: 1, environments: { staging: { deploy } } }));
    for (const i of ['a', 'b']) writeFileSync(join(dir, `${i}.version`), 'v3\n');
    const none = await cli(['rollback', '--env', 'staging'], dir);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no previous version is kept on a, b; nothing was changed/);
    expect(readFileSync(join(dir, 'a.version'), 'utf8')).toBe('v3\n');
    const r = await cli(['rollback', '--env', 'staging', '--to', 'v2', '--json'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, to: 'v2' });
    expect(['a', 'b'].map((i) => readFileSync(join(dir, `${i}.version`), 'utf8'))).toEqual(['v2\n', 'v2\n']);
  });
});

describe('day-two bad input: one line, exit 2, nothing run', () => {
  it.each([
    [['status'], /status needs --env NAME \(.*slipway\.yml has staging\)/],
    [['status', '--env', 'prod'], /--env: got "prod"; expected one of the environments in .*slipway\.yml: staging/],
    [['status', '--env', 'staging', '--watchh'], /unknown flag --watchh/],
    [['releases', '--env', 'staging'], /releases: environment staging deploys to target command; this command works on target hosts and kubernetes for now/],
    [['lock', 'grab', '--env', 'staging'], /lock: got "grab"; expected acquire, release or status/],
    [['lock', 'acquire', '--env', 'staging', '--ttl', '0s'], /--ttl: got "0s"; expected between 1s and 30d/],
    [['rollback', '--env', 'staging', '--to', '../etc'], /rollback: --to: got "\.\.\/etc"; expected a release name/],
    [['audit', '--env', 'staging', '--since', 'last week'], /audit: --since: got "last week"; expected a duration/],
  ])('%j', async (argv, re) => {
    const r = await cli(argv, project());
    expect(r.stderr).toMatch(re);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
  });
});

describe('audit lines', () => {
  it('are one JSON line each, read back with the host; other lines are skipped and counted', () => {
    const line = auditLine({ at: '2026-12-06T18:00:00.000Z', actor: 'alice', action: 'deploy', version: 'v2', from: 'v1', reason: 'a\nb', run: 'cli on x', outcome: 'succeeded' });
    expect(line.split('\n')).toHaveLength(2);
    const r = parseAudit(`${line}garbage\n{"at":"nope","action":"deploy"}\n`, 'web1');
    expect(r.skipped).toBe(2);
    expect(r.entries).toEqual([{ at: '2026-12-06T18:00:00.000Z', actor: 'alice', action: 'deploy', version: 'v2', from: 'v1', reason: 'a\nb', run: 'cli on x', outcome: 'succeeded', host: 'web1' }]);
  });
});

describe('nginx upstream state', () => {
  it('reads back what renderUpstream wrote: drained, weighted, in', () => {
    const text = renderUpstream('app', [{ id: 'web1', address: '10.0.0.1:8080', down: false }, { id: 'web2', address: '10.0.0.2:8080', down: true }, { id: 'web3', address: '10.0.0.3:8080', down: false, weight: 5 }]);
    expect(parseUpstreamState(text)).toEqual({
      web1: { address: '10.0.0.1:8080', down: false },
      web2: { address: '10.0.0.2:8080', down: true },
      web3: { address: '10.0.0.3:8080', down: false, weight: 5 },
    });
  });
});
