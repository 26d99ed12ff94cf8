import type { Provider } from '@openfeature/server-sdk';
/** See openfeature-unleash.js. */
export declare class UnleashProvider implements Provider {
  constructor(o: { url: string; clientToken: string; appName?: string; refreshInterval?: number; environment?: string });
  readonly metadata: { name: string };
  readonly runsOn: 'server';
  initialize(): Promise<void>;
  onClose(): Promise<void>;
  resolveBooleanEvaluation: Provider['resolveBooleanEvaluation'];
  resolveStringEvaluation: Provider['resolveStringEvaluation'];
  resolveNumberEvaluation: Provider['resolveNumberEvaluation'];
  resolveObjectEvaluation: Provider['resolveObjectEvaluation'];
}
