/** The actions the CLI can run: each action's own spec and run function (no copies). */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ActionSpec } from '../manifest/fields.ts';
import type { ActionContext, ActionResult } from '../runner/context.ts';

export interface CliAction {
  spec: ActionSpec;
  run: (inputs: any, ctx: ActionContext) => Promise<ActionResult>;
}

const actionsDir = new URL('../actions/', import.meta.url).pathname;

export function actionNames(): string[] {
  return readdirSync(actionsDir)
    .filter((n) => existsSync(join(actionsDir, n, 'run.ts')))
    .sort();
}

export async function loadAction(name: string): Promise<CliAction | undefined> {
  if (!actionNames().includes(name)) return undefined;
  const [{ spec }, { run }] = await Promise.all([
    import(join(actionsDir, name, 'inputs.ts')) as Promise<{ spec: ActionSpec }>,
    import(join(actionsDir, name, 'run.ts')) as Promise<{ run: CliAction['run'] }>,
  ]);
  return { spec, run };
}
