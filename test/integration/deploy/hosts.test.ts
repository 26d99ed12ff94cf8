/**
 * The hosts target against real sshd and nginx, driven through run() in-process: SSH failures
 * that must change nothing (wrong key, unknown host key), nginx -t failing before any switch,
 * release layout and pruning, and a rollout over several hosts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { parseInputs } from '../../../src/manifest/fields.ts';
import type { ActionContext } from '../../../src/runner/context.ts';
import { spec } from '../../../src/actions/deploy-rolling/inputs.ts';
import { run } from '../../../src/actions/deploy-rolling/run.ts';
import { requireServer } from '../../helpers/servers.ts';
import { node24, startHostsFleet, versionAt, type HostsFleet } from './hosts-fleet.ts';

const ok = requireServer('sshd') && requireServer('nginx');

function context(log = new MemoryReporter()): ActionContext & { log: MemoryReporter; state: Record<string, string> } {
  const state: Record<string, string> = {};
  return {
    log,
    state,
    github: {} as ActionContext['github'],
    saveState: (n, v) => (state[n] = v),
    getState: (n) => state[n] ?? '',
    signal: new AbortController().signal,
    tempDir: mkdtempSync(join(tmpdir(), 'slipway-runner-temp-')),
    workspace: process.cwd(),
    env: process.env,
  };
}

describe.skipIf(!ok)('hosts target (real sshd + nginx)', () => {
  let fleet: HostsFleet;
  let raw: Record<string, string>;
  const go = async (over: Record<string, string>) => {
    const ctx = context();
    const inputs = await parseInputs(spec, (n) => ({ ...raw, ...over })[n], (s) => ctx.log.mask(s));
    const r = await run(inputs, ctx);
    return { ...r, ctx };
  };

  beforeAll(async () => {
    fleet = await startHostsFleet(2);
    raw = {
      target: 'hosts',
      hosts: fleet.hostsInput,
      'ssh-key': readFileSync(fleet.ssh.keyPath, 'utf8'),
      'known-hosts': readFileSync(fleet.ssh.knownHostsPath, 'utf8'),
      artifact: fleet.artifact,
      'start-command': JSON.stringify([node24, 'server.js']),
      'nginx-host': 'local',
      'nginx-upstream-file': fleet.upstreamFile,
      'nginx-command': JSON.stringify(fleet.nginxCommand),
      'ready-timeout': '15s',
      'ready-interval': '100ms',
      'keep-releases': '2',
    };
    const r = await go({ version: 'r1', batches: '100%' });
    expect(r.failure).toBeUndefined();
  }, 120_000);
  afterAll(async () => fleet?.stop());

  it('SSH authentication failure: a clear error, nothing changed', async () => {
    const other = mkdtempSync(join(tmpdir(), 'slipway-key-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(other, 'k')]);
    const before = readFileSync(fleet.upstreamFile, 'utf8');
    await expect(go({ version: 'r2', 'ssh-key': readFileSync(join(other, 'k'), 'utf8') })).rejects.toThrow(/SSH to deploy@127\.0\.0\.1:\d+: authentication failed \(.*Permission denied.*\): check the 'ssh-key' input/);
    expect(fleet.currentVersions()).toEqual(['r1', 'r1']);
    expect(readFileSync(fleet.upstreamFile, 'utf8')).toBe(before);
    expect(existsSync(join(fleet.hosts[0]!.deployRoot, 'releases/r2'))).toBe(false);
  });

  it('unknown host key: a clear error, nothing run on the host', async () => {
    const wrong = fleet.ssh.servers[1]!.hostKeyLine.replace(/:\d+\]/, `:${fleet.hosts[0]!.port}]`);
    await expect(go({ version: 'r2', 'known-hosts': wrong })).rejects.toThrow(/the host key is not trusted/);
    await expect(go({ version: 'r2', 'known-hosts': '' , 'host-key': '' })).rejects.toThrow(/Host key verification is on/);
    expect(fleet.currentVersions()).toEqual(['r1', 'r1']);
    expect(existsSync(join(fleet.hosts[0]!.deployRoot, 'releases/r2'))).toBe(false);
  });

  it('the host-key input (bare public key) is accepted for every host', async () => {
    const pubs = fleet.ssh.servers.map((s) => s.hostKeyLine.split(' ').slice(1).join(' '));
    const r = await go({ version: 'r1', 'known-hosts': '', 'host-key': pubs.join('\n') });
    expect(r.failure).toBeUndefined();
    expect(r.summary).toContain('already deployed');
  });

  it('nginx -t failing switches nothing', async () => {
    const bad = mkdtempSync(join(tmpdir(), 'slipway-badnginx-'));
    const conf = join(bad, 'nginx.conf');
    writeFileSync(conf, 'this is not nginx config;\n');
    const r = await go({ version: 'r2', 'nginx-command': JSON.stringify(['nginx', '-p', `${bad}/`, '-c', conf]) });
    expect(r.failure).toMatch(/nginx -t on this machine rejected the configuration, nothing was switched/);
    expect(fleet.currentVersions()).toEqual(['r1', 'r1']);
  });

  it('rolls out, keeps releases side by side, prunes beyond keep-releases', async () => {
    for (const v of ['r2', 'r3', 'r4']) {
      const r = await go({ version: v });
      expect(r.failure).toBeUndefined();
    }
    expect(fleet.currentVersions()).toEqual(['r4', 'r4']);
    const rel = readdirSync(join(fleet.hosts[0]!.deployRoot, 'releases')).sort();
    expect(rel).toEqual(['r3', 'r4']);
    expect(await versionAt(fleet.nginx!.url)).toBe('r4');
  });
});
