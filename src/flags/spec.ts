/**
 * The flags action's input spec, in the flags domain: the flags action (src/actions/flags) and the
 * `flags` section of slipway.yml share it, and so does deploy-rolling's kill switch (src/flags/kill.ts),
 * which may not import another action.
 */
import { z } from 'zod';
import { defineAction, f, out, type InputSpec } from '../manifest/fields.ts';
import { errorMessage } from '../lib/errors.ts';
import { FLAG_NAME, FLAG_NAME_HELP, parseFlagSteps, parseReleaseFlag, type ReleaseFlag } from './model.ts';

const argv = z.array(z.union([z.string(), z.number()]).transform(String)).min(1, 'needs at least the program name');
const argvInput = (description: string): InputSpec<string[]> =>
  f.yaml(argv, { description, expected: 'a YAML or JSON argument list such as ["./flagctl", "set"]' });

/** A list input whose entries are parsed one by one; an error names the entry. */
function parsedList<T>(description: string, expected: string, parse: (s: string) => T): InputSpec<T[]> {
  return {
    description,
    expected,
    kind: 'list',
    schema: z.string().transform((s, ctx) => {
      const items = s
        .split(/[,\n]/)
        .map((x) => x.trim())
        .filter(Boolean);
      const outList: T[] = [];
      for (const it of items) {
        try {
          outList.push(parse(it));
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: errorMessage(err) });
          return z.NEVER;
        }
      }
      return outList;
    }) as unknown as z.ZodType<T[]>,
  };
}

const flagList = (description: string) => f.list({ description, item: FLAG_NAME, itemExpected: 'flag names (letters, digits and . _ ~ -)' });

export const spec = defineAction({
  name: 'flags',
  title: 'Slipway flags',
  description:
    "Feature flags in the release: enable, disable or set a gradual rollout for one environment in Unleash (admin API) or through your own commands; roll a flag out in steps with the SLO gate between them (a failed gate puts it back); the kill switch turns the release's flags off. Every change is recorded: who, when, which run, from what to what.",
  branding: { icon: 'toggle-right', color: 'purple' },
  inputs: {
    environment: f.string({
      description: "The flag server's environment to change (Unleash: e.g. production). Only this environment is touched.",
      required: true,
      pattern: /^[A-Za-z0-9._-]{1,100}$/,
      expected: 'an environment name such as production',
    }),
    mode: f.enum(['change', 'kill', 'plan'], {
      description:
        '`change`: apply disable, enable, rollout, release, then progressive, in that order. `kill`: the kill switch: turn off the `release` flags and the `disable` flags at once, retried until kill-deadline. `plan`: change nothing and contact no server (no credential needed): `changes` lists what change would do, for the release plan (notify details.flags).',
      default: 'change',
    }),
    provider: f.enum(['unleash', 'command'], {
      description: '`unleash`: the Unleash admin API at unleash-url. `command`: your own command (and read-command) for any other flag system.',
      default: 'unleash',
    }),
    'unleash-url': f.url({ description: 'Base URL of the Unleash server, e.g. https://unleash.example.com (the admin API is under /api/admin).' }),
    'unleash-token': f.string({ description: 'Unleash admin API token or personal access token (masked).', secret: true }),
    'unleash-project': f.string({
      description: 'Unleash project of the flags.',
      default: 'default',
      pattern: /^[A-Za-z0-9._-]{1,100}$/,
      expected: 'a project id',
    }),
    command: argvInput(
      'provider command: the command that sets a flag (argument list, no shell). It gets SLIPWAY_FLAG, SLIPWAY_FLAG_ENVIRONMENT, SLIPWAY_FLAG_ENABLED (true/false), SLIPWAY_FLAG_ROLLOUT (0–100 or empty) and SLIPWAY_FLAG_FROM_* in its environment; exit 2 = no such flag, 75 = try again.',
    ),
    'read-command': argvInput(
      'provider command: the command that prints a flag\'s state (on, off, 25% or {"enabled":true,"rollout":25}); needed to record "from" and for progressive.',
    ),
    enable: flagList('Flags to turn on (their rollout share is left as it is).'),
    disable: flagList('Flags to turn off.'),
    rollout: parsedList(
      'Gradual rollouts to set, e.g. `checkout=25%, search=100%` (the flag is turned on with that share of users).',
      'a comma- or newline-separated list of flag=percentage (0%–100%)',
      (s) => {
        const r = parseReleaseFlag(s);
        if (r.percent === undefined) throw new Error(`${JSON.stringify(s)} needs a percentage: flag=25%`);
        return r;
      },
    ),
    release: parsedList(
      'The flags this release turns on, `flag` or `flag=25%` (slipway.yml lists them per environment): turned on in mode change, switched off by the kill switch when a deploy, gate or rollback fails.',
      'a comma- or newline-separated list of flag or flag=25%',
      (s): ReleaseFlag => parseReleaseFlag(s),
    ),
    progressive: f.string({
      description: 'strategy flag: roll this flag out through `steps`, the gate between steps; a failed gate puts it back where it was.',
      pattern: FLAG_NAME,
      expected: FLAG_NAME_HELP,
    }),
    steps: {
      description: 'progressive: the rollout percentages in turn.',
      default: '5%,25%,50%,100%',
      expected: 'increasing percentages such as 5%,25%,50%,100%',
      schema: z.string().transform((s, ctx) => {
        try {
          return parseFlagSteps(s);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: errorMessage(err) });
          return z.NEVER;
        }
      }) as unknown as z.ZodType<number[]>,
    },
    pause: f.duration({
      description: "progressive: wait after each step before the gate (at least the apps' flag refresh interval, so they see the step).",
      default: '0s',
      max: 3_600_000,
    }),
    'gate-urls': f.list({
      description: 'progressive: URLs the SLO gate probes between steps (the app behind its load balancer).',
      item: /^https?:\/\/\S+$/,
      itemExpected: 'http(s) URLs',
    }),
    'gate-slo': f.string({
      description: 'progressive: SLO objectives checked between steps by probing gate-urls, e.g. "error-ratio <= 1%, p99 <= 1s".',
      maxLength: 2000,
    }),
    'gate-duration': f.duration({ description: 'progressive: how long the SLO gate probes after each step.', default: '30s', min: 1000, max: 3_600_000 }),
    'gate-rate': f.number({ description: 'progressive: requests per second the SLO gate sends.', default: '20', min: 0.1, max: 10_000 }),
    'kill-deadline': f.duration({
      description: 'mode kill: keep retrying a flag that could not be switched off for this long, then fail loudly.',
      default: '30s',
      min: 1000,
      max: 600_000,
    }),
    timeout: f.duration({ description: 'Timeout of each request to the flag server (or each command).', default: '10s', min: 100, max: 300_000 }),
  },
  outputs: {
    result: out.enum(
      '`changed`, `unchanged` (every flag was already so), `rolled-back` (progressive: a failed gate or step put the flag back), `killed` (mode kill: every flag is off), `failed`.',
      ['changed', 'unchanged', 'rolled-back', 'killed', 'failed'],
    ),
    changes: out.json(
      'JSON list of the changes: flag, provider, server, environment, action, from, to ({enabled, rollout}), who, run, at, durationMs, ok, error.',
      'a JSON list of flag changes',
      z.array(z.looseObject({ flag: z.string(), action: z.string(), ok: z.boolean() })),
      [
        '[{"flag":"checkout","provider":"unleash","server":"https://unleash.example.com","environment":"production","action":"rollout","from":{"enabled":false},"to":{"enabled":true,"rollout":25},"who":"octocat","run":"https://github.com/acme/api/actions/runs/1","at":"2026-12-06T21:00:00.000Z","durationMs":41,"ok":true}]',
      ],
    ),
    'changed-count': out.integer('Number of flags whose state changed.'),
    'flags-off': out.text(
      'mode kill: the flags switched off, comma-separated (empty when none).',
      ['checkout,search'],
      /^[^\n]*$/,
      'a comma-separated list of flag names',
    ),
  },
});
