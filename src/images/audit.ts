/**
 * Dockerfile audit: what ends up in the final image, checked before anything is built.
 *
 * The parser understands what the rules need: instructions with their first line number, line
 * continuations (with the `# escape=` directive), comments inside continuations, multi-stage
 * builds (FROM … AS name, FROM <stage>), global ARGs before the first FROM and their defaults in
 * FROM lines. Heredoc bodies (RUN <<EOF) are skipped.
 *
 * Rules (each finding names the Dockerfile line it is about):
 *   root-user      the final stage has no USER, or its last USER is root / 0
 *   no-healthcheck the final stage has no HEALTHCHECK (or HEALTHCHECK NONE)
 *   secret-env     ENV, ARG or LABEL in the final image whose name looks like a credential
 *                  (TOKEN, PASSWORD, SECRET, API_KEY, PRIVATE_KEY, …) or whose value looks like one
 *                  (AWS access key ids, GitHub/GitLab/Slack tokens, private key blocks)
 *   latest-base    a FROM image with no tag, or with :latest, and no @digest
 *   secret-build-arg a build arg passed to the build whose name looks like a credential (use secrets)
 */

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, ENV… */
  keyword: string;
  /** Everything after the keyword, continuations joined with a space. */
  args: string;
  /** 1-based line of the keyword. */
  line: number;
  endLine: number;
}

export interface Stage {
  index: number;
  name?: string;
  /** The FROM image (after ARG substitution). */
  base: string;
  /** The stage this one builds on, when FROM names an earlier stage. */
  parent?: number;
  fromLine: number;
  instructions: Instruction[];
}

export interface Dockerfile {
  globalArgs: Instruction[];
  stages: Stage[];
}

export type AuditRule = 'root-user' | 'no-healthcheck' | 'secret-env' | 'latest-base' | 'secret-build-arg';

export interface Finding {
  rule: AuditRule;
  line: number;
  message: string;
}

/** Splits a Dockerfile into instructions. */
export function parseInstructions(text: string): Instruction[] {
  const lines = text.split(/\r?\n/);
  let escape = '\\';
  // Parser directives: only at the very top, before any instruction or other comment.
  for (const l of lines) {
    const m = /^#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$/.exec(l);
    if (!m) break;
    if (m[1]!.toLowerCase() === 'escape' && (m[2] === '`' || m[2] === '\\')) escape = m[2]!;
  }
  const out: Instruction[] = [];
  let i = 0;
  while (i < lines.length) {
    const first = lines[i]!;
    const trimmed = first.trim();
    if (!trimmed || trimmed.startsWith('#')) {
      i++;
      continue;
    }
    const start = i;
    let text = '';
    let line = first;
    for (;;) {
      const t = line.replace(/\s+$/, '');
      if (t.endsWith(escape) && i + 1 < lines.length) {
        text += `${t.slice(0, -1)} `;
        i++;
        // comment and empty lines inside a continuation are dropped
        while (i < lines.length && (/^\s*#/.test(lines[i]!) || lines[i]!.trim() === '')) i++;
        if (i >= lines.length) break;
        line = lines[i]!;
        continue;
      }
      text += t;
      break;
    }
    const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(text);
    if (m) {
      const ins: Instruction = { keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start + 1, endLine: i + 1 };
      out.push(ins);
      // Heredocs: RUN <<EOF … EOF (skip the body).
      const hd = [...ins.args.matchAll(/<<-?\s*["']?([A-Za-z_][A-Za-z0-9_]*)["']?/g)].map((x) => x[1]!);
      for (const word of hd) {
        i++;
        while (i < lines.length && lines[i]!.trim() !== word) i++;
        ins.endLine = Math.min(i + 1, lines.length);
      }
    }
    i++;
  }
  return out;
}

/** Replaces $VAR and ${VAR} (and ${VAR:-default}) from a map; unknown variables stay as they are. */
export function substitute(text: string, vars: Record<string, string | undefined>): string {
  return text.replace(
    /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g,
    (m, a: string | undefined, def: string | undefined, b: string | undefined) => {
      const v = vars[(a ?? b)!];
      if (v !== undefined && v !== '') return v;
      if (def !== undefined) return def;
      return m;
    },
  );
}

/** Parses `KEY=value KEY2="v 2"` or the old `KEY value` form (ENV, LABEL) into pairs. */
export function parsePairs(args: string, legacySpace = true): Array<[string, string | undefined]> {
  const out: Array<[string, string | undefined]> = [];
  const s = args.trim();
  if (!s) return out;
  if (legacySpace && !/^[^\s=]+=/.test(s)) {
    const m = /^(\S+)\s+(.*)$/s.exec(s);
    return m ? [[m[1]!, unquote(m[2]!)]] : [[s, undefined]];
  }
  const re = /([^\s=]+)(?:=("(?:[^"\\]|\\.)*"|'[^']*'|\S*))?/g;
  for (const m of s.matchAll(re)) out.push([unquote(m[1]!), m[2] !== undefined ? unquote(m[2]) : undefined]);
  return out;
}

function unquote(v: string): string {
  const t = v.trim();
  if ((t.startsWith('"') && t.endsWith('"')) || (t.startsWith("'") && t.endsWith("'"))) return t.slice(1, -1).replace(/\\(.)/g, '$1');
  return t;
}

export function parseDockerfile(text: string, buildArgs: Record<string, string> = {}): Dockerfile {
  const instructions = parseInstructions(text);
  const globalArgs: Instruction[] = [];
  const stages: Stage[] = [];
  const argDefaults: Record<string, string | undefined> = {};
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      // FROM [--platform=…] image [AS name]
      const words = ins.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const image = substitute(words[0] ?? '', { ...argDefaults, ...buildArgs });
      const name = words[1]?.toUpperCase() === 'AS' ? words[2]?.toLowerCase() : undefined;
      const parent = stages.findIndex((s) => s.name === image.toLowerCase());
      stages.push({ index: stages.length, name, base: image, parent: parent >= 0 ? parent : undefined, fromLine: ins.line, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword === 'ARG') {
        globalArgs.push(ins);
        for (const [k, v] of parsePairs(ins.args, false)) argDefaults[k] = v;
      }
    } else {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  return { globalArgs, stages };
}

const SECRET_NAME = /TOKEN|PASSWORD|PASSWD|SECRET|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL/i;
/** Names that merely mention a secret without holding one. */
const SECRET_NAME_OK = /(_FILE|_PATH|_DIR|_NAME|_URL_PATH|_ENV|_HEADER|_LENGTH|_TTL|_EXPIRY|_ID_FILE)$/i;

const SECRET_VALUES: Array<[RegExp, string]> = [
  [/\b(AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b/, 'an AWS access key id'],
  [/\bgh[pousr]_[A-Za-z0-9]{36,}\b/, 'a GitHub token'],
  [/\bgithub_pat_[A-Za-z0-9_]{22,}\b/, 'a GitHub token'],
  [/\bglpat-[A-Za-z0-9_-]{20,}\b/, 'a GitLab token'],
  [/\bxox[abpors]-[A-Za-z0-9-]{10,}\b/, 'a Slack token'],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'a private key'],
  [/\bsk_live_[A-Za-z0-9]{16,}\b/, 'a Stripe secret key'],
];
const AWS_SECRET_NAME = /AWS_?SECRET|SECRET_?ACCESS_?KEY/i;
const AWS_SECRET_VALUE = /^[A-Za-z0-9/+=]{40}$/;

export function looksLikeSecretName(name: string): boolean {
  return SECRET_NAME.test(name) && !SECRET_NAME_OK.test(name);
}

export function secretValueKind(name: string, value: string | undefined): string | undefined {
  if (!value) return undefined;
  for (const [re, what] of SECRET_VALUES) if (re.test(value)) return what;
  if (AWS_SECRET_NAME.test(name) && AWS_SECRET_VALUE.test(value)) return 'an AWS secret access key';
  return undefined;
}

/** The final stage and the stages it builds on (FROM <stage>), final first. */
export function finalChain(df: Dockerfile): Stage[] {
  const chain: Stage[] = [];
  let s: Stage | undefined = df.stages[df.stages.length - 1];
  const seen = new Set<number>();
  while (s && !seen.has(s.index)) {
    seen.add(s.index);
    chain.push(s);
    s = s.parent !== undefined ? df.stages[s.parent] : undefined;
  }
  return chain;
}

export interface AuditOptions {
  /** The build target: the stage that ends up as the image (default: the last one). */
  target?: string;
  buildArgs?: Record<string, string>;
}

export function auditDockerfile(text: string, opts: AuditOptions = {}): Finding[] {
  const df = parseDockerfile(text, opts.buildArgs);
  const findings: Finding[] = [];
  if (df.stages.length === 0) return [{ rule: 'latest-base', line: 1, message: 'no FROM instruction: this is not a Dockerfile' }];
  let stages = df.stages;
  if (opts.target) {
    const t = df.stages.findIndex((s) => s.name === opts.target!.toLowerCase());
    if (t >= 0) stages = df.stages.slice(0, t + 1);
  }
  const view: Dockerfile = { globalArgs: df.globalArgs, stages };
  const final = stages[stages.length - 1]!;
  const chain = finalChain(view);

  // latest-base: every stage's base (a builder stage on :latest makes builds unrepeatable too)
  for (const s of stages) {
    if (s.parent !== undefined) continue;
    const img = s.base;
    if (!img || img.toLowerCase() === 'scratch' || img.includes('$')) continue;
    if (img.includes('@sha256:')) continue;
    const lastPart = img.split('/').pop()!;
    const tag = lastPart.includes(':') ? lastPart.split(':').pop()! : undefined;
    if (!tag)
      findings.push({
        rule: 'latest-base',
        line: s.fromLine,
        message: `base image "${img}" has no tag (that means :latest): pin a version tag or a digest so builds are repeatable`,
      });
    else if (tag === 'latest')
      findings.push({
        rule: 'latest-base',
        line: s.fromLine,
        message: `base image "${img}" uses :latest: pin a version tag or a digest so builds are repeatable`,
      });
  }

  // root-user: the last USER in the final chain (final stage first)
  let user: Instruction | undefined;
  for (const s of chain) {
    const users = s.instructions.filter((i) => i.keyword === 'USER');
    if (users.length) {
      user = users[users.length - 1];
      break;
    }
  }
  if (!user) {
    findings.push({
      rule: 'root-user',
      line: final.fromLine,
      message: 'the final stage sets no USER, so the image runs as root (unless its base sets one): add USER with a non-root user',
    });
  } else {
    const name = user.args.split(':')[0]!.trim();
    if (name === 'root' || name === '0')
      findings.push({ rule: 'root-user', line: user.line, message: `the image runs as root (USER ${user.args}): switch to a non-root user` });
  }

  // no-healthcheck
  let health: Instruction | undefined;
  for (const s of chain) {
    const hs = s.instructions.filter((i) => i.keyword === 'HEALTHCHECK');
    if (hs.length) {
      health = hs[hs.length - 1];
      break;
    }
  }
  if (!health)
    findings.push({
      rule: 'no-healthcheck',
      line: final.fromLine,
      message: 'the final stage has no HEALTHCHECK: add one so the runtime can tell a hung container from a healthy one',
    });
  else if (/^NONE\b/i.test(health.args)) findings.push({ rule: 'no-healthcheck', line: health.line, message: 'HEALTHCHECK NONE disables the health check' });

  // secret-env: ENV, ARG and LABEL in the final image's chain
  const chainIdx = new Set(chain.map((s) => s.index));
  const secretIns = [
    ...df.globalArgs.map((i) => ({ ins: i })),
    ...stages.filter((s) => chainIdx.has(s.index)).flatMap((s) => s.instructions.map((i) => ({ ins: i }))),
  ];
  for (const { ins } of secretIns) {
    if (!['ENV', 'ARG', 'LABEL'].includes(ins.keyword)) continue;
    for (const [name, value] of parsePairs(ins.args, ins.keyword !== 'ARG')) {
      const kind = secretValueKind(name, value);
      if (kind) {
        findings.push({
          rule: 'secret-env',
          line: ins.line,
          message: `${ins.keyword} ${name} holds what looks like ${kind}: it is stored in the image for anyone who pulls it; pass it as a build secret (RUN --mount=type=secret) instead`,
        });
      } else if (looksLikeSecretName(name) && (ins.keyword !== 'LABEL' || value)) {
        const why = ins.keyword === 'ARG' ? 'build args are recorded in the image history' : `${ins.keyword} values are stored in the image`;
        findings.push({
          rule: 'secret-env',
          line: ins.line,
          message: `${ins.keyword} ${name} looks like a credential: ${why}; use a build secret (RUN --mount=type=secret,id=…) or runtime configuration instead`,
        });
      }
    }
  }
  return findings.sort((a, b) => a.line - b.line || a.rule.localeCompare(b.rule));
}

/** Build args given to the build that look like credentials (they belong in the secrets input). */
export function auditBuildArgs(buildArgs: Record<string, string>): Finding[] {
  const out: Finding[] = [];
  for (const [name, value] of Object.entries(buildArgs)) {
    const kind = secretValueKind(name, value);
    if (looksLikeSecretName(name) || kind) {
      out.push({
        rule: 'secret-build-arg',
        line: 0,
        message: `build arg ${name} ${kind ? `holds what looks like ${kind}` : 'looks like a credential'}: build args are recorded in the image history; pass it in the secrets input (a build secret) instead`,
      });
    }
  }
  return out;
}
