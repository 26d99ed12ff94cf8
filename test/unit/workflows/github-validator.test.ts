/**
 * GitHub's own validator (@actions/languageservice) over every action.yml, workflow, starter
 * template and README/docs YAML example, with Slipway's actions and reusable workflows resolved
 * from this checkout and pinned third-party actions from their recorded action.yml.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expressionOutsideDefault, manifestFor } from '../../../src/lib/action-manifest.ts';
import { spec as notifySpec } from '../../../src/actions/notify/inputs.ts';
import { actionFiles, docExamples, validateRepository, validateText, workflowFiles, wrapSteps } from '../../helpers/github-validator.ts';

const root = new URL('../../../', import.meta.url).pathname;
const read = (f: string) => readFileSync(join(root, f), 'utf8');
const line = (f: { file: string; line: number; message: string }) => `${f.file}:${f.line}: ${f.message}`;

describe("GitHub's validator over the repository", () => {
  it('finds nothing in any action.yml, workflow, template or docs example', async () => {
    const { findings, checked } = await validateRepository(root);
    expect(findings.map(line)).toEqual([]);
    // Everything that should be checked was: 7 actions + release, 5 workflows, 3 templates, examples.
    expect(actionFiles(root)).toEqual(expect.arrayContaining(['action.yml', 'notify/action.yml', 'deploy-rolling/action.yml', 'migrate/action.yml', 'build-and-tag/action.yml', 'smoke-test/action.yml', 'slo-gate/action.yml']));
    expect(workflowFiles(root)).toEqual(expect.arrayContaining(['.github/workflows/pipeline.yml', '.github/workflows/rollback.yml', 'workflows-templates/slipway-pipeline.yml']));
    expect(checked.filter((c) => c.includes('.md:')).length).toBeGreaterThanOrEqual(15);
  }, 120_000);

  it('every YAML example in README and docs parses', () => {
    const broken = docExamples(root).filter((e) => e.parseError);
    expect(broken.map((e) => `${e.file}:${e.line}: ${e.parseError}`)).toEqual([]);
  });
});

describe('what the validator catches (each case fails the repository check)', () => {
  it('an expression in an input description: the runner refuses to load the action', async () => {
    const text = read('notify/action.yml').replace(/(\n  github-token:\n    description: )[^\n]*/, '$1Token (usually ${{ github.token }}).');
    expect(text).toContain('${{ github.token }}');
    const found = await validateText(root, 'notify/action.yml', text);
    expect(found.map(line)).toEqual([expect.stringMatching(/notify\/action\.yml:\d+: Unrecognized named-value: 'github'/)]);
  });

  it('the spec generator refuses to write one', () => {
    const bad = { ...notifySpec, inputs: { ...notifySpec.inputs, 'github-token': { ...notifySpec.inputs['github-token']!, description: 'usually ${{ github.token }}' } } };
    expect(expressionOutsideDefault(bad)).toEqual([expect.stringContaining("input 'github-token' description contains")]);
    expect(() => manifestFor(bad)).toThrow(/only in an input's default/);
    expect(expressionOutsideDefault(notifySpec)).toEqual([]);
  });

  it("a misspelled input of a Slipway action, and of a pinned third-party action", async () => {
    const steps = wrapSteps([
      '- uses: actions/checkout@d23441a48e516b6c34aea4fa41551a30e30af803',
      '  with: { persist-credential: false }',
      '- uses: slipway-org/slipway/migrate@v1',
      '  with: { database-urll: x }',
    ].join('\n'));
    const found = (await validateText(root, 'x.yml', steps.text)).map((f) => f.message);
    expect(found).toEqual(expect.arrayContaining([expect.stringContaining("'persist-credential'"), expect.stringContaining("'database-urll'")]));
  });

  it('a third-party action pinned without recorded metadata cannot be checked, and says so', async () => {
    const steps = wrapSteps('- uses: someone/else@0123456789012345678901234567890123456789');
    const found = (await validateText(root, 'x.yml', steps.text)).map((f) => f.message);
    expect(found).toEqual([expect.stringContaining('Unable to resolve action `someone/else@0123456789012345678901234567890123456789`')]);
  });

  it("an unknown input of a Slipway reusable workflow", async () => {
    const wf = 'on: push\npermissions: {}\njobs:\n  ship:\n    uses: slipway-org/slipway/.github/workflows/pipeline.yml@v1\n    with: { image-nam: ghcr.io/acme/shop }\n';
    const found = (await validateText(root, 'caller.yml', wf)).map((f) => f.message);
    expect(found.join('\n')).toMatch(/image-nam/);
  });
});
