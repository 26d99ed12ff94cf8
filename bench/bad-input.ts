/**
 * The whole bad-input corpus (test/reliability/corpus.ts) through every built bundle: counts tried
 * and held per action, the cases that did not hold, and the wall time. Then the hostile review's
 * scenarios (test/reliability/review.ts: secrets echoed back in every form, a query string before
 * the API path, a backtracking regex, a slipway.yml of megabytes), one at a time. Writes both
 * tables into bench/results/reliability.md (between the BAD-INPUT and REVIEW markers) unless
 * --no-write; --no-review skips the scenarios.
 *
 *   node_modules/.bin/node bench/bad-input.ts [--parallel 4] [--per-input N] [--no-review] [action …]
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { ACTIONS, casesFor, fixtureDir, loadSpec, sample, type ActionName, type Case } from '../test/reliability/corpus.ts';
import { describeCase, pool, runCase, type CaseResult } from '../test/reliability/harness.ts';
import { runReview, type ReviewResult } from '../test/reliability/review.ts';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const opt = (name: string, def: number) => {
  const i = args.indexOf(name);
  if (i < 0) return def;
  const v = Number(args[i + 1]);
  args.splice(i, 2);
  return v;
};
const parallel = opt('--parallel', 4);
const perInput = opt('--per-input', Infinity);
const write = !args.includes('--no-write');
const review = !args.includes('--no-review');
const wanted = args.filter((a) => !a.startsWith('--')) as ActionName[];
const actions = wanted.length ? wanted : [...ACTIONS];

const fixtures = fixtureDir(root);
const started = performance.now();
const rows: string[][] = [];
const failures: CaseResult[] = [];
let totalTried = 0;
let totalHeld = 0;
for (const action of actions) {
  if (!existsSync(join(root, 'dist', action, 'index.js'))) {
    console.error(`dist/${action}/index.js is missing: build it with node_modules/.bin/node scripts/build.ts ${action}`);
    process.exitCode = 1;
    continue;
  }
  const spec = await loadSpec(action);
  const all = await casesFor(action, spec);
  const cases: Case[] = Number.isFinite(perInput) ? sample(all, perInput) : all;
  const t = performance.now();
  const results = await pool(cases, parallel, (c) => runCase(c, { repoRoot: root, fixtures, spec }));
  const ms = performance.now() - t;
  const held = results.filter((r) => r.held).length;
  const rejects = results.filter((r) => r.case.expect === 'reject');
  const hostile = results.filter((r) => r.case.expect === 'hostile');
  totalTried += results.length;
  totalHeld += held;
  failures.push(...results.filter((r) => !r.held));
  rows.push([
    action,
    String(Object.keys(spec.inputs).length),
    String(results.length),
    `${rejects.filter((r) => r.held).length}/${rejects.length}`,
    `${hostile.filter((r) => r.held).length}/${hostile.length}`,
    String(held),
    `${(ms / 1000).toFixed(1)} s`,
    `${Math.round(ms / results.length)} ms`,
  ]);
  console.error(`${action}: ${held}/${results.length} held in ${(ms / 1000).toFixed(1)} s`);
}
const wall = (performance.now() - started) / 1000;
rows.push(['**total**', '', String(totalTried), '', '', String(totalHeld), `${wall.toFixed(1)} s`, '']);

const header = ['Action', 'Inputs', 'Cases tried', 'Rejected at the edge (held/tried)', 'Hostile but valid: no harm (held/tried)', 'Held', 'Wall time', 'Per case'];
const table = [
  `| ${header.join(' | ')} |`,
  `|${header.map(() => '---').join('|')}|`,
  ...rows.map((r) => `| ${r.join(' | ')} |`),
].join('\n');

const failLines = failures.map((f) => `- ${describeCase(f.case)}: value ${JSON.stringify(f.case.value.slice(0, 80))}${f.case.value.length > 80 ? '…' : ''}: ${f.problems.join('; ')}`);
const cmd = `node_modules/.bin/node bench/bad-input.ts --parallel ${parallel}${Number.isFinite(perInput) ? ` --per-input ${perInput}` : ''}${wanted.length ? ` ${wanted.join(' ')}` : ''}`;
const block = [
  '<!-- BAD-INPUT:START -->',
  `Command: \`${cmd}\` (${parallel} bundles at a time, ${availableParallelism()} CPUs, shared machine). Every case runs the built`,
  'bundle with one input bad and every other input at a harmless baseline pointing at a counting TCP listener.',
  '',
  table,
  '',
  failures.length ? `Cases that did not hold (${failures.length}):\n\n${failLines.slice(0, 80).join('\n')}${failLines.length > 80 ? `\n- … and ${failLines.length - 80} more` : ''}` : 'Every case held.',
  '<!-- BAD-INPUT:END -->',
].join('\n');

console.log(block);

let reviewBlock: string | undefined;
let reviewFailed = 0;
if (review) {
  const t = performance.now();
  const results: ReviewResult[] = await runReview();
  const secs = (performance.now() - t) / 1000;
  reviewFailed = results.filter((r) => !r.held).length;
  const rows = results.map((r) => `| ${r.finding} | ${r.name.replace(/\|/g, '\\|')} | ${r.held ? 'held' : `**did not hold**: ${r.problems.join('; ').replace(/\|/g, '\\|')}`} | ${(r.durationMs / 1000).toFixed(1)} s |`);
  reviewBlock = [
    '<!-- REVIEW:START -->',
    `Command: the same; ${results.length} scenarios, one at a time, against a server on 127.0.0.1 that answers 500 with the request's URL and headers`,
    `(or serves a body of 40 \`a\` and \`!\`). Each must end by itself with exit 1, no stack trace and no secret in any form (as given, percent-, form- or JSON-encoded, base64).`,
    '',
    '| Finding | Scenario | Result | Time |',
    '|---|---|---|---|',
    ...rows,
    `| **total** | ${results.length} tried | ${results.length - reviewFailed} held | ${secs.toFixed(1)} s |`,
    '<!-- REVIEW:END -->',
  ].join('\n');
  console.log(reviewBlock);
  console.error(`hostile review: ${results.length - reviewFailed}/${results.length} held in ${secs.toFixed(1)} s`);
}

if (write) {
  const file = join(root, 'bench/results/reliability.md');
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Reliability\n\n## Bad input\n\n<!-- BAD-INPUT:START -->\n<!-- BAD-INPUT:END -->\n';
  text = text.includes('<!-- BAD-INPUT:START -->') ? text.replace(/<!-- BAD-INPUT:START -->[\s\S]*<!-- BAD-INPUT:END -->/, block) : `${text}\n${block}\n`;
  if (reviewBlock) {
    text = text.includes('<!-- REVIEW:START -->')
      ? text.replace(/<!-- REVIEW:START -->[\s\S]*<!-- REVIEW:END -->/, reviewBlock)
      : text.replace('<!-- BAD-INPUT:END -->', `<!-- BAD-INPUT:END -->\n\n## Hostile review (issue 18): the findings through the bundles\n\n${reviewBlock}`);
  }
  writeFileSync(file, text);
}
if (failures.length || reviewFailed) process.exitCode = 1;
