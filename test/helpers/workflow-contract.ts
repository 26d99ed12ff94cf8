/**
 * Contract checks for the reusable workflows and templates: they must be wired right before they
 * ever run on GitHub. Each problem is one line naming the file, the job/step and what is wrong.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';

/** How the workflows refer to Slipway's own actions and workflows (forks replace the owner). */
export const SELF = 'slipway-org/slipway';

type Obj = Record<string, any>;
export interface WorkflowFile { path: string; doc: Obj }

const SHA = /^[0-9a-f]{40}$/;

export function loadWorkflows(root: string, dirs = ['.github/workflows', 'workflows-templates']): WorkflowFile[] {
  const out: WorkflowFile[] = [];
  for (const d of dirs) {
    const dir = join(root, d);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).filter((x) => /\.ya?ml$/.test(x)).sort()) {
      out.push({ path: `${d}/${f}`, doc: YAML.parse(readFileSync(join(dir, f), 'utf8')) as Obj });
    }
  }
  return out;
}

function loadAction(root: string, name: string): Obj | undefined {
  const p = join(root, name, 'action.yml');
  return existsSync(p) ? (YAML.parse(readFileSync(p, 'utf8')) as Obj) : undefined;
}

/** Expressions `${{ … }}` in any string of a value. */
function expressions(value: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (typeof v === 'string') for (const m of v.matchAll(/\$\{\{([\s\S]*?)\}\}/g)) out.push(m[1]!);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(value);
  return out;
}

export function callTrigger(doc: Obj): Obj | undefined {
  const on = doc.on ?? doc.true;
  return on && typeof on === 'object' ? on.workflow_call : undefined;
}

/** The local target of a `uses:` (action folder or workflow path), or undefined for third-party. */
export function selfTarget(uses: string): { kind: 'action' | 'workflow'; name: string } | undefined {
  let rest: string | undefined;
  if (uses.startsWith('./')) rest = uses.slice(2);
  else if (uses.startsWith(`${SELF}/`) || uses.startsWith(`${SELF}@`)) rest = uses.slice(SELF.length + 1).replace(/@[^@]*$/, '');
  if (rest === undefined) return undefined;
  rest = rest.replace(/\/$/, '');
  if (rest.startsWith('.github/workflows/')) return { kind: 'workflow', name: rest };
  return { kind: 'action', name: rest.replace(/@.*$/, '') };
}

export function checkWorkflows(root: string, files: WorkflowFile[] = loadWorkflows(root)): string[] {
  const problems: string[] = [];
  const byPath = new Map(files.map((f) => [f.path, f]));
  const p = (file: string, where: string, msg: string) => problems.push(`${file}: ${where}: ${msg}`);
  /** A job's outputs; for a job that calls a reusable workflow, that workflow's declared outputs. */
  const jobOutputs = (job: Obj): string[] => {
    const target = typeof job.uses === 'string' ? selfTarget(job.uses) : undefined;
    if (target?.kind === 'workflow') return Object.keys(callTrigger(byPath.get(target.name)?.doc ?? {})?.outputs ?? {});
    return Object.keys(job.outputs ?? {});
  };
  /** Checks a steps.X.outputs.Y reference against the job's steps (before index `before`, when given). */
  const checkStepRef = (file: string, where: string, steps: Obj[], before: number | undefined, id: string, out: string, root: string) => {
    const ref = steps.find((s) => s.id === id);
    if (!ref) return p(file, where, `steps.${id}: no step with that id in this job`);
    if (before !== undefined && steps.indexOf(ref) >= before) p(file, where, `steps.${id} is not an earlier step`);
    const t = typeof ref.uses === 'string' ? selfTarget(ref.uses) : undefined;
    if (t?.kind === 'action') {
      const a = loadAction(root, t.name);
      if (a && !(out in (a.outputs ?? {}))) p(file, where, `steps.${id}.outputs.${out}: action ${t.name || '(top-level)'} has no output ${out}`);
    } else if (typeof ref.run === 'string' && !ref.run.includes(`${out}=`) && !ref.run.includes(`${out}<<`)) {
      p(file, where, `steps.${id}.outputs.${out}: the run step never writes ${out} to GITHUB_OUTPUT`);
    }
  };

  for (const { path, doc } of files) {
    const on = doc.on ?? doc.true;
    const triggers = typeof on === 'string' ? [on] : Array.isArray(on) ? on : Object.keys(on ?? {});
    if (triggers.includes('pull_request_target')) p(path, 'on', 'pull_request_target is not allowed');
    const call = callTrigger(doc);
    const declaredInputs = new Set(Object.keys(call?.inputs ?? {}));
    const declaredSecrets = new Set(Object.keys(call?.secrets ?? {}));
    const jobs: Obj = doc.jobs ?? {};
    if (!Object.keys(jobs).length) p(path, 'jobs', 'no jobs');

    // workflow_call outputs must point at job outputs that exist.
    for (const [name, out] of Object.entries<Obj>(call?.outputs ?? {})) {
      for (const e of expressions(out.value)) {
        for (const m of e.matchAll(/jobs\.([\w-]+)\.outputs\.([\w-]+)/g)) {
          const job = jobs[m[1]!];
          if (!job) p(path, `outputs.${name}`, `refers to unknown job ${m[1]}`);
          else if (!jobOutputs(job).includes(m[2]!)) p(path, `outputs.${name}`, `job ${m[1]} has no output ${m[2]}`);
        }
      }
    }

    for (const [jobId, job] of Object.entries<Obj>(jobs)) {
      const where = `jobs.${jobId}`;
      if (!job.permissions) p(path, where, 'has no permissions block (least privilege per job)');
      const needs: string[] = typeof job.needs === 'string' ? [job.needs] : (job.needs ?? []);
      for (const n of needs) if (!jobs[n]) p(path, where, `needs unknown job ${n}`);
      // needs.J.outputs.K anywhere in the job
      for (const e of expressions(job)) {
        for (const m of e.matchAll(/needs\.([\w-]+)\.outputs\.([\w-]+)/g)) {
          const [, j, k] = m as unknown as [string, string, string];
          if (!needs.includes(j)) { p(path, where, `uses needs.${j} but does not need ${j}`); continue; }
          const dep = jobs[j];
          if (!dep) continue;
          if (!jobOutputs(dep).includes(k)) p(path, where, `needs.${j}.outputs.${k}: job ${j} has no output ${k}`);
        }
        if (call) {
          for (const m of e.matchAll(/\binputs\.([\w-]+)/g)) if (!declaredInputs.has(m[1]!)) p(path, where, `inputs.${m[1]} is not a declared input`);
          for (const m of e.matchAll(/\bsecrets\.([\w-]+)/g)) if (m[1] !== 'GITHUB_TOKEN' && !declaredSecrets.has(m[1]!)) p(path, where, `secrets.${m[1]} is not a declared secret`);
        }
      }

      if (typeof job.uses === 'string') {
        const target = selfTarget(job.uses);
        if (!target || target.kind !== 'workflow') {
          if (!job.uses.includes('@') || !SHA.test(job.uses.split('@').pop()!)) p(path, where, `reusable workflow ${job.uses} is not pinned to a commit SHA`);
          continue;
        }
        const wf = byPath.get(target.name);
        if (!wf) { p(path, where, `calls ${target.name}, which does not exist`); continue; }
        const wcall = callTrigger(wf.doc);
        if (!wcall) { p(path, where, `${target.name} has no workflow_call trigger`); continue; }
        const inputs: Obj = wcall.inputs ?? {};
        for (const k of Object.keys(job.with ?? {})) if (!(k in inputs)) p(path, where, `passes with.${k}, which ${target.name} does not declare`);
        for (const [k, i] of Object.entries<Obj>(inputs)) if (i.required && i.default === undefined && !(k in (job.with ?? {}))) p(path, where, `does not pass required input ${k} of ${target.name}`);
        if (job.secrets !== 'inherit') {
          const secrets: Obj = wcall.secrets ?? {};
          for (const k of Object.keys(job.secrets ?? {})) if (!(k in secrets)) p(path, where, `passes secret ${k}, which ${target.name} does not declare`);
          for (const [k, s] of Object.entries<Obj>(secrets)) if (s?.required && !(k in (job.secrets ?? {}))) p(path, where, `does not pass required secret ${k}`);
        }
        continue;
      }

      const steps: Obj[] = job.steps ?? [];
      for (const [name, value] of Object.entries<unknown>(job.outputs ?? {})) {
        for (const e of expressions(value)) for (const m of e.matchAll(/steps\.([\w-]+)\.outputs\.([\w-]+)/g)) checkStepRef(path, `${where}.outputs.${name}`, steps, undefined, m[1]!, m[2]!, root);
      }
      steps.forEach((step, i) => {
        const sw = `${where}.steps[${i}]${step.id ? ` (${step.id})` : step.name ? ` (${step.name})` : ''}`;
        if (typeof step.run === 'string' && step.run.includes('${{')) p(path, sw, 'has ${{ }} inside run: (pass values through env:)');
        for (const e of expressions(step)) {
          for (const m of e.matchAll(/steps\.([\w-]+)\.outputs\.([\w-]+)/g)) checkStepRef(path, sw, steps, i, m[1]!, m[2]!, root);
        }
        if (typeof step.uses !== 'string') return;
        const t = selfTarget(step.uses);
        if (!t) {
          if (step.uses.startsWith('docker://')) return;
          const ref = step.uses.split('@')[1] ?? '';
          if (!SHA.test(ref)) p(path, sw, `third-party action ${step.uses} is not pinned to a full commit SHA`);
          return;
        }
        const action = loadAction(root, t.name);
        if (!action) { p(path, sw, `uses ${step.uses}: no action.yml at ${t.name || '.'}/action.yml`); return; }
        const inputs: Obj = action.inputs ?? {};
        for (const k of Object.keys(step.with ?? {})) if (!(k in inputs)) p(path, sw, `with.${k} is not an input of ${t.name || 'the top-level action'}`);
        for (const [k, i] of Object.entries<Obj>(inputs)) if (i.required && i.default === undefined && !(k in (step.with ?? {}))) p(path, sw, `does not give required input ${k} of ${t.name}`);
      });
    }
  }
  return problems;
}
