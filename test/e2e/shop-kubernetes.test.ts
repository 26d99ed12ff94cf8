/**
 * examples/shop with the kubernetes target (examples/shop/targets/kubernetes.yml, k8s/shop.yaml),
 * through the real workflows in the emulator: deploy.yml → pipeline.yml (the image built once with
 * buildah and pushed to a real registry → staging → release plan → production after approval) and
 * rollback.yml. The kubeconfig is an environment secret (KUBECONFIG) of staging, production and
 * production-rollback; staging and production are namespaces of one fake Kubernetes API server
 * (test/helpers/fake-kube) whose pods are real processes (fake-kube/kubelet.ts): each pod runs the
 * image pulled from the registry (its files, Cmd and Env; this machine's node stands in for the
 * base image), Ready only while its readinessProbe answers, the Service reached through a
 * kube-proxy on 127.0.0.1 (the environment's url: smoke tests and users' traffic go through it), and
 * Prometheus scraping the pods (file_sd the kubelet rewrites) for the SLO gate. Real PostgreSQL (a
 * database per environment, given to the pods as a Secret), the webhook receiver, the fake GitHub API.
 *   1. first push: built once → staging (migrate, deploy, smoke, gate) → plan → production; both
 *      Services answer the commit, both Deployments run the one digest.
 *   2. second push with a migration: both environments move on under traffic through the Service.
 *   3. a bad release (half of /work fails): staging's SLO gate rejects it, the rollback step undoes
 *      the rollout, staging's Service answers the previous version, production is never touched.
 *   4. rollback.yml in production-rollback: production back on the first image, by digest, found
 *      through GitHub's deployments.
 * Every process (pods, registry, Prometheus, PostgreSQL) is stopped by PID in afterAll.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { findBinary, freePort, requireServer, startRegistry, type RegistryServer } from '../helpers/servers.ts';
import { node24 } from '../helpers/runner.ts';
import { exec } from '../../src/lib/exec.ts';
import { failedOf, startTraffic, type Traffic } from '../helpers/pipeline-kit.ts';
import { failures, jobTable, SHOP, startShopStory, type ShopEnv, type ShopStory } from '../helpers/shop-story.ts';
import { startFakeKube, type FakeKube } from '../helpers/fake-kube/server.ts';
import { pullImages, startKubelet, type Kubelet } from '../helpers/fake-kube/kubelet.ts';
import { buildahStorage, buildahWorks } from '../integration/build/fixtures.ts';
import type { WorkflowRun } from '../helpers/workflow-run.ts';

const ENVS = ['staging', 'production'] as const;
const probe = findBinary('buildah') ? buildahWorks() : { ok: false, error: 'buildah missing' };
if (!probe.ok && process.env.CI === 'true') throw new Error(`CI=true and buildah cannot build: ${probe.error}`);
const ok = requireServer('postgres') && requireServer('prometheus') && requireServer('registry') && probe.ok && process.env.SLIPWAY_KUBE_REAL !== '1';

/**
 * The image as this machine can build it: no base image can be pulled here and no RUN step can
 * run, so the shop's Dockerfile (FROM node:22-slim, RUN npm ci) becomes FROM scratch with the
 * dependencies npm ci installed beside it; the rest (WORKDIR, ENV, CMD) is the shop's.
 */
const DOCKERFILE = ['FROM scratch', 'WORKDIR /app', 'COPY package.json server.js ./', 'COPY node_modules ./node_modules', 'ENV HOST=0.0.0.0 PORT=8080', 'CMD ["node", "server.js"]', ''].join('\n');

describe.skipIf(!ok)('examples/shop through deploy.yml and rollback.yml (kubernetes target: fake API server, real pod processes, real servers)', () => {
  let dir: string;
  let registry: RegistryServer;
  let storage: ReturnType<typeof buildahStorage>;
  let kube: FakeKube;
  let kubelet: Kubelet;
  let story: ShopStory;
  const urls = {} as Record<ShopEnv, string>;
  const traffic: Traffic[] = [];
  /** The image each commit was built as (build job output), by digest. */
  const images: Record<string, string> = {};

  const ns = (env: ShopEnv) => `shop-${env}`;
  /** version → count over n requests through the environment's Service (what users see). */
  const through = async (env: ShopEnv, n = 20) => {
    const seen: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      let v = 'error';
      try {
        const r = await fetch(`${urls[env]}/version`, { signal: AbortSignal.timeout(3000) });
        v = ((await r.json()) as { version: string }).version;
      } catch {}
      seen[v] = (seen[v] ?? 0) + 1;
    }
    return seen;
  };
  const deploymentImage = (env: ShopEnv) => kube.cluster.get('deployments', ns(env), 'shop').spec.template.spec.containers[0].image as string;
  /** Pods of an environment whose processes run now. */
  const podProcesses = (env: ShopEnv) => Object.keys(kubelet.running()).filter((k) => k.startsWith(`${ns(env)}/`));
  const stagingJob = (run: WorkflowRun) => run.jobs.ship!.call!.jobs.staging!.call!.jobs.deploy!.run!;
  const productionJob = (run: WorkflowRun) => run.jobs.ship!.call!.jobs.production!.call!.jobs.deploy!.run!;
  const builtImage = (run: WorkflowRun) => run.jobs.ship!.call!.jobs.build!.run!.byId.image!.outputs;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'slipway-shop-kubernetes-'));
    storage = buildahStorage();
    registry = await startRegistry();
    kube = await startFakeKube({ namespaces: ENVS.map(ns), tickMs: 50 });
    const ports = { staging: await freePort(), production: await freePort() };
    for (const env of ENVS) urls[env] = `http://127.0.0.1:${ports[env]}`;
    const podsFile = join(dir, 'pods.json');
    kubelet = await startKubelet(kube, {
      images: pullImages({ cacheDir: join(dir, 'images'), binaries: { node: node24 } }),
      servicePorts: { 'shop-staging/shop:80': ports.staging, 'shop-production/shop:80': ports.production },
      scrapeFile: podsFile,
      logDir: join(dir, 'pods'),
    });
    // One kubeconfig per environment (its own context and namespace, its own token), given as the environment's secret.
    const kubeconfigs = {} as Record<ShopEnv, string>;
    const tokens: string[] = [];
    for (const env of ENVS) {
      const token = `kube-${env}-${randomBytes(12).toString('hex')}`;
      tokens.push(token);
      mkdirSync(join(dir, env));
      kubeconfigs[env] = readFileSync(kube.writeKubeconfig(join(dir, env), { context: `shop-${env}`, namespace: ns(env) }), 'utf8').replace('token: fake-token', `token: ${token}`);
    }
    const targets = YAML.parse(readFileSync(join(SHOP, 'targets/kubernetes.yml'), 'utf8')) as { environments: Record<ShopEnv, { deploy: Record<string, unknown> }> };
    story = await startShopStory({
      name: 'shop-kubernetes',
      scrapeTargets: [],
      scrapeFiles: [podsFile],
      runnerEnv: storage.env,
      configure(config) {
        for (const env of ENVS) {
          const deploy = structuredClone(targets.environments[env].deploy);
          expect(deploy).toMatchObject({ target: 'kubernetes', namespace: ns(env), manifests: 'k8s' });
          config.environments[env].deploy = deploy;
          config.environments[env].url = urls[env];
        }
      },
      environmentSecrets: { staging: { KUBECONFIG: kubeconfigs.staging }, production: { KUBECONFIG: kubeconfigs.production }, 'production-rollback': { KUBECONFIG: kubeconfigs.production } },
      secretValues: tokens,
    });
    // The repository as targets/kubernetes.yml says: deploy.yml builds the image (image-name), no release folder.
    const deployYml = join(story.repo, '.github/workflows/deploy.yml');
    const wf = YAML.parse(readFileSync(deployYml, 'utf8'));
    const w = wf.jobs.ship.with;
    delete w['artifact-command'];
    delete w['artifact-path'];
    w['image-name'] = `${registry.host}/acme/shop`;
    writeFileSync(deployYml, YAML.stringify(wf));
    writeFileSync(join(story.repo, 'Dockerfile'), DOCKERFILE);
    // The shop's server.js is a link to the sample app (examples/app): the repository holds the file itself
    // (an image build copies no link that leaves its context, and the bad release below edits it).
    const server = join(story.repo, 'server.js');
    const code = readFileSync(server, 'utf8');
    rmSync(server);
    writeFileSync(server, code);
    execFileSync('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund'], { cwd: story.repo, stdio: 'pipe' });
    // What the cluster's operator creates once per namespace: the database URL as a Secret.
    mkdirSync(join(dir, 'admin'));
    const admin = kube.writeKubeconfig(join(dir, 'admin'), { context: 'admin' });
    for (const env of ENVS) {
      const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'shop-database', namespace: ns(env) }, type: 'Opaque', data: { url: Buffer.from(story.environmentSecrets[env]!.DATABASE_URL!).toString('base64') } };
      // Not execFileSync: the fake API server answers from this process's event loop.
      const r = await exec('kubectl', ['--kubeconfig', admin, 'create', '-f', '-'], { input: JSON.stringify(secret), env: { ...process.env, KUBECACHEDIR: join(dir, 'kubecache') }, timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
    }
    // Users' traffic through each Service from the start (answered once the first deploy created it): the SLO gate judges it.
    // 80 a second: the gate's 8 s window needs ~250 answers to decide at 0 errors against a 2% limit,
    // and at 40 a second the path through kube-proxy delivered 236–363 (one run in three inconclusive).
    traffic.push(startTraffic(urls.staging, 80), startTraffic(urls.production, 80));
  }, 240_000);

  afterAll(async () => {
    await Promise.all(traffic.map((t) => t.stop()));
    await kubelet?.stop(); // the pods' processes, by PID
    try {
      await story?.close();
    } finally {
      await Promise.allSettled([kube?.stop(), registry?.stop()]);
      storage?.cleanup();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  let first = '';
  let second = '';

  it('1. first push: the image built once → staging → release plan → production after approval; both Services answer the commit', async () => {
    first = story.commit('shop: products and orders', ['migrations/0001_create_products.sql', 'migrations/0002_add_products_price_cents.sql', 'migrations/0003_create_orders.sql']);
    const { run, approvals } = await story.ship(first);
    story.keep('first', run);
    expect(failures(run)).toEqual([]);
    expect(jobTable(run.jobs.ship!.call!)).toEqual(['build=success', 'staging=success', 'release-plan=success', 'production=success']);
    expect(approvals).toEqual(['deploy → staging', 'deploy → production']);
    // Built once, pushed to the registry by digest; both environments run that digest.
    const built = builtImage(run);
    expect(built.image).toBe(`${registry.host}/acme/shop@${built.digest}`);
    images[first] = built.image!;
    const tags = (await (await fetch(`${registry.url}/v2/acme/shop/tags/list`)).json()) as { tags: string[] };
    expect(tags.tags.some((t) => first.startsWith(t) || t.includes(first.slice(0, 7)))).toBe(true);
    for (const env of ENVS) {
      expect(deploymentImage(env)).toBe(built.image);
      expect(await through(env)).toEqual({ [first]: 20 });
      expect(podProcesses(env)).toHaveLength(2);
      expect(await story.applied(env)).toBe(3);
    }
    // Each stage's smoke tests and SLO gate ran against the Service and Prometheus's view of the pods.
    for (const job of [stagingJob(run), productionJob(run)]) {
      expect(job.byId.smoke!.outputs.passed).toBe('true');
      expect(job.byId.gate!.outputs.verdict).toBe('pass');
    }
    const scraped = await story.prom.query(`count by (namespace) (http_requests_total{version="${first}"})`);
    expect(scraped.map((s) => s.metric.namespace).sort()).toEqual(['shop-production', 'shop-staging']);
    const plan = run.jobs.ship!.call!.jobs['release-plan']!.run!.summary;
    expect(plan).toContain(built.digest);
    expect(plan).toContain('### Migrations this release applies (3)');
    const live = story.gh.deployments.filter((d) => d.sha === first).map((d) => [d.environment, d.statuses[0]?.state]);
    expect(live).toEqual(expect.arrayContaining([['staging', 'success'], ['production', 'success']]));
    expect(story.gh.selfCheck).toEqual([]);
    expect(story.notified()).toEqual(['staging started true', 'staging succeeded true', 'production started true', 'production succeeded true']);
  }, 600_000);

  it('2. second push with a new migration: both environments move on, users see both versions through the Service', async () => {
    writeFileSync(join(story.repo, 'migrations/0004_add_products_stock.sql'), 'ALTER TABLE products ADD COLUMN stock integer;\n');
    second = story.commit('products: stock', ['migrations/0004_add_products_stock.sql']);
    story.receiver.deliveries.length = 0;
    const since = traffic[1]!.mark();
    const { run } = await story.ship(second);
    const during = since();
    story.keep('second', run);
    expect(failures(run)).toEqual([]);
    expect(jobTable(run.jobs.ship!.call!)).toEqual(['build=success', 'staging=success', 'release-plan=success', 'production=success']);
    images[second] = builtImage(run).image!;
    expect(images[second]).not.toBe(images[first]);
    const plan = run.jobs.ship!.call!.jobs['release-plan']!.run!.summary;
    expect(plan).toContain('### Migrations this release applies (1)');
    for (const env of ENVS) {
      expect(deploymentImage(env)).toBe(images[second]);
      expect(await through(env)).toEqual({ [second]: 20 });
      expect(await story.applied(env)).toBe(4);
    }
    console.log(`production traffic through the Service during the second deploy: ${JSON.stringify(during)}`);
    const { total, failed } = failedOf(during);
    expect(during[`${first} 200`]).toBeGreaterThan(0);
    expect(during[`${second} 200`]).toBeGreaterThan(0);
    expect(failed / total).toBeLessThan(0.01);
  }, 600_000);

  it('3. a bad release (half of /work fails): staging\'s SLO gate rejects it, the rollout is undone, production is never touched', async () => {
    const server = join(story.repo, 'server.js');
    expect(lstatSync(server).isFile()).toBe(true); // never the sample app itself
    const code = readFileSync(server, 'utf8');
    expect(code).toContain('const errorRate = Number(env.ERROR_RATE ?? 0);');
    writeFileSync(server, code.replace('const errorRate = Number(env.ERROR_RATE ?? 0);', 'const errorRate = Number(env.ERROR_RATE ?? 0.5);'));
    const bad = story.commit('work: new pricing path');
    story.receiver.deliveries.length = 0;
    const { run, approvals } = await story.ship(bad);
    story.keep('bad', run);
    const ship = run.jobs.ship!.call!;
    expect(ship.jobs.build!.result).toBe('success');
    expect(ship.jobs.staging!.result).toBe('failure');
    expect(ship.jobs.staging!.outputs.result).toBe('rolled-back');
    expect(ship.jobs.production!.result).toBe('skipped');
    expect(approvals).toEqual(['deploy → staging']);
    const job = stagingJob(run);
    // The pods of the bad image ran and passed smoke (/health answers); the gate saw its errors in Prometheus.
    expect(job.byId.deploy!.outcome).toBe('success');
    expect(job.byId.smoke!.outputs.passed).toBe('true');
    expect(job.byId.gate!.outputs.verdict).toBe('fail');
    expect(job.byId.rollback!.outcome).toBe('success');
    const badErrors = await story.prom.query(`sum(max_over_time(http_requests_total{namespace="shop-staging",version="${bad}",route="/work",code="500"}[10m]))`);
    expect(Number(badErrors[0]?.value[1] ?? 0)).toBeGreaterThan(0);
    // After the rollback: staging's Service answers the previous version only; production never moved.
    expect(deploymentImage('staging')).toBe(images[second]);
    expect(await through('staging')).toEqual({ [second]: 20 });
    expect(deploymentImage('production')).toBe(images[second]);
    expect(await through('production')).toEqual({ [second]: 20 });
    expect(story.notified()).toEqual(['staging started true', 'staging rolled-back true']);
  }, 600_000);

  it('4. rollback.yml in the emergency environment: production back on the first image, by digest, found through GitHub deployments', async () => {
    story.receiver.deliveries.length = 0;
    const { run, approvals } = await story.rollback(second, { environment: 'production', reason: 'stock counts are wrong' });
    story.keep('rollback', run);
    expect(failures(run)).toEqual([]);
    expect(approvals).toEqual(['rollback → production-rollback']);
    const job = run.jobs.rollback!.call!.jobs.rollback!.run!;
    expect(job.byId.target!.outputs).toMatchObject({ version: first, sha: first, image: images[first] });
    expect(deploymentImage('production')).toBe(images[first]);
    expect(await through('production')).toEqual({ [first]: 20 });
    expect(await through('staging')).toEqual({ [second]: 20 });
    const latest = story.gh.deployments.filter((d) => d.environment === 'production').at(-1)!;
    expect([latest.sha, latest.statuses[0]?.state]).toEqual([first, 'success']);
    expect(story.notified()).toEqual(['production rolled-back true']);
    expect(story.gh.selfCheck).toEqual([]);
  }, 300_000);
});
