/**
 * Runs one job of a workflow file the way GitHub's runner would, step by step, on this machine:
 * `${{ }}` expressions (a small, strict evaluator: an unknown context, function, input, secret,
 * step id or action output throws, so a typo in a workflow fails the test), `if:` with the status
 * functions, `continue-on-error`, Slipway's own actions (`slipway-org/slipway/<action>@…` →
 * dist/<action>/index.js through runBundle, with action.yml defaults), `run:` steps in bash with
 * GITHUB_OUTPUT/GITHUB_ENV/GITHUB_STEP_SUMMARY files, `post:` steps of actions that declare one
 * (in reverse order, after the job's steps), and the job's outputs at the end.
 * `uses: actions/checkout@…` is a no-op: the test prepares the workspace.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { parseFileCommands, parseWorkflowCommands, repoRoot, runBundle, type BundleRun } from './runner.ts';

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

type Token =
  | { t: 'num'; v: number }
  | { t: 'str'; v: string }
  | { t: 'id'; v: string }
  | { t: 'op'; v: string };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (c === "'") {
      let s = '';
      i++;
      for (;;) {
        if (i >= src.length) throw new ExpressionError(src, 'unterminated string');
        if (src[i] === "'") {
          if (src[i + 1] === "'") { s += "'"; i += 2; continue; }
          i++;
          break;
        }
        s += src[i++];
      }
      out.push({ t: 'str', v: s });
      continue;
    }
    const two = src.slice(i, i + 2);
    if (['==', '!=', '&&', '||', '<=', '>='].includes(two)) { out.push({ t: 'op', v: two }); i += 2; continue; }
    if ('()[].,!<>'.includes(c)) {
      // a dot followed by a digit after an operator is a number (.5); otherwise property access
      out.push({ t: 'op', v: c });
      i++;
      continue;
    }
    const num = /^(0x[0-9a-fA-F]+|-?\d+(\.\d+)?([eE][+-]?\d+)?)/.exec(src.slice(i));
    if (num && !(c === '-' && out.length && out[out.length - 1]!.t !== 'op')) {
      out.push({ t: 'num', v: Number(num[0]) });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(src.slice(i));
    if (id) { out.push({ t: 'id', v: id[0] }); i += id[0].length; continue; }
    throw new ExpressionError(src, `unexpected character ${JSON.stringify(c)} at ${i}`);
  }
  return out;
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

class Parser {
  private pos = 0;
  private readonly tokens: Token[];
  private readonly src: string;
  private readonly scope: ExprScope;
  constructor(src: string, scope: ExprScope) {
    this.src = src;
    this.scope = scope;
    this.tokens = tokenize(src);
  }

  parse(): Value {
    if (!this.tokens.length) throw this.err('empty expression');
    const v = this.or();
    if (this.pos < this.tokens.length) throw this.err(`unexpected ${JSON.stringify(this.tokens[this.pos]!.v)}`);
    return v;
  }

  private err(msg: string) {
    return new ExpressionError(this.src, msg);
  }
  private peek(v?: string): Token | undefined {
    const t = this.tokens[this.pos];
    if (v === undefined) return t;
    return t && t.t === 'op' && t.v === v ? t : undefined;
  }
  private eat(v: string): void {
    if (!this.peek(v)) throw this.err(`expected ${JSON.stringify(v)}${this.peek() ? ` at ${JSON.stringify(this.peek()!.v)}` : ' at the end'}`);
    this.pos++;
  }

  private or(): Value {
    let left = this.and();
    while (this.peek('||')) {
      this.pos++;
      const right = this.and();
      left = truthy(left) ? left : right;
    }
    return left;
  }
  private and(): Value {
    let left = this.equality();
    while (this.peek('&&')) {
      this.pos++;
      const right = this.equality();
      left = truthy(left) ? right : left;
    }
    return left;
  }
  private equality(): Value {
    let left = this.comparison();
    for (;;) {
      if (this.peek('==')) { this.pos++; left = looseEquals(left, this.comparison()); }
      else if (this.peek('!=')) { this.pos++; left = !looseEquals(left, this.comparison()); }
      else return left;
    }
  }
  private comparison(): Value {
    let left = this.unary();
    for (;;) {
      const op = ['<', '>', '<=', '>='].find((o) => this.peek(o));
      if (!op) return left;
      this.pos++;
      const a = toNumber(left);
      const b = toNumber(this.unary());
      left = op === '<' ? a < b : op === '>' ? a > b : op === '<=' ? a <= b : a >= b;
    }
  }
  private unary(): Value {
    if (this.peek('!')) {
      this.pos++;
      return !truthy(this.unary());
    }
    return this.postfix(this.primary());
  }
  private postfix(v: Value): Value {
    for (;;) {
      if (this.peek('.')) {
        this.pos++;
        const t = this.tokens[this.pos++];
        if (!t || t.t !== 'id') throw this.err('expected a property name after "."');
        v = this.member(v, t.v);
      } else if (this.peek('[')) {
        this.pos++;
        const key = this.or();
        this.eat(']');
        v = Array.isArray(v) ? (v[toNumber(key)] ?? null) : this.member(v, toText(key));
      } else return v;
    }
  }
  private member(v: Value, key: string): Value {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
    const o = v as StrictObj;
    if (Object.prototype.hasOwnProperty.call(o, key)) return o[key]!;
    if (o[STRICT]) throw this.err(`unknown ${o[STRICT]} '${key}'${Object.keys(o).length ? ` (known: ${Object.keys(o).join(', ')})` : ''}`);
    return null;
  }
  private primary(): Value {
    const t = this.tokens[this.pos++];
    if (!t) throw this.err('unexpected end');
    if (t.t === 'num' || t.t === 'str') return t.v;
    if (t.t === 'op' && t.v === '(') {
      const v = this.or();
      this.eat(')');
      return v;
    }
    if (t.t === 'id') {
      if (t.v === 'true') return true;
      if (t.v === 'false') return false;
      if (t.v === 'null') return null;
      if (this.peek('(')) return this.call(t.v);
      if (!Object.prototype.hasOwnProperty.call(this.scope.contexts, t.v)) {
        throw this.err(`unknown context '${t.v}' (available here: ${Object.keys(this.scope.contexts).join(', ')})`);
      }
      return this.scope.contexts[t.v]!;
    }
    throw this.err(`unexpected ${JSON.stringify(t.v)}`);
  }
  private call(name: string): Value {
    this.eat('(');
    const args: Value[] = [];
    if (!this.peek(')')) {
      args.push(this.or());
      while (this.peek(',')) { this.pos++; args.push(this.or()); }
    }
    this.eat(')');
    const lower = name.toLowerCase();
    const arity = (n: number) => {
      if (args.length !== n) throw this.err(`${name}() takes ${n} argument(s), got ${args.length}`);
    };
    if (STATUS_FUNCTIONS.includes(lower)) {
      if (!this.scope.status) throw this.err(`${name}() is only allowed in if:`);
      arity(0);
      const s = this.scope.status;
      return lower === 'always' ? true : lower === 'success' ? s === 'success' : lower === 'failure' ? s === 'failure' : s === 'cancelled';
    }
    switch (lower) {
      case 'contains': {
        arity(2);
        const [hay, needle] = args as [Value, Value];
        if (Array.isArray(hay)) return hay.some((x) => looseEquals(x, needle));
        return toText(hay).toLowerCase().includes(toText(needle).toLowerCase());
      }
      case 'startswith':
        arity(2);
        return toText(args[0]!).toLowerCase().startsWith(toText(args[1]!).toLowerCase());
      case 'endswith':
        arity(2);
        return toText(args[0]!).toLowerCase().endsWith(toText(args[1]!).toLowerCase());
      case 'format': {
        if (!args.length) throw this.err('format() needs a format string');
        const [fmt, ...rest] = args;
        return toText(fmt!).replace(/\{(\d+)\}/g, (_, n: string) => {
          if (Number(n) >= rest.length) throw this.err(`format(): no argument {${n}}`);
          return toText(rest[Number(n)]!);
        });
      }
      case 'tojson':
        arity(1);
        return JSON.stringify(args[0], null, 2);
      case 'fromjson':
        arity(1);
        try {
          return JSON.parse(toText(args[0]!)) as Value;
        } catch (e) {
          throw this.err(`fromJSON(): ${(e as Error).message}`);
        }
      default:
        throw this.err(`unknown function '${name}'`);
    }
  }
}

/** Evaluates the inside of one `${{ … }}`. */
export function evaluate(expr: string, scope: ExprScope): Value {
  return new Parser(expr, scope).parse();
}

const TEMPLATE = /\$\{\{([\s\S]*?)\}\}/g;

/** A value with `${{ }}` parts: a lone expression keeps its type, anything else becomes a string. */
export function interpolate(template: string, scope: ExprScope): Value {
  const lone = /^\s*\$\{\{([\s\S]*?)\}\}\s*$/.exec(template);
  if (lone && !lone[1]!.includes('}}')) return evaluate(lone[1]!, scope);
  return template.replace(TEMPLATE, (_, e: string) => toText(evaluate(e, scope)));
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

function callInputs(doc: Obj): { inputs: Obj; secrets: Obj } {
  const on = doc.on ?? doc.true ?? {};
  const call = on.workflow_call ?? {};
  const dispatch = on.workflow_dispatch ?? {};
  return { inputs: { ...(dispatch.inputs ?? {}), ...(call.inputs ?? {}) }, secrets: call.secrets ?? {} };
}

function inputsContext(declared: Obj, given: Record<string, string | number | boolean>): Record<string, Value> {
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
  const doc = YAML.parse(readFileSync(file, 'utf8')) as Obj;
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
    } else if (typeof def.uses === 'string' && selfAction(def.uses)) {
      const action = selfAction(def.uses)!;
      rec.action = action;
      const meta = actionMeta(action);
      const given = post ? post.with : textMap(def.with, scope(baseEnv), `${where}.with`);
      for (const k of Object.keys(given)) if (!(k in meta.inputs)) throw new Error(`${where}.with.${k}: ${action} has no input '${k}'`);
      rec.with = given;
      const bundle = join(repoRoot, 'dist', action === '.' ? 'release' : action, 'index.js');
      if (!existsSync(bundle)) throw new Error(`${where}: ${bundle} does not exist: build it (node scripts/build.ts ${action === '.' ? 'release' : action})`);
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
      throw new Error(`${where}: uses ${def.uses} is not emulated (only actions/checkout and ${SELF}/<action>)`);
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
