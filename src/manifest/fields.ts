/**
 * Typed action inputs. Each action declares its inputs once (in src/actions/<name>/inputs.ts) with
 * these builders; action.yml, the README tables, the CLI help and slipway.yml's schema are derived
 * from that one declaration, and parseInputs turns raw strings into typed values at the edge.
 */
import { z } from 'zod';
import { InputError, UserError, errorMessage, showValue } from '../lib/errors.ts';
import { DURATION_HELP, PERCENT_HELP, parseDuration, parsePercent } from '../lib/duration.ts';

export interface InputSpec<T = unknown> {
  description: string;
  required?: boolean;
  /** The default as action.yml writes it (a string). */
  default?: string;
  /** Masked as soon as it is read and never echoed in errors. */
  secret?: boolean;
  /** What a valid value looks like, for error messages and help. */
  expected: string;
  /** `yaml`: the raw string is parsed as YAML/JSON first, then checked by schema. */
  format?: 'text' | 'yaml';
  /** The value's shape in slipway.yml (for its JSON Schema and the CLI help). */
  kind?: 'string' | 'boolean' | 'integer' | 'number' | 'duration' | 'percent' | 'url' | 'list' | 'yaml' | 'enum';
  /** Allowed values of an enum input. */
  values?: readonly string[];
  schema: z.ZodType<T>;
}

/**
 * What an output's text is: checked when the action writes it (a mismatch is a bug, reported as a
 * warning) and used by the wiring check, which feeds the examples to every input that reads the
 * output in a workflow (`with: x: ${{ steps.a.outputs.y }}`) and fails when that input's parser
 * refuses them.
 */
export interface OutputShape {
  kind: 'text' | 'json' | 'enum' | 'boolean' | 'integer' | 'number' | 'timestamp';
  /** For humans: "a JSON list of lint findings". */
  expected: string;
  /** Checks the text (kind json: the parsed JSON). */
  schema: z.ZodType;
  /** Realistic values the action writes; each passes `schema`. */
  examples: readonly string[];
}

export interface OutputSpec {
  description: string;
  shape?: OutputShape;
}

/** Builders for outputs with a declared shape. */
export const out = {
  text(description: string, examples: readonly string[], pattern?: RegExp, expected = pattern ? `text matching ${pattern}` : 'text'): OutputSpec {
    return { description, shape: { kind: 'text', expected, schema: pattern ? z.string().regex(pattern) : z.string(), examples } };
  },
  json(description: string, expected: string, schema: z.ZodType, examples: readonly string[]): OutputSpec {
    return { description, shape: { kind: 'json', expected, schema, examples } };
  },
  enum(description: string, values: readonly string[]): OutputSpec {
    return { description, shape: { kind: 'enum', expected: `one of ${values.join(', ')}`, schema: z.enum(values as [string, ...string[]]), examples: values } };
  },
  boolean(description: string): OutputSpec {
    return { description, shape: { kind: 'boolean', expected: "'true' or 'false'", schema: z.enum(['true', 'false']), examples: ['true', 'false'] } };
  },
  integer(description: string, examples: readonly string[] = ['0', '3']): OutputSpec {
    return { description, shape: { kind: 'integer', expected: 'an integer', schema: z.string().regex(/^-?\d+$/), examples } };
  },
  number(description: string, examples: readonly string[]): OutputSpec {
    return { description, shape: { kind: 'number', expected: 'a number', schema: z.string().regex(/^-?\d+(\.\d+)?(e-?\d+)?$/), examples } };
  },
  timestamp(description: string): OutputSpec {
    return {
      description,
      shape: {
        kind: 'timestamp',
        expected: 'an ISO 8601 time',
        schema: z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/),
        examples: ['2026-12-06T18:00:00.000Z'],
      },
    };
  },
};

/** Why an output's text does not fit its declared shape (undefined when it fits or has no shape). */
export function outputShapeProblem(o: OutputSpec, text: string): string | undefined {
  if (!o.shape) return undefined;
  let value: unknown = text;
  if (o.shape.kind === 'json') {
    try {
      value = JSON.parse(text);
    } catch {
      return `not JSON (expected ${o.shape.expected})`;
    }
  }
  const r = o.shape.schema.safeParse(value);
  return r.success ? undefined : `${zodIssues(r.error)} (expected ${o.shape.expected})`;
}

export interface ActionSpec<I extends Record<string, InputSpec<any>> = Record<string, InputSpec<any>>> {
  /** Folder name: `smoke-test`. */
  name: string;
  title: string;
  description: string;
  inputs: I;
  outputs: Record<string, OutputSpec>;
  /** Has a post: step (cleanup, rollback on cancel). */
  post?: boolean;
  branding?: { icon: string; color: string };
}

export type InputsOf<S extends ActionSpec> = { [K in keyof S['inputs']]: S['inputs'][K] extends InputSpec<infer T> ? T : never };

export function defineAction<I extends Record<string, InputSpec<any>>>(spec: ActionSpec<I>): ActionSpec<I> {
  return spec;
}

type Opts = { description: string; required?: boolean; default?: string; secret?: boolean };

function custom<T>(expected: string, parse: (s: string) => T): z.ZodType<T> {
  return z.string().transform((s, ctx) => {
    try {
      return parse(s);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: errorMessage(err) });
      return z.NEVER;
    }
  }) as unknown as z.ZodType<T>;
}

const TRUE = new Set(['true', 'True', 'TRUE']);
const FALSE = new Set(['false', 'False', 'FALSE']);

export const f = {
  string(o: Opts & { pattern?: RegExp; expected?: string; maxLength?: number }): InputSpec<string> {
    const expected = o.expected ?? (o.pattern ? `text matching ${o.pattern}` : 'text');
    return {
      ...o,
      kind: 'string',
      expected,
      schema: custom(expected, (s) => {
        if (s.length > (o.maxLength ?? 10_000)) throw new Error(`longer than ${o.maxLength ?? 10_000} characters`);
        if (o.pattern && !o.pattern.test(s)) throw new Error(`does not match ${o.pattern}`);
        return s;
      }),
    };
  },
  boolean(o: Opts): InputSpec<boolean> {
    const expected = 'true or false';
    return {
      ...o,
      kind: 'boolean',
      expected,
      schema: custom(expected, (s) => {
        if (TRUE.has(s.trim())) return true;
        if (FALSE.has(s.trim())) return false;
        throw new Error('not a boolean');
      }),
    };
  },
  integer(o: Opts & { min?: number; max?: number }): InputSpec<number> {
    const min = o.min ?? 0;
    const max = o.max ?? Number.MAX_SAFE_INTEGER;
    const expected = `a whole number from ${min} to ${max}`;
    return {
      ...o,
      kind: 'integer',
      expected,
      schema: custom(expected, (s) => {
        if (!/^-?\d+$/.test(s.trim())) throw new Error('not a whole number');
        const n = Number(s);
        if (n < min || n > max) throw new Error('out of range');
        return n;
      }),
    };
  },
  number(o: Opts & { min?: number; max?: number }): InputSpec<number> {
    const expected = `a number${o.min !== undefined ? ` ≥ ${o.min}` : ''}${o.max !== undefined ? ` ≤ ${o.max}` : ''}`;
    return {
      ...o,
      kind: 'number',
      expected,
      schema: custom(expected, (s) => {
        if (!/^-?\d+(\.\d+)?$/.test(s.trim())) throw new Error('not a number');
        const n = Number(s);
        if ((o.min !== undefined && n < o.min) || (o.max !== undefined && n > o.max)) throw new Error('out of range');
        return n;
      }),
    };
  },
  duration(o: Opts & { min?: number; max?: number; allowZero?: boolean }): InputSpec<number> {
    const expected = DURATION_HELP;
    return {
      ...o,
      kind: 'duration',
      expected,
      schema: custom(expected, (s) => {
        const ms = parseDuration(s);
        if (ms === 0 && o.allowZero === false) throw new Error('must be more than zero');
        if (o.min !== undefined && ms < o.min) throw new Error(`must be at least ${o.min}ms`);
        if (o.max !== undefined && ms > o.max) throw new Error(`must be at most ${o.max}ms`);
        return ms;
      }),
    };
  },
  percent(o: Opts): InputSpec<number> {
    return { ...o, kind: 'percent', expected: PERCENT_HELP, schema: custom(PERCENT_HELP, parsePercent) };
  },
  enum<const T extends readonly string[]>(values: T, o: Opts): InputSpec<T[number]> {
    const expected = `one of ${values.join(', ')}`;
    return {
      ...o,
      kind: 'enum',
      values,
      expected,
      schema: custom(expected, (s) => {
        if (!values.includes(s.trim())) throw new Error('unknown value');
        return s.trim() as T[number];
      }),
    };
  },
  url(o: Opts & { protocols?: string[] }): InputSpec<string> {
    const protocols = o.protocols ?? ['http:', 'https:'];
    const expected = `a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`;
    return {
      ...o,
      kind: 'url',
      expected,
      schema: custom(expected, (s) => {
        let u: URL;
        try {
          u = new URL(s.trim());
        } catch {
          throw new Error('not a URL');
        }
        if (!protocols.includes(u.protocol)) throw new Error(`unsupported scheme ${u.protocol}`);
        if (/\s/.test(s.trim())) throw new Error('contains whitespace');
        return s.trim();
      }),
    };
  },
  /** Comma- or newline-separated list; empty entries dropped. */
  list(o: Opts & { item?: RegExp; itemExpected?: string }): InputSpec<string[]> {
    const expected = `a comma- or newline-separated list${o.itemExpected ? ` of ${o.itemExpected}` : ''}`;
    return {
      ...o,
      kind: 'list',
      expected,
      schema: custom(expected, (s) => {
        const items = splitList(s);
        for (const it of items) if (o.item && !o.item.test(it)) throw new Error(`bad entry ${showValue(it)}`);
        return items;
      }),
    };
  },
  /** A YAML or JSON document checked by a zod schema; errors name the path inside it. */
  yaml<T>(schema: z.ZodType<T>, o: Opts & { expected: string }): InputSpec<T> {
    return { ...o, kind: 'yaml', format: 'yaml', schema };
  },
};

export function splitList(s: string): string[] {
  return s
    .split(/[,\n]/)
    .map((x) => x.trim())
    .filter(Boolean);
}

/** `checks[2].expect.status` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

let yamlModule: typeof import('yaml') | undefined;
/** The YAML parser, loaded on first use so actions that never see YAML do not pay for it at start-up. */
export async function loadYaml(): Promise<typeof import('yaml')> {
  yamlModule ??= await import('yaml');
  return yamlModule;
}

/** The largest YAML/JSON text parsed (bytes), in inputs and slipway.yml: parsing is linear, the cap bounds its time and memory. */
export const MAX_YAML_BYTES = 1 << 20;

/** Refuses a YAML/JSON text over MAX_YAML_BYTES, naming it, its size and the cap. */
export function checkYamlSize(text: string, what: string): void {
  const size = Buffer.byteLength(text, 'utf8');
  if (size > MAX_YAML_BYTES) throw new UserError(`${what}: is ${(size / (1 << 20)).toFixed(1)} MB of YAML/JSON; expected at most ${MAX_YAML_BYTES >> 20} MB`);
}

/**
 * The first key that repeats within one map, with its offset, or undefined. yaml's own uniqueKeys
 * check compares each key with every earlier one (quadratic: 8,000 keys took seconds); this is one
 * Set per map.
 */
export function duplicateKey(YAML: typeof import('yaml'), doc: import('yaml').Document): { key: string; offset: number } | undefined {
  let found: { key: string; offset: number } | undefined;
  YAML.visit(doc, {
    Map(_, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        const k = pair.key;
        if (!YAML.isScalar(k)) continue;
        const id = `${typeof k.value}:${String(k.value)}`;
        if (seen.has(id)) {
          found = { key: String(k.value), offset: k.range?.[0] ?? 0 };
          return YAML.visit.BREAK;
        }
        seen.add(id);
      }
      return undefined;
    },
  });
  return found;
}

/** Parses YAML (JSON is YAML) and reports syntax errors with line and column. */
export async function parseYamlText(text: string, what: string): Promise<unknown> {
  checkYamlSize(text, what);
  const YAML = await loadYaml();
  const lc = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: false, lineCounter: lc });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0];
    throw new UserError(`${what}: YAML/JSON syntax error${pos ? ` at line ${pos.line}, column ${pos.col}` : ''}: ${e.message.split('\n')[0]}`);
  }
  const dup = duplicateKey(YAML, doc);
  if (dup) {
    const pos = lc.linePos(dup.offset);
    throw new UserError(
      `${what}: YAML/JSON syntax error at line ${pos.line}, column ${pos.col}: map keys must be unique (${JSON.stringify(dup.key.slice(0, 80))} appears twice)`,
    );
  }
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // An unresolved alias (`[*nope]`) or an alias bomb: a user error like any other.
    throw new UserError(`${what}: YAML/JSON error: ${errorMessage(err).split('\n')[0]}`);
  }
}

/** Formats a zod error on a YAML input: every problem with its path. */
export function zodIssues(error: z.ZodError, max = 3): string {
  const issues = error.issues.slice(0, max).map((i) => `${formatPath(i.path) || '(top)'}: ${i.message}`);
  const more = error.issues.length > max ? ` (and ${error.issues.length - max} more)` : '';
  return issues.join('; ') + more;
}

/**
 * Reads and checks every input of an action before anything else happens.
 * getRaw returns the raw string ('' when unset); defaults come from the spec.
 * Throws InputError naming the input, the value and what was expected.
 */
export async function parseInputs<S extends ActionSpec>(
  spec: S,
  getRaw: (name: string) => string | undefined,
  onSecret?: (value: string) => void,
): Promise<InputsOf<S>> {
  const values: Record<string, unknown> = {};
  for (const [name, input] of Object.entries(spec.inputs)) {
    const raw = getRaw(name) ?? '';
    if (input.secret && raw) onSecret?.(raw);
    values[name] = await parseInput(name, input, raw);
  }
  return values as InputsOf<S>;
}

/** One input's raw string (the default when empty) as its typed value; throws like parseInputs. */
export async function parseInput(name: string, input: InputSpec, given: string): Promise<unknown> {
  let raw = given;
  if (raw.trim() === '') raw = input.default ?? '';
  if (raw.trim() === '') {
    if (input.required) throw new InputError(name, '', `${input.expected} (this input is required)`);
    return undefined;
  }
  let value: unknown = raw;
  if (input.format === 'yaml') {
    try {
      value = await parseYamlText(raw, `Input '${name}'`);
    } catch (err) {
      throw new UserError(`${errorMessage(err)}; expected ${input.expected}`);
    }
  }
  const r = input.schema.safeParse(value);
  if (!r.success) {
    if (input.format === 'yaml') throw new UserError(`Input '${name}': ${zodIssues(r.error)}; expected ${input.expected}`);
    const why = r.error.issues[0]?.message.split(' (expected ')[0]?.slice(0, 200);
    throw new InputError(name, raw, `${input.expected}${why ? ` (${why})` : ''}`, { secret: input.secret });
  }
  return r.data;
}
