/**
 * Runs a built action bundle (dist/<name>/index.js) the way the GitHub runner does: INPUT_* variables
 * (with action.yml defaults and the runner's name mangling), GITHUB_OUTPUT/STATE/ENV/STEP_SUMMARY
 * files, RUNNER_TEMP, and workflow commands on stdout. Reads back what a user would see.
 * Every run is recorded under .tmp/runs for the suite-wide secret scan (test/helpers/secrets.ts).
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';

export const repoRoot = new URL('../..', import.meta.url).pathname;
export const node24 = join(repoRoot, 'node_modules/.bin/node');
/** The built actions: dist/, or SLIPWAY_DIST_DIR to run the tests over another build (node scripts/build.ts --out DIR). */
export const distDir = process.env.SLIPWAY_DIST_DIR || join(repoRoot, 'dist');

export interface Annotation { level: string; message: string; props: Record<string, string> }

export interface BundleRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  state: Record<string, string>;
  env: Record<string, string>;
  summary: string;
  masks: string[];
  annotations: Annotation[];
  /** The ::error:: lines, unescaped. */
  errors: string[];
  durationMs: number;
}

export interface RunOptions {
  env?: Record<string, string>;
  /** STATE_* values (for a post step). */
  state?: Record<string, string>;
  post?: boolean;
  timeoutMs?: number;
  cwd?: string;
  /** Send this signal after the given delay (cancellation tests). */
  signalAfter?: { ms: number; signal: NodeJS.Signals } | { when: (stdout: string) => boolean; signal: NodeJS.Signals };
  /** Path of the action.yml whose defaults apply; default <name>/action.yml. */
  actionYml?: string;
}

export function unescapeData(s: string): string {
  return s.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%');
}

/** The runner's order (actions/runner ActionCommand): %0D, %0A, %3A, %2C, and %25 last, so an escaped "%3A" stays "%3A". */
export function unescapeProperty(s: string): string {
  return s.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%3A/g, ':').replace(/%2C/g, ',').replace(/%25/g, '%');
}

/** Parses a file written with the heredoc file-command format (name<<delim\nvalue\ndelim). */
export function parseFileCommands(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line) continue;
    const m = /^([^<=]+)<<(.+)$/.exec(line);
    if (m) {
      const [, name, delim] = m;
      const value: string[] = [];
      i++;
      while (i < lines.length && lines[i] !== delim) value.push(lines[i++]!);
      if (i >= lines.length) throw new Error(`file command for ${name} has no closing delimiter`);
      out[name!] = value.join('\n');
    } else {
      const eq = line.indexOf('=');
      if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
    }
  }
  return out;
}

export function parseWorkflowCommands(stdout: string) {
  const masks: string[] = [];
  const annotations: Annotation[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^::([a-z-]+)( [^:]*)?::(.*)$/.exec(line);
    if (!m) continue;
    const [, cmd, rawProps, data] = m;
    const props: Record<string, string> = {};
    for (const kv of (rawProps ?? '').trim().split(',').filter(Boolean)) {
      const eq = kv.indexOf('=');
      props[kv.slice(0, eq)] = unescapeProperty(kv.slice(eq + 1));
    }
    if (cmd === 'add-mask') masks.push(unescapeData(data!));
    else if (['error', 'warning', 'notice'].includes(cmd!)) annotations.push({ level: cmd!, message: unescapeData(data!), props });
  }
  return { masks, annotations };
}

/** Defaults the runner applies: every declared input with a default gets INPUT_<NAME>. */
export function defaultsFrom(actionYmlPath: string): Record<string, string> {
  const doc = YAML.parse(readFileSync(actionYmlPath, 'utf8')) as { inputs?: Record<string, { default?: unknown }> };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc.inputs ?? {})) if (v.default !== undefined) out[k] = String(v.default);
  return out;
}

export function inputEnvName(name: string): string {
  return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`;
}

let runCounter = 0;

export async function runBundle(action: string, inputs: Record<string, string>, opts: RunOptions = {}): Promise<BundleRun> {
  const dir = mkdtempSync(join(tmpdir(), `slipway-run-${action}-`));
  const files = { GITHUB_OUTPUT: 'output', GITHUB_STATE: 'state', GITHUB_ENV: 'env', GITHUB_STEP_SUMMARY: 'summary.md', GITHUB_PATH: 'path' };
  const fileEnv: Record<string, string> = {};
  for (const [k, f] of Object.entries(files)) {
    fileEnv[k] = join(dir, f);
    writeFileSync(fileEnv[k]!, '');
  }
  mkdirSync(join(dir, 'temp'));
  const ymlPath = opts.actionYml ?? join(repoRoot, action, 'action.yml');
  const all = { ...defaultsFrom(ymlPath), ...inputs };
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    GITHUB_ACTIONS: 'true',
    CI: 'true',
    RUNNER_TEMP: join(dir, 'temp'),
    RUNNER_OS: 'Linux',
    GITHUB_WORKSPACE: opts.cwd ?? repoRoot,
    GITHUB_REPOSITORY: 'acme/shop',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
    GITHUB_REF: 'refs/heads/main',
    GITHUB_REF_NAME: 'main',
    GITHUB_RUN_ID: '4242',
    GITHUB_ACTOR: 'octocat',
    GITHUB_EVENT_NAME: 'push',
    ...fileEnv,
    ...opts.env,
  };
  for (const [k, v] of Object.entries(all)) env[inputEnvName(k)] = v;
  for (const [k, v] of Object.entries(opts.state ?? {})) env[`STATE_${k}`] = v;
  if (opts.post) env.STATE_isPost = 'true';

  const started = performance.now();
  const bundle = join(distDir, action === '.' ? 'release' : action, 'index.js');
  const child = spawn(node24, [bundle], { env, cwd: opts.cwd ?? repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let signalled = false;
  const sig = opts.signalAfter;
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (sig && 'when' in sig && !signalled && sig.when(stdout)) {
      signalled = true;
      child.kill(sig.signal);
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  if (sig && 'ms' in sig) setTimeout(() => child.kill(sig.signal), sig.ms).unref();
  const timeout = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearTimeout(timeout);
  const { masks, annotations } = parseWorkflowCommands(stdout);
  const result: BundleRun = {
    code,
    signal,
    stdout,
    stderr,
    outputs: parseFileCommands(readFileSync(fileEnv.GITHUB_OUTPUT!, 'utf8')),
    state: parseFileCommands(readFileSync(fileEnv.GITHUB_STATE!, 'utf8')),
    env: parseFileCommands(readFileSync(fileEnv.GITHUB_ENV!, 'utf8')),
    summary: readFileSync(fileEnv.GITHUB_STEP_SUMMARY!, 'utf8'),
    masks,
    annotations,
    errors: annotations.filter((a) => a.level === 'error').map((a) => a.message),
    durationMs: performance.now() - started,
  };
  record(action, result);
  // Every real run checks the action's outputs against their declared shapes (src/runner/run-action.ts
  // warns): a mismatch is a broken contract with the inputs that read them, so the test fails here.
  const shapes = annotations.filter((a) => a.level === 'warning' && /does not match its declared shape/.test(a.message));
  if (shapes.length) throw new Error(`${action}: ${shapes.map((a) => a.message).join('; ')}`);
  return result;
}

/** Keeps every run's visible text for the secret scan that ends the suite. */
function record(action: string, r: BundleRun) {
  const dir = join(repoRoot, '.tmp/runs');
  mkdirSync(dir, { recursive: true });
  const text = [r.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::')).join('\n'), r.stderr, r.summary, JSON.stringify(r.outputs), JSON.stringify(r.state)].join('\n');
  writeFileSync(join(dir, `${process.pid}-${++runCounter}-${action}.log`), text);
}

/** Registers a secret a test used; the suite's final scan checks no recorded run shows it. */
export function registerSecret(...values: string[]) {
  const dir = join(repoRoot, '.tmp');
  mkdirSync(dir, { recursive: true });
  appendFileSync(join(dir, 'secrets.txt'), values.filter((v) => v.length >= 4).map((v) => `${JSON.stringify(v)}\n`).join(''));
}

/**
 * The forms of a secret a leak may take: as given, percent-encoded (upper- and lower-case hex),
 * form-encoded, JSON-escaped, and base64 (what a Basic header or an encoder shows).
 */
export function leakForms(s: string): string[] {
  const enc = encodeURIComponent(s);
  const forms = [s, enc, enc.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()), new URLSearchParams({ x: s }).toString().slice(2), JSON.stringify(s).slice(1, -1)];
  if (s.length >= 8) forms.push(Buffer.from(s).toString('base64').replace(/=+$/, ''));
  return [...new Set(forms)];
}

/** The secrets a run shows in any of their forms (the add-mask lines themselves excepted). */
export function findLeaks(r: BundleRun, secrets: string[]): string[] {
  const text = [r.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::')).join('\n'), r.stderr, r.summary, JSON.stringify(r.outputs)].join('\n');
  return secrets.filter((s) => s.length >= 4 && leakForms(s).some((f) => text.includes(f)));
}
