import type { Reporter } from '../lib/report.ts';

/** What run.ts gets besides its inputs. It never reads process.env itself. */
export interface GithubContext {
  serverUrl: string;
  repository: string;
  sha: string;
  ref: string;
  refName: string;
  eventName: string;
  actor: string;
  runId: string;
  runAttempt: string;
  workflow: string;
  job: string;
  runUrl: string;
  /** The event payload (from GITHUB_EVENT_PATH), {} when absent. */
  event: Record<string, any>;
  defaultBranch?: string;
}

export interface ActionContext {
  log: Reporter;
  github: GithubContext;
  /** State for the post: step (GITHUB_STATE); saved immediately. */
  saveState(name: string, value: string): void;
  getState(name: string): string;
  /** Aborted when the runner cancels the job (SIGINT/SIGTERM). */
  signal: AbortSignal;
  /** Scratch directory (RUNNER_TEMP). */
  tempDir: string;
  workspace: string;
  /** The whole environment, for code that hands it to child processes. */
  env: Readonly<Record<string, string | undefined>>;
}

export type OutputValue = string | number | boolean | object | undefined;

export interface ActionResult {
  outputs: Record<string, OutputValue>;
  /** Markdown for the job summary. */
  summary?: string;
  /** Set when the action failed: one line saying why (the summary has the details). */
  failure?: string;
}

export function githubContextFromEnv(env: Record<string, string | undefined>, readEvent: (path: string) => string | undefined): GithubContext {
  const serverUrl = env.GITHUB_SERVER_URL || 'https://github.com';
  const repository = env.GITHUB_REPOSITORY || '';
  const runId = env.GITHUB_RUN_ID || '';
  let event: Record<string, any> = {};
  if (env.GITHUB_EVENT_PATH) {
    try {
      event = JSON.parse(readEvent(env.GITHUB_EVENT_PATH) ?? '{}');
    } catch {
      event = {};
    }
  }
  return {
    serverUrl,
    repository,
    sha: env.GITHUB_SHA || '',
    ref: env.GITHUB_REF || '',
    refName: env.GITHUB_REF_NAME || '',
    eventName: env.GITHUB_EVENT_NAME || '',
    actor: env.GITHUB_ACTOR || '',
    runId,
    runAttempt: env.GITHUB_RUN_ATTEMPT || '1',
    workflow: env.GITHUB_WORKFLOW || '',
    job: env.GITHUB_JOB || '',
    runUrl: repository && runId ? `${serverUrl}/${repository}/actions/runs/${runId}` : '',
    event,
    defaultBranch: event?.repository?.default_branch,
  };
}
