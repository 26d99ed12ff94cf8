/**
 * Typed wiring between steps. Wherever a Slipway step's `with:` value reads an output of a Slipway
 * step (`steps.ID.outputs.NAME`, or `needs.JOB.outputs.NAME` traced back through job outputs and
 * reusable workflows to the step that wrote it, or `inputs.NAME` of a reusable workflow traced to
 * what its callers pass), the output's declared shape (src/manifest/fields.ts `out`) is fed, example by
 * example, to the reading input's own parser. A refusal is a broken seam: one line names the file,
 * the job and step, the input, the output and why.
 */
import type { ActionSpec, OutputSpec } from '../../src/manifest/fields.ts';
import { parseInput } from '../../src/manifest/fields.ts';
import { errorMessage } from '../../src/lib/errors.ts';
import { spec as buildAndTag } from '../../src/actions/build-and-tag/inputs.ts';
import { spec as migrate } from '../../src/actions/migrate/inputs.ts';
import { spec as deployRolling } from '../../src/actions/deploy-rolling/inputs.ts';
import { spec as smokeTest } from '../../src/actions/smoke-test/inputs.ts';
import { spec as sloGate } from '../../src/actions/slo-gate/inputs.ts';
import { spec as notify } from '../../src/actions/notify/inputs.ts';
import { spec as release } from '../../src/actions/release/inputs.ts';
import { callTrigger, selfTarget, type WorkflowFile } from './workflow-contract.ts';

type Obj = Record<string, any>;

export const SPECS: Record<string, ActionSpec> = {
  'build-and-tag': buildAndTag, migrate, 'deploy-rolling': deployRolling, 'smoke-test': smokeTest, 'slo-gate': sloGate, notify, '': release,
};

/** An output a value can carry: the action's output spec, or unknown (a run: step, a context). */
type Source = { action: string; output: string; spec: OutputSpec | undefined; via: string } | { unknown: string };

const REF = /^\s*(steps|needs|inputs)\.([\w-]+)(?:\.outputs\.([\w-]+))?\s*$/;
const EXPR = /\$\{\{([\s\S]*?)\}\}/g;

export function checkWiring(files: WorkflowFile[]): Promise<string[]> {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const problems: string[] = [];

  /** What one expression (a pure reference) carries, inside `job` of `file`. */
  const resolve = (file: WorkflowFile, job: Obj, expr: string, depth = 0): Source[] => {
    const m = REF.exec(expr);
    if (!m || depth > 6) return [{ unknown: expr.trim() }];
    const [, kind, name, output] = m;
    if (kind === 'steps') {
      const step = (job.steps ?? []).find((s: Obj) => s.id === name);
      const t = step && typeof step.uses === 'string' ? selfTarget(step.uses) : undefined;
      if (!t || t.kind !== 'action' || !(t.name in SPECS)) return [{ unknown: expr.trim() }];
      return [{ action: t.name || 'release', output: output!, spec: SPECS[t.name]!.outputs[output!], via: `steps.${name}` }];
    }
    if (kind === 'needs') {
      const needed = file.doc.jobs?.[name!] as Obj | undefined;
      if (!needed) return [{ unknown: expr.trim() }];
      const target = typeof needed.uses === 'string' ? selfTarget(needed.uses) : undefined;
      if (target?.kind === 'workflow') {
        const wf = byPath.get(target.name);
        const value = callTrigger(wf?.doc ?? {})?.outputs?.[output!]?.value;
        const inner = typeof value === 'string' ? /^\s*\$\{\{\s*jobs\.([\w-]+)\.outputs\.([\w-]+)\s*\}\}\s*$/.exec(value) : null;
        if (!wf || !inner) return [{ unknown: expr.trim() }];
        const innerJob = wf.doc.jobs?.[inner[1]!];
        const jobValue = innerJob?.outputs?.[inner[2]!];
        const e = typeof jobValue === 'string' ? /^\s*\$\{\{([\s\S]*)\}\}\s*$/.exec(jobValue) : null;
        return e ? resolve(wf, innerJob, e[1]!, depth + 1) : [{ unknown: expr.trim() }];
      }
      const jobValue = needed.outputs?.[output!];
      const e = typeof jobValue === 'string' ? /^\s*\$\{\{([\s\S]*)\}\}\s*$/.exec(jobValue) : null;
      return e ? resolve(file, needed, e[1]!, depth + 1) : [{ unknown: expr.trim() }];
    }
    // inputs.NAME of a reusable workflow: whatever its callers pass.
    if (!callTrigger(file.doc)) return [{ unknown: expr.trim() }];
    const out: Source[] = [];
    for (const caller of files) {
      for (const callerJob of Object.values<Obj>(caller.doc.jobs ?? {})) {
        const t = typeof callerJob.uses === 'string' ? selfTarget(callerJob.uses) : undefined;
        if (t?.kind !== 'workflow' || t.name !== file.path) continue;
        const passed = callerJob.with?.[name!];
        const e = typeof passed === 'string' ? /^\s*\$\{\{([\s\S]*)\}\}\s*$/.exec(passed) : null;
        if (e) out.push(...resolve(caller, callerJob, e[1]!, depth + 1));
      }
    }
    return out.length ? out : [{ unknown: expr.trim() }];
  };

  const work: Promise<void>[] = [];
  for (const file of files) {
    for (const [jobId, job] of Object.entries<Obj>(file.doc.jobs ?? {})) {
      (job.steps ?? []).forEach((step: Obj, i: number) => {
        const t = typeof step.uses === 'string' ? selfTarget(step.uses) : undefined;
        if (t?.kind !== 'action' || !(t.name in SPECS)) return;
        const spec = SPECS[t.name]!;
        for (const [key, value] of Object.entries<unknown>(step.with ?? {})) {
          if (typeof value !== 'string' || !value.includes('${{')) continue;
          const input = spec.inputs[key];
          if (!input) continue; // an unknown input is the contract check's finding
          const exprs = [...value.matchAll(EXPR)].map((x) => x[1]!);
          // A computed value (conditions, functions) is not a plain hand-over: only pure references are checked.
          if (!exprs.every((x) => REF.test(x))) continue;
          const where = `${file.path}: jobs.${jobId}.steps[${i}]${step.id ? ` (${step.id})` : ''}: with.${key}`;
          const sources = exprs.map((x) => resolve(file, job, x));
          if (sources.some((s) => s.some((x) => 'unknown' in x))) continue; // a run: step or a context: no declared shape
          for (const [k, srcs] of sources.entries()) {
            for (const src of srcs) {
              if ('unknown' in src) continue;
              if (!src.spec?.shape) {
                problems.push(`${where} reads ${src.action}'s output ${src.output}, which declares no shape`);
                continue;
              }
              for (const example of src.spec.shape.examples) {
                // The other references keep their first example; this one takes each of its own.
                let text = value;
                exprs.forEach((x, j) => {
                  const other = sources[j]!.find((s): s is Extract<Source, { action: string }> => !('unknown' in s));
                  const v = j === k ? example : (other?.spec?.shape?.examples[0] ?? '');
                  text = text.replace(`\${{${x}}}`, v);
                });
                work.push(
                  parseInput(key, input, text).then(
                    () => undefined,
                    (err) => {
                      problems.push(`${where} reads ${src.via}.outputs.${src.output} (${src.action}: ${src.spec!.shape!.expected}, e.g. ${JSON.stringify(example).slice(0, 60)}), which ${t.name || 'release'}'s input '${key}' refuses: ${errorMessage(err).slice(0, 300)}`);
                    },
                  ),
                );
              }
            }
          }
        }
      });
    }
  }
  return Promise.all(work).then(() => [...new Set(problems)].sort());
}
