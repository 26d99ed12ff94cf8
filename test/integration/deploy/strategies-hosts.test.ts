/**
 * Canary and blue/green on the hosts target (real sshd "hosts", real nginx in front), driven
 * through deploy-rolling's run() with its inputs, under constant client load through nginx:
 * - canary 10%,50%,100% over 4 hosts: at each gate the share of requests answered by the new
 *   version (counted through nginx by `x-app-version`) is the step's share within 6 points;
 * - blue/green: the new set starts on app-port + offset, traffic switches in one reload, the old
 *   set keeps running; rollback: true switches back instantly (no start); a failed gate switches
 *   back by itself; keep-previous ends the old set;
 * - zero failed requests throughout, counted by a client that never retries, on a fresh connection
 *   per request (an nginx reload closes idle keep-alive client connections: that figure, and
 *   HAProxy's zero with keep-alive, are in hosts-haproxy.test.ts and BENCHMARKS.md).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
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
import { describeLoad, freeOffset, gateServer, measure, share, startLoad, type LoadStats } from './load.ts';

const ok = requireServer('sshd') && requireServer('nginx');

function context(): ActionContext & { log: MemoryReporter } {
  const state: Record<string, string> = {};
  return {
    log: new MemoryReporter(),
    github: { sha: '0123456789abcdef0123456789abcdef01234567', runUrl: 'https://github.com/acme/shop/actions/runs/1' } as ActionContext['github'],
    saveState: (n, v) => (state[n] = v),
    getState: (n) => state[n] ?? '',
    signal: new AbortController().signal,
    tempDir: mkdtempSync(join(tmpdir(), 'slipway-runner-temp-')),
    workspace: process.cwd(),
    env: process.env,
  };
}

describe.skipIf(!ok)('canary and blue/green on hosts behind nginx, under load', () => {
  let fleet: HostsFleet;
  let raw: Record<string, string>;
  let offset: number;
  const go = async (over: Record<string, string>) => {
    const ctx = context();
    const inputs = await parseInputs(spec, (n) => ({ ...raw, ...over })[n], (s) => ctx.log.mask(s));
    const r = await run(inputs, ctx);
    return { ...r, log: ctx.log.text() };
  };
  const blue = (k: number) => `http://127.0.0.1:${fleet.hosts[k]!.appPort}`;
  const green = (k: number) => `http://127.0.0.1:${fleet.hosts[k]!.appPort + offset}`;
  const servedThroughNginx = async () => Object.keys((await measure(fleet.nginx!.url, 40, 4)).byVersion).sort();
  const loads: LoadStats[] = [];

  beforeAll(async () => {
    fleet = await startHostsFleet(4);
    offset = await freeOffset(fleet.hosts.map((h) => h.appPort), 50);
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
      'drain-timeout': '5s',
      'blue-green-port-offset': String(offset),
    };
    const r = await go({ version: 'v1', batches: '100%' });
    expect(r.failure).toBeUndefined();
  }, 120_000);

  afterAll(async () => {
    for (const l of loads) console.log(`load (no retries, a fresh connection per request): ${describeLoad(l)}`);
    await fleet?.stop();
  });

  it('canary 10%,50%,100%: nginx weights give the new version each step\'s share; the gate runs between steps', async () => {
    const seen: { v2: number; total: number }[] = [];
    const gate = await gateServer(async () => {
      const m = await measure(fleet.nginx!.url, 400, 8);
      seen.push({ v2: share(m, 'v2'), total: m.ok });
      return true;
    });
    const load = startLoad(fleet.nginx!.url, { concurrency: 4, pauseMs: 5, keepAlive: false });
    try {
      const r = await go({ version: 'v2', strategy: 'canary', 'canary-steps': '10%,50%,100%', 'gate-url': gate.url });
      const stats = await load.stop();
      loads.push(stats);
      expect(r.failure, r.log).toBeUndefined();
      expect(r.outputs.strategy).toBe('canary');
      expect(r.outputs.version).toBe('v2');
      console.log(`canary shares seen at the gates: ${JSON.stringify(seen)}`);
      expect(seen).toHaveLength(2);
      expect(Math.abs(seen[0]!.v2 - 0.1)).toBeLessThanOrEqual(0.06);
      expect(Math.abs(seen[1]!.v2 - 0.5)).toBeLessThanOrEqual(0.06);
      expect(r.summary).toContain('Canary deploy of v2: ✅ deployed');
      expect(r.summary).toMatch(/\| 1 \| web1 \| 10% \(weights new:old 1:3\) \|/);
      expect(stats.failed, JSON.stringify(stats)).toBe(0);
      expect(stats.byVersion.v1! > 0 && stats.byVersion.v2! > 0).toBe(true);
      // The end state: equal weights again, everything on v2.
      expect(readFileSync(fleet.upstreamFile, 'utf8')).not.toMatch(/weight=|down;/);
      expect(await servedThroughNginx()).toEqual(['v2']);
      expect(fleet.currentVersions()).toEqual(['v2', 'v2', 'v2', 'v2']);
    } finally {
      await gate.close();
    }
  }, 120_000);

  it('blue/green: the new set on the second ports, one switch, old set kept; rollback switches back at once; zero failed requests', async () => {
    const load = startLoad(fleet.nginx!.url, { concurrency: 4, pauseMs: 5, keepAlive: false });
    let duringGate: string[] = [];
    const gate = await gateServer(async () => {
      // nginx's new workers take over shortly after the reload returned: look for up to 3 s.
      for (let k = 0; k < 30; k++) {
        duringGate = await servedThroughNginx();
        if (duringGate.length === 1 && duringGate[0] === 'v3') break;
        await new Promise((res) => setTimeout(res, 100));
      }
      return true;
    });
    try {
      const r = await go({ version: 'v3', strategy: 'blue-green', 'keep-previous': '10m', 'gate-url': gate.url });
      expect(r.failure, r.log).toBeUndefined();
      expect(r.outputs.strategy).toBe('blue-green');
      expect(duringGate, `${r.log}\n${readFileSync(fleet.upstreamFile, 'utf8')}`).toEqual(['v3']);
      expect(await servedThroughNginx()).toEqual(['v3']);
      // The new set answers on the green ports, the old set still runs on the blue ones.
      for (let k = 0; k < 4; k++) {
        expect(await versionAt(green(k))).toBe('v3');
        expect(await versionAt(blue(k))).toBe('v2');
      }
      const upstream = readFileSync(fleet.upstreamFile, 'utf8');
      for (const h of fleet.hosts) {
        expect(upstream).toContain(`server 127.0.0.1:${h.appPort + offset}; # ${h.id}\n`);
        expect(upstream).toContain(`server 127.0.0.1:${h.appPort} down; # ${h.id}@idle`);
        expect(readFileSync(join(h.deployRoot, 'shared/slot'), 'utf8').trim()).toBe('green');
      }
      expect(fleet.currentVersions()).toEqual(['v3', 'v3', 'v3', 'v3']);
      expect(r.summary).toContain('Blue/green deploy of v3: ✅ deployed');
      expect(r.summary).toContain('Switched 4 instance(s) to the new set in one load-balancer change');
      expect(r.summary).toMatch(/The old set keeps running until \d{4}-/);

      // rollback: true → the old set still runs: one switch, no start.
      const back = await go({ rollback: 'true', strategy: 'blue-green' });
      expect(back.failure, back.log).toBeUndefined();
      expect(back.outputs.version).toBe('v2');
      expect(back.outputs['rolled-back']).toBe(true);
      expect(back.summary).toContain('Already running in the idle slot (no start): web1, web2, web3, web4');
      expect(back.log).not.toMatch(/starting v2 in the/);
      expect(await servedThroughNginx()).toEqual(['v2']);
      expect(fleet.currentVersions()).toEqual(['v2', 'v2', 'v2', 'v2']);

      const stats = await load.stop();
      loads.push(stats);
      expect(stats.failed, JSON.stringify(stats)).toBe(0);
      expect(stats.byVersion.v3! > 0 && stats.byVersion.v2! > 0).toBe(true);
    } finally {
      await load.stop();
      await gate.close();
    }
  }, 120_000);

  it('blue/green with a failing gate switches back by itself and stops the new set', async () => {
    const load = startLoad(fleet.nginx!.url, { concurrency: 4, pauseMs: 5, keepAlive: false });
    const gate = await gateServer(async () => false);
    try {
      const r = await go({ version: 'v4', strategy: 'blue-green', 'gate-url': gate.url });
      expect(r.failure).toMatch(/gate failed after the switch: .*GET answered 500.*traffic switched back to the old set \(v2\)/);
      expect(r.outputs['rolled-back']).toBe(true);
      expect(r.outputs.version).toBe('v2');
      expect(r.summary).toContain('then switched back in one load-balancer change');
      expect(await servedThroughNginx()).toEqual(['v2']);
      // Live is blue again (v2); the green slot (v4) was stopped.
      for (let k = 0; k < 4; k++) expect(await versionAt(green(k))).toMatch(/^error/);
      const stats = await load.stop();
      loads.push(stats);
      expect(stats.failed, JSON.stringify(stats)).toBe(0);
    } finally {
      await load.stop();
      await gate.close();
    }
  }, 120_000);

  it('keep-previous: the old set stops on its own after that time', async () => {
    const r = await go({ version: 'v5', strategy: 'blue-green', 'keep-previous': '1s' });
    expect(r.failure, r.log).toBeUndefined();
    expect(await servedThroughNginx()).toEqual(['v5']);
    // Blue (v2) was the live slot before: it must stop within a few seconds.
    const until = Date.now() + 15_000;
    let states: string[] = [];
    while (Date.now() < until) {
      states = await Promise.all([0, 1, 2, 3].map((k) => versionAt(blue(k))));
      if (states.every((s) => s.startsWith('error'))) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    expect(states.every((s) => s.startsWith('error')), states.join(', ')).toBe(true);
    expect(await servedThroughNginx()).toEqual(['v5']);
    for (const h of fleet.hosts) expect(() => execFileSync('test', ['-f', join(h.deployRoot, 'shared/expire-blue.pid')])).toThrow();
  }, 60_000);

  it('bad combinations fail before anything runs', async () => {
    await expect(go({ version: 'v9', strategy: 'canary', 'nginx-host': '' })).rejects.toThrow(/Input 'nginx-host'.*strategy canary moves traffic through the load balancer/);
    await expect(go({ version: 'v9', strategy: 'blue-green', 'systemd-unit': 'app' })).rejects.toThrow(/Input 'systemd-unit'.*no systemd unit with strategy blue-green/);
    await expect(go({ version: 'v9', strategy: 'blue-green', batches: '1' })).rejects.toThrow(/'batches' does not apply to strategy blue-green/);
    await expect(go({ version: 'v9', strategy: 'canary', 'canary-steps': '50%,10%' })).rejects.toThrow(/Input 'canary-steps'.*must increase/);
    expect(fleet.currentVersions()).toEqual(['v5', 'v5', 'v5', 'v5']);
  });
});
