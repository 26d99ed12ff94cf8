/**
 * The bad-input corpus: for every action, invalid and hostile values for each of its inputs,
 * generated from the action's spec (src/actions/<name>/inputs.ts). Each case says whether the
 * input's kind makes the value invalid (`reject`: the step must fail at the edge, naming the input,
 * before any side effect) or whether the value is valid but hostile (`hostile`: free text such as a
 * reason may hold `; rm -rf /`; then nothing may be executed and no workflow command forged).
 *
 * Used by test/reliability/bad-input.test.ts (a capped corpus) and bench/bad-input.ts (all of it).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { ActionSpec, InputSpec } from '../../src/manifest/fields.ts';
import { parseYamlText } from '../../src/manifest/fields.ts';

export const ACTIONS = ['smoke-test', 'migrate', 'deploy-rolling', 'slo-gate', 'build-and-tag', 'notify', 'release'] as const;
export type ActionName = (typeof ACTIONS)[number];

export async function loadSpec(action: ActionName): Promise<ActionSpec> {
  const mod = (await import(`../../src/actions/${action}/inputs.ts`)) as { spec: ActionSpec };
  return mod.spec;
}

/** Names that mark a forged command or output: they must never appear as a command, mask, output or file. */
export const FORGED = { output: 'pwned', mask: 'pwnedmask', error: 'forged' } as const;

export type Category = 'type' | 'empty' | 'huge' | 'enum' | 'url' | 'yaml' | 'negative' | 'range' | 'injection' | 'forge' | 'delimiter' | 'secret';

export interface Case {
  action: ActionName;
  input: string;
  category: Category;
  label: string;
  /** The raw value (placeholders {PORT} and {TAG} filled per run: see fill()). */
  value: string;
  /** reject: must fail at the edge; hostile: valid by kind, must cause no harm. */
  expect: 'reject' | 'hostile';
  /** Why the kind makes it invalid (reject) or valid (hostile). */
  why: string;
  /** A secret token inside the value that must never be shown (secret inputs only). */
  secretToken?: string;
}

const HUGE = 'A'.repeat(100_000);
/** "Billion laughs": 10 levels of 10 aliases each (10^10 nodes if expanded). */
const ALIAS_BOMB = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 9 }, (_, i) => `a${i + 1}: &a${i + 1} [${Array(10).fill(`*a${i}`).join(', ')}]`)].join('\n');

/** Hostile strings, valid as free text: {TAG} becomes a per-run marker (the pwned file name). */
export const HOSTILE: Array<{ category: Category; label: string; value: string }> = [
  { category: 'injection', label: 'shell ; rm', value: '; rm -rf /' },
  { category: 'injection', label: 'shell $()', value: '$(touch /tmp/pwned-{TAG})' },
  { category: 'injection', label: 'shell backticks', value: '`touch /tmp/pwned-{TAG}`' },
  { category: 'forge', label: 'newline ::set-output', value: `x\n::set-output name=${FORGED.output}::true` },
  { category: 'forge', label: 'newline ::add-mask', value: `x\n::add-mask::${FORGED.mask}` },
  { category: 'forge', label: 'newline ::error', value: `\n::error::${FORGED.error}` },
  { category: 'delimiter', label: 'GITHUB_OUTPUT delimiter', value: `x\nghadelimiter_00000000-0000-0000-0000-000000000000\n${FORGED.output}=true\nghadelimiter_00000000-0000-0000-0000-000000000000` },
  { category: 'forge', label: 'CRLF ::stop-commands', value: `x\r\n::stop-commands::${FORGED.output}\r\n::set-output name=${FORGED.output}::true` },
];

/** Invalid values per kind, each certain to be invalid for any input of that kind. */
function kindValues(input: InputSpec, port: string): Array<{ category: Category; label: string; value: string }> {
  const hostileMixed = (prefix: string) => [
    { category: 'injection' as Category, label: `${prefix}; rm`, value: `${prefix}; rm -rf /` },
    { category: 'injection' as Category, label: `${prefix}$()`, value: `${prefix}$(touch /tmp/pwned-{TAG})` },
    { category: 'forge' as Category, label: `${prefix}\\n::set-output`, value: `${prefix}\n::set-output name=${FORGED.output}::true` },
    { category: 'forge' as Category, label: `${prefix}\\n::add-mask`, value: `${prefix}\n::add-mask::${FORGED.mask}` },
  ];
  switch (input.kind) {
    case 'boolean':
      return [
        { category: 'type', label: 'yes', value: 'yes' },
        { category: 'type', label: '1', value: '1' },
        { category: 'type', label: 'number', value: '42' },
        ...hostileMixed('true'),
        { category: 'huge', label: '100 kB', value: HUGE },
      ];
    case 'integer':
      return [
        { category: 'type', label: 'word', value: 'abc' },
        { category: 'type', label: 'fraction', value: '1.5' },
        { category: 'range', label: 'negative', value: '-1' },
        { category: 'range', label: 'beyond 2^53', value: '99999999999999999999999' },
        { category: 'type', label: 'exponent', value: '1e3' },
        ...hostileMixed('3'),
        { category: 'huge', label: '100 kB digits', value: '9'.repeat(100_000) },
      ];
    case 'number':
      return [
        { category: 'type', label: 'word', value: 'abc' },
        { category: 'type', label: 'NaN', value: 'NaN' },
        { category: 'type', label: 'Infinity', value: 'Infinity' },
        { category: 'range', label: 'negative', value: '-5' },
        { category: 'type', label: 'hex', value: '0x10' },
        ...hostileMixed('3'),
        { category: 'huge', label: '100 kB', value: HUGE },
      ];
    case 'duration':
      return [
        { category: 'negative', label: 'negative', value: '-5s' },
        { category: 'type', label: 'word', value: 'soon' },
        { category: 'type', label: 'unknown unit', value: '5 parsecs' },
        { category: 'range', label: 'overflow', value: '1e999s' },
        ...hostileMixed('10s'),
        { category: 'huge', label: '100 kB', value: HUGE },
      ];
    case 'percent':
      return [
        { category: 'range', label: '150%', value: '150%' },
        { category: 'negative', label: '-1%', value: '-1%' },
        { category: 'type', label: 'word', value: 'half' },
        { category: 'type', label: 'bare %', value: '%' },
        ...hostileMixed('5%'),
        { category: 'huge', label: '100 kB', value: HUGE },
      ];
    case 'enum':
      return [
        { category: 'enum', label: 'unknown value', value: 'definitely-not-a-value' },
        { category: 'enum', label: 'upper case', value: (input.values?.[0] ?? 'x').toUpperCase() === input.values?.[0] ? 'x' : (input.values?.[0] ?? 'x').toUpperCase() },
        { category: 'enum', label: 'two values', value: (input.values ?? []).slice(0, 2).join(',') },
        ...hostileMixed(input.values?.[0] ?? 'x'),
        { category: 'huge', label: '100 kB', value: HUGE },
      ];
    case 'url':
      return [
        { category: 'url', label: 'not a URL', value: 'not a url' },
        { category: 'url', label: 'no host', value: 'http://' },
        { category: 'url', label: 'ftp scheme', value: `ftp://127.0.0.1:${port}/` },
        { category: 'url', label: 'javascript:', value: 'javascript:alert(1)' },
        { category: 'url', label: 'file:', value: 'file:///etc/passwd' },
        { category: 'url', label: 'space inside', value: `http://127.0.0.1:${port}/a b` },
        { category: 'url', label: 'broken IPv6', value: 'http://[::1' },
        { category: 'url', label: 'newline ::set-output', value: `http://127.0.0.1:${port}/\n::set-output name=${FORGED.output}::true` },
        { category: 'url', label: 'bad port', value: 'http://127.0.0.1:99999/' },
      ];
    case 'yaml':
      return [
        { category: 'yaml', label: 'unclosed flow map', value: '{a: [1, 2' },
        { category: 'yaml', label: 'unclosed list', value: '[1, 2' },
        { category: 'yaml', label: 'JSON double comma', value: '{"a": 1,, "b": 2}' },
        { category: 'yaml', label: 'JSON missing colon', value: '{"a" 1}' },
        { category: 'yaml', label: 'nested block map', value: 'a: b: c' },
        { category: 'yaml', label: 'alias bomb', value: ALIAS_BOMB },
        { category: 'yaml', label: 'bad indentation', value: 'a:\n  - b\n - c' },
        { category: 'yaml', label: 'duplicate key', value: '{"a": 1, "a": 2}' },
        { category: 'yaml', label: 'undefined alias', value: '[*nope]' },
        { category: 'yaml', label: 'unterminated string', value: '["abc' },
        { category: 'yaml', label: 'forge in syntax error', value: `[\n::set-output name=${FORGED.output}::true` },
      ];
    default:
      return [];
  }
}

/**
 * Whether the input's own declaration accepts the value (the same pipeline as parseInputs: empty →
 * default/required, YAML first for yaml inputs). Used only to classify text-like values whose
 * validity depends on a pattern (a hostile string is fine as a reason, not as a version).
 */
export async function accepts(input: InputSpec, raw: string): Promise<boolean> {
  let v = raw;
  if (v.trim() === '') v = input.default ?? '';
  if (v.trim() === '') return !input.required;
  let value: unknown = v;
  if (input.format === 'yaml') {
    try {
      value = await parseYamlText(v, 'x');
    } catch {
      return false;
    }
  }
  return input.schema.safeParse(value).success;
}

/** Kinds whose invalid values are certain from the kind alone (the oracle does not ask the schema). */
const CERTAIN = new Set(['boolean', 'integer', 'number', 'duration', 'percent', 'enum', 'url', 'yaml']);

/** Every case for one action. `port` is a placeholder or a number (URLs point at the counting listener). */
export async function casesFor(action: ActionName, spec?: ActionSpec): Promise<Case[]> {
  const s = spec ?? (await loadSpec(action));
  const out: Case[] = [];
  for (const [name, input] of Object.entries(s.inputs)) {
    const seen = new Set<string>();
    const add = async (c: { category: Category; label: string; value: string }, certain: boolean) => {
      if (seen.has(c.value)) return;
      seen.add(c.value);
      // Forged lines and shell strings are certain rejects for kinds that cannot hold them.
      const ok = certain ? false : await accepts(input, c.value.replace(/\{TAG\}/g, 'x').replace(/\{PORT\}/g, '1'));
      out.push({
        action,
        input: name,
        ...c,
        expect: ok ? 'hostile' : 'reject',
        why: certain ? `a ${input.kind} input (${input.expected.slice(0, 80)})` : ok ? 'valid text for this input' : `${input.expected.slice(0, 80)}`,
      });
    };
    if (input.required && !input.default) await add({ category: 'empty', label: 'empty (required)', value: '' }, true);
    if (input.required && !input.default) await add({ category: 'empty', label: 'blank (required)', value: '  \n ' }, true);
    const certain = input.kind !== undefined && CERTAIN.has(input.kind);
    for (const v of kindValues(input, '{PORT}')) {
      // An enum 'two values' can coincide with a valid value when there is only one.
      await add(v, certain && !(input.kind === 'enum' && input.values?.includes(v.value.trim())));
    }
    if (!certain) {
      await add({ category: 'huge', label: '100 kB', value: HUGE }, false);
      for (const h of HOSTILE) await add(h, false);
    }
    if (input.secret) {
      const token = `s3cr3t-${action}-${name}-${randomBytes(6).toString('hex')}`;
      const c = { category: 'secret' as Category, label: 'secret in a malformed URL', value: `postgresql://user:${token}@127.0.0.1:{PORT}/db?x=\n::set-output name=${FORGED.output}::true` };
      await add(c, false);
      out[out.length - 1]!.secretToken = token;
      const c2 = { category: 'secret' as Category, label: 'secret with newline', value: `${token}\n::error::${FORGED.error}` };
      await add(c2, false);
      out[out.length - 1]!.secretToken = token;
    }
  }
  return out;
}

/**
 * A deterministic sample: at most `perInput` cases per input, chosen so that every category seen for
 * the input is represented first (round-robin over categories), rejects before hostile ones.
 */
export function sample(cases: Case[], perInput: number): Case[] {
  const byInput = new Map<string, Case[]>();
  for (const c of cases) byInput.set(c.input, [...(byInput.get(c.input) ?? []), c]);
  const out: Case[] = [];
  for (const list of byInput.values()) {
    const groups = new Map<string, Case[]>();
    for (const c of list) groups.set(c.category, [...(groups.get(c.category) ?? []), c]);
    const queues = [...groups.values()];
    const picked: Case[] = [];
    while (picked.length < perInput && queues.some((q) => q.length)) for (const q of queues) if (q.length && picked.length < perInput) picked.push(q.shift()!);
    out.push(...picked);
  }
  return out;
}

/** Files the baselines point at (made once per process): a migrations dir, a slipway.yml per port. */
export function fixtureDir(root: string): string {
  const dir = join(root, '.tmp/reliability');
  mkdirSync(join(dir, 'migrations'), { recursive: true });
  writeFileSync(join(dir, 'migrations/0001_init.sql'), 'CREATE TABLE reliability_probe (id int);\n');
  mkdirSync(join(dir, 'context'), { recursive: true });
  writeFileSync(join(dir, 'context/Dockerfile'), 'FROM scratch\nCOPY Dockerfile /Dockerfile\n');
  return dir;
}

export const BASE_DB_PASSWORD = 'rel-db-pw-5f1c2e9a';

/**
 * Valid inputs for each action, pointing only at the counting listener on `port` (127.0.0.1) and at
 * directories that do not matter. With these alone, each action reaches the listener (the control
 * run proves it): so a bad input that still connects is caught.
 */
export function baseline(action: ActionName, port: number, fixtures: string, sentinel: string): Record<string, string> {
  const url = `http://127.0.0.1:${port}`;
  switch (action) {
    case 'smoke-test':
      return { url: `${url}/`, timeout: '1s', deadline: '0' };
    case 'migrate':
      return { mode: 'run', 'database-url': `postgresql://postgres:${BASE_DB_PASSWORD}@127.0.0.1:${port}/app`, dir: join(fixtures, 'migrations'), 'connect-timeout': '1s', 'lock-wait': '1s', lint: 'off' };
    case 'deploy-rolling':
      return {
        target: 'hosts',
        version: 'v1',
        hosts: `127.0.0.1:${port}`,
        'ssh-port': String(port),
        'insecure-skip-host-key-check': 'true',
        'deploy-root': '/nonexistent/slipway-reliability',
        'ready-timeout': '1s',
        'start-command': JSON.stringify(['/usr/bin/touch', sentinel]),
      };
    case 'slo-gate':
      return { provider: 'prometheus', 'prometheus-url': url, objectives: 'error-ratio <= 1%', version: 'v2', 'query-timeout': '1s', 'query-retries': '0', duration: '1s', interval: '1s' };
    case 'build-and-tag':
      return { image: `127.0.0.1:${port}/acme/app`, context: join(fixtures, 'context'), 'registry-timeout': '1s', cache: 'false', 'github-token': '' };
    case 'notify':
      return {
        event: 'failed',
        environment: 'staging',
        channels: 'webhook',
        'webhook-url': `${url}/hook`,
        'github-api-url': url,
        'slack-api-url': `${url}/api`,
        timeout: '500ms',
        deadline: '1s',
        'fail-on-error': 'true',
      };
    case 'release': {
      const cfg = join(fixtures, `slipway-${port}.yml`);
      writeFileSync(
        cfg,
        [
          'version: 1',
          'environments:',
          '  staging:',
          `    url: ${url}/`,
          '    migrate:',
          `      dir: ${join(fixtures, 'migrations')}`,
          '      connect-timeout: 1s',
          '      lock-wait: 1s',
          '      lint: "off"',
          '    deploy:',
          '      target: command',
          '      instances: a',
          `      start-command: ${JSON.stringify(['/usr/bin/touch', sentinel])}`,
          // A valid baseline: the release checks every stage before its first change (checkRelease).
          `      ready-command: ${JSON.stringify(['/usr/bin/true'])}`,
          '    smoke:',
          '      deadline: "0"',
          '      timeout: 1s',
          '',
        ].join('\n'),
      );
      return { environment: 'staging', config: cfg, version: 'v1', stages: 'migrate,deploy,smoke', 'database-url': `postgresql://postgres:${BASE_DB_PASSWORD}@127.0.0.1:${port}/app`, 'github-token': '' };
    }
  }
}

/** Fills the placeholders of a case's value. */
export function fill(value: string, port: number, tag: string): string {
  return value.replace(/\{PORT\}/g, String(port)).replace(/\{TAG\}/g, tag);
}
