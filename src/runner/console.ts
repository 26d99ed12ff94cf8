/** The CLI's runtime: the same contract as the GitHub runner, printed for a person (or kept for --json). */
import type { Annotation } from '../lib/report.ts';
import { redact, secretForms } from '../lib/secrets.ts';
import type { Runtime } from './runtime.ts';

const colours = { reset: '\x1b[0m', dim: '\x1b[2m', red: '\x1b[31m', yellow: '\x1b[33m', cyan: '\x1b[36m', bold: '\x1b[1m' };

export class ConsoleRuntime implements Runtime {
  readonly secrets = new Set<string>();
  readonly outputs: Record<string, string> = {};
  readonly state: Record<string, string> = {};
  summary = '';
  failure = '';
  private readonly inputs: Record<string, string>;
  private readonly write: (s: string) => void;
  private readonly colour: boolean;
  private depth = 0;
  constructor(inputs: Record<string, string>, opts: { write?: (s: string) => void; colour?: boolean; state?: Record<string, string> } = {}) {
    this.inputs = inputs;
    this.write = opts.write ?? ((s) => process.stderr.write(s));
    this.colour = opts.colour ?? Boolean(process.stderr.isTTY && !process.env.NO_COLOR);
    Object.assign(this.state, opts.state ?? {});
  }
  private c(colour: keyof typeof colours, text: string) {
    return this.colour ? `${colours[colour]}${text}${colours.reset}` : text;
  }
  private line(text: string) {
    this.write(`${'  '.repeat(this.depth)}${redact(text, this.secrets)}\n`);
  }
  private where(at?: Annotation) {
    return at?.file ? `${at.file}${at.line ? `:${at.line}` : ''}${at.col ? `:${at.col}` : ''}: ` : '';
  }
  getInput(name: string) {
    return this.inputs[name] ?? '';
  }
  setOutput(name: string, value: string) {
    this.outputs[name] = redact(value, this.secrets);
  }
  saveState(name: string, value: string) {
    this.state[name] = value;
  }
  getState(name: string) {
    return this.state[name] ?? '';
  }
  appendSummary(markdown: string) {
    this.summary += redact(markdown, this.secrets);
  }
  setFailed(message: string) {
    this.failure = redact(message, this.secrets);
    this.line(this.c('red', `✖ ${message}`));
  }
  mask(secret: string) {
    for (const v of secretForms(secret)) this.secrets.add(v);
  }
  info(message: string) {
    this.line(message);
  }
  debug(message: string) {
    if (process.env.SLIPWAY_DEBUG) this.line(this.c('dim', message));
  }
  notice(message: string, at?: Annotation) {
    this.line(this.c('cyan', `${this.where(at)}${message}`));
  }
  warning(message: string, at?: Annotation) {
    this.line(this.c('yellow', `warning: ${this.where(at)}${message}`));
  }
  error(message: string, at?: Annotation) {
    this.line(this.c('red', `error: ${this.where(at)}${message}`));
  }
  async group<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.line(this.c('bold', `▸ ${name}`));
    this.depth++;
    try {
      return await fn();
    } finally {
      this.depth--;
    }
  }
}
