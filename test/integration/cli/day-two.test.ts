/**
 * Day two on a real hosts fleet (issue 19): sshd "hosts" on loopback behind nginx, driven through
 * `slipway` commands that read slipway.yml: status, releases, rollback (to the previous release or
 * any kept one, through the deploy's executor and lock), lock acquire/release/status, and the
 * audit trail each of them appends on every host.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../src/cli/main.ts';
import { requireServer } from '../../helpers/servers.ts';
import { node24, startHostsFleet, versionAt, type HostsFleet } from '../deploy/hosts-fleet.ts';
import { haproxyAvailable } from '../deploy/haproxy-server.ts';

const ok = requireServer('sshd') && requireServer('nginx');

/** The hosts part of an environment's deploy section for this fleet (the load balancer is added by each suite). */
const deploySection = (fleet: HostsFleet) => ({
  target: 'hosts',
  hosts: JSON.parse(fleet.hostsInput) as unknown,
  'ssh-key': '${{ secrets.DEPLOY_KEY }}',
  'known-hosts': readFileSync(fleet.ssh.knownHostsPath, 'utf8'),
  artifact: fleet.artifact,
  'start-command': [node24, 'server.js'],
  'ready-timeout': '15s',
  'ready-interval': '50ms',
});

describe.skipIf(!ok)('slipway day-two commands on a real hosts fleet (sshd + nginx)', () => {
  let fleet: HostsFleet;
  let dir = '';
  let key = '';
  const output: string[] = [];
  const cli = async (argv: string[]) => {
    let stdout = '';
    let stderr = '';
    const code = await main(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), env: { ...process.env, DEPLOY_KEY: key, USER: 'alice' }, cwd: dir });
    output.push(stdout, stderr);
    return { code, stdout, stderr };
  };

  beforeAll(async () => {
    fleet = await startHostsFleet(2);
    key = readFileSync(fleet.ssh.keyPath, 'utf8');
    dir = mkdtempSync(join(tmpdir(), 'slipway-day-two-'));
    const deploy = { ...deploySection(fleet), 'nginx-host': 'local', 'nginx-upstream-file': fleet.upstreamFile, 'nginx-command': fleet.nginxCommand };
    writeFileSync(join(dir, 'slipway.yml'), JSON.stringify({ version: 1, environments: { production: { url: fleet.url, deploy } } }, null, 2));
    for (const v of ['v1', 'v2', 'v3']) {
      const r = await cli(['deploy-rolling', '--env', 'production', '--version', v]);
      expect(r.code, r.stderr).toBe(0);
    }
  }, 180_000);
  afterAll(async () => {
    await fleet?.stop();
    // Secrets never printed: not the key, nor any line of it.
    const all = output.join('\n');
    for (const line of key.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'))) expect(all).not.toContain(line);
  });

  it('status: what runs where, since when, ready, not locked', async () => {
    const r = await cli(['status', '--env', 'production']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/production: every host runs v3; not locked/);
    expect(r.stdout).toMatch(/web1\s+v3\s+\d{4}-\d\d-\d\dT\S+\s+v2\s+in\s+yes \(answers v3\)/);
    const j = await cli(['status', '--env', 'production', '--json']);
    const doc = JSON.parse(j.stdout);
    expect(doc.hosts.map((h: { host: string; version: string; ready: boolean }) => [h.host, h.version, h.ready])).toEqual([['web1', 'v3', true], ['web2', 'v3', true]]);
    expect(doc.lock).toBeNull();
    // A host left drained in nginx's upstream (say, by a killed deploy) is shown, and fails the status.
    const upstream = readFileSync(fleet.upstreamFile, 'utf8');
    try {
      writeFileSync(fleet.upstreamFile, upstream.replace(/(server \S+);( # web2)/, '$1 down;$2'));
      const drained = await cli(['status', '--env', 'production']);
      expect(drained.stdout).toMatch(/web2\s+v3\s+\S+\s+v2\s+DRAINED\s+yes/);
      expect(drained.stdout).toMatch(/web1\s+v3\s+\S+\s+v2\s+in\s+yes/);
      expect(drained.code).toBe(1);
    } finally {
      writeFileSync(fleet.upstreamFile, upstream);
    }
  });

  it('releases: what a rollback can go back to', async () => {
    const r = await cli(['releases', '--env', 'production', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).releases).toEqual([
      { version: 'v1', current: false, previous: false },
      { version: 'v2', current: false, previous: true },
      { version: 'v3', current: true, previous: false },
    ]);
  });

  it('bad input changes nothing: an unknown environment (exit 2), a version not kept (exit 1)', async () => {
    const e = await cli(['rollback', '--env', 'prod']);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/--env: got "prod"; expected one of the environments in .*: production/);
    const v = await cli(['rollback', '--env', 'production', '--to', 'v9']);
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/--to "v9" is not kept on web1, web2; expected one of the releases kept on every host: v1, v2, v3; nothing was changed/);
    expect(fleet.currentVersions()).toEqual(['v3', 'v3']);
    const t = await cli(['lock', 'acquire', '--env', 'production', '--ttl', 'soon']);
    expect(t.code).toBe(2);
    expect(t.stderr).toMatch(/--ttl: got "soon"; expected a duration/);
  });

  it('lock: a held lock stops a rollback (and a second acquire), naming the holder; release gives it back', async () => {
    const a = await cli(['lock', 'acquire', '--env', 'production', '--reason', 'database maintenance', '--ttl', '30m']);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/production: locked by alice .*"database maintenance"/);
    const s = await cli(['lock', 'status', '--env', 'production']);
    expect(s.stdout).toMatch(/web1: held by alice .*"database maintenance"/);
    expect(s.stdout).toMatch(/web2: held by alice/);
    const again = await cli(['lock', 'acquire', '--env', 'production']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/is held by alice .*"database maintenance".*nothing was changed/);
    const rb = await cli(['rollback', '--env', 'production']);
    expect(rb.code).toBe(1);
    expect(rb.stderr).toMatch(/deploy lock on .* is held by alice .*"database maintenance"/);
    expect(fleet.currentVersions()).toEqual(['v3', 'v3']);
    expect((await cli(['status', '--env', 'production'])).stdout).toMatch(/LOCKED by alice/);
    const rel = await cli(['lock', 'release', '--env', 'production']);
    expect(rel.code).toBe(0);
    expect(rel.stdout).toMatch(/released the lock held by alice/);
    expect((await cli(['lock', 'status', '--env', 'production'])).stdout).toBe('web1: free\nweb2: free\n');
  });

  it('rollback --to any kept release, then back to the previous one, through readiness and the lock', async () => {
    const to = await cli(['rollback', '--env', 'production', '--to', 'v1']);
    expect(to.code, to.stderr).toBe(0);
    expect(fleet.currentVersions()).toEqual(['v1', 'v1']);
    expect(await versionAt(fleet.url)).toBe('v1');
    const back = await cli(['rollback', '--env', 'production', '--json']);
    expect(back.code, back.stderr).toBe(0);
    expect(JSON.parse(back.stdout)).toMatchObject({ ok: true, from: 'v1', to: 'v3' });
    expect(fleet.currentVersions()).toEqual(['v3', 'v3']);
    expect((await cli(['lock', 'status', '--env', 'production'])).stdout).toBe('web1: free\nweb2: free\n');
  }, 120_000);

  it('audit: one line per operation on every host, shown as a table', async () => {
    for (const h of fleet.hosts) {
      const lines = readFileSync(join(h.deployRoot, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.map((l) => [l.action, l.version ?? null])).toEqual([['deploy', 'v1'], ['deploy', 'v2'], ['deploy', 'v3'], ['lock', null], ['unlock', null], ['deploy', 'v1'], ['rollback', 'v3']]);
    }
    const j = await cli(['audit', '--env', 'production', '--since', '1h', '--json']);
    expect(j.code).toBe(0);
    const entries = JSON.parse(j.stdout).entries;
    expect(entries.map((e: { action: string; version?: string; hosts: string[] }) => [e.action, e.version ?? null, e.hosts.join(',')])).toEqual([
      ['deploy', 'v1', 'web1,web2'],
      ['deploy', 'v2', 'web1,web2'],
      ['deploy', 'v3', 'web1,web2'],
      ['lock', null, 'web1,web2'],
      ['unlock', null, 'web1,web2'],
      ['deploy', 'v1', 'web1,web2'],
      ['rollback', 'v3', 'web1,web2'],
    ]);
    expect(entries[3]).toMatchObject({ actor: 'alice', reason: 'database maintenance' });
    expect(entries[5]).toMatchObject({ actor: 'alice', from: 'v3', reason: 'rollback to v1', outcome: 'succeeded' });
    expect(entries[6]).toMatchObject({ actor: 'alice', from: 'v1', reason: 'rollback', outcome: 'succeeded' });
    const t = await cli(['audit', '--env', 'production']);
    expect(t.stdout).toMatch(/^TIME\s+ACTOR\s+ACTION\s+VERSION\s+OUTCOME\s+HOSTS\s+RUN/);
    expect(t.stdout).toMatch(/alice\s+deploy\s+v3 → v1\s+succeeded\s+all/);
    expect(t.stdout).toMatch(/alice\s+rollback\s+v1 → v3\s+succeeded\s+all/);
    const none = await cli(['audit', '--env', 'production', '--since', '2099-01-01']);
    expect(none.stdout).toMatch(/nothing in the audit log since 2099-01-01/);
  });
});

describe.skipIf(!ok || !haproxyAvailable())('slipway status behind HAProxy (sshd + HAProxy runtime API)', () => {
  let fleet: HostsFleet;
  let dir = '';
  let key = '';
  const cli = async (argv: string[]) => {
    let stdout = '';
    let stderr = '';
    const code = await main(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), env: { ...process.env, DEPLOY_KEY: key, USER: 'alice' }, cwd: dir });
    return { code, stdout, stderr };
  };
  const admin = (command: string) => execFileSync('socat', ['-', `UNIX-CONNECT:${fleet.haproxy!.socket}`], { input: `${command}\n`, encoding: 'utf8' });

  beforeAll(async () => {
    fleet = await startHostsFleet(2, { balancer: 'haproxy' });
    key = readFileSync(fleet.ssh.keyPath, 'utf8');
    dir = mkdtempSync(join(tmpdir(), 'slipway-day-two-haproxy-'));
    const deploy = { ...deploySection(fleet), 'haproxy-host': 'local', 'haproxy-socket': fleet.haproxy!.socket, 'haproxy-state-file': fleet.haproxy!.stateFile };
    writeFileSync(join(dir, 'slipway.yml'), JSON.stringify({ version: 1, environments: { production: { url: fleet.url, deploy } } }, null, 2));
    const r = await cli(['deploy-rolling', '--env', 'production', '--version', 'v1']);
    expect(r.code, r.stderr).toBe(0);
  }, 180_000);
  afterAll(async () => {
    await fleet?.stop();
  });

  it('reads each server\'s state from HAProxy\'s runtime API: in, or DRAINED (and then the status fails)', async () => {
    const r = await cli(['status', '--env', 'production']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^HOST\s+VERSION\s+SINCE\s+PREVIOUS\s+HAPROXY\s+READY/m);
    expect(r.stdout).toMatch(/web1\s+v1\s+\S+\s+in\s+yes \(answers v1\)/);
    // A server left draining (say, by a killed deploy) is what HAProxy says, not what a file says.
    admin('set server app/web2 state drain');
    try {
      const drained = await cli(['status', '--env', 'production']);
      expect(drained.stdout).toMatch(/web2\s+v1\s+\S+\s+DRAINED\s+yes/);
      expect(drained.code).toBe(1);
    } finally {
      admin('set server app/web2 state ready');
    }
  }, 60_000);
});
