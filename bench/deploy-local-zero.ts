/**
 * Zero downtime on the `local` target (issue 16, item 1: "the local target (the demo) … meets the
 * same rule"), proven with an independent client: `wrk` (no retries; every status counted by a
 * Lua `response()` hook, every socket error from wrk's own summary: connect/read/write/timeout)
 * through the local fleet's URL (src/cli/demo/local.ts: 4 copies of the sample app as child
 * processes) behind each balancer the local target offers — the built-in proxy (proxy.ts) and
 * nginx (when installed) — while the fleet goes through every kind of change:
 *
 *   rolling   v(n) in batches of 1             rollback   back to v(n-1) (rollbackFleet)
 *   canary    steps 10%, 50%, 100% (gate pass) bluegreen  switch to the green slots, then switch back
 *
 * One wrk run per change (started 0.5 s before it, stopped 0.5 s after it with SIGINT, which makes
 * wrk print its summary), ROUNDS rounds in a row per balancer and client mode (32 keep-alive
 * connections; a fresh connection per request: wrk's `-H 'Connection: close'`, so wrk reconnects
 * after every answer). The WORST round per row is what counts; the 1-minute load average before
 * each round is recorded.
 *
 *   node_modules/.bin/node bench/deploy-local-zero.ts
 *   env: ROUNDS (5), LBS (builtin,nginx), MODES (keepalive,close), PHASES (rolling,rollback,canary,bluegreen),
 *   METHOD (GET; POST sends a small JSON body: a request a proxy may not retry once delivered),
 *   APP_DRAIN_MS (the sample app's own drain on SIGTERM, DRAIN_TIMEOUT_MS; 0 = an app that exits at once)
 * Writes bench/results/deploy-local-zero.json and prints Markdown tables.
 */
import { cpus, loadavg } from 'node:os';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLocalFleet, findOnPath, type LocalFleet } from '../src/cli/demo/local.ts';
import { rollout, rollbackFleet, type EngineOptions, type RolloutResult } from '../src/deploy/engine.ts';
import { blueGreenRollback, blueGreenRollout } from '../src/deploy/strategies.ts';
import { parseBatches } from '../src/deploy/batches.ts';
import { MemoryReporter } from '../src/lib/report.ts';
import { freePort } from '../test/helpers/servers.ts';
import { node24, repoRoot } from '../test/integration/deploy/hosts-fleet.ts';
import { countingLua, runWrk, writeLuaScript, wrkVersion, type WrkResult } from './lib/wrk.ts';

type Lb = 'builtin' | 'nginx';
type Mode = 'keepalive' | 'close';
type Phase = 'rolling' | 'rollback' | 'canary' | 'bluegreen';
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const LBS = (process.env.LBS ?? `builtin${findOnPath('nginx') ? ',nginx' : ''}`).split(',') as Lb[];
const MODES = (process.env.MODES ?? 'keepalive,close').split(',') as Mode[];
const PHASES = (process.env.PHASES ?? 'rolling,rollback,canary,bluegreen').split(',') as Phase[];
const readiness = { threshold: 2, intervalMs: 100, timeoutMs: 20_000, minReadyMs: 0, requestTimeoutMs: 2000, versionCheck: 'required' as const };

const METHOD = process.env.METHOD ?? 'GET';
const APP_DRAIN_MS = process.env.APP_DRAIN_MS;
const lua = writeLuaScript(countingLua(`wrk.method = "${METHOD}"\n${METHOD === 'GET' ? '' : 'wrk.body = "{}"\nwrk.headers["Content-Type"] = "application/json"'}\n`), 'slipway-wrk-local-');

interface Row {
  lb: Lb;
  mode: Mode;
  round: number;
  phase: Phase;
  load1: number;
  wrk: WrkResult;
  ms: number;
  status: string;
}
const rows: Row[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function phaseRun(fleet: LocalFleet, phase: Phase, v: { next: string }, log: MemoryReporter): Promise<RolloutResult[]> {
  const o: EngineOptions = { batches: parseBatches('1'), readiness, log };
  switch (phase) {
    case 'rolling':
      return [await rollout(fleet.target, v.next, o)];
    case 'rollback':
      return [await rollbackFleet(fleet.target, o)];
    case 'canary':
      return [await rollout(fleet.target, v.next, { ...o, batches: [], canary: [0.1, 0.5, 1], gate: async () => ({ pass: true, reason: 'bench' }) })];
    case 'bluegreen': {
      const a = await blueGreenRollout(fleet.target, v.next, { readiness, log, keepPreviousMs: 60_000 });
      if (a.status !== 'succeeded') return [a];
      await sleep(300);
      return [a, await blueGreenRollback(fleet.target, { readiness, log, keepPreviousMs: 0 })];
    }
  }
}

let n = 0;
for (const lb of LBS) {
  for (const mode of MODES) {
    const base = await freePort({ min: 20000, max: 30000 });
    const fleet = await createLocalFleet({ command: [node24, join(repoRoot, 'examples/app/server.js')], instances: 4, basePort: base, greenBasePort: base + 10, balancer: lb, drainTimeoutMs: 5000, env: () => (APP_DRAIN_MS === undefined ? {} : { DRAIN_TIMEOUT_MS: APP_DRAIN_MS }) });
    try {
      await fleet.start(`v${++n}`);
      for (let k = 1; k <= ROUNDS; k++) {
        const load1 = loadavg()[0]!;
        for (const phase of PHASES) {
          const log = new MemoryReporter();
          const v = { next: `v${phase === 'rollback' ? n : ++n}` };
          // wrk until stop() (SIGINT: wrk prints its summary and runs done()); 300 s is only a cap.
          const w = runWrk(fleet.url, mode, 300, lua.file);
          await sleep(500);
          const t0 = performance.now();
          const results = await phaseRun(fleet, phase, v, log);
          const ms = Math.round(performance.now() - t0);
          await sleep(500);
          w.stop();
          const res = (await w.done).result;
          const status = results.map((r) => r.status).join('+');
          rows.push({ lb, mode, round: k, phase, load1, wrk: res, ms, status });
          console.log(
            `${lb} ${mode} round ${k} ${phase}: ${status} in ${ms} ms; ${res.total} requests, non-2xx ${res.non2xx} ${JSON.stringify(res.statuses)}, socket errors ${res.socketErrors} ${JSON.stringify(res.errors)}; load1 ${load1.toFixed(2)}; versions ${fleet
              .status()
              .map((s) => s.version)
              .join(',')}`,
          );
          if (results.some((r) => r.status !== 'succeeded')) throw new Error(`${phase}: ${results.map((r) => r.failure?.reason).join('; ')}\n${log.text()}`);
        }
      }
    } finally {
      await fleet.stop();
    }
  }
}
lua.remove();

const out = join(repoRoot, 'bench/results', `deploy-local-zero${METHOD === 'GET' ? '' : `-${METHOD.toLowerCase()}`}.json`);
writeFileSync(out, JSON.stringify({ at: new Date().toISOString(), cpus: cpus().length, method: METHOD, appDrainMs: APP_DRAIN_MS ?? 'default', rounds: rows }, null, 2) + '\n');
console.log(`\n### wrk (${METHOD}) through the local fleet (4 instances), worst of ${ROUNDS} rounds per row\n`);
console.log('| Balancer | Client | Change | Rounds | Requests (fewest) | Non-2xx (worst) | Socket errors (worst, c/r/w/t) | Change took (max) | load1 before (max) |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const lb of LBS)
  for (const mode of MODES)
    for (const phase of PHASES) {
      const rs = rows.filter((r) => r.lb === lb && r.mode === mode && r.phase === phase);
      if (!rs.length) continue;
      const worst = (f: (r: Row) => number) => Math.max(...rs.map(f));
      const w = rs.reduce((a, r) => (r.wrk.socketErrors > a.wrk.socketErrors ? r : a));
      const e = w.wrk.errors;
      console.log(
        `| ${lb === 'builtin' ? 'built-in proxy' : 'nginx'} | ${mode === 'keepalive' ? '32 keep-alive' : '32, fresh connection per request'} | ${phase} | ${rs.length} | ${Math.min(...rs.map((r) => r.wrk.total)).toLocaleString('en-US')} | **${worst((r) => r.wrk.non2xx)}** | **${w.wrk.socketErrors}** (${e.connect}/${e.read}/${e.write}/${e.timeout}) | ${(worst((r) => r.ms) / 1000).toFixed(2)} s | ${worst((r) => r.load1).toFixed(2)} |`,
      );
    }
console.log(`\n${cpus().length} CPUs; ${wrkVersion()}`);
