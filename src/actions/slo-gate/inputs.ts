import { z } from 'zod';
import { defineAction, f, out } from '../../manifest/fields.ts';
import { OBJECTIVES_HELP, parseObjectives } from '../../metrics/objectives.ts';
import { errorMessage } from '../../lib/errors.ts';
import type { Objective } from '../../metrics/objectives.ts';
import { windowSchema } from '../../policy/deploy-window.ts';

const objectivesField = {
  description:
    'What the release must meet, one per line (or separated by ;): `error-ratio <= 1%`, `p99 <= 1s`, `p95 <= 300ms`, an SLO `slo: 99.5%` (optionally `slo: 99.5% under 300ms`) with `window: 30d` and `burn-rate: 14.4@1h/5m, 6@6h/30m`. Empty: `error-ratio <= 1%` and `p99 <= 1s`.',
  expected: OBJECTIVES_HELP,
  format: 'text' as const,
  // Parsed here, so a typo fails before any traffic or query.
  schema: z.string().transform((s, ctx) => {
    try {
      return parseObjectives(s);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: errorMessage(err) });
      return z.NEVER;
    }
  }) as unknown as z.ZodType<Objective[]>,
};

/** f.duration, with a clear word for a negative value (parseDuration only says "not a duration"). */
function duration(o: Parameters<typeof f.duration>[0]) {
  const base = f.duration(o);
  const schema = z.string().transform((s, ctx) => {
    if (s.trim().startsWith('-')) {
      ctx.addIssue({ code: 'custom', message: 'a duration cannot be negative' });
      return z.NEVER;
    }
    const r = base.schema.safeParse(s);
    if (!r.success) {
      ctx.addIssue({ code: 'custom', message: r.error.issues[0]?.message ?? 'not a duration' });
      return z.NEVER;
    }
    return r.data;
  }) as unknown as z.ZodType<number>;
  return { ...base, schema };
}

const verdictPolicy = ['fail', 'inconclusive', 'pass'] as const;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

export const spec = defineAction({
  name: 'slo-gate',
  title: 'Slipway slo-gate',
  description:
    'Pass or fail a release on its SLOs: error ratio, latency quantiles, burn rates and the error budget, from Prometheus or from its own probe traffic, with confidence intervals instead of point estimates.',
  branding: { icon: 'activity', color: 'orange' },
  inputs: {
    provider: f.enum(['auto', 'prometheus', 'probe'], {
      description:
        'Where the numbers come from: `prometheus` (queries) or `probe` (Slipway sends its own bounded traffic to `urls`). `auto`: prometheus when `prometheus-url` is set, else probe.',
      default: 'auto',
    }),
    objectives: { ...objectivesField, default: '' },
    mode: f.enum(['gate', 'budget'], {
      description:
        '`gate`: judge the release (after or during a deploy). `budget`: the release policy before a deploy: the deploy window (deploy-window), and the error budget left over the SLO window (with an `slo:` objective and prometheus), blocking when it is spent.',
      default: 'gate',
    }),
    override: f.string({
      description:
        'mode budget: deploy although the error budget is spent or the deploy window is closed (an emergency). Give the reason; it is written in the summary and the report.',
      maxLength: 500,
    }),
    'deploy-window': f.yaml(windowSchema, {
      description:
        'mode budget: the deploy window (YAML: timezone, deny like ["fri 15:00-24:00", sat], freeze dates). Outside it the step fails unless override gives a reason. slipway.yml passes its environment\'s window here.',
      expected: 'a YAML map like {timezone: Europe/Berlin, deny: ["fri 15:00-24:00", sat], freeze: ["2026-12-24"]}',
    }),
    duration: duration({
      description:
        'Analysis length: measure every `interval` for this long; pass only when the whole duration passed. Default: 0 (one measurement) with prometheus, 30s with the probe.',
      max: 6 * 3_600_000,
    }),
    interval: duration({ description: 'Time between measurements during `duration`.', default: '30s', min: 1000, max: 3_600_000 }),
    'failure-limit': f.integer({
      description: 'Fail as soon as an objective fails more than this many measurements (Argo Rollouts semantics: 0 = the first failure fails).',
      default: '0',
      max: 1000,
    }),
    'error-limit': f.integer({
      description: 'Fail closed when the provider errors (unreachable, 5xx, timeouts) this many times in a row.',
      default: '3',
      min: 1,
      max: 100,
    }),
    confidence: f.percent({
      description: 'Confidence of each verdict. With several measurements each uses a Bonferroni-corrected level, so the whole analysis keeps this confidence.',
      default: '95%',
    }),
    'min-samples': f.integer({ description: 'Fewer requests than this never pass (the verdict is inconclusive).', default: '100', max: 100_000_000 }),
    nodata: f.enum(verdictPolicy, {
      description: 'Verdict for an objective whose query returns nothing (no series, no requests): never read as "no errors".',
      default: 'inconclusive',
    }),
    'on-inconclusive': f.enum(['fail', 'pass'], {
      description: 'Whether an inconclusive gate (not enough evidence either way) blocks the release.',
      default: 'fail',
    }),

    'prometheus-url': f.url({ description: 'Prometheus server, e.g. http://prometheus:9090. Credentials in the URL are sent as Basic auth and masked.' }),
    'prometheus-token': f.string({ description: 'Bearer token for Prometheus (masked).', secret: true }),
    'prometheus-username': f.string({ description: 'Basic auth user for Prometheus.' }),
    'prometheus-password': f.string({ description: 'Basic auth password for Prometheus (masked).', secret: true }),
    'query-timeout': duration({ description: 'Timeout of each Prometheus query.', default: '10s', min: 100, max: 300_000 }),
    'query-retries': f.integer({ description: 'Retries of a Prometheus query on network errors, 429 and 5xx answers (with backoff).', default: '2', max: 10 }),
    window: duration({
      description: 'The range of each Prometheus measurement (`{{window}}` in custom queries), e.g. 5m.',
      default: '5m',
      min: 1000,
      max: 90 * 86_400_000,
    }),
    version: f.string({
      description: 'The release to judge: its value of `version-label` in Prometheus (`{{version}}` in custom queries). Empty: every version.',
      maxLength: 200,
    }),
    'baseline-version': f.string({
      description: 'Compare with this version running side by side over the same period (two-proportion test for errors, Mann-Whitney U for latency).',
      maxLength: 200,
    }),
    'version-label': f.string({
      description: 'Label that carries the version in the standard queries.',
      default: 'version',
      pattern: labelName,
      expected: 'a Prometheus label name',
    }),
    'requests-metric': f.string({
      description: 'Counter of requests with a status code label (standard queries).',
      default: 'http_requests_total',
      pattern: metricName,
      expected: 'a Prometheus metric name',
    }),
    'latency-metric': f.string({
      description: 'Latency histogram in seconds, without `_bucket` (standard queries).',
      default: 'http_request_duration_seconds',
      pattern: metricName,
      expected: 'a Prometheus metric name',
    }),
    'code-label': f.string({
      description: 'Label with the HTTP status code; 5xx are errors.',
      default: 'code',
      pattern: labelName,
      expected: 'a Prometheus label name',
    }),
    selector: f.string({ description: 'Extra label matchers for the standard queries, e.g. `job="api", route!~"/health|/ready"`.', maxLength: 1000 }),
    'error-ratio-query': f.string({
      description: 'Custom PromQL giving the error ratio (0–1) instead of the standard queries; placeholders `{{version}}`, `{{window}}`.',
      maxLength: 5000,
    }),
    'requests-query': f.string({
      description: 'Custom PromQL giving the number of requests (the sample size of the error ratio); placeholders `{{version}}`, `{{window}}`.',
      maxLength: 5000,
    }),
    'latency-query': f.string({
      description: 'Custom PromQL giving a latency quantile in seconds; placeholders `{{quantile}}` (0.99), `{{version}}`, `{{window}}`.',
      maxLength: 5000,
    }),

    urls: f.list({
      description: 'probe: base URLs of the release (the new instances), comma- or newline-separated. Credentials in URLs are masked.',
      item: /^https?:\/\/\S+$/,
      itemExpected: 'http(s) URLs',
    }),
    'baseline-urls': f.list({
      description: 'probe: base URLs of the old version, probed at the same rate and compared with the new one.',
      item: /^https?:\/\/\S+$/,
      itemExpected: 'http(s) URLs',
    }),
    paths: f.list({ description: 'probe: paths requested on every URL in turn.', default: '/', item: /^\/\S*$/, itemExpected: 'paths starting with /' }),
    rate: f.number({ description: 'probe: requests per second (over all URLs and paths).', default: '20', min: 0.1, max: 2000 }),
    concurrency: f.integer({ description: 'probe: most requests in flight at once.', default: '10', min: 1, max: 1000 }),
    'request-timeout': duration({ description: 'probe: timeout of each request (a timeout is an error).', default: '5s', min: 10, max: 120_000 }),
    'baseline-error-tolerance': f.percent({
      description: 'Baseline comparison: how much higher (percentage points) the new error ratio may be before a significant difference fails.',
      default: '0.5%',
    }),
    'baseline-latency-tolerance': f.percent({
      description: 'Baseline comparison: how much slower (relative, on the median) the new version may be before a significant difference fails.',
      default: '10%',
    }),
  },
  outputs: {
    verdict: out.enum('`pass`, `fail` or `inconclusive`.', ['pass', 'fail', 'inconclusive']),
    passed: out.boolean("'true' when the gate let the release through (pass, an override, or inconclusive with on-inconclusive: pass)."),
    reason: out.text('One line: why the gate decided what it decided.', ['error-ratio 0.2% <= 1% over 1,204 requests'], /^[^\n]*$/, 'one line'),
    report: out.json(
      'JSON: verdict, reason, every objective (measured, threshold, samples, bounds, verdict, reason), measurements over time, burn rates, error budget, override.',
      'a JSON gate report',
      z.looseObject({ verdict: z.enum(['pass', 'fail', 'inconclusive']) }),
      ['{"verdict":"pass","reason":"all objectives met","objectives":[]}', '{"mode":"budget","verdict":"pass","budgetChecked":false}'],
    ),
    'error-budget-remaining': out.number('mode budget: the share of the error budget left (e.g. 0.42; negative when overspent).', ['0.42', '-0.1']),
  },
});
