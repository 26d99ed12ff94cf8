/** Day-two commands: status, releases, rollback, lock, audit. */
import type { CliIO } from './main.ts';
import type { ParsedArgs } from './args.ts';
import { UsageError } from './args.ts';

const todo = (name: string) => async (_args: ParsedArgs, _io: CliIO): Promise<number> => {
  throw new UsageError(`${name}: not available yet`);
};
export const status = todo('status');
export const releases = todo('releases');
export const rollback = todo('rollback');
export const lock = todo('lock');
export const audit = todo('audit');
