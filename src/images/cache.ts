/**
 * The layer cache kept between runs: a local directory (buildx `type=local` cache, or buildah/podman
 * container storage) saved and restored with GitHub's cache service, keyed on the Dockerfile and the
 * lockfiles in the build context.
 *
 * @actions/cache is used here, outside src/runner: DESIGN.md keeps @actions/* in src/runner and
 * src/notify/github.ts, but the cache service has no other client. It is imported lazily (dynamic
 * import) so runs that do not cache never load it, and it is skipped when the runner gives no cache
 * service (ACTIONS_RUNTIME_TOKEN and ACTIONS_CACHE_URL / ACTIONS_RESULTS_URL absent, e.g. locally).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { errorMessage } from '../lib/errors.ts';

export const LOCKFILES = [
  'package-lock.json',
  'npm-shrinkwrap.json',
  'yarn.lock',
  'pnpm-lock.yaml',
  'bun.lockb',
  'bun.lock',
  'go.sum',
  'Cargo.lock',
  'poetry.lock',
  'Pipfile.lock',
  'uv.lock',
  'requirements.txt',
  'Gemfile.lock',
  'composer.lock',
  'mix.lock',
  'gradle.lockfile',
  'packages.lock.json',
];

export function cacheServiceAvailable(env: Readonly<Record<string, string | undefined>>): { ok: boolean; reason: string } {
  if (!env.ACTIONS_RUNTIME_TOKEN) return { ok: false, reason: 'no GitHub cache service here (ACTIONS_RUNTIME_TOKEN is not set)' };
  if (!env.ACTIONS_CACHE_URL && !env.ACTIONS_RESULTS_URL)
    return { ok: false, reason: 'no GitHub cache service here (ACTIONS_CACHE_URL / ACTIONS_RESULTS_URL not set)' };
  return { ok: true, reason: '' };
}

export interface CacheKey {
  key: string;
  restoreKeys: string[];
  /** The files hashed into the key, relative to the context. */
  files: string[];
}

/** `slipway-build-<builder>-<platforms>-<sha256 of Dockerfile + lockfiles>`, with a prefix restore key. */
export function layerCacheKey(opts: { context: string; dockerfile: string; builder: string; platforms: string[]; os?: string }): CacheKey {
  const h = createHash('sha256');
  const files: string[] = [];
  for (const f of [opts.dockerfile, ...LOCKFILES.map((l) => join(opts.context, l))]) {
    if (!existsSync(f)) continue;
    h.update(`${relative(opts.context, f)}\0`)
      .update(readFileSync(f))
      .update('\0');
    files.push(relative(opts.context, f));
  }
  const plat = (opts.platforms.length ? opts.platforms.join('+') : 'default').replace(/[^A-Za-z0-9+]/g, '_');
  const prefix = `slipway-build-${opts.os ?? process.platform}-${opts.builder}-${plat}-`;
  return { key: `${prefix}${h.digest('hex').slice(0, 32)}`, restoreKeys: [prefix], files };
}

export interface RestoreResult {
  /** exact: the key matched; partial: a restore key matched; miss; skipped: no cache service or disabled; error. */
  status: 'exact' | 'partial' | 'miss' | 'skipped' | 'error';
  matchedKey?: string;
  reason?: string;
}

type CacheModule = {
  restoreCache(paths: string[], key: string, restoreKeys?: string[]): Promise<string | undefined>;
  saveCache(paths: string[], key: string): Promise<number>;
};

let loaded: CacheModule | undefined;
async function load(): Promise<CacheModule> {
  loaded ??= (await import('@actions/cache')) as unknown as CacheModule;
  return loaded;
}

export async function restoreLayerCache(
  dir: string,
  key: CacheKey,
  env: Readonly<Record<string, string | undefined>>,
  mod?: CacheModule,
): Promise<RestoreResult> {
  const avail = cacheServiceAvailable(env);
  if (!mod && !avail.ok) return { status: 'skipped', reason: avail.reason };
  try {
    const m = mod ?? (await load());
    const hit = await m.restoreCache([dir], key.key, key.restoreKeys);
    if (!hit) return { status: 'miss' };
    return { status: hit === key.key ? 'exact' : 'partial', matchedKey: hit };
  } catch (err) {
    return { status: 'error', reason: errorMessage(err) };
  }
}

export async function saveLayerCache(
  dir: string,
  key: CacheKey,
  restored: RestoreResult,
  env: Readonly<Record<string, string | undefined>>,
  mod?: CacheModule,
): Promise<{ saved: boolean; reason: string }> {
  if (restored.status === 'exact') return { saved: false, reason: `cache ${key.key} already exists` };
  if (restored.status === 'skipped') return { saved: false, reason: restored.reason ?? 'skipped' };
  if (!existsSync(dir)) return { saved: false, reason: `${dir} does not exist` };
  try {
    const m = mod ?? (await load());
    await m.saveCache([dir], key.key);
    return { saved: true, reason: `saved as ${key.key}` };
  } catch (err) {
    // Another job saving the same key at the same time is not an error worth failing a build for.
    return { saved: false, reason: errorMessage(err) };
  }
}
