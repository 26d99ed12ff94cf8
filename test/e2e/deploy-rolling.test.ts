/**
 * deploy-rolling through its bundle, as the runner runs it, against real sshd "hosts" and a real
 * nginx in front: a full rollout, a version that never becomes ready, cancellation + post step,
 * rollback mode, a host that dies mid-deploy, and bad inputs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { findLeaks, registerSecret, runBundle, type BundleRun } from '../helpers/runner.ts';
import { requireServer } from '../helpers/servers.ts';
import { node24, startHostsFleet, versionAt, type HostsFleet } from '../integration/deploy/hosts-fleet.ts';

const ok = requireServer('sshd') && requireServer('nginx');

describe('deploy-rolling bad inputs fail before anything runs', () => {
  const base = {
    target: 'hosts',
    version: 'v1',
    hosts: 'web1',
    'start-command': '["node","server.js"]',
    'host-key': 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDummyKeyDummyKeyDummyKeyDummyKeyDummyKey12',
  };
  it.each([
    [{ batches: '0' }, /Input 'batches': got "0"; expected .*at least 1/],
    [{ batches: '1,150%' }, /Input 'batches': got "1,150%".*over 100%/],
    [{ target: 'kubernetes-ish' }, /Input 'target': got "kubernetes-ish"; expected one of hosts, command/],
    [{ 'host-key': '' }, /Host key verification is on: give the 'host-key' input/],
    [{ version: '../../etc' }, /Input 'version'/],
    // The promote signal lives on the hosts: the other targets say so before anything runs.
    [
      { target: 'command', instances: 'a', batches: '1, pause: manual, 100%' },
      /Input 'batches': "pause: manual" \(after step 1\) needs target: hosts.*with target: command gate the steps/,
    ],
  ])('%o', async (over, message) => {
    const r = await runBundle('deploy-rolling', { ...base, ...over } as Record<string, string>);
    expect(r.code).toBe(1);
    expect(r.errors.join('\n')).toMatch(message);
    expect(r.stdout).not.toMatch(/batch 1\//);
    expect(r.outputs).toEqual({});
  });
});

describe.skipIf(!ok)('deploy-rolling on hosts behind nginx (real sshd + nginx)', () => {
  let fleet: HostsFleet;
  let key: string;
  let inputs: Record<string, string>;
  const runs: BundleRun[] = [];
  const deploy = async (over: Record<string, string>, opts: Parameters<typeof runBundle>[2] = {}) => {
    const r = await runBundle('deploy-rolling', { ...inputs, ...over }, { timeoutMs: 90_000, ...opts });
    runs.push(r);
    return r;
  };
  /** What each host serves, asked directly (not through nginx). */
  const served = () => Promise.all(fleet.hosts.map((h) => versionAt(`http://127.0.0.1:${h.appPort}`)));

  beforeAll(async () => {
    fleet = await startHostsFleet(4);
    key = readFileSync(fleet.ssh.keyPath, 'utf8');
    registerSecret(key, ...key.split('\n').filter((l) => l.length > 20));
    inputs = {
      target: 'hosts',
      hosts: fleet.hostsInput,
      'ssh-key': key,
      'known-hosts': readFileSync(fleet.ssh.knownHostsPath, 'utf8'),
      artifact: fleet.artifact,
      'start-command': JSON.stringify([node24, 'server.js']),
      'nginx-host': 'local',
      'nginx-upstream-file': fleet.upstreamFile,
      'nginx-command': JSON.stringify(fleet.nginxCommand),
      batches: '1,1,2',
      'ready-timeout': '15s',
      'ready-interval': '100ms',
      'drain-timeout': '5s',
    };
    const first = await deploy({ version: 'v1', batches: '100%' });
    expect(first.errors).toEqual([]);
    expect(first.code).toBe(0);
  }, 180_000);

  afterAll(async () => {
    for (const r of runs) expect(findLeaks(r, [key, ...key.split('\n').filter((l) => l.length > 20)])).toEqual([]);
    await fleet?.stop();
  });

  it('rolls 4 instances from v1 to v2 in batches 1,1,2', async () => {
    const r = await deploy({ version: 'v2' });
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.outputs.version).toBe('v2');
    expect(r.outputs['previous-version']).toBe('v1');
    expect(r.outputs['rolled-back']).toBe('false');
    const inst = JSON.parse(r.outputs.instances!) as Record<string, { version: string; status: string; readyMs: number }>;
    expect(Object.keys(inst)).toEqual(['web1', 'web2', 'web3', 'web4']);
    expect(Object.values(inst).every((i) => i.version === 'v2' && i.status === 'new' && i.readyMs > 0)).toBe(true);
    expect(Number(r.outputs.duration)).toBeGreaterThan(0);
    expect(r.summary).toContain('Rolling deploy of v2: ✅ deployed');
    expect(r.summary).toMatch(/\| 1 \| web1 \|/);
    expect(r.summary).toMatch(/\| 3 \| web3, web4 \|/);
    expect(r.stdout).toContain('batch 2/3: web2 ready in');
    expect(fleet.currentVersions()).toEqual(['v2', 'v2', 'v2', 'v2']);
    expect(await served()).toEqual(['v2', 'v2', 'v2', 'v2']);
    expect(await versionAt(fleet.nginx!.url)).toBe('v2');
    expect(readFileSync(fleet.upstreamFile, 'utf8')).not.toContain(' down;');
    // previous → v1 on every host, releases side by side
    for (const h of fleet.hosts)
      expect(
        execFileSync('readlink', [join(h.deployRoot, 'previous')])
          .toString()
          .trim(),
      ).toBe('releases/v1');
  });

  it('rolls back a version that never becomes ready and names the instance and the reason', async () => {
    const r = await deploy({ version: 'v3', env: '{"READY_FAIL": "1"}', 'ready-timeout': '3s' });
    expect(r.code).toBe(1);
    const err = r.errors.join('\n');
    expect(err).toContain('web1 not ready within 3.00s');
    expect(err).toContain('READY_FAIL is set');
    expect(err).toMatch(/rolled back web1 to v2/);
    expect(r.outputs['rolled-back']).toBe('true');
    expect(r.outputs.version).toBe('v2');
    expect(r.summary).toContain('**web1**');
    expect(r.summary).toContain('Last readiness answer');
    expect(r.summary).toMatch(/listening on 127\.0\.0\.1/); // the process's last log lines
    expect(r.summary).toContain('Rolled back: web1 (→ v2)');
    expect(fleet.currentVersions()).toEqual(['v2', 'v2', 'v2', 'v2']);
    expect(await served()).toEqual(['v2', 'v2', 'v2', 'v2']);
    expect(readFileSync(fleet.upstreamFile, 'utf8')).not.toContain(' down;');
  });

  it('cancelled mid-rollout (SIGTERM): the post step rolls the switched instances back', async () => {
    const main = await deploy(
      { version: 'v4', env: '{"BOOT_DELAY_MS": "1500"}' },
      { signalAfter: { when: (out) => out.includes('batch 2/3: web2'), signal: 'SIGTERM' } },
    );
    expect(main.code).toBe(1);
    expect(main.errors.join('\n')).toContain('cancelled');
    const state = main.state;
    expect(state.isPost).toBe('true');
    expect(JSON.parse(state.rollout!).finished).toBe(false);
    const post = await deploy({ version: 'v4', env: '{"BOOT_DELAY_MS": "1500"}' }, { post: true, state });
    expect(post.errors).toEqual([]);
    expect(post.code).toBe(0);
    expect(post.summary).toContain('Post step: rolled back the cancelled rollout');
    expect(fleet.currentVersions()).toEqual(['v2', 'v2', 'v2', 'v2']);
    expect(await served()).toEqual(['v2', 'v2', 'v2', 'v2']);
    expect(readFileSync(fleet.upstreamFile, 'utf8')).not.toContain(' down;');
    // A post step with nothing unfinished does nothing.
    const idle = await deploy({ version: 'v2' }, { post: true, state: { isPost: 'true', rollout: post.state.rollout ?? '' } });
    expect(idle.code).toBe(0);
    expect(idle.summary).toBe('');
  });

  it('rollback mode puts every instance back on the kept previous version', async () => {
    const r = await deploy({ rollback: 'true' });
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.outputs.version).toBe('v1');
    expect(r.outputs['rolled-back']).toBe('true');
    expect(r.summary).toContain('Rollback to v1');
    expect(fleet.currentVersions()).toEqual(['v1', 'v1', 'v1', 'v1']);
    expect(await served()).toEqual(['v1', 'v1', 'v1', 'v1']);
  });

  it('a host that dies mid-deploy: rollback of the others, and the summary says who runs what', async () => {
    const web3 = fleet.hosts[2]!;
    const watcher = (async () => {
      for (let i = 0; i < 600; i++) {
        if (fleet.currentVersions()[1] === 'v5') {
          await fleet.ssh.servers[2]!.stop();
          try {
            process.kill(Number(readFileSync(join(web3.deployRoot, 'shared/app.pid'), 'utf8')), 'SIGKILL');
          } catch {}
          return true;
        }
        await new Promise((res) => setTimeout(res, 50));
      }
      return false;
    })();
    const r = await deploy({ version: 'v5', batches: '1' });
    expect(await watcher).toBe(true);
    expect(r.code).toBe(1);
    const err = r.errors.join('\n');
    expect(err).toMatch(/web3/);
    expect(err).toMatch(/the rollback failed too: web1 runs v1, web2 runs v1, web3 runs unknown: SSH to .* host unreachable/);
    expect(r.summary).toContain('The fleet is on mixed versions');
    // web3 was never switched (its stop failed), web1 and web2 are back
    expect(fleet.currentVersions()).toEqual(['v1', 'v1', 'v1', 'v1']);
    const s = await served();
    expect([s[0], s[1], s[3]]).toEqual(['v1', 'v1', 'v1']);
    // web3 stays out of traffic
    expect(readFileSync(fleet.upstreamFile, 'utf8')).toMatch(new RegExp(`server 127\\.0\\.0\\.1:${web3.appPort} down;`));
  });
});
