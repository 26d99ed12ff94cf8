/**
 * GitHub's own validator (@actions/languageservice) over every action.yml, workflow, starter
 * template and README/docs YAML example, with Slipway's actions and reusable workflows resolved
 * from this checkout and pinned third-party actions from their recorded action.yml.
 */
import { readFileSync, readdirSync } from 'node:fs';
import YAML from 'yaml';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expressionOutsideDefault, manifestFor } from '../../../src/manifest/action-manifest.ts';
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
    expect(workflowFiles(root)).toEqual(expect.arrayContaining(['.github/workflows/pipeline.yml', '.github/workflows/rollback.yml', 'workflows-templates/slipway-pipeline.yml', 'examples/shop/.github/workflows/deploy.yml']));
    expect(checked.filter((c) => c.includes('.md:')).length).toBeGreaterThanOrEqual(15);
  }, 120_000);

  it('every YAML example in README and docs parses', () => {
    const broken = docExamples(root).filter((e) => e.parseError);
    expect(broken.map((e) => `${e.file}:${e.line}: ${e.parseError}`)).toEqual([]);
  });
});

describe('third-party actions and templates as GitHub runs them', () => {
  const fixtures = new URL('../../fixtures/third-party-actions/', import.meta.url).pathname;
  const pinned = new Set<string>();
  for (const f of [...workflowFiles(root), ...docExamples(root).map((e) => e.file)]) {
    for (const m of read(f).matchAll(/uses:\s*([\w.-]+\/[\w./-]+@[0-9a-f]{40})/g)) if (!m[1]!.startsWith('slipway-org/')) pinned.add(m[1]!);
  }

  it('every pinned third-party action has its action.yml recorded, and runs on Node 24 (GitHub retired Node 20)', () => {
    expect(pinned.size).toBeGreaterThanOrEqual(3);
    const recorded = new Set(readdirSync(fixtures).map((f) => f.replace(/\.yml$/, '').replace('__', '/')));
    for (const uses of pinned) {
      expect(recorded, `${uses} has no recorded action.yml in test/fixtures/third-party-actions`).toContain(uses);
      const meta = YAML.parse(readFileSync(join(fixtures, `${uses.replace('/', '__')}.yml`), 'utf8')) as { runs: { using: string } };
      expect([uses, meta.runs.using]).toEqual([uses, expect.stringMatching(/^(node24|composite|docker)$/)]);
    }
  });

  it("starter templates' filePatterns can match: GitHub matches them against file names in the repository root", () => {
    const root_files = ['Dockerfile', 'slipway.yml', 'package.json', 'README.md'];
    for (const f of readdirSync(join(root, 'workflows-templates')).filter((x) => x.endsWith('.properties.json'))) {
      const props = JSON.parse(read(`workflows-templates/${f}`)) as { filePatterns: string[] };
      for (const p of props.filePatterns) {
        expect(p, `${f}: ${p} names a path in a folder, which never matches`).not.toMatch(/\//);
        expect(root_files.some((n) => new RegExp(p).test(n)), `${f}: ${p} matches none of ${root_files.join(', ')}`).toBe(true);
      }
    }
  });
});

describe('what the validator catches (each case fails the repository check)', () => {
  it('an expression in an input description: the runner refuses to load the action', async () => {
    const text = read('notify/action.yml').replace(/(\n {2}github-token:\n {4}description: )[^\n]*/, '$1Token (usually ${{ github.token }}).');
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
