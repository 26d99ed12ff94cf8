/**
 * Builds dist/: ONE shared bundle for every action and a thin entry per action.
 *   dist/shared/index.js       the shared bundle's entry (src/actions/index.ts): start(name) loads that
 *                              action's chunk only; every dependency is in one chunk, shipped once
 *   dist/shared/*.js           chunks (content-hashed names), libpg-query.wasm, licenses.txt
 *   dist/<name>/index.js       a few lines that call start('<name>') (action.yml runs.main / post)
 *   dist/packages.json         every npm package inside the bundle: name, version, licence, and which
 *                              actions load it (read by the supply-chain test; the bundle has no maps)
 *
 *   node scripts/build.ts                  build into dist/ (built in a temp folder, then swapped in)
 *   node scripts/build.ts --check          build into a temp folder and fail when dist/ differs
 *   node scripts/build.ts --out DIR        build into DIR instead of dist/ (experiments)
 *   node scripts/build.ts --source-map     also write source maps (never commit them)
 *
 * Bundler: rolldown (Vite's bundler; ESM code splitting of dynamic imports, minifies every chunk, about
 * 2 s for the whole tree). ncc (webpack) split chunks too, but left the largest chunks (@actions/cache,
 * undici) unminified and took ~50 s per build.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { build } from 'rolldown';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const check = args.includes('--check');
const sourceMap = args.includes('--source-map');
const outArg = args.indexOf('--out');
const outDir = outArg >= 0 ? args[outArg + 1] : undefined;
if (outArg >= 0 && !outDir) throw new Error('--out needs a folder');

/** The shared bundle's folder inside dist/. */
export const SHARED = 'shared';

export function actionNames(): string[] {
  return readdirSync(join(root, 'src/actions'))
    .filter((n) => existsSync(join(root, 'src/actions', n, 'main.ts')))
    .sort();
}

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else out.push(p);
  }
  return out;
}

/** The thin entry of one action: what the runner starts for main: and post:. */
function stub(name: string): string {
  return [
    `// ${name}: the action's code is in ../${SHARED}/ (one bundle for every action). Built by scripts/build.ts.`,
    `import { start } from '../${SHARED}/index.js';`,
    `await start(${JSON.stringify(name)});`,
    '',
  ].join('\n');
}

interface Pkg { name: string; version: string; license: string; dir: string }

/** Packages kept out of the chunks and shipped beside them as one CommonJS file (see src/smoke/checks.ts). */
const REQUIRED_BESIDE = [{ name: 're2js', cjs: 'build/index.cjs', file: 're2js.cjs', requiredBy: 'src/smoke/checks.ts' }];

/** The innermost package a bundled file belongs to (node_modules/a/node_modules/b/… is b). */
function packageOf(id: string, cache: Map<string, Pkg | undefined>): Pkg | undefined {
  const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(id.split(sep).join('/'));
  if (!m) return undefined;
  const dir = m[1]!;
  if (!cache.has(dir)) {
    const file = join(dir, 'package.json');
    const pkg = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string; license?: string }) : {};
    cache.set(dir, pkg.name ? { name: pkg.name, version: pkg.version ?? '', license: pkg.license ?? '(none)', dir } : undefined);
  }
  return cache.get(dir);
}

function licenseText(dir: string): string {
  const f = readdirSync(dir).find((x) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(x));
  return f ? readFileSync(join(dir, f), 'utf8').trim() : '(the package ships no licence file; its package.json names the licence above)';
}

/** Builds the whole dist/ tree into `out` (an empty or missing folder). */
export async function buildDist(out: string, opts: { sourceMap?: boolean } = {}): Promise<void> {
  const names = actionNames();
  const entry = readFileSync(join(root, 'src/actions/index.ts'), 'utf8');
  const missing = names.filter((n) => !entry.includes(`'./${n}/main.ts'`));
  if (missing.length) throw new Error(`src/actions/index.ts does not load ${missing.join(', ')}: add them to its list`);
  const shared = join(out, SHARED);
  const result = await build({
    input: { index: join(root, 'src/actions/index.ts') },
    platform: 'node',
    // Loaded on demand with a synchronous require (src/smoke/checks.ts): shipped beside the chunks below.
    external: [...REQUIRED_BESIDE.map((r) => r.name)],
    logLevel: 'silent',
    write: true,
    output: {
      dir: shared,
      format: 'esm',
      minify: true,
      sourcemap: opts.sourceMap ?? false,
      comments: { legal: false },
      entryFileNames: '[name].js',
      chunkFileNames: '[name]-[hash].js',
    },
  });
  // Packages a chunk requires synchronously, only when needed: one minified CommonJS file each.
  for (const r of REQUIRED_BESIDE) {
    await build({ input: join(root, 'node_modules', r.name, r.cjs), platform: 'node', logLevel: 'silent', output: { file: join(shared, r.file), format: 'cjs', minify: true, comments: { legal: false } } });
  }
  // Assets some chunks need at run time (the SQL parser's WebAssembly): the actions' assets.json lists.
  for (const name of names) {
    const extra = join(root, 'src/actions', name, 'assets.json');
    if (!existsSync(extra)) continue;
    for (const rel of JSON.parse(readFileSync(extra, 'utf8')) as string[]) cpSync(join(root, rel), join(shared, rel.split('/').pop()!));
  }
  for (const name of names) {
    mkdirSync(join(out, name), { recursive: true });
    writeFileSync(join(out, name, 'index.js'), stub(name));
  }
  writeFileSync(join(out, 'package.json'), '{"type":"module"}\n');

  // Which packages each action loads: the chunks reachable from its main chunk.
  const chunks = new Map<string, { imports: string[]; dynamicImports: string[]; moduleIds: string[] }>();
  for (const c of result.output) if (c.type === 'chunk') chunks.set(c.fileName, { imports: c.imports, dynamicImports: c.dynamicImports, moduleIds: c.moduleIds });
  const index = result.output.find((c) => c.type === 'chunk' && c.fileName === 'index.js');
  if (!index || index.type !== 'chunk') throw new Error('rolldown wrote no index.js');
  const cache = new Map<string, Pkg | undefined>();
  const used = new Map<string, Pkg & { actions: Set<string> }>();
  for (const name of names) {
    // The entry imports main chunks in the order of src/actions/index.ts: find this action's by module id.
    const mainChunk = [...chunks].find(([, c]) => c.moduleIds.some((id) => id.split(sep).join('/').endsWith(`src/actions/${name}/main.ts`)));
    if (!mainChunk) throw new Error(`no chunk holds src/actions/${name}/main.ts`);
    const seen = new Set<string>();
    const walk = (f: string, lazy = true) => {
      if (seen.has(f)) return;
      seen.add(f);
      const c = chunks.get(f);
      for (const n of [...(c?.imports ?? []), ...(lazy ? (c?.dynamicImports ?? []) : [])]) walk(n);
    };
    walk('index.js', false); // the entry itself, not every action it can load
    walk(mainChunk[0]);
    for (const f of seen) {
      const ids = [...(chunks.get(f)?.moduleIds ?? [])];
      for (const r of REQUIRED_BESIDE) if (ids.some((id) => id.split(sep).join('/').endsWith(r.requiredBy))) ids.push(join(root, 'node_modules', r.name, r.cjs));
      for (const id of ids) {
        const p = packageOf(id, cache);
        if (!p) continue;
        const key = `${p.name}@${p.version}`;
        if (!used.has(key)) used.set(key, { ...p, actions: new Set() });
        used.get(key)!.actions.add(name);
      }
    }
  }
  const pkgs = [...used.values()].sort((a, b) => (a.name === b.name ? a.version.localeCompare(b.version) : a.name.localeCompare(b.name)));
  const manifest = {
    comment: 'Every npm package inside dist/ (written by scripts/build.ts): the supply-chain test checks the licences.',
    packages: pkgs.map((p) => ({ name: p.name, version: p.version, license: p.license, actions: [...p.actions].sort() })),
  };
  writeFileSync(join(out, 'packages.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  writeFileSync(join(shared, 'licenses.txt'), pkgs.map((p) => `${p.name}\n${p.license}\n${licenseText(p.dir)}`).join('\n\n') + '\n');
}

/** Builds in a temp folder next to the target, then swaps it in: a failed build never leaves dist/ half written. */
async function buildInto(target: string) {
  mkdirSync(dirname(target), { recursive: true });
  const tmp = mkdtempSync(join(dirname(target), '.slipway-build-'));
  try {
    await buildDist(join(tmp, 'out'), { sourceMap });
    const old = join(tmp, 'old');
    if (existsSync(target)) renameSync(target, old);
    renameSync(join(tmp, 'out'), target);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const positional = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--out');
if (positional.length) console.log(`note: every action is built together now (one shared bundle); ignoring ${positional.join(' ')}`);

if (check) {
  const tmp = mkdtempSync(join(tmpdir(), 'slipway-dist-'));
  try {
    const t = Date.now();
    await buildDist(tmp);
    const committed = join(root, 'dist');
    const a = files(tmp).map((p) => relative(tmp, p)).sort();
    const b = files(committed).map((p) => relative(committed, p)).sort();
    const stale: string[] = [];
    for (const f of a.filter((x) => !b.includes(x))) stale.push(`dist/${f} is missing`);
    for (const f of b.filter((x) => !a.includes(x))) stale.push(`dist/${f} is not produced by a fresh build`);
    for (const f of a.filter((x) => b.includes(x))) if (!readFileSync(join(tmp, f)).equals(readFileSync(join(committed, f)))) stale.push(`dist/${f} differs from a fresh build`);
    if (stale.length) {
      console.error(`check-dist: dist/ is stale. Run \`npm run build\` and commit dist/.\n  ${stale.slice(0, 30).join('\n  ')}${stale.length > 30 ? `\n  … and ${stale.length - 30} more` : ''}`);
      process.exit(1);
    }
    console.log(`check-dist: dist/ matches a fresh build (${a.length} files, ${actionNames().length} actions, ${Date.now() - t} ms)`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
} else {
  const t = Date.now();
  const target = outDir ? resolve(outDir) : join(root, 'dist');
  await buildInto(target);
  console.log(`built ${target}: one shared bundle, ${actionNames().length} actions, in ${Date.now() - t} ms${sourceMap ? ' (with source maps: do not commit them)' : ''}`);
}
