/**
 * slipway report --out report.html [--env E] [--since 90d] [--token T] [--repo owner/name] [--markdown FILE]
 * One self-contained HTML page from the repository's GitHub deployments: per environment what runs
 * now, the history as a timeline, each deployment's outcome, duration and approvers, and the four
 * DORA figures with their definitions. --markdown appends the figures as a table (a job summary).
 * Everything is checked before the first request; the page is written only when the read succeeded.
 */
import { existsSync, renameSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { CliIO } from './main.ts';
import { configPath, readConfig, requireEnv } from './main.ts';
import { UsageError, type ParsedArgs } from './args.ts';
import { parseDuration, DURATION_HELP } from '../lib/duration.ts';
import { suggest } from '../lib/suggest.ts';
import { request } from '../lib/http.ts';
import { errorMessage } from '../lib/errors.ts';
import { quote } from '../lib/secrets.ts';
import { readHistory } from '../report/history.ts';
import { analyze, figuresMarkdown, frequencyText, humanDuration, percentText, type Report } from '../report/dora.ts';
import { renderHtml } from '../report/html.ts';

const FLAGS = ['out', 'since', 'token', 'repo', 'markdown', 'api-url'];

export const HELP = `slipway report --out report.html [--env NAME] [--since 90d] [--token T] [--repo owner/name] [--markdown FILE] [--json]
  One self-contained HTML page (no request when opened) from the repository's GitHub deployments:
  per environment the version running now, the history as a timeline, each deployment's outcome
  (success, rolled back, failed), duration and approvers, and the four DORA figures with their
  definitions. --markdown appends the figures as a Markdown table (e.g. "$GITHUB_STEP_SUMMARY").
  Token: --token or GITHUB_TOKEN (deployments, contents and actions: read). Repository: --repo or
  GITHUB_REPOSITORY. API: --api-url or GITHUB_API_URL (default https://api.github.com).`;

function writable(path: string, flag: string): string {
  const full = resolve(path);
  const dir = dirname(full);
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new UsageError(`report: --${flag}: got ${JSON.stringify(path)}; its folder ${dir} does not exist: create it or give another path`);
  if (existsSync(full) && statSync(full).isDirectory())
    throw new UsageError(`report: --${flag}: got ${JSON.stringify(path)}, which is a folder; expected a file path such as report.html`);
  return full;
}

export default async function report(args: ParsedArgs, io: CliIO): Promise<number> {
  if (args.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  for (const f of Object.keys(args.flags)) {
    if (!FLAGS.includes(f)) {
      const hint = suggest(f, FLAGS);
      throw new UsageError(
        `report: unknown flag --${f}${hint ? ` (did you mean --${hint}?)` : ''}; it takes --out FILE, --env NAME, --since 90d, --token, --repo, --markdown FILE, --api-url`,
      );
    }
  }
  if (args.positional.length) throw new UsageError(`report: unexpected argument ${JSON.stringify(args.positional[0])}; see slipway report --help`);
  if (!args.flags.out) throw new UsageError('report: --out: got nothing; expected the HTML file to write, such as --out report.html');
  const out = writable(resolve(io.cwd, args.flags.out), 'out');
  const markdown = args.flags.markdown ? writable(resolve(io.cwd, args.flags.markdown), 'markdown') : undefined;
  let sinceMs = 90 * 86_400_000;
  if (args.flags.since !== undefined) {
    try {
      sinceMs = parseDuration(args.flags.since);
    } catch {
      throw new UsageError(`report: --since: got ${JSON.stringify(args.flags.since)}; expected ${DURATION_HELP}`);
    }
    if (sinceMs < 3_600_000 || sinceMs > 3 * 365 * 86_400_000)
      throw new UsageError(`report: --since: got ${JSON.stringify(args.flags.since)}; expected between 1h and 1095d`);
  }
  // An environment is checked against slipway.yml when there is one (as every command does).
  let environments: string[] | undefined;
  if (args.env && (args.config || existsSync(configPath(args, io)))) {
    const config = (await readConfig(args, io, true))!;
    requireEnv(args, config, 'report');
  }
  if (args.env) environments = [args.env];
  const token = args.flags.token || io.env.GITHUB_TOKEN;
  if (!token) throw new UsageError('report: no GitHub token: give --token TOKEN or set GITHUB_TOKEN (it needs deployments, contents and actions: read)');
  const repository = args.flags.repo || io.env.GITHUB_REPOSITORY;
  if (!repository) throw new UsageError('report: no repository: give --repo owner/name or set GITHUB_REPOSITORY');
  if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repository)) throw new UsageError(`report: --repo: got ${JSON.stringify(repository)}; expected owner/name`);
  const apiUrl = args.flags['api-url'] || io.env.GITHUB_API_URL || 'https://api.github.com';
  if (!/^https?:\/\/[^\s]+$/.test(apiUrl))
    throw new UsageError(`report: --api-url: got ${JSON.stringify(apiUrl)}; expected an http(s) URL such as https://api.github.com`);

  const until = new Date();
  const since = new Date(until.getTime() - sinceMs);
  let history;
  try {
    history = await readHistory({ http: request, token, repository, apiUrl, environment: args.env, since, onWarning: (m) => io.stderr(`${m}\n`) });
  } catch (err) {
    // A failed read (a refused token, an unknown repository, GitHub down) is a failed operation: exit 1, no page.
    io.stderr(`slipway: report: ${quote(errorMessage(err), [token], 400)}\n`);
    return 1;
  }
  const report: Report = analyze(repository, history.deployments, { since, until }, environments);
  // Written to a temporary name first: a failure leaves an earlier page as it was.
  const tmp = `${out}.tmp-${process.pid}`;
  writeFileSync(tmp, renderHtml(report, until.toISOString()));
  renameSync(tmp, out);
  if (markdown) appendFileSync(markdown, figuresMarkdown(report));
  if (args.json) {
    io.stdout(
      `${JSON.stringify({ repository, since: report.since, until: report.until, out, requests: history.requests, environments: report.environments.map((e) => ({ environment: e.environment, current: e.current ? { sha: e.current.sha, version: e.current.version ?? null, since: e.current.finishedAt } : null, figures: e.figures, deployments: e.deployments.map((d) => ({ id: d.id, sha: d.sha, version: d.version ?? null, createdAt: d.createdAt, outcome: d.outcome, restore: d.restore, durationMs: d.durationMs ?? null, approvers: d.approvers ?? null, leadTimeMs: d.leadTimeMs ?? null, restoreMs: d.restoreMs ?? null })) })) }, null, 2)}\n`,
    );
  } else {
    for (const e of report.environments) {
      const f = e.figures;
      io.stdout(
        `${e.environment}: ${e.current ? `runs ${e.current.version ?? e.current.sha.slice(0, 7)}` : 'no successful deployment in the window'}; frequency ${frequencyText(f)}, lead time ${humanDuration(f.leadTimeMs)}, change failure rate ${percentText(f.changeFailureRate)}, time to restore ${humanDuration(f.timeToRestoreMs)}\n`,
      );
    }
    if (!report.environments.length) io.stdout(`no deployments${args.env ? ` of ${args.env}` : ''} since ${report.since.slice(0, 10)}\n`);
    io.stdout(`wrote ${out} (${history.deployments.length} deployments, ${history.requests} GitHub requests)\n`);
  }
  return 0;
}
