import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TAG_RULES, commitSha, computeTags, identityTag, ociLabels, parseImageName, parseKeyValueLines, parseTagRules, sanitizeTag,
  type GitContext,
} from '../../../src/images/tags.ts';

const SHA = '0123456789abcdef0123456789abcdef01234567';
const HEAD = 'fedcba9876543210fedcba9876543210fedcba98';
const now = new Date('2025-03-04T05:06:07Z');
const repo = { full_name: 'acme/shop', default_branch: 'main' };

function ctx(over: Partial<GitContext>): GitContext {
  return { sha: SHA, ref: 'refs/heads/main', eventName: 'push', event: { repository: repo }, defaultBranch: 'main', repository: 'acme/shop', serverUrl: 'https://github.com', ...over };
}

const contexts: Array<[string, GitContext, string[]]> = [
  ['push to main (default branch)', ctx({}), ['0123456', SHA, 'main', 'latest']],
  ['push to a feature branch', ctx({ ref: 'refs/heads/feature/login-form' }), ['0123456', SHA, 'feature-login-form']],
  ['tag v1.2.3', ctx({ ref: 'refs/tags/v1.2.3' }), ['0123456', SHA, '1.2.3', '1.2']],
  ['prerelease tag v2.0.0-rc.1', ctx({ ref: 'refs/tags/v2.0.0-rc.1' }), ['0123456', SHA, '2.0.0-rc.1']],
  [
    'pull request 42 (head SHA, not the merge commit)',
    ctx({ ref: 'refs/pull/42/merge', eventName: 'pull_request', sha: SHA, event: { number: 42, pull_request: { number: 42, head: { sha: HEAD } }, repository: repo } }),
    ['fedcba9', HEAD, 'pr-42'],
  ],
  ['schedule on main (no latest)', ctx({ eventName: 'schedule' }), ['0123456', SHA, 'main']],
  ['push to main without a known default branch', ctx({ defaultBranch: undefined }), ['0123456', SHA, 'main']],
  ['manual run on main', ctx({ eventName: 'workflow_dispatch' }), ['0123456', SHA, 'main', 'latest']],
];

describe('computeTags with the default rules', () => {
  const rules = parseTagRules(DEFAULT_TAG_RULES);
  for (const [name, c, expected] of contexts) {
    it(name, () => {
      expect(computeTags(rules, c, { latest: 'auto', now }).map((t) => t.tag)).toEqual(expected);
    });
  }
  it('latest: false never adds latest', () => {
    expect(computeTags(rules, ctx({}), { latest: 'false', now }).map((t) => t.tag)).not.toContain('latest');
  });
  it('the identity tag is the full SHA (the PR head on pull requests)', () => {
    const c = contexts[4]![1];
    const tags = computeTags(rules, c, { latest: 'auto', now });
    expect(identityTag(rules, tags)).toBe(HEAD);
    expect(commitSha(c)).toBe(HEAD);
  });
});

describe('tag rules', () => {
  const tags = (text: string, c: GitContext = ctx({})) => computeTags(parseTagRules(text), c, { latest: 'false', now }).map((t) => t.tag);
  it('sha length, prefix and suffix', () => {
    expect(tags('type=sha,length=12\ntype=sha,prefix=sha-,suffix=-amd64')).toEqual(['0123456789ab', 'sha-0123456-amd64']);
  });
  it('semver patterns and the 0.x major rule', () => {
    expect(tags('type=semver,pattern={{major}}\ntype=semver,pattern=v{{major}}.{{minor}}.{{patch}}', ctx({ ref: 'refs/tags/v3.4.5' }))).toEqual(['3', 'v3.4.5']);
    expect(tags('type=semver,pattern={{major}}', ctx({ ref: 'refs/tags/0.4.5' }))).toEqual([]);
    expect(tags('type=semver,pattern={{version}}', ctx({ ref: 'refs/tags/release-1' }))).toEqual([]);
    expect(tags('type=semver,pattern={{version}},value=4.5.6')).toEqual(['4.5.6']);
  });
  it('raw values, bare words, placeholders and enable', () => {
    expect(tags('staging\ntype=raw,value=build-{{sha}}\ntype=raw,value=nightly-{{date \'YYYYMMDD\'}}')).toEqual(['staging', 'build-0123456', 'nightly-20250304']);
    expect(tags('type=raw,value=edge,enable={{is_default_branch}}', ctx({ ref: 'refs/heads/dev' }))).toEqual([]);
    expect(tags('type=raw,value=edge,enable={{is_default_branch}}')).toEqual(['edge']);
    expect(tags('type=raw,value=x,enable=false')).toEqual([]);
  });
  it('ref event=tag and schedule', () => {
    expect(tags('type=ref,event=tag', ctx({ ref: 'refs/tags/release/2025' }))).toEqual(['release-2025']);
    expect(tags("type=schedule,pattern=nightly-{{date 'YYYYMMDD'}}", ctx({ eventName: 'schedule' }))).toEqual(['nightly-20250304']);
    expect(tags('type=schedule')).toEqual([]);
  });
  it('sanitizes branch names into valid tags', () => {
    expect(sanitizeTag('feature/ÜBER_fix')).toBe('feature--BER_fix');
    expect(sanitizeTag('.hidden')).toMatch(/^[A-Za-z0-9_]/);
    expect(sanitizeTag('x'.repeat(300))).toHaveLength(128);
  });
  it('duplicates are dropped', () => {
    expect(tags('type=raw,value=a\na')).toEqual(['a']);
  });
});

describe('invalid tag grammar: clear errors', () => {
  const bad: Array<[string, RegExp]> = [
    ['type=bogus', /line 1 .*unknown type "bogus"/],
    ['type=sha,length=2', /length must be a whole number from 4 to 40/],
    ['type=sha,format=long,length=9', /length applies to format=short only/],
    ['type=ref', /needs event=branch, event=tag or event=pr/],
    ['type=semver', /needs pattern=/],
    ['type=semver,pattern={{majr}}', /unknown placeholder \{\{majr\}\}/],
    ['type=raw', /needs value=/],
    ['type=raw,value=has space', /characters a tag cannot hold/],
    ['type=raw,value=a,colour=red', /has no attribute "colour"/],
    ['type=sha\n\ntype=sha,enable=maybe', /line 3 .*enable must be/],
    ['type=raw,value=a,value=b', /"value" given twice/],
    ['type=sha,format', /is not key=value/],
  ];
  for (const [text, re] of bad) it(JSON.stringify(text), () => expect(() => parseTagRules(text)).toThrow(re));
  it('a tag computed from a template that is too long', () => {
    const rules = parseTagRules(`type=raw,value=${'a'.repeat(125)}-{{sha}}`);
    expect(() => computeTags(rules, ctx({}), { latest: 'false', now })).toThrow(/not a valid tag/);
  });
  it('a missing SHA for type=sha', () => {
    expect(() => computeTags(parseTagRules('type=sha'), ctx({ sha: '' }), { latest: 'false', now })).toThrow(/not a 40-character hex SHA/);
  });
});

describe('parseImageName', () => {
  it.each([
    ['ghcr.io/acme/api', 'ghcr.io', 'acme/api'],
    ['127.0.0.1:5000/demo/app', '127.0.0.1:5000', 'demo/app'],
    ['localhost/app', 'localhost', 'app'],
    ['acme/api', 'registry-1.docker.io', 'acme/api'],
    ['nginx', 'registry-1.docker.io', 'library/nginx'],
    ['docker.io/acme/api', 'registry-1.docker.io', 'acme/api'],
    ['registry.example.com:8443/a/b/c.d_e', 'registry.example.com:8443', 'a/b/c.d_e'],
  ])('%s', (name, registry, repository) => {
    expect(parseImageName(name)).toMatchObject({ registry, repository, name });
  });
  it('lowercases the mixed case GitHub gives (ghcr.io/${{ github.repository }})', () => {
    expect(parseImageName('ghcr.io/Octocat/Hello-World')).toMatchObject({ registry: 'ghcr.io', repository: 'octocat/hello-world', name: 'ghcr.io/octocat/hello-world' });
  });
  it.each([
    ['ghcr.io/acme/api:v1', /without a tag/],
    ['ghcr.io/acme/api@sha256:abc', /without a digest/],
    ['ghcr.io/', /no repository path|not a valid repository/],
    ['', /empty image name/],
    ['ghcr.io/acme//api', /not a valid repository path component/],
    ['bad_host.io:99999x/app', /not a valid registry host/],
  ])('rejects %s', (name, re) => expect(() => parseImageName(name)).toThrow(re));
});

describe('labels', () => {
  it('OCI labels from the context', () => {
    const rules = parseTagRules(DEFAULT_TAG_RULES);
    const c = ctx({ ref: 'refs/tags/v1.2.3' });
    const labels = ociLabels(c, computeTags(rules, c, { latest: 'auto', now }), { now, extra: { team: 'payments' } });
    expect(labels).toEqual({
      'org.opencontainers.image.created': '2025-03-04T05:06:07.000Z',
      'org.opencontainers.image.revision': SHA,
      'org.opencontainers.image.source': 'https://github.com/acme/shop',
      'org.opencontainers.image.url': 'https://github.com/acme/shop',
      'org.opencontainers.image.version': '1.2.3',
      'org.opencontainers.image.title': 'shop',
      team: 'payments',
    });
  });
  it('version on a PR is pr-N and revision is the head SHA', () => {
    const c = contexts[4]![1];
    const rules = parseTagRules(DEFAULT_TAG_RULES);
    const labels = ociLabels(c, computeTags(rules, c, { latest: 'auto', now }), { now });
    expect(labels['org.opencontainers.image.version']).toBe('pr-42');
    expect(labels['org.opencontainers.image.revision']).toBe(HEAD);
  });
  it('KEY=VALUE lines keep = and , in values', () => {
    expect(parseKeyValueLines('A=1,2\n# c\nB=x=y\n', 'build-args')).toEqual([['A', '1,2'], ['B', 'x=y']]);
    expect(() => parseKeyValueLines('novalue', 'build-args')).toThrow(/line 1: expected KEY=VALUE/);
  });
});
