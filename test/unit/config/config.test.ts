import { describe, expect, it } from 'vitest';
import { loadConfigText, resolveSecrets, toInputString } from '../../../src/config/load.ts';
import { checkDeployWindow } from '../../../src/policy/deploy-window.ts';
import { configJsonSchema } from '../../../src/config/json-schema.ts';
import { loadSpecs } from '../../../scripts/actions.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const specs = Object.fromEntries((await loadSpecs()).map((s) => [s.name, s]));
const load = (text: string) => loadConfigText(text, 'slipway.yml', specs);

const GOOD = `version: 1
app: { name: shop }
environments:
  staging:
    url: https://staging.example.com
    smoke:
      deadline: 90s
      checks:
        - path: /health
          expect: { status: 200 }
  production:
    url: https://example.com
    window: { timezone: Europe/Berlin, deny: ["fri 15:00-24:00", sat, sun], freeze: ["2026-12-24"] }
    smoke:
      checks: [{ path: /health }]
`;

describe('slipway.yml', () => {
  it('loads environments and gives each action its inputs as strings', async () => {
    const c = await load(GOOD);
    expect(c.environments()).toEqual(['staging', 'production']);
    const inputs = c.inputs('staging', 'smoke-test');
    expect(inputs.url).toBe('https://staging.example.com');
    expect(inputs.deadline).toBe('90s');
    expect(JSON.parse(inputs.checks!)).toEqual([{ path: '/health', expect: { status: 200 } }]);
  });

  it.each([
    ['version: 2\nenvironments: {a: {}}', /^slipway\.yml:1:\d+: version: /],
    ['version: 1\nenvironments:\n  staging:\n    smoek: {}\n', /^slipway\.yml:4:5: environments\.staging\.smoek: unknown key "smoek" \(did you mean "smoke"\?\)/],
    ['version: 1\nenvironments:\n  staging:\n    smoke:\n      dedline: 5s\n', /^slipway\.yml:5:7: environments\.staging\.smoke\.dedline: not an input of smoke-test \(did you mean "deadline"\?\)/],
    ['version: 1\nenvironments:\n  staging:\n    smoke:\n      deadline: soon\n', /^slipway\.yml:5:7: environments\.staging\.smoke\.deadline: got "soon"; expected a duration/],
    ['version: 1\nenvironments:\n  staging:\n    database-url: postgres://u:pw@db/x\n', /^slipway\.yml:4:5: environments\.staging\.database-url: is a secret: write \$\{\{ secrets\.NAME \}\}/],
    ['version: 1\nenvironments:\n  staging:\n    smoke: { url: "https://u:hunter2@x.example" }\n', /environments\.staging\.smoke\.url: contains a password or token/],
    ['version: 1\nenvironments:\n  staging: {\n', /^slipway\.yml:\d+:\d+: YAML syntax error/],
    ['version: 1\nenvironments: {}\n', /environments: expected at least one environment/],
  ])('points at the line and key of each error (%#)', async (text, re) => {
    await expect(load(text)).rejects.toThrow(re);
  });

  it('resolves secret references from the environment, never storing them', async () => {
    const c = await load('version: 1\nenvironments:\n  staging:\n    database-url: ${{ secrets.STAGING_DB }}\n');
    const raw = c.inputs('staging', 'migrate');
    expect(raw['database-url']).toBe('${{ secrets.STAGING_DB }}');
    const masked: string[] = [];
    expect(resolveSecrets(raw, { STAGING_DB: 'postgres://u:pw@db/x' }, (s) => masked.push(s))['database-url']).toBe('postgres://u:pw@db/x');
    expect(masked).toEqual(['postgres://u:pw@db/x']);
    expect(() => resolveSecrets(raw, {}, () => {})).toThrow("input 'database-url' refers to secret STAGING_DB, but the environment variable STAGING_DB is not set");
    // An action step (the runner passes onMissing): a secret the step was not given stays unset, and
    // is named; the action's own check decides whether this run needs it (a lint needs no database).
    const missing: string[] = [];
    expect(resolveSecrets(raw, {}, () => {}, (input, variable) => missing.push(`${input}=${variable}`))).not.toHaveProperty('database-url');
    expect(missing).toEqual(['database-url=STAGING_DB']);
  });

  it('suggests the environment name on a typo', async () => {
    const c = await load(GOOD);
    expect(() => c.inputs('prodution', 'smoke-test')).toThrow(/no environment "prodution" \(did you mean "production"\?\)/);
  });

  it('turns lists and maps into input strings: comma lists for list inputs, JSON for argument arrays and the rest', () => {
    expect(toInputString(['a', 'b'], specs['deploy-rolling']!.inputs.instances)).toBe('a,b');
    expect(toInputString(['node', 'server.js'], specs['deploy-rolling']!.inputs['start-command'])).toBe('["node","server.js"]');
    expect(toInputString(['a', 'b'])).toBe('["a","b"]');
    expect(toInputString([{ path: '/' }])).toBe('[{"path":"/"}]');
    expect(toInputString(true)).toBe('true');
  });

  it('the committed JSON Schema is the one generated from the specs', () => {
    const committed = JSON.parse(readFileSync(join(new URL('../../..', import.meta.url).pathname, 'schema/slipway.schema.json'), 'utf8'));
    expect(committed).toEqual(configJsonSchema(specs));
  });
});

describe('deploy windows', () => {
  const window = { timezone: 'Europe/Berlin', deny: ['fri 15:00-24:00', 'sat'], freeze: ['2026-12-24'] };
  it('blocks Friday afternoon in the configured time zone', () => {
    // 2026-12-04 is a Friday; 14:30 UTC = 15:30 in Berlin.
    const d = checkDeployWindow(window, new Date('2026-12-04T14:30:00Z'));
    expect(d.allowed).toBe(false);
    expect(d.reason).toContain('fri 15:30 Europe/Berlin is inside "fri 15:00-24:00"');
  });
  it('allows Friday morning, blocks freeze dates and whole days', () => {
    expect(checkDeployWindow(window, new Date('2026-12-04T08:00:00Z')).allowed).toBe(true);
    expect(checkDeployWindow(window, new Date('2026-12-24T10:00:00Z')).reason).toContain('2026-12-24 is a freeze date');
    expect(checkDeployWindow(window, new Date('2026-12-05T10:00:00Z')).allowed).toBe(false);
  });
  it('records an override with its reason', () => {
    const d = checkDeployWindow(window, new Date('2026-12-05T10:00:00Z'), 'hotfix for INC-42');
    expect(d).toMatchObject({ allowed: true, overridden: true });
    expect(d.reason).toContain('overridden: hotfix for INC-42');
  });
});

describe('the README example', () => {
  it('is a valid slipway.yml', async () => {
    const readme = readFileSync(join(new URL('../../..', import.meta.url).pathname, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## slipway.yml'));
    const yaml = /```yaml\n([\s\S]*?)```/.exec(section)![1]!;
    const c = await load(yaml);
    expect(c.environments()).toEqual(['staging', 'production']);
    expect(c.inputs('staging', 'deploy-rolling').batches).toBe('1,100%');
  });
});

describe('hostile slipway.yml (issue 18)', () => {
  it('refuses a literal credential anywhere in a URL: a token as user name, in the environment url, in a list or a query', async () => {
    await expect(load('version: 1\nenvironments:\n  staging:\n    url: http://glpat-abcdefghij0123456789@host/\n')).rejects.toThrow(/slipway.yml:4:\d+: environments\.staging\.url: contains a password or token/);
    await expect(load('version: 1\nenvironments:\n  staging:\n    gate:\n      prometheus-url: http://ghp_UserOnlyTok3n@prom:9090\n')).rejects.toThrow(/gate\.prometheus-url: contains a password or token/);
    await expect(load('version: 1\nenvironments:\n  staging:\n    gate:\n      provider: probe\n      urls: [http://h/a, "http://h/b?token=abc123"]\n')).rejects.toThrow(/gate\.urls: contains a password or token/);
    await expect(load('version: 1\nenvironments:\n  staging:\n    url: http://h/?env=prod\n')).resolves.toBeTruthy();
  });

  it('refuses a file over 1 MB naming its size and the cap', async () => {
    const big = `version: 1\nenvironments:\n  staging:\n    url: http://h/\n# ${'x'.repeat(1 << 20)}\n`;
    await expect(load(big)).rejects.toThrow(/slipway\.yml: is 1\.0 MB; expected at most 1 MB/);
  });

  it('finds a duplicate key (in linear time) with its line', async () => {
    await expect(load('version: 1\nenvironments:\n  a: { url: "http://h/" }\n  a: { url: "http://h/" }\n')).rejects.toThrow(/slipway\.yml:4:3: YAML syntax error: map keys must be unique \("a" appears twice\)/);
  });

  it('validates in linear time: 16,000 environments take ~16× (not 256×) as long as 1,000', async () => {
    const gen = (n: number) => {
      let s = 'version: 1\nenvironments:\n';
      for (let i = 0; i < n; i++) s += `  e${i}: { url: "http://h${i % 10}/", smoke: { timeout: 5s } }\n`;
      return s;
    };
    const time = async (text: string) => {
      let best = Infinity;
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        await load(text);
        best = Math.min(best, performance.now() - t);
      }
      return best;
    };
    const small = gen(1000);
    const large = gen(16_000);
    expect(large.length).toBeLessThan(1 << 20);
    await load(small); // warm up
    const ratio = (await time(large)) / (await time(small));
    console.log(`16,000 vs 1,000 environments: ${ratio.toFixed(1)}×`);
    expect(ratio).toBeLessThan(48); // linear: 16×; quadratic: 256×
  }, 300_000);
});
