/**
 * slipway.yml: one file for the pipeline. Each environment's sections are the inputs of an action
 * (migrate, deploy → deploy-rolling, smoke → smoke-test, gate → slo-gate, notify), checked with that
 * action's own input spec. `${{ secrets.NAME }}` values are resolved from the environment when used,
 * never stored; a literal secret is refused. Errors point at the line, column and key.
 */
import { readFileSync, statSync } from 'node:fs';
import * as YAML from 'yaml';
import { LineCounter, isMap, isScalar, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import type { ActionSpec, InputSpec } from '../manifest/fields.ts';
import { duplicateKey, parseInputs, formatPath } from '../manifest/fields.ts';
import { UserError, errorMessage } from '../lib/errors.ts';
import { urlHasCredential, urlsIn } from '../lib/secrets.ts';
import { suggest } from '../lib/suggest.ts';
import { windowSchema, type DeployWindow } from '../policy/deploy-window.ts';

import { SECTIONS, type SectionName } from './stages.ts';

/** Section name in slipway.yml → the action whose inputs it holds (src/config/stages.ts). */
export { SECTIONS, type SectionName };

const anyMap = z.record(z.string(), z.unknown());
export const environmentSchema = z.strictObject({
  url: z.string().url().optional(),
  'database-url': z.string().optional(),
  migrate: anyMap.optional(),
  deploy: anyMap.optional(),
  smoke: anyMap.optional(),
  gate: anyMap.optional(),
  notify: anyMap.optional(),
  /** The flags action's inputs; `release` lists the flags this release turns on (the kill switch turns them off). */
  flags: anyMap.optional(),
  window: windowSchema.optional(),
});

export const configSchema = z.strictObject({
  version: z.literal(1),
  app: z.strictObject({ name: z.string().min(1), image: z.string().optional() }).optional(),
  build: anyMap.optional(),
  environments: z
    .record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'expected an environment name like staging or production'), environmentSchema)
    .refine((e) => Object.keys(e).length > 0, 'expected at least one environment'),
});

export type SlipwayConfig = z.output<typeof configSchema>;

export interface LoadedConfig {
  path: string;
  config: SlipwayConfig;
  /** Raw input strings per environment and action (secrets still as references). */
  inputs(environment: string, action: string): Record<string, string>;
  window(environment: string): DeployWindow | undefined;
  environments(): string[];
  /** Line and column of a key path in the file (for problems found after loading). */
  at(path: (string | number)[]): { line?: number; col?: number };
  /** Loaded with { collect: true }: the problems found (otherwise they are thrown). */
  problems: ConfigError[];
}

export interface LoadOptions {
  /** Return the problems with the file (on LoadedConfig.problems) instead of throwing them; YAML syntax errors still throw. */
  collect?: boolean;
}

export const SECRET_REF = /^\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$/;

/** The largest slipway.yml read (bytes). Parsing is linear; the cap bounds its time and memory. */
export const MAX_CONFIG_BYTES = 1 << 20;

/** The most problems one load reports (each is located in the file; the rest are counted). */
export const MAX_PROBLEMS = 100;

/** Whether a value holds a URL with a credential in it (user part, password, a token in its query). */
function literalCredential(text: string): boolean {
  return urlsIn(text).some(urlHasCredential);
}

export class ConfigError extends UserError {
  readonly file: string;
  readonly line?: number;
  readonly col?: number;
  readonly key: string;
  readonly detail: string;
  constructor(file: string, line: number | undefined, col: number | undefined, key: string, message: string) {
    super(`${file}${line ? `:${line}:${col ?? 1}` : ''}: ${key ? `${key}: ` : ''}${message}`);
    this.name = 'ConfigError';
    this.file = file;
    this.line = line;
    this.col = line ? (col ?? 1) : undefined;
    this.key = key;
    this.detail = message;
  }
}

/** Several problems in one file, each with its line and key: `slipway validate` lists them all. */
export class ConfigProblems extends UserError {
  readonly problems: ConfigError[];
  constructor(problems: ConfigError[]) {
    super(problems.map((p) => p.message).join('\n'));
    this.name = 'ConfigProblems';
    this.problems = problems;
  }
}

/** Throws nothing for no problems, the problem itself for one, ConfigProblems for more. */
export function throwProblems(problems: ConfigError[]): void {
  if (problems.length === 1) throw problems[0]!;
  if (problems.length > 1) throw new ConfigProblems(problems);
}

const NOUNS: Record<string, string> = {
  array: 'a list',
  string: 'text',
  object: 'a map',
  record: 'a map',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  null: 'nothing',
  undefined: 'nothing',
  nan: 'not a number',
};
const noun = (t: string) => NOUNS[t] ?? t;

/**
 * A schema library's wording (`(top): Invalid input: expected array, received string`) in
 * Slipway's: `got text; expected a list`. Leaves any other text as it is.
 */
export function inSlipwayWords(message: string): string {
  return message
    .replace(/\(top\): /g, '')
    .replace(/Invalid input: expected (\w+), received (\w+)/g, (_, e: string, r: string) => `got ${noun(r)}; expected ${noun(e)}`)
    .replace(/Invalid option: expected one of ([^;]+)/g, (_, list: string) => `expected one of ${list.replace(/"/g, '').split('|').join(', ')}`)
    .replace(/Unrecognized keys?: ([^;]+)/g, (_, keys: string) => `unknown key ${keys}`)
    .replace(/Too small: expected (\w+) to have >=(\d+) (characters|items)/g, (_, t: string, n: string, what: string) =>
      n === '1' ? `expected ${what === 'items' ? 'at least one item' : 'a non-empty value'}` : `expected at least ${n} ${what}`,
    )
    .replace(/Too big: expected (\w+) to have <=(\d+) (characters|items)/g, (_, _t: string, n: string, what: string) => `expected at most ${n} ${what}`)
    .replace(/Invalid input: expected ([^;]+)/g, (_, e: string) => `expected ${e}`)
    .replace(/^Invalid input$/, 'not one of the accepted forms')
    .replace(/Invalid URL/g, 'not a URL');
}

/**
 * Action inputs take strings: a YAML list for a list input becomes a comma list; any other list or
 * map (argument arrays such as start-command, checks, hosts) becomes JSON, which those inputs read.
 */
export function toInputString(value: unknown, input?: InputSpec): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (input?.kind === 'list' && Array.isArray(value) && value.every((v) => (typeof v === 'string' || typeof v === 'number') && !String(v).includes(','))) {
    return value.join(',');
  }
  return JSON.stringify(value);
}

function position(doc: Document, lc: LineCounter, path: (string | number)[]): { line?: number; col?: number } {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node && node.range) {
      // For a key, point at the key: find the pair in the parent map.
      const parent = n > 0 ? (doc.getIn(path.slice(0, n - 1), true) as unknown) : undefined;
      if (n === path.length && isMap(parent)) {
        const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === path[n - 1]);
        const keyRange = pair && isScalar(pair.key) ? pair.key.range : undefined;
        if (keyRange) return lc.linePos(keyRange[0]);
      }
      return lc.linePos(node.range[0]);
    }
  }
  return {};
}

function lazyPosition(doc: Document, lc: LineCounter, path: (string | number)[]): () => { line?: number; col?: number } {
  let at: { line?: number; col?: number } | undefined;
  return () => (at ??= position(doc, lc, path));
}

export async function loadConfigText(text: string, file: string, specs: Record<string, ActionSpec>, opts: LoadOptions = {}): Promise<LoadedConfig> {
  const size = Buffer.byteLength(text, 'utf8');
  if (size > MAX_CONFIG_BYTES)
    throw new ConfigError(
      file,
      undefined,
      undefined,
      '',
      `is ${(size / (1 << 20)).toFixed(1)} MB; expected at most ${MAX_CONFIG_BYTES >> 20} MB (split it, or move long lists into the files the inputs point at)`,
    );
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true, uniqueKeys: false });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0];
    throw new ConfigError(file, pos?.line, pos?.col, '', `YAML syntax error: ${e.message.split('\n')[0]}`);
  }
  const dup = duplicateKey(YAML, doc);
  if (dup) {
    const pos = lc.linePos(dup.offset);
    throw new ConfigError(file, pos.line, pos.col, '', `YAML syntax error: map keys must be unique (${JSON.stringify(dup.key.slice(0, 80))} appears twice)`);
  }
  const raw = doc.toJS({ maxAliasCount: 100 });
  // Every problem in the file is collected and reported at once (slipway validate lists them all),
  // up to MAX_PROBLEMS: finding a problem's line walks the maps, so a hostile file with thousands of
  // bad keys must not make that quadratic.
  const problems: ConfigError[] = [];
  let dropped = 0;
  const add = (make: () => ConfigError) => {
    if (problems.length < MAX_PROBLEMS) problems.push(make());
    else dropped++;
  };
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path as (string | number)[];
      for (const key of (issue as { keys?: string[] }).keys ?? [undefined]) {
        add(() => {
          const at = position(doc, lc, key !== undefined ? [...path, key] : path);
          let message = inSlipwayWords(issue.message);
          if (key !== undefined) {
            const allowed =
              issue.path.length === 0
                ? Object.keys(configSchema.shape)
                : issue.path.length === 2 && issue.path[0] === 'environments'
                  ? Object.keys(environmentSchema.shape)
                  : [];
            const hint = suggest(key, allowed);
            message = `unknown key ${JSON.stringify(key)}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : allowed.length ? ` (expected one of ${allowed.join(', ')})` : ''}`;
          }
          return new ConfigError(file, at.line, at.col, formatPath(key !== undefined ? [...path, key] : path), message);
        });
      }
    }
  }
  const isMapValue = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  // When the file's shape is wrong, the sections that are maps are still checked, so one run reports everything.
  const config = (parsed.success ? parsed.data : { version: 1, ...(isMapValue(raw) ? raw : {}) }) as SlipwayConfig;
  const environmentsRaw: Record<string, unknown> = isMapValue(config.environments) ? config.environments : {};

  // Every section key must be an input of its action, with a value that action accepts.
  const check = async (section: Record<string, unknown>, spec: ActionSpec, path: (string | number)[]) => {
    for (const [key, value] of Object.entries(section)) {
      // Looked up only for an error: each lookup walks the maps, so doing it for every key is quadratic.
      const at = lazyPosition(doc, lc, [...path, key]);
      const where = formatPath([...path, key]);
      const input = spec.inputs[key];
      if (!input) {
        const hint = suggest(key, Object.keys(spec.inputs));
        add(() => new ConfigError(file, at().line, at().col, where, `not an input of ${spec.name}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ''}`));
        continue;
      }
      const text = toInputString(value, input);
      const ref = SECRET_REF.exec(text.trim());
      if (input.secret && !ref && text) {
        add(() => new ConfigError(file, at().line, at().col, where, 'is a secret: write ${{ secrets.NAME }} and keep the value in a secret, not in this file'));
        continue;
      }
      if (!ref && literalCredential(text)) {
        add(
          () =>
            new ConfigError(
              file,
              at().line,
              at().col,
              where,
              'contains a password or token (a credential in a URL: its user part, password or a token in its query): use ${{ secrets.NAME }} instead',
            ),
        );
        continue;
      }
      if (ref) continue;
      try {
        await parseInputs({ ...spec, inputs: { [key]: { ...input, required: false } } }, () => text);
      } catch (err) {
        add(() => new ConfigError(file, at().line, at().col, where, inSlipwayWords(errorMessage(err).replace(/^Input '[^']+': /, ''))));
      }
    }
  };
  for (const [envName, envValue] of Object.entries(environmentsRaw)) {
    if (!isMapValue(envValue)) continue;
    const env = envValue as z.output<typeof environmentSchema>;
    if (typeof env['database-url'] === 'string' && env['database-url'] && !SECRET_REF.test(env['database-url'].trim())) {
      add(() => {
        const dbAt = position(doc, lc, ['environments', envName, 'database-url']);
        return new ConfigError(file, dbAt.line, dbAt.col, `environments.${envName}.database-url`, 'is a secret: write ${{ secrets.NAME }}');
      });
    }
    if (typeof env.url === 'string' && env.url && !SECRET_REF.test(env.url.trim()) && literalCredential(env.url)) {
      add(() => {
        const urlAt = position(doc, lc, ['environments', envName, 'url']);
        return new ConfigError(
          file,
          urlAt.line,
          urlAt.col,
          `environments.${envName}.url`,
          'contains a password or token (a credential in a URL: its user part, password or a token in its query): use ${{ secrets.NAME }} instead',
        );
      });
    }
    for (const [section, action] of Object.entries(SECTIONS)) {
      const values = env[section as SectionName];
      if (!isMapValue(values)) continue;
      const spec = specs[action];
      if (!spec) continue; // checked by whoever loads with that action's spec (slipway validate loads all)
      await check(values, spec, ['environments', envName, section]);
    }
  }
  if (isMapValue(config.build) && specs['build-and-tag']) await check(config.build, specs['build-and-tag'], ['build']);
  if (dropped)
    problems.push(
      new ConfigError(file, undefined, undefined, '', `and ${dropped} more problem${dropped === 1 ? '' : 's'} (only the first ${MAX_PROBLEMS} are listed)`),
    );
  if (!opts.collect) throwProblems(problems);

  return {
    path: file,
    config,
    environments: () => Object.keys(environmentsRaw),
    window: (e) => config.environments[e]?.window,
    at: (path) => position(doc, lc, path),
    problems,
    inputs(environment, action) {
      const env = config.environments[environment];
      if (!isMapValue(env)) {
        const hint = suggest(environment, Object.keys(config.environments));
        throw new UserError(
          `${file}: no environment ${JSON.stringify(environment)}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ''}; it has ${Object.keys(config.environments).join(', ')}`,
        );
      }
      const section = action === 'build-and-tag' ? config.build : (Object.entries(SECTIONS).find(([, a]) => a === action)?.[0] as SectionName | undefined);
      const values = typeof section === 'string' ? env[section] : section;
      const out: Record<string, string> = {};
      if (action === 'smoke-test' && env.url) out.url = env.url;
      if (action === 'migrate' && env['database-url']) out['database-url'] = env['database-url'];
      if (action === 'slo-gate' && env.window) out['deploy-window'] = JSON.stringify(env.window);
      for (const [k, v] of Object.entries(values ?? {})) out[k] = toInputString(v, specs[action]?.inputs[k]);
      return out;
    },
  };
}

export async function loadConfig(path: string, specs: Record<string, ActionSpec>, opts: LoadOptions = {}): Promise<LoadedConfig> {
  let text: string;
  try {
    // Checked before reading: a huge file must not be read into memory whole.
    const size = statSync(path).size;
    if (size > MAX_CONFIG_BYTES)
      throw new ConfigError(
        path,
        undefined,
        undefined,
        '',
        `is ${(size / (1 << 20)).toFixed(1)} MB; expected at most ${MAX_CONFIG_BYTES >> 20} MB (split it, or move long lists into the files the inputs point at)`,
      );
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new UserError(`config file not found: ${path}`);
  }
  return loadConfigText(text, path, specs, opts);
}

/** Replaces `${{ secrets.NAME }}` with the environment variable NAME; fails naming the variable when unset. */
export function resolveSecrets(
  inputs: Record<string, string>,
  env: Record<string, string | undefined>,
  onSecret: (v: string) => void,
  onMissing?: (input: string, variable: string) => void,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(inputs)) {
    const ref = SECRET_REF.exec(v.trim());
    if (!ref) {
      out[k] = v;
      continue;
    }
    const value = env[ref[1]!];
    if ((value === undefined || value === '') && onMissing) {
      onMissing(k, ref[1]!);
      continue;
    }
    if (value === undefined || value === '') throw new UserError(`input '${k}' refers to secret ${ref[1]}, but the environment variable ${ref[1]} is not set`);
    onSecret(value);
    out[k] = value;
  }
  return out;
}

/**
 * The inputs an action takes from slipway.yml when a workflow step sets SLIPWAY_CONFIG and
 * SLIPWAY_ENVIRONMENT: the section's values, with secrets resolved from the environment.
 */
export async function configInputsFor(
  path: string,
  environment: string,
  spec: ActionSpec,
  env: Record<string, string | undefined>,
  onSecret: (v: string) => void,
  wanted: (name: string) => boolean = () => true,
  onMissing?: (input: string, variable: string) => void,
): Promise<Record<string, string>> {
  const config = await loadConfig(path, { [spec.name]: spec });
  const raw = config.inputs(environment, spec.name);
  // Only what the step did not already get: a secret given in `with:` needs no environment variable.
  for (const k of Object.keys(raw)) if (!wanted(k)) delete raw[k];
  // A secret this step was not given stays unset (a lint needs no database URL); the action's own
  // check names the input if this run needs it, and onMissing says which variable was missing.
  return resolveSecrets(raw, env, onSecret, onMissing);
}
