import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { GithubRuntime } from '../../../src/runner/runtime.ts';
import { deliver, failureLine } from '../../../src/runner/run-action.ts';
import { parseFileCommands, parseWorkflowCommands } from '../../helpers/runner.ts';

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'rt-'));
  const env: Record<string, string> = { GITHUB_OUTPUT: join(dir, 'o'), GITHUB_STATE: join(dir, 's'), GITHUB_STEP_SUMMARY: join(dir, 'sum'), 'INPUT_FAIL-FAST': 'true', INPUT_MY_INPUT: 'x' };
  for (const k of ['GITHUB_OUTPUT', 'GITHUB_STATE', 'GITHUB_STEP_SUMMARY']) writeFileSync(env[k]!, '');
  let out = '';
  const rt = new GithubRuntime(env, (s) => (out += s));
  return { rt, env, read: (k: string) => readFileSync(env[k]!, 'utf8'), out: () => out };
}

describe('GithubRuntime', () => {
  it('stops file annotations at 9 of a kind (GitHub shows 10 per step and drops the rest), then one notice', () => {
    const { rt, out } = setup();
    for (let i = 1; i <= 14; i++) rt.error(`unsafe statement ${i}`, { file: 'migrations/0001.sql', line: i });
    for (let i = 1; i <= 3; i++) rt.warning(`warn ${i}`, { file: 'migrations/0002.sql', line: i });
    rt.setFailed('3 migrations break the rules');
    const cmds = parseWorkflowCommands(out()).annotations;
    const errors = cmds.filter((c) => c.level === 'error');
    expect(errors.filter((c) => c.props.file)).toHaveLength(9);
    expect(errors.at(-1)!.message).toBe('3 migrations break the rules');
    expect(errors.length).toBeLessThanOrEqual(10);
    expect(cmds.filter((c) => c.level === 'warning')).toHaveLength(3);
    expect(cmds.filter((c) => c.level === 'notice').map((c) => c.message)).toEqual([expect.stringMatching(/More than 9 errors.*job summary/)]);
    for (let i = 10; i <= 14; i++) expect(out()).toContain(`error: migrations/0001.sql:${i}: unsafe statement ${i}`);
  });
  it('reads inputs with the runner name mangling', () => {
    const { rt } = setup();
    expect(rt.getInput('fail-fast')).toBe('true');
    expect(rt.getInput('my input')).toBe('x');
  });
  it('writes outputs and state as heredoc file commands that survive newlines', () => {
    const { rt, read } = setup();
    rt.setOutput('results', 'line1\nline2\n::set-output name=x::y');
    rt.saveState('rollout', '{"a":1}');
    expect(parseFileCommands(read('GITHUB_OUTPUT'))).toEqual({ results: 'line1\nline2\n::set-output name=x::y' });
    expect(parseFileCommands(read('GITHUB_STATE'))).toEqual({ rollout: '{"a":1}' });
  });
  it('masks secrets, redacts them in every later line, and escapes forged commands', () => {
    const { rt, out } = setup();
    rt.mask('postgres://app:hunter22@db/app');
    rt.info('connecting with hunter22');
    rt.warning('line\n::add-mask::nothing', { file: 'migrations/0001.sql', line: 3, title: 'a, b: c' });
    const text = out();
    const { masks, annotations } = parseWorkflowCommands(text);
    expect(masks).toContain('hunter22');
    expect(text).toContain('connecting with ***');
    expect(text.split('\n').filter((l) => l.startsWith('::add-mask::nothing'))).toHaveLength(0);
    expect(annotations[0]).toEqual({ level: 'warning', message: 'line\n::add-mask::nothing', props: { file: 'migrations/0001.sql', line: '3', title: 'a, b: c' } });
  });
  it('never lets a log message start a line with :: (no forged workflow commands)', () => {
    const { rt, out } = setup();
    rt.info('version x\n::set-output name=passed::true\n  ::add-mask::y');
    expect(out().split('\n').filter((l) => /^\s*::/.test(l))).toEqual([]);
    expect(out()).toContain(': :set-output name=passed::true');
  });
  it('rejects undeclared outputs (the spec is the contract)', () => {
    const { rt } = setup();
    const spec = { name: 'x', title: 'x', description: 'x', inputs: {}, outputs: { a: { description: 'a' } } };
    expect(() => deliver(spec, rt, { outputs: { b: 1 } })).toThrow(/output 'b' is not declared/);
    expect(deliver(spec, rt, { outputs: { a: { n: 1 } }, failure: 'nope' })).toBe(false);
  });
  it('keeps failure lines on one line and bounded', () => {
    expect(failureLine('a\nb')).toBe('a b');
    expect(failureLine('x'.repeat(5000)).length).toBeLessThan(2100);
  });
});
