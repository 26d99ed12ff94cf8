import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeGithub, type FakeGithub } from '../../helpers/fakes/fake-github.ts';
import { findOpenDeployment, githubClient, lastSuccessfulDeployment, type GithubClient } from '../../../src/notify/github.ts';
import { sendNotification } from '../../../src/notify/send.ts';
import { renderReleasePlan } from '../../../src/notify/plan.ts';
import { commentMarker, type NotifyEvent } from '../../../src/notify/message.ts';
import { MemoryReporter } from '../../../src/lib/report.ts';

const TOKEN = 'ghs_fakeTokenForTests123';
const SHA1 = '1111111111111111111111111111111111111111';
const SHA2 = '2222222222222222222222222222222222222222';
const SHA3 = '3333333333333333333333333333333333333333';
let gh: FakeGithub;
let client: GithubClient;

beforeAll(async () => {
  gh = await startFakeGithub({ token: TOKEN, repository: 'acme/shop' });
  client = await githubClient({ token: TOKEN, repository: 'acme/shop', apiUrl: gh.url, deadlineMs: 10_000 });
});
afterAll(() => gh?.close());
// The fake checks its own answers against GitHub's description; a problem there is a test failure.
afterEach(() => expect(gh.selfCheck.splice(0)).toEqual([]));

const event = (over: Partial<NotifyEvent> = {}): NotifyEvent => ({
  kind: 'started',
  environment: 'production',
  repository: 'acme/shop',
  version: { label: 'v1', sha: SHA1, image: 'ghcr.io/acme/shop', digest: `sha256:${'1'.repeat(64)}` },
  runUrl: 'https://github.com/acme/shop/actions/runs/1',
  environmentUrl: 'https://shop.example.com',
  details: {},
  ...over,
});

const cfg = (over: Record<string, unknown> = {}) => ({ channels: ['github' as const], github: { token: TOKEN, repository: 'acme/shop', apiUrl: gh.url, ...over } });

describe('GitHub deployments', () => {
  it('creates a deployment on start, and the succeeded step finds and finishes it', async () => {
    const log = new MemoryReporter();
    const started = await sendNotification(event(), cfg(), { log });
    expect(started.failed).toEqual([]);
    const id = started.deploymentId!;
    const create = gh.requests.find((r) => r.operationId === 'repos/create-deployment')!;
    expect(create.body).toMatchObject({ ref: SHA1, environment: 'production', auto_merge: false, required_contexts: [], payload: { slipway: { version: { label: 'v1', sha: SHA1 } } } });
    const d = gh.deployments.find((x) => x.id === id)!;
    expect(d.statuses[0]).toMatchObject({ state: 'in_progress', log_url: 'https://github.com/acme/shop/actions/runs/1', environment_url: 'https://shop.example.com' });

    const done = await sendNotification(event({ kind: 'succeeded' }), cfg(), { log });
    expect(done.deploymentId).toBe(id);
    expect(done.results[0]!.detail).toBe(`deployment ${id} (found open) → success`);
    expect(gh.deployments.filter((x) => x.sha === SHA1)).toHaveLength(1);
    expect(d.statuses[0]).toMatchObject({ state: 'success' });
    const statusReq = gh.requests.filter((r) => r.operationId === 'repos/create-deployment-status').at(-1)!;
    expect(statusReq.body).toMatchObject({ state: 'success', auto_inactive: true, environment_url: 'https://shop.example.com' });
    expect(statusReq.body.description.length).toBeLessThanOrEqual(140);
  });

  it('reuses a given deployment id and can post inactive', async () => {
    const d = await client.createDeployment({ ref: SHA1, environment: 'preview-42', transient: true });
    const r = await sendNotification(event({ kind: 'succeeded', environment: 'preview-42' }), cfg({ deploymentId: d.id, state: 'inactive' }), { log: new MemoryReporter() });
    expect(r.results[0]).toMatchObject({ ok: true, detail: `deployment ${d.id} (given) → inactive` });
    expect(gh.deployments.find((x) => x.id === d.id)!.statuses[0]!.state).toBe('inactive');
  });

  it('finds the last good version after a failed deploy, reading the version back from the payload', async () => {
    const log = new MemoryReporter();
    const env = 'staging';
    await sendNotification(event({ environment: env, kind: 'succeeded', version: { label: 'v1', sha: SHA1 } }), cfg({ reuseOpenDeployment: false }), { log });
    await sendNotification(event({ environment: env, kind: 'succeeded', version: { label: 'v2', sha: SHA2 } }), cfg({ reuseOpenDeployment: false }), { log });
    // staging is not a production environment: GitHub marks v1 inactive when v2 succeeds.
    expect(gh.deployments.find((x) => x.environment === env && x.sha === SHA1)!.statuses[0]!.state).toBe('inactive');
    await sendNotification(event({ environment: env, kind: 'started', version: { label: 'v3', sha: SHA3 } }), cfg(), { log });
    await sendNotification(event({ environment: env, kind: 'rolled-back', version: { label: 'v3', sha: SHA3 } }), cfg(), { log });

    const last = await lastSuccessfulDeployment(client, env);
    expect(last).toMatchObject({ sha: SHA2, version: { label: 'v2' }, state: 'success' });
    // If v2 is found bad later (failure posted on it), the one before it is the last good one.
    await client.createDeploymentStatus(last!.id, { state: 'failure' });
    expect(await lastSuccessfulDeployment(client, env)).toMatchObject({ sha: SHA1, version: { label: 'v1' }, state: 'inactive' });
    expect(await lastSuccessfulDeployment(client, env, { excludeSha: SHA1 })).toBeUndefined();
    expect(await lastSuccessfulDeployment(client, 'nowhere')).toBeUndefined();
    expect(await findOpenDeployment(client, env, SHA3)).toBeUndefined();
  });

  it('waits out a rate limit (429 + Retry-After) and posts the status', async () => {
    gh.inject('repos/create-deployment-status', { status: 429, headers: { 'retry-after': '1' }, body: { message: 'API rate limit exceeded', documentation_url: 'https://docs.github.com/rest' } });
    const r = await sendNotification(event({ environment: 'rl', kind: 'started' }), cfg(), { log: new MemoryReporter() });
    expect(r.failed).toEqual([]);
    const calls = gh.requests.filter((x) => x.operationId === 'repos/create-deployment-status' && x.path.includes(`/${r.deploymentId}/`));
    expect(calls.map((c) => c.status)).toEqual([429, 201]);
  });

  it('explains a missing permission and keeps going with the other channels', async () => {
    gh.inject('repos/create-deployment', { status: 403, body: { message: 'Resource not accessible by integration', documentation_url: 'https://docs.github.com/rest' } });
    const log = new MemoryReporter();
    const r = await sendNotification(event({ environment: 'perm', kind: 'started' }), { channels: ['github', 'pr-comment'], github: { token: TOKEN, repository: 'acme/shop', apiUrl: gh.url, prNumber: 5 } }, { log });
    expect(r.failed).toEqual(['github']);
    expect(r.results[0]!.error).toMatch(/forbidden \(403 Resource not accessible by integration\): the workflow needs `permissions: deployments: write`/);
    expect(r.results[1]).toMatchObject({ channel: 'pr-comment', ok: true });
    expect(log.text()).toMatch(/warning: notify: github failed/);
  });

  it('refuses a bad token with a clear error and never shows the token', async () => {
    const bad = await githubClient({ token: 'ghs_wrongTokenValue999', repository: 'acme/shop', apiUrl: gh.url });
    const err = await bad.createDeployment({ ref: SHA1, environment: 'x' }).catch((e: Error) => e.message);
    expect(err).toMatch(/the token was rejected \(401 Bad credentials\)/);
    expect(err).not.toContain('ghs_wrongTokenValue999');
  });

  it('GitHub\'s contract refuses an invalid body with 422, and Slipway shows why', async () => {
    const d = await client.createDeployment({ ref: SHA1, environment: 'contract' });
    const err = await client.createDeploymentStatus(d.id, { state: 'done' as never }).catch((e: Error) => e.message);
    expect(err).toMatch(/GitHub refused the request \(422 Invalid request\.\s+\/state must be equal to one of the allowed values: error, failure, inactive, in_progress, queued, pending, success/);
  });
});

describe('PR comment and incident issue', () => {
  it('keeps one comment per key, updated in place, found by its hidden marker', async () => {
    gh.comments.push({ id: 1, issue: 12, body: 'someone else', created_at: '2025-01-01T00:00:00Z', updated_at: '2025-01-01T00:00:00Z' });
    const first = await client.upsertComment(12, 'migrate-lint', 'round 1');
    const second = await client.upsertComment(12, 'migrate-lint', 'round 2');
    const other = await client.upsertComment(12, 'deploy-staging', 'deploy');
    expect(first.action).toBe('created');
    expect(second).toMatchObject({ action: 'updated', id: first.id });
    expect(other.action).toBe('created');
    const mine = gh.comments.filter((c) => c.issue === 12 && c.body.includes(commentMarker('migrate-lint')));
    expect(mine).toHaveLength(1);
    expect(mine[0]!.body).toBe(`${commentMarker('migrate-lint')}\nround 2`);
    expect(gh.comments.filter((c) => c.issue === 12)).toHaveLength(3);
  });

  it('finds its comment past the first page of 100', async () => {
    for (let i = 0; i < 130; i++) gh.comments.push({ id: 90_000 + i, issue: 77, body: `chatter ${i}`, created_at: '2025-01-01T00:00:00Z', updated_at: '2025-01-01T00:00:00Z' });
    gh.comments.push({ id: 99_999, issue: 77, body: `${commentMarker('k')}\nold`, created_at: '2025-01-01T00:00:00Z', updated_at: '2025-01-01T00:00:00Z' });
    const r = await client.upsertComment(77, 'k', 'new');
    expect(r).toMatchObject({ action: 'updated', id: 99_999 });
  });

  it('opens an incident issue on rollback (on-rollback: open-issue) with the post-mortem template', async () => {
    const r = await sendNotification(
      event({ kind: 'rolled-back', environment: 'incident-env', reason: 'error ratio 4% > 1%', previousVersion: { label: 'v0' }, details: { gate: { verdict: 'fail', objectives: [{ objective: 'error-ratio', measured: '4%', threshold: '1%', samples: 900, verdict: 'fail' }] } } }),
      { channels: [], onRollback: 'open-issue', github: { token: TOKEN, repository: 'acme/shop', apiUrl: gh.url, issueLabels: ['incident', 'slipway'] } },
      { log: new MemoryReporter() },
    );
    expect(r.failed).toEqual([]);
    const issue = gh.issues.at(-1)!;
    expect(r.issueNumber).toBe(issue.number);
    expect(r.issueUrl).toBe(`https://github.com/acme/shop/issues/${issue.number}`);
    expect(issue.title).toBe('Incident: Deploy of shop v1 to incident-env rolled back to v0');
    expect(issue.labels).toEqual(['incident', 'slipway']);
    for (const s of ['| error-ratio | 4% | 1% | 900 | fail |', '### Impact', '### How we prevent it', SHA1, 'error ratio 4% > 1%']) expect(issue.body).toContain(s);
  });

  it('does not open an issue for other events', async () => {
    const before = gh.issues.length;
    await sendNotification(event({ kind: 'failed' }), { channels: [], onRollback: 'open-issue', github: { token: TOKEN, repository: 'acme/shop', apiUrl: gh.url } }, { log: new MemoryReporter() });
    expect(gh.issues.length).toBe(before);
  });
});

describe('release plan for the approver', () => {
  it('lists the commits since the environment\'s last successful deployment', async () => {
    const env = 'production-plan';
    const shas = ['a', 'b', 'c', 'd'].map((ch) => ch.repeat(40));
    gh.history.push(
      { sha: shas[0]!, message: 'Initial release', author: 'ada' },
      { sha: shas[1]!, message: 'Add display names\n\nLong body', author: 'grace' },
      { sha: shas[2]!, message: 'Fix | pipes in titles', author: 'linus' },
      { sha: shas[3]!, message: 'Index users by created_at', author: 'ada' },
    );
    await sendNotification(event({ environment: env, kind: 'succeeded', version: { label: 'v1', sha: shas[0] } }), cfg({ reuseOpenDeployment: false }), { log: new MemoryReporter() });
    const github = { token: TOKEN, repository: 'acme/shop', apiUrl: gh.url };
    const plan = await renderReleasePlan({ event: event({ environment: env, kind: 'approval-waiting', version: { sha: shas[3] } }), github });
    expect(plan).toContain('### Commits since the live deployment (3)');
    expect(plan).toMatch(/\*\*Live now, and what a rollback returns to\*\* \| v1 \(aaaaaaa\), deployed /);
    const rows = plan.split('\n').filter((l) => l.startsWith('| [`'));
    expect(rows.map((l) => /\[`(\w+)`\]/.exec(l)![1])).toEqual(['ddddddd', 'ccccccc', 'bbbbbbb']);
    expect(plan).toContain('Fix \\| pipes in titles');
    expect(plan).not.toContain('Long body');
    const first = await renderReleasePlan({ event: event({ environment: 'never-deployed', kind: 'approval-waiting', version: { sha: shas[3] } }), github });
    expect(first).toContain('No successful deployment to never-deployed yet: this release is the first.');
  });
});
