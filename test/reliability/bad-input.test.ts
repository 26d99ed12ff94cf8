/**
 * Bad input, every action, the same way: a corpus generated from each action's spec (corpus.ts).
 *  1. In process, the whole corpus through parseInputs: every value the input's kind makes invalid
 *     is refused with an error naming the input; every hostile-but-valid value is accepted as data.
 *  2. Through the built bundle (as the runner runs it), a sample of a few cases per input, with
 *     every other input at a baseline pointing at a counting TCP listener: exit 1, exactly one
 *     ::error:: naming the input, no stack trace, no output, no connection, no command run, no
 *     forged workflow command; hostile-but-valid values: no forged command, nothing executed.
 * The whole corpus through the bundles: bench/bad-input.ts (figures in bench/results/reliability.md).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseInputs, type ActionSpec } from '../../src/manifest/fields.ts';
import { errorMessage } from '../../src/lib/errors.ts';
import { registerSecret, repoRoot } from '../helpers/runner.ts';
import { ACTIONS, BASE_DB_PASSWORD, baseline, casesFor, fill, fixtureDir, loadSpec, sample, type ActionName, type Case } from './corpus.ts';
import { describeCase, pool, runCase, type CaseResult } from './harness.ts';

/** Cases per input run through the bundle here (the bench runs them all). */
const PER_INPUT = Number(process.env.SLIPWAY_BAD_INPUT_PER_INPUT ?? 2);
const PARALLEL = 4;

/**
 * Failures that are known and reported (their fix is in a file this suite's owner may not edit).
 * Each entry must still fail: when it is fixed, this test says so and the entry goes.
 */
/** Cases that may not hold yet, each with the reason; a fixed one fails the test until it is removed here. */
const KNOWN: Array<{ match: (c: Case) => boolean; why: string }> = [];
const known = (c: Case) => KNOWN.find((k) => k.match(c));

const fixtures = fixtureDir(repoRoot);
const missing = ACTIONS.filter((a) => !existsSync(join(repoRoot, 'dist', a, 'index.js')));
registerSecret(BASE_DB_PASSWORD);

describe('bad-input corpus', () => {
  it('every action has a built bundle', () => {
    expect(missing, `build them: node_modules/.bin/node scripts/build.ts ${missing.join(' ')}`).toEqual([]);
  });

  it('the corpus covers every input of every action with each category its kind allows', async () => {
    for (const a of ACTIONS) {
      const spec = await loadSpec(a);
      const cases = await casesFor(a, spec);
      for (const name of Object.keys(spec.inputs)) expect(cases.filter((c) => c.input === name).length, `${a} ${name}`).toBeGreaterThanOrEqual(5);
      const cats = new Set(cases.map((c) => c.category));
      for (const cat of ['huge', 'injection', 'forge']) expect(cats.has(cat as Case['category']), `${a} ${cat}`).toBe(true);
    }
  });

  for (const action of ACTIONS) {
    describe(action, () => {
      let spec: ActionSpec;
      let cases: Case[];
      beforeAll(async () => {
        spec = await loadSpec(action);
        cases = await casesFor(action, spec);
      });

      it('in process: every invalid value is refused naming its input; hostile text is taken as data', async () => {
        const wrong: string[] = [];
        for (const c of cases) {
          const raw = { ...baseline(action as ActionName, 1, fixtures, '/nonexistent/sentinel'), [c.input]: fill(c.value, 1, 'x') };
          let err: unknown;
          try {
            await parseInputs(spec, (n) => raw[n]);
          } catch (e) {
            err = e;
          }
          if (c.expect === 'reject') {
            if (!err) wrong.push(`${describeCase(c)}: accepted`);
            else if (!known(c) && !errorMessage(err).includes(`'${c.input}'`)) wrong.push(`${describeCase(c)}: error does not name the input: ${errorMessage(err).slice(0, 160)}`);
            else if (/\n/.test(errorMessage(err))) wrong.push(`${describeCase(c)}: error is not one line`);
          } else if (err) wrong.push(`${describeCase(c)}: refused: ${errorMessage(err).slice(0, 160)}`);
        }
        expect(wrong).toEqual([]);
      });

      it('control: the baseline inputs alone reach the listener (so a side effect would be seen)', async () => {
        const r = await runCase({ ...cases[0]!, expect: 'hostile' }, { repoRoot, fixtures, spec, baselineOnly: true });
        expect(r.connections, r.run.stdout).toBeGreaterThan(0);
        expect(r.problems).toEqual([]);
      });

      it(`through the bundle: ${PER_INPUT} case(s) per input hold`, async () => {
        const picked = sample(cases, PER_INPUT);
        const results: CaseResult[] = await pool(picked, PARALLEL, (c) => runCase(c, { repoRoot, fixtures, spec }));
        const bad = results.filter((r) => !r.held && !known(r.case)).map((r) => `${describeCase(r.case)} ${JSON.stringify(r.case.value.slice(0, 60))}: ${r.problems.join('; ')}`);
        const stillKnown = results.filter((r) => known(r.case));
        for (const r of stillKnown) if (r.held) bad.push(`${describeCase(r.case)} now holds: remove it from KNOWN (${known(r.case)!.why})`);
        expect(results.length).toBe(picked.length);
        expect(bad).toEqual([]);
        expect(results.filter((r) => r.case.expect === 'reject').length).toBeGreaterThan(0);
      }, 400_000);
    });
  }
});

