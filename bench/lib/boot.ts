/**
 * The floor of a rollout's batch: how long the sample app (examples/app/server.js) takes to boot
 * and become ready on this machine, measured without Slipway (bench/deploy-fleet.ts,
 * bench/deploy-speed.ts).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { node24, repoRoot } from '../../test/integration/deploy/hosts-fleet.ts';
import { freePort } from '../../test/helpers/servers.ts';
import { httpProbe } from '../../src/deploy/engine.ts';

export interface BootOptions {
  /** The engine's readiness settings: `threshold` 2xx answers in a row on /ready, `intervalMs` apart. */
  readiness: { threshold: number; intervalMs: number };
  /** Extra environment for the app (e.g. BOOT_DELAY_MS), over process.env; PORT is always set. */
  env?: Record<string, string>;
  /** Pause after killing the instances before returning (ms), so the next measurement starts on a quiet machine. Default 0. */
  pauseAfterKillMs?: number;
}

/**
 * Boot + readiness of k instances started at the same time (CPU contention included): ms from
 * spawning them all until every one answered `threshold` × 2xx in a row on /ready (the next probe
 * `intervalMs` after a 2xx, 20 ms after anything else). The instances are then killed (SIGKILL).
 */
export async function bootTogether(k: number, o: BootOptions): Promise<number> {
  const ports = await Promise.all(Array.from({ length: k }, () => freePort()));
  const t0 = performance.now();
  const kids = ports.map((port) => spawn(node24, [join(repoRoot, 'examples/app/server.js')], { env: { ...process.env, ...o.env, PORT: String(port) }, stdio: 'ignore' }));
  await Promise.all(
    ports.map(async (port) => {
      let streak = 0;
      for (;;) {
        const p = await httpProbe(`http://127.0.0.1:${port}/ready`, 1000, AbortSignal.timeout(2000));
        streak = p.ok ? streak + 1 : 0;
        if (streak >= o.readiness.threshold) return;
        await new Promise((r) => setTimeout(r, p.ok ? o.readiness.intervalMs : 20));
      }
    }),
  );
  const ms = performance.now() - t0;
  kids.forEach((c) => c.kill('SIGKILL'));
  if (o.pauseAfterKillMs) await new Promise((r) => setTimeout(r, o.pauseAfterKillMs));
  return ms;
}
