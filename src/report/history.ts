/**
 * The deployment history of a repository, read from GitHub's REST API (plain GET requests through
 * src/lib/http with retries; nothing is written):
 *   GET /repos/{o}/{r}/deployments?environment=E&per_page=100&page=N     newest first, paged until
 *                                                                        older than the window
 *   GET /repos/{o}/{r}/deployments/{id}/statuses?per_page=100&page=N     every status, newest first
 *   GET /repos/{o}/{r}/commits/{sha}                                     the commit date (lead time)
 *   GET /repos/{o}/{r}/actions/runs/{run_id}/approvals                   who approved the run's
 *                                                                        environment (the run is the
 *                                                                        status's log_url/target_url)
 * The token needs `deployments: read`, `contents: read` and `actions: read` (approvals). A missing
 * permission for commits or approvals leaves those columns empty with one warning; a refused token
 * or an unknown repository fails the whole read.
 */
import { UserError } from '../lib/errors.ts';
import type { Http, HttpResponse } from '../lib/http.ts';
import { quote } from '../lib/secrets.ts';

export interface HistoryStatus {
  state: string;
  createdAt: string;
  description: string;
  logUrl: string;
}

export interface HistoryDeployment {
  id: number;
  sha: string;
  ref: string;
  environment: string;
  createdAt: string;
  description: string;
  /** The version label Slipway stored in the payload (slipway.version.label), when it made the deployment. */
  version?: string;
  /** Every status, newest first. */
  statuses: HistoryStatus[];
  /** The workflow run that made it (from a status's log_url or target_url). */
  runId?: number;
  runUrl?: string;
  /** Logins that approved this environment in that run; undefined when unknown (no run, or no permission). */
  approvers?: string[];
  /** The deployed commit's committer date. */
  commitDate?: string;
}

export interface HistoryOptions {
  http: Http;
  token: string;
  /** owner/name */
  repository: string;
  /** Default https://api.github.com */
  apiUrl?: string;
  environment?: string;
  /** Deployments created at or after this time. */
  since: Date;
  /** Stop after this many deployments (newest kept). Default 2000. */
  maxDeployments?: number;
  onWarning?: (message: string) => void;
  signal?: AbortSignal;
}

export interface History {
  repository: string;
  deployments: HistoryDeployment[];
  /** Requests made (for the log). */
  requests: number;
  /** true when maxDeployments cut the history short. */
  truncated: boolean;
}

const PER_PAGE = 100;

function payloadVersion(payload: unknown): string | undefined {
  let p = payload;
  if (typeof p === 'string') {
    try {
      p = JSON.parse(p);
    } catch {
      return undefined;
    }
  }
  const v = (p as { slipway?: { version?: { label?: unknown } } } | null)?.slipway?.version?.label;
  return typeof v === 'string' && v ? v : undefined;
}

/** The run id and URL in a status's log URL (https://github.com/o/r/actions/runs/123[/job/456]). */
export function runOf(url: string): { id: number; url: string } | undefined {
  const m = /^(https?:\/\/[^?#]*?\/actions\/runs\/(\d+))/.exec(url);
  return m ? { id: Number(m[2]), url: m[1]! } : undefined;
}

export async function readHistory(o: HistoryOptions): Promise<History> {
  const m = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/.exec(o.repository.trim());
  if (!m) throw new UserError(`repository ${JSON.stringify(o.repository)} is not owner/name`);
  const repoPath = `/repos/${encodeURIComponent(m[1]!)}/${encodeURIComponent(m[2]!)}`;
  const api = (o.apiUrl || 'https://api.github.com').replace(/\/+$/, '');
  const headers = {
    authorization: `Bearer ${o.token}`,
    accept: 'application/vnd.github+json',
    'x-github-api-version': '2022-11-28',
    'user-agent': 'slipway-report',
  };
  let requests = 0;
  const get = async (path: string, what: string): Promise<HttpResponse> => {
    requests++;
    const res = await o.http(`${api}${path}`, {
      headers,
      timeoutMs: 15_000,
      retries: 4,
      deadlineMs: 60_000,
      signal: o.signal,
      retryOn: (s) => s === 429 || s === 502 || s === 503 || s === 504,
    });
    if (res.status === 401) throw new UserError(`GitHub ${what}: the token was rejected (401): give a valid token with --token or GITHUB_TOKEN`);
    return res;
  };
  const fail = (res: HttpResponse, what: string, permission: string): never => {
    const msg = quote(
      (() => {
        try {
          return String(res.json<{ message?: string }>().message ?? res.body);
        } catch {
          return res.body;
        }
      })(),
      [o.token],
      160,
    );
    if (res.status === 403) throw new UserError(`GitHub ${what}: forbidden (403 ${msg}): the token needs ${permission}: read`);
    if (res.status === 404) throw new UserError(`GitHub ${what}: not found (404 ${msg}): check the repository ${o.repository} and that the token can see it`);
    throw new UserError(`GitHub ${what}: HTTP ${res.status} ${msg}`);
  };

  // Deployments, newest first, until the window's start.
  const since = o.since.getTime();
  const max = o.maxDeployments ?? 2000;
  const out: HistoryDeployment[] = [];
  let truncated = false;
  for (let page = 1; ; page++) {
    const q = new URLSearchParams({ per_page: String(PER_PAGE), page: String(page) });
    if (o.environment) q.set('environment', o.environment);
    const what = `list deployments${o.environment ? ` of ${o.environment}` : ''}`;
    const res = await get(`${repoPath}/deployments?${q}`, what);
    if (res.status !== 200) fail(res, what, 'deployments');
    const list = res.json<any[]>();
    let older = false;
    for (const d of list) {
      if (Date.parse(d.created_at) < since) {
        older = true;
        continue;
      }
      if (out.length >= max) {
        truncated = true;
        break;
      }
      out.push({
        id: d.id,
        sha: d.sha,
        ref: d.ref,
        environment: d.environment,
        createdAt: d.created_at,
        description: d.description ?? '',
        version: payloadVersion(d.payload),
        statuses: [],
      });
    }
    if (truncated || older || list.length < PER_PAGE) break;
  }
  if (truncated) o.onWarning?.(`report: more than ${max} deployments in the window; the oldest are left out`);

  // Statuses of each deployment (a few at a time).
  await pool(out, 6, async (d) => {
    for (let page = 1; ; page++) {
      const what = `list statuses of deployment ${d.id}`;
      const res = await get(`${repoPath}/deployments/${d.id}/statuses?per_page=${PER_PAGE}&page=${page}`, what);
      if (res.status !== 200) fail(res, what, 'deployments');
      const list = res.json<any[]>();
      for (const s of list)
        d.statuses.push({ state: s.state, createdAt: s.created_at, description: s.description ?? '', logUrl: s.log_url || s.target_url || '' });
      if (list.length < PER_PAGE) break;
    }
    d.statuses.sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
    const run = d.statuses.map((s) => runOf(s.logUrl)).find(Boolean);
    if (run) {
      d.runId = run.id;
      d.runUrl = run.url;
    }
  });

  // Commit dates (one request per commit).
  const shas = [...new Set(out.map((d) => d.sha))];
  const dates = new Map<string, string>();
  let commitWarned = false;
  await pool(shas, 6, async (sha) => {
    const res = await get(`${repoPath}/commits/${encodeURIComponent(sha)}`, `get commit ${sha.slice(0, 7)}`);
    if (res.status === 200) {
      const c = res.json<{ commit?: { committer?: { date?: string } | null; author?: { date?: string } | null } }>().commit;
      const date = c?.committer?.date ?? c?.author?.date;
      if (date) dates.set(sha, date);
    } else if (!commitWarned) {
      commitWarned = true;
      o.onWarning?.(
        `report: commit ${sha.slice(0, 7)} could not be read (HTTP ${res.status}${res.status === 403 ? ': the token needs contents: read' : ''}); lead time leaves out such deployments`,
      );
    }
  });
  for (const d of out) d.commitDate = dates.get(d.sha);

  // Approvals per workflow run.
  const runs = [...new Set(out.map((d) => d.runId).filter((x): x is number => x !== undefined))];
  const reviews = new Map<number, { environments: string[]; state: string; login: string }[]>();
  let approvalsWarned = false;
  await pool(runs, 6, async (id) => {
    const res = await get(`${repoPath}/actions/runs/${id}/approvals`, `get the reviews of run ${id}`);
    if (res.status === 200) {
      reviews.set(
        id,
        res
          .json<any[]>()
          .map((r) => ({ environments: (r.environments ?? []).map((e: { name?: string }) => e.name ?? ''), state: r.state, login: r.user?.login ?? '' })),
      );
    } else if (!approvalsWarned) {
      approvalsWarned = true;
      o.onWarning?.(
        `report: the approvals of run ${id} could not be read (HTTP ${res.status}${res.status === 403 || res.status === 404 ? ': the token needs actions: read' : ''}); "approved by" stays empty for such runs`,
      );
    }
  });
  for (const d of out) {
    const r = d.runId !== undefined ? reviews.get(d.runId) : undefined;
    if (r) d.approvers = [...new Set(r.filter((x) => x.state === 'approved' && x.environments.includes(d.environment)).map((x) => x.login))];
  }
  return { repository: o.repository, deployments: out, requests, truncated };
}

async function pool<T>(items: T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(size, items.length) }, worker));
}
