/**
 * The local target (child processes behind nginx or the built-in proxy) and the command target
 * (the user's own programs), each through the real engine with the sample app.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalFleet, findOnPath, type LocalFleet } from '../../../src/cli/demo/local.ts';
import { startProxy } from '../../../src/cli/demo/proxy.ts';
import { CommandTarget } from '../../../src/deploy/command.ts';
import { rollout, rollbackFleet } from '../../../src/deploy/engine.ts';
import { parseBatches } from '../../../src/deploy/batches.ts';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { freePort } from '../../helpers/servers.ts';
import { node24, repoRoot, versionAt } from './hosts-fleet.ts';

const readiness = { threshold: 2, intervalMs: 50, timeoutMs: 20_000, minReadyMs: 0, requestTimeoutMs: 2000 };
const app = join(repoRoot, 'examples/app/server.js');
const fleets: LocalFleet[] = [];
afterAll(async () => {
  for (const f of fleets) await f.stop();
});

const balancers: ('builtin' | 'nginx')[] = ['builtin', ...(findOnPath('nginx') ? (['nginx'] as const) : [])];
describe.each(balancers)('local fleet behind %s', (balancer) => {
  it('rolls 3 instances, rolls back a never-ready version, and serves through the balancer all along', async () => {
    const fleet = await createLocalFleet({ command: [node24, app], instances: 3, basePort: await freePort({ min: 20000, max: 30000 }), balancer, env: (v) => (v === 'bad' ? { READY_FAIL: '1', CRASH_AFTER_MS: '400' } : {}), drainTimeoutMs: 5000 });
    fleets.push(fleet);
    expect(fleet.balancer).toBe(balancer);
    await fleet.start('v1');
    expect(await versionAt(fleet.url)).toBe('v1');
    const log = new MemoryReporter();
    // Constant traffic through the balancer while rolling: no request may fail. A keep-alive
    // connection that an nginx reload closes is retried once on a fresh one, as clients do
    // (TESTING.md); it is counted apart, and a second failure counts as a failure.
    let failures = 0;
    let retried = 0;
    let sent = 0;
    let stop = false;
    const get = () => fetch(`${fleet.url}/work`, { signal: AbortSignal.timeout(5000) });
    const traffic = (async () => {
      while (!stop) {
        sent++;
        let r = await get().catch(() => undefined);
        if (!r) {
          retried++;
          r = await get().catch((e: Error) => {
            console.warn(`request failed during the rollout, also on retry: ${e.message} ${String((e.cause as Error | undefined)?.message ?? '')}`);
            return undefined;
          });
        }
        if (!r || r.status !== 200) failures++;
        await r?.arrayBuffer();
      }
    })();
    const r = await rollout(fleet.target, 'v2', { batches: parseBatches('1'), readiness, log });
    expect(r.status).toBe('succeeded');
    expect(fleet.status().map((s) => s.version)).toEqual(['v2', 'v2', 'v2']);
    const bad = await rollout(fleet.target, 'bad', { batches: parseBatches('1'), readiness, log });
    expect(bad.status).toBe('rolled-back');
    expect(bad.failure).toMatchObject({ instance: 'app-1', reason: 'app-1 process exited: exit code 1' });
    expect(bad.failure!.logs).toContain('CRASH_AFTER_MS reached');
    expect(fleet.status().map((s) => s.version)).toEqual(['v2', 'v2', 'v2']);
    stop = true;
    await traffic;
    expect(sent).toBeGreaterThan(20);
    expect(failures).toBe(0);
    expect(retried).toBeLessThan(sent / 10);
    // rollback mode: back to v1
    const back = await rollbackFleet(fleet.target, { batches: parseBatches('1'), readiness, log });
    expect(back.status).toBe('succeeded');
    expect(fleet.status().map((s) => s.version)).toEqual(['v1', 'v1', 'v1']);
    expect(fleet.status().every((s) => s.running && !s.down)).toBe(true);
  });
});

describe('built-in proxy', () => {
  it('skips drained upstreams and retries a GET on the next one when an upstream refuses', async () => {
    const dead = await freePort();
    const fleet = await createLocalFleet({ command: [node24, app], instances: 1, basePort: await freePort(), balancer: 'none' });
    fleets.push(fleet);
    await fleet.start('solo');
    const port = fleet.status()[0]!.port;
    const proxy = await startProxy({ upstreams: [{ id: 'dead', host: '127.0.0.1', port: dead }, { id: 'live', host: '127.0.0.1', port }] });
    try {
      for (let i = 0; i < 4; i++) expect((await fetch(`${proxy.url}/work`)).status).toBe(200);
      proxy.setDown(['live'], true);
      expect((await fetch(`${proxy.url}/work`)).status).toBe(502);
      proxy.setDown(['live'], false);
      expect(await versionAt(proxy.url)).toBe('solo');
    } finally {
      await proxy.close();
    }
  });
});

describe('command target', () => {
  it('runs the user programs per phase with placeholders, and rolls back with switch-back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-cmd-'));
    const journal = join(dir, 'journal');
    writeFileSync(journal, '');
    // A tiny "platform": each phase appends a line; ready-check fails for version v3.
    const script = join(dir, 'phase.mjs');
    writeFileSync(script, `import { appendFileSync } from 'node:fs';\nconst [phase, inst, ver] = process.argv.slice(2);\nappendFileSync(${JSON.stringify(journal)}, phase + ' ' + inst + ' ' + (ver ?? '') + '\\n');\nif (phase === 'ready' && ver === 'v3') { console.log('not ready: v3 is broken'); process.exit(1); }\n`);
    const cmd = (phase: string, withVersion = true) => [node24, script, phase, '{instance}', ...(withVersion ? ['{version}'] : [])];
    const target = () =>
      new CommandTarget({
        instances: ['a', 'b'],
        commands: { start: cmd('start'), stop: cmd('stop'), drain: cmd('drain', false), undrain: cmd('undrain', false), readyCheck: cmd('ready'), switchBack: cmd('back') },
        readyPath: '/ready',
        previousVersion: 'v1',
      });
    const log = new MemoryReporter();
    const ok = await rollout(target(), 'v2', { batches: parseBatches('1'), readiness: { ...readiness, threshold: 1 }, log });
    expect(ok.status).toBe('succeeded');
    const lines = readFileSync(journal, 'utf8').trim().split('\n');
    expect(lines.slice(0, 5)).toEqual(['drain a ', 'stop a v1', 'start a v2', 'ready a v2', 'undrain a ']);
    writeFileSync(journal, '');
    const bad = await rollout(target(), 'v3', { batches: parseBatches('1'), readiness: { ...readiness, threshold: 1, timeoutMs: 1500 }, log });
    expect(bad.status).toBe('rolled-back');
    expect(bad.failure!.lastAnswer).toBe('exit 1: not ready: v3 is broken');
    expect(readFileSync(journal, 'utf8')).toContain('back a v1');
  });
});
