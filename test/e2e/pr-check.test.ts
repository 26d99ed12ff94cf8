/**
 * pr-check.yml's migration-lint job as a pull request runs it, emulated step by step (its Slipway
 * steps from the dist bundles) in a real git repository, against the fake GitHub API (which checks
 * each request against GitHub's OpenAPI description):
 *   a clean PR: the lint passes and one PR comment says so;
 *   the next push adds a dangerous migration: the check fails with an annotation on the file's line,
 *   and the same comment is updated in place (not a second one).
 * Before the fix, the comment step handed migrate's violations (a JSON list) to notify's details
 * (a map) and failed on every PR that ran the lint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeGithub, type FakeGithub } from '../helpers/fakes/fake-github.ts';
import { emulateJob, type JobRun } from '../helpers/workflow-emulator.ts';
import { repoRoot } from '../helpers/runner.ts';

const TOKEN = 'ghs_prCheckFakeToken0123456789abcdef';

describe('pr-check.yml migration lint on a pull request (git, fake GitHub API)', () => {
  let gh: FakeGithub;
  let repo: string;
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 'ada', GIT_AUTHOR_EMAIL: 'ada@example.com', GIT_COMMITTER_NAME: 'ada', GIT_COMMITTER_EMAIL: 'ada@example.com' } }).trim();

  beforeAll(async () => {
    gh = await startFakeGithub({ token: TOKEN, repository: 'acme/shop' });
    repo = mkdtempSync(join(tmpdir(), 'slipway-pr-'));
    git('init', '-q', '-b', 'main');
    cpSync(join(repoRoot, 'examples/app/migrations'), join(repo, 'migrations'), { recursive: true });
    git('add', '.');
    git('commit', '-q', '-m', 'base');
  });
  afterAll(async () => {
    await gh?.close();
    if (repo) rmSync(repo, { recursive: true, force: true });
  });

  const lintJob = (base: string, head: string): Promise<JobRun> =>
    emulateJob({
      workflow: '.github/workflows/pr-check.yml',
      job: 'migration-lint',
      workspace: repo,
      github: {
        token: TOKEN, api_url: gh.url, repository: 'acme/shop', sha: head,
        event: { pull_request: { number: 7, base: { sha: base }, head: { sha: head } } },
      },
      runnerEnv: { GITHUB_REPOSITORY: 'acme/shop', GITHUB_SHA: head, GITHUB_API_URL: gh.url, GITHUB_SERVER_URL: 'https://github.com', GITHUB_RUN_ID: '11', GITHUB_EVENT_NAME: 'pull_request' },
      stepTimeoutMs: 90_000,
    });

  let commentId = 0;
  it('a clean PR: the lint passes and one PR comment says so', async () => {
    const base = git('rev-parse', 'HEAD');
    writeFileSync(join(repo, 'migrations/0004_add_users_bio.sql'), 'ALTER TABLE users ADD COLUMN bio text;\n');
    git('add', '.');
    git('commit', '-q', '-m', 'add bio');
    const job = await lintJob(base, git('rev-parse', 'HEAD'));
    const table = job.steps.map((s) => `${s.id ?? s.name}=${s.outcome}${s.run?.errors.length ? ` (${s.run.errors.join(' | ')})` : ''}`);
    expect(table).toEqual([
      'actions/checkout@d23441a48e516b6c34aea4fa41551a30e30af803=success',
      'changed=success',
      'lint=success',
      'One PR comment, updated in place=success',
    ]);
    expect(job.byId.changed!.outputs.files).toBe('migrations/0004_add_users_bio.sql');
    expect(gh.comments.map((c) => c.issue)).toEqual([7]);
    expect(gh.comments[0]!.body).toContain('Migration lint passed');
    // What the reviewer reads first is about the check, not a deploy.
    expect(gh.comments[0]!.body).toMatch(/^### ✅ Migration safety: the changed migrations passed the lint$/m);
    expect(gh.comments[0]!.body).not.toMatch(/Deploy(ed)? of|to pull-request/);
    expect(gh.comments[0]!.body).toContain('**Migration lint:** ✅ no findings');
    commentId = gh.comments[0]!.id;
    expect(gh.selfCheck).toEqual([]);
  }, 180_000);

  it('the next push adds a dangerous migration: annotation on its line, the check fails, the same comment is updated', async () => {
    const base = git('rev-list', '--max-parents=0', 'HEAD');
    writeFileSync(join(repo, 'migrations/0005_items_sku.sql'), '-- a new required column\nALTER TABLE users ADD COLUMN sku text NOT NULL;\n');
    git('add', '.');
    git('commit', '-q', '-m', 'require a sku');
    const job = await lintJob(base, git('rev-parse', 'HEAD'));
    expect(job.byId.lint!.outcome).toBe('failure');
    expect(job.status).toBe('failure');
    const annotations = job.byId.lint!.run!.annotations.filter((a) => a.level === 'error' && a.props.file);
    expect(annotations.map((a) => [a.props.file, a.props.line])).toContainEqual(['migrations/0005_items_sku.sql', '2']);
    // One comment, edited in place: the marker finds it again.
    expect(gh.comments).toHaveLength(1);
    expect(gh.comments[0]!.id).toBe(commentId);
    const body = gh.comments[0]!.body;
    expect(body).toContain('Migration lint found problems');
    expect(body).toMatch(/\| ❌ \| migrations\/0005_items_sku\.sql:2 \| `add-column-not-null-without-default` \|/);
    expect(body).not.toContain('no findings');
    expect(gh.selfCheck).toEqual([]);
  }, 180_000);
});
