/**
 * Command mode: the project's own migration tool (`["npx", "prisma", "migrate", "deploy"]`) run as
 * an argument array (never a shell string), with a timeout, the database URL in its environment,
 * its output streamed to the log (masked by the reporter) and a non-zero exit halting the deploy.
 */
import { exec as execDefault, lastLines, type Exec, type ExecResult } from '../lib/exec.ts';
import type { Reporter } from '../lib/report.ts';
import { formatDuration } from '../lib/duration.ts';

export interface CommandOptions {
  command: string[];
  timeoutMs: number;
  cwd: string;
  env: Record<string, string | undefined>;
  /** Added to the environment as DATABASE_URL when set. */
  databaseUrl?: string;
  log: Reporter;
  signal?: AbortSignal;
  exec?: Exec;
}

export interface CommandOutcome {
  result: ExecResult;
  ok: boolean;
  /** One line when it failed. */
  failure?: string;
  /** The last lines of output (for the summary; secrets are redacted by the runtime). */
  tail: string[];
}

export async function runMigrationCommand(o: CommandOptions): Promise<CommandOutcome> {
  const [file, ...args] = o.command;
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.env)) if (v !== undefined) env[k] = v;
  if (o.databaseUrl) env.DATABASE_URL = o.databaseUrl;
  const tail: string[] = [];
  o.log.info(`running ${JSON.stringify(o.command)} (timeout ${formatDuration(o.timeoutMs)})`);
  const result = await (o.exec ?? execDefault)(file!, args, {
    cwd: o.cwd,
    env,
    timeoutMs: o.timeoutMs,
    signal: o.signal,
    onLine: (line) => {
      o.log.info(line);
      tail.push(line);
      if (tail.length > 40) tail.shift();
    },
  });
  const ok = result.code === 0 && !result.timedOut;
  let failure: string | undefined;
  if (!ok) {
    const how = result.timedOut
      ? `timed out after ${formatDuration(o.timeoutMs)} (command-timeout) and was stopped`
      : result.signal
        ? `was killed by ${result.signal}`
        : `exited with code ${result.code}`;
    const last = lastLines(result.stderr || result.stdout, 3);
    failure = `migration command ${file} ${how}${last ? `: ${last}` : ''}`;
  }
  return { result, ok, failure, tail };
}
