/**
 * Queues, approvals and rollbacks as GitHub runs them, with the concurrency groups, environments
 * and conditions this repository's workflows really declare (test/helpers/concurrency.ts models
 * GitHub's documented queueing; the emulator's evaluator reads the expressions).
 */
import { describe, expect, it } from 'vitest';
import { ConcurrencyModel, concurrencyOf, workflow, type Concurrency } from '../../helpers/concurrency.ts';
import { evaluateIf, interpolate, strict, type JobStatus, type Value } from '../../helpers/workflow-emulator.ts';

const github = { repository: 'acme/shop', ref: 'refs/heads/main', sha: '0123456789abcdef0123456789abcdef01234567' };
const template = workflow('workflows-templates/slipway-pipeline.yml');
const deployEnv = workflow('.github/workflows/deploy-environment.yml');
const rollback = workflow('.github/workflows/rollback.yml');

const deployGroup = (environment: string) => concurrencyOf(deployEnv.jobs.deploy.concurrency, { github, inputs: { environment } })!;
const rollbackGroup = (environment: string) => concurrencyOf(rollback.jobs.rollback.concurrency, { github, inputs: { environment } })!;

/**
 * One push through the starter pipeline: the run takes the template's workflow-level group (if
 * any) for its whole life, then staging's job-level group while staging deploys.
 */
function push(model: ConcurrencyModel, name: string, workflowGroup: Concurrency | undefined) {
  const run = workflowGroup ? model.queue(`${name}:run`, workflowGroup) : undefined;
  const staging = () => model.queue(`${name}:staging`, deployGroup('staging'));
  return { run, staging };
}

describe('the starter pipeline never stalls staging behind an approval', () => {
  const scenario = (workflowGroup: Concurrency | undefined) => {
    const model = new ConcurrencyModel();
    // Push A: staging deploys and finishes; production waits for its reviewers (days, maybe).
    const a = push(model, 'A', workflowGroup);
    const aStaging = a.staging();
    model.finish(aStaging);
    model.queue('A:production (waiting for approval)', deployGroup('production'));
    // Push B, then push C, while A still waits.
    const b = push(model, 'B', workflowGroup);
    const bStaging = b.run?.state === 'running' || !b.run ? b.staging() : undefined;
    const c = push(model, 'C', workflowGroup);
    return { model, b, bStaging, c };
  };

  it('as shipped: B deploys staging at once; nothing of B or C is cancelled', () => {
    const wg = concurrencyOf(template.concurrency, { github });
    expect(wg).toBeUndefined();
    const { bStaging, model } = scenario(wg);
    expect(bStaging?.state).toBe('running');
    expect(model.entries.filter((e) => e.state === 'cancelled')).toEqual([]);
  });

  it('with the workflow-level group it used to have, B stalls and C cancels it (the reported bug)', () => {
    const old = concurrencyOf({ group: 'slipway-pipeline-${{ github.ref }}', 'cancel-in-progress': false }, { github });
    const { b, bStaging, model } = scenario(old);
    expect(bStaging).toBeUndefined(); // B never reached staging
    expect(b.run!.state).toBe('cancelled'); // and C's run took its place
    expect(model.state('C:run')).toBe('pending');
  });
});

describe('rollbacks are neither cancelled by deploys nor held by reviewers', () => {
  it('a queued rollback survives a deploy that queues after it (groups of their own)', () => {
    const model = new ConcurrencyModel();
    const d1 = model.queue('deploy 1', deployGroup('production'));
    model.queue('deploy 2', deployGroup('production'));
    const r = model.queue('rollback', rollbackGroup('production'));
    model.queue('deploy 3', deployGroup('production'));
    expect(r.state).not.toBe('cancelled');
    expect(rollbackGroup('production').group).not.toBe(deployGroup('production').group);
    expect(rollbackGroup('production').cancelInProgress).toBe(false);
    // The running deploy holds the deploy lock on the target: the rollback's deploy step waits for it.
    const step = rollback.jobs.rollback.steps.find((s: { id?: string }) => s.id === 'rollback');
    expect(String(step.with['lock-wait'])).toMatch(/inputs\.lock-wait/);
    expect(d1.state).toBe('running');
  });

  it('sharing the deploy group (as before), the same sequence cancels the rollback', () => {
    const model = new ConcurrencyModel();
    model.queue('deploy 1', deployGroup('production'));
    model.queue('deploy 2', deployGroup('production'));
    const r = model.queue('rollback', deployGroup('production'));
    model.queue('deploy 3', deployGroup('production'));
    expect(r.state).toBe('cancelled');
  });

  it('runs in the rollback environment a team chooses, and creates no deployment for the dispatching commit', () => {
    const env = rollback.jobs.rollback.environment;
    const name = (inputs: Record<string, Value>) => interpolate(env.name, { contexts: { inputs: strict(inputs, 'input') } });
    expect(name({ environment: 'production', 'rollback-environment': 'production-rollback' })).toBe('production-rollback');
    expect(name({ environment: 'production', 'rollback-environment': '' })).toBe('production');
    expect(env.deployment).toBe(false);
    for (const trigger of ['workflow_dispatch', 'workflow_call']) expect(rollback.on[trigger].inputs['rollback-environment']).toBeDefined();
  });

  it('records the restored commit as the live deployment (success), and tells the team through that record', () => {
    const steps = rollback.jobs.rollback.steps as { id?: string; if?: string; with?: Record<string, string> }[];
    const record = steps.find((s) => s.id === 'record')!;
    expect(record.with).toMatchObject({ channels: 'github', event: 'succeeded', 'deployment-status': 'success', sha: '${{ steps.restored.outputs.sha }}' });
    const notify = steps.find((s) => s.id === 'notify')!;
    expect(notify.with!['deployment-id']).toBe('${{ steps.record.outputs.deployment-id }}');
  });
});

describe('a deploy that switched the fleet is rolled back on failure, timeout and cancellation', () => {
  const cond = deployEnv.jobs.deploy.steps.find((s: { id?: string }) => s.id === 'rollback').if;
  const runs = (status: JobStatus, deployOutcome: string) =>
    evaluateIf(cond, { status, contexts: { steps: strict({ deploy: { outcome: deployOutcome, conclusion: deployOutcome, outputs: {} } }, 'step id') } });

  it.each([
    ['a check failed after the switch', 'failure', 'success', true],
    ['a step timed out after the switch (timeout-minutes on the step: the step fails)', 'failure', 'success', true],
    ['the run was cancelled after the switch (or the job ran out of time)', 'cancelled', 'success', true],
    ['the deploy step itself failed (it rolled back itself)', 'failure', 'failure', false],
    ['cancelled during the deploy step (its post step undoes it)', 'cancelled', 'failure', false],
    ['everything passed', 'success', 'success', false],
  ] as const)('%s → rollback step runs: %s', (_why, status, deploy, want) => {
    expect(runs(status, deploy)).toBe(want);
  });

  it('the steps after the switch have a timeout shorter than the job, so a slow check fails the step, not the job', () => {
    const job = deployEnv.jobs.deploy;
    const stepMinutes = deployEnv.on.workflow_call.inputs['step-timeout-minutes'].default as number;
    for (const id of ['deploy', 'smoke', 'gate', 'rollback']) {
      expect(job.steps.find((s: { id?: string }) => s.id === id)['timeout-minutes']).toBe('${{ inputs.step-timeout-minutes }}');
    }
    expect(4 * stepMinutes).toBeLessThan(job['timeout-minutes']);
  });
});
