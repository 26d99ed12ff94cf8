/**
 * examples/shop with the command target (examples/shop/targets/command.yml): the team's own
 * platform CLI (examples/shop/ops/instance.sh) starts `node server.js` per instance as a detached
 * process with a pid file, stops it, says its version, and drains it in nginx's upstream file.
 * The shop's slipway.yml gets the command `deploy:` sections in place of the hosts ones; only where
 * things are changes (instance ports, the CLI's --root, the upstream file, nginx.conf) and how long
 * the gate watches. Against real servers: nginx in front of each environment (staging 2 instances,
 * production 3), PostgreSQL (a database per environment), Prometheus scraping every instance, the
 * webhook receiver, the fake GitHub API (test/helpers/shop-story.ts, shared with shop.test.ts).
 *   1. deploy.yml, first push: the release folder built once → staging → release plan → production
 *      after approval; every instance runs the commit, started by the CLI from the kept release.
 *   2. deploy.yml, second push (a new migration): both environments move on; traffic through nginx
 *      all along with drained instances out of it.
 *   3. rollback.yml (production-rollback, no secrets but the database-free ones): production back on
 *      the first release, which the CLI kept; found through GitHub's deployments API.
 * Every process the story starts is stopped by PID in afterAll (the instances by their pid files).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { freePort, requireServer, startNginx, stopProcess, type NginxServer } from '../helpers/servers.ts';
import { failedOf, startTraffic, type Traffic } from '../helpers/pipeline-kit.ts';
import { failures, jobTable, SHOP, startShopStory, type ShopEnv, type ShopStory } from '../helpers/shop-story.ts';
import { versionAt } from '../integration/deploy/hosts-fleet.ts';

const ok = requireServer('postgres') && requireServer('nginx') && requireServer('prometheus');
const ENVS = ['staging', 'production'] as const;

interface Site {
  root: string;
  upstreamFile: string;
  nginx: NginxServer;
  instances: string[];
}

/** The pids of the instances the CLI started under root (its pid files). */
function instancePids(root: string): number[] {
  const run = join(root, 'run');
  if (!existsSync(run)) return [];
  return readdirSync(run).filter((f) => f.endsWith('.pid')).map((f) => Number(readFileSync(join(run, f), 'utf8').trim())).filter((p) => p > 0);
}

describe.skipIf(!ok)('examples/shop through deploy.yml and rollback.yml (command target: the shop\'s own CLI, real servers)', () => {
  let story: ShopStory;
  let dir: string;
  const sites = {} as Record<ShopEnv, Site>;
  const traffic: Traffic[] = [];
  /** What each instance of an environment answers on /version, straight from its port. */
  const served = (env: ShopEnv) => Promise.all(sites[env].instances.map((i) => versionAt(`http://${i}`)));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'slipway-shop-command-'));
    const sizes = { staging: 2, production: 3 };
    for (const env of ENVS) {
      const root = join(dir, env);
      mkdirSync(root);
      const instances: string[] = [];
      for (let k = 0; k < sizes[env]; k++) instances.push(`127.0.0.1:${await freePort()}`);
      const upstreamFile = join(dir, `upstream-${env}.conf`);
      writeFileSync(upstreamFile, `upstream shop_${env} {\n${instances.map((i) => `  server ${i};`).join('\n')}\n  keepalive 16;\n}\n`);
      const nginx = await startNginx({
        workerProcesses: 2,
        config: ({ port }) =>
          [`include ${upstreamFile};`, 'server {', `  listen 127.0.0.1:${port};`, '  location / {', `    proxy_pass http://shop_${env};`, '    proxy_http_version 1.1;', '    proxy_set_header Connection "";', '    proxy_next_upstream error timeout http_502 http_503;', '  }', '}'].join('\n'),
      });
      sites[env] = { root, upstreamFile, nginx, instances };
    }
    // The command deploy sections as the example has them; where things are on this machine.
    const targets = YAML.parse(readFileSync(join(SHOP, 'targets/command.yml'), 'utf8')) as { environments: Record<ShopEnv, { deploy: Record<string, unknown> }> };
    story = await startShopStory({
      name: 'shop-command',
      scrapeTargets: ENVS.flatMap((e) => sites[e].instances),
      configure(config) {
        for (const env of ENVS) {
          const s = sites[env];
          const deploy = structuredClone(targets.environments[env].deploy);
          expect(deploy.target).toBe('command');
          const where: Record<string, string> = { [`/srv/shop/${env}`]: s.root, [`/etc/nginx/conf.d/shop-${env}.conf`]: s.upstreamFile, '/etc/nginx/nginx.conf': s.nginx.confPath };
          for (const [k, v] of Object.entries(deploy)) if (Array.isArray(v) && k.endsWith('-command')) deploy[k] = v.map((a: string) => where[a] ?? a);
          expect((deploy['instances'] as string[]).length).toBe(s.instances.length);
          deploy['instances'] = s.instances;
          Object.assign(deploy, { 'ready-interval': '100ms' });
          config.environments[env].deploy = deploy;
          config.environments[env].url = s.nginx.url;
        }
      },
      environmentSecrets: { staging: {}, production: {}, 'production-rollback': {} },
    });
    traffic.push(startTraffic(sites.staging.nginx.url), startTraffic(sites.production.nginx.url));
  }, 180_000);

  afterAll(async () => {
    await Promise.all(traffic.map((t) => t.stop()));
    // The instances the CLI started (detached, so not children of this process): by their pid files.
    for (const env of ENVS) for (const pid of instancePids(sites[env]?.root ?? '/nonexistent')) await stopProcess({ pid, startTime: undefined, label: `shop instance ${pid}` }, { signal: 'SIGTERM', graceMs: 3000 }).catch(() => {});
    await Promise.allSettled(ENVS.map((e) => sites[e]?.nginx.stop()));
    try {
      await story?.close();
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  let first = '';
  let second = '';

  it('1. first push: built once → staging → release plan → production after approval, every instance started by the CLI', async () => {
    first = story.commit('shop: products and orders', ['migrations/0001_create_products.sql', 'migrations/0002_add_products_price_cents.sql', 'migrations/0003_create_orders.sql']);
    const { run, approvals } = await story.ship(first);
    story.keep('first', run);
    expect(failures(run)).toEqual([]);
    expect(jobTable(run.jobs.ship!.call!)).toEqual(['build=success', 'staging=success', 'release-plan=success', 'production=success']);
    expect(approvals).toEqual(['deploy → staging', 'deploy → production']);
    for (const env of ENVS) {
      expect(await served(env)).toEqual(sites[env].instances.map(() => first));
      expect(await versionAt(sites[env].nginx.url)).toBe(first);
      expect(await story.applied(env)).toBe(3);
      // The CLI kept the release folder built once, and nothing is drained in nginx's upstream.
      expect(existsSync(join(sites[env].root, 'releases', first, 'server.js'))).toBe(true);
      expect(readFileSync(sites[env].upstreamFile, 'utf8')).not.toContain(' down;');
      expect(instancePids(sites[env].root)).toHaveLength(sites[env].instances.length);
    }
    // The deploy step rolled the instances one batch after another with the CLI.
    const deploy = run.jobs.ship!.call!.jobs.production!.call!.jobs.deploy!.run!.byId.deploy!;
    expect(deploy.outcome).toBe('success');
    const live = story.gh.deployments.filter((d) => d.sha === first).map((d) => [d.environment, d.statuses[0]?.state]);
    expect(live).toEqual(expect.arrayContaining([['staging', 'success'], ['production', 'success']]));
    expect(story.gh.selfCheck).toEqual([]);
    expect(story.notified()).toEqual(['staging started true', 'staging succeeded true', 'production started true', 'production succeeded true']);
  }, 600_000);

  it('2. second push with a new migration: both environments move on, traffic through nginx all along', async () => {
    writeFileSync(join(story.repo, 'migrations/0004_add_products_stock.sql'), 'ALTER TABLE products ADD COLUMN stock integer;\n');
    second = story.commit('products: stock', ['migrations/0004_add_products_stock.sql']);
    story.receiver.deliveries.length = 0;
    const since = traffic[1]!.mark();
    const { run } = await story.ship(second);
    const during = since();
    story.keep('second', run);
    expect(failures(run)).toEqual([]);
    expect(jobTable(run.jobs.ship!.call!)).toEqual(['build=success', 'staging=success', 'release-plan=success', 'production=success']);
    const plan = run.jobs.ship!.call!.jobs['release-plan']!.run!.summary;
    expect(plan).toContain('### Migrations this release applies (1)');
    expect(plan).toContain('### Commits since the live deployment (1)');
    for (const env of ENVS) {
      expect(await served(env)).toEqual(sites[env].instances.map(() => second));
      expect(await story.applied(env)).toBe(4);
    }
    // Users of production through nginx during this deploy saw both versions and (each instance drained
    // before its stop) almost no failed request.
    console.log(`production traffic during the second deploy: ${JSON.stringify(during)}`);
    const { total, failed } = failedOf(during);
    expect(during[`${first} 200`]).toBeGreaterThan(0);
    expect(during[`${second} 200`]).toBeGreaterThan(0);
    expect(failed / total).toBeLessThan(0.01);
  }, 600_000);

  it('3. rollback.yml in the emergency environment: production back on the first release the CLI kept', async () => {
    story.receiver.deliveries.length = 0;
    const { run, approvals } = await story.rollback(second, { environment: 'production', reason: 'stock counts are wrong' });
    story.keep('rollback', run);
    expect(failures(run)).toEqual([]);
    expect(approvals).toEqual(['rollback → production-rollback']);
    const job = run.jobs.rollback!.call!.jobs.rollback!.run!;
    expect(job.byId.target!.outputs).toMatchObject({ version: first, sha: first });
    expect(await served('production')).toEqual(sites.production.instances.map(() => first));
    expect(await versionAt(sites.production.nginx.url)).toBe(first);
    expect(await served('staging')).toEqual(sites.staging.instances.map(() => second));
    const latest = story.gh.deployments.filter((d) => d.environment === 'production').at(-1)!;
    expect([latest.sha, latest.statuses[0]?.state]).toEqual([first, 'success']);
    expect(story.notified()).toEqual(['production rolled-back true']);
    expect(story.gh.selfCheck).toEqual([]);
  }, 300_000);
});
