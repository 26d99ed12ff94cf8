/**
 * A local stand-in for GitHub's REST API (the operations Slipway uses), on 127.0.0.1.
 * Every request is checked against GitHub's own OpenAPI description (the subset extracted by
 * scripts/extract-openapi.ts into test/fixtures/github-openapi-subset.json): the route and method,
 * path and query parameter types, and the JSON body (ajv, required fields, enums such as the
 * deployment states). An invalid body gets GitHub's 422 answer. Answers are shaped like the real
 * ones, and every answer's status code and (2xx) body are checked against the description too, so
 * the fake cannot drift from the contract without a test noticing.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { freePort } from '../servers.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

interface Operation {
  method: string;
  path: string;
  parameters: { name: string; in: string; required: boolean; schema: Record<string, unknown> }[];
  requestBody?: { required: boolean; schema: Record<string, unknown> };
  responses: Record<string, { schema?: Record<string, unknown> }>;
}

const fixture = JSON.parse(readFileSync(new URL('../../fixtures/github-openapi-subset.json', import.meta.url), 'utf8')) as { operations: Record<string, Operation> };
export const OPERATIONS = fixture.operations;

const ajv = new Ajv({ strict: false, allErrors: true, coerceTypes: false, verbose: true });
addFormats(ajv);

/** OpenAPI 3.0's `nullable: true` → JSON Schema (`type: [t, 'null']`, or anyOf with null when there is no type). */
export function toJsonSchema(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(toJsonSchema);
  if (!s || typeof s !== 'object') return s;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'nullable') continue;
    out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v as object).map(([n, x]) => [n, toJsonSchema(x)])) : k === 'enum' || k === 'required' || k === 'default' ? v : toJsonSchema(v);
  }
  if ((s as { nullable?: boolean }).nullable !== true) return out;
  if (typeof out.type === 'string') {
    out.type = [out.type, 'null'];
    if (Array.isArray(out.enum)) out.enum = [...out.enum, null];
    return out;
  }
  return { anyOf: [out, { type: 'null' }] };
}
const bodyValidators = new Map<string, ValidateFunction>();
const responseValidators = new Map<string, ValidateFunction>();
for (const [id, op] of Object.entries(OPERATIONS)) {
  if (op.requestBody) bodyValidators.set(id, ajv.compile(toJsonSchema(op.requestBody.schema) as object));
  for (const [code, r] of Object.entries(op.responses)) if (code.startsWith('2') && r.schema) responseValidators.set(`${id} ${code}`, ajv.compile(toJsonSchema(r.schema) as object));
}

const routes = Object.entries(OPERATIONS).map(([id, op]) => {
  const names: string[] = [];
  const re = new RegExp(`^${op.path.replace(/\{([^}]+)\}/g, (_m, n: string) => { names.push(n); return '([^/]+?)'; }).replace(/\.\.\./g, '\\.\\.\\.')}$`);
  return { id, op, re, names };
});

export interface RecordedRequest {
  operationId?: string;
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  body?: any;
  status: number;
}

export interface FakeDeployment {
  id: number;
  sha: string;
  ref: string;
  task: string;
  environment: string;
  description: string | null;
  payload: unknown;
  transient_environment: boolean;
  production_environment: boolean;
  created_at: string;
  statuses: { id: number; state: string; environment_url: string; log_url: string; description: string; environment: string; created_at: string }[];
}

export interface FakeComment { id: number; issue: number; body: string; created_at: string; updated_at: string }
export interface FakeCommit { sha: string; message: string; author: string; /** Files the commit adds (compare lists them). */ added?: string[]; /** Commit (committer) date, ISO 8601; get-commit answers it. */ date?: string }
/** One entry of a workflow run's environment review log (GET /repos/{o}/{r}/actions/runs/{run_id}/approvals). */
export interface FakeReview { runId: number; environments: string[]; state: 'approved' | 'rejected' | 'pending'; login: string; comment: string }
export interface FakeIssue { number: number; title: string; body: string; labels: string[] }

export interface Injected { status: number; headers?: Record<string, string>; body?: unknown; times?: number }

export interface FakeGithub {
  url: string;
  requests: RecordedRequest[];
  deployments: FakeDeployment[];
  comments: FakeComment[];
  issues: FakeIssue[];
  /** The repository's history, oldest first: compare base...head answers the commits after base up to head. */
  history: FakeCommit[];
  /** Environment reviews of workflow runs (the approvals API answers them per run). */
  reviews: FakeReview[];
  /** The next `times` calls of an operation answer this instead (429 with Retry-After, 403, 500…). */
  inject(operationId: string, answer: Injected): void;
  /** Problems the fake found in its own answers (must stay empty). */
  selfCheck: string[];
  close(): Promise<void>;
}

const DOCS = 'https://docs.github.com/rest';
const user = (login: string, id: number) => {
  const api = `https://api.github.com/users/${encodeURIComponent(login)}`;
  return {
    login, id, node_id: `U_${id}`, avatar_url: `https://avatars.githubusercontent.com/u/${id}`, gravatar_id: '', url: api,
    html_url: `https://github.com/${encodeURIComponent(login)}`, followers_url: `${api}/followers`, following_url: `${api}/following{/other_user}`, gists_url: `${api}/gists{/gist_id}`,
    starred_url: `${api}/starred{/owner}{/repo}`, subscriptions_url: `${api}/subscriptions`, organizations_url: `${api}/orgs`,
    repos_url: `${api}/repos`, events_url: `${api}/events{/privacy}`, received_events_url: `${api}/received_events`, type: 'Bot', site_admin: false,
  };
};

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function checkParam(p: Operation['parameters'][number], raw: string | undefined): string | undefined {
  if (raw === undefined) return p.required ? `missing parameter ${p.name}` : undefined;
  const t = p.schema.type;
  if (t === 'integer' && !/^\d+$/.test(raw)) return `parameter ${p.name} must be an integer (got ${raw})`;
  if (Array.isArray(p.schema.enum) && !p.schema.enum.includes(raw)) return `parameter ${p.name} must be one of ${p.schema.enum.join(', ')}`;
  return undefined;
}

/** GitHub's 422 body for a schema violation. */
function invalid(errors: string[]) {
  return { message: `Invalid request.\n\n${errors.join('\n')}`, documentation_url: DOCS, status: '422' };
}

export async function startFakeGithub(opts: { token: string; repository?: string; port?: number } = { token: 'ghs_fake' }): Promise<FakeGithub> {
  const repository = opts.repository ?? 'acme/shop';
  const requests: RecordedRequest[] = [];
  const deployments: FakeDeployment[] = [];
  const comments: FakeComment[] = [];
  const issues: FakeIssue[] = [];
  const history: FakeCommit[] = [];
  const reviews: FakeReview[] = [];
  const injected = new Map<string, Injected[]>();
  const selfCheck: string[] = [];
  let nextId = 1000;
  let clock = Date.parse('2025-01-01T00:00:00Z');
  const now = () => new Date((clock += 1000)).toISOString();
  const port = opts.port ?? (await freePort());
  const base = `http://127.0.0.1:${port}`;
  const repoUrl = `${base}/repos/${repository}`;

  const deploymentJson = (d: FakeDeployment) => ({
    url: `${repoUrl}/deployments/${d.id}`, id: d.id, node_id: `DE_${d.id}`, sha: d.sha, ref: d.ref, task: d.task, payload: d.payload,
    original_environment: d.environment, environment: d.environment, description: d.description, creator: user('github-actions[bot]', 41898282),
    created_at: d.created_at, updated_at: d.statuses[0]?.created_at ?? d.created_at, statuses_url: `${repoUrl}/deployments/${d.id}/statuses`,
    repository_url: repoUrl, transient_environment: d.transient_environment, production_environment: d.production_environment, performed_via_github_app: null,
  });
  const statusJson = (d: FakeDeployment, s: FakeDeployment['statuses'][number]) => ({
    url: `${repoUrl}/deployments/${d.id}/statuses/${s.id}`, id: s.id, node_id: `DES_${s.id}`, state: s.state, creator: user('github-actions[bot]', 41898282),
    description: s.description, environment: s.environment, target_url: s.log_url, created_at: s.created_at, updated_at: s.created_at,
    deployment_url: `${repoUrl}/deployments/${d.id}`, repository_url: repoUrl, environment_url: s.environment_url, log_url: s.log_url, performed_via_github_app: null,
  });
  const commentJson = (c: FakeComment) => ({
    id: c.id, node_id: `IC_${c.id}`, url: `${repoUrl}/issues/comments/${c.id}`, body: c.body, html_url: `https://github.com/${repository}/pull/${c.issue}#issuecomment-${c.id}`,
    user: user('github-actions[bot]', 41898282), created_at: c.created_at, updated_at: c.updated_at, issue_url: `${repoUrl}/issues/${c.issue}`,
    author_association: 'NONE', performed_via_github_app: null, reactions: undefined,
  });
  const issueJson = (i: FakeIssue) => ({
    id: 500000 + i.number, node_id: `I_${i.number}`, url: `${repoUrl}/issues/${i.number}`, repository_url: repoUrl, labels_url: `${repoUrl}/issues/${i.number}/labels{/name}`,
    comments_url: `${repoUrl}/issues/${i.number}/comments`, events_url: `${repoUrl}/issues/${i.number}/events`, html_url: `https://github.com/${repository}/issues/${i.number}`,
    number: i.number, state: 'open', title: i.title, body: i.body, user: user('github-actions[bot]', 41898282),
    labels: i.labels.map((name, k) => ({ id: k + 1, node_id: `L_${k}`, url: `${repoUrl}/labels/${name}`, name, description: null, color: 'ededed', default: false })),
    assignee: null, assignees: [], milestone: null, locked: false, active_lock_reason: null, comments: 0, pull_request: undefined, closed_at: null,
    created_at: now(), updated_at: now(), closed_by: null, author_association: 'NONE', state_reason: null,
  });

  /** One page of a list, with GitHub's Link header (rel="next" / "last") when there are more pages. */
  const paged = <T>(path: string, q: Record<string, string>, all: T[]): [number, T[], Record<string, string>] => {
    const per = Math.min(100, Number(q.per_page ?? 30));
    const page = Number(q.page ?? 1);
    const last = Math.max(1, Math.ceil(all.length / per));
    const at = (n: number) => `<${base}${path}?${new URLSearchParams({ ...q, per_page: String(per), page: String(n) })}>`;
    const link: Record<string, string> = page < last ? { link: `${at(page + 1)}; rel="next", ${at(last)}; rel="last"` } : {};
    return [200, all.slice((page - 1) * per, page * per), link];
  };

  const handlers: Record<string, (p: Record<string, string>, q: Record<string, string>, body: any) => [number, unknown, Record<string, string>?]> = {
    'repos/create-deployment': (_p, _q, b) => {
      const env = b.environment ?? 'production';
      const d: FakeDeployment = {
        id: ++nextId, sha: /^[0-9a-f]{40}$/.test(b.ref) ? b.ref : `${b.ref}`.padEnd(40, '0').replace(/[^0-9a-f]/g, 'a').slice(0, 40), ref: b.ref, task: b.task ?? 'deploy', environment: env,
        description: b.description ?? '', payload: b.payload ?? {}, transient_environment: b.transient_environment ?? false,
        production_environment: b.production_environment ?? env === 'production', created_at: now(), statuses: [],
      };
      if (b.auto_merge !== false && !Array.isArray(b.required_contexts)) return [409, { message: 'Conflict: required status checks have not passed', documentation_url: DOCS }];
      deployments.unshift(d);
      return [201, deploymentJson(d)];
    },
    'repos/list-deployments': (p, q) => {
      const list = deployments.filter((d) => (!q.environment || d.environment === q.environment) && (!q.sha || d.sha === q.sha) && (!q.ref || d.ref === q.ref) && (!q.task || d.task === q.task));
      const [status, page, link] = paged(`/repos/${p.owner}/${p.repo}/deployments`, q, list);
      return [status, page.map(deploymentJson), link];
    },
    'repos/get-deployment': (p) => {
      const d = deployments.find((x) => x.id === Number(p.deployment_id));
      return d ? [200, deploymentJson(d)] : [404, { message: 'Not Found', documentation_url: DOCS, status: '404' }];
    },
    'repos/create-deployment-status': (p, _q, b) => {
      const d = deployments.find((x) => x.id === Number(p.deployment_id));
      if (!d) return [422, { message: 'Validation Failed', errors: [{ resource: 'DeploymentStatus', code: 'custom', field: 'deployment', message: 'deployment not found' }], documentation_url: DOCS, status: '422' }];
      const s = { id: ++nextId, state: b.state, environment_url: b.environment_url ?? '', log_url: b.log_url ?? b.target_url ?? '', description: b.description ?? '', environment: b.environment ?? d.environment, created_at: now() };
      if (b.environment) d.environment = b.environment;
      d.statuses.unshift(s);
      // GitHub: auto_inactive (default true) marks earlier successful deployments of the same
      // environment inactive, for non-transient, non-production environments.
      if (b.state === 'success' && b.auto_inactive !== false) {
        for (const o of deployments) {
          if (o === d || o.environment !== d.environment || o.transient_environment || o.production_environment) continue;
          if (o.statuses[0]?.state === 'success') o.statuses.unshift({ ...o.statuses[0], id: ++nextId, state: 'inactive', created_at: now() });
        }
      }
      return [201, statusJson(d, s)];
    },
    'repos/list-deployment-statuses': (p, q) => {
      const d = deployments.find((x) => x.id === Number(p.deployment_id));
      if (!d) return [404, { message: 'Not Found', documentation_url: DOCS, status: '404' }];
      const per = Math.min(100, Number(q.per_page ?? 30));
      const page = Number(q.page ?? 1);
      return [200, d.statuses.slice((page - 1) * per, page * per).map((s) => statusJson(d, s))];
    },
    'issues/list-comments': (p, q) => {
      const [status, page, link] = paged(`/repos/${p.owner}/${p.repo}/issues/${p.issue_number}/comments`, q, comments.filter((c) => c.issue === Number(p.issue_number)));
      return [status, page.map(commentJson), link];
    },
    'issues/create-comment': (p, _q, b) => {
      const c = { id: ++nextId, issue: Number(p.issue_number), body: b.body, created_at: now(), updated_at: now() };
      comments.push(c);
      return [201, commentJson(c)];
    },
    'issues/update-comment': (p, _q, b) => {
      const c = comments.find((x) => x.id === Number(p.comment_id));
      if (!c) return [404, { message: 'Not Found', documentation_url: DOCS, status: '404' }];
      c.body = b.body;
      c.updated_at = now();
      return [200, commentJson(c)];
    },
    'issues/create': (_p, _q, b) => {
      const i = { number: issues.length + 1, title: String(b.title), body: b.body ?? '', labels: (b.labels ?? []).map((l: any) => (typeof l === 'string' ? l : l.name)) };
      issues.push(i);
      return [201, issueJson(i)];
    },
    'repos/compare-commits': (p) => {
      const from = history.findIndex((c) => c.sha === p.base);
      const to = history.findIndex((c) => c.sha === p.head);
      if (from < 0 || to < 0) return [404, { message: 'Not Found', documentation_url: DOCS }];
      const api = `https://api.github.com/repos/${repository}`;
      const commit = (c: FakeCommit, i: number) => ({
        url: `${api}/commits/${c.sha}`, sha: c.sha, node_id: `C_${i}`, html_url: `https://github.com/${repository}/commit/${c.sha}`, comments_url: `${api}/commits/${c.sha}/comments`,
        commit: { message: c.message, author: { name: c.author, email: `${c.author}@example.com`, date: now() } }, author: user(c.author, 100 + i), committer: user(c.author, 100 + i), parents: i > 0 ? [{ sha: history[i - 1]!.sha }] : [],
      });
      const between = history.slice(from + 1, to + 1).map((c, k) => commit(c, from + 1 + k));
      const ahead = Math.max(0, to - from);
      return [200, {
        url: `${api}/compare/${p.base}...${p.head}`, html_url: `https://github.com/${repository}/compare/${p.base}...${p.head}`, permalink_url: `https://github.com/${repository}/compare/${p.base}...${p.head}`,
        diff_url: `https://github.com/${repository}/compare/${p.base}...${p.head}.diff`, patch_url: `https://github.com/${repository}/compare/${p.base}...${p.head}.patch`,
        base_commit: commit(history[from]!, from), merge_base_commit: commit(history[from]!, from), status: ahead > 0 ? 'ahead' : 'identical', ahead_by: ahead, behind_by: 0, total_commits: ahead, commits: between,
        files: history.slice(from + 1, to + 1).flatMap((c) => (c.added ?? []).map((filename) => ({
          sha: c.sha, filename, status: 'added', additions: 1, deletions: 0, changes: 1,
          blob_url: `https://github.com/${repository}/blob/${c.sha}/${filename}`, raw_url: `https://github.com/${repository}/raw/${c.sha}/${filename}`,
          contents_url: `${api}/contents/${filename}?ref=${c.sha}`,
        }))),
      }];
    },
    'repos/get-commit': (p) => {
      const i = history.findIndex((c) => c.sha === p.ref);
      const c = history[i];
      if (!c) return [404, { message: 'No commit found for SHA', documentation_url: DOCS, status: '404' }];
      const api = `https://api.github.com/repos/${repository}`;
      const date = c.date ?? '2025-01-01T00:00:00Z';
      const who = { name: c.author, email: `${c.author}@example.com`, date };
      return [200, {
        url: `${api}/commits/${c.sha}`, sha: c.sha, node_id: `C_${i}`, html_url: `https://github.com/${repository}/commit/${c.sha}`, comments_url: `${api}/commits/${c.sha}/comments`,
        commit: { url: `${api}/git/commits/${c.sha}`, author: who, committer: who, message: c.message, comment_count: 0, tree: { sha: c.sha.split('').reverse().join(''), url: `${api}/git/trees/${c.sha}` }, verification: { verified: false, reason: 'unsigned', signature: null, payload: null, verified_at: null } },
        author: user(c.author, 100 + i), committer: user(c.author, 100 + i),
        parents: i > 0 ? [{ sha: history[i - 1]!.sha, url: `${api}/commits/${history[i - 1]!.sha}`, html_url: `https://github.com/${repository}/commit/${history[i - 1]!.sha}` }] : [],
        stats: { additions: 1, deletions: 0, total: 1 }, files: [],
      }];
    },
    'actions/get-reviews-for-run': (p) => {
      const env = (name: string, k: number) => ({ id: 56780000 + k, node_id: `EN_${k}`, name, url: `https://api.github.com/repos/${repository}/environments/${name}`, html_url: `https://github.com/${repository}/deployments/activity_log?environments_filter=${name}`, created_at: '2024-01-01T00:00:00Z', updated_at: '2024-01-01T00:00:00Z' });
      return [200, reviews.filter((r) => r.runId === Number(p.run_id)).map((r, k) => ({ environments: r.environments.map((n) => env(n, k)), state: r.state, user: { ...user(r.login, 7000 + k), type: 'User' }, comment: r.comment }))];
    },
  };

  const send = (res: ServerResponse, rec: RecordedRequest, status: number, body: unknown, headers: Record<string, string> = {}) => {
    rec.status = status;
    requests.push(rec);
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-github-media-type': 'github.v3; format=json', 'x-ratelimit-remaining': '4999', ...headers });
    res.end(text);
  };

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', base);
      const query = Object.fromEntries(url.searchParams);
      const raw = await readBody(req);
      const rec: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, query, headers: req.headers, status: 0 };
      const auth = req.headers.authorization ?? '';
      if (!/^(token|Bearer) /.test(auth) || auth.split(' ')[1] !== opts.token) return send(res, rec, 401, { message: 'Bad credentials', documentation_url: DOCS, status: '401' });
      const route = routes.find((r) => r.op.method === req.method && r.re.test(url.pathname));
      if (!route) return send(res, rec, 404, { message: 'Not Found', documentation_url: DOCS, status: '404' });
      rec.operationId = route.id;
      const m = route.re.exec(url.pathname)!;
      const params: Record<string, string> = {};
      route.names.forEach((n, k) => (params[n] = decodeURIComponent(m[k + 1]!)));
      if (`${params.owner}/${params.repo}` !== repository) return send(res, rec, 404, { message: 'Not Found', documentation_url: DOCS, status: '404' });
      const problems: string[] = [];
      for (const p of route.op.parameters) {
        const problem = checkParam(p, p.in === 'path' ? params[p.name] : p.in === 'query' ? query[p.name] : undefined);
        if (problem) problems.push(problem);
      }
      for (const q of Object.keys(query)) if (!route.op.parameters.some((p) => p.in === 'query' && p.name === q)) problems.push(`unknown query parameter ${q}`);
      let body: any;
      if (route.op.requestBody) {
        if (!/application\/json/.test(req.headers['content-type'] ?? '')) problems.push(`content-type must be application/json (got ${req.headers['content-type']})`);
        try {
          body = raw ? JSON.parse(raw) : undefined;
        } catch {
          return send(res, rec, 400, { message: 'Problems parsing JSON', documentation_url: DOCS, status: '400' });
        }
        rec.body = body;
        if (body === undefined && route.op.requestBody.required) problems.push('a request body is required');
        else if (body !== undefined) {
          const v = bodyValidators.get(route.id)!;
          if (!v(body)) for (const e of v.errors ?? []) problems.push(`${e.instancePath || '(body)'} ${e.message}${e.params && 'allowedValues' in e.params ? `: ${(e.params.allowedValues as string[]).join(', ')}` : ''}`);
        }
      }
      if (problems.length) return send(res, rec, 422, invalid(problems));
      const inj = injected.get(route.id)?.[0];
      if (inj) {
        if (--inj.times! <= 0) injected.get(route.id)!.shift();
        return send(res, rec, inj.status, inj.body ?? { message: `injected ${inj.status}`, documentation_url: DOCS, status: String(inj.status) }, inj.headers);
      }
      const [status, out, headers] = handlers[route.id]!(params, query, body);
      // The fake checks itself against the contract: the status must be one the description lists,
      // and a 2xx body must match the response schema.
      if (!(String(status) in route.op.responses)) selfCheck.push(`${route.id} answered ${status}, which the description does not list`);
      const rv = responseValidators.get(`${route.id} ${status}`);
      if (rv && !rv(JSON.parse(JSON.stringify(out)))) {
        // Real GitHub answers "" for unset URLs (target_url, log_url…) although the description says format: uri.
        const errs = (rv.errors ?? []).filter((e) => !(e.keyword === 'format' && e.data === ''));
        if (errs.length) selfCheck.push(`${route.id} ${status} body: ${ajv.errorsText(errs.slice(0, 3))}`);
      }
      send(res, rec, status, out, headers);
    })().catch((err: Error) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: `fake github crashed: ${err.message}` }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    url: base,
    requests,
    deployments,
    comments,
    issues,
    history,
    reviews,
    selfCheck,
    inject(operationId, answer) {
      if (!(operationId in OPERATIONS)) throw new Error(`unknown operation ${operationId}`);
      const list = injected.get(operationId) ?? [];
      list.push({ ...answer, times: answer.times ?? 1 });
      injected.set(operationId, list);
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
