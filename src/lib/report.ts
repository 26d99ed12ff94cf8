/** How domain code reports progress without knowing whether a GitHub runner, the CLI or a test listens. */
export interface Annotation {
  file?: string;
  line?: number;
  endLine?: number;
  col?: number;
  title?: string;
}

export interface Reporter {
  info(message: string): void;
  debug(message: string): void;
  notice(message: string, at?: Annotation): void;
  warning(message: string, at?: Annotation): void;
  error(message: string, at?: Annotation): void;
  /** Runs fn inside a collapsible log group. */
  group<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** Registers a secret: it is replaced by *** in every later log line. */
  mask(secret: string): void;
}

/** A reporter that records everything; for tests and for callers that render later. */
export class MemoryReporter implements Reporter {
  readonly lines: { level: string; message: string; at?: Annotation }[] = [];
  readonly secrets = new Set<string>();
  info(message: string) {
    this.lines.push({ level: 'info', message });
  }
  debug(message: string) {
    this.lines.push({ level: 'debug', message });
  }
  notice(message: string, at?: Annotation) {
    this.lines.push({ level: 'notice', message, at });
  }
  warning(message: string, at?: Annotation) {
    this.lines.push({ level: 'warning', message, at });
  }
  error(message: string, at?: Annotation) {
    this.lines.push({ level: 'error', message, at });
  }
  async group<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.lines.push({ level: 'group', message: name });
    return fn();
  }
  mask(secret: string) {
    if (secret) this.secrets.add(secret);
  }
  text(): string {
    return this.lines.map((l) => `${l.level}: ${l.message}`).join('\n');
  }
}
