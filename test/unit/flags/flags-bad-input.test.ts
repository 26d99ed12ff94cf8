/**
 * The flags action under the reliability suite's bad-input corpus (test/reliability/corpus.ts,
 * generated from the spec): every value its kind makes invalid is refused at the edge with one
 * line naming the input; hostile text is taken as data. Plus the flag-specific values: a
 * percentage outside 0–100, a bad flag name, decreasing steps.
 */
import { describe, expect, it } from 'vitest';
import { parseInputs } from '../../../src/manifest/fields.ts';
import { errorMessage } from '../../../src/lib/errors.ts';
import { spec } from '../../../src/actions/flags/inputs.ts';
import { casesFor, fill, type ActionName } from '../../reliability/corpus.ts';
import { parseCommandState } from '../../../src/flags/command.ts';
import { describeState, parseFlagSteps, parseReleaseFlag } from '../../../src/flags/model.ts';

const baseline: Record<string, string> = { environment: 'production', 'unleash-url': 'http://127.0.0.1:1', enable: 'checkout' };

async function parse(raw: Record<string, string>) {
  return parseInputs(spec, (n) => raw[n]);
}

describe('flags inputs', () => {
  it('the corpus: invalid values refused naming the input, in one line; hostile text taken as data', async () => {
    const cases = await casesFor('flags' as ActionName, spec);
    expect(cases.length).toBeGreaterThan(100);
    const wrong: string[] = [];
    for (const c of cases) {
      const raw = { ...baseline, [c.input]: fill(c.value, 1, 'x') };
      let err: unknown;
      try {
        await parse(raw);
      } catch (e) {
        err = e;
      }
      if (c.expect === 'reject') {
        if (!err) wrong.push(`${c.input} ${c.label}: accepted`);
        else if (!errorMessage(err).includes(`'${c.input}'`)) wrong.push(`${c.input} ${c.label}: error does not name the input: ${errorMessage(err).slice(0, 160)}`);
        else if (/\n/.test(errorMessage(err))) wrong.push(`${c.input} ${c.label}: error is not one line`);
        if (c.secretToken && err && errorMessage(err).includes(c.secretToken)) wrong.push(`${c.input} ${c.label}: the secret is in the error`);
      } else if (err) wrong.push(`${c.input} ${c.label}: refused: ${errorMessage(err).slice(0, 160)}`);
    }
    expect(wrong).toEqual([]);
  });

  it('a percentage outside 0–100 %, a bad flag name and steps that do not increase are refused, naming input, value and what was expected', async () => {
    await expect(parse({ ...baseline, rollout: 'checkout=150%' })).rejects.toThrow(/Input 'rollout'.*150%.*0% to 100%/);
    await expect(parse({ ...baseline, rollout: 'checkout=-1%' })).rejects.toThrow(/Input 'rollout'.*not a percentage from 0% to 100%/);
    await expect(parse({ ...baseline, rollout: 'checkout' })).rejects.toThrow(/Input 'rollout'.*needs a percentage/);
    await expect(parse({ ...baseline, release: 'new checkout' })).rejects.toThrow(/Input 'release'.*flag name/);
    await expect(parse({ ...baseline, enable: 'a;rm -rf /' })).rejects.toThrow(/Input 'enable'/);
    await expect(parse({ ...baseline, steps: '50%,25%' })).rejects.toThrow(/Input 'steps'.*steps must increase \(50% then 25%\)/);
    await expect(parse({ ...baseline, steps: '0%,50%' })).rejects.toThrow(/Input 'steps'.*not a percentage in \(0%, 100%\]/);
    const ok = await parse({ ...baseline, rollout: 'checkout=12.5%, search=100%', release: 'a, b=5%', steps: '5%,25%,50%,100%' });
    expect(ok.rollout).toEqual([{ flag: 'checkout', percent: 12.5 }, { flag: 'search', percent: 100 }]);
    expect(ok.release).toEqual([{ flag: 'a' }, { flag: 'b', percent: 5 }]);
    expect(ok.steps).toEqual([5, 25, 50, 100]);
  });

  it('reads what a read-command prints, and says states the way people do', () => {
    expect(parseCommandState('on\n')).toEqual({ enabled: true });
    expect(parseCommandState('25%')).toEqual({ enabled: true, rollout: 25 });
    expect(parseCommandState('{"enabled":false,"rollout":5}')).toEqual({ enabled: false, rollout: 5 });
    expect(parseCommandState('{"enabled":true,"rollout":500}')).toBeUndefined();
    expect(parseCommandState('maybe')).toBeUndefined();
    expect(describeState({ enabled: false, rollout: 25 })).toBe('off (25% when on)');
    expect(describeState({ enabled: true, rollout: 5 })).toBe('on 5%');
    expect(describeState(undefined)).toBe('unknown');
    expect(parseFlagSteps('5%, 25%')).toEqual([5, 25]);
    expect(() => parseReleaseFlag('a=b=c')).toThrow('is not flag or flag=25%');
  });
});
