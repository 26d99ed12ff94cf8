/** Every action.yml declares exactly the inputs and outputs of its spec (names, required, defaults). */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { compareManifest, type Manifest } from '../../../src/manifest/action-manifest.ts';
import { TOP_LEVEL_ACTION, loadSpecs, root } from '../../../scripts/actions.ts';
import { f } from '../../../src/manifest/fields.ts';

const specs = await loadSpecs();
const read = (p: string) => YAML.parse(readFileSync(join(root, p), 'utf8')) as Manifest;

describe('action.yml matches the spec', () => {
  it('has at least the smoke-test action', () => expect(specs.map((s) => s.name)).toContain('smoke-test'));
  it.each(specs.map((s) => [s.name, s] as const))('%s', (name, spec) => {
    expect(existsSync(join(root, name, 'action.yml'))).toBe(true);
    const m = read(`${name}/action.yml`);
    expect(compareManifest(spec, m)).toEqual([]);
    expect(m.runs?.main).toBe(`../dist/${name}/index.js`);
    if (spec.post) expect(m.runs?.post).toBe(`../dist/${name}/index.js`);
  });
  it('the top-level action.yml runs the top-level action', () => {
    const spec = specs.find((s) => s.name === TOP_LEVEL_ACTION)!;
    const m = read('action.yml');
    expect(compareManifest(spec, m)).toEqual([]);
    expect(m.runs?.main).toBe(`dist/${TOP_LEVEL_ACTION}/index.js`);
  });
  it('catches an input added in one place only', () => {
    const spec = specs.find((s) => s.name === 'smoke-test')!;
    const m = read('smoke-test/action.yml');
    const extended = { ...spec, inputs: { ...spec.inputs, 'new-input': f.string({ description: 'x', default: 'y' }) } };
    expect(compareManifest(extended, m)).toEqual(["input 'new-input' is in the spec but not in action.yml"]);
    const yml = { ...m, inputs: { ...m.inputs, stray: { description: 's' } }, outputs: { ...m.outputs, extra: { description: 'e' } } };
    expect(compareManifest(spec, yml)).toEqual(["input 'stray' is in action.yml but not in the spec", "output 'extra' is in action.yml but not in the spec"]);
    const changed = { ...m, inputs: { ...m.inputs, timeout: { description: 't', required: true, default: '5s' } } };
    expect(compareManifest(spec, changed)).toEqual([
      "input 'timeout': required is true in action.yml, false in the spec",
      `input 'timeout': default is "5s" in action.yml, "10s" in the spec`,
    ]);
  });
});
