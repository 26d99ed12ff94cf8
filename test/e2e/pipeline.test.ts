/**
 * The whole pipeline as deploy-environment.yml wires it: its `deploy` job emulated step by step
 * (test/helpers/workflow-emulator.ts), each Slipway step run from its dist bundle, inputs from
 * slipway.yml (SLIPWAY_CONFIG / SLIPWAY_ENVIRONMENT) and the workflow's expressions, against real
 * servers: PostgreSQL (migrations), three sshd "hosts" behind a real nginx (the sample app as the
 * artifact), Prometheus scraping every instance (the SLO gate and the error-budget policy), and a
 * webhook receiver that checks each notification's HMAC signature.
 *   (a) good release v2 over v1: every step green, result=success, every stage in the summary.
 *   (b) bad release v3 (5xx on half the requests): the SLO gate fails, the rollback step puts the
 *       fleet back on v2, notify reports rolled-back, and nothing of v3 serves through nginx.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { findLeaks, registerSecret, repoRoot, runBundle, type BundleRun } from '../helpers/runner.ts';
import { requireServer, startPostgres, startPrometheus, type PostgresServer, type PrometheusServer } from '../helpers/servers.ts';
import { emulateJob, jobLeaks, type JobRun } from '../helpers/workflow-emulator.ts';
import { node24, startHostsFleet, versionAt, type HostsFleet } from '../integration/deploy/hosts-fleet.ts';
import { startTraffic, startWebhookReceiver, type Traffic, type WebhookReceiver } from '../helpers/pipeline-kit.ts';
import { chromium, screenshot } from '../helpers/screenshot.ts';
import { startFakeGithub } from '../helpers/fakes/fake-github.ts';

const ok = requireServer('postgres') && requireServer('sshd') && requireServer('nginx') && requireServer('prometheus');

describe.skipIf(!ok)('deploy-environment.yml end to end (real PostgreSQL, sshd, nginx, Prometheus)', () => {
  let fleet: HostsFleet;
  let pg: PostgresServer;
  let prom: PrometheusServer;
  let receiver: WebhookReceiver;
  let workspace: string;
  let artifacts: string;
  let secrets: Record<string, string>;
  let secretValues: string[];
  const jobs: JobRun[] = [];
  const runs: BundleRun[] = [];
  let traffic: Traffic | undefined;

  const deploy = async (version: string, more: { cancel?: Parameters<typeof emulateJob>[0]['cancel']; override?: string } = {}) => {
    const job = await emulateJob({
      cancel: more.cancel,
      workflow: '.github/workflows/deploy-environment.yml',
      job: 'deploy',
      inputs: { environment: 'staging', version, image: `127.0.0.1:5000/acme/shop:${version}`, artifact: 'slipway-release-test', config: 'slipway.yml', ...(more.override ? { 'window-override': more.override } : {}) },
      // The release folder built once per commit, handed over as a run artifact (pipeline.yml's build job uploads it).
      artifacts,
      secrets,
      github: { token: 'ghs_emulatedTokenNotUsedByWebhookOnly', api_url: 'http://127.0.0.1:9', repository: 'acme/shop', sha: '0123456789abcdef0123456789abcdef01234567' },
      workspace,
      stepTimeoutMs: 120_000,
    });
    jobs.push(job);
    // What a person sees on the run page, kept for a look: .tmp/pipeline-e2e-<version>.md
    mkdirSync(join(repoRoot, '.tmp'), { recursive: true });
    writeFileSync(join(repoRoot, `.tmp/pipeline-e2e-${version}.md`), `${job.steps.map((st) => `${st.post ? 'post:' : ''}${st.id ?? st.name}=${st.outcome}${st.run?.errors.length ? ` — ${st.run.errors.join(' | ')}` : ''}`).join('\n')}\n\n${job.summary}`);
    return job;
  };
  const through = async (n: number) => {
    const seen: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const v = await versionAt(fleet.nginx!.url);
      seen[v] = (seen[v] ?? 0) + 1;
    }
    return seen;
  };
  /** The patterns (one per stage) that do not match the summary's `## ` headings in this order. */
  const headings = (summary: string, want: RegExp[]) => {
    const lines = summary.split('\n').filter((l) => l.startsWith('## '));
    let at = 0;
    const missing: string[] = [];
    for (const re of want) {
      const i = lines.findIndex((l, k) => k >= at && re.test(l));
      if (i < 0) missing.push(`${re} (headings: ${lines.join(' | ')})`);
      else at = i + 1;
    }
    return missing;
  };
  const stepTable = (job: JobRun) => job.steps.map((s) => `${s.post ? 'post:' : ''}${s.id ?? s.name}=${s.outcome}`);

  beforeAll(async () => {
    const pgPassword = `pg-${randomBytes(9).toString('hex')}`;
    [fleet, pg] = await Promise.all([startHostsFleet(3), startPostgres({ password: pgPassword })]);
    prom = await startPrometheus({ targets: fleet.hosts.map((h) => `127.0.0.1:${h.appPort}`), scrapeInterval: '1s' });

    // The bad release: the artifact's start script turns on 5xx for v3 (as a broken build would);
    // v4 boots slowly, so a cancellation lands mid-rollout.
    writeFileSync(join(fleet.artifact, 'start.sh'), '#!/bin/sh\nif [ "$APP_VERSION" = v3 ]; then ERROR_RATE=0.5; export ERROR_RATE; fi\nif [ "$APP_VERSION" = v4 ]; then BOOT_DELAY_MS=1500; export BOOT_DELAY_MS; fi\nexec "$1" server.js\n', { mode: 0o755 });

    receiver = await startWebhookReceiver();
    const hookPath = new URL(receiver.url).pathname;

    const sshKey = readFileSync(fleet.ssh.keyPath, 'utf8');
    secrets = {
      DATABASE_URL: pg.url,
      SSH_PRIVATE_KEY: sshKey,
      WEBHOOK_URL: receiver.url,
      WEBHOOK_SECRET: receiver.secret,
    };
    secretValues = [pgPassword, receiver.secret, hookPath.slice(1), ...sshKey.split('\n').filter((l) => l.length > 20)];
    registerSecret(...secretValues);

    workspace = mkdtempSync(join(tmpdir(), 'slipway-pipeline-ws-'));
    artifacts = mkdtempSync(join(tmpdir(), 'slipway-pipeline-artifacts-'));
    cpSync(fleet.artifact, join(artifacts, 'slipway-release-test'), { recursive: true });
    cpSync(join(repoRoot, 'examples/app/migrations'), join(workspace, 'migrations'), { recursive: true });
    const config = {
      version: 1,
      app: { name: 'shop' },
      environments: {
        staging: {
          url: fleet.nginx!.url,
          'database-url': '${{ secrets.DATABASE_URL }}',
          migrate: { dir: 'migrations', 'lock-timeout': '5s' },
          deploy: {
            target: 'hosts',
            hosts: JSON.parse(fleet.hostsInput) as unknown,
            'ssh-key': '${{ secrets.SSH_PRIVATE_KEY }}',
            'known-hosts': readFileSync(fleet.ssh.knownHostsPath, 'utf8'),
            // No artifact here: the deploy job downloads the one the build job uploaded (input artifact).
            // A YAML list here becomes "sh,start.sh,…" (src/config/load.ts toInputString joins plain
            // lists with commas), which the argument-list inputs refuse: give them as JSON text.
            'start-command': JSON.stringify(['sh', 'start.sh', node24]),
            'nginx-host': 'local',
            'nginx-upstream-file': fleet.upstreamFile,
            'nginx-command': JSON.stringify(fleet.nginxCommand),
            batches: '1,100%',
            'ready-timeout': '15s',
            'ready-interval': '100ms',
            'drain-timeout': '3s',
          },
          smoke: {
            checks: [
              { path: '/health', expect: { status: 200, json: { status: 'ok' } } },
              { path: '/version', expect: { status: 200 } },
            ],
            deadline: '10s',
          },
          gate: {
            'prometheus-url': prom.url,
            // error ratio of the release; the SLO's burn rate; the budget (policy step) over 10m
            objectives: 'error-ratio <= 5%; slo: 99%; window: 10m; burn-rate: 10@2m/30s',
            selector: 'route="/work"',
            window: '20s',
            duration: '8s',
            interval: '4s',
            'min-samples': '40',
          },
          notify: { channels: 'webhook', 'webhook-url': '${{ secrets.WEBHOOK_URL }}', 'webhook-secret': '${{ secrets.WEBHOOK_SECRET }}' },
        },
      },
    };
    writeFileSync(join(workspace, 'slipway.yml'), YAML.stringify(config));

    // v1 is already deployed (with deploy-rolling alone, from the same slipway.yml) and serving.
    const first = await runBundle('deploy-rolling', { version: 'v1', artifact: fleet.artifact }, { cwd: workspace, timeoutMs: 90_000, env: { SLIPWAY_CONFIG: 'slipway.yml', SLIPWAY_ENVIRONMENT: 'staging', SSH_PRIVATE_KEY: sshKey } });
    runs.push(first);
    expect(first.errors).toEqual([]);
    expect(first.code).toBe(0);
    traffic = startTraffic(fleet.nginx!.url);
    // The policy step's error budget needs requests in the SLO window (increase() needs two scrapes).
    await prom.waitForSeries('sum(increase(http_requests_total{route="/work"}[1m])) > 0', 30_000);
  }, 150_000);

  afterAll(async () => {
    await traffic?.stop();
    for (const r of runs) expect(findLeaks(r, secretValues)).toEqual([]);
    for (const j of jobs) expect(jobLeaks(j, secretValues)).toEqual([]);
    await receiver?.close();
    await Promise.allSettled([fleet?.stop(), pg?.stop(), prom?.stop()]);
    if (workspace) rmSync(workspace, { recursive: true, force: true });
    if (artifacts) rmSync(artifacts, { recursive: true, force: true });
  });

  it('(a) a good release: every stage green, the fleet on v2, the team told', async () => {
    receiver.deliveries.length = 0;
    const job = await deploy('v2');
    const failed = job.steps.filter((s) => s.outcome === 'failure').map((s) => `${s.id}: ${s.run?.errors.join(' | ')}`);
    expect(failed).toEqual([]);
    expect(stepTable(job)).toEqual([
      'actions/checkout@d23441a48e516b6c34aea4fa41551a30e30af803=success',
      'started=success', 'policy=success', 'migrate=success', 'The release folder built once for this commit=success', 'deploy=success', 'smoke=success', 'gate=success',
      'rollback=skipped', 'result=success', 'notify=success', 'post:deploy=success',
    ]);
    expect(job.status).toBe('success');
    expect(job.outputs).toMatchObject({ result: 'success', version: 'v2', 'previous-version': 'v1', 'gate-verdict': 'pass', 'smoke-passed': 'true' });

    // The job summary shows every stage, in order.
    expect(headings(job.summary, [
      /^## Notify: started in staging/,
      /^## SLO gate: ✅ pass/, // the policy: error budget before the deploy
      /^## Migrations: applied 3/,
      /^## Rolling deploy of v2: ✅ deployed/,
      /^## Smoke test passed/,
      /^## SLO gate: ✅ pass/,
      /^## Notify: succeeded in staging/,
    ])).toEqual([]);
    expect(job.byId.policy!.run!.summary).toContain('error budget check before the deploy');
    expect(job.summary).toContain('0003_index_users_created_at');

    // Database migrated, fleet on v2 (on disk, each instance, and through nginx).
    expect(await pg.psql('select count(*) from slipway_migrations')).toBe('3');
    expect(fleet.currentVersions()).toEqual(['v2', 'v2', 'v2']);
    expect(await through(30)).toEqual({ v2: 30 });

    // notify: started, then succeeded, both signed with the webhook secret.
    expect(receiver.deliveries.map((d) => [d.event, d.verified])).toEqual([['started', true], ['succeeded', true]]);
    expect(receiver.deliveries[1]!.body).toMatchObject({ event: 'succeeded', environment: 'staging', version: { label: 'v2' }, previousVersion: { label: 'v1' } });
    expect(receiver.deliveries[1]!.body.durationMs).toBeGreaterThan(0); // started-at passed from the first notify step
  }, 240_000);

  // pipeline.yml's release-plan job with what staging really produced: its report output (written by
  // the result step with jq) becomes the plan's staging table; migrate's lint and slo-gate's window
  // verdict are real step outputs; GitHub is the fake API (no deployment yet: the first release).
  it('(a2) the release plan reads the staging job\'s real outputs', async () => {
    const staging = jobs.find((j) => j.outputs.version === 'v2' && j.outputs.result === 'success')!;
    expect(JSON.parse(staging.outputs.report!)).toMatchObject({ environment: 'staging', result: 'success', version: 'v2', 'smoke-passed': 'true', 'gate-verdict': 'pass' });
    const gh = await startFakeGithub({ token: 'ghs_planFakeToken0123456789abcdef', repository: 'acme/shop' });
    try {
      const plan = await emulateJob({
        workflow: '.github/workflows/pipeline.yml',
        job: 'release-plan',
        inputs: { config: 'slipway.yml', 'production-environment': 'staging', 'migrations-dir': 'migrations' },
        needs: {
          build: { outputs: { image: `127.0.0.1:5000/acme/shop@sha256:${'c'.repeat(64)}`, digest: `sha256:${'c'.repeat(64)}`, artifact: 'slipway-release-test' } },
          staging: { outputs: staging.outputs as Record<string, string> },
        },
        github: { token: 'ghs_planFakeToken0123456789abcdef', api_url: gh.url, repository: 'acme/shop', sha: '0123456789abcdef0123456789abcdef01234567' },
        runnerEnv: { GITHUB_REPOSITORY: 'acme/shop', GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567', GITHUB_API_URL: gh.url, GITHUB_SERVER_URL: 'https://github.com', GITHUB_RUN_ID: '12' },
        workspace,
        stepTimeoutMs: 120_000,
      });
      jobs.push(plan);
      expect(stepTable(plan)).toEqual(['actions/checkout@d23441a48e516b6c34aea4fa41551a30e30af803=success', 'lint=success', 'window=success', 'plan=success']);
      const summary = plan.byId.plan!.run!.summary;
      expect(summary.split('\n').filter((l) => /^#{2,3} /.test(l))).toEqual([
        '## Release plan: acme/shop 0123456 → staging', '### Staging', '### Migrations this release applies (3)', '### Commits', '### Where this plan was sent',
      ]);
      expect(summary).toContain('| Deploy | ✅ success | runs v2 |');
      expect(summary).toMatch(/\| SLO gate \| ✅ pass \| .+ \|/);
      expect(summary).toMatch(/\| \*\*Deploy window\*\* \| ✅ open/);
      expect(summary).toMatch(/\| 0003 \| index_users_created_at \| ✅ safe \|/);
      expect(summary).toContain(`\`sha256:${'c'.repeat(64)}\``);
      expect(gh.selfCheck).toEqual([]);
    } finally {
      await gh.close();
    }
  }, 240_000);

  it('(b) a bad release: the SLO gate fails, the fleet is rolled back to v2, notify says so', async () => {
    receiver.deliveries.length = 0;
    const job = await deploy('v3');
    expect(stepTable(job)).toEqual([
      'actions/checkout@d23441a48e516b6c34aea4fa41551a30e30af803=success',
      'started=success', 'policy=success', 'migrate=success', 'The release folder built once for this commit=success', 'deploy=success', 'smoke=success', 'gate=failure',
      'rollback=success', 'result=success', 'notify=success', 'post:rollback=success', 'post:deploy=success',
    ]);
    expect(job.status).toBe('failure');
    expect(job.byId.gate!.run!.errors.join('\n')).toMatch(/slo-gate: fail: .*error/i);
    expect(job.outputs).toMatchObject({ result: 'rolled-back', version: 'v2', 'previous-version': 'v2', 'gate-verdict': 'fail', 'smoke-passed': 'true' });
    expect(job.byId.rollback!.outputs).toMatchObject({ version: 'v2', 'rolled-back': 'true' });
    expect(job.summary).toMatch(/Rollback to v2/);

    // Nothing of v3 is left serving.
    expect(fleet.currentVersions()).toEqual(['v2', 'v2', 'v2']);
    expect(await through(60)).toEqual({ v2: 60 });

    const events = receiver.deliveries.map((d) => [d.event, d.verified]);
    expect(events).toEqual([['started', true], ['rolled-back', true]]);
    expect(receiver.deliveries[1]!.body).toMatchObject({ event: 'rolled-back', environment: 'staging', version: { label: 'v3' }, previousVersion: { label: 'v2' } });
    expect(JSON.stringify(receiver.deliveries[1]!.body.details)).toMatch(/error ratio/i); // the gate's numbers reach the team

    // What the team reads on the run page, rendered (docs/rolled-back-summary.png).
    if (chromium || process.env.CI === 'true') {
      const { html, png } = await screenshot(job.summary, { width: 1100, height: 2600 });
      expect(html).toContain('<table>');
      expect(html).not.toMatch(/\| --- \|/);
      expect(png.length).toBeGreaterThan(20_000);
      writeFileSync(join(repoRoot, 'docs/rolled-back-summary.png'), png);
    }
  }, 240_000);

  let cancelledJob: JobRun | undefined;
  it('(c) cancelled mid-rollout: the deploy step stops, the job is cancelled, notify says failed', async () => {
    receiver.deliveries.length = 0;
    // v3 spent the error budget (99% over 10m): the policy step lets v4 through only with an override.
    const job = await deploy('v4', { override: 'hotfix for the v3 incident', cancel: { step: 'deploy', when: (out) => /batch 2\/2/.test(out) } });
    cancelledJob = job;
    expect(stepTable(job).slice(0, -1)).toEqual([
      'actions/checkout@d23441a48e516b6c34aea4fa41551a30e30af803=success',
      'started=success', 'policy=success', 'migrate=success', 'The release folder built once for this commit=success', 'deploy=failure', 'smoke=skipped', 'gate=skipped',
      'rollback=skipped', 'result=success', 'notify=success',
    ]);
    expect(job.status).toBe('cancelled');
    expect(job.byId.policy!.run!.summary).toContain('hotfix for the v3 incident');
    expect(job.byId.deploy!.run!.errors.join('\n')).toMatch(/cancelled; the post step rolls back/);
    expect(job.outputs.result).toBe('failure');
    expect(receiver.deliveries.map((d) => [d.event, d.verified])).toEqual([['started', true], ['failed', true]]);
  }, 240_000);

  // The post step reads slipway.yml too (src/runner/run-action.ts hands it the config's inputs), so
  // with the hosts configured there it finds them and undoes the cancelled rollout.
  it('(c) …and the post step puts the switched instances back on v2', async () => {
    const job = cancelledJob!;
    expect(stepTable(job).at(-1)).toBe('post:deploy=success');
    expect(job.summary).toContain('Post step: rolled back the cancelled rollout');
    expect(fleet.currentVersions()).toEqual(['v2', 'v2', 'v2']);
    expect(await through(30)).toEqual({ v2: 30 });
  }, 60_000);

  // GitHub runs steps whose if: uses cancelled() after a cancellation (and a job out of time is
  // cancelled): the deploy had finished and switched the fleet, so only the rollback step can put
  // it back. Before the fix (if: failure() && …) v5 stayed live.
  it('(d) cancelled after the switch, while the SLO gate runs: the rollback step puts the fleet back on v2', async () => {
    receiver.deliveries.length = 0;
    const job = await deploy('v5', { override: 'hotfix for the v3 incident', cancel: { step: 'gate', when: (out) => out.length > 0 } });
    expect(stepTable(job)).toEqual([
      'actions/checkout@d23441a48e516b6c34aea4fa41551a30e30af803=success',
      'started=success', 'policy=success', 'migrate=success', 'The release folder built once for this commit=success', 'deploy=success', 'smoke=success', 'gate=failure',
      'rollback=success', 'result=success', 'notify=success', 'post:rollback=success', 'post:deploy=success',
    ]);
    expect(job.status).toBe('cancelled');
    expect(job.outputs).toMatchObject({ result: 'rolled-back', version: 'v2' });
    expect(fleet.currentVersions()).toEqual(['v2', 'v2', 'v2']);
    expect(await through(30)).toEqual({ v2: 30 });
    expect(receiver.deliveries.map((d) => d.event)).toEqual(['started', 'rolled-back']);
  }, 240_000);
});
