/**
 * HAProxy in front of the hosts target (issue 16, item 1), real HAProxy + sshd on 127.0.0.1,
 * driven through its runtime API (no reload, ever): under 32 keep-alive connections from a client
 * that never retries, a rolling deploy, a rollback, every canary step and a blue/green switch and
 * switch-back drop no request (0 non-2xx, 0 socket errors) and HAProxy's master keeps its pid and
 * its workers; the runtime state is saved in the server-state-file and survives a reload; faults
 * (missing socket, missing server) fail before traffic moves with one line that says where.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { parseInputs } from '../../../src/manifest/fields.ts';
import type { ActionContext } from '../../../src/runner/context.ts';
import { spec } from '../../../src/actions/deploy-rolling/inputs.ts';
import { run } from '../../../src/actions/deploy-rolling/run.ts';
import { HaproxyBackend, haproxyWeights, localHaproxyHost } from '../../../src/deploy/haproxy.ts';
import { requireServer } from '../../helpers/servers.ts';
import { haproxyAvailable } from './haproxy-server.ts';
import { node24, startHostsFleet, type HostsFleet } from './hosts-fleet.ts';
import { describeLoad, freeOffset, gateServer, measure, share, startLoad, type LoadStats } from './load.ts';

const ok = requireServer('sshd') && haproxyAvailable();

function context(): ActionContext & { log: MemoryReporter } {
  return {
    log: new MemoryReporter(),
    github: {} as ActionContext['github'],
    saveState: () => {},
    getState: () => '',
    signal: new AbortController().signal,
    tempDir: mkdtempSync(join(tmpdir(), 'slipway-runner-temp-')),
    workspace: process.cwd(),
    env: process.env,
  };
}

describe('haproxyWeights', () => {
  it('keeps weights up to 256 and scales larger ones keeping their ratio', () => {
    expect([...haproxyWeights(new Map([['a', 1], ['b', 3]]))]).toEqual([['a', 1], ['b', 3]]);
    expect([...haproxyWeights(new Map([['a', 999], ['b', 1]]))]).toEqual([['a', 256], ['b', 1]]);
  });
});

describe.skipIf(!ok)('hosts behind HAProxy (runtime API, no reloads), under keep-alive load without retries', () => {
  let fleet: HostsFleet;
  let raw: Record<string, string>;
  let offset: number;
  const loads: { what: string; s: LoadStats }[] = [];
  const go = async (over: Record<string, string>) => {
    const ctx = context();
    const inputs = await parseInputs(spec, (n) => ({ ...raw, ...over })[n], () => {});
    const r = await run(inputs, ctx);
    return { ...r, log: ctx.log.text() };
  };
  const admin = (cmd: string) => execFileSync('socat', ['stdio', `UNIX-CONNECT:${fleet.haproxy!.socket}`], { input: `${cmd}\n` }).toString();
  const workers = () => execFileSync('pgrep', ['-P', String(fleet.haproxy!.pid)]).toString().trim();
  /** Runs fn under 32 keep-alive connections; the load must see no failure at all. */
  const underLoad = async <T,>(what: string, fn: () => Promise<T>): Promise<T> => {
    const load = startLoad(fleet.url, { concurrency: 32, keepAlive: true });
    try {
      return await fn();
    } finally {
      const s = await load.stop();
      loads.push({ what, s });
      expect(s.failed, `${what}: ${describeLoad(s)} ${JSON.stringify(s.errors)}`).toBe(0);
      expect(s.ok).toBeGreaterThan(100);
    }
  };

  beforeAll(async () => {
    fleet = await startHostsFleet(4, { balancer: 'haproxy' });
    offset = await freeOffset(fleet.hosts.map((h) => h.appPort), 50);
    raw = {
      target: 'hosts',
      hosts: fleet.hostsInput,
      'ssh-key': readFileSync(fleet.ssh.keyPath, 'utf8'),
      'known-hosts': readFileSync(fleet.ssh.knownHostsPath, 'utf8'),
      artifact: fleet.artifact,
      'start-command': JSON.stringify([node24, 'server.js']),
      'haproxy-host': 'local',
      'haproxy-socket': fleet.haproxy!.socket,
      'haproxy-state-file': fleet.haproxy!.stateFile,
      'ready-timeout': '15s',
      'ready-interval': '50ms',
      'drain-timeout': '5s',
      'blue-green-port-offset': String(offset),
    };
    expect((await go({ version: 'v1', batches: '100%' })).failure).toBeUndefined();
  }, 120_000);
  afterAll(async () => {
    for (const l of loads) console.log(`HAProxy, 32 keep-alive connections, no retries: ${l.what}: ${describeLoad(l.s)}`);
    await fleet?.stop();
  });

  it('rolling deploy and rollback: no request lost, no reload', async () => {
    const w0 = workers();
    const r = await underLoad('rolling v1→v2', () => go({ version: 'v2' }));
    expect(r.failure, r.log).toBeUndefined();
    expect(fleet.currentVersions()).toEqual(['v2', 'v2', 'v2', 'v2']);
    const back = await underLoad('rollback v2→v1', () => go({ rollback: 'true' }));
    expect(back.failure, back.log).toBeUndefined();
    expect(fleet.currentVersions()).toEqual(['v1', 'v1', 'v1', 'v1']);
    expect(workers()).toBe(w0); // the same worker processes: never reloaded
    expect(admin('show servers state app')).not.toMatch(/ app \d+ web\d \S+ \d+ [^0] /); // every server ready again
    // The state file holds HAProxy's own `show servers state`.
    expect(readFileSync(fleet.haproxy!.stateFile, 'utf8')).toMatch(/^1\n# be_id be_name srv_id srv_name/);
  }, 120_000);

  it('canary weights at each step, then blue/green switch and switch back: no request lost, no reload', async () => {
    const w0 = workers();
    const seen: number[] = [];
    const gate = await gateServer(async () => {
      seen.push(share(await measure(fleet.url, 400, 8), 'v3'));
      return true;
    });
    try {
      const r = await underLoad('canary 10%,50%,100% v1→v3', () => go({ version: 'v3', strategy: 'canary', 'canary-steps': '10%,50%,100%', 'gate-url': gate.url }));
      expect(r.failure, r.log).toBeUndefined();
      expect(Math.abs(seen[0]! - 0.1)).toBeLessThanOrEqual(0.06);
      expect(Math.abs(seen[1]! - 0.5)).toBeLessThanOrEqual(0.06);
      expect(admin('show servers state app').split('\n').filter((l) => / web\d /.test(l)).map((l) => l.split(' ')[7])).toEqual(['1', '1', '1', '1']);
      const bg = await underLoad('blue/green switch v3→v4', () => go({ version: 'v4', strategy: 'blue-green', 'keep-previous': '10m' }));
      expect(bg.failure, bg.log).toBeUndefined();
      expect(Object.keys((await measure(fleet.url, 200, 8)).byVersion), admin('show servers state app') + bg.log).toEqual(['v4']);
      expect(admin('show servers state app')).toContain(` 127.0.0.1 `);
      expect(admin('show servers state app')).toContain(` ${fleet.hosts[0]!.appPort + offset} `);
      const back = await underLoad('blue/green switch back v4→v3', () => go({ rollback: 'true', strategy: 'blue-green' }));
      expect(back.failure, back.log).toBeUndefined();
      expect(Object.keys((await measure(fleet.url, 200, 8)).byVersion)).toEqual(['v3']);
      expect(workers()).toBe(w0);
    } finally {
      await gate.close();
    }
  }, 180_000);

  it('over SSH (socat on the HAProxy host): a rolling deploy, no request lost', async () => {
    const sshHost = `${fleet.ssh.user}@127.0.0.1:${fleet.hosts[0]!.port}`;
    const stateFile = join(fleet.hosts[0]!.deployRoot, 'haproxy-state');
    const r = await underLoad('rolling over SSH v3→v5', () => go({ version: 'v5', 'haproxy-host': sshHost, 'haproxy-state-file': stateFile }));
    expect(r.failure, r.failure).toBeUndefined();
    expect(fleet.currentVersions()).toEqual(['v5', 'v5', 'v5', 'v5']);
    expect(readFileSync(stateFile, 'utf8')).toMatch(/^1\n# be_id/);
    const bad = await go({ version: 'v6', 'haproxy-host': sshHost, 'haproxy-socket': '/nonexistent/admin.sock' });
    expect(bad.failure).toMatch(/prepare failed, nothing was switched: HAProxy on deploy@127\.0\.0\.1:\d+ \(socket \/nonexistent\/admin\.sock, backend app\): .*the socket \/nonexistent\/admin\.sock does not exist/);
    expect(fleet.currentVersions()).toEqual(['v5', 'v5', 'v5', 'v5']);
  }, 120_000);

  it('the runtime state survives a reload (server-state-file)', async () => {
    const b = new HaproxyBackend({ host: localHaproxyHost(), socket: fleet.haproxy!.socket, backend: 'app', stateFile: fleet.haproxy!.stateFile, servers: fleet.hosts.map((h) => ({ id: h.id, address: `127.0.0.1:${h.appPort}` })) });
    await b.adopt();
    await b.setDown(['web2'], true);
    const w0 = workers();
    await fleet.haproxy!.reload();
    expect(workers()).not.toBe(w0);
    const line = admin('show servers state app').split('\n').find((l) => / web2 /.test(l))!;
    expect(Number(line.split(' ')[6]) & 1, line).toBe(1); // still in maintenance after the reload
    await b.setDown(['web2'], false);
    expect(Number(admin('show servers state app').split('\n').find((l) => / web2 /.test(l))!.split(' ')[6])).toBe(0);
  }, 60_000);

  it('faults fail before traffic moves, with one line that says what and where', async () => {
    const before = fleet.currentVersions();
    const r1 = await go({ version: 'v8', 'haproxy-socket': '/tmp/no-such-dir/admin.sock' });
    expect(r1.failure).toMatch(/prepare failed, nothing was switched: HAProxy on this machine \(socket \/tmp\/no-such-dir\/admin.sock, backend app\): the socket does not exist/);
    const r2 = await go({ version: 'v8', 'haproxy-backend': 'nope' });
    expect(r2.failure).toMatch(/HAProxy on this machine \(socket .*, backend nope\): Can't find backend/);
    const renamed = JSON.parse(fleet.hostsInput).map((h: { name: string }, k: number) => ({ ...h, name: k === 2 ? 'web9' : h.name }));
    const r3 = await go({ version: 'v8', hosts: JSON.stringify(renamed) });
    expect(r3.failure).toMatch(/the backend has no server named web9 \(it has web1, web2, web3, web4\)/);
    await expect(go({ version: 'v8', 'nginx-host': 'local' })).rejects.toThrow("Inputs 'nginx-host' and 'haproxy-host' both given");
    expect(fleet.currentVersions()).toEqual(before);
    expect(admin('show servers state app')).not.toMatch(/ app \d+ web\d \S+ \d+ [^0] /);
  }, 60_000);
});
