/**
 * Detection power of the SLO gate's error-ratio check, side by side with the common approach.
 *
 * Question: how many requests (and seconds at a given probe rate) does a gate need to catch a release
 * with 2% errors with ≥ 99% probability, while blocking a good release (0.1% errors, the baseline)
 * at most 1% of the time? Objective: error-ratio <= 1%.
 *
 * Gates compared in one run:
 *   wilson     Slipway: pass only when the 95% Wilson upper bound is below 1% (else fail/inconclusive:
 *              both block with the default on-inconclusive: fail)
 *   naive      fixed threshold on the point estimate: pass when errors/requests <= 1%
 *   wilson×10  Slipway over 10 looks (duration = 10 × interval), Bonferroni 99.5% per look, fail early
 *   naive×10   the point estimate checked at 10 looks, failing at the first look above 1%
 *   baseline   Slipway's two-proportion test against the old version (0.1%, same n), tolerance 0.5 pp
 * Exact binomial sums for the single-look gates, Monte Carlo for the others (and to cross-check).
 * Then, unless --no-real: the probe gate on real traffic to the sample app (ERROR_RATE 0.02 / 0.001).
 *
 *   node_modules/.bin/node bench/slo-gate-power.ts [--trials 4000] [--no-real]
 */
import { binomialCdf, bonferroni, twoProportionTest, wilson } from '../src/metrics/stats.ts';

const args = process.argv.slice(2);
const TRIALS = Number(args[args.indexOf('--trials') + 1] || 0) || 4000;
const REAL = !args.includes('--no-real');
const LIMIT = 0.01;
const GOOD = 0.001;
const BAD = 0.02;
const TARGET = 0.99; // catch ≥ 99%, false block ≤ 1%

// Deterministic PRNG (mulberry32) so runs are comparable.
let seed = 0x5eed;
function rand(): number {
  seed |= 0;
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
function binomial(n: number, p: number): number {
  // Geometric skipping: O(expected successes), fast for small p.
  let k = 0;
  let i = 0;
  const lq = Math.log1p(-p);
  for (;;) {
    i += Math.floor(Math.log(1 - rand()) / lq) + 1;
    if (i > n) return k;
    k++;
  }
}

/** Largest error count that still passes the Wilson gate at n requests (−1: none passes). */
function wilsonMaxPass(n: number, confidence: number): number {
  let k = -1;
  while (k + 1 <= n && wilson(k + 1, n, confidence).upper < LIMIT) k++;
  return k;
}

interface Row {
  gate: string;
  passBad: number;
  blockGood: number;
}

function singleLook(n: number): Row[] {
  const kw = wilsonMaxPass(n, 0.95);
  const kn = Math.floor(LIMIT * n + 1e-9);
  return [
    { gate: 'wilson', passBad: kw < 0 ? 0 : binomialCdf(kw, n, BAD), blockGood: kw < 0 ? 1 : 1 - binomialCdf(kw, n, GOOD) },
    { gate: 'naive', passBad: binomialCdf(kn, n, BAD), blockGood: 1 - binomialCdf(kn, n, GOOD) },
  ];
}

/** 10 looks at n/10 requests each, cumulative counts; returns P(pass | bad), P(block | good). */
function sequential(n: number, kind: 'wilson' | 'naive', looks = 10): Row {
  const conf = bonferroni(0.95, looks);
  const per = Math.floor(n / looks);
  const run = (p: number) => {
    let passes = 0;
    for (let t = 0; t < TRIALS; t++) {
      let k = 0;
      let m = 0;
      let failed = false;
      for (let l = 0; l < looks && !failed; l++) {
        k += binomial(per, p);
        m += per;
        if (kind === 'wilson' ? wilson(k, m, conf).lower > LIMIT : k / m > LIMIT) failed = true;
      }
      if (!failed && (kind === 'wilson' ? wilson(k, m, conf).upper < LIMIT : k / m <= LIMIT)) passes++;
    }
    return passes / TRIALS;
  };
  return { gate: `${kind}×${looks}`, passBad: run(BAD), blockGood: 1 - run(GOOD) };
}

/** New vs baseline, same n each: fails when the one-sided test is significant at 5%, with the 0.5 pp tolerance. */
function baseline(n: number, tolerance = 0.005): Row {
  const run = (pNew: number) => {
    let flagged = 0;
    for (let t = 0; t < TRIALS; t++) {
      const r = twoProportionTest(binomial(n, pNew), n, binomial(n, GOOD), n, tolerance);
      if (r.pValue < 0.05) flagged++;
    }
    return flagged / TRIALS;
  };
  return { gate: 'baseline', passBad: 1 - run(BAD), blockGood: run(GOOD) };
}

const meets = (r: Row) => r.passBad <= 1 - TARGET && r.blockGood <= 1 - TARGET;

function minimalN(f: (n: number) => Row, lo = 50, hi = 20_000, step = 50): { n: number; row: Row } | undefined {
  // Scan (the exact curves are not monotone at small n: the pass count steps up by one error at a time).
  for (let n = lo; n <= hi; n += step) {
    const row = f(n);
    if (meets(row)) return { n, row };
  }
  return undefined;
}

const pct = (x: number) => `${(x * 100).toFixed(x < 0.001 && x > 0 ? 3 : 1)}%`;
const t0 = performance.now();
const out: string[] = [];
out.push(`# slo-gate detection power (error-ratio <= 1%; bad release ${BAD * 100}%, good release ${GOOD * 100}%)\n`);
out.push(`Monte Carlo: ${TRIALS} trials per point. A gate "meets" the target when it passes the bad release ≤ 1% and blocks the good one ≤ 1%.\n`);

out.push('## Fixed sample sizes (one look)\n');
out.push('| Requests | wilson: passes bad | wilson: blocks good | naive: passes bad | naive: blocks good |');
out.push('| ---: | ---: | ---: | ---: | ---: |');
for (const n of [50, 100, 200, 400, 600, 800, 1000, 1200, 1500, 2000, 3000]) {
  const [w, nv] = singleLook(n);
  out.push(`| ${n} | ${pct(w!.passBad)} | ${pct(w!.blockGood)} | ${pct(nv!.passBad)} | ${pct(nv!.blockGood)} |`);
}

out.push('\n## Requests needed to meet the target\n');
out.push('| Gate | Requests | Passes the 2% release | Blocks the 0.1% release | Seconds at 20 req/s | at 100 req/s |');
out.push('| --- | ---: | ---: | ---: | ---: | ---: |');
const needed: Record<string, number> = {};
const exactW = minimalN((n) => singleLook(n)[0]!, 10, 20_000, 10);
const exactN = minimalN((n) => singleLook(n)[1]!, 10, 20_000, 10);
const seqW = minimalN((n) => sequential(n, 'wilson'), 500, 20_000, 100);
const seqN = minimalN((n) => sequential(n, 'naive'), 500, 20_000, 100);
const base = minimalN((n) => baseline(n), 200, 20_000, 100);
for (const [name, r] of [['wilson (1 look, exact)', exactW], ['naive (1 look, exact)', exactN], ['wilson×10 looks (Monte Carlo)', seqW], ['naive×10 looks (Monte Carlo)', seqN], ['baseline two-proportion, n per side (Monte Carlo)', base]] as const) {
  if (!r) {
    out.push(`| ${name} | > 20000 | | | | |`);
    continue;
  }
  needed[name] = r.n;
  out.push(`| ${name} | ${r.n} | ${pct(r.row.passBad)} | ${pct(r.row.blockGood)} | ${(r.n / 20).toFixed(0)} s | ${(r.n / 100).toFixed(0)} s |`);
}
// Monte Carlo cross-check of the exact single-look numbers.
if (exactW) {
  const kw = wilsonMaxPass(exactW.n, 0.95);
  let pb = 0;
  let bg = 0;
  for (let t = 0; t < TRIALS; t++) {
    if (binomial(exactW.n, BAD) <= kw) pb++;
    if (binomial(exactW.n, GOOD) > kw) bg++;
  }
  out.push(`\nCross-check (Monte Carlo, wilson at ${exactW.n}): passes bad ${pct(pb / TRIALS)}, blocks good ${pct(bg / TRIALS)} (exact: ${pct(exactW.row.passBad)}, ${pct(exactW.row.blockGood)}).`);
}
out.push(`\nWhat a small gate says: at 100 requests the naive gate passes the 2% release ${pct(singleLook(100)[1]!.passBad)} of the time; the Wilson gate ${pct(singleLook(100)[0]!.passBad)} (it answers inconclusive and names the ~381+ requests it needs).`);
const naive10Small = sequential(1000, 'naive');
out.push(`Repeated looks without correction: the naive gate checked 10 times over 1000 requests blocks the good release ${pct(naive10Small.blockGood)} of the time; one look at 1000: ${pct(singleLook(1000)[1]!.blockGood)}.`);
out.push(`\nSimulation time: ${((performance.now() - t0) / 1000).toFixed(1)} s`);

if (REAL && exactW) {
  const { startApp } = await import('../test/helpers/app.ts');
  const { createSloGate } = await import('../src/metrics/gate.ts');
  const rate = 250;
  const n = exactW.n;
  const durationMs = Math.ceil((n / rate) * 1000);
  out.push(`\n## On real traffic (probe → sample app, ${n} requests at ${rate} req/s = ${(durationMs / 1000).toFixed(1)} s per run)\n`);
  out.push('| Release | Run | Requests | Errors | Verdict | Reason |');
  out.push('| --- | ---: | ---: | ---: | --- | --- |');
  const runs = Number(process.env.REAL_RUNS ?? 3);
  for (const [label, errorRate] of [['bad (2%)', BAD], ['good (0.1%)', GOOD]] as const) {
    const app = await startApp({ version: label, errorRate });
    try {
      for (let i = 1; i <= runs; i++) {
        const gate = createSloGate({ provider: 'probe', objectives: 'error-ratio <= 1%', durationMs, intervalMs: durationMs, minSamples: 0, probe: { rate, concurrency: 50, paths: ['/work'] } });
        const r = await gate({ urls: [app.url], version: label });
        const row = r.report.objectives[0]!;
        const errs = Math.round((row.value ?? 0) * (row.samples ?? 0));
        out.push(`| ${label} | ${i} | ${row.samples} | ${errs} | ${r.verdict} | ${row.reason.replace(/\|/g, '\\|')} |`);
      }
    } finally {
      await app.stop();
    }
  }
}
out.push(`\nTotal: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
console.log(out.join('\n'));
