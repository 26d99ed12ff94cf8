/**
 * examples/shop, a user's repository as Slipway expects it (the app, its migrations, slipway.yml and
 * three workflows that call Slipway's reusable ones), run as GitHub would run it: whole workflows,
 * job after job (test/helpers/workflow-run.ts), reusable workflows called with their `with:` and
 * `secrets:`, environment secrets that only the jobs in that environment see, and required
 * reviewers on `production`. Against real servers: two hosts fleets (sshd + nginx; staging 2 hosts,
 * production 3), PostgreSQL (a database per environment), Prometheus scraping every instance, a
 * webhook receiver that checks signatures, and the fake GitHub API (checked against GitHub's
 * OpenAPI description). Only where things are (hosts, ports, URLs) and how long the gate watches
 * are changed in the shop's slipway.yml; everything else is the example as users copy it.
 *   1. pr.yml on a pull request that adds a dangerous migration: the app's unit tests pass, the
 *      migration lint fails with an annotation on the file's line.
 *   2. deploy.yml, first push: release folder built once → staging → release plan → production
 *      after approval; both fleets and both databases on the commit; the team told.
 *   3. deploy.yml, second push (a new migration): the plan lists it and the one commit since the
 *      live deployment; production moves on.
 *   4. rollback.yml (emergency environment, no reviewers): production goes back to the last
 *      successful deployment before the live one, found through GitHub's deployments API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import pgLib from 'pg';
import { registerSecret, repoRoot } from '../helpers/runner.ts';
import { requireServer, startPostgres, startPrometheus, type PostgresServer, type PrometheusServer } from '../helpers/servers.ts';
import { jobLeaks, type Value } from '../helpers/workflow-emulator.ts';
import { emulateWorkflow, type WorkflowRun } from '../helpers/workflow-run.ts';
import { startFakeGithub, type FakeGithub } from '../helpers/fakes/fake-github.ts';
import { startTraffic, startWebhookReceiver, type Traffic, type WebhookReceiver } from '../helpers/pipeline-kit.ts';
import { startHostsFleet, versionAt, type HostsFleet } from '../integration/deploy/hosts-fleet.ts';
import { checkDeployWindow, windowSchema, type DeployWindow } from '../../src/lib/deploy-window.ts';

const ok = requireServer('postgres') && requireServer('sshd') && requireServer('nginx') && requireServer('prometheus');
const TOKEN = 'ghs_shopStoryFakeToken0123456789abcdef';
const SHOP = join(repoRoot, 'examples/shop');
/** The runner machine's TLS trust (this machine reaches the npm registry through its own CA): npm ci in the workflows needs it. */
const machineTls = Object.fromEntries(['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR'].flatMap((k) => (process.env[k] ? [[k, process.env[k]!]] : [])));

describe.skipIf(!ok)('examples/shop through pr.yml, deploy.yml and rollback.yml (hosts target, real servers)', () => {
  let fleets: Record<'staging' | 'production', HostsFleet>;
  let pg: PostgresServer;
  let prom: PrometheusServer;
  let gh: FakeGithub;
  let receiver: WebhookReceiver;
  let repo: string;
  let artifacts: string;
  let secretValues: string[];
  let environmentSecrets: Record<string, Record<string, string>>;
  let productionWindow: DeployWindow;
  const traffic: Traffic[] = [];
  const runs: WorkflowRun[] = [];
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 'ada', GIT_AUTHOR_EMAIL: 'ada@example.com', GIT_COMMITTER_NAME: 'ada', GIT_COMMITTER_EMAIL: 'ada@example.com' } }).trim();
  const commit = (message: string, added: string[] = []) => {
    git('add', '-A');
    git('commit', '-q', '-m', message);
    const sha = git('rev-parse', 'HEAD');
    gh.history.push({ sha, message, author: 'ada', added });
    return sha;
  };
  const github = (sha: string, event: { [k: string]: Value } = {}) => ({
    context: { token: TOKEN, api_url: gh.url, repository: 'acme/shop', sha, ref: 'refs/heads/main', server_url: 'https://github.com', run_id: String(100 + runs.length), event },
    runnerEnv: { ...machineTls, GITHUB_REPOSITORY: 'acme/shop', GITHUB_SHA: sha, GITHUB_API_URL: gh.url, GITHUB_SERVER_URL: 'https://github.com', GITHUB_RUN_ID: String(100 + runs.length) },
  });
  /** What GitHub does once a job's environment lets it start: a deployment for the commit (unless the job turned that off). */
  const approveAndRecord = (sha: string, approvals: string[]) => async (environment: string, job: string, o: { deployment: boolean }) => {
    approvals.push(`${job} → ${environment}`);
    if (o.deployment) {
      const r = await fetch(`${gh.url}/repos/acme/shop/deployments`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, accept: 'application/vnd.github+json', 'content-type': 'application/json' },
        body: JSON.stringify({ ref: sha, environment, auto_merge: false, required_contexts: [], production_environment: environment === 'production' }),
      });
      expect(r.status).toBe(201);
    }
    return true;
  };
  /** The number of migrations applied to an environment's database. */
  const applied = async (env: string): Promise<number> => {
    const c = new pgLib.Client({ connectionString: environmentSecrets[env]!.DATABASE_URL });
    await c.connect();
    try {
      return Number((await c.query('select count(*) as n from slipway_migrations')).rows[0].n);
    } finally {
      await c.end();
    }
  };
  const jobTable = (run: WorkflowRun): string[] => run.order.map((j) => `${j}=${run.jobs[j]!.result}`);
  const failures = (run: WorkflowRun): string[] => run.all.flatMap((j) => j.steps.filter((s) => s.outcome === 'failure').map((s) => `${j.job}/${s.id ?? s.name}: ${s.run?.errors.join(' | ') ?? ''}`));
  const keep = (name: string, run: WorkflowRun) => {
    mkdirSync(join(repoRoot, '.tmp'), { recursive: true });
    writeFileSync(join(repoRoot, `.tmp/shop-${name}.md`), run.all.map((j) => `# ${j.job}: ${j.status}\n${j.steps.map((s) => `${s.post ? 'post:' : ''}${s.id ?? s.name}=${s.outcome}${s.run?.errors.length ? ` — ${s.run.errors.join(' | ')}` : ''}${s.outcome === 'failure' && s.kind === 'run' ? `\n${s.run?.stdout.slice(-1500)}\n${s.run?.stderr.slice(-1500)}` : ''}`).join('\n')}\n\n${j.summary}`).join('\n\n'));
  };

  /** deploy.yml for the commit at HEAD, as a push (or a dispatch with an override when production's deploy window is closed now). */
  const ship = async (sha: string) => {
    const closed = !checkDeployWindow(productionWindow, new Date()).allowed;
    const event: { [k: string]: Value } = closed ? { inputs: { 'window-override': 'end-to-end test outside the deploy window' } } : {};
    const approvals: string[] = [];
    const g = github(sha, event);
    const run = await emulateWorkflow({
      workflow: join(repo, '.github/workflows/deploy.yml'),
      workspace: repo,
      artifacts,
      github: g.context,
      runnerEnv: g.runnerEnv,
      secrets: { WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: receiver.secret },
      environmentSecrets,
      approve: approveAndRecord(sha, approvals),
      stepTimeoutMs: 120_000,
    });
    runs.push(run);
    return { run, approvals };
  };

  beforeAll(async () => {
    const pgPassword = `pg-${randomBytes(9).toString('hex')}`;
    const [staging, production, server] = await Promise.all([startHostsFleet(2), startHostsFleet(3), startPostgres({ password: pgPassword })]);
    fleets = { staging, production };
    pg = server;
    for (const env of ['staging', 'production']) await pg.psql(`create database shop_${env}`);
    prom = await startPrometheus({ targets: [...staging.hosts, ...production.hosts].map((h) => `127.0.0.1:${h.appPort}`), scrapeInterval: '1s' });
    [receiver, gh] = await Promise.all([startWebhookReceiver(), startFakeGithub({ token: TOKEN, repository: 'acme/shop' })]);

    // The repository: the example as a user copies it (server.js is the sample app), in git.
    repo = mkdtempSync(join(tmpdir(), 'slipway-shop-'));
    cpSync(SHOP, repo, { recursive: true, dereference: true });
    artifacts = mkdtempSync(join(tmpdir(), 'slipway-shop-artifacts-'));
    const config = YAML.parse(readFileSync(join(SHOP, 'slipway.yml'), 'utf8'));
    productionWindow = windowSchema.parse(config.environments.production.window);
    // Where things are on this machine, and a gate that watches seconds instead of minutes.
    for (const env of ['staging', 'production'] as const) {
      const e = config.environments[env];
      const f = fleets[env];
      e.url = f.url;
      Object.assign(e.deploy, {
        hosts: JSON.parse(f.hostsInput) as unknown,
        'known-hosts': readFileSync(f.ssh.knownHostsPath, 'utf8'),
        'nginx-host': 'local',
        'nginx-upstream-file': f.upstreamFile,
        'nginx-command': JSON.stringify(f.nginxCommand),
        'ready-interval': '100ms',
        'drain-timeout': '3s',
      });
      Object.assign(e.gate, { 'prometheus-url': prom.url, window: '20s', duration: '8s', interval: '4s', 'min-samples': '30' });
      e.smoke.deadline = '10s';
    }
    writeFileSync(join(repo, 'slipway.yml'), YAML.stringify(config));
    git('init', '-q', '-b', 'main');

    const key = (f: HostsFleet) => readFileSync(f.ssh.keyPath, 'utf8');
    const dbUrl = (env: string) => pg.url.replace(/\/postgres$/, `/shop_${env}`);
    // Environment secrets: each environment its own database and SSH key; production-rollback (no
    // reviewers, for emergencies) holds production's key.
    environmentSecrets = {
      staging: { DATABASE_URL: dbUrl('staging'), SSH_PRIVATE_KEY: key(staging) },
      production: { DATABASE_URL: dbUrl('production'), SSH_PRIVATE_KEY: key(production) },
      'production-rollback': { SSH_PRIVATE_KEY: key(production) },
    };
    secretValues = [pgPassword, receiver.secret, new URL(receiver.url).pathname.slice(1), ...[staging, production].flatMap((f) => key(f).split('\n').filter((l) => l.length > 20))];
    registerSecret(...secretValues);
    traffic.push(startTraffic(staging.url), startTraffic(production.url));
  }, 180_000);

  afterAll(async () => {
    await Promise.all(traffic.map((t) => t.stop()));
    for (const r of runs) for (const j of r.all) expect(jobLeaks(j, secretValues)).toEqual([]);
    await Promise.allSettled([fleets?.staging.stop(), fleets?.production.stop(), pg?.stop(), prom?.stop(), receiver?.close(), gh?.close()]);
    for (const d of [repo, artifacts]) if (d) rmSync(d, { recursive: true, force: true });
  });

  let first = '';
  let second = '';

  it('1. a pull request that adds a dangerous migration: unit tests pass, the lint fails on the line', async () => {
    const base = commit('shop: products and orders', ['migrations/0001_create_products.sql', 'migrations/0002_add_products_price_cents.sql', 'migrations/0003_create_orders.sql']);
    git('checkout', '-q', '-b', 'require-sku-length');
    writeFileSync(join(repo, 'migrations/0004_sku_varchar.sql'), '-- rewrites the whole table under an exclusive lock\nALTER TABLE products ALTER COLUMN sku TYPE varchar(64);\n');
    const head = commit('products: sku is at most 64 characters');
    const g = github(head, { pull_request: { number: 12, base: { sha: base }, head: { sha: head } } });
    const run = await emulateWorkflow({
      workflow: join(repo, '.github/workflows/pr.yml'),
      workspace: repo,
      github: g.context,
      runnerEnv: { ...g.runnerEnv, GITHUB_EVENT_NAME: 'pull_request' },
      stepTimeoutMs: 120_000,
    });
    runs.push(run);
    keep('pr', run);
    const checks = run.jobs.check!.call!;
    expect(jobTable(checks)).toEqual(['checks=success', 'migration-lint=failure']);
    expect(checks.jobs.checks!.run!.steps.filter((s) => s.outcome === 'success').map((s) => s.name)).toEqual(expect.arrayContaining([expect.stringMatching(/unit/i)]));
    const lint = checks.jobs['migration-lint']!.run!;
    const annotations = lint.runs.flatMap((r) => r.annotations).filter((a) => a.level === 'error' && a.props.file);
    expect(annotations.map((a) => [a.props.file, a.props.line])).toContainEqual(['migrations/0004_sku_varchar.sql', '2']);
    expect(gh.comments.filter((c) => c.issue === 12)).toHaveLength(1);
    // Not merged: main goes on without it.
    git('checkout', '-q', 'main');
    git('branch', '-q', '-D', 'require-sku-length');
    gh.history.pop();
    first = base;
  }, 300_000);

  it('2. first push: built once → staging → release plan → production after approval, the team told', async () => {
    const { run, approvals } = await ship(first);
    keep('first', run);
    expect(failures(run)).toEqual([]);
    expect(jobTable(run)).toEqual(['ship=success']);
    expect(jobTable(run.jobs.ship!.call!)).toEqual(['build=success', 'staging=success', 'release-plan=success', 'production=success']);
    expect(approvals).toEqual(['deploy → staging', 'deploy → production']);
    expect(run.outputs).toEqual({}); // deploy.yml is a push workflow: no outputs
    for (const env of ['staging', 'production'] as const) {
      expect(fleets[env].currentVersions().every((v) => v === first)).toBe(true);
      expect(await versionAt(fleets[env].url)).toBe(first);
      expect(await applied(env)).toBe(3);
    }
    // GitHub: one successful deployment per environment, for the commit.
    const live = gh.deployments.filter((d) => d.sha === first).map((d) => [d.environment, d.statuses[0]?.state]); // newest status first
    expect(live).toEqual(expect.arrayContaining([['staging', 'success'], ['production', 'success']]));
    expect(gh.selfCheck).toEqual([]);
    // The approver read the plan before production ran.
    const plan = run.jobs.ship!.call!.jobs['release-plan']!.run!.summary;
    expect(plan).toMatch(/^## Release plan: acme\/shop [0-9a-f]{7} → production/m);
    expect(plan).toContain('### Migrations this release applies (3)');
    const events = receiver.deliveries.map((d) => `${d.body.environment} ${d.event} ${d.verified}`);
    expect(events).toEqual(['staging started true', 'staging succeeded true', 'production started true', 'production succeeded true']);
  }, 600_000);

  it('3. second push with a new migration: the plan lists it and the one commit since the live deployment', async () => {
    writeFileSync(join(repo, 'migrations/0004_add_products_stock.sql'), 'ALTER TABLE products ADD COLUMN stock integer;\n');
    second = commit('products: stock', ['migrations/0004_add_products_stock.sql']);
    receiver.deliveries.length = 0;
    const { run } = await ship(second);
    keep('second', run);
    expect(failures(run)).toEqual([]);
    expect(jobTable(run.jobs.ship!.call!)).toEqual(['build=success', 'staging=success', 'release-plan=success', 'production=success']);
    const plan = run.jobs.ship!.call!.jobs['release-plan']!.run!.summary;
    expect(plan).toContain('### Migrations this release applies (1)');
    expect(plan).toMatch(/\| 0004 \| add_products_stock \| ✅ safe \|/);
    expect(plan).toContain('### Commits since the live deployment (1)');
    expect(plan).toContain('products: stock');
    expect(fleets.production.currentVersions().every((v) => v === second)).toBe(true);
    expect(await applied('production')).toBe(4);
  }, 600_000);

  it('4. rollback.yml in the emergency environment: production back on the first release, found through GitHub deployments', async () => {
    receiver.deliveries.length = 0;
    const approvals: string[] = [];
    const g = github(second, { inputs: { environment: 'production', reason: 'stock counts are wrong' } });
    const run = await emulateWorkflow({
      workflow: join(repo, '.github/workflows/rollback.yml'),
      workspace: repo,
      inputs: { environment: 'production', reason: 'stock counts are wrong' },
      github: g.context,
      runnerEnv: g.runnerEnv,
      secrets: { WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: receiver.secret },
      environmentSecrets,
      approve: approveAndRecord(second, approvals),
      stepTimeoutMs: 120_000,
    });
    runs.push(run);
    keep('rollback', run);
    expect(failures(run)).toEqual([]);
    // It ran in production-rollback (no reviewers) and GitHub made no deployment for it by itself.
    expect(approvals).toEqual(['rollback → production-rollback']);
    const job = run.jobs.rollback!.call!.jobs.rollback!.run!;
    expect(job.byId.target!.outputs).toMatchObject({ version: first, sha: first });
    expect(fleets.production.currentVersions().every((v) => v === first)).toBe(true);
    expect(await versionAt(fleets.production.url)).toBe(first);
    const latest = gh.deployments.filter((d) => d.environment === 'production').at(-1)!;
    expect([latest.sha, latest.statuses[0]?.state]).toEqual([first, 'success']);
    expect(receiver.deliveries.map((d) => `${d.body.environment} ${d.event} ${d.verified}`)).toEqual(['production rolled-back true']);
    expect(gh.selfCheck).toEqual([]);
  }, 300_000);
});
