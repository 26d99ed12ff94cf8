/** Readiness checks the version that answers (issue 16, item 3). */
import { describe, expect, it } from 'vitest';
import { answeredVersion, checkVersion, waitReady, type ReadyProbe } from '../../../src/deploy/engine.ts';

const base = { threshold: 2, timeoutMs: 5_000, intervalMs: 1, minReadyMs: 0, requestTimeoutMs: 100, signal: new AbortController().signal };

describe('answeredVersion', () => {
  it('reads the X-App-Version header first, then a JSON version field', () => {
    expect(answeredVersion(new Headers({ 'x-app-version': 'v4' }), '{"version":"v3"}')).toBe('v4');
    expect(answeredVersion(new Headers(), '{"ready":true,"version":"v3"}')).toBe('v3');
    expect(answeredVersion(new Headers(), '{"version":7}')).toBe('7');
    expect(answeredVersion(new Headers(), 'OK')).toBeUndefined();
    expect(answeredVersion(new Headers(), '{"ready":true}')).toBeUndefined();
  });
});

describe('checkVersion', () => {
  const ok: ReadyProbe = { ok: true, answer: 'HTTP 200', version: 'v3' };
  it('a 2xx with another version is not ready; off trusts the 2xx', async () => {
    expect(await checkVersion(ok, 'v4', 'required')).toMatchObject({ ok: false, mismatch: 'v3' });
    expect(await checkVersion(ok, 'v3', 'required')).toMatchObject({ ok: true });
    expect(await checkVersion(ok, 'v4', 'off')).toMatchObject({ ok: true });
    expect(await checkVersion({ ok: true, answer: 'HTTP 200' }, 'v4', 'required')).toMatchObject({ ok: false, noVersion: true });
  });
  it('a version command answers instead of the readiness answer', async () => {
    expect(await checkVersion({ ok: true, answer: 'exit 0' }, 'v4', 'required', async () => 'v4')).toMatchObject({ ok: true, version: 'v4' });
    expect(await checkVersion(ok, 'v3', 'required', async () => 'v2')).toMatchObject({ ok: false, mismatch: 'v2' });
    expect(await checkVersion(ok, 'v3', 'required', async () => { throw new Error('boom'); })).toMatchObject({ ok: false, answer: expect.stringContaining('version-command failed: boom') });
  });
});

describe('waitReady with the version check', () => {
  it('fails at once, naming both versions, when the wrong version keeps answering', async () => {
    let n = 0;
    const r = await waitReady(async () => (n++, checkVersion({ ok: true, answer: 'HTTP 200', version: 'v3' }, 'v4', 'required')), { ...base, expectVersion: 'v4' });
    expect(r).toMatchObject({ ok: false, reason: 'answers v3, expected v4' });
    expect(n).toBe(3);
  });
  it('an app that never says its version fails with the way out named', async () => {
    const r = await waitReady(() => checkVersion({ ok: true, answer: 'HTTP 200' }, 'v4', 'required'), { ...base, expectVersion: 'v4' });
    expect(r.reason).toMatch(/answers without saying its version \(expected v4\).*X-App-Version.*version-check: off/);
  });
  it('the old version answering during the start, then the new one: ready', async () => {
    const seq = ['v3', 'v3', 'v4', 'v4'];
    let k = 0;
    const r = await waitReady(() => checkVersion({ ok: true, answer: 'HTTP 200', version: seq[Math.min(k++, 3)] }, 'v4', 'required'), { ...base, expectVersion: 'v4' });
    expect(r.ok).toBe(true);
  });
});
