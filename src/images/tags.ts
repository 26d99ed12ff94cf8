/**
 * Image names, tag rules and OCI labels, computed from the GitHub context.
 *
 * The tag grammar follows docker/metadata-action, which users know: one rule per line, each a
 * comma-separated list of key=value attributes.
 *   type=sha                              short commit SHA (7 characters; length=N to change)
 *   type=sha,format=long                  full 40-character SHA
 *   type=ref,event=branch                 branch name (slashes become dashes)
 *   type=ref,event=tag                    git tag name
 *   type=ref,event=pr                     pr-<number>
 *   type=semver,pattern={{version}}       1.2.3 from the tag v1.2.3 ({{major}}, {{minor}}, {{patch}}, {{raw}})
 *   type=schedule,pattern=nightly         on schedule events ({{date 'YYYYMMDD'}} allowed)
 *   type=raw,value=staging                a fixed tag ({{sha}}, {{branch}} allowed); a bare word is type=raw
 * Every rule also takes prefix=, suffix= and enable= (true, false, {{is_default_branch}},
 * {{is_not_default_branch}}).
 *
 * On pull requests the commit is the PR head (event.pull_request.head.sha), not the merge commit
 * GitHub checks out, so `pr-42` and the SHA tags name the code the author pushed.
 */

/** What tag computation needs from the GitHub context (a subset of src/runner GithubContext). */
export interface GitContext {
  sha: string;
  ref: string;
  eventName: string;
  event: Record<string, any>;
  defaultBranch?: string;
  repository: string;
  serverUrl: string;
}

export class TagRuleError extends Error {}

// ------------------------------------------------------------------------------------------------
// Image names
// ------------------------------------------------------------------------------------------------

export interface ImageName {
  /** Registry host (with port): ghcr.io, 127.0.0.1:5000, registry-1.docker.io for Docker Hub. */
  registry: string;
  /** Repository path inside the registry: acme/api (library/nginx on Docker Hub). */
  repository: string;
  /** The name as the user wrote it, without tag or digest: ghcr.io/acme/api. */
  name: string;
}

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const HOST_COMPONENT = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]{1,5})?$/;
const IPV6_HOST = /^\[[0-9a-fA-F:]+\](?::[0-9]{1,5})?$/;
export const TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
export const DIGEST_PATTERN = /^sha256:[a-f0-9]{64}$/;

/**
 * Parses `registry/path/name` (no tag, no digest). Throws with the reason when the name is not a
 * valid image reference. Names without a registry host are Docker Hub names.
 */
export function parseImageName(input: string): ImageName {
  // Registries want lowercase names, but GitHub hands out mixed case (`ghcr.io/${{ github.repository }}`
  // gives ghcr.io/Octocat/Hello-World): lowercase it, as docker/metadata-action does. The name is
  // what every later step uses, so the image is the same whichever case the workflow wrote.
  const name = input.trim().toLowerCase();
  if (!name) throw new TagRuleError('empty image name');
  if (name.includes('@')) throw new TagRuleError('give the image name without a digest (no @sha256:…)');
  const parts = name.split('/');
  const last = parts[parts.length - 1]!;
  if (last.includes(':')) throw new TagRuleError(`give the image name without a tag (":${last.split(':')[1]}"): tags come from the tags input`);
  let registry = 'registry-1.docker.io';
  let path = parts;
  const first = parts[0]!;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))) {
    if (!HOST_COMPONENT.test(first) && !IPV6_HOST.test(first)) throw new TagRuleError(`${JSON.stringify(first)} is not a valid registry host`);
    registry = first === 'docker.io' || first === 'index.docker.io' ? 'registry-1.docker.io' : first;
    path = parts.slice(1);
  }
  if (path.length === 0) throw new TagRuleError('no repository path after the registry host');
  for (const c of path) {
    if (!PATH_COMPONENT.test(c))
      throw new TagRuleError(`${JSON.stringify(c)} is not a valid repository path component (lowercase letters, digits, and . _ - between them)`);
  }
  let repository = path.join('/');
  if (registry === 'registry-1.docker.io' && path.length === 1) repository = `library/${repository}`;
  if (repository.length > 255) throw new TagRuleError('repository path longer than 255 characters');
  return { registry, repository, name };
}

/** Whether plain HTTP is the default for this registry (loopback addresses, like Docker does). */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.replace(/:\d+$/, '');
  return host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '[::1]';
}

// ------------------------------------------------------------------------------------------------
// Tag rules
// ------------------------------------------------------------------------------------------------

export type TagRule =
  | { type: 'sha'; format: 'short' | 'long'; length: number; prefix: string; suffix: string; enable: string; line: number }
  | { type: 'ref'; event: 'branch' | 'tag' | 'pr'; prefix: string; suffix: string; enable: string; line: number }
  | { type: 'semver'; pattern: string; value?: string; prefix: string; suffix: string; enable: string; line: number }
  | { type: 'schedule'; pattern: string; prefix: string; suffix: string; enable: string; line: number }
  | { type: 'raw'; value: string; prefix: string; suffix: string; enable: string; line: number };

const ALLOWED: Record<TagRule['type'], string[]> = {
  sha: ['format', 'length'],
  ref: ['event'],
  semver: ['pattern', 'value'],
  schedule: ['pattern'],
  raw: ['value'],
};
const COMMON = ['type', 'prefix', 'suffix', 'enable'];

/** Splits `a=1,b={{date 'Y,M'}}` on commas outside {{ }} and quotes. */
function splitAttrs(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === quote) quote = '';
    } else if (ch === "'" || ch === '"') {
      if (depth > 0) quote = ch;
    } else if (line.startsWith('{{', i)) {
      depth++;
    } else if (line.startsWith('}}', i) && depth > 0) {
      depth--;
    } else if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  out.push(cur);
  return out.map((s) => s.trim()).filter(Boolean);
}

/** The default rules: short and full SHA, branch, PR and semver tags. */
export const DEFAULT_TAG_RULES = [
  'type=sha',
  'type=sha,format=long',
  'type=ref,event=branch',
  'type=ref,event=pr',
  'type=semver,pattern={{version}}',
  'type=semver,pattern={{major}}.{{minor}}',
].join('\n');

/** Parses the tags input: one rule per line (blank lines and # comments ignored). */
export function parseTagRules(text: string): TagRule[] {
  const rules: TagRule[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (!raw || raw.startsWith('#')) continue;
    const where = `line ${i + 1} ("${raw.length > 60 ? `${raw.slice(0, 60)}…` : raw}")`;
    const attrs: Record<string, string> = {};
    const items = splitAttrs(raw);
    if (items.length === 1 && !items[0]!.includes('=')) {
      attrs.type = 'raw';
      attrs.value = items[0]!;
    } else {
      for (const item of items) {
        const eq = item.indexOf('=');
        if (eq <= 0) throw new TagRuleError(`${where}: ${JSON.stringify(item)} is not key=value`);
        const key = item.slice(0, eq).trim().toLowerCase();
        if (key in attrs) throw new TagRuleError(`${where}: ${JSON.stringify(key)} given twice`);
        attrs[key] = item.slice(eq + 1).trim();
      }
    }
    const type = (attrs.type ?? 'raw') as TagRule['type'];
    if (!(type in ALLOWED)) throw new TagRuleError(`${where}: unknown type ${JSON.stringify(attrs.type)}: use one of sha, ref, semver, schedule or raw`);
    for (const k of Object.keys(attrs)) {
      if (!COMMON.includes(k) && !ALLOWED[type].includes(k)) {
        throw new TagRuleError(
          `${where}: type=${type} has no attribute ${JSON.stringify(k)} (allowed: ${[...ALLOWED[type], 'prefix', 'suffix', 'enable'].join(', ')})`,
        );
      }
    }
    const enable = attrs.enable ?? 'true';
    if (!['true', 'false', '{{is_default_branch}}', '{{is_not_default_branch}}'].includes(enable)) {
      throw new TagRuleError(`${where}: enable must be true, false, {{is_default_branch}} or {{is_not_default_branch}}`);
    }
    const base = { prefix: attrs.prefix ?? '', suffix: attrs.suffix ?? '', enable, line: i + 1 };
    for (const [k, v] of [
      ['prefix', base.prefix],
      ['suffix', base.suffix],
    ] as const) {
      if (v && !/^[A-Za-z0-9_.{}-]+$/.test(v.replace(/\{\{[^}]*\}\}/g, '')))
        throw new TagRuleError(`${where}: ${k} ${JSON.stringify(v)} has characters a tag cannot hold`);
    }
    switch (type) {
      case 'sha': {
        const format = attrs.format ?? 'short';
        if (format !== 'short' && format !== 'long') throw new TagRuleError(`${where}: format must be short or long`);
        let length = format === 'long' ? 40 : 7;
        if (attrs.length !== undefined) {
          if (!/^\d+$/.test(attrs.length) || Number(attrs.length) < 4 || Number(attrs.length) > 40)
            throw new TagRuleError(`${where}: length must be a whole number from 4 to 40`);
          if (format === 'long') throw new TagRuleError(`${where}: length applies to format=short only`);
          length = Number(attrs.length);
        }
        rules.push({ type, format, length, ...base });
        break;
      }
      case 'ref': {
        const event = attrs.event;
        if (event !== 'branch' && event !== 'tag' && event !== 'pr') throw new TagRuleError(`${where}: type=ref needs event=branch, event=tag or event=pr`);
        rules.push({ type, event, ...base, prefix: attrs.prefix ?? (event === 'pr' ? 'pr-' : '') });
        break;
      }
      case 'semver': {
        const pattern = attrs.pattern;
        if (!pattern) throw new TagRuleError(`${where}: type=semver needs pattern= (e.g. {{version}} or {{major}}.{{minor}})`);
        const unknown = [...pattern.matchAll(/\{\{\s*([^}]*?)\s*\}\}/g)]
          .map((m) => m[1]!)
          .filter((p) => !['version', 'major', 'minor', 'patch', 'raw'].includes(p));
        if (unknown.length)
          throw new TagRuleError(`${where}: unknown placeholder {{${unknown[0]}}}: use {{version}}, {{major}}, {{minor}}, {{patch}} or {{raw}}`);
        if (!/\{\{/.test(pattern)) throw new TagRuleError(`${where}: pattern has no placeholder`);
        if (attrs.value !== undefined && !parseSemver(attrs.value))
          throw new TagRuleError(`${where}: value ${JSON.stringify(attrs.value)} is not a semantic version`);
        rules.push({ type, pattern, value: attrs.value, ...base });
        break;
      }
      case 'schedule':
        rules.push({ type, pattern: attrs.pattern ?? 'nightly', ...base });
        checkTemplate(rules[rules.length - 1]!, where, (rules[rules.length - 1] as { pattern: string }).pattern);
        break;
      case 'raw': {
        const value = attrs.value;
        if (!value) throw new TagRuleError(`${where}: type=raw needs value=`);
        checkTemplate({ type, value, ...base }, where, value);
        rules.push({ type, value, ...base });
        break;
      }
    }
  }
  return rules;
}

const RAW_PLACEHOLDERS = /\{\{\s*(sha|branch|tag|date\s+'[^']*'|date\s+"[^"]*")\s*\}\}/g;

function checkTemplate(_rule: TagRule, where: string, text: string) {
  const rest = text.replace(RAW_PLACEHOLDERS, 'x');
  const bad = /\{\{[^}]*\}\}/.exec(rest);
  if (bad) throw new TagRuleError(`${where}: unknown placeholder ${bad[0]}: use {{sha}}, {{branch}}, {{tag}} or {{date 'YYYYMMDD'}}`);
  if (!/^[A-Za-z0-9_.-]+$/.test(rest))
    throw new TagRuleError(`${where}: ${JSON.stringify(text)} has characters a tag cannot hold (letters, digits, _ . - only)`);
}

// ------------------------------------------------------------------------------------------------
// Computing tags
// ------------------------------------------------------------------------------------------------

export interface Semver {
  major: number;
  minor: number;
  patch: number;
  prerelease?: string;
  build?: string;
  raw: string;
}

export function parseSemver(text: string): Semver | undefined {
  const m = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$/.exec(text.trim());
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), prerelease: m[4], build: m[5], raw: text.trim() };
}

/** A branch or tag name made into a valid tag: anything but [A-Za-z0-9_.-] becomes '-'. */
export function sanitizeTag(text: string): string {
  let t = text.replace(/[^A-Za-z0-9_.-]/g, '-');
  if (!/^[A-Za-z0-9_]/.test(t)) t = `_${t}`.replace(/^_[.-]+/, '_');
  return t.slice(0, 128);
}

/** The commit the image is built from: the PR head on pull requests, else GITHUB_SHA. */
export function commitSha(ctx: GitContext): string {
  const head = ctx.event?.pull_request?.head?.sha;
  if (isPullRequest(ctx) && typeof head === 'string' && /^[0-9a-f]{40}$/.test(head)) return head;
  return ctx.sha;
}

export function isPullRequest(ctx: GitContext): boolean {
  return ctx.eventName === 'pull_request' || ctx.eventName === 'pull_request_target' || ctx.ref.startsWith('refs/pull/');
}

export function branchName(ctx: GitContext): string | undefined {
  return ctx.ref.startsWith('refs/heads/') ? ctx.ref.slice('refs/heads/'.length) : undefined;
}

export function gitTagName(ctx: GitContext): string | undefined {
  return ctx.ref.startsWith('refs/tags/') ? ctx.ref.slice('refs/tags/'.length) : undefined;
}

export function prNumber(ctx: GitContext): number | undefined {
  const n = ctx.event?.pull_request?.number ?? ctx.event?.number;
  if (typeof n === 'number' && Number.isInteger(n)) return n;
  const m = /^refs\/pull\/(\d+)\//.exec(ctx.ref);
  return m ? Number(m[1]) : undefined;
}

export function isDefaultBranch(ctx: GitContext): boolean {
  const b = branchName(ctx);
  return !!b && !!ctx.defaultBranch && b === ctx.defaultBranch;
}

function formatDate(fmt: string, d: Date): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return fmt
    .replace(/YYYY/g, String(d.getUTCFullYear()))
    .replace(/MM/g, pad(d.getUTCMonth() + 1))
    .replace(/DD/g, pad(d.getUTCDate()))
    .replace(/HH/g, pad(d.getUTCHours()))
    .replace(/mm/g, pad(d.getUTCMinutes()))
    .replace(/ss/g, pad(d.getUTCSeconds()));
}

export interface ComputedTag {
  tag: string;
  /** Which rule made it (for the summary): `type=sha`, `latest`. */
  source: string;
}

export interface TagOptions {
  /** auto: add `latest` on pushes (and manual runs) to the default branch; false: never. */
  latest: 'auto' | 'false';
  now: Date;
}

function expand(text: string, ctx: GitContext, now: Date): string {
  const sha = commitSha(ctx);
  return text.replace(RAW_PLACEHOLDERS, (_m, what: string) => {
    if (what === 'sha') return sha.slice(0, 7);
    if (what === 'branch') return sanitizeTag(branchName(ctx) ?? '');
    if (what === 'tag') return sanitizeTag(gitTagName(ctx) ?? '');
    return formatDate(what.replace(/^date\s+['"]|['"]$/g, ''), now);
  });
}

/**
 * The tags for this context, in rule order, without duplicates. Throws TagRuleError when a rule
 * yields something that is not a valid tag.
 */
export function computeTags(rules: TagRule[], ctx: GitContext, opts: TagOptions): ComputedTag[] {
  const out: ComputedTag[] = [];
  const add = (tag: string, source: string, line?: number) => {
    if (!tag) return;
    if (!TAG_PATTERN.test(tag))
      throw new TagRuleError(
        `${line ? `line ${line}: ` : ''}${source} gives ${JSON.stringify(tag)}, not a valid tag (letters, digits, _ . - ; up to 128; not starting with . or -)`,
      );
    if (!out.some((t) => t.tag === tag)) out.push({ tag, source });
  };
  const sha = commitSha(ctx);
  const semver = parseSemver(gitTagName(ctx) ?? '');
  for (const r of rules) {
    if (r.enable === 'false') continue;
    if (r.enable === '{{is_default_branch}}' && !isDefaultBranch(ctx)) continue;
    if (r.enable === '{{is_not_default_branch}}' && isDefaultBranch(ctx)) continue;
    const pre = expand(r.prefix, ctx, opts.now);
    const suf = expand(r.suffix, ctx, opts.now);
    const wrap = (core: string) => `${pre}${core}${suf}`;
    switch (r.type) {
      case 'sha':
        if (!/^[0-9a-f]{40}$/.test(sha))
          throw new TagRuleError(`type=sha: the commit SHA ${JSON.stringify(sha)} is not a 40-character hex SHA (is GITHUB_SHA set?)`);
        add(wrap(sha.slice(0, r.length)), r.format === 'long' ? 'type=sha,format=long' : `type=sha${r.length !== 7 ? `,length=${r.length}` : ''}`, r.line);
        break;
      case 'ref': {
        if (r.event === 'branch') {
          const b = branchName(ctx);
          if (b && !isPullRequest(ctx)) add(wrap(sanitizeTag(b)), 'type=ref,event=branch', r.line);
        } else if (r.event === 'tag') {
          const t = gitTagName(ctx);
          if (t) add(wrap(sanitizeTag(t)), 'type=ref,event=tag', r.line);
        } else if (isPullRequest(ctx)) {
          const n = prNumber(ctx);
          if (n !== undefined) add(wrap(String(n)), 'type=ref,event=pr', r.line);
        }
        break;
      }
      case 'semver': {
        const v = r.value !== undefined ? parseSemver(r.value) : semver;
        if (!v) break;
        // Like metadata-action: a prerelease gets only the patterns that keep the full version.
        if (v.prerelease && !/\{\{\s*(version|raw)\s*\}\}/.test(r.pattern)) break;
        // {{major}} alone on 0.x would tag every 0.x release "0": unstable, skipped.
        if (v.major === 0 && /^\{\{\s*major\s*\}\}$/.test(r.pattern)) break;
        const version = `${v.major}.${v.minor}.${v.patch}${v.prerelease ? `-${v.prerelease}` : ''}`;
        const core = r.pattern
          .replace(/\{\{\s*version\s*\}\}/g, version)
          .replace(/\{\{\s*major\s*\}\}/g, String(v.major))
          .replace(/\{\{\s*minor\s*\}\}/g, String(v.minor))
          .replace(/\{\{\s*patch\s*\}\}/g, String(v.patch))
          .replace(/\{\{\s*raw\s*\}\}/g, v.raw);
        add(wrap(sanitizeTag(core)), `type=semver,pattern=${r.pattern}`, r.line);
        break;
      }
      case 'schedule':
        if (ctx.eventName === 'schedule') add(wrap(expand(r.pattern, ctx, opts.now)), 'type=schedule', r.line);
        break;
      case 'raw':
        add(wrap(expand(r.value, ctx, opts.now)), 'type=raw', r.line);
        break;
    }
  }
  if (opts.latest === 'auto' && isDefaultBranch(ctx) && (ctx.eventName === 'push' || ctx.eventName === 'workflow_dispatch'))
    add('latest', 'latest (default branch)');
  return out;
}

/** The tag that identifies the commit (for "already built?"): the full SHA tag, else the first SHA tag. */
export function identityTag(rules: TagRule[], tags: ComputedTag[]): string | undefined {
  const long = tags.find((t) => t.source === 'type=sha,format=long');
  if (long) return long.tag;
  return tags.find((t) => t.source.startsWith('type=sha'))?.tag;
}

// ------------------------------------------------------------------------------------------------
// Labels
// ------------------------------------------------------------------------------------------------

export interface LabelOptions {
  now: Date;
  title?: string;
  /** The version label: defaults to the semver of the tag, else the branch or PR tag, else the short SHA. */
  version?: string;
  extra?: Record<string, string>;
}

/** OCI image labels (also used as manifest annotations): revision, source, created, version, title, url. */
export function ociLabels(ctx: GitContext, tags: ComputedTag[], opts: LabelOptions): Record<string, string> {
  const sha = commitSha(ctx);
  const semver = parseSemver(gitTagName(ctx) ?? '');
  const version =
    opts.version ??
    (semver ? `${semver.major}.${semver.minor}.${semver.patch}${semver.prerelease ? `-${semver.prerelease}` : ''}` : undefined) ??
    tags.find((t) => t.source.startsWith('type=ref'))?.tag ??
    sha.slice(0, 7);
  const source = ctx.repository ? `${ctx.serverUrl.replace(/\/$/, '')}/${ctx.repository}` : '';
  const labels: Record<string, string> = {
    'org.opencontainers.image.created': opts.now.toISOString(),
    'org.opencontainers.image.revision': sha,
    'org.opencontainers.image.source': source,
    'org.opencontainers.image.url': source,
    'org.opencontainers.image.version': version,
    'org.opencontainers.image.title': opts.title ?? ctx.repository.split('/').pop() ?? '',
  };
  for (const [k, v] of Object.entries(labels)) if (!v) delete labels[k];
  return { ...labels, ...(opts.extra ?? {}) };
}

/** Parses KEY=VALUE lines (build args, labels, secrets). Values may hold '=' and ','. */
export function parseKeyValueLines(text: string, what: string, keyPattern = /^[A-Za-z_][A-Za-z0-9_.-]*$/): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new TagRuleError(`${what} line ${i + 1}: expected KEY=VALUE`);
    const key = line.slice(0, eq).trim();
    if (!keyPattern.test(key)) throw new TagRuleError(`${what} line ${i + 1}: ${JSON.stringify(key)} is not a valid name`);
    out.push([key, line.slice(eq + 1)]);
  }
  return out;
}
