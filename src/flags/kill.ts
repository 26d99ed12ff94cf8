/**
 * The release's kill switch, as deploy-rolling and the release action run it: slipway.yml's `flags`
 * section of an environment (the flags action's inputs, src/flags/spec.ts) lists the flags a release
 * turns on (`release`); when a deploy, a gate or a rollback fails they are switched off FIRST
 * (killSwitch in change.ts: all at once, each retried until kill-deadline), then the instances roll
 * back. A flag server that is down never stops the rollback: the flag it could not switch is named
 * loudly and the rollback goes on.
 */
import { UserError, errorMessage } from '../lib/errors.ts';
import { redactUrl } from '../lib/secrets.ts';
import { heading } from '../lib/markdown.ts';
import { parseInputs } from '../manifest/fields.ts';
import type { Reporter } from '../lib/report.ts';
import { killSwitch } from './change.ts';
import { makeFlagProvider, type ProviderDeps } from './provider.ts';
import { flagChangeLine, flagChangesTable } from './summary.ts';
import type { FlagActor, FlagChange } from './model.ts';
import { spec } from './spec.ts';

export interface ReleaseKillSwitch {
  /** The release flags it turns off. */
  readonly flags: string[];
  /** `unleash https://… (production)`: safe to print. */
  readonly where: string;
  readonly deadlineMs: number;
  /** Switches every flag off; never throws (a flag it could not switch is a change with ok: false, and an error in the log). */
  run(o: { actor: FlagActor; log: Reporter; signal?: AbortSignal; why?: string }): Promise<FlagChange[]>;
}

/**
 * The kill switch from an environment's `flags` section: `raw` holds its values as input strings
 * (secrets already resolved), `where` names the section for errors (`slipway.yml environments.production.flags`).
 * undefined when the section lists no `release` flags. A bad section fails here, before any change.
 */
export async function releaseKillSwitch(raw: Record<string, string>, where: string, d: ProviderDeps): Promise<ReleaseKillSwitch | undefined> {
  if (!raw.release?.trim()) return undefined;
  try {
    const inputs = await parseInputs(spec, (n) => raw[n], d.mask);
    const flags = [...new Set((inputs.release ?? []).map((r) => r.flag))];
    if (!flags.length) return undefined;
    const provider = makeFlagProvider(inputs, d);
    const at = `${provider.kind} ${redactUrl(provider.server).replace(/\/+$/, '')} (${provider.environment})`;
    const deadlineMs = inputs['kill-deadline'];
    return {
      flags,
      where: at,
      deadlineMs,
      run: async ({ actor, log, signal, why }) => {
        log.warning(`kill switch${why ? ` (${why})` : ''}: turning off ${flags.join(', ')} on ${at} before any instance rolls back`);
        try {
          return await killSwitch(provider, flags, { actor, log, signal, deadlineMs });
        } catch (err) {
          // killSwitch does not throw; should it, every flag is reported as not switched.
          const error = errorMessage(err);
          log.error(`KILL SWITCH FAILED on ${at}: ${error}. Turn ${flags.join(', ')} off by hand.`);
          return flags.map((flag): FlagChange => ({
            flag,
            provider: provider.kind,
            server: provider.server,
            environment: provider.environment,
            action: 'disable',
            to: { enabled: false },
            who: actor.who,
            run: actor.run,
            at: new Date().toISOString(),
            durationMs: 0,
            ok: false,
            error,
          }));
        }
      },
    };
  } catch (err) {
    throw new UserError(`${where}: ${errorMessage(err)}`);
  }
}

/** The job summary's section: the flags switched before the rollback, and loudly those that could not be. */
export function killSwitchSummary(changes: FlagChange[], when = 'before the rollback'): string {
  if (!changes.length) return '';
  const failed = changes.filter((c) => !c.ok);
  const off = changes.filter((c) => c.ok);
  const title = failed.length
    ? `KILL SWITCH FAILED: ${failed.length} of ${changes.length} flag(s) could NOT be switched off`
    : `Kill switch: ${off.length} flag(s) off ${when}`;
  const byHand = failed.length ? `\n**Turn these off by hand:** ${failed.map((c) => `\`${c.flag}\``).join(', ')}\n` : '';
  return `\n${heading(title, 3)}\n${flagChangesTable(changes)}${byHand}`;
}

/** One clause for the step's failure line: `kill switch: checkout: on 25% → off (…)`. */
export function killSwitchLine(changes: FlagChange[]): string {
  if (!changes.length) return '';
  const failed = changes.filter((c) => !c.ok);
  return failed.length
    ? `KILL SWITCH FAILED for ${failed.map((c) => c.flag).join(', ')} (turn ${failed.length === 1 ? 'it' : 'them'} off by hand): ${failed.map(flagChangeLine).join('; ')}`
    : `kill switch: ${changes.map(flagChangeLine).join('; ')}`;
}
