/**
 * rollback.yml's job emulated step by step (its Slipway steps run from the dist bundles) against a
 * command-target "fleet" (two instances whose version is a file) and the fake GitHub API, which
 * checks every request against GitHub's OpenAPI description:
 * - the fleet goes back to the environment's last successful deployment before the live one, found
 *   through the GitHub deployments API (not the target's own `previous-version`, set to an older
 *   commit here so that the two cannot be confused);
 * - GitHub gets a successful deployment for that restored commit (and none for the dispatching
 *   commit: the job's own environment has deployment: false), so the environment's last successful
 *   deployment is what really runs;
 * - the next release plan counts the commits since the restored commit, not since the bad one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { startFakeGithub, type FakeGithub } from '../helpers/fakes/fake-github.ts';
import { emulateJob } from '../helpers/workflow-emulator.ts';
import { sendNotification } from '../../src/notify/send.ts';
import { renderReleasePlan } from '../../src/notify/plan.ts';
import { MemoryReporter } from '../../src/lib/report.ts';
import type { NotifyEvent } from '../../src/notify/message.ts';

const TOKEN = 'ghs_rollbackWorkflowFakeToken0123456789';
const GOOD = 'a'.repeat(40); // live before the bad release
const BAD = 'b'.repeat(40); // the release being rolled back
const HEAD = 'c'.repeat(40); // main moved on; the rollback is dispatched from here
const OLDER = 'd'.repeat(40); // what the command target's config calls previous: not where GitHub says to go

const event = (over: Partial<NotifyEvent>): NotifyEvent => ({
  kind: 'succeeded',
  environment: 'production',
  repository: 'acme/shop',
  version: {},
  runUrl: 'https://github.com/acme/shop/actions/runs/1',
  details: {},
  ...over,
});

describe('rollback.yml end to end (command target, fake GitHub API)', () => {
  let gh: FakeGithub;
  let workspace: string;
  let state: string;

  beforeAll(async () => {
    gh = await startFakeGithub({ token: TOKEN, repository: 'acme/shop' });
    gh.history.push(
      { sha: GOOD, message: 'Release the good one', author: 'ada' },
      { sha: BAD, message: 'Break checkout', author: 'grace' },
      { sha: HEAD, message: 'Fix checkout', author: 'linus' },
    );
    // GOOD then BAD went live through the pipeline (successful deployments of production).
    const github = { token: TOKEN, repository: 'acme/shop', apiUrl: gh.url };
    for (const sha of [GOOD, BAD]) {
      const r = await sendNotification(event({ kind: 'succeeded', version: { sha, label: sha } }), { channels: ['github'], github: { ...github, reuseOpenDeployment: false } }, { log: new MemoryReporter() });
      expect(r.failed).toEqual([]);
    }

    workspace = mkdtempSync(join(tmpdir(), 'slipway-rollback-wf-'));
    state = join(workspace, 'fleet');
    mkdirSync(state);
    for (const i of ['web1', 'web2']) writeFileSync(join(state, i), BAD);
    const config = {
      version: 1,
      app: { name: 'shop' },
      environments: {
        production: {
          deploy: {
            target: 'command',
            instances: 'web1,web2',
            // The instance's version is a file; the command target passes each value as one argument.
            'start-command': JSON.stringify(['sh', '-c', 'printf %s "$1" > "$2"', 'start', '{version}', `${state}/{instance}`]),
            'version-command': JSON.stringify(['cat', `${state}/{instance}`]),
            'ready-command': JSON.stringify(['true']),
            'previous-version': OLDER,
            batches: '1,100%',
          },
          notify: { channels: 'github' },
        },
      },
    };
    writeFileSync(join(workspace, 'slipway.yml'), YAML.stringify(config));
  }, 60_000);

  afterAll(async () => {
    await gh?.close();
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  it('restores the previous commit, records it as the live deployment, and the next plan starts from it', async () => {
    const before = Math.max(0, ...gh.deployments.map((d) => d.id));
    const job = await emulateJob({
      workflow: '.github/workflows/rollback.yml',
      job: 'rollback',
      inputs: { environment: 'production', reason: 'checkout is broken', 'rollback-environment': 'production-rollback' },
      github: { token: TOKEN, api_url: gh.url, repository: 'acme/shop', sha: HEAD, server_url: 'https://github.com', run_id: '42' },
      runnerEnv: { GITHUB_REPOSITORY: 'acme/shop', GITHUB_SHA: HEAD, GITHUB_API_URL: gh.url, GITHUB_SERVER_URL: 'https://github.com', GITHUB_RUN_ID: '42' },
      workspace,
      stepTimeoutMs: 60_000,
    });
    const table = job.steps.map((s) => `${s.post ? 'post:' : ''}${s.id ?? s.name}=${s.outcome}${s.run?.errors.length ? ` (${s.run.errors.join(' | ')})` : ''}`);
    expect(table.slice(1, 6)).toEqual(['target=success', 'rollback=success', 'restored=success', 'record=success', 'notify=success']);
    expect(job.byId.target!.outputs).toMatchObject({ version: GOOD, sha: GOOD });
    expect(job.status).toBe('success');
    expect(['web1', 'web2'].map((i) => readFileSync(join(state, i), 'utf8'))).toEqual([GOOD, GOOD]);

    // GitHub: one new deployment, for the restored commit, successful; none for HEAD or BAD.
    const created = gh.deployments.filter((d) => d.id > before);
    expect(created.map((d) => [d.sha, d.environment, d.statuses.map((s) => s.state)])).toEqual([[GOOD, 'production', expect.arrayContaining(['success'])]]);
    expect(created[0]!.statuses.every((s) => s.state === 'success')).toBe(true);
    expect(gh.selfCheck).toEqual([]);

    // The next release plan (HEAD waiting for approval) counts from GOOD: BAD and HEAD are pending.
    const plan = await renderReleasePlan({ event: event({ kind: 'approval-waiting', version: { sha: HEAD } }), github: { token: TOKEN, repository: 'acme/shop', apiUrl: gh.url } });
    expect(plan).toContain('### Commits since the live deployment (2)');
    expect(plan).toContain(`Live now, and what a rollback returns to** | ${GOOD.slice(0, 7)}, deployed `);
    expect(job.summary).toMatch(/rolled back|Rollback/i);
  }, 180_000);

  it('a failed rollback records nothing as live', async () => {
    for (const i of ['web1', 'web2']) writeFileSync(join(state, i), BAD);
    const before = Math.max(0, ...gh.deployments.map((d) => d.id));
    const broken = YAML.parse(readFileSync(join(workspace, 'slipway.yml'), 'utf8'));
    broken.environments.production.deploy['ready-command'] = JSON.stringify(['false']);
    broken.environments.production.deploy['ready-timeout'] = '2s';
    writeFileSync(join(workspace, 'slipway-broken.yml'), YAML.stringify(broken));
    const job = await emulateJob({
      workflow: '.github/workflows/rollback.yml',
      job: 'rollback',
      // An explicit version: GitHub's history is not read.
      inputs: { environment: 'production', reason: 'checkout is broken', config: 'slipway-broken.yml', to: GOOD },
      github: { token: TOKEN, api_url: gh.url, repository: 'acme/shop', sha: HEAD, server_url: 'https://github.com', run_id: '43' },
      runnerEnv: { GITHUB_REPOSITORY: 'acme/shop', GITHUB_SHA: HEAD, GITHUB_API_URL: gh.url, GITHUB_SERVER_URL: 'https://github.com', GITHUB_RUN_ID: '43' },
      workspace,
      stepTimeoutMs: 60_000,
    });
    expect(job.byId.target!.outcome).toBe('skipped');
    expect(job.byId.rollback!.outcome).toBe('failure');
    expect(job.byId.record!.outcome).toBe('skipped');
    expect(gh.deployments.filter((d) => d.id > before).filter((d) => d.statuses.some((s) => s.state === 'success'))).toEqual([]);
    // Silence is not an option: the team still hears that the rollback failed.
    expect(job.byId.notify!.outcome).toBe('success');
  }, 180_000);

  it('GitHub answering 502 to the statuses: the rollback still happens, to the version the target kept as previous', async () => {
    for (const i of ['web1', 'web2']) writeFileSync(join(state, i), BAD);
    // curl --retry 3: four answers, all 502.
    gh.inject('repos/list-deployment-statuses', { status: 502, times: 4 });
    const job = await emulateJob({
      workflow: '.github/workflows/rollback.yml',
      job: 'rollback',
      inputs: { environment: 'production', reason: 'checkout is broken', 'rollback-environment': 'production-rollback' },
      github: { token: TOKEN, api_url: gh.url, repository: 'acme/shop', sha: HEAD, server_url: 'https://github.com', run_id: '44' },
      runnerEnv: { GITHUB_REPOSITORY: 'acme/shop', GITHUB_SHA: HEAD, GITHUB_API_URL: gh.url, GITHUB_SERVER_URL: 'https://github.com', GITHUB_RUN_ID: '44' },
      workspace,
      stepTimeoutMs: 60_000,
    });
    expect(job.byId.target!.outcome).toBe('success');
    expect(job.byId.target!.run!.stdout).toMatch(/::warning::could not read the statuses of deployment \d+: going back to the version the target kept as previous/);
    expect(job.byId.target!.outputs).toEqual({});
    expect(job.byId.rollback!.outcome).toBe('success');
    expect(['web1', 'web2'].map((i) => readFileSync(join(state, i), 'utf8'))).toEqual([OLDER, OLDER]);
  }, 180_000);
});
