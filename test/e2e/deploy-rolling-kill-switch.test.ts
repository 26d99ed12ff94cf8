/**
 * The kill switch through deploy-rolling's bundle, as the runner runs it: SLIPWAY_CONFIG and
 * SLIPWAY_ENVIRONMENT point at a slipway.yml whose `flags` section uses the command provider (a
 * JSON file as the flag store, read and written by real processes); the fleet is the command target.
 * A failed gate: the flags go off before the instance rolls back (the instance writes down the flag
 * state it sees as it starts again), `flags-switched` is JSON of the declared shape, the summary
 * says so. The slipway.yml section and the kill switch load lazily in the bundle: this is their test.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { node24, runBundle } from '../helpers/runner.ts';

const STORE = `
const fs = require('fs');
const f = process.env.FLEET_DIR + '/flags.json';
const s = JSON.parse(fs.readFileSync(f, 'utf8'));
const n = process.env.SLIPWAY_FLAG;
if (!(n in s)) process.exit(2);
if (process.argv[2] === 'read') process.stdout.write(JSON.stringify(s[n]));
else { s[n] = { enabled: process.env.SLIPWAY_FLAG_ENABLED === 'true' }; fs.writeFileSync(f, JSON.stringify(s)); }
`;
const FLEET = `
const fs = require('fs');
const [mode, instance, version] = process.argv.slice(2);
const dir = process.env.FLEET_DIR;
const state = JSON.parse(fs.readFileSync(dir + '/state.json', 'utf8'));
if (mode === 'version') { process.stdout.write(state[instance]); process.exit(0); }
const flags = JSON.parse(fs.readFileSync(dir + '/flags.json', 'utf8'));
fs.appendFileSync(dir + '/events.log', 'start ' + instance + ' ' + version + ' checkout=' + (flags.checkout.enabled ? 'on' : 'off') + '\\n');
state[instance] = version;
fs.writeFileSync(dir + '/state.json', JSON.stringify(state));
`;

describe('deploy-rolling bundle: the kill switch from slipway.yml', () => {
  it('a failed gate switches the release flag off before the rollback; flags-switched and the summary say so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-kill-e2e-'));
    writeFileSync(join(dir, 'store.cjs'), STORE);
    writeFileSync(join(dir, 'fleet.cjs'), FLEET);
    writeFileSync(join(dir, 'flags.json'), JSON.stringify({ checkout: { enabled: true } }));
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ a: 'v1', b: 'v1' }));
    writeFileSync(join(dir, 'events.log'), '');
    const store = (mode: string) => JSON.stringify([node24, join(dir, 'store.cjs'), mode]);
    writeFileSync(
      join(dir, 'slipway.yml'),
      ['version: 1', 'environments:', '  production:', '    flags:', '      provider: command', `      command: ${store('write')}`, `      read-command: ${store('read')}`, '      environment: production', '      release: checkout', ''].join('\n'),
    );
    const fleet = (mode: string) => JSON.stringify([node24, join(dir, 'fleet.cjs'), mode, '{instance}', '{version}']);
    const r = await runBundle(
      'deploy-rolling',
      {
        target: 'command',
        instances: 'a,b',
        version: 'v2',
        'start-command': fleet('start'),
        'version-command': fleet('version'),
        'ready-command': JSON.stringify([node24, '-e', '0']),
        'gate-command': JSON.stringify([node24, '-e', 'process.exit(1)']),
        'ready-interval': '50ms',
        'healthy-threshold': '1',
      },
      { env: { FLEET_DIR: dir, SLIPWAY_CONFIG: join(dir, 'slipway.yml'), SLIPWAY_ENVIRONMENT: 'production' }, cwd: dir, timeoutMs: 60_000 },
    );
    expect(r.code).toBe(1);
    expect(readFileSync(join(dir, 'events.log'), 'utf8').trim().split('\n')).toEqual(['start a v2 checkout=on', 'start a v1 checkout=off']);
    const switched = JSON.parse(r.outputs['flags-switched']!) as { flag: string; ok: boolean; provider: string }[];
    expect(switched.map((c) => [c.flag, c.ok, c.provider])).toEqual([['checkout', true, 'command']]);
    expect(r.outputs['rolled-back']).toBe('true');
    expect(r.summary).toContain('### Kill switch: 1 flag(s) off before the rollback');
    expect(r.errors.join('\n')).toMatch(/rolled back a to v1; kill switch: checkout: on → off \(production, command /);
    // The declared shape holds: no "does not match its declared shape" warning.
    expect(r.stdout).not.toMatch(/declared shape/);
  }, 90_000);
});
