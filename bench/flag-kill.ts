/**
 * Kill switch latency: from a failed gate to the flag being OFF as the app sees it.
 * A real Unleash server (npm unleash-server) on a real PostgreSQL, both on 127.0.0.1. The "app" is
 * an OpenFeature client (@openfeature/server-sdk) with the sample app's provider over unleash-client
 * (examples/app/openfeature-unleash.js), polling the server every REFRESH ms and evaluated every 5 ms.
 * Each run: the flag is on 100%; a rollout on the deploy engine fails its gate; beforeUndo runs the
 * kill switch (src/flags, the admin API); we time (a) gate verdict → the admin API confirmed the flag
 * off, (b) gate verdict → the first evaluation in the app that returns false.
 *   node bench/flag-kill.ts [runs=5] [refreshMs=1000]
 */
import { loadavg, cpus } from 'node:os';
import { OpenFeature } from '@openfeature/server-sdk';
import { MemoryReporter } from '../src/lib/report.ts';
import { rollout, type DeployTarget, type InstanceRef } from '../src/deploy/engine.ts';
import { UnleashProvider as AdminProvider } from '../src/flags/unleash.ts';
import { applyFlagChanges, killSwitch } from '../src/flags/change.ts';
import { UnleashProvider as AppProvider } from '../examples/app/openfeature-unleash.js';
import { startUnleash } from '../test/helpers/flags-unleash.ts';

const runs = Number(process.argv[2] ?? 5);
const refresh = Number(process.argv[3] ?? 1000);
const flag = 'bench-kill';

function fleet(): DeployTarget {
  const running = new Map<string, string>([['a', 'v1'], ['b', 'v1']]);
  return {
    kind: 'memory',
    strategy: 'beside',
    instances: async (): Promise<InstanceRef[]> => [...running.keys()].map((id) => ({ id, url: `http://${id}` })),
    currentVersion: async (i) => running.get(i.id),
    previousVersion: async () => 'v1',
    drain: async () => undefined,
    undrain: async () => undefined,
    stop: async () => undefined,
    deploy: async (i, v) => (running.set(i.id, v), { readyUrl: `mem:${i.id}` }),
    switchBack: async (i, v) => (running.set(i.id, v), { readyUrl: `mem:${i.id}` }),
    probe: async () => ({ ok: true, answer: 'ok' }),
    close: async () => undefined,
  };
}

const u = await startUnleash();
const rows: { run: number; switchMs: number; appMs: number; load: string }[] = [];
try {
  await u.createFlag(flag);
  const admin = new AdminProvider({ url: u.url, token: u.adminToken, environment: 'production' });
  await OpenFeature.setProviderAndWait(new AppProvider({ url: u.url, clientToken: u.clientToken, refreshInterval: refresh, environment: 'production' }));
  const app = OpenFeature.getClient();
  const seen = async (want: boolean, ms = 60_000) => {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      if ((await app.getBooleanValue(flag, !want, { targetingKey: 'user-1' })) === want) return performance.now();
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`the app did not see ${flag}=${want} within ${ms} ms`);
  };
  for (let k = 1; k <= runs; k++) {
    const on = await applyFlagChanges(admin, [{ flag, action: 'rollout', percent: 100 }], { actor: { who: 'bench', run: 'bench' } });
    if (on.failure) throw new Error(on.failure);
    await seen(true);
    let gateFailedAt = 0;
    let switchedAt = 0;
    const appSaw = { at: 0 };
    const log = new MemoryReporter();
    const watching = seen(false).then((t) => (appSaw.at = t));
    const r = await rollout(fleet(), `v${k + 1}`, {
      batches: [{ count: 1 }],
      log,
      gate: async () => {
        gateFailedAt = performance.now();
        return { pass: false, reason: 'error-ratio 12% > 1% (bench)' };
      },
      beforeUndo: async () => {
        const changes = await killSwitch(admin, [flag], { actor: { who: 'bench', run: 'bench' }, log, deadlineMs: 30_000 });
        switchedAt = performance.now();
        return changes;
      },
    });
    await watching;
    if (r.status !== 'rolled-back') throw new Error(`run ${k}: rollout ${r.status}`);
    const row = { run: k, switchMs: switchedAt - gateFailedAt, appMs: appSaw.at - gateFailedAt, load: loadavg().map((x) => x.toFixed(2)).join(' ') };
    rows.push(row);
    console.log(`run ${k}: kill switch confirmed by the admin API ${row.switchMs.toFixed(0)} ms after the failed gate; the app evaluated the flag off after ${row.appMs.toFixed(0)} ms (load ${row.load})`);
  }
} finally {
  await OpenFeature.close();
  await u.stop();
}
const worst = rows.reduce((a, b) => (b.appMs > a.appMs ? b : a));
console.log(`\n${cpus().length} CPUs, Unleash client refresh ${refresh} ms, ${runs} runs`);
console.log(`worst: switch ${Math.max(...rows.map((r) => r.switchMs)).toFixed(0)} ms, app sees it off ${worst.appMs.toFixed(0)} ms (run ${worst.run}, load ${worst.load})`);
console.log(`median app: ${[...rows].sort((a, b) => a.appMs - b.appMs)[Math.floor(rows.length / 2)]!.appMs.toFixed(0)} ms`);
