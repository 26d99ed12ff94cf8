/**
 * Runs a whole workflow the way GitHub does, one job at a time in `needs:` order, each job through
 * the step emulator (workflow-emulator.ts): job-level `if:` (default: every needed job succeeded),
 * `needs.<job>.outputs`/`.result`, reusable workflows called with `uses:` (their `with:` and
 * `secrets:` evaluated in the caller, their jobs run, their `on.workflow_call.outputs` mapped back
 * to the calling job), and a GitHub environment's required reviewers (`approve`, called before a
 * job that names an environment starts; a rejection fails that job without running a step).
 * Jobs run one after another (GitHub may run independent jobs at once; their order is kept).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { callInputs, emulateJob, evaluateIf, inputsContext, interpolate, strict, toText, SELF, type EmulateOptions, type ExprScope, type JobRun, type Value } from './workflow-emulator.ts';
import { repoRoot } from './runner.ts';

type Obj = Record<string, any>;
export type JobResult = 'success' | 'failure' | 'cancelled' | 'skipped';

export interface WorkflowJob {
  name: string;
  result: JobResult;
  outputs: Record<string, string>;
  /** The GitHub environment the job ran in (after approval), if any. */
  environment?: string;
  /** The job's steps, when it has steps. */
  run?: JobRun;
  /** The called workflow's run, when the job calls one. */
  call?: WorkflowRun;
}

export interface WorkflowRun {
  workflow: string;
  result: JobResult;
  jobs: Record<string, WorkflowJob>;
  /** Job names in the order they ran or were skipped. */
  order: string[];
  outputs: Record<string, string>;
  /** Every job with steps, flattened through calls (for secret scans and summaries). */
  all: JobRun[];
  /** Environments asked for approval, in order ("job → environment"). */
  approvals: string[];
}

export interface WorkflowOptions extends Omit<EmulateOptions, 'job' | 'needs' | 'cancel'> {
  /**
   * A job that names a GitHub environment starts: its required reviewers decide (false rejects the
   * deployment: the job fails without running a step). `deployment` is false when the job turned
   * GitHub's automatic deployment record off (`environment: { deployment: false }`); otherwise GitHub
   * would now create a deployment for the commit, which the hook may do on a fake GitHub API.
   */
  approve?: (environment: string, job: string, o: { deployment: boolean }) => boolean | Promise<boolean>;
  /**
   * Environment secrets: a job that runs in the environment sees these over the secrets passed in
   * by its caller (GitHub's rule for reusable workflows), and no other job sees them.
   */
  environmentSecrets?: Record<string, Record<string, string>>;
  /** Called after each job (including jobs of called workflows), for progress or faults between jobs. */
  onJob?: (name: string, job: WorkflowJob) => void | Promise<void>;
}

function workflowFile(uses: string): string {
  if (uses.startsWith('./')) return join(repoRoot, uses.slice(2));
  const m = new RegExp(`^${SELF.replace('/', '\\/')}/(\\.github/workflows/[^@]+)@`).exec(uses);
  if (!m) throw new Error(`uses ${uses}: only this repository's reusable workflows are emulated`);
  return join(repoRoot, m[1]!);
}

function needsOf(job: Obj): string[] {
  return typeof job.needs === 'string' ? [job.needs] : (job.needs ?? []);
}

/** needs: order, stable (declaration order among jobs that are ready). */
function order(jobs: Obj, where: string): string[] {
  const out: string[] = [];
  const left = Object.keys(jobs);
  while (left.length) {
    const i = left.findIndex((j) => needsOf(jobs[j]).every((n) => out.includes(n)));
    if (i < 0) throw new Error(`${where}: needs form a cycle or name a missing job (${left.join(', ')})`);
    out.push(left.splice(i, 1)[0]!);
  }
  return out;
}

function typed(v: Value): string | number | boolean {
  return typeof v === 'number' || typeof v === 'boolean' ? v : toText(v);
}

export async function emulateWorkflow(opts: WorkflowOptions): Promise<WorkflowRun> {
  const file = opts.workflow.startsWith('/') ? opts.workflow : join(repoRoot, opts.workflow);
  const doc = YAML.parse(readFileSync(file, 'utf8')) as Obj;
  const declared = callInputs(doc);
  // A called workflow sees the secrets it declares (strict: a typo is an error); a workflow an event
  // starts sees the repository's secrets, and one that is not set reads as '' (as on GitHub).
  const called = Boolean((doc.on ?? doc.true ?? {}).workflow_call);
  const secrets: Record<string, Value> = { GITHUB_TOKEN: toText(opts.github?.token ?? ''), ...(called ? {} : opts.secrets) };
  if (called) for (const k of Object.keys(declared.secrets)) secrets[k] = opts.secrets?.[k] ?? '';
  const run: WorkflowRun = { workflow: opts.workflow, result: 'success', jobs: {}, order: [], outputs: {}, all: [], approvals: [] };
  const inputs = inputsContext(declared.inputs, opts.inputs ?? {});

  for (const name of order(doc.jobs ?? {}, opts.workflow)) {
    const job = doc.jobs[name] as Obj;
    const needed = needsOf(job);
    const needsCtx: Record<string, Value> = {};
    for (const n of needed) needsCtx[n] = strict({ result: run.jobs[n]!.result, outputs: strict({ ...run.jobs[n]!.outputs }, `output of job ${n}`) }, `property of needs.${n}`);
    const status = needed.every((n) => run.jobs[n]!.result === 'success') ? 'success' : needed.some((n) => run.jobs[n]!.result === 'cancelled') ? 'cancelled' : 'failure';
    const scope: ExprScope = { contexts: { inputs, secrets: called ? strict({ ...secrets }, 'secret') : { ...secrets }, github: strict({ ...(opts.github ?? {}) }, 'github property'), needs: strict(needsCtx, 'needed job'), env: {} } };
    const rec: WorkflowJob = { name, result: 'skipped', outputs: {} };
    run.jobs[name] = rec;
    run.order.push(name);
    const go = evaluateIf(job.if, { ...scope, status });
    if (go) {
      if (job.uses) {
        const withValues: Record<string, string | number | boolean> = {};
        for (const [k, v] of Object.entries((job.with ?? {}) as Obj)) withValues[k] = typed(typeof v === 'string' ? interpolate(v, scope) : (v as Value));
        const callSecrets: Record<string, string> = {};
        if (job.secrets === 'inherit') for (const [k, v] of Object.entries(opts.secrets ?? {})) callSecrets[k] = v;
        else for (const [k, v] of Object.entries((job.secrets ?? {}) as Obj)) callSecrets[k] = toText(interpolate(String(v), scope));
        // A secret the caller maps to an empty value is not set (GitHub passes no such secret).
        for (const k of Object.keys(callSecrets)) if (callSecrets[k] === '') delete callSecrets[k];
        const callee = workflowFile(String(job.uses));
        const call = await emulateWorkflow({ ...opts, workflow: callee, inputs: withValues, secrets: callSecrets });
        rec.call = call;
        rec.result = call.result;
        rec.outputs = call.outputs;
        run.all.push(...call.all);
        run.approvals.push(...call.approvals);
      } else {
        const env = job.environment === undefined ? undefined : toText(interpolate(String(typeof job.environment === 'object' ? job.environment.name : job.environment), scope));
        let approved = true;
        if (env) {
          run.approvals.push(`${name} → ${env}`);
          approved = (await opts.approve?.(env, name, { deployment: !(typeof job.environment === 'object' && job.environment.deployment === false) })) ?? true;
          rec.environment = env;
        }
        if (!approved) rec.result = 'failure';
        else {
          const needsGiven: EmulateOptions['needs'] = {};
          for (const n of needed) needsGiven[n] = { outputs: run.jobs[n]!.outputs, result: run.jobs[n]!.result };
          // An environment holds more secrets than one workflow reads: those this workflow declares apply.
          const fromEnv = Object.entries((env && opts.environmentSecrets?.[env]) || {}).filter(([k]) => k in declared.secrets);
          const jobSecrets = { ...opts.secrets, ...Object.fromEntries(fromEnv) };
          const jr = await emulateJob({ ...opts, job: name, inputs: opts.inputs, secrets: jobSecrets, needs: needed.length ? needsGiven : undefined });
          rec.run = jr;
          rec.result = jr.status;
          rec.outputs = jr.outputs;
          run.all.push(jr);
        }
      }
    }
    await opts.onJob?.(name, rec);
    if (rec.result === 'failure' || rec.result === 'cancelled') run.result = run.result === 'cancelled' ? 'cancelled' : rec.result;
  }
  // on.workflow_call.outputs: values read jobs.<job>.outputs / .result.
  const on = doc.on ?? doc.true ?? {};
  const jobsCtx: Record<string, Value> = {};
  for (const [n, j] of Object.entries(run.jobs)) jobsCtx[n] = { result: j.result, outputs: { ...j.outputs } };
  for (const [k, spec] of Object.entries((on.workflow_call?.outputs ?? {}) as Obj)) {
    run.outputs[k] = toText(interpolate(String((spec as Obj).value ?? ''), { contexts: { jobs: strict(jobsCtx, 'job'), inputs, github: strict({ ...(opts.github ?? {}) }, 'github property') } }));
  }
  return run;
}
