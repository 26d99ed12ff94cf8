/**
 * The hand-written workflow-command code (src/runner/commands.ts through GithubRuntime) against
 * @actions/core (a dev dependency, the runner's own toolkit) for the same calls: the bytes each
 * writes to stdout and to the GITHUB_OUTPUT / GITHUB_STATE files must be the same. Also checks that
 * the test parser (test/helpers/runner.ts) reads back what was written, in the runner's unescape order.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as core from '@actions/core';
import { GithubRuntime } from '../../../src/runner/index.ts';
import { parseFileCommands, parseWorkflowCommands, unescapeData, unescapeProperty } from '../../helpers/runner.ts';

/** Values that exercise every escape: %, CR, LF, ':' and ',' (props), and sequences that look escaped already. */
const TRICKY = ['plain', '100% done', 'a\nb', 'a\r\nb', 'key: value, more', '%3A is a colon, %2C a comma, %25 a percent', '%250A', 'ends with %', '::error::forged', 'ünïcödé ✓'];

/** What @actions/core writes to stdout during fn. */
function coreStdout(fn: () => void): string {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  });
  try {
    fn();
  } finally {
    spy.mockRestore();
  }
  return out;
}

/** What our runtime writes to stdout during fn. */
function oursStdout(fn: (rt: GithubRuntime) => void, env: Record<string, string> = {}): string {
  let out = '';
  const rt = new GithubRuntime(env, (s) => (out += s));
  fn(rt);
  return out;
}

describe('workflow commands: ours and @actions/core write the same bytes', () => {
  for (const level of ['error', 'warning', 'notice'] as const) {
    it(`${level} with and without annotation properties`, () => {
      for (const msg of TRICKY) {
        expect(oursStdout((rt) => rt[level](msg)), msg).toBe(coreStdout(() => core[level](msg)));
        for (const title of TRICKY) {
          const at = { title, file: `src/${title.replace(/[\r\n]/g, '')}.ts`, line: 12, endLine: 14, col: 3 };
          const ours = oursStdout((rt) => rt[level](msg, at));
          const theirs = coreStdout(() => core[level](msg, { title: at.title, file: at.file, startLine: at.line, endLine: at.endLine, startColumn: at.col }));
          expect(ours, `${level} ${JSON.stringify(msg)} title ${JSON.stringify(title)}`).toBe(theirs);
        }
      }
    });
  }

  it('debug, group and add-mask', async () => {
    for (const msg of TRICKY) {
      expect(oursStdout((rt) => rt.debug(msg))).toBe(coreStdout(() => core.debug(msg)));
      let grouped = '';
      await new GithubRuntime({}, (s) => (grouped += s)).group(msg, async () => undefined);
      expect(grouped).toBe(coreStdout(() => (core.startGroup(msg), core.endGroup())));
    }
    // One form per call (masking also announces derived forms such as base64: compare the first line).
    for (const secret of ['s3cr3t-value', 'pa%ss:wo,rd', 'x\ny-secret']) {
      const ours = oursStdout((rt) => rt.mask(secret)).split('\n')[0] + '\n';
      expect(ours).toBe(coreStdout(() => core.setSecret(secret)));
    }
  });
});

describe('file commands: ours and @actions/core write the same entries (delimiters aside)', () => {
  let dir: string;
  const saved = { GITHUB_OUTPUT: process.env.GITHUB_OUTPUT, GITHUB_STATE: process.env.GITHUB_STATE };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'slipway-cmd-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  });

  it('setOutput and saveState', () => {
    const files = { oursOut: join(dir, 'o1'), coreOut: join(dir, 'o2'), oursState: join(dir, 's1'), coreState: join(dir, 's2') };
    for (const f of Object.values(files)) writeFileSync(f, '');
    process.env.GITHUB_OUTPUT = files.coreOut;
    process.env.GITHUB_STATE = files.coreState;
    const rt = new GithubRuntime({ GITHUB_OUTPUT: files.oursOut, GITHUB_STATE: files.oursState }, () => undefined);
    TRICKY.forEach((v, i) => {
      rt.setOutput(`out-${i}`, v);
      core.setOutput(`out-${i}`, v);
      rt.saveState(`state_${i}`, v);
      core.saveState(`state_${i}`, v);
    });
    const norm = (f: string) => readFileSync(f, 'utf8').replace(/ghadelimiter_[0-9a-f-]{36}/g, 'DELIM');
    expect(norm(files.oursOut)).toBe(norm(files.coreOut));
    expect(norm(files.oursState)).toBe(norm(files.coreState));
    // And the test helpers read every value back unchanged.
    const back = parseFileCommands(readFileSync(files.oursOut, 'utf8'));
    TRICKY.forEach((v, i) => expect(back[`out-${i}`]).toBe(v));
  });
});

describe('the test parser reads workflow commands back in the runner\'s unescape order', () => {
  it('round-trips every tricky value through core\'s escaping (%25 decoded last)', () => {
    for (const v of TRICKY) {
      const line = coreStdout(() => core.error(v, { title: v.replace(/\n/g, ' '), file: 'a.ts' }));
      const [a] = parseWorkflowCommands(line).annotations;
      expect(a!.message).toBe(v);
      expect(a!.props.title).toBe(v.replace(/\n/g, ' '));
    }
  });

  it('an escaped "%3A" in a property stays "%3A" (decoding %25 first would turn it into ":")', () => {
    expect(unescapeProperty('100%253A')).toBe('100%3A');
    expect(unescapeProperty('a%3Ab%2Cc%25')).toBe('a:b,c%');
    expect(unescapeData('%250A')).toBe('%0A');
  });
});
