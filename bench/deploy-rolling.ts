/**
 * deploy-rolling benchmarks on a real fleet (4 sshd "hosts" on loopback, nginx in front, the
 * sample app), side by side in one run:
 *   1. zero downtime: autocannon through nginx while 4 instances roll v1→v2 with Slipway, and the
 *      same load while a naive deploy restarts every instance in place (no drain, no readiness);
 *   2. wall time of the rollout against the floor (batches × (boot + readiness));
 *   3. rollback time: a bad 4th batch → the whole fleet serving the old version again.
 *   node_modules/.bin/node bench/deploy-rolling.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { startHostsFleet, versionAt } from '../test/integration/deploy/hosts-fleet.ts';
import { rollout, type EngineOptions } from '../src/deploy/engine.ts';
import { parseBatches } from '../src/deploy/batches.ts';
import { MemoryReporter } from '../src/lib/report.ts';
import { formatDuration } from '../src/lib/duration.ts';
import { bootTogether } from './lib/boot.ts';
import { fleetTarget } from './lib/fleet.ts';

/** The part of autocannon's result this bench reads (autocannon ships no types). */
interface LoadResult { requests: { total: number; average: number }; errors: number; non2xx: number; timeouts: number; latency: { p99: number }; duration: number }
const autocannon = createRequire(import.meta.url)('autocannon') as (o: Record<string, unknown>) => Promise<LoadResult>;

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 110_000);
const readiness = { threshold: 2, intervalMs: 100, timeoutMs: 15_000, minReadyMs: 0, requestTimeoutMs: 1000 };

const fleet = await startHostsFleet(4);
const log = new MemoryReporter();
const makeTarget = () => fleetTarget(fleet, { balancer: 'nginx', keepReleases: 5, log });
const engine = (o: Partial<EngineOptions> = {}): EngineOptions => ({ batches: parseBatches('1'), readiness, log, ...o });

function load(amount: number) {
  return autocannon({ url: `${fleet.nginx!.url}/work`, connections: 32, amount, timeout: 10 }) ;
}

/** Boot + readiness of one instance started alone: spawn → threshold × 2xx on /ready (lib/boot.ts). */
const bootAndReady = () => bootTogether(1, { readiness });

const rows: string[][] = [];
try {
  // Start: v1 everywhere.
  let t = makeTarget();
  await rollout(t, 'v1', engine({ batches: parseBatches('100%') }));
  await t.close();

  // 1 + 2: Slipway rollout v1 → v2 under load.
  t = makeTarget();
  const loadA = load(REQUESTS);
  await new Promise((r) => setTimeout(r, 300));
  const ra = await rollout(t, 'v2', engine());
  await t.close();
  const la = await loadA;
  if (ra.status !== 'succeeded') throw new Error(`rollout failed: ${ra.failure?.reason}`);
  const rolloutDuringLoad = la.duration * 1000 > ra.durationMs + 300;

  // Naive: restart every instance in place at once (stop, start; no drain, no readiness wait).
  t = makeTarget();
  const insts = await t.instances(new AbortController().signal);
  const sig = new AbortController().signal;
  await Promise.all(insts.map((i) => t.currentVersion(i, sig)));
  await t.prepare('v3', insts, sig);
  const loadB = load(REQUESTS);
  await new Promise((r) => setTimeout(r, 300));
  const nb0 = performance.now();
  await Promise.all(insts.map(async (i) => { await t.stop(i, sig); await t.deploy(i, 'v3', sig); }));
  const naiveMs = performance.now() - nb0;
  const lb = await loadB;
  await t.close();

  const fmt = (r: LoadResult) => [String(r.requests.total + r.errors), String(r.non2xx), String(r.errors), `${r.latency.p99} ms`, `${Math.round(r.requests.average)}/s`];
  rows.push(['Slipway rolling (batches of 1, drain via nginx)', ...fmt(la), formatDuration(ra.durationMs)]);
  rows.push(['naive: restart all 4 in place at once', ...fmt(lb), formatDuration(naiveMs)]);
  console.log('\n### Zero downtime (autocannon, 32 connections, through nginx)\n');
  console.log('| Deploy | Requests | Non-2xx | Errors | p99 | Throughput | Deploy took |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  console.log(`\n(load covered the whole Slipway rollout: ${rolloutDuringLoad ? 'yes' : 'NO'})`);

  // 2: wall time vs floor, without load (fleet at v3 now → roll to v4).
  const boots: number[] = [];
  for (let k = 0; k < 5; k++) boots.push(await bootAndReady());
  boots.sort((a, b) => a - b);
  const boot = boots[2]!;
  t = makeTarget();
  const rw = await rollout(t, 'v4', engine());
  await t.close();
  const floor = 4 * boot;
  console.log('\n### Wall time (4 hosts, batches of 1, no load)\n');
  console.log('| Rollout | Floor (4 × boot+ready) | Ratio | Per-batch overhead |');
  console.log('| --- | --- | --- | --- |');
  console.log(`| ${formatDuration(rw.durationMs)} | ${formatDuration(floor)} (boot+ready ${Math.round(boot)} ms, median of 5) | ${(rw.durationMs / floor).toFixed(2)}× | ${Math.round((rw.durationMs - floor) / 4)} ms |`);

  // 3: rollback time: v5 is good on web1–web3, broken on web4 (batch 4 of 4) → all 4 back to v4.
  t = makeTarget();
  const origPrepare = t.prepare.bind(t);
  t.prepare = async (v, list, s) => {
    await origPrepare(v, list, s);
    const f = join(fleet.hosts[3]!.deployRoot, 'releases', v, 'server.js');
    const text = readFileSync(f, 'utf8');
    writeFileSync(f, `process.env.READY_FAIL = '1';\n${text}`);
  };
  const rr = await rollout(t, 'v5', engine({ readiness: { ...readiness, timeoutMs: 2000 } }));
  await t.close();
  const served = await Promise.all(fleet.hosts.map((h) => versionAt(`http://127.0.0.1:${h.appPort}`)));
  console.log('\n### Rollback time (bad 4th batch → 4 instances back on the old version)\n');
  console.log('| Outcome | Instances rolled back | Rollback took | Fleet serves |');
  console.log('| --- | --- | --- | --- |');
  console.log(`| ${rr.status} | ${rr.instances.filter((s) => s.status === 'rolled-back').length} | ${formatDuration(rr.rollbackMs ?? NaN)} | ${served.join(', ')} |`);
} finally {
  await fleet.stop();
}
