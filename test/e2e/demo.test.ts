/** `npm run demo`, end to end: the printed outcome, zero failed requests in the good rollout, the bad release rolled back, nothing left running. */
import { describe, expect, it } from 'vitest';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { node24, repoRoot } from '../helpers/runner.ts';

/** Every process whose ancestry leads to pid (read from /proc). */
function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const d of execFileSync('ls', ['/proc'], { encoding: 'utf8' }).split('\n')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(d), ppid);
    } catch {}
  }
  const out: number[] = [];
  for (const [p] of parents) {
    let cur = parents.get(p);
    while (cur && cur !== 1) {
      if (cur === pid) { out.push(p); break; }
      cur = parents.get(cur);
    }
  }
  return out;
}

describe('npm run demo', () => {
  it('ships v2 with zero failed requests, rolls back the bad v3, and stops everything it started', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'slipway-demo-'));
    const child = spawn(node24, [join(repoRoot, 'src/cli/demo.ts')], { cwd, env: { ...process.env, NO_COLOR: '1', DATABASE_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const seen = new Set<number>();
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const poll = setInterval(() => { for (const p of descendants(child.pid!)) seen.add(p); }, 500);
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
    const alive = [...seen].filter((p) => existsSync(`/proc/${p}`) && !/^\S+ \S+ Z/.test(readFileSync(`/proc/${p}/stat`, 'utf8').replace(/\(.*\)/, 'x')));
    expect(alive).toEqual([]);
  }, 180_000);
});
