import { describe, expect, it } from 'vitest';
import { exec, execOk } from '../../../src/lib/exec.ts';

describe('exec', () => {
  it('passes arguments verbatim, never through a shell', async () => {
    const r = await exec('printf', ['%s|', '; rm -rf /', '$(id)', '`id`', 'a b']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('; rm -rf /|$(id)|`id`|a b|');
  });
  it('captures exit codes and stderr', async () => {
    const r = await exec('sh', ['-c', 'echo oops >&2; exit 3']);
    expect(r.code).toBe(3);
    expect(r.stderr.trim()).toBe('oops');
    await expect(execOk('sh', ['-c', 'echo bad >&2; exit 2'], { what: 'the step' })).rejects.toThrow(/the step exited with code 2: bad/);
  });
  it('kills a program that runs past its timeout', async () => {
    const r = await exec('sleep', ['10'], { timeoutMs: 200, killGraceMs: 200 });
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe('SIGTERM');
  });
  it('says which program is missing', async () => {
    await expect(exec('no-such-program-slipway', [])).rejects.toThrow(/program not found: no-such-program-slipway/);
  });
  it('streams lines as they come', async () => {
    const lines: string[] = [];
    await exec('sh', ['-c', 'echo one; echo two'], { onLine: (l) => lines.push(l) });
    expect(lines).toEqual(['one', 'two']);
  });
});
