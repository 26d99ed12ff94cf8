/**
 * Writes every action.yml from its spec and the README's input tables from the specs.
 *   node scripts/docs.ts          write
 *   node scripts/docs.ts --check  fail when a file differs from what it would write
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { inputsTable, manifestFor } from '../src/manifest/action-manifest.ts';
import { TOP_LEVEL_ACTION, loadSpecs, root } from './actions.ts';
import { configJsonSchema } from '../src/config/json-schema.ts';

const check = process.argv.includes('--check');
const problems: string[] = [];

function put(path: string, text: string) {
  const full = join(root, path);
  const old = existsSync(full) ? readFileSync(full, 'utf8') : undefined;
  if (old === text) return;
  if (check) problems.push(`${path} is out of date`);
  else {
    mkdirSync(join(full, '..'), { recursive: true });
    writeFileSync(full, text);
    console.log(`wrote ${path}`);
  }
}

const header = (src: string) => `# Generated from ${src} by \`npm run docs\`: edit the spec, not this file.\n`;
const specs = await loadSpecs();
for (const spec of specs) {
  const src = `src/actions/${spec.name}/inputs.ts`;
  put(`${spec.name}/action.yml`, header(src) + YAML.stringify(manifestFor(spec), { lineWidth: 0 }));
  if (spec.name === TOP_LEVEL_ACTION) {
    const top = manifestFor(spec, 'dist');
    if (spec.name !== 'release') top.description = `${spec.description} (Until the all-in-one release action lands, the top-level action runs smoke-test.)`;
    put('action.yml', header(src) + YAML.stringify(top, { lineWidth: 0 }));
  }
}

put('schema/slipway.schema.json', `${JSON.stringify(configJsonSchema(Object.fromEntries(specs.map((s) => [s.name, s]))), null, 2)}\n`);

// README: replace the text between <!-- inputs:NAME --> and <!-- /inputs:NAME --> with the table.
const readmePath = join(root, 'README.md');
if (existsSync(readmePath)) {
  let readme = readFileSync(readmePath, 'utf8');
  for (const spec of specs) {
    const re = new RegExp(`(<!-- inputs:${spec.name} -->\\n)[\\s\\S]*?(<!-- /inputs:${spec.name} -->)`);
    if (!re.test(readme)) {
      if (check) { problems.push(`README.md has no <!-- inputs:${spec.name} --> section`); continue; }
      const section = `## ${spec.name}\n\n${spec.description} Details: [docs/${spec.name}.md](docs/${spec.name}.md).\n\n<!-- inputs:${spec.name} -->\n<!-- /inputs:${spec.name} -->\n\n`;
      readme = readme.replace('## Development', `${section}## Development`);
    }
    readme = readme.replace(re, `$1${inputsTable(spec)}\n$2`);
  }
  put('README.md', readme);
}
if (problems.length) {
  console.error(`check-docs: ${problems.join('; ')}. Run \`npm run docs\` and commit.`);
  process.exit(1);
}
if (check) console.log(`check-docs: ${specs.length} action.yml files and the README tables are up to date`);
