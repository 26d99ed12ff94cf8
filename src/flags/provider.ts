/**
 * A flag provider from the flags inputs (the flags action's, or slipway.yml's `flags` section):
 * Unleash's admin API or the user's own commands. Shared by the flags action and deploy-rolling's
 * kill switch. Credentials are masked the moment a provider is built from them.
 */
import { UserError } from '../lib/errors.ts';
import { urlSecrets } from '../lib/secrets.ts';
import type { Http } from '../lib/http.ts';
import type { Exec } from '../lib/exec.ts';
import type { InputsOf } from '../manifest/fields.ts';
import { UnleashProvider } from './unleash.ts';
import { CommandFlagProvider } from './command.ts';
import type { FlagProvider } from './model.ts';
import type { spec } from './spec.ts';

export type FlagsInputs = InputsOf<typeof spec>;

export interface ProviderDeps {
  /** The environment the command provider's commands run with. */
  env: Record<string, string | undefined>;
  /** Working directory of the command provider's commands. */
  cwd?: string;
  /** Masks a secret in the log (the runner's add-mask). */
  mask: (secret: string) => void;
  http?: Http;
  exec?: Exec;
}

export function makeFlagProvider(i: FlagsInputs, d: ProviderDeps): FlagProvider {
  if (i.provider === 'command') {
    if (!i.command) throw new UserError("Input 'command': got nothing; expected the command that sets a flag (provider: command)");
    return new CommandFlagProvider({
      command: i.command,
      readCommand: i['read-command'],
      environment: i.environment,
      env: d.env,
      timeoutMs: i.timeout,
      exec: d.exec,
      cwd: d.cwd,
    });
  }
  if (!i['unleash-url']) throw new UserError("Input 'unleash-url': got nothing; expected the Unleash server's URL (provider: unleash)");
  for (const s of urlSecrets(i['unleash-url'])) d.mask(s);
  if (i['unleash-token']) d.mask(i['unleash-token']);
  return new UnleashProvider({
    url: i['unleash-url'],
    token: i['unleash-token'] || undefined,
    project: i['unleash-project'],
    environment: i.environment,
    http: d.http,
    timeoutMs: i.timeout,
  });
}
