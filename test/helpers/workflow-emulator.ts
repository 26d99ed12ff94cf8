/**
 * Runs one job of a workflow file the way GitHub's runner would, step by step, on this machine:
 * `${{ }}` expressions (GitHub's own engine, @actions/expressions, with strict contexts: an unknown
 * context, function, input, secret, step id or action output throws, so a typo in a workflow fails
 * the test), `if:` with the status
 * functions, `continue-on-error`, Slipway's own actions (`slipway-org/slipway/<action>@…` →
 * dist/<action>/index.js through runBundle, with action.yml defaults), `run:` steps in bash with
 * GITHUB_OUTPUT/GITHUB_ENV/GITHUB_STEP_SUMMARY files, `post:` steps of actions that declare one
 * (in reverse order, after the job's steps), and the job's outputs at the end.
 * `uses: actions/checkout@…` is a no-op: the test prepares the workspace; `actions/setup-node@…` is
 * one too (the machine's Node, when it is the major asked for).
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import YAML from 'yaml';
import { Evaluator, Lexer, Parser, data } from '@actions/expressions';
import { NoOperationTraceWriter, parseWorkflow } from '@actions/workflow-parser';
import { distDir, parseFileCommands, parseWorkflowCommands, repoRoot, runBundle, type BundleRun } from './runner.ts';

// ---------------------------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------------------------

export type Value = string | number | boolean | null | Value[] | { [k: string]: Value };

const STRICT = Symbol('strict');
type StrictObj = { [k: string]: Value } & { [STRICT]?: string };

/** Marks an object whose missing keys are an error (`what` names them: "input", "secret" …). */
export function strict<T extends Record<string, Value>>(obj: T, what: string): T {
  Object.defineProperty(obj, STRICT, { value: what, enumerable: false });
  return obj;
}

export class ExpressionError extends Error {
  constructor(expr: string, message: string) {
    super(`\${{ ${expr.trim()} }}: ${message}`);
    this.name = 'ExpressionError';
  }
}

export type JobStatus = 'success' | 'failure' | 'cancelled';

export interface ExprScope {
  /** The contexts an expression may name (inputs, secrets, steps, job, github, env …). */
  contexts: Record<string, Value>;
  /** Status functions (success(), failure(), always(), cancelled()) are allowed only in `if:`. */
  status?: JobStatus;
}

/** Truthiness as GitHub defines it: false, 0, -0, '', null (and NaN) are falsy. */
export function truthy(v: Value): boolean {
  if (v === null || v === false || v === '' ) return false;
  if (typeof v === 'number') return v !== 0 && !Number.isNaN(v);
  return true;
}

function toNumber(v: Value): number {
  if (v === null) return 0;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v.trim() === '') return 0;
    const n = Number(v.trim());
    return Number.isNaN(n) ? NaN : n;
  }
  return NaN;
}

/** `==` as GitHub does it: strings case-insensitively, mixed types through numbers, objects by identity. */
export function looseEquals(a: Value, b: Value): boolean {
  if (typeof a === 'string' && typeof b === 'string') return a.toLowerCase() === b.toLowerCase();
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') return a === b;
  if ((a !== null && typeof a === 'object') || (b !== null && typeof b === 'object')) return false;
  if (a === null && b === null) return true;
  return toNumber(a) === toNumber(b);
}

/** Converts a value to the string GitHub puts into a `with:`/`env:` value or a template. */
export function toText(v: Value): string {
  if (v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  return JSON.stringify(v, null, 2);
}

const STATUS_FUNCTIONS = ['success', 'failure', 'always', 'cancelled'];

/**
 * A context object whose missing keys are an error (GitHub answers null; the emulator fails the
 * test, so a typo in a workflow cannot pass unnoticed).
 */
class StrictDictionary extends data.Dictionary {
  readonly what: string;
  readonly expr: string;
  constructor(what: string, expr: string, pairs: { key: string; value: data.ExpressionData }[]) {
    super(...pairs);
    this.what = what;
    this.expr = expr;
  }
  override get(key: string): data.ExpressionData | undefined {
    const v = super.get(key);
    if (v === undefined) throw new ExpressionError(this.expr, `unknown ${this.what} '${key}'${this.pairs().length ? ` (known: ${this.pairs().map((p) => p.key).join(', ')})` : ''}`);
    return v;
  }
}

function toData(v: Value, expr: string): data.ExpressionData {
  if (v === null) return new data.Null();
  if (typeof v === 'string') return new data.StringData(v);
  if (typeof v === 'number') return new data.NumberData(v);
  if (typeof v === 'boolean') return new data.BooleanData(v);
  if (Array.isArray(v)) return new data.Array(...v.map((x) => toData(x, expr)));
  const pairs = Object.entries(v).map(([key, value]) => ({ key, value: toData(value, expr) }));
  const what = (v as StrictObj)[STRICT];
  return what ? new StrictDictionary(what, expr, pairs) : new data.Dictionary(...pairs);
}

function fromData(d: data.ExpressionData): Value {
  switch (d.kind) {
    case data.Kind.Null: return null;
    case data.Kind.String: return (d as data.StringData).value;
    case data.Kind.Number: return (d as data.NumberData).value;
    case data.Kind.Boolean: return (d as data.BooleanData).value;
    case data.Kind.Array: return (d as data.Array).values().map(fromData);
    default: return Object.fromEntries((d as data.Dictionary).pairs().map((p) => [p.key, fromData(p.value)]));
  }
}

/**
 * Evaluates the inside of one `${{ … }}` with GitHub's own expression engine (@actions/expressions):
 * its lexer, parser, operators, coercions and functions. The emulator adds the status functions
 * (allowed only in if:) and strict contexts.
 */
export function evaluate(expr: string, scope: ExprScope): Value {
  const contexts = Object.keys(scope.contexts);
  const statusInfo = STATUS_FUNCTIONS.map((name) => ({ name, minArgs: 0, maxArgs: 0 }));
  let ast;
  try {
    ast = new Parser(new Lexer(expr).lex().tokens, contexts, statusInfo).parse();
  } catch (e) {
    throw new ExpressionError(expr, (e as Error).message);
  }
  const status = scope.status;
  const functions = new Map(STATUS_FUNCTIONS.map((name) => [name, {
    name, minArgs: 0, maxArgs: 0,
    call: () => {
      if (!status) throw new ExpressionError(expr, `${name}() is only allowed in if:`);
      return new data.BooleanData(name === 'always' ? true : name === 'success' ? status === 'success' : name === 'failure' ? status === 'failure' : status === 'cancelled');
    },
  }]));
  const context = new data.Dictionary(...Object.entries(scope.contexts).map(([key, value]) => ({ key, value: toData(value, expr) })));
  try {
    return fromData(new Evaluator(ast, context, functions).evaluate());
  } catch (e) {
    if (e instanceof ExpressionError) throw e;
    throw new ExpressionError(expr, (e as Error).message);
  }
}

/**
 * The `${{ … }}` parts of a value, as GitHub's template reader finds them (@actions/workflow-parser
 * template-reader.ts): an expression ends at the first `}}` outside a single-quoted string, so
 * `format('{{"a":{0}}}', x)` is one expression. Literal text between them is kept as is.
 */
function templateParts(template: string): ({ text: string } | { expr: string })[] {
  const parts: ({ text: string } | { expr: string })[] = [];
  let at = 0;
  for (;;) {
    const start = template.indexOf('${{', at);
    if (start < 0) break;
    let inString = false;
    let end = -1;
    for (let i = start + 3; i < template.length; i++) {
      if (template[i] === "'") inString = !inString;
      else if (!inString && template[i] === '}' && template[i - 1] === '}') {
        end = i;
        break;
      }
    }
    if (end < 0) throw new ExpressionError(template.slice(start + 3), 'The expression is not closed: no }} after ${{');
    if (start > at) parts.push({ text: template.slice(at, start) });
    parts.push({ expr: template.slice(start + 3, end - 1) });
    at = end + 1;
  }
  if (at < template.length) parts.push({ text: template.slice(at) });
  return parts;
}

/** A value with `${{ }}` parts: a lone expression keeps its type, anything else becomes a string. */
export function interpolate(template: string, scope: ExprScope): Value {
  const parts = templateParts(template);
  const exprs = parts.filter((p): p is { expr: string } => 'expr' in p);
  if (exprs.length === 1 && parts.every((p) => 'expr' in p || !p.text.trim())) return evaluate(exprs[0]!.expr, scope);
  return parts.map((p) => ('expr' in p ? toText(evaluate(p.expr, scope)) : p.text)).join('');
}

/** An `if:` condition: `${{ }}` optional; without a status function it means `success() && (…)`. */
export function evaluateIf(cond: unknown, scope: ExprScope & { status: JobStatus }): boolean {
  if (cond === undefined || cond === null || cond === '') return scope.status === 'success';
  if (typeof cond === 'boolean') return scope.status === 'success' && cond;
  let text = String(cond).trim();
  const m = /^\$\{\{([\s\S]*)\}\}$/.exec(text);
  if (m) text = m[1]!;
  const usesStatus = new RegExp(`\\b(${STATUS_FUNCTIONS.join('|')})\\s*\\(`, 'i').test(text);
  return truthy(evaluate(usesStatus ? text : `success() && (${text})`, scope));
}

// ---------------------------------------------------------------------------------------------
// Jobs
// ---------------------------------------------------------------------------------------------

type Obj = Record<string, any>;

/** How the workflows name this repository's actions. */
export const SELF = 'slipway-org/slipway';

export interface StepRecord {
  index: number;
  id?: string;
  name: string;
  kind: 'uses' | 'run';
  uses?: string;
  /** The Slipway action run (dist/<action>), for uses: steps of this repository. */
  action?: string;
  post?: boolean;
  outcome: 'success' | 'failure' | 'skipped';
  conclusion: 'success' | 'failure' | 'skipped';
  outputs: Record<string, string>;
  /** The evaluated `with:` values (as the runner passes them). */
  with: Record<string, string>;
  /** The evaluated `env:` of the step (over the job's). */
  env: Record<string, string>;
  /** What the process showed (a BundleRun, also for run: steps); absent for skipped and no-op steps. */
  run?: BundleRun;
}

export interface JobRun {
  job: string;
  status: JobStatus;
  steps: StepRecord[];
  /** Step by id. */
  byId: Record<string, StepRecord>;
  outputs: Record<string, string>;
  /** The job summary: every step's GITHUB_STEP_SUMMARY in order. */
  summary: string;
  /** Every process's visible text (stdout, stderr, summaries, outputs), for secret scans. */
  runs: BundleRun[];
}

export interface EmulateOptions {
  /** Workflow file, absolute or relative to the repository root. */
  workflow: string;
  job: string;
  /** workflow_call / workflow_dispatch inputs (declared defaults apply). */
  inputs?: Record<string, string | number | boolean>;
  secrets?: Record<string, string>;
  /** The `github` context (token, api_url, repository, sha …); a name the workflow uses and this lacks throws. */
  github?: Record<string, Value>;
  /** Directory the steps run in (GITHUB_WORKSPACE). */
  workspace: string;
  /** Extra variables every step's process gets (like the runner machine's environment). */
  runnerEnv?: Record<string, string>;
  stepTimeoutMs?: number;
  /**
   * Cancel the run while step `step` runs, once its stdout satisfies `when` (as the runner does:
   * SIGINT to the step's process). Afterwards the job's status is cancelled: only steps whose if:
   * uses always() or cancelled() run, and post steps run (post-if default always()).
   */
  cancel?: { step: string; when: (stdout: string) => boolean };
  /** What the jobs in this job's needs: produced (outputs as the runner passes them: strings). */
  needs?: Record<string, { outputs: Record<string, string>; result?: 'success' | 'failure' | 'cancelled' | 'skipped' }>;
  /** The run's artifact store (a folder): actions/upload-artifact and download-artifact use it, so jobs can hand files on. */
  artifacts?: string;
  /** Called before and after each step (progress, or fault injection between steps). */
  onStep?: (phase: 'before' | 'after', step: StepRecord) => void | Promise<void>;
}

interface ActionMeta { inputs: Record<string, { required?: boolean; default?: unknown }>; outputs: Record<string, unknown>; post: boolean }

function actionMeta(action: string): ActionMeta {
  const path = join(repoRoot, action === '.' ? '' : action, 'action.yml');
  const doc = YAML.parse(readFileSync(path, 'utf8')) as Obj;
  return { inputs: doc.inputs ?? {}, outputs: doc.outputs ?? {}, post: Boolean(doc.runs?.post) };
}

/** `slipway-org/slipway/<action>@ref` → `<action>` ('.' for the top-level release action); undefined for others. */
export function selfAction(uses: string): string | undefined {
  if (uses.startsWith('./')) return uses.slice(2).replace(/\/$/, '') || '.';
  if (uses.startsWith(`${SELF}@`)) return '.';
  if (uses.startsWith(`${SELF}/`)) {
    const rest = uses.slice(SELF.length + 1).replace(/@[^@]*$/, '');
    if (rest.startsWith('.github/')) return undefined;
    return rest;
  }
  return undefined;
}

export function callInputs(doc: Obj): { inputs: Obj; secrets: Obj } {
  const on = doc.on ?? doc.true ?? {};
  const call = on.workflow_call ?? {};
  const dispatch = on.workflow_dispatch ?? {};
  return { inputs: { ...(dispatch.inputs ?? {}), ...(call.inputs ?? {}) }, secrets: call.secrets ?? {} };
}

export function inputsContext(declared: Obj, given: Record<string, string | number | boolean>): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const k of Object.keys(given)) if (!(k in declared)) throw new Error(`workflow has no input '${k}' (declared: ${Object.keys(declared).join(', ')})`);
  for (const [k, d] of Object.entries(declared)) {
    const spec = (d ?? {}) as Obj;
    let v: Value = k in given ? given[k]! : spec.default !== undefined ? (spec.default as Value) : null;
    if (v === null && spec.required) throw new Error(`workflow input '${k}' is required`);
    if (spec.type === 'boolean') v = v === null ? false : v === true || v === 'true';
    else if (spec.type === 'number') v = v === null ? null : Number(v);
    else v = v === null ? '' : String(v);
    out[k] = v;
  }
  return strict(out, 'input');
}

function textMap(m: Obj | undefined, scope: ExprScope, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m ?? {})) {
    try {
      out[k] = toText(typeof v === 'string' ? interpolate(v, scope) : (v as Value));
    } catch (e) {
      throw new Error(`${where}.${k}: ${(e as Error).message}`, { cause: e });
    }
  }
  return out;
}

function runShell(script: string, env: Record<string, string>, cwd: string, timeoutMs: number): Promise<BundleRun> {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-run-step-'));
  const files = { GITHUB_OUTPUT: 'output', GITHUB_STATE: 'state', GITHUB_ENV: 'env', GITHUB_STEP_SUMMARY: 'summary.md', GITHUB_PATH: 'path' };
  const fileEnv: Record<string, string> = {};
  for (const [k, f] of Object.entries(files)) {
    fileEnv[k] = join(dir, f);
    writeFileSync(fileEnv[k]!, '');
  }
  const scriptPath = join(dir, 'step.sh');
  writeFileSync(scriptPath, script);
  const started = performance.now();
  // The runner's default shell on Linux: bash --noprofile --norc -eo pipefail {0}
  const child = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', scriptPath], { env: { ...env, ...fileEnv }, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const { masks, annotations } = parseWorkflowCommands(stdout);
      resolve({
        code,
        signal,
        stdout,
        stderr,
        outputs: parseFileCommands(readFileSync(fileEnv.GITHUB_OUTPUT!, 'utf8')),
        state: {},
        env: parseFileCommands(readFileSync(fileEnv.GITHUB_ENV!, 'utf8')),
        summary: readFileSync(fileEnv.GITHUB_STEP_SUMMARY!, 'utf8'),
        masks,
        annotations,
        errors: annotations.filter((a) => a.level === 'error').map((a) => a.message),
        durationMs: performance.now() - started,
      });
    });
  });
}

/** Keeps run: steps' text beside the bundles' runs for the suite-wide secret scan. */
function record(name: string, r: BundleRun) {
  const dir = join(repoRoot, '.tmp/runs');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${process.pid}-emulated-${Date.now()}-${Math.random().toString(36).slice(2, 8)}-${name.replace(/[^\w-]/g, '_')}.log`), [r.stdout, r.stderr, r.summary, JSON.stringify(r.outputs)].join('\n'));
}

/** Runs one job of a workflow; resolves when its steps (and post steps) are done. */
export async function emulateJob(opts: EmulateOptions): Promise<JobRun> {
  const file = opts.workflow.startsWith('/') ? opts.workflow : join(repoRoot, opts.workflow);
  const text = readFileSync(file, 'utf8');
  // What GitHub would refuse to load is not emulated: GitHub's own parser reads the file first.
  const parsed = parseWorkflow({ name: opts.workflow, content: text }, new NoOperationTraceWriter());
  const errors = parsed.context.errors.getErrors();
  if (errors.length) throw new Error(`${opts.workflow}: GitHub would not load this workflow: ${errors.map((e) => e.message).join('; ')}`);
  const doc = YAML.parse(text) as Obj;
  const job = doc.jobs?.[opts.job] as Obj | undefined;
  if (!job) throw new Error(`${opts.workflow}: no job '${opts.job}' (jobs: ${Object.keys(doc.jobs ?? {}).join(', ')})`);
  if (job.uses) throw new Error(`${opts.workflow}: job '${opts.job}' calls a reusable workflow; emulate that workflow's job instead`);
  if (job.strategy?.matrix) throw new Error(`${opts.workflow}: job '${opts.job}' has a matrix; not emulated`);
  const declared = callInputs(doc);
  const secretNames = Object.keys(declared.secrets);
  for (const k of Object.keys(opts.secrets ?? {})) if (!secretNames.includes(k)) throw new Error(`workflow declares no secret '${k}' (declared: ${secretNames.join(', ')})`);
  const secrets: Record<string, Value> = { GITHUB_TOKEN: toText(opts.github?.token ?? '') };
  for (const k of secretNames) secrets[k] = opts.secrets?.[k] ?? '';
  const stepsDef: Obj[] = job.steps ?? [];
  const ids = stepsDef.map((s) => s.id as string | undefined).filter((x): x is string => Boolean(x));
  const stepsCtx: Record<string, Value> = {};
  const notRun = () => ({ outputs: {}, outcome: '', conclusion: '' });
  for (const id of ids) stepsCtx[id] = notRun();
  strict(stepsCtx, 'step id');
  let status: JobStatus = 'success';
  let cancelled = false;
  const jobCtx: Record<string, Value> = { status };
  const contexts: Record<string, Value> = {
    inputs: inputsContext(declared.inputs, opts.inputs ?? {}),
    secrets: strict(secrets, 'secret'),
    github: strict({ ...(opts.github ?? {}) }, 'github property'),
    steps: stepsCtx,
    job: strict(jobCtx, 'job property'),
    env: {},
  };
  // needs.<job>.outputs / .result: only the jobs this job declares in needs:, with what they produced.
  const needed: string[] = typeof job.needs === 'string' ? [job.needs] : (job.needs ?? []);
  for (const k of Object.keys(opts.needs ?? {})) if (!needed.includes(k)) throw new Error(`jobs.${opts.job} does not need '${k}' (needs: ${needed.join(', ') || 'none'})`);
  if (needed.length) {
    const ctx: Record<string, Value> = {};
    for (const n of needed) {
      const given = opts.needs?.[n];
      if (!given) throw new Error(`jobs.${opts.job} needs '${n}': give its outputs and result (emulator option needs)`);
      ctx[n] = strict({ result: given.result ?? 'success', outputs: strict({ ...given.outputs }, `output of job ${n}`) }, `property of needs.${n}`);
    }
    contexts.needs = strict(ctx, 'needed job');
  }
  const scope = (env: Record<string, string>, withStatus = false): ExprScope => ({ contexts: { ...contexts, env: { ...env } }, status: withStatus ? status : undefined });

  const jobEnv = textMap(job.env, scope({}), `jobs.${opts.job}.env`);
  const fileEnv: Record<string, string> = {}; // GITHUB_ENV written by earlier steps
  const steps: StepRecord[] = [];
  const byId: Record<string, StepRecord> = {};
  const runs: BundleRun[] = [];
  const posts: { record: StepRecord; def: Obj; state: Record<string, string>; env: Record<string, string> }[] = [];
  const timeoutMs = opts.stepTimeoutMs ?? 180_000;
  const ctxOutputs = new Map<StepRecord, Value>();

  const execute = async (def: Obj, index: number, post?: { state: Record<string, string>; with: Record<string, string>; env: Record<string, string> }): Promise<StepRecord> => {
    const name = String(def.name ?? def.id ?? def.uses ?? (def.run ? String(def.run).split('\n')[0] : `step ${index + 1}`));
    const where = `jobs.${opts.job}.steps[${index}]${def.id ? ` (${def.id})` : ''}`;
    const baseEnv = { ...jobEnv, ...fileEnv };
    const rec: StepRecord = { index, id: def.id, name: post ? `Post ${name}` : name, kind: def.uses ? 'uses' : 'run', uses: def.uses, post: Boolean(post), outcome: 'skipped', conclusion: 'skipped', outputs: {}, with: {}, env: {} };
    jobCtx.status = status;
    const cond = post ? (def['post-if'] ?? 'always()') : def.if;
    let go: boolean;
    try {
      go = evaluateIf(cond, { ...scope(baseEnv, true), status });
    } catch (e) {
      throw new Error(`${where}.if: ${(e as Error).message}`, { cause: e });
    }
    await opts.onStep?.('before', rec);
    if (!go) return rec;
    const stepEnv = post ? post.env : textMap(def.env, scope(baseEnv), `${where}.env`);
    rec.env = stepEnv;
    const env = { ...(opts.runnerEnv ?? {}), ...baseEnv, ...stepEnv };
    let ok: boolean;
    if (def.run !== undefined) {
      if (String(def.run).includes('${{')) throw new Error(`${where}.run: contains \${{ }}; pass values through env:`);
      if (def.shell && def.shell !== 'bash') throw new Error(`${where}: shell ${def.shell} is not emulated`);
      const r = await runShell(String(def.run), { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', GITHUB_WORKSPACE: opts.workspace, CI: 'true', GITHUB_ACTIONS: 'true', ...env }, def['working-directory'] ? join(opts.workspace, def['working-directory']) : opts.workspace, timeoutMs);
      record(rec.id ?? 'run', r);
      rec.run = r;
      rec.outputs = r.outputs;
      Object.assign(fileEnv, r.env);
      ok = r.code === 0;
    } else if (typeof def.uses === 'string' && /^actions\/checkout@/.test(def.uses)) {
      rec.with = textMap(def.with, scope(baseEnv), `${where}.with`);
      ok = true; // the test prepared the workspace
    } else if (typeof def.uses === 'string' && /^actions\/setup-node@/.test(def.uses)) {
      // The machine's own Node stands in; a workflow that asks for another major than the tests run on is not emulated.
      rec.with = textMap(def.with, scope(baseEnv), `${where}.with`);
      const want = rec.with['node-version'];
      if (want && !process.version.startsWith(`v${want.replace(/\.x$/, '')}`)) throw new Error(`${where}: setup-node asks for Node ${want}; the tests run on ${process.version}`);
      ok = true;
    } else if (typeof def.uses === 'string' && /^actions\/(upload|download)-artifact@/.test(def.uses)) {
      // Artifacts of one run, between its jobs: a folder per name in opts.artifacts (as GitHub keeps them).
      rec.with = textMap(def.with, scope(baseEnv), `${where}.with`);
      if (!opts.artifacts) throw new Error(`${where}: ${def.uses} needs the emulator's artifacts option (the run's artifact store)`);
      const name = rec.with.name || 'artifact';
      const store = join(opts.artifacts, name);
      if (def.uses.startsWith('actions/upload-artifact@')) {
        const from = join(opts.workspace, rec.with.path ?? '');
        if (!existsSync(from)) throw new Error(`${where}: upload-artifact: no files were found with the provided path: ${rec.with.path}`);
        rmSync(store, { recursive: true, force: true });
        // A folder uploads its contents; a file uploads itself (upload-artifact's root rule for one path).
        if (statSync(from).isDirectory()) cpSync(from, store, { recursive: true, verbatimSymlinks: true });
        else { mkdirSync(store, { recursive: true }); cpSync(from, join(store, basename(from))); }
      } else {
        if (!existsSync(store)) throw new Error(`${where}: download-artifact: Artifact not found for name: ${name}`);
        const dest = join(opts.workspace, rec.with.path ?? '');
        // A fresh runner has an empty workspace: what an earlier emulated job downloaded is replaced.
        if (rec.with.path) rmSync(dest, { recursive: true, force: true });
        cpSync(store, dest, { recursive: true, verbatimSymlinks: true });
      }
      ok = true;
    } else if (typeof def.uses === 'string' && selfAction(def.uses)) {
      const action = selfAction(def.uses)!;
      rec.action = action;
      const meta = actionMeta(action);
      const given = post ? post.with : textMap(def.with, scope(baseEnv), `${where}.with`);
      for (const k of Object.keys(given)) if (!(k in meta.inputs)) throw new Error(`${where}.with.${k}: ${action} has no input '${k}'`);
      rec.with = given;
      const bundle = join(distDir, action === '.' ? 'release' : action, 'index.js');
      if (!existsSync(bundle)) throw new Error(`${where}: ${bundle} does not exist: build it (npm run build)`);
      const cancelHere = !post && opts.cancel && opts.cancel.step === def.id ? opts.cancel : undefined;
      const r = await runBundle(action, given, { env, cwd: opts.workspace, timeoutMs, post: Boolean(post), state: post?.state, signalAfter: cancelHere ? { when: cancelHere.when, signal: 'SIGINT' } : undefined });
      if (cancelHere && (r.signal === 'SIGINT' || /received SIGINT/.test(r.stdout))) cancelled = true;
      rec.run = r;
      // Outputs a workflow may read: the declared ones ('' when unset); anything else is a typo.
      const outputs: Record<string, Value> = {};
      for (const k of Object.keys(meta.outputs)) outputs[k] = r.outputs[k] ?? '';
      rec.outputs = r.outputs;
      Object.assign(fileEnv, r.env);
      if (meta.post && !post) posts.push({ record: rec, def, state: r.state, env: stepEnv });
      ctxOutputs.set(rec, strict(outputs, `output of ${action}`));
      ok = r.code === 0;
    } else {
      throw new Error(`${where}: uses ${def.uses} is not emulated (only actions/checkout, actions/setup-node, actions/upload-artifact, actions/download-artifact and ${SELF}/<action>)`);
    }
    if (rec.run) runs.push(rec.run);
    rec.outcome = ok ? 'success' : 'failure';
    rec.conclusion = ok || def['continue-on-error'] === true ? 'success' : 'failure';
    if (cancelled) status = 'cancelled';
    else if (rec.conclusion === 'failure' && status === 'success') status = 'failure';
    return rec;
  };

  for (const [index, def] of stepsDef.entries()) {
    const rec = await execute(def, index);
    steps.push(rec);
    if (rec.id) {
      byId[rec.id] = rec;
      stepsCtx[rec.id] = { outputs: ctxOutputs.get(rec) ?? { ...rec.outputs }, outcome: rec.outcome, conclusion: rec.conclusion };
    }
    await opts.onStep?.('after', rec);
  }
  for (const p of posts.reverse()) {
    const rec = await execute(p.def, p.record.index, { state: p.state, with: p.record.with, env: p.env });
    steps.push(rec);
    await opts.onStep?.('after', rec);
  }
  jobCtx.status = status;
  const outputs = textMap(job.outputs, scope({ ...jobEnv, ...fileEnv }), `jobs.${opts.job}.outputs`);
  return { job: opts.job, status, steps, byId, outputs, summary: steps.map((s) => s.run?.summary ?? '').filter(Boolean).join('\n'), runs };
}

/** Every secret-looking leak over a whole job: the secrets that appear in any step's visible text. */
export function jobLeaks(job: JobRun, secrets: string[]): string[] {
  const seen = new Set<string>();
  for (const r of job.runs) {
    const text = [r.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::')).join('\n'), r.stderr, r.summary, JSON.stringify(r.outputs)].join('\n');
    for (const s of secrets) if (s.length >= 4 && text.includes(s)) seen.add(s);
  }
  return [...seen];
}
