/**
 * Supply chain: the lockfile pins every dependency (version + integrity), and every npm package that
 * ends up inside a dist bundle (read from the bundles' source maps, so nothing is missed) carries a
 * permissive licence. The bundles' own licenses.txt (written by ncc) is compared with that list:
 * docs/security.md explains the gap.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers/runner.ts';

const ALLOWED = /^(MIT|ISC|Apache-2\.0|BSD-2-Clause|BSD-3-Clause|0BSD|BlueOak-1\.0\.0|\(Apache-2\.0 AND BSD-3-Clause\)|Python-2\.0|Unlicense)$/;

/** Packages whose files a bundle contains, from its source maps: name → licence (package.json). */
export function bundledPackages(action: string): Map<string, string> {
  const dir = join(repoRoot, 'dist', action);
  const out = new Map<string, string>();
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.js.map'))) {
    const map = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { sources: string[] };
    for (const s of map.sources) {
      // The innermost package (node_modules/a/node_modules/b/… is b, installed under a).
      const m = /^(?:\.\.\/)*(.*node_modules\/((?:@[^/]+\/)?[^/]+))\//.exec(s);
      if (!m || out.has(m[2]!)) continue;
      const pkg = join(repoRoot, m[1]!, 'package.json');
      const lic = existsSync(pkg) ? (JSON.parse(readFileSync(pkg, 'utf8')) as { license?: string }).license ?? '(none)' : '(not installed)';
      out.set(m[2]!, lic);
    }
  }
  return out;
}

/** Package names listed in a bundle's licenses.txt (entries are "name\nlicence\ntext"). */
export function listedPackages(action: string): Set<string> {
  const file = join(repoRoot, 'dist', action, 'licenses.txt');
  if (!existsSync(file)) return new Set();
  const text = `\n\n${readFileSync(file, 'utf8')}`;
  return new Set([...text.matchAll(/\n\n([@a-z0-9][\w@/.-]*)\n[A-Za-z0-9.+\-() ]{2,40}\n/g)].map((m) => m[1]!));
}

const actions = existsSync(join(repoRoot, 'dist')) ? readdirSync(join(repoRoot, 'dist')).filter((a) => existsSync(join(repoRoot, 'dist', a, 'index.js'))) : [];

describe('supply chain', () => {
  it('package-lock.json pins every package: lockfileVersion ≥ 3, a version and an integrity hash (or a link)', () => {
    const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { lockfileVersion: number; packages: Record<string, { version?: string; integrity?: string; link?: boolean; resolved?: string }> };
    expect(lock.lockfileVersion).toBeGreaterThanOrEqual(3);
    const entries = Object.entries(lock.packages).filter(([k]) => k !== '');
    expect(entries.length).toBeGreaterThan(50);
    const loose = entries.filter(([, p]) => !p.link && !(p.version && p.integrity && /^sha(256|384|512)-/.test(p.integrity))).map(([k]) => k);
    expect(loose).toEqual([]);
    // Fetched from the registry only (no git or tarball URLs that could change under the same version).
    const odd = entries.filter(([, p]) => p.resolved && !p.resolved.startsWith('https://registry.npmjs.org/')).map(([k, p]) => `${k}: ${p.resolved}`);
    expect(odd).toEqual([]);
  });

  it('package.json production dependencies are all in the lockfile', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
    for (const name of Object.keys(pkg.dependencies)) expect(lock.packages[`node_modules/${name}`], name).toBeDefined();
  });

  it.skipIf(actions.length === 0)('every package inside a dist bundle has a permissive licence', () => {
    const bad: string[] = [];
    for (const a of actions) for (const [name, lic] of bundledPackages(a)) if (!ALLOWED.test(lic)) bad.push(`${a}: ${name} (${lic})`);
    expect(bad).toEqual([]);
  });

  it.skipIf(actions.length === 0)('licenses.txt of each bundle lists only packages that are in it', () => {
    for (const a of actions) {
      const inside = bundledPackages(a);
      const extra = [...listedPackages(a)].filter((n) => !inside.has(n) && n !== '@vercel/ncc');
      expect(extra, a).toEqual([]);
    }
  });
});
