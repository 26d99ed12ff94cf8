/**
 * report.yml's job emulated step by step (GitHub's parser loads it, expressions are GitHub's own,
 * run: steps run in bash) against the fake GitHub API with the seeded deployment history
 * (test/helpers/deployment-history.ts): the page lands in the run's artifact store as
 * slipway-report/report.html, and the job summary holds the DORA figures as a table, with the
 * values computed by hand from the fixture. The Slipway checkout (.slipway) is this repository.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeGithub, type FakeGithub } from '../helpers/fakes/fake-github.ts';
import { seedHistory } from '../helpers/deployment-history.ts';
import { emulateJob, jobLeaks } from '../helpers/workflow-emulator.ts';
import { repoRoot } from '../helpers/runner.ts';

const TOKEN = 'ghs_reportWorkflowFakeToken0123456789';

describe('report.yml end to end (fake GitHub API, seeded history)', () => {
  let gh: FakeGithub;
  let workspace: string;
  let artifacts: string;

  beforeAll(async () => {
    gh = await startFakeGithub({ token: TOKEN, repository: 'acme/shop' });
    seedHistory(gh);
    workspace = mkdtempSync(join(tmpdir(), 'slipway-report-wf-'));
    artifacts = mkdtempSync(join(tmpdir(), 'slipway-report-artifacts-'));
    // What the checkout step fetches: Slipway at v1 (here, this checkout with its dependencies installed).
    symlinkSync(repoRoot, join(workspace, '.slipway'));
  });
  afterAll(async () => {
    await gh?.close();
    for (const d of [workspace, artifacts]) if (d) rmSync(d, { recursive: true, force: true });
  });

  const run = (inputs: Record<string, string>) =>
    emulateJob({
      workflow: '.github/workflows/report.yml',
      job: 'report',
      inputs,
      github: { token: TOKEN, repository: 'acme/shop', api_url: gh.url },
      workspace,
      artifacts,
      runnerEnv: { GITHUB_REPOSITORY: 'acme/shop', GITHUB_API_URL: gh.url },
    });

  it('publishes the page as an artifact and the figures as a table in the job summary', async () => {
    const job = await run({ environment: 'production', since: '90d' });
    expect(job.steps.map((s) => `${s.id ?? s.uses ?? s.name}=${s.outcome}`)).toEqual([
      'actions/checkout@d23441a48e516b6c34aea4fa41551a30e30af803=success',
      'actions/setup-node@249970729cb0ef3589644e2896645e5dc5ba9c38=success',
      'Install the CLI\'s runtime dependencies=success',
      'report=success',
      'actions/upload-artifact@b7c566a772e6b6bfb58ed0dc250532a479d7789f=success',
    ]);
    expect(job.status).toBe('success');
    expect(job.outputs.artifact).toBe('slipway-report');
    expect(job.steps[0]!.with).toMatchObject({ repository: 'slipway-org/slipway', path: '.slipway', 'persist-credentials': 'false' });
    const page = join(artifacts, 'slipway-report', 'report.html');
    expect(existsSync(page)).toBe(true);
    const html = readFileSync(page, 'utf8');
    expect(html).toContain('Deployments of acme/shop');
    expect(html).toContain('40.0%');
    expect(html).not.toContain(TOKEN);
    // The summary: one row per environment with the hand-computed figures (see the fixture).
    expect(job.summary).toContain('| Environment | Running now | Deployment frequency | Lead time (median, n) | Change failure rate | Time to restore (median, n) |');
    expect(job.summary).toMatch(/\| production \| v1\.5 \(`c5c5c5c`\) \| 1\.0\/month \(3 in 90d\) \| 4\.3h \(3\) \| 40\.0% \(2\/5\) \| 12\.4h \(2\) \|/);
    expect(job.summary).toContain('Change failure rate: deployments of a change that failed or were rolled back');
    expect(job.summary).toContain('**slipway-report** artifact');
    expect(jobLeaks(job, [TOKEN])).toEqual([]);
    // Only reads, each checked against GitHub's description.
    expect(gh.selfCheck).toEqual([]);
    expect(new Set(gh.requests.map((r) => `${r.method} ${r.operationId}`))).toEqual(new Set(['GET repos/list-deployments', 'GET repos/list-deployment-statuses', 'GET repos/get-commit', 'GET actions/get-reviews-for-run']));
  }, 120_000);

  it('a bad since fails the job with one line before any request, and nothing is published', async () => {
    const before = gh.requests.length;
    rmSync(join(artifacts, 'slipway-report'), { recursive: true, force: true });
    const job = await run({ since: 'last year' });
    expect(job.status).toBe('failure');
    expect(job.byId.report!.run!.stderr).toMatch(/^slipway: report: --since: got "last year"; expected a duration/);
    expect(job.steps.at(-1)!.outcome).toBe('skipped');
    expect(existsSync(join(artifacts, 'slipway-report'))).toBe(false);
    expect(gh.requests.length).toBe(before);
  }, 120_000);
});
