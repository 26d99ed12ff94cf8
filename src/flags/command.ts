/**
 * Any other flag system through the user's own commands (argument arrays, never a shell). The
 * flag and the values reach the command in its environment, never in its arguments:
 * `SLIPWAY_FLAG`, `SLIPWAY_FLAG_ENVIRONMENT`, `SLIPWAY_FLAG_ENABLED` (`true`/`false`),
 * `SLIPWAY_FLAG_ROLLOUT` (0–100, empty: no gradual rollout) and the state before,
 * `SLIPWAY_FLAG_FROM_ENABLED` / `SLIPWAY_FLAG_FROM_ROLLOUT` (empty when unknown).
 * `read-command` prints the state: JSON `{"enabled": true, "rollout": 25}`, or `on`, `off`, `25%`.
 * Exit codes: 0 done; 2 the flag does not exist; 75 (EX_TEMPFAIL) try again; anything else fails.
 */
import { exec as defaultExec, lastLines, type Exec } from '../lib/exec.ts';
import { errorMessage } from '../lib/errors.ts';
import { FlagError, type FlagProvider, type FlagState } from './model.ts';

export interface CommandFlagOptions {
  command: string[];
  readCommand?: string[];
  environment: string;
  /** The environment the commands start from (the action passes the runner's). */
  env?: Readonly<Record<string, string | undefined>>;
  timeoutMs?: number;
  exec?: Exec;
  cwd?: string;
}

export const EX_NOFLAG = 2;
export const EX_TEMPFAIL = 75;

/** `on`, `off`, `25%`, `{"enabled":true,"rollout":25}` → a state. */
export function parseCommandState(text: string): FlagState | undefined {
  const t = text.trim();
  if (/^(on|true|enabled)$/i.test(t)) return { enabled: true };
  if (/^(off|false|disabled)$/i.test(t)) return { enabled: false };
  const pct = /^(\d+(?:\.\d+)?)\s*%$/.exec(t);
  if (pct && Number(pct[1]) <= 100) return { enabled: true, rollout: Number(pct[1]) };
  try {
    const j = JSON.parse(t) as { enabled?: unknown; rollout?: unknown };
    if (typeof j.enabled !== 'boolean') return undefined;
    if (j.rollout !== undefined && j.rollout !== null && (typeof j.rollout !== 'number' || j.rollout < 0 || j.rollout > 100)) return undefined;
    return { enabled: j.enabled, ...(typeof j.rollout === 'number' ? { rollout: j.rollout } : {}) };
  } catch {
    return undefined;
  }
}

export class CommandFlagProvider implements FlagProvider {
  readonly kind = 'command';
  readonly server: string;
  readonly environment: string;
  private readonly o: CommandFlagOptions;
  constructor(o: CommandFlagOptions) {
    if (!o.command.length) throw new FlagError('the command flag provider needs a command (an argument list)');
    this.o = o;
    this.environment = o.environment;
    this.server = o.command[0]!;
  }

  private async run(flag: string, argv: string[], extra: Record<string, string>, signal?: AbortSignal): Promise<string> {
    const env = { ...this.o.env, SLIPWAY_FLAG: flag, SLIPWAY_FLAG_ENVIRONMENT: this.environment, ...extra } as NodeJS.ProcessEnv;
    let r;
    try {
      r = await (this.o.exec ?? defaultExec)(argv[0]!, argv.slice(1), { env, timeoutMs: this.o.timeoutMs ?? 60_000, signal, cwd: this.o.cwd });
    } catch (err) {
      throw new FlagError(`flag '${flag}': command ${this.server} could not run: ${errorMessage(err)}`);
    }
    if (r.code === 0) return r.stdout;
    if (signal?.aborted) throw new FlagError(`flag '${flag}': command ${this.server} did not finish before the deadline`, true);
    const tail = lastLines(r.stderr || r.stdout, 3);
    if (r.code === EX_NOFLAG) throw new FlagError(`flag '${flag}' does not exist (command ${this.server} exited ${EX_NOFLAG})${tail ? `: ${tail}` : ''}`);
    const how = r.timedOut ? 'timed out' : r.signal ? `was killed by ${r.signal}` : `exited with code ${r.code}`;
    throw new FlagError(`flag '${flag}': command ${this.server} ${how}${tail ? `: ${tail}` : ''}`, r.timedOut || r.code === EX_TEMPFAIL);
  }

  async read(flag: string, signal?: AbortSignal): Promise<FlagState | undefined> {
    if (!this.o.readCommand?.length) return undefined;
    const out = await this.run(flag, this.o.readCommand, {}, signal);
    const state = parseCommandState(out);
    if (!state)
      throw new FlagError(
        `flag '${flag}': read-command ${this.o.readCommand[0]} printed ${JSON.stringify(out.trim().slice(0, 80))}; expected on, off, 25% or {"enabled": true, "rollout": 25}`,
      );
    return state;
  }

  async write(flag: string, to: FlagState, from: FlagState | undefined, signal?: AbortSignal): Promise<void> {
    await this.run(
      flag,
      this.o.command,
      {
        SLIPWAY_FLAG_ENABLED: String(to.enabled),
        SLIPWAY_FLAG_ROLLOUT: to.rollout === undefined ? '' : String(to.rollout),
        SLIPWAY_FLAG_FROM_ENABLED: from ? String(from.enabled) : '',
        SLIPWAY_FLAG_FROM_ROLLOUT: from?.rollout === undefined ? '' : String(from.rollout),
      },
      signal,
    );
  }
}
