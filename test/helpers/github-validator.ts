/**
 * GitHub's own validator (`@actions/languageservice`, the code behind GitHub's editor support for
 * workflows) over this repository: every action.yml, workflow, starter template and YAML example in
 * README and docs. Slipway's own actions and reusable workflows (`slipway-org/slipway/...@v1`, or
 * `./...`) resolve to this checkout; pinned third-party actions resolve to their recorded
 * action.yml in test/fixtures/third-party-actions (no network here), so an unknown or misspelled
 * input is reported exactly as GitHub would.
 *
 * The packages import JSON without import attributes, so they load through vitest (vite), not
 * plain node.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { validate, type ActionsMetadataProvider } from '@actions/languageservice';
import type { FileProvider } from '@actions/workflow-parser/workflows/file-provider';
import { TextDocument } from 'vscode-languageserver-textdocument';
import YAML from 'yaml';
import { SELF } from './workflow-contract.ts';

export interface Finding { file: string; line: number; severity: 'error' | 'warning' | 'info' | 'hint'; message: string }

const SEVERITY = { 1: 'error', 2: 'warning', 3: 'info', 4: 'hint' } as const;
const FIXTURES = new URL('../fixtures/third-party-actions/', import.meta.url).pathname;

function metadataProvider(root: string): ActionsMetadataProvider {
  return {
    async fetchActionMetadata(ref) {
      let file: string | undefined;
      if (`${ref.owner}/${ref.name}` === SELF) file = join(root, ref.path ?? '', 'action.yml');
      else file = join(FIXTURES, `${ref.owner}__${ref.name}${ref.path ? `__${ref.path.replaceAll('/', '__')}` : ''}@${ref.ref}.yml`);
      if (!existsSync(file)) return undefined;
      const doc = YAML.parse(readFileSync(file, 'utf8')) as { name: string; description: string; inputs?: Record<string, { description: string; required?: boolean; default?: unknown }>; outputs?: Record<string, { description: string }> };
      // The metadata provider's contract is strings (GitHub reads the defaults as strings too).
      const inputs = Object.fromEntries(Object.entries(doc.inputs ?? {}).map(([k, v]) => [k, { ...v, default: v.default === undefined ? undefined : String(v.default) }]));
      return { name: doc.name, description: doc.description, inputs, outputs: doc.outputs };
    },
  };
}

function fileProvider(root: string): FileProvider {
  return {
    async getFileContent(ref) {
      const remote = 'repository' in ref;
      if (remote && `${ref.owner}/${ref.repository}` !== SELF) throw new Error(`not recorded: ${ref.owner}/${ref.repository}/${ref.path}`);
      const path = join(root, ref.path.replace(/^\.\//, ''));
      return { name: ref.path, content: readFileSync(path, 'utf8') };
    },
  };
}

/** Validates one document (an action.yml when `uri` ends in action.yml, otherwise a workflow). */
let documents = 0;
export async function validateText(root: string, uri: string, text: string, lineOffset = 0): Promise<Finding[]> {
  // The language service caches parsed documents by URI: every text gets a URI of its own.
  const doc = TextDocument.create(`file:///validate-${++documents}/${uri}`, 'yaml', 1, text);
  const diags = await validate(doc, { actionsMetadataProvider: metadataProvider(root), fileProvider: fileProvider(root) });
  return diags.map((d) => ({
    file: uri,
    line: d.range.start.line + 1 + lineOffset,
    severity: SEVERITY[(d.severity ?? 1) as 1 | 2 | 3 | 4],
    message: typeof d.message === 'string' ? d.message : d.message.value,
  }));
}

/** Every action.yml of this repository (the release action at the top, one per folder). */
export function actionFiles(root: string): string[] {
  const out = existsSync(join(root, 'action.yml')) ? ['action.yml'] : [];
  for (const d of readdirSync(root, { withFileTypes: true })) {
    if (d.isDirectory() && !d.name.startsWith('.') && d.name !== 'node_modules' && existsSync(join(root, d.name, 'action.yml'))) out.push(`${d.name}/action.yml`);
  }
  return out.sort();
}

export function workflowFiles(root: string): string[] {
  const out: string[] = [];
  for (const d of ['.github/workflows', 'workflows-templates', 'examples/shop/.github/workflows']) {
    if (!existsSync(join(root, d))) continue;
    for (const f of readdirSync(join(root, d)).filter((x) => /\.ya?ml$/.test(x)).sort()) out.push(`${d}/${f}`);
  }
  return out;
}

export interface Example { file: string; line: number; kind: 'workflow' | 'steps' | 'action' | 'other'; text: string }

/**
 * The ```yaml blocks of README.md and docs/*.md, classified: a whole workflow (has `jobs`), a list
 * of steps (every item has `uses` or `run`), an action (`runs`), or other YAML (slipway.yml and
 * friends, checked by the config tests). A block that is not valid YAML is an `other` with the
 * parse error kept, so the caller can report it.
 */
export function docExamples(root: string): (Example & { parseError?: string })[] {
  const files = ['README.md', ...(existsSync(join(root, 'docs')) ? readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`) : [])];
  const out: (Example & { parseError?: string })[] = [];
  for (const file of files) {
    const lines = readFileSync(join(root, file), 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (!/^\s*```ya?ml\s*$/.test(lines[i]!)) continue;
      const indent = lines[i]!.match(/^\s*/)![0].length;
      const start = i + 1;
      let end = start;
      while (end < lines.length && !/^\s*```\s*$/.test(lines[end]!)) end++;
      const text = lines.slice(start, end).map((l) => l.slice(indent)).join('\n');
      i = end;
      let doc: unknown;
      try {
        doc = YAML.parse(text);
      } catch (e) {
        out.push({ file, line: start + 1, kind: 'other', text, parseError: (e as Error).message.split('\n')[0] });
        continue;
      }
      const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
      let kind: Example['kind'] = 'other';
      if (isObj(doc) && 'jobs' in doc) kind = 'workflow';
      else if (isObj(doc) && 'runs' in doc) kind = 'action';
      else if (Array.isArray(doc) && doc.length > 0 && doc.every((s) => isObj(s) && ('uses' in s || 'run' in s))) kind = 'steps';
      out.push({ file, line: start + 1, kind, text });
    }
  }
  return out;
}

/**
 * A list of steps as a workflow GitHub would accept, so the steps can be validated in place. A
 * snippet's `needs.JOB.outputs.NAME` are the context of the job it belongs to: the wrapper declares
 * those jobs with those outputs (and nothing else, so any other reference is still reported).
 */
export function wrapSteps(text: string): { text: string; lineOffset: number } {
  const needs = new Map<string, Set<string>>();
  for (const m of text.matchAll(/needs\.([A-Za-z_][\w-]*)\.outputs\.([A-Za-z_][\w-]*)/g)) {
    if (!needs.has(m[1]!)) needs.set(m[1]!, new Set());
    needs.get(m[1]!)!.add(m[2]!);
  }
  const jobs = [...needs].map(([job, outs]) => `  ${job}:\n    runs-on: ubuntu-latest\n    outputs:\n${[...outs].map((o) => `      ${o}: \${{ steps.s.outputs.${o} }}\n`).join('')}    steps:\n      - id: s\n        run: echo\n`).join('');
  const head = `on: push\npermissions: {}\njobs:\n${jobs}  example:\n    runs-on: ubuntu-latest\n${needs.size ? `    needs: [${[...needs.keys()].join(', ')}]\n` : ''}    steps:\n`;
  return { text: head + text.split('\n').map((l) => (l ? `      ${l}` : l)).join('\n'), lineOffset: -head.split('\n').length + 1 };
}

/** Every finding of GitHub's validator over the repository (errors and warnings; infos dropped). */
export async function validateRepository(root: string): Promise<{ findings: Finding[]; checked: string[] }> {
  const findings: Finding[] = [];
  const checked: string[] = [];
  for (const f of [...actionFiles(root), ...workflowFiles(root)]) {
    checked.push(f);
    findings.push(...(await validateText(root, f, readFileSync(join(root, f), 'utf8'))));
  }
  for (const ex of docExamples(root)) {
    const where = `${ex.file}:${ex.line}`;
    if (ex.parseError) {
      findings.push({ file: ex.file, line: ex.line, severity: 'error', message: `example is not valid YAML: ${ex.parseError}` });
      continue;
    }
    if (ex.kind === 'other') continue;
    checked.push(`${where} (${ex.kind})`);
    if (ex.kind === 'steps') {
      const w = wrapSteps(ex.text);
      const found = await validateText(root, `${ex.file}.example.yml`, w.text, ex.line - 1 + w.lineOffset);
      findings.push(...found.map((x) => ({ ...x, file: ex.file })));
    } else {
      const uri = ex.kind === 'action' ? `${ex.file}.example/action.yml` : `${ex.file}.example.yml`;
      const found = await validateText(root, uri, ex.text, ex.line - 1);
      findings.push(...found.map((x) => ({ ...x, file: ex.file })));
    }
  }
  return { findings: findings.filter((f) => f.severity === 'error' || f.severity === 'warning'), checked };
}
