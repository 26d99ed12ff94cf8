/**
 * Bundles every action (src/actions/<name>/main.ts) with ncc into dist/<name>/.
 *   node scripts/build.ts            build all (or: node scripts/build.ts smoke-test migrate)
 *   node scripts/build.ts --check    build into a temp dir and fail when dist/ differs
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const check = args.includes('--check');
const only = args.filter((a) => !a.startsWith('--'));

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

/** Builds into a temp folder, then swaps it in: a failed build never leaves an action without its bundle. */
function bundle(name: string, outDir: string) {
  const tmp = mkdtempSync(join(tmpdir(), `slipway-build-${name}-`));
  const out = join(tmp, 'out');
  try {
    execFileSync(join(root, 'node_modules/.bin/ncc'), ['build', join(root, 'src/actions', name, 'main.ts'), '-o', out, '-m', '-s', '--license', 'licenses.txt', '-q', '--no-cache'], { stdio: 'inherit', cwd: root });
    // Assets some bundles need at run time (the SQL parser's WebAssembly) are copied by the action's own list.
    const extra = join(root, 'src/actions', name, 'assets.json');
    if (existsSync(extra)) {
      for (const rel of JSON.parse(readFileSync(extra, 'utf8')) as string[]) cpSync(join(root, rel), join(out, rel.split('/').pop()!));
    }
    rmSync(outDir, { recursive: true, force: true });
    cpSync(out, outDir, { recursive: true });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const names = only.length ? only : actionNames();
if (check) {
  const tmp = mkdtempSync(join(tmpdir(), 'slipway-dist-'));
  const stale: string[] = [];
  for (const name of names) {
    const fresh = join(tmp, name);
    bundle(name, fresh);
    const committed = join(root, 'dist', name);
    const a = files(fresh).map((p) => relative(fresh, p)).sort();
    const b = files(committed).map((p) => relative(committed, p)).sort();
    if (a.join('\n') !== b.join('\n')) stale.push(`${name}: files differ (fresh: ${a.join(', ')}; committed: ${b.join(', ')})`);
    else for (const f of a) if (!readFileSync(join(fresh, f)).equals(readFileSync(join(committed, f)))) stale.push(`dist/${name}/${f} differs from a fresh build`);
  }
  const extraDirs = existsSync(join(root, 'dist')) ? readdirSync(join(root, 'dist')).filter((d) => !names.includes(d) && !only.length) : [];
  for (const d of extraDirs) stale.push(`dist/${d} has no source in src/actions/${d}/main.ts`);
  rmSync(tmp, { recursive: true, force: true });
  if (stale.length) {
    console.error(`check-dist: dist/ is stale. Run \`npm run build\` and commit dist/.\n  ${stale.join('\n  ')}`);
    process.exit(1);
  }
  console.log(`check-dist: dist/ matches a fresh build (${names.length} actions)`);
} else {
  for (const name of names) {
    const t = Date.now();
    bundle(name, join(root, 'dist', name));
    console.log(`built dist/${name} in ${Date.now() - t} ms`);
  }
}
