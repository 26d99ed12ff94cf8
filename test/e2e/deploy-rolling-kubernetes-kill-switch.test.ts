/**
 * The kill switch on target: kubernetes (bundle + kubectl against the fake API server): the
 * Deployment's deployer undoes a failed rollout inside itself, so the release flag goes off right
 * after that undo, and the step says so; with rollback: true the flag goes off first. The flag store
 * is a JSON file behind the command provider (real processes). The order within rollback: true is
 * read from the step's log here (not observed from outside, unlike test/integration/flags/deploy-kill-switch.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { node24, runBundle } from '../helpers/runner.ts';
import { IMAGES, SLOW, kubeEnv, seedApp, type KubeEnv } from '../helpers/fake-kube/harness.ts';

let k: KubeEnv;
beforeAll(async () => {
  k = await kubeEnv();
});
afterAll(async () => {
  await k?.stop();
});

const TIMEOUT = 90_000 * SLOW;
const image = (d: any) => d.spec.template.spec.containers.find((c: any) => c.name === 'app').image;
const STORE = `
const fs = require('fs');
const f = process.env.FLAG_DIR + '/flags.json';
const s = JSON.parse(fs.readFileSync(f, 'utf8'));
const n = process.env.SLIPWAY_FLAG;
if (!(n in s)) process.exit(2);
if (process.argv[2] === 'read') process.stdout.write(JSON.stringify(s[n]));
else { s[n] = { enabled: process.env.SLIPWAY_FLAG_ENABLED === 'true' }; fs.writeFileSync(f, JSON.stringify(s)); }
`;

function flagDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-kube-kill-'));
  writeFileSync(join(dir, 'store.cjs'), STORE);
  writeFileSync(join(dir, 'flags.json'), JSON.stringify({ checkout: { enabled: true } }));
  const store = (mode: string) => JSON.stringify([node24, join(dir, 'store.cjs'), mode]);
  writeFileSync(join(dir, 'slipway.yml'), ['version: 1', 'environments:', '  production:', '    flags:', '      provider: command', `      command: ${store('write')}`, `      read-command: ${store('read')}`, '      environment: production', '      release: checkout', ''].join('\n'));
  return dir;
}

async function deploy(ns: string, dir: string, inputs: Record<string, string>) {
  return runBundle(
    'deploy-rolling',
    { target: 'kubernetes', deployment: 'web', namespace: ns, 'progress-deadline': `${2 * SLOW}s`, ...(k.kubeconfig ? { kubeconfig: k.kubeconfig } : {}), ...inputs },
    { timeoutMs: TIMEOUT, env: { KUBECACHEDIR: join(k.dir, 'cache'), FLAG_DIR: dir, SLIPWAY_CONFIG: join(dir, 'slipway.yml'), SLIPWAY_ENVIRONMENT: 'production' } },
  );
}

describe('deploy-rolling target: kubernetes, the kill switch', () => {
  it('a rollout that never gets ready: the release flag goes off first, then the deployer undoes it; output and summary say so', async () => {
    const ns = await seedApp(k, { replicas: 2 });
    const dir = flagDir();
    const r = await deploy(ns, dir, { image: IMAGES.bad });
    expect(r.code).toBe(1);
    expect(r.outputs['rolled-back']).toBe('true');
    expect(JSON.parse(readFileSync(join(dir, 'flags.json'), 'utf8'))).toEqual({ checkout: { enabled: false } });
    expect((JSON.parse(r.outputs['flags-switched']!) as { flag: string; ok: boolean }[]).map((c) => [c.flag, c.ok])).toEqual([['checkout', true]]);
    expect(r.summary).toContain('Kill switch: 1 flag(s) off before the rollback');
    expect(r.errors.join('\n')).toMatch(/rolled back: Deployment web runs .* again; kill switch: checkout: on → off/);
    expect(image(await k.json(['get', 'deployment', 'web', '-n', ns]))).toBe(IMAGES.v1);
  }, TIMEOUT);

  it('rollback: true switches the flag off first, then the Deployment goes back', async () => {
    const ns = await seedApp(k, { replicas: 2 });
    const dir = flagDir();
    writeFileSync(join(dir, 'flags.json'), JSON.stringify({ checkout: { enabled: false } }));
    const up = await deploy(ns, dir, { image: IMAGES.v2 });
    expect(up.code).toBe(0);
    expect(up.outputs['flags-switched']).toBe('[]');
    writeFileSync(join(dir, 'flags.json'), JSON.stringify({ checkout: { enabled: true } }));
    const back = await deploy(ns, dir, { rollback: 'true' });
    expect(back.code).toBe(0);
    expect(back.outputs['rolled-back']).toBe('true');
    expect(JSON.parse(readFileSync(join(dir, 'flags.json'), 'utf8'))).toEqual({ checkout: { enabled: false } });
    expect(back.summary).toContain('Kill switch: 1 flag(s) off before the rollback');
    expect(back.stdout.indexOf('kill switch (rollback): turning off checkout')).toBeGreaterThan(-1);
    expect(image(await k.json(['get', 'deployment', 'web', '-n', ns]))).toBe(IMAGES.v1);
  }, TIMEOUT);
});
