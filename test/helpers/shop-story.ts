/**
 * What the examples/shop stories share (test/e2e/shop*.test.ts): the shop copied into a git
 * repository with only where things are changed in slipway.yml, PostgreSQL (a database per
 * environment), Prometheus scraping the instances, the webhook receiver, the fake GitHub API, and
 * the workflows run through emulateWorkflow with GitHub's approval (which creates the deployment).
 * Each story brings its own target (fleets, instances) and says where they are in `configure`.
 */
import { expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import pgLib from 'pg';
import { registerSecret, repoRoot } from './runner.ts';
import { startPostgres, startPrometheus, type PostgresServer, type PrometheusServer } from './servers.ts';
import { jobLeaks, type Value } from './workflow-emulator.ts';
import { emulateWorkflow, type WorkflowRun } from './workflow-run.ts';
import { startFakeGithub, type FakeGithub } from './fakes/fake-github.ts';
import { startWebhookReceiver, type WebhookReceiver } from './pipeline-kit.ts';
import { checkDeployWindow, windowSchema, type DeployWindow } from '../../src/policy/deploy-window.ts';

export const SHOP = join(repoRoot, 'examples/shop');
export const SHOP_TOKEN = 'ghs_shopStoryFakeToken0123456789abcdef';
export type ShopEnv = 'staging' | 'production';
/** The runner machine's TLS trust (this machine reaches the npm registry through its own CA): npm ci in the workflows needs it. */
const machineTls = Object.fromEntries(['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR'].flatMap((k) => (process.env[k] ? [[k, process.env[k]!]] : [])));

type Config = { environments: Record<ShopEnv, Record<string, any>> } & Record<string, any>;

export interface ShopStoryOptions {
  /** Names the kept run reports: .tmp/<name>-<run>.md. */
  name: string;
  /** host:port of every app instance, for Prometheus. */
  scrapeTargets: string[];
  /** Prometheus file_sd files with more targets (instances that come and go, such as the fake cluster's pods). */
  scrapeFiles?: string[];
  /** More environment of the runner (e.g. where buildah keeps its storage). */
  runnerEnv?: Record<string, string>;
  /** Says where things are in slipway.yml (url, deploy section): the rest stays as the example has it. */
  configure(config: Config): void;
  /** Secrets of each environment besides DATABASE_URL (e.g. SSH keys), and those of production-rollback. */
  environmentSecrets: Record<ShopEnv | 'production-rollback', Record<string, string>>;
  /** Values that must not reach any log, output or summary, besides the story's own. */
  secretValues?: string[];
}

export interface ShopStory {
  repo: string;
  artifacts: string;
  pg: PostgresServer;
  prom: PrometheusServer;
  gh: FakeGithub;
  receiver: WebhookReceiver;
  environmentSecrets: Record<string, Record<string, string>>;
  secretValues: string[];
  productionWindow: DeployWindow;
  runs: WorkflowRun[];
  git(...args: string[]): string;
  commit(message: string, added?: string[]): string;
  github(sha: string, event?: { [k: string]: Value }): { context: Record<string, Value>; runnerEnv: Record<string, string> };
  approveAndRecord(sha: string, approvals: string[]): (environment: string, job: string, o: { deployment: boolean }) => Promise<boolean>;
  applied(env: ShopEnv): Promise<number>;
  keep(run: string, r: WorkflowRun): void;
  /** The webhook deliveries so far, as "<environment> <event> <signature verified>". */
  notified(): string[];
  ship(sha: string): Promise<{ run: WorkflowRun; approvals: string[] }>;
  rollback(liveSha: string, inputs: Record<string, string>): Promise<{ run: WorkflowRun; approvals: string[] }>;
  /** Checks that no run leaked a secret, then stops every server it started. */
  close(): Promise<void>;
}

export const jobTable = (run: WorkflowRun): string[] => run.order.map((j) => `${j}=${run.jobs[j]!.result}`);
export const failures = (run: WorkflowRun): string[] => run.all.flatMap((j) => j.steps.filter((s) => s.outcome === 'failure').map((s) => `${j.job}/${s.id ?? s.name}: ${s.run?.errors.join(' | ') ?? ''}`));

/** Starts PostgreSQL, Prometheus, the webhook receiver and the fake GitHub API, and makes the repository. */
export async function startShopStory(o: ShopStoryOptions): Promise<ShopStory> {
  const started: Array<{ stop?: () => Promise<void>; close?: () => Promise<void> }> = [];
  const dirs: string[] = [];
  try {
    const pgPassword = `pg-${randomBytes(9).toString('hex')}`;
    const [pg, receiver, gh] = await Promise.all([startPostgres({ password: pgPassword }), startWebhookReceiver(), startFakeGithub({ token: SHOP_TOKEN, repository: 'acme/shop' })]);
    started.push(pg, receiver, gh);
    for (const env of ['staging', 'production']) await pg.psql(`create database shop_${env}`);
    const prom = await startPrometheus({ targets: o.scrapeTargets, scrapeInterval: '1s', fileSd: o.scrapeFiles });
    started.push(prom);

    // The repository: the example as a user copies it (server.js is the sample app), in git.
    const repo = mkdtempSync(join(tmpdir(), `slipway-${o.name}-`));
    const artifacts = mkdtempSync(join(tmpdir(), `slipway-${o.name}-artifacts-`));
    dirs.push(repo, artifacts);
    cpSync(SHOP, repo, { recursive: true, dereference: true });
    const config = YAML.parse(readFileSync(join(SHOP, 'slipway.yml'), 'utf8')) as Config;
    const productionWindow = windowSchema.parse(config.environments.production.window);
    o.configure(config);
    // A gate that watches seconds instead of minutes, on this machine's Prometheus.
    for (const env of ['staging', 'production'] as const) {
      const e = config.environments[env];
      Object.assign(e.gate, { 'prometheus-url': prom.url, window: '20s', duration: '8s', interval: '4s', 'min-samples': '30' });
      e.smoke.deadline = '10s';
    }
    writeFileSync(join(repo, 'slipway.yml'), YAML.stringify(config));

    const dbUrl = (env: string) => pg.url.replace(/\/postgres$/, `/shop_${env}`);
    const environmentSecrets: Record<string, Record<string, string>> = {
      staging: { DATABASE_URL: dbUrl('staging'), ...o.environmentSecrets.staging },
      production: { DATABASE_URL: dbUrl('production'), ...o.environmentSecrets.production },
      'production-rollback': { ...o.environmentSecrets['production-rollback'] },
    };
    const secretValues = [pgPassword, receiver.secret, new URL(receiver.url).pathname.slice(1), ...(o.secretValues ?? [])];
    registerSecret(...secretValues);
    const runs: WorkflowRun[] = [];

    const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 'ada', GIT_AUTHOR_EMAIL: 'ada@example.com', GIT_COMMITTER_NAME: 'ada', GIT_COMMITTER_EMAIL: 'ada@example.com' } }).trim();
    git('init', '-q', '-b', 'main');
    const commit = (message: string, added: string[] = []) => {
      git('add', '-A');
      git('commit', '-q', '-m', message);
      const sha = git('rev-parse', 'HEAD');
      gh.history.push({ sha, message, author: 'ada', added });
      return sha;
    };
    const github = (sha: string, event: { [k: string]: Value } = {}) => ({
      context: { token: SHOP_TOKEN, api_url: gh.url, repository: 'acme/shop', sha, ref: 'refs/heads/main', server_url: 'https://github.com', run_id: String(100 + runs.length), event },
      runnerEnv: { ...machineTls, ...o.runnerEnv, GITHUB_REPOSITORY: 'acme/shop', GITHUB_SHA: sha, GITHUB_API_URL: gh.url, GITHUB_SERVER_URL: 'https://github.com', GITHUB_RUN_ID: String(100 + runs.length) },
    });
    /** What GitHub does once a job's environment lets it start: a deployment for the commit (unless the job turned that off). */
    const approveAndRecord = (sha: string, approvals: string[]) => async (environment: string, job: string, opt: { deployment: boolean }) => {
      approvals.push(`${job} → ${environment}`);
      if (opt.deployment) {
        const r = await fetch(`${gh.url}/repos/acme/shop/deployments`, {
          method: 'POST',
          headers: { authorization: `Bearer ${SHOP_TOKEN}`, accept: 'application/vnd.github+json', 'content-type': 'application/json' },
          body: JSON.stringify({ ref: sha, environment, auto_merge: false, required_contexts: [], production_environment: environment === 'production' }),
        });
        expect(r.status).toBe(201);
      }
      return true;
    };
    /** The number of migrations applied to an environment's database. */
    const applied = async (env: ShopEnv): Promise<number> => {
      const c = new pgLib.Client({ connectionString: environmentSecrets[env]!.DATABASE_URL });
      await c.connect();
      try {
        return Number((await c.query('select count(*) as n from slipway_migrations')).rows[0].n);
      } finally {
        await c.end();
      }
    };
    const keep = (name: string, run: WorkflowRun) => {
      mkdirSync(join(repoRoot, '.tmp'), { recursive: true });
      writeFileSync(join(repoRoot, `.tmp/${o.name}-${name}.md`), run.all.map((j) => `# ${j.job}: ${j.status}\n${j.steps.map((s) => `${s.post ? 'post:' : ''}${s.id ?? s.name}=${s.outcome}${s.run?.errors.length ? ` — ${s.run.errors.join(' | ')}` : ''}${s.outcome === 'failure' && s.kind === 'run' ? `\n${s.run?.stdout.slice(-1500)}\n${s.run?.stderr.slice(-1500)}` : ''}`).join('\n')}\n\n${j.summary}`).join('\n\n'));
    };
    const notifySecrets = { WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: receiver.secret };
    /** deploy.yml for the commit at HEAD, as a push (or a dispatch with an override when production's deploy window is closed now). */
    const ship = async (sha: string) => {
      const closed = !checkDeployWindow(productionWindow, new Date()).allowed;
      const event: { [k: string]: Value } = closed ? { inputs: { 'window-override': 'end-to-end test outside the deploy window' } } : {};
      const approvals: string[] = [];
      const g = github(sha, event);
      const run = await emulateWorkflow({ workflow: join(repo, '.github/workflows/deploy.yml'), workspace: repo, artifacts, github: g.context, runnerEnv: g.runnerEnv, secrets: notifySecrets, environmentSecrets, approve: approveAndRecord(sha, approvals), stepTimeoutMs: 120_000 });
      runs.push(run);
      return { run, approvals };
    };
    /** rollback.yml, dispatched while liveSha is live. */
    const rollback = async (liveSha: string, inputs: Record<string, string>) => {
      const approvals: string[] = [];
      const g = github(liveSha, { inputs });
      const run = await emulateWorkflow({ workflow: join(repo, '.github/workflows/rollback.yml'), workspace: repo, inputs, github: g.context, runnerEnv: g.runnerEnv, secrets: notifySecrets, environmentSecrets, approve: approveAndRecord(liveSha, approvals), stepTimeoutMs: 120_000 });
      runs.push(run);
      return { run, approvals };
    };
    return {
      repo, artifacts, pg, prom, gh, receiver, environmentSecrets, secretValues, productionWindow, runs,
      git, commit, github, approveAndRecord, applied, keep, ship, rollback,
      notified: () => receiver.deliveries.map((d) => `${String(d.body.environment)} ${d.event} ${d.verified}`),
      async close() {
        try {
          for (const r of runs) for (const j of r.all) expect(jobLeaks(j, secretValues)).toEqual([]);
        } finally {
          await Promise.allSettled([pg.stop(), prom.stop(), receiver.close(), gh.close()]);
          for (const d of dirs) rmSync(d, { recursive: true, force: true });
        }
      },
    };
  } catch (e) {
    await Promise.allSettled(started.map((s) => (s.stop ?? s.close)!.call(s)));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    throw e;
  }
}
