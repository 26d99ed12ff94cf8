/**
 * The flag providers against a real Unleash server (npm unleash-server 8.x) on a real PostgreSQL,
 * both on 127.0.0.1, started once for this file. Faults are real too: a wrong token (401), a
 * client token on the admin API (403), an unknown flag, a port where nothing listens, PostgreSQL
 * killed under Unleash (its 5xx), Unleash killed and started again.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.ts';
import { startApp } from '../../helpers/app.ts';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { UnleashProvider } from '../../../src/flags/unleash.ts';
import { applyFlagChanges, killSwitch } from '../../../src/flags/change.ts';
import { parseRolloutPercent } from '../../../src/flags/model.ts';
import path from 'node:path';
import { freePort, postgresBinDir, requireServer, run } from '../../helpers/servers.ts';
import { startUnleash, type UnleashServer } from '../../helpers/flags-unleash.ts';

const hasPg = requireServer('postgres');
/** SQL in Unleash's own database (the helper's psql() talks to `postgres`). */
const unleashSql = (u: UnleashServer, sql: string) =>
  run(path.join(postgresBinDir()!, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', `postgresql://postgres@127.0.0.1:${u.pg.port}/unleash`, '-c', sql]);
const pgAnswers = (u: UnleashServer) => unleashSql(u, 'SELECT 1').then(() => true, () => false);
const actor = { who: 'octocat', run: 'https://github.com/acme/api/actions/runs/42' };

describe.skipIf(!hasPg)('flags on a real Unleash server', () => {
  let u: UnleashServer;
  let provider: UnleashProvider;
  beforeAll(async () => {
    u = await startUnleash();
    provider = new UnleashProvider({ url: u.url, token: u.adminToken, environment: 'production' });
    for (const f of ['checkout', 'search', 'banner', 'kill-a', 'kill-b', 'flaky', 'cli-a', 'cli-b', 'prog-ok', 'prog-bad', 'rel-a', 'rel-b', 'app-flag']) await u.createFlag(f);
  }, 180_000);
  afterAll(async () => {
    await u?.stop();
  }, 60_000);

  it('enables, rolls out, disables one environment and records who, when, run and from → to', async () => {
    const log = new MemoryReporter();
    const r = await applyFlagChanges(provider, [
      { flag: 'checkout', action: 'rollout', percent: 5 },
      { flag: 'checkout', action: 'rollout', percent: 25 },
    ], { actor, log });
    expect(r.failure).toBeUndefined();
    expect(r.changes.map((c) => [c.from, c.to])).toEqual([
      [{ enabled: false }, { enabled: true, rollout: 5 }],
      [{ enabled: true, rollout: 5 }, { enabled: true, rollout: 25 }],
    ]);
    expect(r.changes[0]).toMatchObject({ flag: 'checkout', who: 'octocat', run: actor.run, environment: 'production', provider: 'unleash', server: u.url, ok: true });
    expect(Date.parse(r.changes[0]!.at)).not.toBeNaN();
    // The other environment is untouched; the server itself says so.
    const dev = new UnleashProvider({ url: u.url, token: u.adminToken, environment: 'development' });
    expect(await dev.read('checkout')).toEqual({ enabled: false });
    const off = await applyFlagChanges(provider, [{ flag: 'checkout', action: 'disable' }], { actor });
    expect(off.changes[0]).toMatchObject({ from: { enabled: true, rollout: 25 }, to: { enabled: false, rollout: 25 }, ok: true });
    const again = await applyFlagChanges(provider, [{ flag: 'checkout', action: 'disable' }], { actor });
    expect(again.changes[0]).toMatchObject({ unchanged: true });
    const on = await applyFlagChanges(provider, [{ flag: 'checkout', action: 'enable' }], { actor });
    expect(on.changes[0]!.to).toEqual({ enabled: true, rollout: 25 });
    // Restore puts back a flag that had no strategy at all.
    const back = await applyFlagChanges(provider, [{ flag: 'checkout', action: 'restore', state: { enabled: false } }], { actor });
    expect(back.changes[0]!.to).toEqual({ enabled: false });
    expect(await provider.read('checkout')).toEqual({ enabled: false });
  });

  it('an unknown flag fails before anything changes, naming the flag and the server', async () => {
    await expect(applyFlagChanges(provider, [
      { flag: 'search', action: 'enable' },
      { flag: 'no-such-flag', action: 'enable' },
    ], { actor })).rejects.toThrow(`flag 'no-such-flag' does not exist in project 'default' on the Unleash server ${u.url}`);
    expect(await provider.read('search')).toEqual({ enabled: false });
  });

  it('a missing environment, a wrong token (401) and a client token (403) fail with one line, before any change', async () => {
    const staging = new UnleashProvider({ url: u.url, token: u.adminToken, environment: 'staging' });
    await expect(staging.read('search')).rejects.toThrow(`flag 'search' has no environment 'staging' on the Unleash server ${u.url} (it has: development, production)`);
    const wrong = new UnleashProvider({ url: u.url, token: '*:*.0000000000000000deadbeefdeadbeef', environment: 'production' });
    const e401 = await applyFlagChanges(wrong, [{ flag: 'search', action: 'enable' }], { actor }).catch((e: Error) => e);
    expect(String(e401)).toContain(`flag 'search': the Unleash server ${u.url} refused the admin token (401 Unauthorized)`);
    expect(String(e401)).not.toContain('deadbeefdeadbeef');
    expect(String(e401)).not.toContain('\n');
    const client = new UnleashProvider({ url: u.url, token: u.clientToken, environment: 'production' });
    const e403 = await applyFlagChanges(client, [{ flag: 'search', action: 'enable' }], { actor }).catch((e: Error) => e);
    expect(String(e403)).toContain(`flag 'search': the Unleash server ${u.url} does not let this token change flags (403 Forbidden`);
    expect(String(e403)).not.toContain(u.clientToken.split('.')[1]!);
    expect(await provider.read('search')).toEqual({ enabled: false });
  });

  it('a percentage outside 0–100 is refused before the server is asked', async () => {
    expect(() => parseRolloutPercent('120%', 'search')).toThrow(`flag 'search': rollout "120%" is not a percentage from 0% to 100%`);
    expect(() => parseRolloutPercent('-5', 'search')).toThrow('is not a percentage from 0% to 100%');
    await expect(applyFlagChanges(provider, [{ flag: 'search', action: 'rollout', percent: 101 }], { actor })).rejects.toThrow(`flag 'search': rollout 101 is not a percentage from 0% to 100%`);
    expect(parseRolloutPercent('12.5%')).toBe(12.5);
  });

  it('a server that is down fails in one line naming the flag and the server', async () => {
    const port = await freePort();
    const down = new UnleashProvider({ url: `http://127.0.0.1:${port}`, token: u.adminToken, environment: 'production', retries: 1 });
    await expect(applyFlagChanges(down, [{ flag: 'search', action: 'enable' }], { actor })).rejects.toThrow(new RegExp(`^flag 'search': the Unleash server http://127\\.0\\.0\\.1:${port} is unreachable \\(.*ECONNREFUSED`));
  });

  it('Unleash answering 5xx to a change: the change is recorded as failed, naming the flag and the server, and the rest is not tried', async () => {
    await unleashSql(u, 'ALTER TABLE feature_environments RENAME TO feature_environments_away');
    let r;
    try {
      r = await applyFlagChanges(provider, [{ flag: 'banner', action: 'enable' }, { flag: 'search', action: 'enable' }], { actor });
    } finally {
      await unleashSql(u, 'ALTER TABLE feature_environments_away RENAME TO feature_environments');
    }
    expect(r.failure).toMatch(new RegExp(`^flag 'banner': the Unleash server ${u.url.replace(/\./g, '\\.')} answered 500 to POST /api/admin/projects/default/features/banner/environments/production/on`));
    expect(r.changes).toHaveLength(1);
    expect(r.changes[0]).toMatchObject({ flag: 'banner', ok: false, from: { enabled: false } });
    expect(await provider.read('banner')).toEqual({ enabled: false });
    expect(await provider.read('search')).toEqual({ enabled: false });
  }, 60_000);

  it('the kill switch retries while Unleash cannot reach its database, and switches every flag once it can', async () => {
    const setup = await applyFlagChanges(provider, [{ flag: 'kill-a', action: 'rollout', percent: 50 }, { flag: 'kill-b', action: 'enable' }], { actor });
    expect(setup.failure).toBeUndefined();
    expect(await provider.read('kill-a')).toEqual({ enabled: true, rollout: 50 });
    const quick = new UnleashProvider({ url: u.url, token: u.adminToken, environment: 'production', timeoutMs: 2_000, retries: 0 });
    await u.pg.kill9();
    try {
      const log = new MemoryReporter();
      const killing = killSwitch(quick, ['kill-a', 'kill-b'], { actor, log, deadlineMs: 60_000 });
      // PostgreSQL comes back only after both flags saw a failed attempt: the retry is what is tested.
      for (let i = 0; i < 600 && !(/flag kill-a: attempt 1 failed/.test(log.text()) && /flag kill-b: attempt 1 failed/.test(log.text())); i++) await new Promise((r) => setTimeout(r, 100));
      await u.pg.restart();
      const changes = await killing;
      expect(changes.map((c) => [c.flag, c.ok, c.to.enabled])).toEqual([['kill-a', true, false], ['kill-b', true, false]]);
      expect(changes[0]!.attempts).toBeGreaterThan(1);
      expect(log.text()).toContain('kill switch: flag kill-a (production) switched off');
    } finally {
      if (!(await pgAnswers(u))) await u.pg.restart();
    }
    expect(await provider.read('kill-a')).toEqual({ enabled: false, rollout: 50 });
    expect(await provider.read('kill-b')).toMatchObject({ enabled: false });
  }, 120_000);

  it('the kill switch says loudly when it could not switch a flag within its deadline', async () => {
    expect((await applyFlagChanges(provider, [{ flag: 'flaky', action: 'enable' }], { actor })).failure).toBeUndefined();
    await u.kill();
    try {
      const log = new MemoryReporter();
      const changes = await killSwitch(provider, ['flaky'], { actor, log, deadlineMs: 1500 });
      expect(changes[0]).toMatchObject({ flag: 'flaky', ok: false });
      expect(changes[0]!.attempts).toBeGreaterThan(1);
      expect(log.text()).toMatch(/KILL SWITCH FAILED: flag 'flaky' could not be switched off on unleash http:\/\/127\.0\.0\.1:\d+ \(production\) within 1\.50?s after \d+ attempt\(s\): the Unleash server .*(unreachable|deadline).*Turn it off by hand\./);
    } finally {
      await u.start();
    }
    expect(await provider.read('flaky')).toMatchObject({ enabled: true });
  }, 180_000);

  /** `slipway flags …` as a user runs it; the token comes from the environment (SLIPWAY_UNLEASH_TOKEN). */
  async function cli(args: string[], env: Record<string, string> = {}) {
    let stdout = '';
    let stderr = '';
    const code = await main(['flags', '--environment', 'production', '--unleash-url', u.url, ...args], {
      stdout: (x) => (stdout += x),
      stderr: (x) => (stderr += x),
      env: { ...process.env, SLIPWAY_UNLEASH_TOKEN: u.adminToken, USER: 'alice', ...env },
      cwd: process.cwd(),
    });
    return { code, stdout, stderr };
  }

  it('slipway flags: changes flags, prints the record as JSON, and never prints the token', async () => {
    const r = await cli(['--enable', 'cli-a', '--rollout', 'cli-b=30%', '--json']);
    if (r.code !== 0) console.log(r.stderr);
    expect(r.stderr).not.toContain(u.adminToken);
    expect(r.stdout).not.toContain(u.adminToken);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { outputs: { result: string; changes: Array<Record<string, unknown>>; 'changed-count': number } };
    expect(out.outputs.result).toBe('changed');
    expect(out.outputs['changed-count']).toBe(2);
    expect(out.outputs.changes.map((c) => [c.flag, c.action, c.who, c.run, c.from, c.to])).toEqual([
      ['cli-a', 'enable', 'alice', 'cli', { enabled: false }, { enabled: true, rollout: 100 }],
      ['cli-b', 'rollout', 'alice', 'cli', { enabled: false }, { enabled: true, rollout: 30 }],
    ]);
    expect(await provider.read('cli-b')).toEqual({ enabled: true, rollout: 30 });
  });

  it('slipway flags: bad input fails before any change, naming the input or the flag and the server', async () => {
    const pct = await cli(['--rollout', 'cli-a=150%']);
    expect(pct.code).toBe(2);
    expect(pct.stderr).toContain("Input 'rollout'");
    expect(pct.stderr).toContain('150%');
    const unknown = await cli(['--disable', 'cli-a', '--enable', 'ghost-flag']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain(`flag 'ghost-flag' does not exist in project 'default' on the Unleash server ${u.url}`);
    expect(await provider.read('cli-a')).toMatchObject({ enabled: true });
    const bad = await cli(['--enable', 'cli-a'], { SLIPWAY_UNLEASH_TOKEN: '*:*.0123456789abcdef0123456789abcdef' });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain(`flag 'cli-a': the Unleash server ${u.url} refused the admin token (401 Unauthorized)`);
    expect(bad.stderr).not.toContain('0123456789abcdef0123456789abcdef');
  });

  describe('strategy flag: progressive enablement with the SLO gate between steps', () => {
    let app: Server;
    let appUrl = '';
    let broken = false;
    beforeAll(async () => {
      // The app the gate probes: healthy, or failing every request once `broken`.
      app = createServer((_req, res) => {
        res.writeHead(broken ? 500 : 200, { 'content-type': 'text/plain' });
        res.end(broken ? 'boom' : 'ok');
      });
      await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
      appUrl = `http://127.0.0.1:${(app.address() as { port: number }).port}`;
    });
    afterAll(async () => {
      await new Promise((r) => app?.close(r));
    });
    const gate = () => ['--gate-urls', appUrl, '--gate-slo', 'error-ratio <= 5%', '--gate-duration', '1s', '--gate-rate', '200'];

    it('goes through every step while the gate passes', async () => {
      broken = false;
      const r = await cli(['--progressive', 'prog-ok', '--steps', '10%,50%,100%', ...gate(), '--json']);
      expect(r.stderr).not.toContain(u.adminToken);
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout) as { outputs: { result: string; changes: Array<{ from?: unknown; to: unknown }> } };
      expect(out.outputs.result).toBe('changed');
      expect(out.outputs.changes.map((c) => c.to)).toEqual([{ enabled: true, rollout: 10 }, { enabled: true, rollout: 50 }, { enabled: true, rollout: 100 }]);
      expect(r.stderr).toMatch(/gate after batch 1: pass/);
      expect(r.stderr).toMatch(/gate after batch 2: pass/);
      expect(await provider.read('prog-ok')).toEqual({ enabled: true, rollout: 100 });
    }, 60_000);

    it('a failed gate puts the flag back where it was, through the engine\'s undo', async () => {
      await applyFlagChanges(provider, [{ flag: 'prog-bad', action: 'rollout', percent: 5 }, { flag: 'prog-bad', action: 'disable' }], { actor });
      expect(await provider.read('prog-bad')).toEqual({ enabled: false, rollout: 5 });
      broken = true;
      const r = await cli(['--progressive', 'prog-bad', '--steps', '10%,50%,100%', ...gate(), '--json']);
      broken = false;
      expect(r.code).toBe(1);
      const out = JSON.parse(r.stdout) as { outputs: { result: string; changes: Array<{ action: string; to: unknown }> } };
      expect(out.outputs.result).toBe('rolled-back');
      expect(out.outputs.changes.map((c) => [c.action, c.to])).toEqual([
        ['rollout', { enabled: true, rollout: 10 }],
        ['restore', { enabled: false, rollout: 5 }],
      ]);
      expect(r.stderr).toMatch(/gate after batch 1: FAIL/);
      expect(r.stderr).toContain("flag 'prog-bad': gate failed after batch 1");
      expect(await provider.read('prog-bad')).toEqual({ enabled: false, rollout: 5 });
    }, 60_000);
  });

  it('mode kill: turns the release flags off and says which', async () => {
    await applyFlagChanges(provider, [{ flag: 'rel-a', action: 'rollout', percent: 40 }, { flag: 'rel-b', action: 'enable' }], { actor });
    const r = await cli(['--mode', 'kill', '--release', 'rel-a=40%,rel-b', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { outputs: { result: string; 'flags-off': string } };
    expect(out.outputs).toMatchObject({ result: 'killed', 'flags-off': 'rel-a,rel-b' });
    expect(await provider.read('rel-a')).toEqual({ enabled: false, rollout: 40 });
  });

  it('the sample app reads its flag through OpenFeature: the rollout reaches it, and so does the kill switch', async () => {
    const app = await startApp({ env: { UNLEASH_URL: u.url, UNLEASH_CLIENT_TOKEN: u.clientToken, FEATURE_FLAG: 'app-flag', FEATURE_ERROR_RATE: '1', UNLEASH_REFRESH_MS: '200' } });
    try {
      const work = async (user: string) => {
        const r = await fetch(`${app.url}/work`, { headers: { 'x-user': user } });
        return { status: r.status, body: (await r.json()) as { feature?: boolean } };
      };
      /** Polls until the app answers `want` (bounded: the SDK polls every 200 ms). */
      const until = async (user: string, want: boolean) => {
        for (let i = 0; i < 300; i++) {
          const r = await work(user);
          if (r.body.feature === want) return r;
          await new Promise((res) => setTimeout(res, 50));
        }
        throw new Error(`the app never answered feature: ${want}`);
      };
      expect(await work('u1')).toEqual({ status: 200, body: { ok: true, version: 'v1', feature: false } });
      await applyFlagChanges(provider, [{ flag: 'app-flag', action: 'rollout', percent: 100 }], { actor });
      expect((await until('u1', true)).status).toBe(500);
      const killed = await killSwitch(provider, ['app-flag'], { actor });
      expect(killed[0]).toMatchObject({ ok: true, to: { enabled: false } });
      expect(await until('u1', false)).toEqual({ status: 200, body: { ok: true, version: 'v1', feature: false } });
      expect(app.logs()).not.toContain(u.clientToken);
    } finally {
      await app.stop();
    }
  }, 60_000);
});
