/**
 * Manual promotion on a real hosts fleet (issue 19, item 5): sshd "hosts" on loopback behind
 * nginx, a rollout with `batches: 1, pause: manual, 100%` driven through `slipway deploy-rolling`,
 * and a person's decision through `slipway promote` / `slipway abort` (the signal is a file next to
 * the deploy lock on every host, bound to the open pause's id):
 * - promote: the rollout goes on and the whole fleet runs the new version; a stale decision left
 *   on a host (another pause's id) is ignored;
 * - abort: the rollout stops at the pause and rolls back;
 * - nobody decides before pause-deadline: it aborts and rolls back;
 * - promote with no rollout waiting, and bad pause steps: one line, exit 1 / 2, nothing changed;
 * - promote.yml (its job emulated step by step, the CLI run from this checkout) promotes a waiting rollout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../src/cli/main.ts';
import { requireServer } from '../../helpers/servers.ts';
import { node24, repoRoot, startHostsFleet, type HostsFleet } from '../deploy/hosts-fleet.ts';
import { emulateJob, jobLeaks } from '../../helpers/workflow-emulator.ts';

const ok = requireServer('sshd') && requireServer('nginx');

describe.skipIf(!ok)('pause: manual, slipway promote and abort on a real hosts fleet (sshd + nginx)', () => {
  let fleet: HostsFleet;
  let dir = '';
  let key = '';
  const output: string[] = [];
  const cli = async (argv: string[], user = 'alice') => {
    let stdout = '';
    let stderr = '';
    const code = await main(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), env: { ...process.env, SSH_PRIVATE_KEY: key, USER: user, SLIPWAY_ACTOR: user }, cwd: dir });
    output.push(stdout, stderr);
    return { code, stdout, stderr };
  };
  const paused = () => fleet.hosts.filter((h) => existsSync(join(h.deployRoot, '.slipway-pause.json'))).map((h) => h.id);
  /** Polls until a host holds the pause record (the rollout waits), or the deploy ended. */
  const untilPaused = async (deploy: Promise<unknown>) => {
    let done = false;
    void deploy.then(() => (done = true));
    for (let k = 0; k < 600 && !done; k++) {
      if (paused().length === fleet.hosts.length) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the rollout did not pause (ended: ${done})\n${output.slice(-4).join('\n')}`);
  };
  const deploy = (version: string, extra: string[] = []) => cli(['deploy-rolling', '--env', 'production', '--version', version, '--batches', '1, pause: manual, 100%', ...extra], 'ci');

  beforeAll(async () => {
    fleet = await startHostsFleet(2);
    key = readFileSync(fleet.ssh.keyPath, 'utf8');
    dir = mkdtempSync(join(tmpdir(), 'slipway-promote-'));
    const config = {
      target: 'hosts',
      hosts: JSON.parse(fleet.hostsInput),
      'ssh-key': '${{ secrets.SSH_PRIVATE_KEY }}',
      'known-hosts': readFileSync(fleet.ssh.knownHostsPath, 'utf8'),
      artifact: fleet.artifact,
      'start-command': [node24, 'server.js'],
      'nginx-host': 'local',
      'nginx-upstream-file': fleet.upstreamFile,
      'nginx-command': fleet.nginxCommand,
      'ready-timeout': '15s',
      'ready-interval': '50ms',
    };
    writeFileSync(join(dir, 'slipway.yml'), JSON.stringify({ version: 1, environments: { production: { url: fleet.url, deploy: config } } }, null, 2));
    const r = await cli(['deploy-rolling', '--env', 'production', '--version', 'v1']);
    expect(r.code, r.stderr).toBe(0);
  }, 180_000);
  afterAll(async () => {
    await fleet?.stop();
    const all = output.join('\n');
    for (const line of key.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'))) expect(all).not.toContain(line);
  });

  it('promote: the rollout waits after batch 1, ignores a stale decision, goes on when promoted', async () => {
    const running = deploy('v2');
    await untilPaused(running);
    // Half the fleet switched, and it stays so while the rollout waits.
    expect(fleet.currentVersions()).toEqual(['v2', 'v1']);
    const pause = JSON.parse(readFileSync(join(fleet.hosts[0]!.deployRoot, '.slipway-pause.json'), 'utf8'));
    expect(pause).toMatchObject({ batch: 1, totalBatches: 2, version: 'v2' });
    // A decision left over from another pause (another id) must not abort this one.
    writeFileSync(join(fleet.hosts[1]!.deployRoot, '.slipway-signal.json'), JSON.stringify({ id: 'an-older-pause', action: 'abort', actor: 'mallory', at: new Date().toISOString() }));
    const st = await cli(['status', '--env', 'production']);
    expect(st.stdout).toMatch(/MIXED/);
    expect(st.stdout).toMatch(/^WAITING: the rollout of v2 is paused after batch 1\/2 \(pause: manual\) until \S+: slipway promote --env production or slipway abort --env production$/m);
    const p = await cli(['promote', '--env', 'production', '--reason', 'canary looks fine'], 'bob');
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/^production: promoted the rollout of v2 waiting after batch 1\/2/);
    const r = await running;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/paused after batch 1\/2 \(pause: manual\): waiting for `slipway promote --env production` or `slipway abort --env production`/);
    expect(r.stderr).toMatch(/promoted by bob after/);
    expect(fleet.currentVersions()).toEqual(['v2', 'v2']);
    expect(paused()).toEqual([]);
    expect(fleet.hosts.filter((h) => existsSync(join(h.deployRoot, '.slipway-signal.json')))).toEqual([]);
    const audit = readFileSync(join(fleet.hosts[0]!.deployRoot, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(audit.find((e) => e.action === 'promote')).toMatchObject({ actor: 'bob', version: 'v2', reason: 'canary looks fine' });
  }, 180_000);

  it('abort: the rollout stops at the pause and rolls back', async () => {
    const running = deploy('v3');
    await untilPaused(running);
    expect(fleet.currentVersions()).toEqual(['v3', 'v2']);
    const a = await cli(['abort', '--env', 'production'], 'carol');
    expect(a.code, a.stderr).toBe(0);
    const r = await running;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/aborted by carol at the manual pause after batch 1/);
    expect(fleet.currentVersions()).toEqual(['v2', 'v2']);
    expect(paused()).toEqual([]);
  }, 180_000);

  it('nobody decides before pause-deadline: it aborts and rolls back', async () => {
    const r = await deploy('v4', ['--pause-deadline', '2s']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nobody promoted within 2\.00s at the manual pause after batch 1 \(the pause-deadline input\): aborted/);
    expect(fleet.currentVersions()).toEqual(['v2', 'v2']);
    expect(paused()).toEqual([]);
  }, 180_000);

  it('bad input: nothing waiting, or a bad pause step: one line, exit 1 or 2, nothing changed', async () => {
    const none = await cli(['promote', '--env', 'production']);
    expect(none.code).toBe(1);
    expect(none.stderr.trim()).toBe('slipway: promote: no rollout of production is waiting at a "pause: manual" step; nothing was changed (slipway status --env production shows what runs)');
    const cases: [string[], RegExp][] = [
      [['--batches', 'pause: manual, 1'], /"pause: manual" must follow a batch/],
      [['--batches', '1, pause: 5m, 100%'], /"pause: 5m" is not a pause step: only "pause: manual" is/],
      [['--max-unavailable', '1, pause: manual'], /max-unavailable/],
    ];
    for (const [flags, msg] of cases) {
      const r = await cli(['deploy-rolling', '--env', 'production', '--version', 'v5', ...flags]);
      expect([flags.join(' '), r.code]).toEqual([flags.join(' '), 2]);
      expect(r.stderr).toMatch(msg);
    }
    const unknown = await cli(['abort', '--env', 'prod']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/--env: got "prod"; expected one of the environments/);
    expect(fleet.currentVersions()).toEqual(['v2', 'v2']);
    expect(fleet.hosts.filter((h) => existsSync(join(h.deployRoot, 'releases', 'v5')))).toEqual([]);
  }, 180_000);

  it('promote.yml (workflow_dispatch, emulated) promotes a waiting rollout', async () => {
    const running = deploy('v6');
    await untilPaused(running);
    symlinkSync(repoRoot, join(dir, '.slipway'));
    try {
      const job = await emulateJob({
        workflow: '.github/workflows/promote.yml',
        job: 'decide',
        inputs: { environment: 'production', action: 'promote', reason: 'dashboards are green' },
        secrets: { SSH_PRIVATE_KEY: key },
        github: { actor: 'dana' },
        workspace: dir,
      });
      expect(job.status, job.steps.map((x) => `${x.name}: ${x.run?.stderr ?? ''}`).join('\n')).toBe('success');
      expect(job.byId.decide!.run!.summary).toMatch(/^production: promoted the rollout of v6 waiting after batch 1\/2/);
      expect(jobLeaks(job, key.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----')))).toEqual([]);
    } finally {
      rmSync(join(dir, '.slipway'));
    }
    const r = await running;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/promoted by dana after/);
    expect(fleet.currentVersions()).toEqual(['v6', 'v6']);
  }, 180_000);
});
