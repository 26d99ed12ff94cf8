/**
 * Typed wiring: every value handed from a Slipway step's output to a Slipway step's input, in every
 * workflow, template and docs example, is accepted by the reading input's parser (each output's
 * declared shape, example by example). And each action writes what it declares.
 */
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { loadWorkflows, type WorkflowFile } from '../../helpers/workflow-contract.ts';
import { docExamples } from '../../helpers/github-validator.ts';
import { SPECS, checkWiring } from '../../helpers/wiring.ts';
import { repoRoot } from '../../helpers/runner.ts';
import { outputShapeProblem } from '../../../src/manifest/fields.ts';
import { GithubRuntime } from '../../../src/runner/runtime.ts';
import { deliver } from '../../../src/runner/run-action.ts';
import { parseWorkflowCommands } from '../../helpers/runner.ts';

const workflows = loadWorkflows(repoRoot);
const examples: WorkflowFile[] = docExamples(repoRoot)
  .filter((e) => e.kind === 'workflow' || e.kind === 'steps')
  .map((e) => {
    const doc = YAML.parse(e.text) as unknown;
    return { path: `${e.file}:${e.line}`, doc: e.kind === 'workflow' ? (doc as Record<string, unknown>) : { jobs: { example: { steps: doc } } } };
  });
const clone = (): WorkflowFile[] => workflows.map((f) => ({ path: f.path, doc: structuredClone(f.doc) }));
const wf = (set: WorkflowFile[], name: string) => set.find((f) => f.path === `.github/workflows/${name}`)!.doc;
const step = (doc: Record<string, any>, job: string, id: string) => doc.jobs[job].steps.find((s: { id?: string; name?: string }) => s.id === id || s.name === id);

describe('typed wiring between steps', () => {
  it('every output of every action declares its shape, and its examples fit it', () => {
    const missing: string[] = [];
    for (const [name, spec] of Object.entries(SPECS)) {
      for (const [o, out] of Object.entries(spec.outputs)) {
        if (!out.shape) missing.push(`${name || 'release'}.${o}`);
        else for (const ex of out.shape.examples) expect([name, o, ex, outputShapeProblem(out, ex)]).toEqual([name, o, ex, undefined]);
      }
    }
    expect(missing).toEqual([]);
  });

  it('every hand-over in the workflows, templates and docs examples fits the reading input', async () => {
    expect(await checkWiring([...workflows, ...examples])).toEqual([]);
  });

  it("catches pr-check's old details wiring: migrate's violations (a JSON list) into notify's details (a map)", async () => {
    const set = clone();
    const comment = step(wf(set, 'pr-check.yml'), 'migration-lint', 'One PR comment, updated in place');
    comment.with.details = comment.with.lint;
    delete comment.with.lint;
    const problems = await checkWiring(set);
    expect(problems).toHaveLength(2); // the clean lint's [] and a finding: both refused
    expect(problems).toContainEqual(expect.stringMatching(/pr-check\.yml: jobs\.migration-lint\.steps\[\d+\]: with\.details reads steps\.lint\.outputs\.violations \(migrate: a JSON list of lint findings, e\.g\. "\[\]"\), which notify's input 'details' refuses: .*expected record, received array/));
  });

  it('follows needs and reusable workflows back to the step that wrote the value', async () => {
    const set = clone();
    // The release plan's notify step reads build's outputs through `needs.build` and build's job
    // outputs: an image reference where a digest belongs is caught at the step that wrote it.
    wf(set, 'pipeline.yml').jobs['release-plan'].steps.find((s: { id?: string }) => s.id === 'plan').with.digest = '${{ needs.build.outputs.image }}';
    const problems = await checkWiring(set);
    expect(problems.join('\n')).toMatch(/pipeline\.yml: jobs\.release-plan\.steps\[\d+\] \(plan\): with\.digest reads steps\.image\.outputs\.image \(build-and-tag: an image reference by digest/);
  });

  it('an action that writes something else than it declares says so in the log (a bug, not a user error)', () => {
    let out = '';
    const rt = new GithubRuntime({}, (s) => (out += s));
    deliver(SPECS['slo-gate']!, rt, { outputs: { verdict: 'maybe', passed: 'true' } });
    const warnings = parseWorkflowCommands(out).annotations.filter((a) => a.level === 'warning').map((a) => a.message);
    expect(warnings).toEqual([expect.stringMatching(/slo-gate: output 'verdict' does not match its declared shape: .*one of pass, fail, inconclusive/)]);
  });
});
