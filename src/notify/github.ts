/**
 * GitHub: deployments and deployment statuses (the record the rollback later reads the last good
 * version from), one PR comment updated in place (found by a hidden marker), and incident issues.
 * Uses @actions/github's Octokit, loaded lazily: a run that only posts to Slack or a webhook never
 * loads it. This is the only file in src/ (outside src/runner) that imports @actions/github.
 */
import { UserError, errorMessage } from '../lib/errors.ts';
import { defaultUnprocessed, request, type Http } from '../lib/http.ts';
import { commentMarker, type EventKind, type VersionInfo } from './message.ts';

export const DEFAULT_GITHUB_API_URL = 'https://api.github.com';

type Octokit = ReturnType<(typeof import('@actions/github'))['getOctokit']>;

let loading: Promise<typeof import('@actions/github')> | undefined;
/** The Octokit module, imported on first use. */
export function loadActionsGithub(): Promise<typeof import('@actions/github')> {
  loading ??= import('@actions/github');
  return loading;
}

export type DeploymentState = 'error' | 'failure' | 'inactive' | 'in_progress' | 'queued' | 'pending' | 'success';
export const DEPLOYMENT_STATES: readonly DeploymentState[] = ['error', 'failure', 'inactive', 'in_progress', 'queued', 'pending', 'success'];

/** The deployment status an event posts. */
export const STATE_FOR: Record<EventKind, DeploymentState> = {
  started: 'in_progress',
  'approval-waiting': 'queued',
  succeeded: 'success',
  failed: 'failure',
  'rolled-back': 'failure',
};

export interface GithubOptions {
  token: string;
  /** owner/name */
  repository: string;
  /** Default https://api.github.com (GHES: https://HOST/api/v3). */
  apiUrl?: string;
  /** fetch used by Octokit (tests, proxies). Default: global fetch. */
  fetch?: typeof fetch;
  /** Per request. Default 15 s. */
  timeoutMs?: number;
  /** Retries on 429/5xx (and rate-limit 403 with Retry-After) stop here. Default 30 s. */
  deadlineMs?: number;
  signal?: AbortSignal;
  onRetry?: (info: { attempt: number; waitMs: number; reason: string }) => void;
  /** The HTTP layer (tests). Default: src/lib/http.ts request. */
  http?: Http;
}

export interface DeploymentRecord {
  id: number;
  sha: string;
  ref: string;
  environment: string;
  createdAt: string;
  /** The version Slipway stored in the deployment's payload, when it made it. */
  version?: VersionInfo;
  /** Latest status state, if any. */
  state?: string;
}

/** GitHub's "not now" answers: 429, and a 403 carrying Retry-After (the secondary rate limit). */
const rateLimited = (status: number, headers: Headers) => status === 429 || (status === 403 && headers.has('retry-after'));
/** Worth another try: a rate limit, or a gateway error (for requests whose repeat is harmless). */
export const githubRetryOn = (status: number, headers: Headers) => rateLimited(status, headers) || status === 502 || status === 503 || status === 504;
/** Answers that say GitHub did not act: a write may be repeated after these only. */
export const githubUnprocessed = (status: number, headers: Headers) => rateLimited(status, headers) || defaultUnprocessed(status);

/**
 * The fetch Octokit uses: every GitHub request goes through the one HTTP layer (src/lib/http.ts):
 * retries of 429, rate-limit 403 and (for idempotent requests only: reads, PUT, DELETE) 502/503/504
 * and network errors; writes (POST, PATCH) are repeated only after an answer that says GitHub did not
 * act. Retry-After is honoured up to a cap, every wait ends when `signal` aborts, and all attempts
 * stop at the deadline (default 30 s).
 */
export function retryingFetch(
  base: typeof fetch,
  o: { timeoutMs?: number; deadlineMs?: number; signal?: AbortSignal; onRetry?: GithubOptions['onRetry']; http?: Http } = {},
): typeof fetch {
  const http = o.http ?? request;
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url;
    const method = (init.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const headers = Object.fromEntries(new Headers(init.headers).entries());
    const body = init.body == null ? undefined : typeof init.body === 'string' || init.body instanceof Uint8Array ? init.body : String(init.body);
    const signals = [o.signal, init.signal ?? undefined].filter((x): x is AbortSignal => Boolean(x));
    const res = await http(url, {
      method,
      headers,
      body,
      timeoutMs: o.timeoutMs ?? 15_000,
      deadlineMs: o.deadlineMs ?? 30_000,
      retries: 5,
      backoffMs: 500,
      maxBackoffMs: 8000,
      retryOn: githubRetryOn,
      unprocessed: githubUnprocessed,
      maxBodyBytes: 32 << 20,
      signal: signals.length > 1 ? AbortSignal.any(signals) : signals[0],
      onRetry: o.onRetry,
      fetch: base,
    });
    const empty = res.status === 204 || res.status === 205 || res.status === 304 || method === 'HEAD';
    const out = new Headers(res.headers);
    // The layer already decoded the body: the Response we hand back is plain text.
    out.delete('content-encoding');
    out.delete('content-length');
    return new Response(empty ? null : res.body, { status: res.status, headers: out });
  }) as typeof fetch;
}

/** Turns Octokit's errors into one line a user can act on. */
export function explainGithubError(err: unknown, what: string, permission?: string): UserError {
  const e = err as { status?: number; message?: string; response?: { data?: any } };
  const data = e.response?.data;
  const detail = [
    data?.message ?? e.message,
    ...(Array.isArray(data?.errors) ? data.errors.map((x: any) => x.message ?? [x.resource, x.field, x.code].filter(Boolean).join(' ')) : []),
  ]
    .filter(Boolean)
    .join('; ');
  switch (e.status) {
    case 401:
      return new UserError(`GitHub ${what}: the token was rejected (401 ${detail}): check github-token`);
    case 403:
      return new UserError(`GitHub ${what}: forbidden (403 ${detail})${permission ? `: the workflow needs \`permissions: ${permission}: write\`` : ''}`);
    case 404:
      return new UserError(`GitHub ${what}: not found (404 ${detail}): check the repository, the number or id, and that the token can see it`);
    case 422:
      return new UserError(`GitHub ${what}: GitHub refused the request (422 ${detail})`);
    default:
      return new UserError(`GitHub ${what}: ${e.status ? `HTTP ${e.status} ` : ''}${detail || errorMessage(err)}`);
  }
}

export interface GithubClient {
  readonly owner: string;
  readonly repo: string;
  createDeployment(a: {
    ref: string;
    environment: string;
    description?: string;
    version?: VersionInfo;
    transient?: boolean;
    production?: boolean;
  }): Promise<DeploymentRecord>;
  createDeploymentStatus(
    id: number,
    a: { state: DeploymentState; environment?: string; environmentUrl?: string; logUrl?: string; description?: string; autoInactive?: boolean },
  ): Promise<{ id: number; state: string }>;
  listDeployments(a: { environment: string; sha?: string; perPage?: number; page?: number }): Promise<DeploymentRecord[]>;
  /** An environment's deployments, newest first, page after page (Octokit's paginate, through the one HTTP layer). */
  deployments(environment: string, perPage?: number): AsyncIterable<DeploymentRecord[]>;
  latestStatuses(id: number, perPage?: number): Promise<{ state: string; createdAt: string }[]>;
  upsertComment(issueNumber: number, key: string, body: string): Promise<{ id: number; url: string; action: 'created' | 'updated' }>;
  createIssue(a: { title: string; body: string; labels?: string[] }): Promise<{ number: number; url: string }>;
  compareCommits(
    base: string,
    head: string,
  ): Promise<{ status: string; aheadBy: number; commits: { sha: string; message: string; author?: string }[]; files: { filename: string; status: string }[] }>;
}

export function splitRepository(repository: string): { owner: string; repo: string } {
  const m = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/.exec(repository.trim());
  if (!m) throw new UserError(`repository ${JSON.stringify(repository)} is not owner/name`);
  return { owner: m[1]!, repo: m[2]! };
}

function versionFromPayload(payload: unknown): VersionInfo | undefined {
  let p = payload;
  if (typeof p === 'string') {
    try {
      p = JSON.parse(p);
    } catch {
      return undefined;
    }
  }
  const v = (p as { slipway?: { version?: VersionInfo } } | null)?.slipway?.version;
  return v && typeof v === 'object' ? v : undefined;
}

function toRecord(d: any): DeploymentRecord {
  return { id: d.id, sha: d.sha, ref: d.ref, environment: d.environment, createdAt: d.created_at, version: versionFromPayload(d.payload) };
}

/** A client over Octokit (loaded now, lazily, the first time a GitHub channel is used). */
export async function githubClient(o: GithubOptions): Promise<GithubClient> {
  const { owner, repo } = splitRepository(o.repository);
  const { getOctokit } = await loadActionsGithub();
  const octokit: Octokit = getOctokit(o.token, {
    baseUrl: (o.apiUrl ?? DEFAULT_GITHUB_API_URL).replace(/\/+$/, ''),
    request: { fetch: retryingFetch(o.fetch ?? globalThis.fetch, o) },
    // Retries live in the HTTP layer (retryingFetch); Octokit's own throttling/retry plugins are not loaded by getOctokit.
    log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
  });
  const call = async <T>(what: string, permission: string | undefined, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw explainGithubError(err, what, permission);
    }
  };
  return {
    owner,
    repo,
    async createDeployment(a) {
      const r = await call('create deployment', 'deployments', () =>
        octokit.rest.repos.createDeployment({
          owner,
          repo,
          ref: a.ref,
          environment: a.environment,
          description: a.description?.slice(0, 140),
          // The deploy already passed its checks in this workflow: do not merge the default branch in, do not wait on statuses.
          auto_merge: false,
          required_contexts: [],
          payload: { slipway: { version: a.version ?? {} } },
          transient_environment: a.transient ?? false,
          ...(a.production !== undefined ? { production_environment: a.production } : {}),
        }),
      );
      if (r.status !== 201 || !('id' in r.data))
        throw new UserError(`GitHub create deployment: answered ${r.status} ${(r.data as { message?: string }).message ?? ''}`);
      return toRecord(r.data);
    },
    async createDeploymentStatus(id, a) {
      const r = await call(`create status for deployment ${id}`, 'deployments', () =>
        octokit.rest.repos.createDeploymentStatus({
          owner,
          repo,
          deployment_id: id,
          state: a.state,
          ...(a.environment ? { environment: a.environment } : {}),
          ...(a.environmentUrl ? { environment_url: a.environmentUrl } : {}),
          ...(a.logUrl ? { log_url: a.logUrl } : {}),
          ...(a.description ? { description: a.description.slice(0, 140) } : {}),
          ...(a.autoInactive !== undefined ? { auto_inactive: a.autoInactive } : {}),
        }),
      );
      return { id: r.data.id, state: r.data.state };
    },
    async listDeployments(a) {
      const r = await call(`list deployments of ${a.environment}`, 'deployments', () =>
        octokit.rest.repos.listDeployments({
          owner,
          repo,
          environment: a.environment,
          ...(a.sha ? { sha: a.sha } : {}),
          per_page: a.perPage ?? 30,
          page: a.page ?? 1,
        }),
      );
      return r.data.map(toRecord);
    },
    async *deployments(environment, perPage = 30) {
      const pages = octokit.paginate.iterator(octokit.rest.repos.listDeployments, { owner, repo, environment, per_page: perPage });
      const it = pages[Symbol.asyncIterator]();
      for (;;) {
        const next = await call(`list deployments of ${environment}`, 'deployments', () => it.next());
        if (next.done) return;
        yield next.value.data.map(toRecord);
      }
    },
    async latestStatuses(id, perPage = 10) {
      const r = await call(`list statuses of deployment ${id}`, 'deployments', () =>
        octokit.rest.repos.listDeploymentStatuses({ owner, repo, deployment_id: id, per_page: perPage }),
      );
      return r.data.map((s) => ({ state: s.state, createdAt: s.created_at }));
    },
    async upsertComment(issueNumber, key, body) {
      const marker = commentMarker(key);
      const text = `${marker}\n${body}`;
      let found: { id: number } | undefined;
      // Octokit's paginate follows the Link header; at most 10 pages (1,000 comments) are read.
      const pages = octokit.paginate.iterator(octokit.rest.issues.listComments, { owner, repo, issue_number: issueNumber, per_page: 100 });
      await call(`list comments of #${issueNumber}`, 'pull-requests', async () => {
        let n = 0;
        for await (const r of pages) {
          found = r.data.find((c) => c.body?.includes(marker));
          if (found || ++n >= 10) break;
        }
      });
      const existing = found as { id: number } | undefined;
      if (existing) {
        const r = await call(`update comment ${existing.id}`, 'pull-requests', () =>
          octokit.rest.issues.updateComment({ owner, repo, comment_id: existing.id, body: text }),
        );
        return { id: r.data.id, url: r.data.html_url, action: 'updated' };
      }
      const r = await call(`comment on #${issueNumber}`, 'pull-requests', () =>
        octokit.rest.issues.createComment({ owner, repo, issue_number: issueNumber, body: text }),
      );
      return { id: r.data.id, url: r.data.html_url, action: 'created' };
    },
    async createIssue(a) {
      const r = await call('open issue', 'issues', () =>
        octokit.rest.issues.create({ owner, repo, title: a.title, body: a.body, ...(a.labels?.length ? { labels: a.labels } : {}) }),
      );
      return { number: r.data.number, url: r.data.html_url };
    },
    async compareCommits(base, head) {
      const r = await call(`compare ${base}...${head}`, 'contents', () => octokit.rest.repos.compareCommits({ owner, repo, base, head, per_page: 100 }));
      return {
        status: r.data.status,
        aheadBy: r.data.ahead_by,
        commits: r.data.commits.map((c) => ({
          sha: c.sha,
          message: c.commit.message.split('\n')[0]!,
          author: c.author?.login ?? c.commit.author?.name ?? undefined,
        })),
        files: (r.data.files ?? []).map((f) => ({ filename: f.filename, status: f.status })),
      };
    },
  };
}

/**
 * The newest deployment of an environment that succeeded and was not failed afterwards: its
 * latest status is `success`, or `inactive` after a `success` (superseded by a later deploy that
 * may itself have failed since). This is what a rollback goes back to.
 */
export async function lastSuccessfulDeployment(
  client: GithubClient,
  environment: string,
  opts: { excludeSha?: string; excludeIds?: number[]; maxDeployments?: number } = {},
): Promise<DeploymentRecord | undefined> {
  const max = opts.maxDeployments ?? 60;
  let seen = 0;
  for await (const list of client.deployments(environment, 30)) {
    for (const d of list) {
      if (++seen > max) return undefined;
      if (opts.excludeIds?.includes(d.id) || (opts.excludeSha && d.sha === opts.excludeSha)) continue;
      const statuses = await client.latestStatuses(d.id, 20);
      const latest = statuses[0]?.state;
      const everSucceeded = statuses.some((s) => s.state === 'success');
      if (latest === 'success' || (latest === 'inactive' && everSucceeded)) return { ...d, state: latest };
    }
  }
  return undefined;
}

/**
 * The deployment a job-level `environment:` (or an earlier Slipway step) already made for this
 * commit and environment, still unfinished (no status, or queued/pending/in_progress/waiting).
 */
export async function findOpenDeployment(client: GithubClient, environment: string, sha: string): Promise<DeploymentRecord | undefined> {
  const list = await client.listDeployments({ environment, sha, perPage: 5 });
  for (const d of list) {
    const [latest] = await client.latestStatuses(d.id, 1);
    if (!latest || ['queued', 'pending', 'in_progress', 'waiting'].includes(latest.state)) return { ...d, state: latest?.state };
  }
  return undefined;
}
