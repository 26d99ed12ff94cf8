/**
 * The download every job that uses a Slipway action pays: the runner fetches the whole repository at
 * the pinned ref, i.e. `git archive HEAD | gzip -9 | wc -c`. Fails above the goal (2.5 MB).
 *   node scripts/download-size.ts            HEAD as committed
 *   node scripts/download-size.ts --dist     HEAD with dist/ as built in the working tree (before it is committed)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const DOWNLOAD_GOAL_BYTES = 2_500_000;
const root = new URL('..', import.meta.url).pathname;

function git(args: string[], env: NodeJS.ProcessEnv = process.env, input?: Buffer): Buffer {
  const r = spawnSync('git', args, { cwd: root, env, input, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${r.stderr.toString().trim()}`);
  return r.stdout;
}

/** gzip -9 size of `git archive` of a tree-ish. */
function archiveGzipBytes(treeish: string): number {
  const tar = git(['archive', treeish]);
  const gz = spawnSync('gzip', ['-9'], { input: tar, maxBuffer: 1 << 30 });
  if (gz.status !== 0) throw new Error(`gzip -9 failed: ${gz.stderr.toString().trim()}`);
  return gz.stdout.length;
}

/** Whether dist/ in the working tree differs from HEAD's (tracked changes or new files). */
export function distDiffersFromHead(): boolean {
  return git(['status', '--porcelain', '--untracked-files=all', '--', 'dist']).toString().trim() !== '';
}

/**
 * Bytes of the download: HEAD, or (withWorkTreeDist) HEAD's tree with dist/ replaced by the working
 * tree's dist/, written through a temporary index so nobody's staging area is touched.
 */
export function downloadBytes(withWorkTreeDist = false): { bytes: number; what: string } {
  if (!withWorkTreeDist || !distDiffersFromHead()) return { bytes: archiveGzipBytes('HEAD'), what: 'git archive HEAD | gzip -9' };
  const tmp = mkdtempSync(join(tmpdir(), 'slipway-size-'));
  try {
    const env = { ...process.env, GIT_INDEX_FILE: join(tmp, 'index') };
    git(['read-tree', 'HEAD'], env);
    git(['rm', '-r', '-q', '--cached', '--ignore-unmatch', 'dist'], env);
    git(['add', '-f', 'dist'], env);
    const tree = git(['write-tree'], env).toString().trim();
    return { bytes: archiveGzipBytes(tree), what: 'git archive of HEAD with the working tree\'s dist/ | gzip -9' };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { bytes, what } = downloadBytes(process.argv.includes('--dist'));
  const ok = bytes <= DOWNLOAD_GOAL_BYTES;
  console.log(`download: ${bytes} bytes (${(bytes / 1e6).toFixed(2)} MB; ${what}); goal ≤ ${DOWNLOAD_GOAL_BYTES} bytes: ${ok ? 'met' : 'NOT met'}`);
  if (!ok) process.exit(1);
}
