/**
 * Supply chain: the lockfile pins every dependency (version + integrity), and every npm package that
 * ends up inside the dist bundle carries a permissive licence. The list of bundled packages is
 * dist/packages.json, written by scripts/build.ts from the bundler's own module list of every chunk
 * (the committed bundle has no source maps; check-dist proves the file matches a fresh build).
 * dist/shared/licenses.txt, also written by the build, must name exactly those packages, each with
 * its licence text.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { distDir, repoRoot } from '../helpers/runner.ts';

const ALLOWED = /^(MIT|ISC|Apache-2\.0|BSD-2-Clause|BSD-3-Clause|0BSD|BlueOak-1\.0\.0|\(Apache-2\.0 AND BSD-3-Clause\)|Python-2\.0|Unlicense)$/;

interface Bundled { name: string; version: string; license: string; actions: string[] }

/** The packages inside dist/ (dist/packages.json), or undefined when dist/ has not been built. */
export function bundledPackages(): Bundled[] | undefined {
  const file = join(distDir, 'packages.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { packages: Bundled[] }).packages : undefined;
}

/** Entries of dist/shared/licenses.txt ("name\nlicence\ntext", blank line between entries). */
export function listedPackages(): Map<string, string> {
  const file = join(distDir, 'shared', 'licenses.txt');
  if (!existsSync(file)) return new Map();
  const text = `\n\n${readFileSync(file, 'utf8')}`;
  return new Map([...text.matchAll(/\n\n((?:@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*)\n([A-Za-z0-9.+\-() ]{2,40})\n/g)].map((m) => [m[1]!, m[2]!]));
}

const bundled = bundledPackages();

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

  it.skipIf(!bundled)('every package inside the dist bundle has a permissive licence', () => {
    expect(bundled!.length).toBeGreaterThan(10);
    const bad = bundled!.filter((p) => !ALLOWED.test(p.license)).map((p) => `${p.name}@${p.version} (${p.license}; in ${p.actions.join(', ')})`);
    expect(bad).toEqual([]);
    // The list is the installed packages' own word: each entry matches node_modules.
    for (const p of bundled!.filter((x) => x.name === 'zod' || x.name === 'yaml')) {
      const pkg = JSON.parse(readFileSync(join(repoRoot, 'node_modules', p.name, 'package.json'), 'utf8')) as { version: string; license: string };
      expect(`${p.version} ${p.license}`, p.name).toBe(`${pkg.version} ${pkg.license}`);
    }
  });

  it.skipIf(!bundled)('each dependency ships once: one copy of zod, yaml, Octokit and the SQL parser for every action', () => {
    for (const name of ['zod', 'yaml', '@octokit/core', 'libpg-query']) expect(bundled!.filter((p) => p.name === name).length, name).toBe(1);
    const zod = bundled!.find((p) => p.name === 'zod')!;
    expect(zod.actions.length).toBeGreaterThan(1);
  });

  it.skipIf(!bundled)('licenses.txt names exactly the bundled packages, each with its licence and text', () => {
    const listed = listedPackages();
    expect([...listed.keys()].sort()).toEqual([...new Set(bundled!.map((p) => p.name))].sort());
    for (const p of bundled!) expect(listed.get(p.name), p.name).toBe(p.license);
  });
});
