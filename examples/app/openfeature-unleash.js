// A small OpenFeature provider over Unleash's Node SDK (npm `unleash-client`): the app asks
// OpenFeature (`@openfeature/server-sdk`) for its flags and never talks to Unleash itself, so the
// flag vendor can change without code changes. (npm has an Unleash provider for the web SDK only.)
// The SDK polls the server's client API every `refreshInterval` ms and evaluates locally.
import { Unleash } from 'unleash-client';
import { ErrorCode, StandardResolutionReasons } from '@openfeature/server-sdk';

export class UnleashProvider {
  metadata = { name: 'unleash (slipway sample)' };
  runsOn = 'server';

  /** @param {{ url: string, clientToken: string, appName?: string, refreshInterval?: number, environment?: string }} o */
  constructor(o) {
    this.client = new Unleash({
      url: `${o.url.replace(/\/+$/, '')}/api/`,
      appName: o.appName ?? 'slipway-sample-app',
      environment: o.environment,
      customHeaders: { Authorization: o.clientToken },
      refreshInterval: o.refreshInterval ?? 1000,
      disableMetrics: true,
      skipInstanceCountWarning: true,
      storageProvider: { set: async () => undefined, get: async () => undefined },
    });
    this.client.on('error', () => undefined);
    this.client.on('warn', () => undefined);
  }

  /** Resolves once the first flag set arrived (OpenFeature waits for it in setProviderAndWait). */
  initialize() {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('unleash: no flags from the server within 15 s')), 15_000);
      this.client.once('synchronized', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async onClose() {
    this.client.destroy();
  }

  #context(ctx) {
    const { targetingKey, ...rest } = ctx ?? {};
    return { userId: targetingKey, properties: Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, String(v)])) };
  }

  async resolveBooleanEvaluation(flagKey, defaultValue, ctx) {
    const known = this.client.getFeatureToggleDefinition(flagKey);
    if (!known) return { value: defaultValue, reason: StandardResolutionReasons.ERROR, errorCode: ErrorCode.FLAG_NOT_FOUND };
    const value = this.client.isEnabled(flagKey, this.#context(ctx), defaultValue);
    return { value, reason: known.enabled ? StandardResolutionReasons.TARGETING_MATCH : StandardResolutionReasons.DISABLED };
  }

  async resolveStringEvaluation(flagKey, defaultValue, ctx) {
    const v = this.client.getVariant(flagKey, this.#context(ctx));
    return v?.enabled ? { value: v.name, variant: v.name, reason: StandardResolutionReasons.TARGETING_MATCH } : { value: defaultValue, reason: StandardResolutionReasons.DEFAULT };
  }

  async resolveNumberEvaluation(_flagKey, defaultValue) {
    return { value: defaultValue, reason: StandardResolutionReasons.DEFAULT };
  }

  async resolveObjectEvaluation(_flagKey, defaultValue) {
    return { value: defaultValue, reason: StandardResolutionReasons.DEFAULT };
  }
}
