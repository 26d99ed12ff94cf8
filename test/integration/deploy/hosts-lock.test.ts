/**
 * The deploy lock on the hosts target (issue 16, item 4), against real sshd + nginx: two deploys
 * started together — exactly one succeeds, the fleet ends on its version, the other changed
 * nothing; a held lock is named (and waited for with lock-wait); an expired lock is broken with a
 * warning naming the old holder; a cancelled rollout keeps the lock until its post step rolled
 * back and released it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { parseInputs } from '../../../src/manifest/fields.ts';
import type { ActionContext } from '../../../src/runner/context.ts';
import { spec } from '../../../src/actions/deploy-rolling/inputs.ts';
import { post, run } from '../../../src/actions/deploy-rolling/run.ts';
import { requireServer } from '../../helpers/servers.ts';
import { node24, startHostsFleet, versionAt, type HostsFleet } from './hosts-fleet.ts';

const ok = requireServer('sshd') && requireServer('nginx');

type Ctx = ActionContext & { log: MemoryReporter; state: Record<string, string> };
function context(actor: string, signal = new AbortController().signal, env: NodeJS.ProcessEnv = process.env): Ctx {
  const state: Record<string, string> = {};
  return {
    log: new MemoryReporter(),
    state,
    github: { actor, runUrl: `https://github.com/acme/app/actions/runs/${actor.length}` } as ActionContext['github'],
    saveState: (n, v) => (state[n] = v),
    getState: (n) => state[n] ?? '',
    signal,
    tempDir: mkdtempSync(join(tmpdir(), 'slipway-runner-temp-')),
    workspace: process.cwd(),
    env,
  };
}

describe.skipIf(!ok)('deploy lock on hosts (real sshd + nginx)', () => {
  let fleet: HostsFleet;
  let raw: Record<string, string>;
  let uid = 0;
  let gid = 0;
  const go = async (over: Record<string, string>, ctx = context('ci')) => {
    const inputs = await parseInputs(spec, (n) => ({ ...raw, ...over })[n], () => {});
    return run(inputs, ctx);
  };
  const lockDirs = () => fleet.hosts.filter((h) => existsSync(join(h.deployRoot, '.slipway-lock'))).map((h) => h.id);
  const hasRelease = (v: string) => fleet.hosts.filter((h) => existsSync(join(h.deployRoot, 'releases', v))).map((h) => h.id);
  /** A lock left by someone else on one host (as the deploy user would leave it). */
  const plant = (k: number, untilMs: number) => {
    const d = join(fleet.hosts[k]!.deployRoot, '.slipway-lock');
    mkdirSync(d);
    const h = { token: 'other-token', actor: 'mallory', runUrl: 'https://github.com/acme/app/actions/runs/99', version: 'v9', reason: 'hotfix', since: new Date(Date.now() - 3_600_000).toISOString(), until: new Date(untilMs).toISOString() };
    writeFileSync(join(d, 'token'), 'other-token\n');
    writeFileSync(join(d, 'until'), `${Math.floor(untilMs / 1000)}\n`);
    writeFileSync(join(d, 'holder.json'), JSON.stringify(h) + '\n');
    for (const f of ['', 'token', 'until', 'holder.json']) chownSync(join(d, f), uid, gid);
    return d;
  };

  beforeAll(async () => {
    fleet = await startHostsFleet(2);
    uid = Number(execFileSync('id', ['-u', fleet.ssh.user]).toString());
    gid = Number(execFileSync('id', ['-g', fleet.ssh.user]).toString());
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
      'ready-interval': '50ms',
    };
    expect((await go({ version: 'v1' })).failure).toBeUndefined();
  }, 120_000);
  afterAll(async () => fleet?.stop());

  it('two deploys started together: exactly one succeeds, the fleet ends on its version, the other changed nothing', async () => {
    for (let round = 0; round < 3; round++) {
      const [a, b] = [`a${round}`, `b${round}`];
      const got = await Promise.allSettled([go({ version: a }, context('alice')), go({ version: b }, context('bob'))]);
      const won = got.map((g) => g.status === 'fulfilled' && g.value.failure === undefined);
      expect(won.filter(Boolean), JSON.stringify(got.map((g) => (g.status === 'fulfilled' ? g.value.failure ?? 'ok' : String(g.reason))))).toHaveLength(1);
      const winner = won[0] ? a : b;
      const loser = won[0] ? b : a;
      const lost = got[won[0] ? 1 : 0]!;
      expect(lost.status).toBe('rejected');
      expect(String((lost as PromiseRejectedResult).reason)).toMatch(new RegExp(`the deploy lock on web\\d \\(.*\\.slipway-lock\\) is held by ${won[0] ? 'alice' : 'bob'} \\(https://github\\.com/acme/app/actions/runs/\\d+\\) for ${winner}, "deploy ${winner}", since .*; nothing was changed`));
      expect(fleet.currentVersions()).toEqual([winner, winner]);
      expect(await versionAt(fleet.nginx!.url)).toBe(winner);
      expect(hasRelease(loser)).toEqual([]);
      expect(lockDirs()).toEqual([]);
    }
  }, 180_000);

  it('a held lock is named; lock-wait waits for it; nothing changes while it is held', async () => {
    const d = plant(1, Date.now() + 3_600_000);
    await expect(go({ version: 'v2' })).rejects.toThrow(/the deploy lock on web2 \(.*\) is held by mallory \(https:\/\/github\.com\/acme\/app\/actions\/runs\/99\) for v9, "hotfix", since .*; nothing was changed \(give lock-wait to wait for it\)/);
    expect(lockDirs()).toEqual(['web2']); // web1's part was given back, mallory's stays
    expect(hasRelease('v2')).toEqual([]);
    setTimeout(() => rmSync(d, { recursive: true, force: true }), 1500);
    const ctx = context('carol');
    const r = await go({ version: 'v2', 'lock-wait': '20s' }, ctx);
    expect(r.failure).toBeUndefined();
    expect(ctx.log.lines.map((l) => l.message).join('\n')).toMatch(/held by mallory .*: waiting up to/);
    expect(fleet.currentVersions()).toEqual(['v2', 'v2']);
    expect(lockDirs()).toEqual([]);
  }, 60_000);

  it('an expired lock is broken with a warning that names the old holder', async () => {
    plant(0, Date.now() - 60_000);
    const ctx = context('dave');
    const r = await go({ version: 'v3' }, ctx);
    expect(r.failure).toBeUndefined();
    expect(ctx.log.lines.filter((l) => l.level === 'warning').map((l) => l.message)).toContainEqual(expect.stringMatching(/broke the expired deploy lock on web1 \(.*\): it was held by mallory \(https:\/\/github\.com\/acme\/app\/actions\/runs\/99\) for v9, "hotfix"/));
    expect(lockDirs()).toEqual([]);
  }, 60_000);

  it('a cancelled rollout keeps the lock until the post step rolled back and released it', async () => {
    const ctl = new AbortController();
    const env = { ...process.env, ...Object.fromEntries(Object.entries({ ...raw, version: 'v4' }).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v])) };
    const ctx = context('erin', ctl.signal, env);
    const p = go({ version: 'v4' }, ctx);
    const t0 = Date.now();
    while (!ctx.log.lines.some((l) => /web1: v4 ready/.test(l.message)) && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 20));
    ctl.abort();
    const r = await p;
    expect(r.failure).toMatch(/cancelled/);
    expect(lockDirs()).toEqual(['web1', 'web2']);
    await expect(go({ version: 'v5' })).rejects.toThrow(/held by erin/);
    const postCtx = context('erin', new AbortController().signal, env);
    Object.assign(postCtx.state, ctx.state);
    const pr = await post(await parseInputs(spec, (n) => ({ ...raw, version: 'v4' })[n], () => {}), postCtx);
    expect(pr && pr.failure).toBeUndefined();
    expect(fleet.currentVersions()).toEqual(['v3', 'v3']);
    expect(lockDirs()).toEqual([]);
    expect(postCtx.state['deploy-lock']).toBe('');
  }, 90_000);
});
