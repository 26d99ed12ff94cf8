/** An error the user can fix (bad input, bad config, unreachable server). Reported as one line, no stack. */
export class UserError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UserError';
  }
}

/** Shows a value in an error message: quoted, control characters escaped, long values cut. */
export function showValue(value: unknown, max = 120): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  const shown = JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
  return text.length > max ? `${shown} (${text.length} characters)` : shown;
}

/** A bad input: names the input, the value given and what was expected. */
export class InputError extends UserError {
  readonly input: string;
  constructor(input: string, value: string | undefined, expected: string, opts: { secret?: boolean } = {}) {
    const given = value === undefined || value === '' ? 'nothing' : opts.secret ? '(a secret value, not shown)' : showValue(value);
    super(`Input '${input}': got ${given}; expected ${expected}`);
    this.name = 'InputError';
    this.input = input;
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
