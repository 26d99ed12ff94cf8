/**
 * The all-in-one release action (top-level action.yml, dist/release) driven by slipway.yml, against
 * real PostgreSQL, sshd "hosts" and nginx: a good release goes through every stage; a bad one is
 * caught by the SLO gate after the switch and rolled back; the team is told (signed webhook).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { findLeaks, registerSecret, repoRoot, runBundle, type BundleRun } from '../helpers/runner.ts';
import { requireServer, startPostgres, type PostgresServer } from '../helpers/servers.ts';
import { startHostsFleet, versionAt, node24, type HostsFleet } from '../integration/deploy/hosts-fleet.ts';
import { verifySignature } from '../../src/notify/webhook.ts';

const ok = requireServer('postgres') && requireServer('sshd') && requireServer('nginx');

describe.skipIf(!ok)('release action (slipway.yml → migrate → deploy → smoke → gate → notify)', () => {
  let fleet: HostsFleet;
  let pg: PostgresServer;
  let ws: string;
  let key: string;
  const received: { kind: string; verified: boolean }[] = [];
  let receiver: http.Server;
  let hookUrl = '';
  const hookSecret = 'whsec-Release-7d1f0a';
  const runs: BundleRun[] = [];
  let env: Record<string, string>;

  const config = (artifact: string, extra = '') => `version: 1
app: { name: shop }
environments:
  staging:
    url: ${fleet.nginx!.url}
    database-url: \${{ secrets.DATABASE_URL }}
    migrate:
      dir: migrations
    deploy:
      target: hosts
      hosts: ${JSON.stringify(fleet.hostsInput)}
      ssh-key: \${{ secrets.SSH_KEY }}
      known-hosts: ${JSON.stringify(readFileSync(fleet.ssh.knownHostsPath, 'utf8'))}
      artifact: ${artifact}
      start-command: ${JSON.stringify(JSON.stringify([node24, 'server.js']))}
      nginx-host: local
      nginx-upstream-file: ${fleet.upstreamFile}
      nginx-command: ${JSON.stringify(JSON.stringify(fleet.nginxCommand))}
      batches: "1,100%"
      ready-timeout: 15s
      ready-interval: 100ms
      drain-timeout: 5s
    smoke:
      checks: [{ path: /health, expect: { status: 200 } }]
      deadline: 10s
    gate:
      provider: probe
      urls: ${fleet.nginx!.url}
      paths: /work
      objectives: "error-ratio <= 1%"
      duration: 5s
      interval: 5s
      rate: 120
      min-samples: 100
    notify:
      channels: webhook
      webhook-url: \${{ secrets.WEBHOOK_URL }}
      webhook-secret: \${{ secrets.WEBHOOK_SECRET }}
${extra}`;

  const release = async (version: string, file = 'slipway.yml', inputs: Record<string, string> = {}) => {
    const r = await runBundle('.', { environment: 'staging', version, config: file, ...inputs }, { cwd: ws, env: { ...env, GITHUB_WORKSPACE: ws }, actionYml: join(repoRoot, 'action.yml'), timeoutMs: 150_000 });
    runs.push(r);
    return r;
  };

  beforeAll(async () => {
    [fleet, pg] = await Promise.all([startHostsFleet(2), startPostgres({ password: 'pg-Release-s3cret' })]);
    key = readFileSync(fleet.ssh.keyPath, 'utf8');
    receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const check = verifySignature(hookSecret, body, req.headers);
        received.push({ kind: String(req.headers['x-slipway-event'] ?? '?'), verified: check.ok });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/deploys-token-91fa7c2e0b`;
    registerSecret(key, ...key.split('\n').filter((l) => l.length > 20), pg.password!, hookSecret, hookUrl);
    env = { DATABASE_URL: pg.url, SSH_KEY: key, WEBHOOK_URL: hookUrl, WEBHOOK_SECRET: hookSecret };

    ws = mkdtempSync(join(tmpdir(), 'slipway-release-'));
    cpSync(join(repoRoot, 'examples/app/migrations'), join(ws, 'migrations'), { recursive: true });
    // The bad release: the same app with half its requests failing.
    const bad = join(ws, 'bad-artifact');
    cpSync(fleet.artifact, bad, { recursive: true, verbatimSymlinks: true });
    writeFileSync(join(bad, 'server.js'), `process.env.ERROR_RATE = '0.5';\nawait import('./app.js');\n`);
    cpSync(join(repoRoot, 'examples/app/server.js'), join(bad, 'app.js'));
    writeFileSync(join(ws, 'slipway.yml'), config(fleet.artifact));
    writeFileSync(join(ws, 'slipway-bad.yml'), config(bad));
    writeFileSync(join(ws, 'slipway-closed.yml'), config(fleet.artifact, '    window: { timezone: UTC, deny: [sun, mon, tue, wed, thu, fri, sat] }\n'));
  }, 180_000);

  afterAll(async () => {
    for (const r of runs) expect(findLeaks(r, [key, pg.password!, hookSecret, hookUrl, 'deploys-token-91fa7c2e0b'])).toEqual([]);
    await new Promise<void>((r) => receiver?.close(() => r()));
    await fleet?.stop();
    await pg?.stop();
  });

  it('releases v1 then v2 through every stage', async () => {
    const v1 = await release('v1');
    expect(v1.errors).toEqual([]);
    expect(v1.outputs.result).toBe('success');
    const v2 = await release('v2');
    expect(v2.errors).toEqual([]);
    expect(v2.code).toBe(0);
    expect(v2.outputs).toMatchObject({ result: 'success', version: 'v2', 'previous-version': 'v1' });
    const stages = JSON.parse(v2.outputs.stages!) as { stage: string; ok: boolean }[];
    expect(stages.map((s) => [s.stage, s.ok])).toEqual([['migrate', true], ['deploy', true], ['smoke', true], ['gate', true], ['notify', true]]);
    expect(v2.summary).toContain('Release to staging: ✅ success');
    for (const h of fleet.hosts) expect(await versionAt(`http://127.0.0.1:${h.appPort}`)).toBe('v2');
    expect(received.filter((r) => r.kind === 'succeeded' && r.verified)).toHaveLength(2);
    // Migrations ran once (v1); v2 found nothing pending.
    expect(await pg.psql('SELECT count(*) FROM slipway_migrations')).toContain('3');
  }, 240_000);

  it('rolls back a bad release the gate catches after the switch, and says so', async () => {
    const before = received.length;
    const v3 = await release('v3', 'slipway-bad.yml');
    expect(v3.code).toBe(1);
    expect(v3.outputs.result).toBe('rolled-back');
    expect(v3.outputs.version).toBe('v2');
    expect(v3.errors.join('\n')).toMatch(/slo-gate/);
    expect(v3.summary).toContain('Release to staging: ↩️ rolled back');
    const stages = JSON.parse(v3.outputs.stages!) as { stage: string; ok: boolean }[];
    expect(stages.map((s) => [s.stage, s.ok])).toEqual([['migrate', true], ['deploy', true], ['smoke', true], ['gate', false], ['rollback', true], ['notify', true]]);
    for (let i = 0; i < 20; i++) expect(await versionAt(fleet.nginx!.url)).toBe('v2');
    expect(received.slice(before).map((r) => [r.kind, r.verified])).toEqual([['rolled-back', true]]);
  }, 240_000);

  it('stops before anything when the deploy window is closed, and names the override', async () => {
    const migrationsBefore = await pg.psql('SELECT count(*) FROM slipway_migrations');
    const r = await release('v4', 'slipway-closed.yml');
    expect(r.code).toBe(1);
    expect(r.errors.join('\n')).toMatch(/deploy window closed: no deploys on \w{3} \(rule "\w{3}"\); set an override with a reason/);
    expect(JSON.parse(r.outputs.stages!).map((s: { stage: string; skipped?: string }) => [s.stage, s.skipped ?? 'ran'])).toEqual([
      ['window', 'ran'], ['migrate', 'an earlier stage failed'], ['deploy', 'an earlier stage failed'], ['smoke', 'an earlier stage failed'], ['gate', 'an earlier stage failed'], ['notify', 'ran'],
    ]);
    expect(await pg.psql('SELECT count(*) FROM slipway_migrations')).toBe(migrationsBefore);
    for (const h of fleet.hosts) expect(await versionAt(`http://127.0.0.1:${h.appPort}`)).toBe('v2');
  }, 120_000);

  it.each([
    [{ environment: 'prodution' }, /no environment "prodution" \(did you mean "production"|no environment "prodution"/],
    [{ stages: 'deploy,launch' }, /Input 'stages'/],
    [{ config: 'missing.yml' }, /config file not found/],
  ])('fails on bad input %j before contacting anything', async (inputs, re) => {
    const r = await release('v9', 'slipway.yml', inputs as Record<string, string>);
    expect(r.code).toBe(1);
    expect(r.errors.join('\n')).toMatch(re);
    expect(r.stdout).not.toMatch(/\n\s+at /);
  }, 60_000);
});
