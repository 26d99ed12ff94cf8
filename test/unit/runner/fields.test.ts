import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineAction, f, parseInputs } from '../../../src/manifest/fields.ts';

const spec = defineAction({
  name: 'demo',
  title: 't',
  description: 'd',
  inputs: {
    url: f.url({ description: 'u', required: true }),
    timeout: f.duration({ description: 't', default: '10s' }),
    retries: f.integer({ description: 'r', default: '3', min: 0, max: 10 }),
    mode: f.enum(['run', 'lint'] as const, { description: 'm', default: 'run' }),
    flag: f.boolean({ description: 'b', default: 'false' }),
    hosts: f.list({ description: 'h' }),
    token: f.string({ description: 's', secret: true, pattern: /^[a-z]+$/ }),
    items: f.yaml(z.array(z.strictObject({ path: z.string().startsWith('/') })), { description: 'y', expected: 'a list of {path}' }),
  },
  outputs: {},
});

const parse = (raw: Record<string, string>, masks: string[] = []) => parseInputs(spec, (n) => raw[n], (s) => masks.push(s));

describe('parseInputs', () => {
  it('applies defaults and converts types', async () => {
    const v = await parse({ url: 'https://x.example', hosts: 'a, b\nc', flag: 'True' });
    expect(v).toMatchObject({ url: 'https://x.example', timeout: 10_000, retries: 3, mode: 'run', flag: true, hosts: ['a', 'b', 'c'] });
  });
  it('names a missing required input', async () => {
    await expect(parse({})).rejects.toThrow("Input 'url': got nothing; expected a URL starting with http:// or https:// (this input is required)");
  });
  it.each([
    ['timeout', 'soon', /Input 'timeout': got "soon"; expected a duration/],
    ['retries', '11', /Input 'retries': got "11"; expected a whole number from 0 to 10 \(out of range\)/],
    ['mode', 'deploy', /Input 'mode': got "deploy"; expected one of run, lint/],
    ['flag', 'yes', /Input 'flag': got "yes"; expected true or false/],
    ['url', 'ftp://x', /Input 'url': got "ftp:\/\/x"; expected a URL/],
    ['items', '[{path: nope}]', /Input 'items': \[0\]\.path: .*expected a list of \{path\}/],
    ['items', '[{path: /a, extra: 1}]', /Input 'items': \[0\]: Unrecognized key/],
    ['items', '[{path: /a', /Input 'items': YAML\/JSON syntax error at line 1/],
  ])('rejects %s=%j with a message naming it', async (name, value, re) => {
    await expect(parse({ url: 'https://x.example', [name]: value })).rejects.toThrow(re);
  });
  it('escapes newlines and cuts huge values in messages', async () => {
    const err = await parse({ url: 'https://x.example', timeout: `x\n::set-output name=a::b${'y'.repeat(5000)}` }).catch((e: Error) => e.message);
    expect(err).not.toContain('\n');
    expect(String(err).length).toBeLessThan(600);
  });
  it('masks secret inputs at once and never echoes them', async () => {
    const masks: string[] = [];
    const err = await parse({ url: 'https://x.example', token: 'NOT-VALID-s3cret' }, masks).catch((e: Error) => e.message);
    expect(masks).toEqual(['NOT-VALID-s3cret']);
    expect(err).toContain("Input 'token'");
    expect(err).not.toContain('s3cret');
  });
});

describe('YAML inputs that parse but do not resolve', () => {
  it.each([['[*nope]'], ['{a: &x [1], b: *y}']])('%s fails naming the input', async (value) => {
    await expect(parse({ url: 'https://x.example', items: value })).rejects.toThrow(/^Input 'items': YAML\/JSON error: .*; expected a list of \{path\}/);
  });
});

describe('YAML/JSON input caps (issue 18)', () => {
  it('refuses more than 1 MB naming the input, and finds duplicate keys with their line', async () => {
    const { parseYamlText } = await import('../../../src/manifest/fields.ts');
    await expect(parseYamlText(`[${'1,'.repeat(600_000)}1]`, "Input 'checks'")).rejects.toThrow(/^Input 'checks': is 1\.1 MB of YAML\/JSON; expected at most 1 MB$/);
    await expect(parseYamlText('a: 1\nb: 2\na: 3\n', "Input 'x'")).rejects.toThrow(/line 3, column 1: map keys must be unique \("a" appears twice\)/);
    // Linear time for many keys: test/unit/config/config.test.ts times the same duplicate-key check.
  });
});
