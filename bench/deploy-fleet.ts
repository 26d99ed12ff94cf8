/**
 * Fleet scale: 20 sshd "hosts" on loopback (each its own port, host key and deploy root), batches
 * of 25% (4 batches of 5). Commands to the hosts of a batch run in parallel over one reused SSH
 * connection per host (ControlMaster), so wall time grows with batches, not hosts. The floor is
 * the batches × the boot+ready of one batch's instances started together (CPU contention included).
 * The cost of a batch of 1 at several fleet sizes is bench/deploy-speed.ts.
 *   node_modules/.bin/node bench/deploy-fleet.ts
 */
import { startHostsFleet } from '../test/integration/deploy/hosts-fleet.ts';
import type { HostSpec } from '../src/deploy/hosts.ts';
import { rollout } from '../src/deploy/engine.ts';
import { parseBatches } from '../src/deploy/batches.ts';
import { MemoryReporter } from '../src/lib/report.ts';
import { formatDuration } from '../src/lib/duration.ts';
import { bootTogether } from './lib/boot.ts';
import { fleetTarget } from './lib/fleet.ts';

const N = Number(process.env.BENCH_HOSTS ?? 20);
const readiness = { threshold: 2, intervalMs: 100, timeoutMs: 30_000, minReadyMs: 0, requestTimeoutMs: 2000 };
const fleet = await startHostsFleet(N);
const log = new MemoryReporter();
const target = (hosts: HostSpec[]) => fleetTarget(fleet, { balancer: 'nginx', keepReleases: 3, log, hosts });

try {
  let t = target(fleet.hosts);
  const first = await rollout(t, 'v1', { batches: parseBatches('25%'), readiness, log });
  await t.close();
  if (first.status !== 'succeeded') throw new Error(`initial rollout: ${first.failure?.reason}`);

  t = target(fleet.hosts);
  const r = await rollout(t, 'v2', { batches: parseBatches('25%'), readiness, log });
  await t.close();
  if (r.status !== 'succeeded') throw new Error(`rollout: ${r.failure?.reason}`);
  const batchSize = Math.ceil(N / 4);
  const boots: number[] = [];
  for (let k = 0; k < 3; k++) boots.push(await bootTogether(batchSize, { readiness }));
  boots.sort((a, b) => a - b);
  const boot = boots[1]!;
  const batches = r.batches.length;
  const floor = batches * boot;
  const per = r.batches.map((b) => (b.endedAt ?? b.startedAt) - b.startedAt);
  console.log(`\n### Fleet scale: ${N} hosts, batches of 25% (${batches} batches of ${batchSize}), one SSH master connection per host\n`);
  console.log('| Hosts | Batches | Rollout | Floor (batches × boot+ready of a batch) | Ratio | Overhead per batch | Batch times |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  console.log(`| ${N} | ${batches} | ${formatDuration(r.durationMs)} | ${formatDuration(floor)} (${Math.round(boot)} ms for ${batchSize} at once, median of 3) | ${(r.durationMs / floor).toFixed(2)}× | ${Math.round((r.durationMs - floor) / batches)} ms | ${per.map((m) => formatDuration(m)).join(', ')} |`);
  const prep = r.durationMs - per.reduce((a, b) => a + b, 0);
  console.log(`\nTime outside batches (reading versions, upload of the release to ${N} hosts, nginx check, pruning): ${formatDuration(prep)}`);
} finally {
  await fleet.stop();
}
