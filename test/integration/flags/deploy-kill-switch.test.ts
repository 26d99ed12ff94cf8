/**
 * Issue 22, item 3: deploy-rolling's kill switch, from slipway.yml's `flags` section (token as
 * ${{ secrets.FLAGS_TOKEN }}, resolved from the step's environment), against a real Unleash server
 * (on its own PostgreSQL) and a fleet of the command target running real processes. The fleet's
 * start command (also its switch back) asks Unleash for the release flags' state as it runs and
 * writes it down, so "the flags were off before the first instance rolled back" is what the
 * instance itself saw, not an order assumed from the code. Unleash killed: the rollback still
 * happens and the flags it could not switch are named.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { parseInputs } from '../../../src/manifest/fields.ts';
import type { ActionContext } from '../../../src/runner/context.ts';
import { spec } from '../../../src/actions/deploy-rolling/inputs.ts';
import { run } from '../../../src/actions/deploy-rolling/run.ts';
import { UnleashProvider } from '../../../src/flags/unleash.ts';
import { applyFlagChanges } from '../../../src/flags/change.ts';
import type { FlagChange } from '../../../src/flags/model.ts';
import { outputShapeProblem } from '../../../src/manifest/fields.ts';
import { formatOutput } from '../../../src/runner/run-action.ts';
import { spec as releaseSpec } from '../../../src/actions/release/inputs.ts';
import { run as release } from '../../../src/actions/release/run.ts';
import { freePort, requireServer } from '../../helpers/servers.ts';
import { startUnleash, type UnleashServer } from '../../helpers/flags-unleash.ts';

const hasPg = requireServer('postgres');

/**
 * The fleet: state.json maps instance → version. `start` asks Unleash for the flags (as an app's
 * operator would see them), appends "start a v2 checkout=on search=on" to events.log, and switches
 * the instance; `version` prints it; `ready` fails for the version "broken".
 */
const FLEET = `
const fs = require('fs');
const [mode, instance, version] = process.argv.slice(2);
const dir = process.env.FLEET_DIR;
const file = dir + '/state.json';
const state = JSON.parse(fs.readFileSync(file, 'utf8'));
async function flag(name) {
  try {
    const res = await fetch(process.env.UNLEASH_URL + '/api/admin/projects/default/features/' + name, { headers: { authorization: process.env.FLAGS_TOKEN }, signal: AbortSignal.timeout(2000) });
    if (!res.ok) return 'http' + res.status;
    const env = (await res.json()).environments.find((e) => e.name === 'production');
    return env.enabled ? 'on' : 'off';
  } catch { return 'unreachable'; }
}
(async () => {
  if (mode === 'version') { process.stdout.write(state[instance]); return; }
  if (mode === 'ready') { process.exit(state[instance] === 'broken' ? 1 : 0); }
  const seen = [];
  for (const f of ['checkout', 'search']) seen.push(f + '=' + (await flag(f)));
  fs.appendFileSync(dir + '/events.log', 'start ' + instance + ' ' + version + ' ' + seen.join(' ') + '\\n');
  state[instance] = version;
  fs.writeFileSync(file, JSON.stringify(state));
})();
`;

describe.skipIf(!hasPg)('deploy-rolling kill switch (real Unleash, command fleet of real processes)', () => {
  let u: UnleashServer;
  let provider: UnleashProvider;
  let dir: string;
  let config: string;
  const actor = { who: 'test', run: 'setup' };

  beforeAll(async () => {
    u = await startUnleash();
    for (const f of ['checkout', 'search']) await u.createFlag(f);
    provider = new UnleashProvider({ url: u.url, token: u.adminToken, environment: 'production' });
    dir = mkdtempSync(join(tmpdir(), 'slipway-kill-'));
    writeFileSync(join(dir, 'fleet.cjs'), FLEET);
    config = join(dir, 'slipway.yml');
    writeFileSync(
      config,
      [
        'version: 1',
        'environments:',
        '  production:',
        '    flags:',
        `      unleash-url: ${u.url}`,
        '      unleash-token: ${{ secrets.FLAGS_TOKEN }}',
        '      environment: production',
        '      release: checkout=25%, search',
        '      kill-deadline: 2s',
        '      timeout: 1s',
        '',
      ].join('\n'),
    );
  }, 180_000);
  afterAll(async () => {
    await u?.stop();
  }, 60_000);

  /** The release flags on (as the release turned them on), the fleet on v1, an empty event log. */
  const reset = async () => {
    const r = await applyFlagChanges(provider, [{ flag: 'checkout', action: 'rollout', percent: 25 }, { flag: 'search', action: 'enable' }], { actor });
    expect(r.failure).toBeUndefined();
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ a: 'v1', b: 'v1' }));
    writeFileSync(join(dir, 'events.log'), '');
  };
  const events = () => readFileSync(join(dir, 'events.log'), 'utf8').trim().split('\n').filter(Boolean);

  const deploy = async (over: Record<string, string>) => {
    const fleet = (mode: string) => JSON.stringify([process.execPath, join(dir, 'fleet.cjs'), mode, '{instance}', '{version}']);
    const raw: Record<string, string> = {
      target: 'command',
      instances: 'a,b',
      'start-command': fleet('start'),
      'version-command': fleet('version'),
      'ready-command': fleet('ready'),
      'ready-timeout': '1500ms',
      'ready-interval': '50ms',
      'healthy-threshold': '1',
      ...over,
    };
    const inputs = await parseInputs(spec, (n) => raw[n], () => {});
    const log = new MemoryReporter();
    const state: Record<string, string> = {};
    const env = { PATH: process.env.PATH, FLEET_DIR: dir, UNLEASH_URL: u.url, FLAGS_TOKEN: u.adminToken, SLIPWAY_CONFIG: config, SLIPWAY_ENVIRONMENT: 'production' };
    const ctx: ActionContext = {
      log,
      github: { actor: 'octocat', runUrl: 'https://github.com/acme/api/actions/runs/7' } as ActionContext['github'],
      saveState: (n, v) => (state[n] = v),
      getState: (n) => state[n] ?? '',
      signal: new AbortController().signal,
      tempDir: dir,
      workspace: dir,
      env,
    };
    const result = await run(inputs, ctx);
    // Whatever reaches the output, the summary or the log never holds the token.
    const everything = `${JSON.stringify(result)}\n${log.text()}`;
    expect(everything).not.toContain(u.adminToken);
    return { result, log };
  };
  const switched = (r: { outputs: Record<string, unknown> }) => r.outputs['flags-switched'] as FlagChange[];

  it('a failed gate: the release flags go off BEFORE the first instance rolls back (seen by the instance); output and summary say so', async () => {
    await reset();
    const { result, log } = await deploy({ version: 'v2', 'gate-command': JSON.stringify([process.execPath, '-e', 'console.log("error-ratio 9% > 1%"); process.exit(1)']) });
    expect(result.outputs['rolled-back']).toBe(true);
    // The instance that rolled back asked Unleash as it started again: both flags were already off.
    expect(events()).toEqual(['start a v2 checkout=on search=on', 'start a v1 checkout=off search=off']);
    expect(switched(result).map((c) => [c.flag, c.ok, c.from, c.to, c.who, c.run])).toEqual([
      ['checkout', true, { enabled: true, rollout: 25 }, { enabled: false, rollout: 25 }, 'octocat', 'https://github.com/acme/api/actions/runs/7'],
      ['search', true, { enabled: true, rollout: 100 }, { enabled: false, rollout: 100 }, 'octocat', 'https://github.com/acme/api/actions/runs/7'],
    ]);
    // The output fits the shape deploy-rolling declares for it (what notify's details read).
    expect(outputShapeProblem(spec.outputs['flags-switched']!, formatOutput(result.outputs['flags-switched'])!)).toBeUndefined();
    expect(result.summary).toContain('### Kill switch: 2 flag(s) off before the rollback');
    expect(result.summary).toMatch(/\| `checkout` \| disable \| on 25% \| off \(25% when on\) \| ✅/);
    expect(result.failure).toMatch(/^deploy-rolling: gate failed after batch 1: gate-command: .*error-ratio 9% > 1%; rolled back a to v1; kill switch: checkout: on 25% → off \(25% when on\) \(production, unleash http:\/\/127\.0\.0\.1:\d+\); search: on 100% → off/);
    expect(log.text()).toMatch(/kill switch \(gate failed\): turning off checkout, search on unleash http:\/\/127\.0\.0\.1:\d+ \(production\) before any instance rolls back/);
    // The server agrees.
    expect(await provider.read('checkout')).toEqual({ enabled: false, rollout: 25 });
    expect((await provider.read('search'))?.enabled).toBe(false);
  }, 60_000);

  it('an instance that never becomes ready: flags off first, then the rollback', async () => {
    await reset();
    const { result } = await deploy({ version: 'broken' });
    expect(result.outputs['rolled-back']).toBe(true);
    expect(events()).toEqual(['start a broken checkout=on search=on', 'start a v1 checkout=off search=off']);
    expect(switched(result).every((c) => c.ok)).toBe(true);
    expect(result.failure).toMatch(/rolled back a to v1; kill switch: checkout: on 25% → off/);
  }, 60_000);

  it('a deploy that succeeds leaves the flags alone: flags-switched is []', async () => {
    await reset();
    const { result } = await deploy({ version: 'v2' });
    expect(result.failure).toBeUndefined();
    expect(result.outputs['flags-switched']).toEqual([]);
    expect(result.summary).not.toContain('Kill switch');
    expect(events()).toEqual(['start a v2 checkout=on search=on', 'start b v2 checkout=on search=on']);
    expect((await provider.read('search'))?.enabled).toBe(true);
  }, 60_000);

  it('rollback: true switches the flags off first, then rolls the fleet back', async () => {
    await reset();
    expect((await deploy({ version: 'v2' })).result.failure).toBeUndefined();
    writeFileSync(join(dir, 'events.log'), '');
    const { result } = await deploy({ rollback: 'true', 'previous-version': 'v1' });
    expect(result.outputs['rolled-back']).toBe(true);
    const ev = events();
    expect(ev.length).toBeGreaterThan(0);
    // Every instance that rolled back saw the flags off already.
    for (const e of ev) expect(e).toMatch(/^start [ab] v1 checkout=off search=off$/);
    expect(switched(result).map((c) => [c.flag, c.ok])).toEqual([['checkout', true], ['search', true]]);
    expect(result.summary).toContain('### Kill switch: 2 flag(s) off before the rollback');
  }, 60_000);

  it('Unleash down: the kill switch retries until kill-deadline, names the flags it could not switch, and the rollback still happens', async () => {
    await reset();
    await u.kill();
    try {
      const { result, log } = await deploy({ version: 'v2', 'gate-command': JSON.stringify([process.execPath, '-e', 'process.exit(1)']) });
      expect(result.outputs['rolled-back']).toBe(true);
      expect(events()).toEqual(['start a v2 checkout=unreachable search=unreachable', 'start a v1 checkout=unreachable search=unreachable']);
      expect(switched(result).map((c) => [c.flag, c.ok])).toEqual([['checkout', false], ['search', false]]);
      expect(switched(result)[0]!.error).toMatch(/Unleash server http:\/\/127\.0\.0\.1:\d+ (is unreachable|did not answer)/);
      expect(log.text()).toMatch(/KILL SWITCH FAILED: flag 'checkout' could not be switched off on unleash http:\/\/127\.0\.0\.1:\d+ \(production\) within 2(\.00)?s after \d+ attempt\(s\).*Turn it off by hand\./);
      expect(result.summary).toContain('KILL SWITCH FAILED: 2 of 2 flag(s) could NOT be switched off');
      expect(result.summary).toContain('**Turn these off by hand:** `checkout`, `search`');
      expect(result.failure).toMatch(/rolled back a to v1; KILL SWITCH FAILED for checkout, search \(turn them off by hand\)/);
    } finally {
      await u.start();
    }
  }, 90_000);

  it('the release action: smoke fails after the switch, the rollback stage turns the flags off first, and notify (webhook) lists them', async () => {
    await reset();
    const bodies: string[] = [];
    const hook = createServer((req, res) => {
      let b = '';
      req.on('data', (d: Buffer) => (b += d.toString()));
      req.on('end', () => {
        bodies.push(b);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    try {
      const fleet = (mode: string) => JSON.stringify([process.execPath, join(dir, 'fleet.cjs'), mode, '{instance}', '{version}']);
      const file = join(dir, 'release.yml');
      writeFileSync(
        file,
        readFileSync(config, 'utf8') +
          [
            `    url: http://127.0.0.1:${await freePort()}`,
            '    deploy:',
            '      target: command',
            '      instances: a,b',
            `      start-command: ${fleet('start')}`,
            `      version-command: ${fleet('version')}`,
            `      ready-command: ${fleet('ready')}`,
            '      ready-timeout: 1500ms',
            '      ready-interval: 50ms',
            '      healthy-threshold: 1',
            '      previous-version: v1',
            '    smoke:',
            '      deadline: 0s',
            '      timeout: 1s',
            '    notify:',
            '      channels: webhook',
            '      webhook-url: ${{ secrets.HOOK_URL }}',
            '',
          ].join('\n'),
      );
      const raw: Record<string, string> = { environment: 'production', config: file, version: 'v2' };
      const inputs = await parseInputs(releaseSpec, (n) => raw[n], () => {});
      const log = new MemoryReporter();
      const state: Record<string, string> = {};
      const ctx: ActionContext = {
        log,
        github: { actor: 'octocat', runUrl: 'https://github.com/acme/api/actions/runs/8', sha: '' } as ActionContext['github'],
        saveState: (n, v) => (state[n] = v),
        getState: (n) => state[n] ?? '',
        signal: new AbortController().signal,
        tempDir: dir,
        workspace: dir,
        env: { PATH: process.env.PATH, FLEET_DIR: dir, UNLEASH_URL: u.url, FLAGS_TOKEN: u.adminToken, HOOK_URL: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook` },
      };
      const r = await release(inputs, ctx);
      expect(r.outputs.result).toBe('rolled-back');
      const ev = events();
      expect(ev.slice(0, 2)).toEqual(['start a v2 checkout=on search=on', 'start b v2 checkout=on search=on']);
      // Every instance that went back to v1 saw the flags off already.
      expect(ev.slice(2).length).toBe(2);
      for (const e of ev.slice(2)) expect(e).toMatch(/^start [ab] v1 checkout=off search=off$/);
      expect(r.summary).toContain('Kill switch: 2 flag(s) off before the rollback');
      expect(bodies).toHaveLength(1);
      expect(bodies[0]).toContain('"flag":"checkout"');
      expect(bodies[0]).not.toContain(u.adminToken);
      expect(`${JSON.stringify(r)}\n${log.text()}`).not.toContain(u.adminToken);
    } finally {
      await new Promise((r) => hook.close(r));
    }
  }, 90_000);

  it('a bad flags section fails before any change, naming the section and the input', async () => {
    await reset();
    const bad = join(dir, 'bad.yml');
    writeFileSync(bad, readFileSync(config, 'utf8').replace('release: checkout=25%, search', 'release: checkout=125%'));
    const saved = config;
    config = bad;
    try {
      await expect(deploy({ version: 'v2' })).rejects.toThrow(/checkout.*125%.*percentage/);
    } finally {
      config = saved;
    }
    expect(events()).toEqual([]);
  }, 60_000);
});
