/**
 * The workflow emulator's expression evaluator and job runner: GitHub's semantics where the
 * workflows rely on them, and loud errors for anything unknown (a typo must fail a test).
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emulateJob, evaluate, evaluateIf, interpolate, looseEquals, selfAction, strict, type ExprScope, type JobStatus, type Value } from '../../helpers/workflow-emulator.ts';

const scope = (status?: JobStatus): ExprScope => ({
  contexts: {
    inputs: strict({ environment: 'staging', 'environment-url': '', dry: false, n: 3 } as Record<string, Value>, 'input'),
    secrets: strict({ TOKEN: 's3cr3t', EMPTY: '' }, 'secret'),
    steps: strict({ deploy: { outputs: strict({ 'previous-version': 'v1', 'rolled-back': 'true' }, 'output of deploy-rolling'), outcome: 'success', conclusion: 'success' }, gate: { outputs: {}, outcome: 'failure', conclusion: 'failure' } }, 'step id'),
    job: strict({ status: status ?? 'success' }, 'job property'),
    github: strict({ repository: 'acme/shop', api_url: 'http://127.0.0.1:1', event: { number: 7 } } as Record<string, Value>, 'github property'),
    env: { FOO: 'bar' },
  },
  status,
});

describe('expressions', () => {
  it('reads contexts, hyphenated names and nested objects', () => {
    expect(evaluate('inputs.environment', scope())).toBe('staging');
    expect(evaluate('inputs.environment-url', scope())).toBe('');
    expect(evaluate("steps.deploy.outputs.previous-version", scope())).toBe('v1');
    expect(evaluate("steps.deploy.outputs['rolled-back']", scope())).toBe('true');
    expect(evaluate('steps.gate.outcome', scope())).toBe('failure');
    expect(evaluate('github.event.number', scope())).toBe(7);
    expect(evaluate('secrets.TOKEN', scope())).toBe('s3cr3t');
    expect(evaluate('env.FOO', scope())).toBe('bar');
    expect(evaluate('env.MISSING', scope())).toBe(null);
    expect(evaluate('job.status', scope('failure'))).toBe('failure');
  });

  it('literals, comparison and the value-returning && and ||', () => {
    expect(evaluate("'it''s'", scope())).toBe("it's");
    expect(evaluate('1.5', scope())).toBe(1.5);
    expect(evaluate('-2', scope())).toBe(-2);
    expect(evaluate('0xff', scope())).toBe(255);
    expect(evaluate('null', scope())).toBe(null);
    expect(evaluate("inputs.environment == 'STAGING'", scope())).toBe(true); // case-insensitive
    expect(evaluate("inputs.environment != 'production'", scope())).toBe(true);
    expect(evaluate("inputs.n == '3'", scope())).toBe(true); // through numbers
    expect(evaluate('inputs.n > 2 && inputs.n <= 3', scope())).toBe(true);
    expect(evaluate("!inputs.dry", scope())).toBe(true);
    expect(evaluate("inputs.environment-url || 'http://fallback'", scope())).toBe('http://fallback');
    expect(evaluate("inputs.environment && 'yes'", scope())).toBe('yes');
    expect(evaluate("inputs.environment-url && 'yes'", scope())).toBe('');
    expect(evaluate("(false || true) && !(1 == 2)", scope())).toBe(true);
    // the ternary idiom of deploy-environment.yml
    const pick = (r: string) => evaluate(`'${r}' == 'success' && 'succeeded' || '${r}' == 'rolled-back' && 'rolled-back' || 'failed'`, scope());
    expect([pick('success'), pick('rolled-back'), pick('failure')]).toEqual(['succeeded', 'rolled-back', 'failed']);
    expect(looseEquals(null, '')).toBe(true);
    expect(looseEquals('abc', 0)).toBe(false);
  });

  it('functions: the standard ones work, status functions only in if:', () => {
    expect(evaluate("contains('a,b', 'B')", scope())).toBe(true);
    expect(evaluate("startsWith(github.repository, 'acme/')", scope())).toBe(true);
    expect(evaluate("format('{0}-{1}', inputs.environment, 2)", scope())).toBe('staging-2');
    expect(evaluate("fromJSON('{\"a\": [1, 2]}').a[1]", scope())).toBe(2);
    expect(() => evaluate('success()', scope())).toThrow(/only allowed in if:/);
    expect(() => evaluate("hashFiles('x')", scope())).toThrow(/Unrecognized function: 'hashFiles'/);
  });

  it('is strict: unknown contexts, inputs, secrets, step ids and outputs throw', () => {
    expect(() => evaluate('input.environment', scope())).toThrow(/Unrecognized named-value: 'input'/);
    expect(() => evaluate('matrix.os', scope())).toThrow(/Unrecognized named-value: 'matrix'/);
    expect(() => evaluate('inputs.enviroment', scope())).toThrow(/unknown input 'enviroment'/);
    expect(() => evaluate('secrets.TOKN', scope())).toThrow(/unknown secret 'TOKN'/);
    expect(() => evaluate('steps.deplyo.outcome', scope())).toThrow(/unknown step id 'deplyo'/);
    expect(() => evaluate('steps.deploy.outputs.previous_version', scope())).toThrow(/unknown output of deploy-rolling 'previous_version'/);
    expect(() => evaluate('github.tokn', scope())).toThrow(/unknown github property 'tokn'/);
    expect(() => evaluate("inputs.environment == ", scope())).toThrow(/Unexpected end of expression/);
    expect(() => evaluate("'open", scope())).toThrow(/Unexpected symbol: \\?'/);
    expect(() => evaluate('inputs.environment ; rm', scope())).toThrow(/Unexpected symbol: ';'/);
  });

  it('templates: a lone expression keeps its type, mixed text becomes a string', () => {
    expect(interpolate('${{ inputs.n }}', scope())).toBe(3);
    expect(interpolate('deploy ${{ inputs.environment }} (${{ inputs.dry }})', scope())).toBe('deploy staging (false)');
    expect(interpolate('no expressions', scope())).toBe('no expressions');
    // Like GitHub's template reader: `}}` inside a quoted string does not end the expression.
    expect(interpolate(`\${{ format('{{"env":"{0}"}}', inputs.environment) }}`, scope())).toBe('{"env":"staging"}');
    expect(interpolate(`a \${{ '}}' }} b \${{ inputs.n }}`, scope())).toBe('a }} b 3');
    expect(() => interpolate('${{ inputs.n ', scope())).toThrow(/not closed/);
  });

  it('if: defaults to success(), and a condition without a status function is ANDed with success()', () => {
    expect(evaluateIf(undefined, { ...scope('success'), status: 'success' })).toBe(true);
    expect(evaluateIf(undefined, { ...scope('failure'), status: 'failure' })).toBe(false);
    expect(evaluateIf("steps.deploy.outcome == 'success'", { ...scope('failure'), status: 'failure' })).toBe(false);
    expect(evaluateIf("failure() && steps.deploy.outcome == 'success'", { ...scope('failure'), status: 'failure' })).toBe(true);
    expect(evaluateIf("${{ failure() && steps.deploy.outcome == 'success' }}", { ...scope('success'), status: 'success' })).toBe(false);
    expect(evaluateIf('always()', { ...scope('failure'), status: 'failure' })).toBe(true);
    expect(evaluateIf('cancelled()', { ...scope('failure'), status: 'failure' })).toBe(false);
  });

  it('maps this repository\'s actions to their folders', () => {
    expect(selfAction('slipway-org/slipway/deploy-rolling@v1')).toBe('deploy-rolling');
    expect(selfAction('slipway-org/slipway@v1')).toBe('.');
    expect(selfAction('./smoke-test')).toBe('smoke-test');
    expect(selfAction('slipway-org/slipway/.github/workflows/deploy-environment.yml@v1')).toBeUndefined();
    expect(selfAction('actions/checkout@v4')).toBeUndefined();
  });
});

describe('emulateJob', () => {
  const workflow = (text: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-wf-'));
    const file = join(dir, 'wf.yml');
    writeFileSync(file, text);
    return { file, dir };
  };
  const WF = `
on:
  workflow_call:
    inputs:
      who: { type: string, required: true }
      loud: { type: boolean, default: false }
    secrets:
      TOKEN: { required: false }
jobs:
  j:
    runs-on: ubuntu-latest
    env:
      WHO: \${{ inputs.who }}
    outputs:
      greeting: \${{ steps.hello.outputs.greeting }}
      final: \${{ steps.last.outputs.status }}
    steps:
      - uses: actions/checkout@d23441a48e516b6c34aea4fa41551a30e30af803 # v6.1.0
      - id: hello
        env:
          LOUD: \${{ inputs.loud }}
        run: |
          echo "greeting=hello $WHO (loud=$LOUD)" >> "$GITHUB_OUTPUT"
          echo "FROM_ENV_FILE=carried" >> "$GITHUB_ENV"
          echo "### said hello" >> "$GITHUB_STEP_SUMMARY"
      - id: boom
        continue-on-error: true
        run: exit 3
      - id: fails
        run: |
          echo "before"
          false
          echo "never"
      - id: skipped
        run: echo "not me"
      - id: cleanup
        if: failure() && steps.boom.outcome == 'failure'
        env:
          BOOM: \${{ steps.boom.outcome }}/\${{ steps.boom.conclusion }}
        run: echo "seen=$BOOM $FROM_ENV_FILE" >> "$GITHUB_OUTPUT"
      - id: last
        if: always()
        env:
          STATUS: \${{ job.status }}
        run: echo "status=$STATUS" >> "$GITHUB_OUTPUT"
`;

  it('runs steps in order with outcomes, if:, continue-on-error, GITHUB_ENV and job outputs', async () => {
    const { file, dir } = workflow(WF);
    const job = await emulateJob({ workflow: file, job: 'j', inputs: { who: 'team' }, workspace: dir });
    expect(job.steps.map((s) => [s.id ?? s.name, s.outcome, s.conclusion])).toEqual([
      ['actions/checkout@d23441a48e516b6c34aea4fa41551a30e30af803', 'success', 'success'],
      ['hello', 'success', 'success'],
      ['boom', 'failure', 'success'],
      ['fails', 'failure', 'failure'],
      ['skipped', 'skipped', 'skipped'],
      ['cleanup', 'success', 'success'],
      ['last', 'success', 'success'],
    ]);
    expect(job.byId.fails!.run!.stdout).toBe('before\n'); // bash -e stops at the failing command
    expect(job.byId.cleanup!.outputs.seen).toBe('failure/success carried');
    expect(job.status).toBe('failure');
    expect(job.outputs).toEqual({ greeting: 'hello team (loud=false)', final: 'failure' });
    expect(job.summary).toContain('### said hello');
  });

  it('fails loudly on a typo in the workflow, an undeclared input or secret, and ${{ }} inside run:', async () => {
    const typo = workflow(WF.replace('steps.boom.outcome ==', 'steps.bom.outcome =='));
    await expect(emulateJob({ workflow: typo.file, job: 'j', inputs: { who: 'x' }, workspace: typo.dir })).rejects.toThrow(/steps\[5\] \(cleanup\)\.if: .*unknown step id 'bom'/);
    // GitHub's parser reads the file first: what GitHub would not load is not emulated.
    const unloadable = workflow(WF.replace('runs-on:', 'run-on:'));
    await expect(emulateJob({ workflow: unloadable.file, job: 'j', inputs: { who: 'x' }, workspace: unloadable.dir })).rejects.toThrow(/GitHub would not load this workflow: .*run-on/);
    const { file, dir } = workflow(WF);
    await expect(emulateJob({ workflow: file, job: 'j', inputs: { who: 'x', extra: 'y' }, workspace: dir })).rejects.toThrow(/no input 'extra'/);
    await expect(emulateJob({ workflow: file, job: 'j', inputs: {}, workspace: dir })).rejects.toThrow(/input 'who' is required/);
    await expect(emulateJob({ workflow: file, job: 'j', inputs: { who: 'x' }, secrets: { NOPE: 'v' }, workspace: dir })).rejects.toThrow(/declares no secret 'NOPE'/);
    await expect(emulateJob({ workflow: file, job: 'nojob', workspace: dir })).rejects.toThrow(/no job 'nojob'/);
    const inline = workflow(WF.replace('run: exit 3', 'run: echo ${{ inputs.who }}'));
    await expect(emulateJob({ workflow: inline.file, job: 'j', inputs: { who: 'x' }, workspace: inline.dir })).rejects.toThrow(/steps\[2\] \(boom\)\.run: contains/);
    const foreign = workflow(WF.replace('actions/checkout@d23441a48e516b6c34aea4fa41551a30e30af803', 'someone/else@0123456789012345678901234567890123456789'));
    await expect(emulateJob({ workflow: foreign.file, job: 'j', inputs: { who: 'x' }, workspace: foreign.dir })).rejects.toThrow(/uses someone\/else@.* is not emulated/);
  });

  it("runs this repository's actions through their bundles and checks with: keys and outputs against action.yml", async () => {
    const wf = (body: string) =>
      workflow(`on: { workflow_call: {} }\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n${body}`);
    const bad = wf("      - id: s\n        uses: slipway-org/slipway/smoke-test@v1\n        with: { url: 'not a url' }\n      - id: r\n        if: always()\n        env: { P: '${{ steps.s.outputs.passed }}', O: '${{ steps.s.outcome }}' }\n        run: echo \"p=$P/$O\" >> \"$GITHUB_OUTPUT\"\n");
    const job = await emulateJob({ workflow: bad.file, job: 'j', workspace: bad.dir });
    expect(job.byId.s!.outcome).toBe('failure');
    expect(job.byId.s!.run!.errors.join('\n')).toMatch(/Input 'url'/);
    expect(job.byId.r!.outputs.p).toBe('/failure'); // a declared output that was not set reads as ''
    const typo = wf("      - id: s\n        continue-on-error: true\n        uses: slipway-org/slipway/smoke-test@v1\n        with: { url: 'not a url' }\n      - env: { P: '${{ steps.s.outputs.pased }}' }\n        run: 'true'\n");
    await expect(emulateJob({ workflow: typo.file, job: 'j', workspace: typo.dir })).rejects.toThrow(/unknown output of smoke-test 'pased'/);
    const key = wf("      - uses: slipway-org/slipway/smoke-test@v1\n        with: { urll: 'http://x' }\n");
    await expect(emulateJob({ workflow: key.file, job: 'j', workspace: key.dir })).rejects.toThrow(/with\.urll: smoke-test has no input 'urll'/);
  }, 30_000);

  it('cancellation: the step gets SIGINT, job.status is cancelled, only always()/cancelled() steps run', async () => {
    const { file, dir } = workflow(`on: { workflow_call: {} }
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - id: s
        uses: slipway-org/slipway/smoke-test@v1
        with: { url: 'http://127.0.0.1:9/', deadline: '60s' }
      - id: after
        run: 'true'
      - id: onfail
        if: failure()
        run: 'true'
      - id: oncancel
        if: cancelled()
        env: { S: '\${{ job.status }}' }
        run: echo "status=$S" >> "$GITHUB_OUTPUT"
`);
    const job = await emulateJob({ workflow: file, job: 'j', workspace: dir, cancel: { step: 's', when: (out) => out.length > 0 } });
    expect(job.steps.map((s) => `${s.id}=${s.outcome}`)).toEqual(['s=failure', 'after=skipped', 'onfail=skipped', 'oncancel=success']);
    expect(job.status).toBe('cancelled');
    expect(job.byId.oncancel!.outputs.status).toBe('cancelled');
  }, 30_000);

  it("pipeline.yml's build job builds the hosts release folder once and hands it on as the run's artifact", async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'slipway-build-ws-'));
    const artifacts = mkdtempSync(join(tmpdir(), 'slipway-build-artifacts-'));
    const sha = 'abcdef0123456789abcdef0123456789abcdef01';
    const job = await emulateJob({
      workflow: '.github/workflows/pipeline.yml', job: 'build', workspace, artifacts,
      inputs: { 'artifact-command': 'mkdir -p release && printf "console.log(1)" > release/server.js' },
      github: { token: 'ghs_x', repository: 'acme/shop', sha },
    });
    expect(job.steps.map((s) => `${s.id ?? s.name}=${s.outcome}`)).toEqual([
      'actions/checkout@d23441a48e516b6c34aea4fa41551a30e30af803=success',
      'release=success',
      'actions/upload-artifact@b7c566a772e6b6bfb58ed0dc250532a479d7789f=success',
      'image=skipped', // no image-name: no image to build
    ]);
    expect(job.outputs.artifact).toBe(`slipway-release-${sha}`);
    expect(readFileSync(join(artifacts, `slipway-release-${sha}`, 'server.js'), 'utf8')).toBe('console.log(1)');
    // A command that does not write the folder fails the build, naming the input.
    const bad = await emulateJob({ workflow: '.github/workflows/pipeline.yml', job: 'build', workspace: mkdtempSync(join(tmpdir(), 'slipway-build-ws-')), artifacts, inputs: { 'artifact-command': 'true' }, github: { token: 'ghs_x', repository: 'acme/shop', sha } });
    expect(bad.byId.release!.outcome).toBe('failure');
    expect(bad.byId.release!.run!.errors.join('\n')).toMatch(/did not write the folder release \(artifact-path\)/);
  }, 30_000);
});
