/**
 * The release plan: what an approver reads before production, first thing in the job summary.
 * Facts come from GitHub (the last successful deployment of the environment and the commits since),
 * the repository (its migration files against the migration head that deployment recorded), the
 * previous stage's results and the deploy window. No production credential is needed for any of it.
 */
import { listMigrationNames, compareVersions } from '../lib/migration-names.ts';
import { table } from '../lib/markdown.ts';
import type { GithubConfig } from './send.ts';
import type { FlagNote, LintFinding, NotifyEvent, VersionInfo } from './message.ts';

export interface StageReport {
  environment?: string;
  result?: string;
  version?: string;
  'smoke-passed'?: string | boolean;
  'smoke-failed-count'?: string | number;
  'gate-verdict'?: string;
  'gate-reason'?: string;
}

export interface PlanInputs {
  event: NotifyEvent;
  github?: GithubConfig;
  /** The repository's migrations folder: `dir` to read it here, `path` as GitHub names it (from the repository root). */
  migrations?: { dir: string; path: string };
  /** migrate's lint findings over that folder; only those of pending files are shown. */
  lint?: LintFinding[];
  /** The previous stage's results (staging). */
  stage?: StageReport;
  /** The deploy window's verdict for this environment: `pass` or `fail`, and why. */
  window?: { verdict: string; reason?: string };
  serverUrl?: string;
  /** The feature flags this release changes (the flags action's mode plan: `changes`), and how. */
  flags?: FlagNote[];
}

interface LastDeployment {
  sha: string;
  createdAt: string;
  version?: VersionInfo;
}
interface Commit {
  sha: string;
  message: string;
  author?: string;
}
interface Compare {
  aheadBy: number;
  list: Commit[];
  added: Set<string>;
}

const short = (sha?: string) => (sha ? sha.slice(0, 7) : '');
/** A version label; a full commit SHA reads as its short form. */
const label = (v?: string) => (v && /^[0-9a-f]{40}$/.test(v) ? short(v) : v);
/** One line for a table cell (the table escapes pipes itself). */
const esc = (s: string) => s.replace(/\r?\n/g, ' ');

/** Gathers the GitHub facts; a failure is shown in the plan, never thrown (the plan must render). */
async function fromGithub(p: PlanInputs): Promise<{ last?: LastDeployment; commits?: Compare; error?: string }> {
  const head = p.event.version.sha;
  if (!p.github) return { error: 'no github-token: the last deployment and the commits since cannot be read' };
  try {
    const { githubClient, lastSuccessfulDeployment } = await import('./github.ts');
    const client = await githubClient({ token: p.github.token, repository: p.github.repository, apiUrl: p.github.apiUrl, fetch: p.github.fetch });
    const last = await lastSuccessfulDeployment(client, p.event.environment, head ? { excludeSha: head } : {});
    if (!last || !head) return { last };
    const cmp = await client.compareCommits(last.sha, head);
    return {
      last,
      commits: {
        aheadBy: cmp.aheadBy,
        list: cmp.commits,
        added: new Set(cmp.files.filter((f) => f.status === 'added' || f.status === 'renamed' || f.status === 'copied').map((f) => f.filename)),
      },
    };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

function commitMessage(c: Commit, repoUrl?: string): string {
  const first = esc(c.message.split('\n')[0]!.slice(0, 120));
  // "Fix checkout (#123)" → a link to the pull request.
  return repoUrl ? first.replace(/\(#(\d+)\)/g, (_, n: string) => `([#${n}](${repoUrl}/pull/${n}))`) : first;
}

export async function renderReleasePlan(p: PlanInputs): Promise<string> {
  const e = p.event;
  const gh = await fromGithub(p);
  const repoUrl = e.repository ? `${p.serverUrl || 'https://github.com'}/${e.repository}` : undefined;
  const out: string[] = [];
  const release = label(e.version.label) ?? short(e.version.sha) ?? '?';
  out.push(`## Release plan: ${e.app ?? e.repository ?? 'this release'} ${release} → ${e.environment}\n`);

  // What is approved, in one table.
  const image = e.version.image ? `\`${e.version.image.replace(/@sha256:[0-9a-f]{64}$/, '')}\`` : '—';
  const digest = e.version.digest ?? /@(sha256:[0-9a-f]{64})$/.exec(e.version.image ?? '')?.[1];
  const shaLink = (sha: string) => (repoUrl ? `[\`${short(sha)}\`](${repoUrl}/commit/${sha})` : `\`${short(sha)}\``);
  const rows: string[][] = [
    ['Release', !e.version.sha ? release : release === short(e.version.sha) ? shaLink(e.version.sha) : `${release} (${shaLink(e.version.sha)})`],
    ['Image', image],
    ['Digest', digest ? `\`${digest}\`` : '— (no digest given)'],
  ];
  const lastLabel = gh.last
    ? `${label(gh.last.version?.label) ?? short(gh.last.sha)}${label(gh.last.version?.label) === short(gh.last.sha) ? '' : ` (${short(gh.last.sha)})`}, deployed ${gh.last.createdAt}`
    : gh.error
      ? `unknown (${esc(gh.error).slice(0, 160)})`
      : 'none: this is the first deployment';
  rows.push(['Live now, and what a rollback returns to', lastLabel]);
  if (p.window) rows.push(['Deploy window', `${p.window.verdict === 'pass' ? '✅ open' : '❌ closed'}${p.window.reason ? `: ${esc(p.window.reason)}` : ''}`]);
  out.push(
    table(
      ['Approving', 'Details'],
      rows.map(([k, v]) => [`**${k}**`, v!]),
    ),
  );

  // The previous stage, one table.
  if (p.stage) {
    const s = p.stage;
    const smokeOk = String(s['smoke-passed']) === 'true';
    const failed = Number(s['smoke-failed-count'] ?? 0);
    const stageRows = [
      ['Deploy', s.result === 'success' ? '✅ success' : `❌ ${s.result ?? 'unknown'}`, s.version ? `runs ${label(s.version)}` : ''],
      [
        'Smoke tests',
        s['smoke-passed'] === undefined || s['smoke-passed'] === '' ? '— not run' : smokeOk ? '✅ passed' : '❌ failed',
        failed ? `${failed} check(s) failed` : '',
      ],
      [
        'SLO gate',
        !s['gate-verdict'] ? '— not run' : s['gate-verdict'] === 'pass' ? '✅ pass' : s['gate-verdict'] === 'fail' ? '❌ fail' : `⚠️ ${s['gate-verdict']}`,
        s['gate-reason'] ? esc(s['gate-reason']) : '',
      ],
    ];
    out.push(
      `### ${s.environment ? s.environment[0]!.toUpperCase() + s.environment.slice(1) : 'Previous stage'}\n`,
      table(['Check', 'Result', 'Numbers'], stageRows),
    );
  }

  // Migrations this release applies: the files added to the folder since the live deployment's
  // commit (GitHub's compare), linted; one older than a migration already live is out of order.
  if (p.migrations) {
    const folder = p.migrations.path.replace(/^\.\//, '').replace(/\/+$/, '');
    const all = listMigrationNames(p.migrations.dir);
    const known = Boolean(gh.commits) || (!gh.last && !gh.error);
    const pending = gh.commits ? all.filter((m) => gh.commits!.added.has(`${folder}/${m.file}`)) : known ? all : [];
    const live = all.filter((m) => !pending.includes(m)).at(-1)?.version;
    const byFile = new Map<string, LintFinding[]>();
    for (const f of p.lint ?? []) {
      const name = f.file.split('/').pop()!;
      byFile.set(name, [...(byFile.get(name) ?? []), f]);
    }
    const title = `### Migrations this release applies (${known ? pending.length : '?'})\n`;
    if (!known)
      out.push(
        title,
        `Unknown: ${gh.error ? esc(gh.error).slice(0, 160) : 'no commit to compare with'}. The production job's migrate step lists them before it applies anything.\n`,
      );
    else if (!pending.length) out.push(title, `None: no migration file was added to \`${folder}\` since the live deployment.\n`);
    else {
      const rows = pending.map((m) => {
        const findings = byFile.get(m.file) ?? [];
        const errors = findings.filter((f) => f.severity === 'error');
        const verdict = !p.lint
          ? '— not linted'
          : errors.length
            ? `❌ ${errors.map((f) => `\`${f.rule}\` (line ${f.line})`).join(', ')}`
            : findings.length
              ? `⚠️ ${findings.map((f) => `\`${f.rule}\``).join(', ')}`
              : '✅ safe';
        const order =
          live && compareVersions(m.version, live) < 0
            ? `⚠️ out of order: older than ${live}, which is already live (migrate refuses it unless out-of-order: allow)`
            : '';
        return [m.version, m.name, verdict, order];
      });
      const anyOrder = rows.some((r) => r[3]);
      out.push(
        title,
        anyOrder
          ? table(['Version', 'Name', 'Lint', 'Order'], rows)
          : table(
              ['Version', 'Name', 'Lint'],
              rows.map((r) => r.slice(0, 3)),
            ),
      );
    }
  }

  // The feature flags this release switches: what users will see change, and the kill switch.
  if (p.flags?.length) {
    const change = (f: FlagNote) =>
      f.action === 'rollout' || f.action === 'progressive'
        ? `gradual rollout: ${f.to ?? '?'}`
        : f.action === 'disable'
          ? 'turn off'
          : `turn on${f.to && f.to !== 'on' ? ` (${f.to})` : ''}`;
    out.push(`### Feature flags this release changes (${p.flags.length})\n`);
    out.push(
      table(
        ['Flag', 'Environment', 'Change', 'Now', 'If the deploy, a gate or a rollback fails'],
        p.flags.map((f) => [
          `\`${f.flag}\``,
          f.environment ?? e.environment,
          change(f),
          f.from ?? 'not read (no production credential in the plan)',
          f.action === 'disable' ? '—' : 'switched off first by the kill switch',
        ]),
      ),
    );
  }

  // The commits, newest first, with pull request links.
  if (gh.commits) {
    const list = gh.commits.list.slice(-50).reverse();
    out.push(`### Commits since the live deployment (${gh.commits.aheadBy})\n`);
    out.push(
      list.length
        ? table(
            ['Commit', 'Message', 'Author'],
            list.map((c) => [
              repoUrl ? `[\`${short(c.sha)}\`](${repoUrl}/commit/${c.sha})` : `\`${short(c.sha)}\``,
              commitMessage(c, repoUrl),
              esc(c.author ?? ''),
            ]),
          )
        : 'None.\n',
    );
    if (gh.commits.aheadBy > 50) out.push(`(and ${gh.commits.aheadBy - 50} older)\n`);
  } else if (!gh.last && !gh.error) out.push(`### Commits\n`, `No successful deployment to ${e.environment} yet: this release is the first.\n`);
  return out.join('\n');
}
