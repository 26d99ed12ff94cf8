/**
 *   slipway promote --env E [--reason TEXT]   a rollout waiting at a `pause: manual` step goes on
 *   slipway abort   --env E [--reason TEXT]   it stops there and rolls back
 * The decision is written next to the deploy lock on every host (lock.ts), bound to the open
 * pause's id: with no rollout waiting, nothing is written and the command fails (exit 1).
 * One audit line per host records who decided what.
 */
import type { CliIO } from './main.ts';
import { UsageError, type ParsedArgs } from './args.ts';
import { suggest } from '../lib/suggest.ts';
import { readPause, sendSignal } from '../deploy/lock.ts';
import { openFleet, record, withFleet } from './day-two.ts';

const FLAGS = ['reason'];

async function decide(action: 'promote' | 'abort', args: ParsedArgs, io: CliIO): Promise<number> {
  if (args.help) {
    io.stdout(
      `slipway ${action} --env NAME [--reason TEXT] [--json]\n  ${action === 'promote' ? 'A rollout waiting at a "pause: manual" step goes on to its next batch.' : 'A rollout waiting at a "pause: manual" step stops and rolls back every instance it switched.'}\n  Exit 1 when no rollout of the environment is waiting.\n`,
    );
    return 0;
  }
  for (const f of Object.keys(args.flags)) {
    if (!FLAGS.includes(f)) {
      const hint = suggest(f, FLAGS);
      throw new UsageError(`${action}: unknown flag --${f}${hint ? ` (did you mean --${hint}?)` : ''}; it takes --env NAME, --reason TEXT`);
    }
  }
  if (args.positional.length) throw new UsageError(`${action}: unexpected argument ${JSON.stringify(args.positional[0])}; it takes --env NAME [--reason TEXT]`);
  return withFleet(await openFleet(args, io, action), async (f) => {
    const signal = AbortSignal.timeout(120_000);
    const pause = await readPause(f.ssh!, f.hosts, signal);
    if (!pause) {
      io.stderr(
        `slipway: ${action}: no rollout of ${f.env} is waiting at a "pause: manual" step; nothing was changed (slipway status --env ${f.env} shows what runs)\n`,
      );
      return 1;
    }
    if (Date.parse(pause.deadline) < Date.now()) {
      io.stderr(
        `slipway: ${action}: the pause of ${f.env} (rollout of ${pause.version}, after batch ${pause.batch}) passed its deadline ${pause.deadline}; the rollout aborts by itself; nothing was changed\n`,
      );
      return 1;
    }
    const at = new Date().toISOString();
    const { written, failed } = await sendSignal(f.ssh!, f.hosts, { id: pause.id, action, actor: f.actor, at, run: f.run }, signal);
    if (!written.length) {
      io.stderr(
        `slipway: ${action}: the pause of ${f.env} ended before the ${action} signal reached a host${failed.length ? ` (${failed.join('; ')})` : ''}; nothing was changed\n`,
      );
      return 1;
    }
    const reason = args.flags.reason ?? '';
    await record(f, {
      action,
      version: pause.version,
      reason: reason || `${action} after batch ${pause.batch}/${pause.totalBatches}`,
      outcome: `signal written on ${written.join(', ')}`,
    });
    if (args.json)
      io.stdout(
        `${JSON.stringify({ environment: f.env, action, version: pause.version, batch: pause.batch, totalBatches: pause.totalBatches, pausedBy: pause.actor ?? null, run: pause.runUrl ?? null, written, failed }, null, 2)}\n`,
      );
    else
      io.stdout(
        `${f.env}: ${action === 'promote' ? 'promoted' : 'aborted'} the rollout of ${pause.version} waiting after batch ${pause.batch}/${pause.totalBatches}${pause.runUrl ? ` (${pause.runUrl})` : ''}; ${action === 'promote' ? 'it goes on within a few seconds' : 'it rolls back within a few seconds'}${failed.length ? `; not written on ${failed.join('; ')}` : ''}\n`,
      );
    return 0;
  });
}

export const promote = (args: ParsedArgs, io: CliIO) => decide('promote', args, io);
export const abort = (args: ParsedArgs, io: CliIO) => decide('abort', args, io);
