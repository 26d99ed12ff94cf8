import type { InputsOf } from '../../manifest/fields.ts';
import type { ActionContext, ActionResult } from '../../runner/context.ts';
import type { Http } from '../../lib/http.ts';
import { UserError } from '../../lib/errors.ts';
import { formatDuration } from '../../lib/duration.ts';
import { redactUrl, urlSecrets } from '../../lib/secrets.ts';
import { createSloGate, renderSloSummary, type GateDeps, type SloGateOptions } from '../../metrics/gate.ts';
import { parseObjectives } from '../../metrics/objectives.ts';
import { checkDeployWindow } from '../../policy/deploy-window.ts';
import { heading } from '../../lib/markdown.ts';
import type { spec } from './inputs.ts';

export type SloGateInputs = InputsOf<typeof spec>;

/** Turns the action's inputs into gate options; throws UserError on combinations that cannot work. */
export function gateOptions(inputs: SloGateInputs): { options: SloGateOptions; provider: 'probe' | 'prometheus' } {
  const provider = inputs.provider === 'auto' ? (inputs['prometheus-url'] ? 'prometheus' : 'probe') : inputs.provider;
  if (provider === 'prometheus' && !inputs['prometheus-url'])
    throw new UserError("Input 'prometheus-url': got nothing; expected the Prometheus server's URL (provider is prometheus)");
  if (provider === 'probe' && !inputs.urls?.length) {
    throw new UserError(
      inputs.provider === 'auto'
        ? "slo-gate needs a source: set 'prometheus-url' (provider prometheus) or 'urls' (provider probe)"
        : "Input 'urls': got nothing; expected the URLs to probe (provider is probe)",
    );
  }
  if (provider === 'probe' && (inputs['error-ratio-query'] || inputs['latency-query'] || inputs['requests-query'])) {
    throw new UserError('custom queries (error-ratio-query, latency-query, requests-query) need provider prometheus');
  }
  if (inputs['requests-query'] && !inputs['error-ratio-query'] && !inputs['latency-query']) {
    throw new UserError("Input 'requests-query' only gives a sample size to error-ratio-query or latency-query: set one of them");
  }
  if (inputs['prometheus-token'] && (inputs['prometheus-username'] || inputs['prometheus-password'])) {
    throw new UserError("Set either 'prometheus-token' (bearer) or 'prometheus-username'/'prometheus-password' (basic auth), not both");
  }
  if (inputs.override && inputs.mode !== 'budget')
    throw new UserError("Input 'override' only applies to mode: budget (it lets a deploy through when the error budget is spent)");
  const options: SloGateOptions = {
    provider,
    objectives: inputs.objectives ?? parseObjectives(''),
    mode: inputs.mode,
    override: inputs.override,
    durationMs: inputs.duration,
    intervalMs: inputs.interval,
    failureLimit: inputs['failure-limit'],
    errorLimit: inputs['error-limit'],
    confidence: inputs.confidence,
    minSamples: inputs['min-samples'],
    nodata: inputs.nodata,
    onInconclusive: inputs['on-inconclusive'],
    baselineErrorTolerance: inputs['baseline-error-tolerance'],
    baselineLatencyTolerance: inputs['baseline-latency-tolerance'],
    probe: {
      paths: inputs.paths,
      rate: inputs.rate,
      concurrency: inputs.concurrency,
      timeoutMs: inputs['request-timeout'],
    },
    prometheus: inputs['prometheus-url']
      ? {
          url: inputs['prometheus-url'],
          token: inputs['prometheus-token'],
          username: inputs['prometheus-username'],
          password: inputs['prometheus-password'],
          timeoutMs: inputs['query-timeout'],
          retries: inputs['query-retries'],
          windowMs: inputs.window,
          metrics: {
            requestsMetric: inputs['requests-metric'],
            latencyMetric: inputs['latency-metric'],
            versionLabel: inputs['version-label'],
            codeLabel: inputs['code-label'],
            selector: inputs.selector ?? '',
          },
          queries: { errorRatio: inputs['error-ratio-query'], requests: inputs['requests-query'], latency: inputs['latency-query'] },
        }
      : undefined,
  };
  return { options, provider };
}

/** base64(user:password) for credentials in the URLs and for prometheus-username/password. */
function basicAuthValues(inputs: SloGateInputs): string[] {
  const out: string[] = [];
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  for (const raw of [inputs['prometheus-url'] ?? '', ...(inputs.urls ?? []), ...(inputs['baseline-urls'] ?? [])]) {
    try {
      const u = new URL(raw);
      if (u.password) out.push(b64(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`), b64(`${u.username}:${u.password}`));
    } catch {
      // not a URL: nothing to mask
    }
  }
  if (inputs['prometheus-password']) out.push(b64(`${inputs['prometheus-username'] ?? ''}:${inputs['prometheus-password']}`));
  return [...new Set(out)];
}

/**
 * mode budget is the release policy before a deploy: the deploy window, then the error budget. The
 * budget needs an `slo:` objective and Prometheus; without them only the window is checked (said so).
 */
async function releasePolicy(
  inputs: SloGateInputs,
  ctx: ActionContext,
  deps: { http?: Http; sleep?: GateDeps['sleep']; now?: GateDeps['now'] },
): Promise<ActionResult> {
  const lines: string[] = [];
  const window = inputs['deploy-window'];
  const nowMs = deps.now?.() ?? Date.now();
  if (window) {
    const d = checkDeployWindow(window, new Date(nowMs), inputs.override);
    lines.push(`| deploy window | ${d.allowed ? (d.overridden ? '⚠️ overridden' : '✅ open') : '⛔ closed'} | ${d.reason.replace(/\|/g, '\\|')} |`);
    if (d.overridden) ctx.log.warning(`slo-gate: deploy window: ${d.reason}`);
    if (!d.allowed) {
      return {
        outputs: { verdict: 'fail', passed: false, reason: `deploy window closed: ${d.reason}`, report: { mode: 'budget', verdict: 'fail', window: d } },
        summary: heading('Release policy: ⛔ blocked') + '\n| Check | Result | Why |\n| --- | --- | --- |\n' + lines.join('\n') + '\n',
        failure: `slo-gate: deploy window closed: ${d.reason}`,
      };
    }
  }
  const objectives = inputs.objectives ?? parseObjectives('');
  const hasSlo = objectives.some((o) => o.kind === 'slo');
  const provider = inputs.provider === 'auto' ? (inputs['prometheus-url'] ? 'prometheus' : 'probe') : inputs.provider;
  if (!hasSlo || provider !== 'prometheus') {
    const why = !hasSlo ? 'no `slo:` objective is set' : 'the error budget needs Prometheus (the probe cannot see the SLO window)';
    lines.push(`| error budget | ⏭ not checked | ${why} |`);
    ctx.log.notice(`slo-gate: release policy: error budget not checked: ${why.replace(/`/g, '')}`);
    return {
      outputs: {
        verdict: 'pass',
        passed: true,
        reason: window ? 'inside the deploy window; error budget not checked' : 'nothing to check: no deploy window and no SLO',
        report: { mode: 'budget', verdict: 'pass', budgetChecked: false },
      },
      summary: heading('Release policy: ✅ clear') + '\n| Check | Result | Why |\n| --- | --- | --- |\n' + lines.join('\n') + '\n',
    };
  }
  const r = await gateRun(inputs, ctx, deps);
  return lines.length
    ? { ...r, summary: heading('Release policy', 2) + '\n| Check | Result | Why |\n| --- | --- | --- |\n' + lines.join('\n') + '\n\n' + (r.summary ?? '') }
    : r;
}

export async function run(
  inputs: SloGateInputs,
  ctx: ActionContext,
  deps: { http?: Http; sleep?: GateDeps['sleep']; now?: GateDeps['now'] } = {},
): Promise<ActionResult> {
  const result = await decide(inputs, ctx, deps);
  // The reason output is one line (its declared shape): a multi-line override reason is joined.
  if (typeof result.outputs.reason === 'string') result.outputs.reason = result.outputs.reason.replace(/\s*\r?\n\s*/g, ' ');
  return result;
}

async function decide(
  inputs: SloGateInputs,
  ctx: ActionContext,
  deps: { http?: Http; sleep?: GateDeps['sleep']; now?: GateDeps['now'] },
): Promise<ActionResult> {
  if (
    inputs.mode === 'budget' &&
    (inputs['deploy-window'] ||
      !(inputs.objectives ?? []).some((o) => o.kind === 'slo') ||
      inputs.provider === 'probe' ||
      (inputs.provider === 'auto' && !inputs['prometheus-url']))
  ) {
    for (const s of [inputs['prometheus-token'], inputs['prometheus-password']]) if (s) ctx.log.mask(s);
    return releasePolicy(inputs, ctx, deps);
  }
  return gateRun(inputs, ctx, deps);
}

async function gateRun(
  inputs: SloGateInputs,
  ctx: ActionContext,
  deps: { http?: Http; sleep?: GateDeps['sleep']; now?: GateDeps['now'] } = {},
): Promise<ActionResult> {
  for (const u of [inputs['prometheus-url'] ?? '', ...(inputs.urls ?? []), ...(inputs['baseline-urls'] ?? [])]) for (const s of urlSecrets(u)) ctx.log.mask(s);
  for (const s of [inputs['prometheus-token'], inputs['prometheus-password']]) if (s) ctx.log.mask(s);
  // The Basic Authorization value is as good as the password: a server that echoes request headers
  // in its error text (shown to the user) must not reveal it either.
  for (const b of basicAuthValues(inputs)) ctx.log.mask(b);
  const { options, provider } = gateOptions(inputs);
  // Checks every option (objectives against the mode, duration against interval …) before any traffic.
  const gate = createSloGate({ ...options, log: ctx.log, http: deps.http, sleep: deps.sleep, now: deps.now });
  const source =
    provider === 'prometheus'
      ? `Prometheus ${redactUrl(inputs['prometheus-url']!)}${inputs.version ? `, version ${inputs.version}` : ''}`
      : `probe of ${(inputs.urls ?? []).map(redactUrl).join(', ')}`;
  // One line: a version with a line break must not start a log line of its own (a forged workflow command).
  ctx.log.info(
    `slo-gate: ${options.mode === 'budget' ? 'error budget check' : 'gate'} from ${source}; objectives: ${(options.objectives as { text: string }[]).map((o) => o.text).join('; ')}`.replace(
      /[\r\n\u2028\u2029]+/g,
      ' ',
    ),
  );
  const outcome = await ctx.log.group(`slo-gate: ${options.mode === 'budget' ? 'error budget' : 'analysis'}`, () =>
    gate({
      urls: inputs.urls ?? [],
      version: inputs.version ?? '',
      baselineUrls: inputs['baseline-urls'],
      baselineVersion: inputs['baseline-version'],
      signal: ctx.signal,
    }),
  );
  const r = outcome.report;
  ctx.log.info(`slo-gate: ${outcome.verdict} after ${formatDuration(r.elapsedMs)}: ${outcome.reason}`);
  if (r.budget?.overridden) ctx.log.warning(`slo-gate: the error budget is spent; deploy allowed by override: ${r.budget.override}`);
  return {
    outputs: {
      verdict: outcome.verdict,
      passed: outcome.pass,
      reason: outcome.reason,
      report: r,
      'error-budget-remaining': r.budget ? Number(r.budget.remaining.toFixed(6)) : undefined,
    },
    summary: renderSloSummary(r),
    failure: outcome.pass ? undefined : `slo-gate: ${outcome.verdict}: ${outcome.reason}`,
  };
}
