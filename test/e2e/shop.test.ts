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
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireServer } from '../helpers/servers.ts';
import { emulateWorkflow } from '../helpers/workflow-run.ts';
import { startTraffic, type Traffic } from '../helpers/pipeline-kit.ts';
import { failures, jobTable, startShopStory, type ShopStory } from '../helpers/shop-story.ts';
import { startHostsFleet, versionAt, type HostsFleet } from '../integration/deploy/hosts-fleet.ts';

const ok = requireServer('postgres') && requireServer('sshd') && requireServer('nginx') && requireServer('prometheus');

describe.skipIf(!ok)('examples/shop through pr.yml, deploy.yml and rollback.yml (hosts target, real servers)', () => {
  let fleets: Record<'staging' | 'production', HostsFleet>;
  let story: ShopStory;
  const traffic: Traffic[] = [];

  beforeAll(async () => {
    const [staging, production] = await Promise.all([startHostsFleet(2), startHostsFleet(3)]);
    fleets = { staging, production };
    const key = (f: HostsFleet) => readFileSync(f.ssh.keyPath, 'utf8');
    story = await startShopStory({
      name: 'shop',
      scrapeTargets: [...staging.hosts, ...production.hosts].map((h) => `127.0.0.1:${h.appPort}`),
      // Where things are on this machine (the shared helper makes the gate watch seconds).
      configure(config) {
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
        }
      },
      // Environment secrets: each environment its own database (added by the helper) and SSH key;
      // production-rollback (no reviewers, for emergencies) holds production's key.
      environmentSecrets: { staging: { SSH_PRIVATE_KEY: key(staging) }, production: { SSH_PRIVATE_KEY: key(production) }, 'production-rollback': { SSH_PRIVATE_KEY: key(production) } },
      secretValues: [staging, production].flatMap((f) => key(f).split('\n').filter((l) => l.length > 20)),
    });
    traffic.push(startTraffic(staging.url), startTraffic(production.url));
  }, 180_000);

  afterAll(async () => {
    await Promise.all(traffic.map((t) => t.stop()));
    try {
      await story?.close(); // checks that no run leaked a secret, stops PostgreSQL, Prometheus, the receiver, the fake GitHub
    } finally {
      await Promise.allSettled([fleets?.staging.stop(), fleets?.production.stop()]);
    }
  });

  let first = '';
  let second = '';

  it('1. a pull request that adds a dangerous migration: unit tests pass, the lint fails on the line', async () => {
    const base = story.commit('shop: products and orders', ['migrations/0001_create_products.sql', 'migrations/0002_add_products_price_cents.sql', 'migrations/0003_create_orders.sql']);
    story.git('checkout', '-q', '-b', 'require-sku-length');
    writeFileSync(join(story.repo, 'migrations/0004_sku_varchar.sql'), '-- rewrites the whole table under an exclusive lock\nALTER TABLE products ALTER COLUMN sku TYPE varchar(64);\n');
    const head = story.commit('products: sku is at most 64 characters');
    const g = story.github(head, { pull_request: { number: 12, base: { sha: base }, head: { sha: head } } });
    const run = await emulateWorkflow({
      workflow: join(story.repo, '.github/workflows/pr.yml'),
      workspace: story.repo,
      github: g.context,
      runnerEnv: { ...g.runnerEnv, GITHUB_EVENT_NAME: 'pull_request' },
      stepTimeoutMs: 120_000,
    });
    story.runs.push(run);
    story.keep('pr', run);
    const checks = run.jobs.check!.call!;
    expect(jobTable(checks)).toEqual(['checks=success', 'migration-lint=failure']);
    expect(checks.jobs.checks!.run!.steps.filter((s) => s.outcome === 'success').map((s) => s.name)).toEqual(expect.arrayContaining([expect.stringMatching(/unit/i)]));
    const lint = checks.jobs['migration-lint']!.run!;
    const annotations = lint.runs.flatMap((r) => r.annotations).filter((a) => a.level === 'error' && a.props.file);
    expect(annotations.map((a) => [a.props.file, a.props.line])).toContainEqual(['migrations/0004_sku_varchar.sql', '2']);
    expect(story.gh.comments.filter((c) => c.issue === 12)).toHaveLength(1);
    // Not merged: main goes on without it.
    story.git('checkout', '-q', 'main');
    story.git('branch', '-q', '-D', 'require-sku-length');
    story.gh.history.pop();
    first = base;
  }, 300_000);

  it('2. first push: built once → staging → release plan → production after approval, the team told', async () => {
    const { run, approvals } = await story.ship(first);
    story.keep('first', run);
    expect(failures(run)).toEqual([]);
    expect(jobTable(run)).toEqual(['ship=success']);
    expect(jobTable(run.jobs.ship!.call!)).toEqual(['build=success', 'staging=success', 'release-plan=success', 'production=success']);
    expect(approvals).toEqual(['deploy → staging', 'deploy → production']);
    expect(run.outputs).toEqual({}); // deploy.yml is a push workflow: no outputs
    for (const env of ['staging', 'production'] as const) {
      expect(fleets[env].currentVersions().every((v) => v === first)).toBe(true);
      expect(await versionAt(fleets[env].url)).toBe(first);
      expect(await story.applied(env)).toBe(3);
    }
    // GitHub: one successful deployment per environment, for the commit.
    const live = story.gh.deployments.filter((d) => d.sha === first).map((d) => [d.environment, d.statuses[0]?.state]); // newest status first
    expect(live).toEqual(expect.arrayContaining([['staging', 'success'], ['production', 'success']]));
    expect(story.gh.selfCheck).toEqual([]);
    // The approver read the plan before production ran.
    const plan = run.jobs.ship!.call!.jobs['release-plan']!.run!.summary;
    expect(plan).toMatch(/^## Release plan: acme\/shop [0-9a-f]{7} → production/m);
    expect(plan).toContain('### Migrations this release applies (3)');
    const events = story.notified();
    expect(events).toEqual(['staging started true', 'staging succeeded true', 'production started true', 'production succeeded true']);
  }, 600_000);

  it('3. second push with a new migration: the plan lists it and the one commit since the live deployment', async () => {
    writeFileSync(join(story.repo, 'migrations/0004_add_products_stock.sql'), 'ALTER TABLE products ADD COLUMN stock integer;\n');
    second = story.commit('products: stock', ['migrations/0004_add_products_stock.sql']);
    story.receiver.deliveries.length = 0;
    const { run } = await story.ship(second);
    story.keep('second', run);
    expect(failures(run)).toEqual([]);
    expect(jobTable(run.jobs.ship!.call!)).toEqual(['build=success', 'staging=success', 'release-plan=success', 'production=success']);
    const plan = run.jobs.ship!.call!.jobs['release-plan']!.run!.summary;
    expect(plan).toContain('### Migrations this release applies (1)');
    expect(plan).toMatch(/\| 0004 \| add_products_stock \| ✅ safe \|/);
    expect(plan).toContain('### Commits since the live deployment (1)');
    expect(plan).toContain('products: stock');
    expect(fleets.production.currentVersions().every((v) => v === second)).toBe(true);
    expect(await story.applied('production')).toBe(4);
  }, 600_000);

  it('4. rollback.yml in the emergency environment: production back on the first release, found through GitHub deployments', async () => {
    story.receiver.deliveries.length = 0;
    const { run, approvals } = await story.rollback(second, { environment: 'production', reason: 'stock counts are wrong' });
    story.keep('rollback', run);
    expect(failures(run)).toEqual([]);
    // It ran in production-rollback (no reviewers) and GitHub made no deployment for it by itself.
    expect(approvals).toEqual(['rollback → production-rollback']);
    const job = run.jobs.rollback!.call!.jobs.rollback!.run!;
    expect(job.byId.target!.outputs).toMatchObject({ version: first, sha: first });
    expect(fleets.production.currentVersions().every((v) => v === first)).toBe(true);
    expect(await versionAt(fleets.production.url)).toBe(first);
    const latest = story.gh.deployments.filter((d) => d.environment === 'production').at(-1)!;
    expect([latest.sha, latest.statuses[0]?.state]).toEqual([first, 'success']);
    expect(story.notified()).toEqual(['production rolled-back true']);
    expect(story.gh.selfCheck).toEqual([]);
  }, 300_000);
});
