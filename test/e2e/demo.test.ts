/** `npm run demo`, end to end: the printed outcome, zero failed requests in the good rollout, the bad release rolled back, nothing left running. */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { node24, repoRoot } from '../helpers/runner.ts';
import { descendants, isAlive, type ProcRef } from '../helpers/servers.ts';

describe('npm run demo', () => {
  it('ships v2 with zero failed requests, rolls back the bad v3, and stops everything it started', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'slipway-demo-'));
    const child = spawn(node24, [join(repoRoot, 'src/cli/demo/demo.ts')], { cwd, env: { ...process.env, NO_COLOR: '1', DATABASE_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const seen = new Map<number, ProcRef>();
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const poll = setInterval(() => { for (const p of descendants(child.pid!)) seen.set(p.pid, p); }, 500);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearInterval(poll);

    expect(out).toContain('demo finished: everything went as designed');
    expect(code).toBe(0);
    expect(out).toMatch(/v2: \d+ requests during the rollout, 0 failed/);
    expect(out).toMatch(/gate: fail: error-ratio <= 1%/);
    expect(out).toMatch(/fleet now runs v2; rollback took/);
    expect(out).toMatch(/notifications: 2 signed webhooks, 2 verified/);
    const summary = readFileSync(join(cwd, 'demo-summary.md'), 'utf8');
    expect(summary).toContain('v2 shipped with zero failed requests');
    expect(summary).toMatch(/\| v3 \| rolled-back/);
    // It started instances (and a database and load balancer where present); none is left.
    expect(seen.size).toBeGreaterThanOrEqual(4);
    await new Promise((r) => setTimeout(r, 500));
    expect([...seen.values()].filter((p) => isAlive(p)).map((p) => p.pid)).toEqual([]);
  }, 180_000);
});
