import { spawn } from 'node:child_process';
import { UserError } from './errors.ts';

export interface ExecOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Kill the process (SIGTERM, then SIGKILL after killGraceMs) when it runs longer. */
  timeoutMs?: number;
  killGraceMs?: number;
  input?: string;
  /**
   * More stdin, written when it resolves (after `input`), then stdin is closed; undefined or a
   * rejection closes it with nothing more. Lets a program get ready and wait for a go.
   */
  inputLater?: Promise<string | undefined>;
  signal?: AbortSignal;
  /** Called with each line of stdout/stderr as it arrives (for progress logs). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Cap on captured output per stream (the tail is kept). Default 1 MiB. */
  maxBuffer?: number;
}

export interface ExecResult {
  command: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
}

/**
 * Runs a program with an argument array. Never a shell: arguments reach the program as they are.
 * Resolves with the result whatever the exit code; use execOk to throw on failure.
 */
export function exec(file: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  if (typeof file !== 'string' || file.length === 0) throw new UserError('exec: empty program name');
  const started = performance.now();
  const max = opts.maxBuffer ?? 1 << 20;
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      shell: false,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const kill = () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), opts.killGraceMs ?? 5000);
      killTimer.unref();
    };
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          kill();
        }, opts.timeoutMs)
      : undefined;
    const onAbort = () => kill();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const collect = (stream: 'stdout' | 'stderr') => {
      let partial = '';
      return (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        if (stream === 'stdout') stdout = (stdout + text).slice(-max);
        else stderr = (stderr + text).slice(-max);
        if (opts.onLine) {
          partial += text;
          const lines = partial.split('\n');
          partial = lines.pop() ?? '';
          for (const l of lines) opts.onLine(l, stream);
        }
      };
    };
    child.stdout.on('data', collect('stdout'));
    child.stderr.on('data', collect('stderr'));
    child.stdin.on('error', () => {});
    if (opts.inputLater) {
      if (opts.input !== undefined) child.stdin.write(opts.input);
      opts.inputLater.then(
        (more) => child.stdin.end(more ?? ''),
        () => child.stdin.end(),
      );
    } else if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (err.code === 'ENOENT') reject(new UserError(`program not found: ${file} (is it installed and on PATH?)`));
      else reject(err);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({ command: [file, ...args], code, signal, stdout, stderr, durationMs: performance.now() - started, timedOut });
    });
  });
}

export class ExecError extends UserError {
  readonly result: ExecResult;
  constructor(result: ExecResult, what?: string) {
    const how = result.timedOut ? 'timed out' : result.signal ? `was killed by ${result.signal}` : `exited with code ${result.code}`;
    const tail = lastLines(result.stderr || result.stdout, 5);
    super(`${what ?? result.command[0]} ${how}${tail ? `: ${tail}` : ''}`);
    this.result = result;
  }
}

/** Like exec, but throws ExecError unless the program exits 0. */
export async function execOk(file: string, args: readonly string[], opts: ExecOptions & { what?: string } = {}): Promise<ExecResult> {
  const r = await exec(file, args, opts);
  if (r.code !== 0) throw new ExecError(r, opts.what);
  return r;
}

export function lastLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join(' | ').trim();
}

/** The function type other modules take as a dependency, so tests can pass their own. */
export type Exec = typeof exec;
