/**
 * Fleet scale: 20 sshd "hosts" on loopback (each its own port, host key and deploy root), batches
 * of 25% (4 batches of 5). Commands to the hosts of a batch run in parallel over one reused SSH
 * connection per host (ControlMaster), so wall time grows with batches, not hosts. Side by side:
 * the same rollout with batches of 1 on 4 of the hosts, to show per-batch cost.
 *   node_modules/.bin/node bench/deploy-fleet.ts
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startHostsFleet, node24, repoRoot } from '../test/integration/deploy/hosts-fleet.ts';
import { freePort } from '../test/helpers/servers.ts';
import { HostsTarget, type HostSpec } from '../src/deploy/hosts.ts';
import { SshClient } from '../src/deploy/ssh.ts';
import { httpProbe, rollout } from '../src/deploy/engine.ts';
import { parseBatches } from '../src/deploy/batches.ts';
import { MemoryReporter } from '../src/lib/report.ts';
import { formatDuration } from '../src/lib/duration.ts';

const N = Number(process.env.BENCH_HOSTS ?? 20);
const readiness = { threshold: 2, intervalMs: 100, timeoutMs: 30_000, minReadyMs: 0, requestTimeoutMs: 2000 };
const fleet = await startHostsFleet(N);
const log = new MemoryReporter();
const target = (hosts: HostSpec[]) =>
  new HostsTarget({
    hosts,
    ssh: new SshClient({ keyPath: fleet.ssh.keyPath, knownHostsPath: fleet.ssh.knownHostsPath }),
    artifact: fleet.artifact,
    start: [node24, 'server.js'],
    readyPath: '/ready',
    keepReleases: 3,
    drainTimeoutMs: 10_000,
    nginx: { host: 'local', file: fleet.upstreamFile, name: 'app', command: fleet.nginxCommand },
    log,
  });

/** Boot + readiness of k instances started at the same time (CPU contention included). */
async function bootTogether(k: number): Promise<number> {
  const ports = await Promise.all(Array.from({ length: k }, () => freePort()));
  const t0 = performance.now();
  const kids = ports.map((port) => spawn(node24, [join(repoRoot, 'examples/app/server.js')], { env: { ...process.env, PORT: String(port) }, stdio: 'ignore' }));
  await Promise.all(
    ports.map(async (port) => {
      let streak = 0;
      for (;;) {
        const p = await httpProbe(`http://127.0.0.1:${port}/ready`, 1000, AbortSignal.timeout(2000));
        streak = p.ok ? streak + 1 : 0;
        if (streak >= readiness.threshold) return;
        await new Promise((r) => setTimeout(r, p.ok ? readiness.intervalMs : 20));
      }
    }),
  );
  const ms = performance.now() - t0;
  kids.forEach((c) => c.kill('SIGKILL'));
  return ms;
}

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
  for (let k = 0; k < 3; k++) boots.push(await bootTogether(batchSize));
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
