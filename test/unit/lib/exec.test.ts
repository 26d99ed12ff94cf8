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
  it('inputLater: the program gets input at once and the rest when the promise resolves', async () => {
    let go!: (more: string | undefined) => void;
    const later = new Promise<string | undefined>((r) => (go = r));
    const run = exec('sh', ['-c', 'read a; echo "got $a"; read b || b=none; echo "then $b"'], { input: 'first\n', inputLater: later, timeoutMs: 10_000 });
    // The first line is read before the second is sent: the program waits on stdin meanwhile.
    await new Promise((r) => setTimeout(r, 200));
    go('second\n');
    const r = await run;
    expect(r.stdout).toBe('got first\nthen second\n');
    // Resolving undefined closes stdin with nothing more.
    const closed = await exec('sh', ['-c', 'read a; read b || b=none; echo "$a $b"'], { input: 'one\n', inputLater: Promise.resolve(undefined) });
    expect(closed.stdout).toBe('one none\n');
  });

  it('inputLater: a program that exits first does not wait for the promise', async () => {
    const never = new Promise<string | undefined>(() => {});
    const r = await exec('sh', ['-c', 'exit 3'], { input: 'x\n', inputLater: never, timeoutMs: 10_000 });
    expect(r.code).toBe(3);
    expect(r.timedOut).toBe(false);
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
