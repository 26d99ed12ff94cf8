/**
 * Blue/green under load (4 sshd "hosts" on loopback, nginx or HAProxy in front, the sample app),
 * side by side with the rolling strategy in one run:
 *   - deploy time: rolling (batches of 1) vs blue/green (start the whole new set on the second
 *     ports, then one reload);
 *   - switch time: the one load-balancer change that moves all traffic (nginx: slot records over
 *     SSH, nginx -t, reload, settle; HAProxy: the runtime API), and the switch back (rollback: true
 *     while the old set still runs) vs a rolling rollback;
 *   - failed requests during each (goal 0). Constant client load through the load balancer (8
 *     keep-alive connections) from a client that NEVER retries (test/integration/deploy/load.ts):
 *     every non-2xx and every socket error counts as failed; socket errors (a keep-alive
 *     connection closed under a request, as an nginx reload does) are also shown apart.
 *   node_modules/.bin/node bench/deploy-bluegreen.ts   (BENCH_ROUNDS=3 switch/back rounds,
 *                                                       BENCH_BALANCER=nginx|haproxy)
 */
import { startHostsFleet } from '../test/integration/deploy/hosts-fleet.ts';
import { freeOffset, measure, startLoad, type LoadStats } from '../test/integration/deploy/load.ts';
import { rollbackFleet, rollout, type EngineOptions, type RolloutResult } from '../src/deploy/engine.ts';
import { blueGreenRollback, blueGreenRollout } from '../src/deploy/strategies.ts';
import { parseBatches } from '../src/deploy/batches.ts';
import { MemoryReporter } from '../src/lib/report.ts';
import { formatDuration } from '../src/lib/duration.ts';
import { fleetTarget } from './lib/fleet.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BALANCER = (process.env.BENCH_BALANCER ?? 'nginx') as 'nginx' | 'haproxy';
const readiness = { threshold: 2, intervalMs: 100, timeoutMs: 15_000, minReadyMs: 0, requestTimeoutMs: 1000 };

const fleet = await startHostsFleet(4, { balancer: BALANCER });
const offset = await freeOffset(
  fleet.hosts.map((h) => h.appPort),
  50,
);
const log = new MemoryReporter();
const makeTarget = (blueGreen: boolean) => fleetTarget(fleet, { balancer: BALANCER, keepReleases: 10, greenPortOffset: offset, listIdleSlots: blueGreen, log });
const engine = (o: Partial<EngineOptions> = {}): EngineOptions => ({ batches: parseBatches('1'), readiness, log, ...o });

/** Runs fn under load; returns its result, the load counts, and the wall time. */
async function underLoad<T>(fn: () => Promise<T>): Promise<{ r: T; load: LoadStats; ms: number }> {
  const load = startLoad(fleet.url, { concurrency: 8 });
  await new Promise((res) => setTimeout(res, 300));
  const t0 = performance.now();
  const r = await fn();
  const ms = performance.now() - t0;
  await new Promise((res) => setTimeout(res, 300));
  return { r, load: await load.stop(), ms };
}
async function served(): Promise<string> {
  return Object.keys((await measure(fleet.url, 40, 4)).byVersion)
    .sort()
    .join(',');
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
function check(r: RolloutResult, what: string) {
  if (r.status !== 'succeeded') throw new Error(`${what}: ${r.status}: ${r.failure?.reason}`);
}

const rows: string[][] = [];
const fmtLoad = (l: LoadStats) => [String(l.ok + l.failed), `**${l.failed}**`, String(l.socketErrors)];
try {
  let t = makeTarget(false);
  check(await rollout(t, 'v1', engine({ batches: parseBatches('100%') })), 'seed v1');
  await t.close();

  // Rolling v1 → v2, then a rolling rollback to v1 (previous), both under load.
  t = makeTarget(false);
  const ro = await underLoad(() => rollout(t, 'v2', engine()));
  await t.close();
  check(ro.r, 'rolling v2');
  t = makeTarget(false);
  const rb = await underLoad(() => rollbackFleet(t, engine()));
  await t.close();
  check(rb.r, 'rolling rollback');
  rows.push(['rolling deploy v1→v2 (batches of 1)', formatDuration(ro.ms), '—', ...fmtLoad(ro.load)]);
  rows.push(['rolling rollback v2→v1', formatDuration(rb.ms), '—', ...fmtLoad(rb.load)]);

  // Blue/green rounds: deploy vN (new set on the idle ports, one switch), then switch back.
  const deployMs: number[] = [];
  const switchMs: number[] = [];
  const backMs: number[] = [];
  const backSwitchMs: number[] = [];
  const totals = { deploy: { ok: 0, failed: 0, socket: 0 }, back: { ok: 0, failed: 0, socket: 0 } };
  const add = (a: { ok: number; failed: number; socket: number }, l: LoadStats) => {
    a.ok += l.ok;
    a.failed += l.failed;
    a.socket += l.socketErrors;
  };
  for (let k = 0; k < ROUNDS; k++) {
    const v = `bg${k + 1}`;
    t = makeTarget(true);
    const d = await underLoad(() => blueGreenRollout(t, v, { keepPreviousMs: 600_000, readiness, log }));
    await t.close();
    check(d.r, `blue/green ${v}`);
    if ((await served()) !== v) throw new Error(`after the switch ${BALANCER} serves ${await served()}`);
    deployMs.push(d.ms);
    switchMs.push(d.r.blueGreen!.switchMs!);
    add(totals.deploy, d.load);
    t = makeTarget(true);
    const b = await underLoad(() => blueGreenRollback(t, { keepPreviousMs: 600_000, readiness, log }));
    await t.close();
    check(b.r, `switch back from ${v}`);
    if (b.r.blueGreen!.reused.length !== 4) throw new Error('switch back started instances instead of reusing the old set');
    backMs.push(b.ms);
    backSwitchMs.push(b.r.blueGreen!.switchMs!);
    add(totals.back, b.load);
  }
  rows.push([
    `blue/green deploy (new set on second ports + one switch), median of ${ROUNDS}`,
    formatDuration(median(deployMs)),
    formatDuration(median(switchMs)),
    String(totals.deploy.ok + totals.deploy.failed),
    `**${totals.deploy.failed}**`,
    String(totals.deploy.socket),
  ]);
  rows.push([
    `blue/green switch back (rollback: true, old set still running), median of ${ROUNDS}`,
    formatDuration(median(backMs)),
    formatDuration(median(backSwitchMs)),
    String(totals.back.ok + totals.back.failed),
    `**${totals.back.failed}**`,
    String(totals.back.socket),
  ]);

  console.log(`\n### Blue/green vs rolling on ${BALANCER} under load (4 hosts, 8 keep-alive client connections, no retries)\n`);
  console.log(
    `| Step | Took (wall) | Traffic switch (one ${BALANCER} change) | Requests | Failed (non-2xx + socket errors) | of which socket errors (a closed keep-alive connection) |`,
  );
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  console.log(
    `\nRatios: blue/green deploy ÷ rolling deploy = ${(median(deployMs) / ro.ms).toFixed(2)}×; switch back ÷ rolling rollback = ${(median(backMs) / rb.ms).toFixed(2)}×`,
  );
  console.log(`Switch times (ms): ${switchMs.map(Math.round).join(', ')}; switch-back switch times: ${backSwitchMs.map(Math.round).join(', ')}`);
} finally {
  await fleet.stop();
}
