/**
 * The step executor's rules (src/deploy/executor.ts), once for every strategy and target: the
 * undo log runs in reverse, every entry runs, the status says what the undo achieved, the gate's
 * verdicts and errors, cancellation left to a post step or undone at once.
 */
import { describe, expect, it } from 'vitest';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { executeSteps, type Step, type StepRecord } from '../../../src/deploy/executor.ts';
import type { GateFn } from '../../../src/deploy/engine.ts';

/** n steps; step k (from 1) records the undo entry `undo k`; `failAt` fails that step after it changed something. */
function plan(n: number, o: { failAt?: number; throwAt?: number; undoFails?: number[]; optional?: number[]; trace: string[] }) {
  const records: StepRecord[] = [];
  const steps: Step[] = [];
  for (let k = 1; k <= n; k++) {
    const record: StepRecord = { outcome: 'running' };
    records.push(record);
    steps.push({
      record,
      run: async (ctx) => {
        o.trace.push(`switch ${k}`);
        ctx.undo({
          what: `undo ${k}`,
          optional: o.optional?.includes(k),
          run: async () => {
            o.trace.push(`undo ${k}`);
            if (o.undoFails?.includes(k)) throw new Error(`undo ${k} broke`);
          },
        });
        if (o.throwAt === k) throw new Error(`target error at ${k}`);
        if (o.failAt === k) return { phase: 'readiness', instance: `i${k}`, reason: `i${k} not ready within 1s` };
        return undefined;
      },
      gate: k < n ? { after: `batch ${k}`, context: async (signal) => ({ batch: k, totalBatches: n, newInstances: [], oldInstances: [], signal }) } : undefined,
    });
  }
  return { steps, records };
}

const opts = (trace: string[], extra: Partial<Parameters<typeof executeSteps>[1]> = {}) => ({
  signal: new AbortController().signal,
  log: new MemoryReporter(),
  warnings: [] as string[],
  beforeUndo: async () => {
    trace.push('kill switch');
    return 'flags off';
  },
  ...extra,
});

describe('executeSteps', () => {
  it('a failing step: the undo log runs in reverse after the kill switch; rolled-back; the step record says failed', async () => {
    const trace: string[] = [];
    const { steps, records } = plan(4, { failAt: 3, trace });
    const r = await executeSteps(steps, opts(trace));
    expect(r.status).toBe('rolled-back');
    expect(r.failure).toEqual({ phase: 'readiness', instance: 'i3', reason: 'i3 not ready within 1s' });
    expect(trace).toEqual(['switch 1', 'switch 2', 'switch 3', 'kill switch', 'undo 3', 'undo 2', 'undo 1']);
    expect(records.map((x) => x.outcome)).toEqual(['done', 'done', 'failed', 'running']);
    expect(r.beforeUndo).toBe('flags off');
    expect(r.undone.map((u) => u.what)).toEqual(['undo 3', 'undo 2', 'undo 1']);
  });

  it('a failing gate fails the plan after that step, with the verdict on its record', async () => {
    const trace: string[] = [];
    const { steps, records } = plan(3, { trace });
    let n = 0;
    const gate: GateFn = async () => (++n === 2 ? { pass: false, verdict: 'fail', reason: 'error ratio 12% > 1%' } : { pass: true, reason: 'fine' });
    const r = await executeSteps(steps, opts(trace, { gate }));
    expect(r.status).toBe('rolled-back');
    expect(r.failure).toEqual({ phase: 'gate', reason: 'gate failed after batch 2: error ratio 12% > 1%' });
    expect(records.map((x) => [x.outcome, x.gate?.pass])).toEqual([
      ['done', true],
      ['failed', false],
      ['running', undefined],
    ]);
    expect(trace.filter((t) => t.startsWith('undo'))).toEqual(['undo 2', 'undo 1']);
  });

  it('a gate that throws is a failing verdict, not a crash', async () => {
    const trace: string[] = [];
    const { steps, records } = plan(2, { trace });
    const r = await executeSteps(
      steps,
      opts(trace, {
        gate: async () => {
          throw new Error('prometheus unreachable');
        },
      }),
    );
    expect(r.failure?.reason).toBe('gate failed after batch 1: gate error: prometheus unreachable');
    expect(records[0]!.gate).toMatchObject({ pass: false, verdict: 'error' });
  });

  it('every undo entry runs; a failed one makes it rollback-failed and says why; an optional one does not', async () => {
    const trace: string[] = [];
    const a = plan(3, { throwAt: 3, undoFails: [2], trace });
    const r = await executeSteps(a.steps, opts(trace));
    expect(r.status).toBe('rollback-failed');
    expect(r.failure).toEqual({ phase: 'target', reason: 'target error at 3; undo 2 broke' });
    expect(trace.filter((t) => t.startsWith('undo'))).toEqual(['undo 3', 'undo 2', 'undo 1']);
    const t2: string[] = [];
    const b = plan(3, { failAt: 3, undoFails: [2], optional: [2], trace: t2 });
    const r2 = await executeSteps(b.steps, opts(t2));
    expect(r2.status).toBe('rolled-back');
    expect(r2.failure?.reason).toBe('i3 not ready within 1s; undo 2 broke');
  });

  it('nothing in the undo log: failed (nothing changed), and no kill switch', async () => {
    const trace: string[] = [];
    const r = await executeSteps(
      [{ record: { outcome: 'running' }, run: async () => ({ phase: 'prepare', reason: 'prepare failed, nothing was switched: disk full' }) }],
      opts(trace),
    );
    expect(r.status).toBe('failed');
    expect(trace).toEqual([]);
  });

  it('cancelled: left to the post step (saved state, nothing undone) or undone at once', async () => {
    for (const leaveCancelled of [true, false]) {
      const trace: string[] = [];
      const ctl = new AbortController();
      const { steps, records } = plan(3, { trace });
      const saves: number[] = [];
      const r = await executeSteps(
        steps,
        opts(trace, {
          signal: ctl.signal,
          leaveCancelled,
          save: () => saves.push(trace.length),
          gate: async () => (ctl.abort(), { pass: true, reason: 'fine' }),
        }),
      );
      expect(r.failure?.phase).toBe('cancelled');
      expect(records[0]!.outcome).toBe('done');
      if (leaveCancelled) {
        expect(r.status).toBe('cancelled');
        expect(trace).toEqual(['switch 1']);
      } else {
        expect(r.status).toBe('rolled-back');
        expect(trace).toEqual(['switch 1', 'kill switch', 'undo 1']);
      }
      expect(saves.length).toBeGreaterThan(0);
    }
  });

  it('all steps done: succeeded, nothing undone', async () => {
    const trace: string[] = [];
    const { steps, records } = plan(3, { trace });
    const r = await executeSteps(steps, opts(trace, { gate: async () => ({ pass: true, reason: 'fine' }) }));
    expect(r.status).toBe('succeeded');
    expect(r.done).toBe(3);
    expect(records.every((x) => x.outcome === 'done')).toBe(true);
    expect(trace).toEqual(['switch 1', 'switch 2', 'switch 3']);
  });
});
