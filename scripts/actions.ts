/** The list of actions and their specs, for scripts and tests. */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ActionSpec } from '../src/manifest/fields.ts';

export const root = new URL('..', import.meta.url).pathname;

export function actionNames(): string[] {
  return readdirSync(join(root, 'src/actions'))
    .filter((n) => existsSync(join(root, 'src/actions', n, 'inputs.ts')))
    .sort();
}

export async function loadSpecs(): Promise<ActionSpec[]> {
  const specs: ActionSpec[] = [];
  for (const n of actionNames()) {
    const mod = (await import(join(root, 'src/actions', n, 'inputs.ts'))) as { spec: ActionSpec };
    specs.push(mod.spec);
  }
  return specs;
}

/** The action whose bundle the top-level action.yml runs (the all-in-one release action once it exists). */
export const TOP_LEVEL_ACTION = existsSync(join(root, 'src/actions/release/inputs.ts')) ? 'release' : 'smoke-test';
