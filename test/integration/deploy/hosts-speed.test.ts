/**
 * Rollout speed on the hosts target (issue 16 item 7), counted on a real fleet (sshd + nginx on
 * 127.0.0.1), never timed: the release is on every host before the first instance leaves traffic;
 * each instance is stopped and started by ONE SSH command, opened while nginx takes it out of
 * traffic and stopping it only after that; the fleet's state (with the releases each host has) is
 * read once; each
 * batch boundary is one nginx process (check, reload and the wait for the old workers together).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exec as realExec, type Exec } from '../../../src/lib/exec.ts';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { HostsTarget } from '../../../src/deploy/hosts.ts';
import { SshClient } from '../../../src/deploy/ssh.ts';
import { rollout, type InstanceRef } from '../../../src/deploy/engine.ts';
import { parseBatches } from '../../../src/deploy/batches.ts';
import { requireServer } from '../../helpers/servers.ts';
import { node24, startHostsFleet, versionAt, type HostsFleet } from './hosts-fleet.ts';

const ok = requireServer('sshd') && requireServer('nginx');
const readiness = { threshold: 1, timeoutMs: 15_000, intervalMs: 100, minReadyMs: 0, requestTimeoutMs: 1000 };

describe.skipIf(!ok)('hosts target: round trips per rollout (real sshd + nginx)', () => {
  let fleet: HostsFleet;
  beforeAll(async () => {
    fleet = await startHostsFleet(3);
  }, 60_000);
  afterAll(async () => {
    await fleet?.stop();
  });

  /** A target whose commands (ssh to the hosts, the local nginx calls) are recorded in order. */
  function traced() {
    const commands: { host?: string; cmd: string; at: number }[] = [];
    const exec: Exec = (file, args, opts) => {
      if (file === 'ssh' && args.includes('--')) {
        const port = args[args.indexOf('-p') + 1];
        commands.push({ host: fleet.hosts.find((h) => String(h.port) === port)?.id, cmd: args[args.indexOf('--') + 1]!, at: performance.now() });
      } else if (file !== 'ssh') commands.push({ cmd: [file, ...args].join(' '), at: performance.now() });
      return realExec(file, args, opts);
    };
    const log = new MemoryReporter();
    const target = new HostsTarget({
      hosts: fleet.hosts,
      ssh: new SshClient({ keyPath: fleet.ssh.keyPath, knownHostsPath: fleet.ssh.knownHostsPath, exec }),
      artifact: fleet.artifact,
      start: [node24, 'server.js'],
      readyPath: '/ready',
      keepReleases: 3,
      drainTimeoutMs: 10_000,
      nginx: { host: 'local', file: fleet.upstreamFile, name: 'app', command: fleet.nginxCommand },
      exec,
      log,
    });
    return { target, commands, log };
  }
  const pidOf = (k: number) => readFileSync(join(fleet.hosts[k]!.deployRoot, 'shared/app.pid'), 'utf8').trim();

  it('first rollout', async () => {
    const { target } = traced();
    const r = await rollout(target, 'v1', { batches: parseBatches('100%'), readiness, log: new MemoryReporter() });
    await target.close();
    expect(r.status, r.failure?.reason).toBe('succeeded');
  }, 60_000);

  it('uploads everywhere before the first drain; one SSH command stops and starts each instance; one nginx process per batch boundary', async () => {
    const { target, commands } = traced();
    const pids = fleet.hosts.map((_, k) => pidOf(k));
    // At the first drain: the release is on every host, and no instance was touched yet.
    let atFirstDrain: { released: boolean[]; pids: string[] } | undefined;
    // Every change that takes instances out: when it ended, and the pids at that moment.
    const outs: { out: string[]; endedAt: number; pids: string[] }[] = [];
    const drain = target.drain.bind(target);
    target.drain = async (insts: InstanceRef[], signal: AbortSignal) => {
      atFirstDrain ??= { released: fleet.hosts.map((h) => existsSync(join(h.deployRoot, 'releases/v2/server.js'))), pids: fleet.hosts.map((_, k) => pidOf(k)) };
      await drain(insts, signal);
      outs.push({ out: insts.map((i) => i.id), endedAt: performance.now(), pids: fleet.hosts.map((_, k) => pidOf(k)) });
    };
    const swap = target.swap.bind(target);
    target.swap = async (back: InstanceRef[], out: InstanceRef[], signal: AbortSignal) => {
      await swap(back, out, signal);
      outs.push({ out: out.map((i) => i.id), endedAt: performance.now(), pids: fleet.hosts.map((_, k) => pidOf(k)) });
    };
    const r = await rollout(target, 'v2', { batches: parseBatches('1'), readiness, log: new MemoryReporter() });
    await target.close();
    expect(r.status, r.failure?.reason).toBe('succeeded');
    expect(atFirstDrain).toEqual({ released: [true, true, true], pids });

    for (const [k, h] of fleet.hosts.entries()) {
      const mine = commands.filter((c) => c.host === h.id).map((c) => c.cmd);
      // Read the state once (instances + currentVersion; it lists the releases too), stop+start, finish.
      const starts = mine.filter((c) => c.includes('nohup "$@"'));
      expect(starts, h.id).toHaveLength(1);
      expect(starts[0], h.id).toContain('stop_pid');
      expect(mine.filter((c) => c.includes('stop_pid') && !c.includes('nohup')), `${h.id}: a separate stop`).toHaveLength(0);
      expect(mine.filter((c) => c.includes('readlink current')), `${h.id}: state reads`).toHaveLength(1);
      expect(mine.filter((c) => c.includes('then echo yes; else echo no')), `${h.id}: a separate release check`).toHaveLength(0);
      expect(mine, h.id).toHaveLength(3);
      // The stop+start command was already running while nginx took the instance out, and the old
      // copy was still the one running when that change returned (it stops on go, after the drain).
      const out = outs.find((o) => o.out.includes(h.id))!;
      expect(commands.find((c) => c.host === h.id && c.cmd.includes('stop_pid'))!.at, `${h.id}: the SSH command overlaps the drain`).toBeLessThan(out.endedAt);
      expect(out.pids[k], `${h.id}: not stopped before the drain ended`).toBe(pids[k]);
      expect(pidOf(k)).not.toBe(pids[k]);
      expect(await versionAt(`http://127.0.0.1:${h.appPort}`)).toBe('v2');
    }

    // nginx: besides the check before the rollout (one -T: a check that prints the pid file), every change is ONE process: drain web1,
    // web1 in + web2 out, web2 in + web3 out, web3 in. No bare reload, no separate ps or wait.
    const local = commands.filter((c) => c.host === undefined).map((c) => c.cmd);
    const reloads = local.filter((c) => c.includes(' -s reload'));
    expect(reloads).toHaveLength(4);
    for (const c of reloads) expect(c.startsWith('sh -c ')).toBe(true);
    expect(local.filter((c) => !c.startsWith('sh -c '))).toEqual([expect.stringMatching(/ -T -q$/)]);
    expect(local.filter((c) => /\bps -o\b/.test(c) && !c.includes(' -s reload'))).toEqual([]);
  }, 90_000);

  it('a batch boundary nginx rejects: the next instance, whose SSH command was already waiting, is never stopped', async () => {
    const { target, commands } = traced();
    const pids = fleet.hosts.map((_, k) => pidOf(k));
    const conf = fleet.nginxCommand[fleet.nginxCommand.indexOf('-c') + 1]!;
    const good = readFileSync(conf, 'utf8');
    // The second boundary (web1 back in, web2 out) meets a configuration nginx -t rejects.
    const swap = target.swap.bind(target);
    let broken = false;
    target.swap = async (back: InstanceRef[], out: InstanceRef[], signal: AbortSignal) => {
      if (broken) return swap(back, out, signal);
      broken = true;
      writeFileSync(conf, `${good}\nthis_is_not_a_directive on;\n`);
      try {
        return await swap(back, out, signal);
      } finally {
        writeFileSync(conf, good);
      }
    };
    const r = await rollout(target, 'v3', { batches: parseBatches('1'), readiness, log: new MemoryReporter() });
    await target.close();
    expect(r.status, r.failure?.reason).toBe('rolled-back');
    expect(r.failure).toMatchObject({ phase: 'drain' });
    expect(r.failure?.reason).toMatch(/nginx -t on this machine rejected the configuration/);
    const web2 = fleet.hosts[1]!;
    // web2's stop+start command had opened beside the reload, got no go, and changed nothing.
    expect(commands.filter((c) => c.host === web2.id && c.cmd.includes('stop_pid'))).toHaveLength(1);
    expect(pidOf(1), 'web2 still runs the same process').toBe(pids[1]);
    expect(pidOf(2), 'web3 untouched').toBe(pids[2]);
    expect(existsSync(join(web2.deployRoot, '.current.tmp')), 'no link left half-made').toBe(false);
    for (const h of fleet.hosts) expect(await versionAt(`http://127.0.0.1:${h.appPort}`), h.id).toBe('v2');
  }, 90_000);
});
