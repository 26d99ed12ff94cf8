/** One flag of a provider, in the shape the deploy engine's flag strategy takes (src/deploy/strategies.ts FlagSwitch). */
import type { FlagProvider, FlagState } from './model.ts';

export interface ProviderFlagSwitch {
  readonly flag: string;
  readonly where: string;
  read(signal?: AbortSignal): Promise<FlagState | undefined>;
  write(to: FlagState, from: FlagState | undefined, signal?: AbortSignal): Promise<void>;
}

export function flagSwitch(
  provider: FlagProvider,
  flag: string,
  onWrite?: (from: FlagState | undefined, to: FlagState, ms: number) => void,
): ProviderFlagSwitch {
  return {
    flag,
    where: `${provider.kind} ${provider.server} (${provider.environment})`,
    read: (signal) => provider.read(flag, signal),
    async write(to, from, signal) {
      const t0 = performance.now();
      await provider.write(flag, to, from, signal);
      onWrite?.(from, to, performance.now() - t0);
    },
  };
}
