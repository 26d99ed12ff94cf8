/**
 * Issue 16, item 1, on the `local` target (src/cli/demo/local.ts: the demo's fleet): during a
 * rolling deploy, a rollback, every canary step and a blue/green switch and switch back, no
 * request gets a 5xx from the load balancer, a reset or a closed connection. Counted by a client
 * that never retries (load.ts: every status and every socket error), with keep-alive connections
 * and with a fresh connection per request, sending POSTs (a proxy may not send one twice once it
 * was delivered). The instances are the sample app with DRAIN_TIMEOUT_MS=0 (an app that exits at
 * once on SIGTERM) and EXTRA_LATENCY_MS=250 (requests are in flight at every change): a request
 * still routed to an instance when it is stopped fails, so the balancer must have let go of the
 * instance first (built-in proxy: its requests answered and pooled sockets closed; nginx: its old
 * workers exited, observed). Counts, not times.
 *
 * nginx (when installed): every reload closes its idle keep-alive client connections (measured in
 * bench/deploy-local-zero.ts), so with nginx the keep-alive client is held to 0 non-2xx only and
 * its socket errors are printed; the fresh-connection client is held to 0 of both.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { createLocalFleet, findOnPath, type LocalFleet } from '../../../src/cli/demo/local.ts';
import { rollout, rollbackFleet } from '../../../src/deploy/engine.ts';
import { blueGreenRollback, blueGreenRollout } from '../../../src/deploy/strategies.ts';
import { parseBatches } from '../../../src/deploy/batches.ts';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { node24, repoRoot } from './hosts-fleet.ts';
import { describeLoad, freeOffset, startLoad } from './load.ts';

const readiness = { threshold: 2, intervalMs: 50, timeoutMs: 20_000, minReadyMs: 0, requestTimeoutMs: 2000, versionCheck: 'required' as const };
const app = join(repoRoot, 'examples/app/server.js');
const fleets: LocalFleet[] = [];
afterAll(async () => {
  for (const f of fleets) await f.stop();
});

const balancers: ('builtin' | 'nginx')[] = ['builtin', ...(findOnPath('nginx') ? (['nginx'] as const) : [])];
describe.each(balancers)('local fleet behind %s: zero downtime for clients that never retry', (balancer) => {
  it('rolling, rollback, canary 10%/50%/100%, blue/green switch and switch back: 0 non-2xx, 0 socket errors', async () => {
    // Every port of the fleet free (blue 0-3, green 10-13), not only the first.
    const base = 20000 + (await freeOffset([0, 1, 2, 3, 10, 11, 12, 13].map((k) => 20000 + k), 1 + Math.floor(Math.random() * 8000)));
    const fleet = await createLocalFleet({
      command: [node24, app],
      instances: 4,
      basePort: base,
      greenBasePort: base + 10,
      balancer,
      drainTimeoutMs: 5000,
      env: () => ({ DRAIN_TIMEOUT_MS: '0', EXTRA_LATENCY_MS: '250' }),
    });
    fleets.push(fleet);
    await fleet.start('v1');
    const log = new MemoryReporter();
    const keepAlive = startLoad(fleet.url, { concurrency: 16, keepAlive: true, method: 'POST' });
    const fresh = startLoad(fleet.url, { concurrency: 8, keepAlive: false, method: 'POST' });
    const steps: string[] = [];
    const check = (what: string, r: { status: string; failure?: { reason: string } }) => {
      steps.push(`${what}: ${r.status}`);
      expect(r.status, `${what}: ${r.failure?.reason}\n${log.text()}`).toBe('succeeded');
    };
    try {
      check('rolling v2', await rollout(fleet.target, 'v2', { batches: parseBatches('1'), readiness, log }));
      check('rollback to v1', await rollbackFleet(fleet.target, { batches: parseBatches('1'), readiness, log }));
      check('canary v3', await rollout(fleet.target, 'v3', { batches: [], canary: [0.1, 0.5, 1], readiness, log, gate: async () => ({ pass: true, reason: 'test' }) }));
      for (const v of ['v4', 'v5']) {
        check(`blue/green ${v}`, await blueGreenRollout(fleet.target, v, { keepPreviousMs: 60_000, readiness, log }));
        // Let both clients be served by the new set before switching back (bounded).
        for (let k = 0; k < 200 && Math.min(keepAlive.stats.byVersion[v] ?? 0, fresh.stats.byVersion[v] ?? 0) < 10; k++) await new Promise((r) => setTimeout(r, 50));
        check(`switch back from ${v}`, await blueGreenRollback(fleet.target, { keepPreviousMs: 0, readiness, log }));
      }
    } finally {
      await keepAlive.stop();
      await fresh.stop();
    }
    const ka = keepAlive.stats;
    const fr = fresh.stats;
    console.log(`local ${balancer}: ${steps.join(', ')}\n  keep-alive: ${describeLoad(ka)}\n  fresh connection per request: ${describeLoad(fr)}${[...ka.errors, ...fr.errors].length ? `\n  first errors: ${[...ka.errors, ...fr.errors].join('; ')}` : ''}`);
    const non2xx = (s: typeof ka) => s.failed - s.socketErrors;
    expect(ka.ok).toBeGreaterThan(300);
    expect(fr.ok).toBeGreaterThan(150);
    expect(non2xx(fr), describeLoad(fr)).toBe(0);
    expect(fr.socketErrors, describeLoad(fr)).toBe(0);
    expect(non2xx(ka), describeLoad(ka)).toBe(0);
    if (balancer === 'builtin') expect(ka.socketErrors, describeLoad(ka)).toBe(0);
    expect(fleet.status().map((s) => s.version)).toEqual(['v3', 'v3', 'v3', 'v3']);
    // Every version served some of the load: the changes happened under it.
    expect(Object.keys(fr.byVersion).sort()).toEqual(['v1', 'v2', 'v3', 'v4', 'v5']);
  }, 180_000);
});
