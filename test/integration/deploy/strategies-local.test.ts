/**
 * Canary and blue/green on the local target (child processes behind nginx, or the built-in
 * proxy), through the engine and strategies.ts, under constant load through the balancer:
 * weights honoured at each gate (requests counted per version by `x-app-version`), blue/green
 * switch and switch back with zero failed requests, counted by a client that never retries (with
 * nginx on a fresh connection per request: a reload closes idle keep-alive client connections).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { createLocalFleet, findOnPath, type LocalFleet } from '../../../src/cli/demo/local.ts';
import { rollout } from '../../../src/deploy/engine.ts';
import { blueGreenRollback, blueGreenRollout } from '../../../src/deploy/strategies.ts';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { freePort } from '../../helpers/servers.ts';
import { node24, repoRoot, versionAt } from './hosts-fleet.ts';
import { measure, share, startLoad } from './load.ts';

const readiness = { threshold: 2, intervalMs: 50, timeoutMs: 20_000, minReadyMs: 0, requestTimeoutMs: 2000 };
const app = join(repoRoot, 'examples/app/server.js');
const fleets: LocalFleet[] = [];
afterAll(async () => {
  for (const f of fleets) await f.stop();
});

const balancers: ('builtin' | 'nginx')[] = ['builtin', ...(findOnPath('nginx') ? (['nginx'] as const) : [])];
describe.each(balancers)('local fleet behind %s: canary and blue/green', (balancer) => {
  it('canary 10%,50%,100% over 4 instances: each gate sees its share; then blue/green switch and switch back with zero failed requests', async () => {
    const base = await freePort({ min: 20000, max: 30000 });
    const fleet = await createLocalFleet({ command: [node24, app], instances: 4, basePort: base, greenBasePort: base + 10, balancer, drainTimeoutMs: 5000 });
    fleets.push(fleet);
    await fleet.start('v1');
    const log = new MemoryReporter();
    // No retries; with nginx a fresh connection per request (a reload closes idle keep-alive client connections).
    const load = startLoad(fleet.url, { concurrency: 4, pauseMs: 5, keepAlive: balancer !== 'nginx' });
    const seen: number[] = [];
    const c = await rollout(fleet.target, 'v2', {
      batches: [],
      canary: [0.1, 0.5, 1],
      readiness,
      log,
      gate: async () => {
        seen.push(share(await measure(fleet.url, 400, 8), 'v2'));
        return { pass: true, reason: 'measured' };
      },
    });
    expect(c.status, log.text()).toBe('succeeded');
    expect(seen).toHaveLength(2);
    expect(Math.abs(seen[0]! - 0.1), `shares ${seen}`).toBeLessThanOrEqual(0.06);
    expect(Math.abs(seen[1]! - 0.5), `shares ${seen}`).toBeLessThanOrEqual(0.06);
    expect(fleet.status().map((s) => s.version)).toEqual(['v2', 'v2', 'v2', 'v2']);

    // Blue/green: v3 in the green slots, one switch, the blue set keeps running.
    const bg = await blueGreenRollout(fleet.target, 'v3', { keepPreviousMs: 60_000, readiness, log });
    expect(bg.status, log.text()).toBe('succeeded');
    expect(bg.blueGreen).toMatchObject({ switched: true, switchedBack: false });
    expect(Object.keys((await measure(fleet.url, 40, 4)).byVersion)).toEqual(['v3']);
    expect(fleet.status().map((s) => [s.slot, s.port, s.version, s.idle.version, s.idle.running])).toEqual([0, 1, 2, 3].map((k) => ['green', base + 10 + k, 'v3', 'v2', true]));
    expect(await versionAt(`http://127.0.0.1:${base}`)).toBe('v2');
    // Switch back: reuses the running blue set.
    const back = await blueGreenRollback(fleet.target, { keepPreviousMs: 0, readiness, log });
    expect(back.status, log.text()).toBe('succeeded');
    expect(back.version).toBe('v2');
    expect(back.blueGreen?.reused).toEqual(['app-1', 'app-2', 'app-3', 'app-4']);
    expect(Object.keys((await measure(fleet.url, 40, 4)).byVersion)).toEqual(['v2']);
    // keep-previous 0: the green set was stopped right away.
    expect(fleet.status().every((s) => s.slot === 'blue' && !s.idle.running)).toBe(true);
    // A new set that never gets ready: traffic never moves.
    const bad = await createLocalFleet({ command: [node24, app], instances: 1, basePort: base + 20, balancer, env: (v) => (v === 'bad' ? { READY_FAIL: '1' } : {}) });
    fleets.push(bad);
    await bad.start('v1');
    const nr = await blueGreenRollout(bad.target, 'bad', { keepPreviousMs: 0, readiness: { ...readiness, timeoutMs: 1500 }, log });
    expect(nr.status).toBe('rolled-back');
    expect(nr.blueGreen?.switched).toBe(false);
    expect(await versionAt(bad.url)).toBe('v1');

    const stats = await load.stop();
    console.log(`local ${balancer}: ${stats.ok} ok, ${stats.failed} failed (${stats.socketErrors} socket errors, statuses ${JSON.stringify(stats.statuses)}), ${JSON.stringify(stats.byVersion)}, canary shares ${seen.join(', ')}`);
    expect(stats.failed, JSON.stringify(stats)).toBe(0);
    expect(Object.keys(stats.byVersion).sort()).toEqual(['v1', 'v2', 'v3']);
  }, 120_000);
});
