/**
 * The one entry of the shared bundle (dist/lib/index.js). Each action's thin entry
 * (dist/<name>/index.js) calls `start(name)`; only that action's code is loaded (one lazy chunk per
 * action, dependencies in chunks shared by every action that needs them).
 */
const actions: Record<string, () => Promise<unknown>> = {
  'build-and-tag': () => import('./build-and-tag/main.ts'),
  'deploy-rolling': () => import('./deploy-rolling/main.ts'),
  flags: () => import('./flags/main.ts'),
  migrate: () => import('./migrate/main.ts'),
  notify: () => import('./notify/main.ts'),
  release: () => import('./release/main.ts'),
  'slo-gate': () => import('./slo-gate/main.ts'),
  'smoke-test': () => import('./smoke-test/main.ts'),
};

export const actionNames = Object.keys(actions);

/** Loads the action's main module, which runs it (main.ts calls runAction as it is loaded). */
export async function start(name: string): Promise<void> {
  const load = actions[name];
  if (!load) throw new Error(`slipway: no action named '${name}' (known: ${actionNames.join(', ')})`);
  await load();
}
