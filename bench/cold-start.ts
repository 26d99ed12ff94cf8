/**
 * Cold start: time from process start to exit of an action bundle given a bad input (it must fail
 * before any side effect), against bare `node -e ''`, interleaved in the same run on Node 24.
 *   node bench/cold-start.ts [runs=30] [action ...]   (DIST=/some/dir to time another build than dist/)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const node = join(root, 'node_modules/.bin/node');
const runs = Number(process.argv[2] ?? 30);
const dist = process.env.DIST || join(root, 'dist');
const wanted = process.argv.slice(3);

/** A bad input per action: fails at input parsing, before anything is contacted. */
const BAD: Record<string, Record<string, string>> = {
  'smoke-test': { INPUT_URL: '', INPUT_TIMEOUT: '10s' },
  migrate: { INPUT_MODE: 'nonsense' },
  'deploy-rolling': { INPUT_TARGET: 'nonsense' },
  'slo-gate': { INPUT_OBJECTIVES: 'p101 <= 1s' },
  'build-and-tag': { INPUT_IMAGE: 'Not A Valid Image!' },
  notify: { INPUT_CHANNELS: 'carrier-pigeon' },
  release: { INPUT_ENVIRONMENT: '' },
  flags: { INPUT_ENVIRONMENT: 'production', INPUT_MODE: 'nonsense' },
};

function time(args: string[], env: Record<string, string>): number {
  const t = process.hrtime.bigint();
  spawnSync(node, args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'ignore' });
  return Number(process.hrtime.bigint() - t) / 1e6;
}
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(s.length * p))]!; };
const size = (dir: string, main = false) => readdirSync(dir).filter((f) => f.endsWith('.js') && (!main || f === 'index.js')).reduce((n, f) => n + statSync(join(dir, f)).size, 0);

const actions = (wanted.length ? wanted : Object.keys(BAD)).filter((a) => existsSync(join(dist, a, 'index.js')));
const bare: number[] = [];
const times: Record<string, number[]> = Object.fromEntries(actions.map((a) => [a, []]));
for (let i = 0; i < 3; i++) time(['-e', ''], {});
for (let i = 0; i < runs; i++) {
  bare.push(time(['-e', ''], {}));
  for (const a of actions) times[a]!.push(time([join(dist, a, 'index.js')], BAD[a] ?? {}));
}
const b = median(bare);
console.log(`Node ${spawnSync(node, ['--version']).stdout.toString().trim()}, ${runs} runs each, interleaved. bare \`node -e ''\`: median ${b.toFixed(1)} ms (p10 ${pct(bare, 0.1).toFixed(1)}, p90 ${pct(bare, 0.9).toFixed(1)})\n`);
const shared = existsSync(join(dist, 'shared')) ? `${(size(join(dist, 'shared')) / 1024).toFixed(0)} kB` : '—';
console.log('| bundle | median ms | p10–p90 ms | ratio to bare node | index.js | all .js (own folder) | shared bundle .js (all actions) |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const a of actions) {
  const t = times[a]!;
  const dir = join(dist, a);
  console.log(`| ${a} | ${median(t).toFixed(1)} | ${pct(t, 0.1).toFixed(1)}–${pct(t, 0.9).toFixed(1)} | ${(median(t) / b).toFixed(2)}× | ${(size(dir, true) / 1024).toFixed(0)} kB | ${(size(dir) / 1024).toFixed(0)} kB | ${shared} |`);
}
