/**
 * Unleash (open source, self-hostable; npm `unleash-server`, 8.x) through its admin API:
 * `GET /api/admin/projects/{project}/features/{flag}` for the state of every environment,
 * `POST …/environments/{env}/on|off`, and the environment's first `flexibleRollout` strategy
 * (parameter `rollout`, 0–100) for a gradual rollout, created when missing. The admin token is
 * sent as the Authorization header (Unleash's own scheme) and never printed.
 */
import { request, type Http, type HttpResponse, HttpError } from '../lib/http.ts';
import { quoteBody } from '../lib/http.ts';
import { redactUrl, requestSecrets } from '../lib/secrets.ts';
import { errorMessage } from '../lib/errors.ts';
import { FlagError, type FlagProvider, type FlagState } from './model.ts';

export interface UnleashOptions {
  /** Base URL of the Unleash server, e.g. http://unleash:4242 (the admin API is under /api/admin). */
  url: string;
  /** Admin API token (or a personal access token). */
  token?: string;
  project?: string;
  environment: string;
  http?: Http;
  /** Per request. Default 10 s. */
  timeoutMs?: number;
  /** Retries of idempotent requests on network errors and 5xx. Default 2. */
  retries?: number;
}

interface UnleashStrategy {
  id: string;
  name: string;
  disabled?: boolean;
  parameters?: Record<string, string>;
  constraints?: unknown[];
}
interface UnleashEnvironment {
  name: string;
  enabled: boolean;
  strategies?: UnleashStrategy[];
}

export class UnleashProvider implements FlagProvider {
  readonly kind = 'unleash';
  readonly server: string;
  readonly environment: string;
  private readonly base: string;
  private readonly project: string;
  private readonly headers: Record<string, string>;
  private readonly http: Http;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly secrets: string[];
  /** The managed strategy of each flag, from the last read. */
  private readonly strategyIds = new Map<string, string | undefined>();

  constructor(o: UnleashOptions) {
    this.base = o.url.replace(/\/+$/, '');
    this.server = redactUrl(this.base).replace(/\/+$/, '');
    this.environment = o.environment;
    this.project = o.project ?? 'default';
    this.headers = { accept: 'application/json', 'content-type': 'application/json', ...(o.token ? { authorization: o.token } : {}) };
    this.http = o.http ?? request;
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.retries = o.retries ?? 2;
    this.secrets = requestSecrets(this.base, this.headers);
  }

  private featureUrl(flag: string): string {
    return `${this.base}/api/admin/projects/${encodeURIComponent(this.project)}/features/${encodeURIComponent(flag)}`;
  }
  private envUrl(flag: string): string {
    return `${this.featureUrl(flag)}/environments/${encodeURIComponent(this.environment)}`;
  }

  /** One call; every failure becomes one line naming the flag and the server. */
  private async call(flag: string, method: string, url: string, body?: unknown, signal?: AbortSignal): Promise<HttpResponse> {
    const idempotent = method !== 'POST' || /\/(on|off)$/.test(url);
    let res: HttpResponse;
    try {
      res = await this.http(url, {
        method,
        headers: this.headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        timeoutMs: this.timeoutMs,
        retries: idempotent ? this.retries : 0,
        idempotent,
        backoffMs: 200,
        signal,
      });
    } catch (err) {
      const why = err instanceof HttpError ? errorMessage(err).replace(/^\S+ \S+ /, '') : errorMessage(err);
      if (signal?.aborted) throw new FlagError(`flag '${flag}': the Unleash server ${this.server} did not answer before the deadline`, true);
      if (/timed out/.test(why)) throw new FlagError(`flag '${flag}': the Unleash server ${this.server} did not answer (${why})`, true);
      throw new FlagError(`flag '${flag}': the Unleash server ${this.server} is unreachable (${why})`, true);
    }
    if (res.status >= 200 && res.status < 300) return res;
    const said = quoteBody(res, this.secrets, 160);
    if (res.status === 401)
      throw new FlagError(
        `flag '${flag}': the Unleash server ${this.server} refused the admin token (401 Unauthorized${this.headers.authorization ? '' : '; no token was given'}): ${said}`,
      );
    if (res.status === 403)
      throw new FlagError(
        `flag '${flag}': the Unleash server ${this.server} does not let this token change flags (403 Forbidden; an admin token or a personal access token is needed): ${said}`,
      );
    if (res.status === 404 && method === 'GET' && url === this.featureUrl(flag))
      throw new FlagError(`flag '${flag}' does not exist in project '${this.project}' on the Unleash server ${this.server}`);
    if (res.status >= 500)
      throw new FlagError(
        `flag '${flag}': the Unleash server ${this.server} answered ${res.status} to ${method} ${redactUrl(url).slice(this.server.length)}${res.attempts > 1 ? ` (${res.attempts} attempts)` : ''}: ${said}`,
        true,
      );
    throw new FlagError(
      `flag '${flag}': the Unleash server ${this.server} answered ${res.status} to ${method} ${redactUrl(url).slice(this.server.length)}: ${said}`,
    );
  }

  private async environmentOf(flag: string, signal?: AbortSignal): Promise<UnleashEnvironment> {
    const res = await this.call(flag, 'GET', this.featureUrl(flag), undefined, signal);
    let feature: { environments?: UnleashEnvironment[]; archived?: boolean };
    try {
      feature = res.json();
    } catch {
      throw new FlagError(
        `flag '${flag}': the Unleash server ${this.server} answered with a body that is not JSON: ${quoteBody(res, this.secrets, 120)}`,
        true,
      );
    }
    if (feature.archived) throw new FlagError(`flag '${flag}' is archived on the Unleash server ${this.server}`);
    const env = feature.environments?.find((e) => e.name === this.environment);
    if (!env) {
      const has = (feature.environments ?? []).map((e) => e.name).join(', ') || 'none';
      throw new FlagError(`flag '${flag}' has no environment '${this.environment}' on the Unleash server ${this.server} (it has: ${has})`);
    }
    return env;
  }

  async read(flag: string, signal?: AbortSignal): Promise<FlagState> {
    const env = await this.environmentOf(flag, signal);
    const managed = (env.strategies ?? []).find((s) => s.name === 'flexibleRollout' && !s.disabled);
    this.strategyIds.set(flag, managed?.id);
    const rollout = managed ? Number(managed.parameters?.rollout ?? '100') : undefined;
    return { enabled: !!env.enabled, ...(rollout !== undefined && Number.isFinite(rollout) ? { rollout } : {}) };
  }

  private async setRollout(flag: string, percent: number | undefined, signal?: AbortSignal): Promise<void> {
    if (!this.strategyIds.has(flag)) await this.read(flag, signal);
    const id = this.strategyIds.get(flag);
    if (percent === undefined) {
      if (!id) return;
      await this.call(flag, 'DELETE', `${this.envUrl(flag)}/strategies/${encodeURIComponent(id)}`, undefined, signal);
      this.strategyIds.set(flag, undefined);
      return;
    }
    const strategy = { name: 'flexibleRollout', constraints: [], parameters: { rollout: String(percent), stickiness: 'default', groupId: flag } };
    if (id) {
      await this.call(flag, 'PUT', `${this.envUrl(flag)}/strategies/${encodeURIComponent(id)}`, strategy, signal);
    } else {
      const res = await this.call(flag, 'POST', `${this.envUrl(flag)}/strategies`, strategy, signal);
      this.strategyIds.set(flag, res.json<{ id?: string }>().id);
    }
  }

  async write(flag: string, to: FlagState, from: FlagState | undefined, signal?: AbortSignal): Promise<void> {
    const rolloutChanges = (to.rollout ?? null) !== (from?.rollout ?? null);
    if (!to.enabled) {
      // Off first: nobody sees the flag while its rollout is changed.
      if (from?.enabled !== false) await this.call(flag, 'POST', `${this.envUrl(flag)}/off`, undefined, signal);
      if (rolloutChanges) await this.setRollout(flag, to.rollout, signal);
      return;
    }
    // The percentage first: turning on never shows the old share.
    if (rolloutChanges) await this.setRollout(flag, to.rollout, signal);
    if (from?.enabled !== true) await this.call(flag, 'POST', `${this.envUrl(flag)}/on`, undefined, signal);
  }
}
