/**
 * One judge of slipway.yml: every example config (examples/, the YAML snippets of README.md and
 * docs/ that are whole slipway.yml files, test/fixtures) and a set of edge cases are judged the same
 * by ajv over the committed JSON Schema (what an editor shows) and by the loader (what a step does).
 * The schema is generated from the loader's zod schemas (src/config/json-schema.ts).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import YAML from 'yaml';
import { loadConfigText } from '../../../src/config/load.ts';
import { loadSpecs } from '../../../scripts/actions.ts';
import { repoRoot } from '../../helpers/runner.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const specs = Object.fromEntries((await loadSpecs()).map((s) => [s.name, s]));
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
const validate = ajv.compile(JSON.parse(readFileSync(join(repoRoot, 'schema/slipway.schema.json'), 'utf8')));

function walk(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir)) {
    if (e === 'node_modules' || e.startsWith('.')) continue;
    const p = join(dir, e);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

/** Whole slipway.yml documents: files, and ```yaml blocks that start a config (version: 1 and environments:). */
function examples(): { name: string; text: string }[] {
  const out: { name: string; text: string }[] = [];
  const files = [...walk(join(repoRoot, 'examples')), ...walk(join(repoRoot, 'test/fixtures'))].filter((f) => /\.ya?ml$/.test(f));
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    if (/^version:\s*1\s*$/m.test(text) && /^environments:/m.test(text)) out.push({ name: relative(repoRoot, f), text });
  }
  for (const f of [join(repoRoot, 'README.md'), ...walk(join(repoRoot, 'docs')).filter((x) => x.endsWith('.md'))]) {
    const md = readFileSync(f, 'utf8');
    let k = 0;
    for (const m of md.matchAll(/```ya?ml\n([\s\S]*?)```/g)) {
      k++;
      if (/^version:\s*1\s*$/m.test(m[1]!) && /^environments:/m.test(m[1]!)) out.push({ name: `${relative(repoRoot, f)} block ${k}`, text: m[1]! });
    }
  }
  return out;
}

async function judge(text: string, name: string): Promise<{ schema: string[]; loader: string[] }> {
  const doc = YAML.parse(text) as unknown;
  const schema = validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
  let loader: string[];
  try {
    loader = (await loadConfigText(text, name, specs, { collect: true })).problems.map((p) => p.message);
  } catch (err) {
    loader = [(err as Error).message];
  }
  return { schema, loader };
}

const base = (env: string) => `version: 1\napp: { name: shop }\nenvironments:\n  production:\n${env.replace(/^/gm, '    ')}\n`;

describe('slipway.yml: the JSON Schema and the loader agree', () => {
  const found = examples();

  it('finds the example configs (examples/, README and docs snippets, fixtures)', () => {
    expect(found.length).toBeGreaterThan(0);
  });

  for (const ex of found) {
    it(`${ex.name}: judged the same`, async () => {
      const { schema, loader } = await judge(ex.text, ex.name);
      expect({ schemaAccepts: schema.length === 0, loaderAccepts: loader.length === 0, schema, loader }).toMatchObject({ schemaAccepts: loader.length === 0 });
    });
  }

  const cases: [string, string, boolean][] = [
    ['a deny rule in any case (the loader ignores case; the schema used not to)', base('url: https://shop.example\nwindow: { timezone: Europe/Berlin, deny: ["Fri 15:00-24:00", SAT] }'), true],
    ['a deny rule that is not a day', base('window: { deny: ["friday 15:00-24:00"] }'), false],
    ['a literal database URL (a password in the file)', base('database-url: postgres://app:hunter2@db/shop'), false],
    ['a database URL as a secret reference', base('database-url: ${{ secrets.DATABASE_URL }}'), true],
    ['an unknown key in an environment', base('deploy-window: {}'), false],
    ['an unknown input in a section', base('smoke: { urll: https://x }'), false],
    ['no environments', 'version: 1\nenvironments: {}\n', false],
    ['version 2', 'version: 2\nenvironments: { production: {} }\n', false],
  ];
  for (const [what, text, ok] of cases) {
    it(`${what}: ${ok ? 'both accept' : 'both refuse'}`, async () => {
      const { schema, loader } = await judge(text, 'case.yml');
      expect({ schema: schema.length === 0, loader: loader.length === 0, why: [...schema, ...loader] }).toMatchObject({ schema: ok, loader: ok });
    });
  }
});
