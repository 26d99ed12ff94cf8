/** The deploy lock's all-or-none discipline over fake parts (the real parts: test/integration/deploy/hosts-lock.test.ts). */
import { describe, expect, it } from 'vitest';
import { DeployLock, describeHolder, newHolder, type LockHolder, type LockPart } from '../../../src/deploy/lock.ts';
import { MemoryReporter } from '../../../src/lib/report.ts';

function part(where: string, held = new Map<string, LockHolder>()): LockPart & { holder?: LockHolder } {
  const p: LockPart & { holder?: LockHolder } = {
    where,
    async take(h, now) {
      if (p.holder && Date.parse(p.holder.until) > now) return { taken: false, holder: p.holder };
      const broke = p.holder;
      p.holder = h;
      held.set(where, h);
      return broke ? { taken: true, broke } : { taken: true };
    },
    async give(token) {
      if (p.holder?.token === token) p.holder = undefined;
    },
  };
  return p;
}

const opts = () => ({ waitMs: 0, log: new MemoryReporter(), signal: new AbortController().signal });

describe('DeployLock', () => {
  it('all or none: a held part gives back the parts already taken and names the holder', async () => {
    const [a, b, c] = [part('web1'), part('web2'), part('web3')];
    b.holder = newHolder({ actor: 'mallory', runUrl: 'https://x/runs/1', version: 'v9', ttlMs: 60_000 });
    const lock = new DeployLock([a, b, c]);
    await expect(lock.acquire(newHolder({ actor: 'bob', version: 'v2', ttlMs: 60_000 }), opts())).rejects.toThrow(/the deploy lock on web2 is held by mallory \(https:\/\/x\/runs\/1\) for v9, "deploy v9", since .*; nothing was changed/);
    expect(a.holder).toBeUndefined();
    expect(c.holder).toBeUndefined();
  });
  it('waits up to lock-wait, then takes it', async () => {
    const a = part('web1');
    a.holder = newHolder({ actor: 'x', version: 'v1', ttlMs: 60_000 });
    setTimeout(() => (a.holder = undefined), 150);
    const o = { ...opts(), waitMs: 5_000, pollMs: 50 };
    const h = newHolder({ actor: 'bob', version: 'v2', ttlMs: 60_000 });
    await new DeployLock([a]).acquire(h, o);
    expect(a.holder?.token).toBe(h.token);
    expect(o.log.lines.map((l) => l.message).join('\n')).toMatch(/held by x .*waiting up to/);
  });
  it('an expired holder is broken with a warning naming it; release gives back only our own', async () => {
    const a = part('web1');
    a.holder = newHolder({ actor: 'old', version: 'v0', ttlMs: 1, now: Date.now() - 10_000 });
    const o = opts();
    const h = newHolder({ actor: 'bob', version: 'v2', ttlMs: 60_000 });
    const lock = new DeployLock([a]);
    await lock.acquire(h, o);
    expect(o.log.lines.find((l) => l.level === 'warning')?.message).toMatch(/broke the expired deploy lock on web1: it was held by old for v0/);
    await lock.release('someone-else');
    expect(a.holder?.token).toBe(h.token);
    await lock.release(h.token);
    expect(a.holder).toBeUndefined();
  });
  it('describes an unknown holder', () => {
    expect(describeHolder(undefined)).toMatch(/unknown holder/);
  });
});
