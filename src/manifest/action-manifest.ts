/** action.yml is derived from an action's spec; this renders it and compares a written one with the spec. */
import type { ActionSpec } from './fields.ts';

export interface ManifestInput {
  description?: string;
  required?: boolean;
  default?: string;
}
export interface Manifest {
  name?: string;
  description?: string;
  inputs?: Record<string, ManifestInput>;
  outputs?: Record<string, { description?: string }>;
  runs?: { using?: string; main?: string; post?: string; 'post-if'?: string };
}

/**
 * GitHub's runner parses `${{` in every value of an action.yml and allows an expression only in an
 * input's `default`; anywhere else the whole action fails to load ("Unrecognized named-value") and
 * with it every job that uses it. The generator refuses to write one.
 */
export function expressionOutsideDefault(spec: ActionSpec): string[] {
  const bad: string[] = [];
  const check = (where: string, text: string | undefined) => {
    if (text?.includes('${{'))
      bad.push(`${spec.name}: ${where} contains "\${{" (GitHub allows expressions only in an input's default): ${JSON.stringify(text)}`);
  };
  check('name', spec.title);
  check('description', spec.description);
  for (const [name, i] of Object.entries(spec.inputs)) check(`input '${name}' description`, i.description);
  for (const [name, o] of Object.entries(spec.outputs)) check(`output '${name}' description`, o.description);
  return bad;
}

export function manifestFor(spec: ActionSpec, distPrefix = '../dist'): Manifest & Record<string, unknown> {
  const bad = expressionOutsideDefault(spec);
  if (bad.length) throw new Error(bad.join('\n'));
  const inputs: Record<string, ManifestInput> = {};
  for (const [name, i] of Object.entries(spec.inputs)) {
    inputs[name] = { description: i.description, required: Boolean(i.required), ...(i.default !== undefined ? { default: i.default } : {}) };
  }
  const outputs: Record<string, { description: string }> = {};
  for (const [name, o] of Object.entries(spec.outputs)) outputs[name] = { description: o.description };
  const main = `${distPrefix}/${spec.name}/index.js`;
  return {
    name: spec.title,
    description: spec.description,
    author: 'Slipway',
    ...(spec.branding ? { branding: spec.branding } : {}),
    inputs,
    outputs,
    runs: { using: 'node24', main, ...(spec.post ? { post: main, 'post-if': 'always()' } : {}) },
  };
}

/** Differences between a written action.yml and the spec, one line each (empty when they agree). */
export function compareManifest(spec: ActionSpec, m: Manifest): string[] {
  const diffs: string[] = [];
  const declared = m.inputs ?? {};
  for (const [name, i] of Object.entries(spec.inputs)) {
    const d = declared[name];
    if (!d) {
      diffs.push(`input '${name}' is in the spec but not in action.yml`);
      continue;
    }
    if (Boolean(d.required) !== Boolean(i.required))
      diffs.push(`input '${name}': required is ${Boolean(d.required)} in action.yml, ${Boolean(i.required)} in the spec`);
    const dd = d.default === undefined ? undefined : String(d.default);
    if (dd !== i.default) diffs.push(`input '${name}': default is ${JSON.stringify(dd)} in action.yml, ${JSON.stringify(i.default)} in the spec`);
  }
  for (const name of Object.keys(declared)) if (!(name in spec.inputs)) diffs.push(`input '${name}' is in action.yml but not in the spec`);
  const outs = m.outputs ?? {};
  for (const name of Object.keys(spec.outputs)) if (!(name in outs)) diffs.push(`output '${name}' is in the spec but not in action.yml`);
  for (const name of Object.keys(outs)) if (!(name in spec.outputs)) diffs.push(`output '${name}' is in action.yml but not in the spec`);
  if (m.runs?.using !== 'node24') diffs.push(`runs.using is ${JSON.stringify(m.runs?.using)}, expected node24`);
  return diffs;
}

export function inputsTable(spec: ActionSpec): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const rows = Object.entries(spec.inputs).map(
    ([n, i]) => `| \`${n}\` | ${i.required ? 'yes' : 'no'} | ${i.default !== undefined ? `\`${esc(i.default)}\`` : ''} | ${esc(i.description)} |`,
  );
  const outs = Object.entries(spec.outputs).map(([n, o]) => `| \`${n}\` | ${esc(o.description)} |`);
  return ['| Input | Required | Default | Description |', '| --- | --- | --- | --- |', ...rows, '', '| Output | Description |', '| --- | --- |', ...outs].join(
    '\n',
  );
}
