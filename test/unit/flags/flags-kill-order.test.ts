/**
 * The kill switch comes first: when a rollout fails (a gate here), the engine runs beforeUndo —
 * the release's flags are switched off, through the command provider running real commands — and
 * only then rolls the instances back. The record of the switch lands on the result.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { rollout, type DeployTarget, type InstanceRef } from '../../../src/deploy/engine.ts';
import { CommandFlagProvider } from '../../../src/flags/command.ts';
import { applyFlagChanges, killSwitch } from '../../../src/flags/change.ts';
import type { FlagChange } from '../../../src/flags/model.ts';

/** Two instances in memory; every operation is appended to `events`. */
function memoryFleet(events: string[]): DeployTarget {
  const running = new Map<string, string>([['a', 'v1'], ['b', 'v1']]);
  return {
    kind: 'memory',
    strategy: 'beside',
    instances: async (): Promise<InstanceRef[]> => [...running.keys()].map((id) => ({ id, url: `http://${id}` })),
    currentVersion: async (i) => running.get(i.id),
    previousVersion: async () => 'v1',
    drain: async () => undefined,
    undrain: async () => undefined,
    stop: async () => undefined,
    deploy: async (i, v) => { events.push(`deploy ${i.id} ${v}`); running.set(i.id, v); return { readyUrl: `mem:${i.id}` }; },
    switchBack: async (i, v) => { events.push(`switchBack ${i.id} ${v}`); running.set(i.id, v); return { readyUrl: `mem:${i.id}` }; },
    probe: async () => ({ ok: true, answer: 'ok' }),
    close: async () => undefined,
  };
}

describe('kill switch before the rollback', () => {
  it('turns the release flags off first, then rolls the instances back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-flags-'));
    const store = join(dir, 'flags.json');
    writeFileSync(store, JSON.stringify({ checkout: { enabled: true, rollout: 25 }, search: { enabled: true } }));
    // A tiny flag "system": a JSON file, read and written by real processes given argument arrays.
    const script = `const fs=require('fs');const f=${JSON.stringify(store)};const s=JSON.parse(fs.readFileSync(f,'utf8'));const n=process.env.SLIPWAY_FLAG;if(!(n in s)){process.exit(2)}if(process.argv[1]==='read'){process.stdout.write(JSON.stringify(s[n]))}else{s[n]={enabled:process.env.SLIPWAY_FLAG_ENABLED==='true',...(process.env.SLIPWAY_FLAG_ROLLOUT?{rollout:Number(process.env.SLIPWAY_FLAG_ROLLOUT)}:{})};fs.writeFileSync(f,JSON.stringify(s))}`;
    const provider = new CommandFlagProvider({ command: [process.execPath, '-e', script, 'write'], readCommand: [process.execPath, '-e', script, 'read'], environment: 'production' });
    const events: string[] = [];
    const log = new MemoryReporter();
    const r = await rollout(memoryFleet(events), 'v2', {
      batches: [{ count: 1 }],
      log,
      gate: async () => ({ pass: false, reason: 'error-ratio 12% > 1%' }),
      beforeUndo: async (failure) => {
        events.push(`kill switch (${failure.phase})`);
        const changes = await killSwitch(provider, ['checkout', 'search'], { actor: { who: 'slipway', run: 'test' }, log, deadlineMs: 10_000 });
        events.push('flags off');
        return changes;
      },
    });
    expect(r.status).toBe('rolled-back');
    expect(events).toEqual(['deploy a v2', 'kill switch (gate)', 'flags off', 'switchBack a v1']);
    const changes = r.beforeUndo as FlagChange[];
    expect(changes.map((c) => [c.flag, c.ok, c.from, c.to])).toEqual([
      ['checkout', true, { enabled: true, rollout: 25 }, { enabled: false, rollout: 25 }],
      ['search', true, { enabled: true }, { enabled: false }],
    ]);
    expect(JSON.parse(readFileSync(store, 'utf8'))).toEqual({ checkout: { enabled: false, rollout: 25 }, search: { enabled: false } });
  });

  it('a kill switch that cannot switch a flag says so loudly and the rollback still runs', async () => {
    const provider = new CommandFlagProvider({ command: [process.execPath, '-e', 'process.exit(75)'], readCommand: [process.execPath, '-e', 'process.stdout.write("on")'], environment: 'production' });
    const events: string[] = [];
    const log = new MemoryReporter();
    const r = await rollout(memoryFleet(events), 'v2', {
      batches: [{ count: 1 }],
      log,
      gate: async () => ({ pass: false, reason: 'p99 2.1s > 1s' }),
      beforeUndo: () => killSwitch(provider, ['checkout'], { actor: { who: 'slipway', run: 'test' }, log, deadlineMs: 600, backoffMs: 50 }),
    });
    expect(r.status).toBe('rolled-back');
    expect(events).toEqual(['deploy a v2', 'switchBack a v1']);
    expect((r.beforeUndo as FlagChange[])[0]).toMatchObject({ flag: 'checkout', ok: false });
    expect(log.text()).toMatch(/KILL SWITCH FAILED: flag 'checkout' could not be switched off on command .* \(production\) within 600ms after \d+ attempt\(s\): command .*(exited with code 75|did not finish before the deadline)\. Turn it off by hand\./);
  });

  it('the command provider: an unknown flag (exit 2) fails before anything changes, naming the flag and the command; values arrive in the environment', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-flags-'));
    const store = join(dir, 'flags.json');
    writeFileSync(store, JSON.stringify({ checkout: { enabled: false } }));
    const script = `const fs=require('fs');const f=${JSON.stringify(store)};const s=JSON.parse(fs.readFileSync(f,'utf8'));const n=process.env.SLIPWAY_FLAG;if(!(n in s)){console.error('no flag '+n);process.exit(2)}if(process.argv[1]==='read'){process.stdout.write(JSON.stringify(s[n]))}else{s[n]={enabled:process.env.SLIPWAY_FLAG_ENABLED==='true',...(process.env.SLIPWAY_FLAG_ROLLOUT?{rollout:Number(process.env.SLIPWAY_FLAG_ROLLOUT)}:{})};fs.writeFileSync(f,JSON.stringify(s))}`;
    const provider = new CommandFlagProvider({ command: [process.execPath, '-e', script, 'write'], readCommand: [process.execPath, '-e', script, 'read'], environment: 'production' });
    await expect(applyFlagChanges(provider, [{ flag: 'checkout', action: 'rollout', percent: 10 }, { flag: 'ghost', action: 'enable' }], { actor: { who: 'a', run: 'b' } })).rejects.toThrow(`flag 'ghost' does not exist (command ${process.execPath} exited 2): no flag ghost`);
    expect(JSON.parse(readFileSync(store, 'utf8'))).toEqual({ checkout: { enabled: false } });
    const r = await applyFlagChanges(provider, [{ flag: 'checkout', action: 'rollout', percent: 10 }], { actor: { who: 'a', run: 'b' } });
    expect(r.changes[0]).toMatchObject({ from: { enabled: false }, to: { enabled: true, rollout: 10 }, ok: true, provider: 'command' });
  });
});
