/**
 * The download every job pays (the runner fetches the repository at the pinned ref): `git archive
 * HEAD | gzip -9` must stay within 2.5 MB. While dist/ in the working tree is newer than HEAD's
 * (rebuilt, not yet committed), the figure is for HEAD with that dist/ (scripts/download-size.ts).
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import YAML from 'yaml';
import { DOWNLOAD_GOAL_BYTES, downloadBytes } from '../../scripts/download-size.ts';
import { repoRoot } from '../helpers/runner.ts';

describe.skipIf(!existsSync(join(repoRoot, '.git')))('download size', () => {
  it(`git archive HEAD | gzip -9 is at most ${DOWNLOAD_GOAL_BYTES} bytes`, () => {
    const { bytes, what } = downloadBytes(true);
    expect(bytes, `${what}: ${bytes} bytes; dist/ is the usual cause (source maps, a dependency bundled twice)`).toBeLessThanOrEqual(DOWNLOAD_GOAL_BYTES);
  }, 60_000);

  it('.gitattributes keeps out of the download nothing a job runs: action.yml files, their runs entries, dist/, src/', () => {
    const ymls = spawnSync('git', ['ls-files', 'action.yml', '*/action.yml'], { cwd: repoRoot }).stdout.toString().split('\n').filter(Boolean);
    expect(ymls.length).toBeGreaterThan(5);
    const paths = [...ymls, 'dist/package.json', 'dist/shared/index.js', 'dist/shared/libpg-query.wasm', 'src/actions/index.ts', 'package.json'];
    for (const y of ymls) {
      const runs = (YAML.parse(readFileSync(join(repoRoot, y), 'utf8')) as { runs: Record<string, string> }).runs;
      for (const k of ['main', 'pre', 'post']) if (runs[k]) paths.push(relative(repoRoot, normalize(join(repoRoot, dirname(y), runs[k]))));
    }
    const out = spawnSync('git', ['check-attr', 'export-ignore', '--', ...paths], { cwd: repoRoot }).stdout.toString();
    const ignored = out.split('\n').filter((l) => /: export-ignore: set$/.test(l));
    expect(ignored).toEqual([]);
    // …while the check itself can see an ignored path (the attribute file is read at all).
    expect(spawnSync('git', ['check-attr', 'export-ignore', '--', 'test/reliability/download-size.test.ts'], { cwd: repoRoot }).stdout.toString()).toMatch(/export-ignore: set/);
  });
});
