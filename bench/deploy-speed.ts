/**
 * deploy-rolling wall time against its floor (issue 16 item 7), on a real fleet: N sshd "hosts" on
 * loopback, nginx or HAProxy in front, the sample app with BOOT_DELAY_MS. No load (the zero-downtime
 * figures are bench/deploy-rolling-zero.ts). Several rollouts in a row (v2, v3, …); every one is
 * reported and the worst is the figure.
 *
 *   floor = batches × boot+ready of ONE instance started alone (spawn → `threshold` 2xx on /ready,
 *           the engine's readiness settings; median of 5)
 *
 * Also: boot+ready of the largest batch's instances started together (CPU contention on this
 * machine), the time outside the batches (reading the fleet, SSH masters, upload, the load
 * balancer check, prune) and, with BENCH_TRACE=1, a timeline of every SSH command, nginx call,
 * target call and readiness probe of the last run (where the per-batch time goes).
 *
 *   BENCH_HOSTS=4 BENCH_BATCHES=1 BENCH_BALANCER=nginx|haproxy BENCH_BOOT_MS=1000 BENCH_RUNS=3 \
 *     node_modules/.bin/node bench/deploy-speed.ts
 */
import { loadavg } from 'node:os';
import { startHostsFleet } from '../test/integration/deploy/hosts-fleet.ts';
import { httpProbe, rollout, type DeployTarget, type InstanceRef, type RolloutResult } from '../src/deploy/engine.ts';
import { parseBatches } from '../src/deploy/batches.ts';
import { MemoryReporter } from '../src/lib/report.ts';
import { formatDuration } from '../src/lib/duration.ts';
import { exec as realExec, type Exec } from '../src/lib/exec.ts';
import { bootTogether as bootTogetherOf } from './lib/boot.ts';
import { fleetTarget } from './lib/fleet.ts';

const N = Number(process.env.BENCH_HOSTS ?? 4);
const BATCHES = process.env.BENCH_BATCHES ?? '1';
const BALANCER = (process.env.BENCH_BALANCER ?? 'nginx') as 'nginx' | 'haproxy';
const BOOT_MS = Number(process.env.BENCH_BOOT_MS ?? 1000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const TRACE = process.env.BENCH_TRACE === '1';
const readiness = { threshold: 2, intervalMs: 100, timeoutMs: 60_000, minReadyMs: 0, requestTimeoutMs: 2000 };

/** A timeline of what the rollout did (trace mode). */
interface Ev {
  at: number;
  ms: number;
  what: string;
}
let events: Ev[] = [];
let t0 = performance.now();
const mark = (start: number, what: string) => events.push({ at: start - t0, ms: performance.now() - start, what });

/** exec that records every command (ssh to the hosts, nginx -t / -s reload, the old-worker wait). */
const tracingExec: Exec = async (file, args, opts) => {
  const s = performance.now();
  const r = await realExec(file, args, opts);
  let what = `${file} ${args.join(' ')}`;
  if (file === 'ssh') {
    const dest = args.findIndex((a) => a === '--');
    const host = args[dest - 1] ?? '';
    const port = args[args.indexOf('-p') + 1];
    const cmd = (args[dest + 1] ?? '').replace(/\s+/g, ' ');
    const fleetHost = fleet.hosts.find((h) => String(h.port) === port)?.id ?? host;
    what = `ssh ${fleetHost}: ${cmd.slice(0, 90)}`;
  } else what = what.replace(/\s+/g, ' ').slice(0, 110);
  mark(s, what);
  return r;
};

const fleet = await startHostsFleet(N, { balancer: BALANCER });
// `timeout` ends the bench with SIGTERM: stop the fleet (sshd, apps, the load balancer) first.
process.once('SIGTERM', () => void fleet.stop().finally(() => process.exit(143)));
const log = new MemoryReporter();
const env = { BOOT_DELAY_MS: String(BOOT_MS) };

const TRACED = new Set(['instances', 'currentVersion', 'prepare', 'drain', 'undrain', 'swap', 'stop', 'deploy', 'finish', 'close']);

function makeTarget(): DeployTarget {
  const t = fleetTarget(fleet, { balancer: BALANCER, keepReleases: 3, env, log, exec: TRACE ? tracingExec : undefined });
  if (!TRACE) return t;
  // Every target call and readiness probe on the timeline.
  const traced = new Proxy(t, {
    get(obj, key, recv) {
      if (key === 'probe')
        return async (i: InstanceRef, url: string, signal: AbortSignal) => {
          const s = performance.now();
          const p = await httpProbe(url, readiness.requestTimeoutMs, signal);
          mark(s, `probe ${i.id}: ${p.ok ? 'ok' : p.answer.slice(0, 40)}`);
          return p;
        };
      const v = Reflect.get(obj, key, recv) as unknown;
      if (typeof v !== 'function' || !TRACED.has(String(key))) return v;
      return async (...args: unknown[]) => {
        const s = performance.now();
        try {
          return await (v as (...a: unknown[]) => Promise<unknown>).apply(obj, args);
        } finally {
          const ids = args.flatMap((a) => (Array.isArray(a) ? a.map((x: InstanceRef) => x.id) : a && typeof a === 'object' && 'id' in a ? [(a as InstanceRef).id] : []));
          mark(s, `TARGET ${String(key)}(${ids.join(',')})`);
        }
      };
    },
  });
  return traced;
}

/** Boot + readiness of k instances started at the same time, with BOOT_DELAY_MS (lib/boot.ts); 200 ms pause after the kill. */
const bootTogether = (k: number) => bootTogetherOf(k, { readiness, env, pauseAfterKillMs: 200 });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  const ts0 = performance.now();
  let t = makeTarget();
  const first = await rollout(t, 'v1', { batches: parseBatches('100%'), readiness, log });
  await t.close();
  if (first.status !== 'succeeded') throw new Error(`initial rollout: ${first.failure?.reason}`);
  console.log(`fleet of ${N} started and on v1 in ${formatDuration(performance.now() - ts0)}`);

  const runs: { r: RolloutResult; wall: number; load: number[] }[] = [];
  for (let k = 0; k < RUNS; k++) {
    events = [];
    t = makeTarget();
    t0 = performance.now();
    // Wall time: the whole rollout() call, new SSH master connections included (a fresh client).
    const r = await rollout(t, `v${k + 2}`, { batches: parseBatches(BATCHES), readiness, log });
    const wall = performance.now() - t0;
    await t.close();
    if (r.status !== 'succeeded') throw new Error(`rollout v${k + 2}: ${r.status}: ${r.failure?.reason}`);
    runs.push({ r, wall, load: loadavg() });
    console.log(
      `run ${k + 1}: wall ${formatDuration(wall)}, read fleet ${formatDuration(wall - r.durationMs)}, prepare ${formatDuration(r.batches[0]!.startedAt - r.startedAt)}, batches ${r.batches.map((b) => formatDuration((b.endedAt ?? b.startedAt) - b.startedAt)).join(', ')}, finish ${formatDuration(r.startedAt + r.durationMs - (r.batches.at(-1)!.endedAt ?? 0))}, load1 ${loadavg()[0]!.toFixed(2)}`,
    );
    await new Promise((res) => setTimeout(res, 500));
  }
  const boots: number[] = [];
  for (let k = 0; k < 5; k++) boots.push(await bootTogether(1));
  const boot = median(boots);
  const largest = Math.max(...runs[0]!.r.batches.map((b) => b.instances.length));
  const togetherRuns = Number(process.env.BENCH_TOGETHER_RUNS ?? 3);
  const together = largest > 1 ? median(await Array.from({ length: togetherRuns }).reduce<Promise<number[]>>(async (acc) => [...(await acc), await bootTogether(largest)], Promise.resolve([]))) : boot;
  const nb = runs[0]!.r.batches.length;
  const floor = nb * boot;
  const worst = runs.reduce((a, b) => (b.wall > a.wall ? b : a));
  const sizes = runs[0]!.r.batches.map((b) => b.instances.length).join('+');
  console.log(`\n### ${N} hosts, ${BALANCER}, batches \`${BATCHES}\` (${nb} batches: ${sizes}), BOOT_DELAY_MS=${BOOT_MS}\n`);
  console.log(`boot+ready of one instance (median of 5): ${Math.round(boot)} ms [${boots.map(Math.round).join(', ')}]; of ${largest} started together (median of ${togetherRuns}): ${Math.round(together)} ms`);
  console.log(`floor = ${nb} × ${Math.round(boot)} ms = ${formatDuration(floor)}\n`);
  console.log('| Run | Wall (rollout() call) | Ratio to floor | Read fleet (SSH masters) | Prepare (upload, LB check) | Batches | Finish | load1 |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const [k, { r, wall, load }] of runs.entries()) {
    const per = r.batches.map((b) => (b.endedAt ?? b.startedAt) - b.startedAt);
    const prep = r.batches[0]!.startedAt - r.startedAt;
    const fin = r.startedAt + r.durationMs - (r.batches.at(-1)!.endedAt ?? 0);
    console.log(
      `| ${k + 1}${wall === worst.wall ? ' (worst)' : ''} | ${formatDuration(wall)} | ${(wall / floor).toFixed(2)}× | ${formatDuration(wall - r.durationMs)} | ${formatDuration(prep)} | ${per.map((m) => formatDuration(m)).join(', ')} | ${formatDuration(fin)} | ${load[0]!.toFixed(2)} |`,
    );
  }
  const w = worst.wall;
  const tfloor = runs[0]!.r.batches.reduce((a, b) => a + (b.instances.length === largest ? together : boot), 0);
  console.log(
    `\nWORST: ${formatDuration(w)} vs floor ${formatDuration(floor)} = ${(w / floor).toFixed(2)}×; per batch over one boot+ready: ${Math.round((w - floor) / nb)} ms; against the contention-aware floor (the batch of ${largest} booting together in ${Math.round(together)} ms): ${(w / tfloor).toFixed(2)}×; load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(', ')}`,
  );
  if (TRACE) {
    console.log('\n### Timeline of the last run (ms from the start of rollout(): start +duration what)\n');
    for (const e of events.sort((a, b) => a.at - b.at)) console.log(`${e.at.toFixed(0).padStart(6)} +${e.ms.toFixed(0).padStart(4)}  ${e.what}`);
  }
} finally {
  await fleet.stop();
}
