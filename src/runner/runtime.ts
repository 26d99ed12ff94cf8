import { appendFileSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { Annotation, Reporter } from '../lib/report.ts';
import { redact, secretForms } from '../lib/secrets.ts';
import { annotationProps, command, fileCommand } from './commands.ts';

/** Where an action's effects go: the GitHub runner's files and stdout, or the CLI's terminal. */
export interface Runtime extends Reporter {
  getInput(name: string): string;
  setOutput(name: string, value: string): void;
  saveState(name: string, value: string): void;
  getState(name: string): string;
  appendSummary(markdown: string): void;
  setFailed(message: string): void;
  /** Every secret masked so far (to redact text this runtime did not print itself). */
  readonly secrets: ReadonlySet<string>;
}

abstract class BaseRuntime implements Runtime {
  readonly secrets = new Set<string>();
  protected abstract write(line: string): void;
  abstract getInput(name: string): string;
  abstract setOutput(name: string, value: string): void;
  abstract saveState(name: string, value: string): void;
  abstract getState(name: string): string;
  abstract appendSummary(markdown: string): void;
  abstract setFailed(message: string): void;
  protected abstract emit(level: 'debug' | 'notice' | 'warning' | 'error', message: string, at?: Annotation): void;
  protected abstract startGroup(name: string): void;
  protected abstract endGroup(): void;
  protected abstract announceMask(secret: string): void;

  protected clean(text: string): string {
    return redact(text, this.secrets);
  }
  mask(secret: string): void {
    for (const v of secretForms(secret)) {
      if (this.secrets.has(v)) continue;
      this.secrets.add(v);
      this.announceMask(v);
    }
  }
  /** Plain log text never starts a line with `::`: user text in a message cannot forge a workflow command. */
  info(message: string) {
    this.write(this.clean(message).replace(/^(\s*)::/gm, '$1: :'));
  }
  debug(message: string) {
    this.emit('debug', this.clean(message));
  }
  notice(message: string, at?: Annotation) {
    this.emit('notice', this.clean(message), at);
  }
  warning(message: string, at?: Annotation) {
    this.emit('warning', this.clean(message), at);
  }
  error(message: string, at?: Annotation) {
    this.emit('error', this.clean(message), at);
  }
  async group<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.startGroup(this.clean(name));
    try {
      return await fn();
    } finally {
      this.endGroup();
    }
  }
}

/** The GitHub Actions runner: INPUT_* variables, file commands, and workflow commands on stdout. */
export class GithubRuntime extends BaseRuntime {
  private readonly env: Record<string, string | undefined>;
  private readonly out: (s: string) => void;
  constructor(env: Record<string, string | undefined> = process.env, out: (s: string) => void = (s) => process.stdout.write(s)) {
    super();
    this.env = env;
    this.out = out;
  }
  protected write(line: string) {
    this.out(`${line}\n`);
  }
  /**
   * GitHub shows at most 10 error and 10 warning annotations per step and drops the rest without a
   * word. Annotations on files (lint findings) stop at 9 of a kind, which keeps a slot for the
   * step's own failure message; the rest go to the log as plain lines, and one notice says so and
   * points to the job summary, which lists them all.
   */
  static readonly ANNOTATIONS_PER_KIND = 9;
  private readonly annotated = { error: 0, warning: 0 };
  private overflowNoticed = false;
  protected emit(level: 'debug' | 'notice' | 'warning' | 'error', message: string, at?: Annotation) {
    if (at && (level === 'error' || level === 'warning')) {
      if (this.annotated[level] >= GithubRuntime.ANNOTATIONS_PER_KIND) {
        const where = at.file ? `${at.file}${at.line ? `:${at.line}` : ''}: ` : '';
        this.write(`${level}: ${where}${message}`.replace(/^(\s*)::/gm, '$1: :'));
        if (!this.overflowNoticed) {
          this.overflowNoticed = true;
          this.write(
            command(
              'notice',
              `More than ${GithubRuntime.ANNOTATIONS_PER_KIND} ${level}s: GitHub shows only 10 annotations of a kind per step, so the rest are in this step's log and all of them in the job summary.`,
              {},
            ),
          );
        }
        return;
      }
      this.annotated[level] += 1;
    }
    this.write(command(level, message, annotationProps(at)));
  }
  protected startGroup(name: string) {
    this.write(command('group', name));
  }
  protected endGroup() {
    this.write('::endgroup::');
  }
  protected announceMask(secret: string) {
    this.write(command('add-mask', secret));
  }

  getInput(name: string): string {
    return this.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '';
  }
  private fileCmd(fileVar: string, name: string, value: string, fallback: string) {
    const file = this.env[fileVar];
    if (!file) {
      this.write(command(fallback, value, { name }));
      return;
    }
    appendFileSync(file, fileCommand(name, value, `ghadelimiter_${randomUUID()}`));
  }
  setOutput(name: string, value: string) {
    this.fileCmd('GITHUB_OUTPUT', name, this.clean(value), 'set-output');
  }
  saveState(name: string, value: string) {
    this.fileCmd('GITHUB_STATE', name, value, 'save-state');
  }
  getState(name: string): string {
    return this.env[`STATE_${name}`] ?? '';
  }
  appendSummary(markdown: string) {
    const file = this.env.GITHUB_STEP_SUMMARY;
    const text = this.clean(markdown);
    if (file) appendFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
  }
  setFailed(message: string) {
    this.emit('error', this.clean(message));
  }
}

export function readTextFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
