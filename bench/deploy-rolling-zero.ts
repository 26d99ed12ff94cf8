/**
 * Zero downtime, proven with an independent client (issue 16, item 2): `wrk` (no retries; every
 * status counted by a Lua script, every socket error from wrk's own summary) through HAProxy and
 * through nginx while a real fleet (4 sshd "hosts" on loopback, the sample app) rolls to a new
 * version in batches of 1 with Slipway. ROUNDS rollouts in a row per load balancer and client
 * mode (32 keep-alive connections; a fresh connection per request), each under ≥ 100,000
 * requests; the WORST round is what counts. Optionally with a CPU hog beside it (HOG=1: one busy
 * Node process per core minus one). Machine load (os.loadavg) is recorded before every round.
 *
 *   node_modules/.bin/node bench/deploy-rolling-zero.ts            # idle machine
 *   HOG=1 node_modules/.bin/node bench/deploy-rolling-zero.ts      # CPU hog beside it
 *   env: ROUNDS (5), DURATION (min s of wrk per round, 16), MIN_REQUESTS (100000: wrk runs on until
 *   the round has them, estimated from the previous round's rate), LBS (haproxy,nginx), MODES (keepalive,close)
 * Writes bench/results/deploy-rolling-zero[-hog].json and prints Markdown tables.
 */
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHostsFleet, node24, repoRoot } from '../test/integration/deploy/hosts-fleet.ts';
import { rollout, type EngineOptions } from '../src/deploy/engine.ts';
import { parseBatches } from '../src/deploy/batches.ts';
import { MemoryReporter } from '../src/lib/report.ts';
import { countingLua, perSecond, runWrk, writeLuaScript, wrkVersion, type WrkResult } from './lib/wrk.ts';
import { fleetTarget } from './lib/fleet.ts';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const DURATION = Number(process.env.DURATION ?? 16);
const MIN_REQUESTS = Number(process.env.MIN_REQUESTS ?? 100_000);
let lastRate = 2500;
const LBS = (process.env.LBS ?? 'haproxy,nginx').split(',') as ('haproxy' | 'nginx')[];
const MODES = (process.env.MODES ?? 'keepalive,close').split(',') as ('keepalive' | 'close')[];
const HOG = process.env.HOG === '1';
const readiness = { threshold: 2, intervalMs: 100, timeoutMs: 15_000, minReadyMs: 0, requestTimeoutMs: 1000, versionCheck: 'required' as const };

// wrk's counting script (lib/wrk.ts), removed at the end.
const lua = writeLuaScript(countingLua(), 'slipway-wrk-');
const luaFile = lua.file;

/** wrk's counts of one round plus its rate over the whole run (requests per second). */
type WrkRate = WrkResult & { perSec: number };

interface Round { lb: string; mode: string; round: number; version: string; load1: number; wrk: WrkRate; rolloutMs: number; reloads: number; status: string }
const rounds: Round[] = [];
const hogs: number[] = [];
if (HOG) {
  for (let k = 0; k < Math.max(1, cpus().length - 1); k++) hogs.push(spawn(node24, ['-e', 'for(;;){}'], { stdio: 'ignore' }).pid!);
  await new Promise((r) => setTimeout(r, 3000));
}
const engine = (log: MemoryReporter, o: Partial<EngineOptions> = {}): EngineOptions => ({ batches: parseBatches('1'), readiness, log, ...o });
try {
  for (const lb of LBS) {
    const fleet = await startHostsFleet(4, { balancer: lb });
    try {
      const log = new MemoryReporter();
      let t = fleetTarget(fleet, { balancer: lb, keepReleases: 3, log });
      const r0 = await rollout(t, 'v0', engine(log, { batches: parseBatches('100%') }));
      await t.close();
      if (r0.status !== 'succeeded') throw new Error(`initial deploy: ${r0.failure?.reason}`);
      let n = 0;
      for (const mode of MODES) {
        for (let k = 1; k <= ROUNDS; k++) {
          const version = `v${++n}`;
          const load1 = loadavg()[0]!;
          const w = runWrk(fleet.url, mode, 300, luaFile);
          const t0 = performance.now();
          await new Promise((r) => setTimeout(r, 1500));
          t = fleetTarget(fleet, { balancer: lb, keepReleases: 3, log });
          const r = await rollout(t, version, engine(log));
          const reloads = t.nginxUpstream?.reloads ?? 0;
          await t.close();
          // Keep the load on until the round has ≥ MIN_REQUESTS (estimated from the last round's
          // rate) and at least 1 s after the rollout; then stop wrk.
          const needMs = Math.max(DURATION * 1000, (MIN_REQUESTS * 1.6 * 1000) / lastRate, performance.now() - t0 + 1000);
          await new Promise((res) => setTimeout(res, Math.max(0, Math.min(240_000, needMs) - (performance.now() - t0))));
          w.stop();
          const run = await w.done;
          const res: WrkRate = { ...run.result, perSec: perSecond(run) };
          lastRate = Math.max(500, res.perSec);
          const row: Round = { lb, mode, round: k, version, load1, wrk: res, rolloutMs: Math.round(r.durationMs), reloads, status: r.status };
          rounds.push(row);
          console.log(`${lb} ${mode} round ${k}: ${r.status} in ${r.durationMs.toFixed(0)} ms, ${res.total} requests, non-2xx ${res.non2xx} ${JSON.stringify(res.statuses)}, socket errors ${res.socketErrors} ${JSON.stringify(res.errors)}, ${res.perSec}/s, reloads ${reloads}, load1 ${load1.toFixed(2)}`);
          if (r.status !== 'succeeded') throw new Error(`rollout ${version}: ${r.failure?.reason}`);
          if (res.total < MIN_REQUESTS) console.log(`  NOTE: fewer than ${MIN_REQUESTS} requests in this round`);
        }
      }
    } finally {
      await fleet.stop();
    }
  }
} finally {
  for (const pid of hogs) process.kill(pid, 'SIGKILL');
  lua.remove();
}
const out = join(repoRoot, 'bench/results', `deploy-rolling-zero${HOG ? '-hog' : ''}.json`);
writeFileSync(out, JSON.stringify({ at: new Date().toISOString(), cpus: cpus().length, hog: HOG, hogProcesses: hogs.length, rounds }, null, 2) + '\n');
console.log(`\n### wrk through the load balancer during a 4-host rollout (batches of 1), worst of ${ROUNDS} per row${HOG ? ', CPU hog beside it' : ''}\n`);
console.log('| Load balancer | Client | Rounds | Requests per round (min) | Non-2xx (worst) | Socket errors (worst) | Reloads per rollout | Rollout (max) | load1 before (max) |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const lb of LBS) {
  for (const mode of MODES) {
    const rs = rounds.filter((r) => r.lb === lb && r.mode === mode);
    if (!rs.length) continue;
    const worst = (f: (r: Round) => number) => Math.max(...rs.map(f));
    console.log(`| ${lb} | ${mode === 'keepalive' ? '32 keep-alive connections' : '32 connections, a fresh one per request'} | ${rs.length} | ${Math.min(...rs.map((r) => r.wrk.total)).toLocaleString('en-US')} | **${worst((r) => r.wrk.non2xx)}** | **${worst((r) => r.wrk.socketErrors)}** | ${worst((r) => r.reloads)} | ${(worst((r) => r.rolloutMs) / 1000).toFixed(2)} s | ${worst((r) => r.load1).toFixed(2)} |`);
  }
}
console.log(`\n${cpus().length} CPUs; ${wrkVersion()}`);
