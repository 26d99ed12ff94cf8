/**
 * `slipway plan --env NAME`: what a release would do. The release's own checks, the pending
 * migrations with their lint verdicts (from the database when its secret is set, else every file
 * counts as pending), which instances go in which batch, and the deploy-window verdict. Exits 1 when
 * a release would not start now (window closed, a problem in the file, a lint failure).
 */
import type { CliIO } from './main.ts';
import type { ParsedArgs } from './args.ts';
import { readConfig, requireEnv } from './main.ts';
import { UsageError } from './args.ts';
import { resolveSecrets, type LoadedConfig } from '../config/load.ts';
import { checkDeployWindow, type WindowDecision } from '../policy/deploy-window.ts';
import { errorMessage } from '../lib/errors.ts';
import { ConsoleRuntime } from '../runner/console.ts';
import { makeContext } from '../runner/run-action.ts';
import { parseInputs } from '../manifest/fields.ts';
import { splitIntoBatches, formatBatchSize, type BatchSize } from '../deploy/batches.ts';
import { checkRelease, stagesOf, STAGE_SPECS } from '../actions/release/check.ts';
import type { Stage } from '../config/stages.ts';
import type { DeployInputs } from '../actions/deploy-rolling/run.ts';
import { spec as migrateSpec } from '../actions/migrate/inputs.ts';
import { run as migrateRun } from '../actions/migrate/run.ts';

const SECRET_REF = /^\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$/;

interface Migrations {
  source: string;
  pending: { version: string; name: string; file: string }[];
  violations: { rule: string; severity: string; file: string; line?: number; message: string }[];
  lint: 'passed' | 'failed';
  failure?: string;
}

/** Pending migrations and lint, by the migrate action itself in a dry run. */
async function pendingMigrations(config: LoadedConfig, env: string, io: CliIO): Promise<Migrations> {
  const raw = config.inputs(env, 'migrate');
  const ref = raw['database-url'] ? SECRET_REF.exec(raw['database-url'].trim()) : null;
  let source = 'no database-url: every migration file counts as pending';
  if (ref && !io.env[ref[1]!]) {
    delete raw['database-url'];
    source = `${ref[1]} is not set: every migration file counts as pending`;
  }
  const rt = new ConsoleRuntime({}, { write: io.stderr });
  const resolved = resolveSecrets(raw, io.env, (s) => rt.mask(s));
  if (resolved['database-url']) source = `the database in ${ref?.[1] ?? 'database-url'}`;
  const inputs = await parseInputs(
    migrateSpec,
    (n) => (n === 'dry-run' ? 'true' : n === 'mode' ? 'run' : resolved[n]),
    (s) => rt.mask(s),
  );
  const r = await migrateRun(inputs, makeContext(rt, { ...io.env, GITHUB_WORKSPACE: io.cwd }, new AbortController().signal));
  const violations = (r.outputs.violations ?? []) as Migrations['violations'];
  return { source, pending: (r.outputs.pending ?? []) as Migrations['pending'], violations, lint: r.failure ? 'failed' : 'passed', failure: r.failure };
}

interface Batches {
  target: string;
  strategy: string;
  batches: string[][];
  note?: string;
}

function batchMembership(d: DeployInputs): Batches {
  const target = d.target;
  const names: string[] =
    target === 'hosts'
      ? (d.hosts ?? []).map((h) => {
          const o = h as { host: string; name?: string };
          return o.name ?? o.host;
        })
      : target === 'command'
        ? (d.instances ?? [])
        : [];
  if (target === 'kubernetes') return { target, strategy: d.strategy, batches: [], note: "the Deployment's pods, one at a time (the cluster decides which)" };
  if (d.strategy === 'blue-green')
    return { target, strategy: d.strategy, batches: [names], note: 'the whole new set starts beside the old one, then traffic switches at once' };
  if (d.strategy === 'canary')
    return {
      target,
      strategy: d.strategy,
      batches: [names],
      note: `traffic steps ${(d['canary-steps'] as unknown as BatchSize[] | undefined)?.map(formatBatchSize).join(', ') ?? ''}`.trim(),
    };
  const sizes = (d['max-unavailable'] ?? d.batches ?? [{ count: 1 }]) as BatchSize[];
  return { target, strategy: d.strategy, batches: splitIntoBatches(names, sizes), note: `batch sizes ${sizes.map(formatBatchSize).join(', ')}` };
}

export default async function plan(args: ParsedArgs, io: CliIO): Promise<number> {
  if (args.help) {
    io.stdout(
      "slipway plan --env NAME [--config slipway.yml] [--json]\n  What a release would do: the release's checks, pending migrations and lint, batch membership, the deploy-window verdict.\n  Exit 0 a release may start, 1 it would not (window closed, a problem, a lint failure), 2 bad usage.\n",
    );
    return 0;
  }
  const config = (await readConfig(args, io, true))!;
  const env = requireEnv(args, config, 'plan');
  if (args.positional.length) throw new UsageError(`plan: unexpected argument ${JSON.stringify(args.positional[0])}; expected only flags (--env NAME)`);
  const stages = stagesOf(config, env);
  const { problems, parsed } = await checkRelease(config, env, stages, {
    workspace: io.cwd,
    secretsAsReferences: true,
    rawFor: (stage: Stage) => {
      const raw = config.inputs(env, STAGE_SPECS[stage].name);
      if (stage === 'deploy') raw.version ??= 'release-version';
      if (stage === 'notify') {
        raw.environment ??= env;
        raw.version ??= 'release-version';
      }
      return raw;
    },
  });
  const window = config.window(env);
  const decision: WindowDecision | undefined = window ? checkDeployWindow(window, new Date()) : undefined;
  let migrations: Migrations | undefined;
  let migrationsError: string | undefined;
  if (stages.includes('migrate') && parsed.migrate) {
    try {
      migrations = await pendingMigrations(config, env, io);
    } catch (err) {
      migrationsError = errorMessage(err);
    }
  }
  const deploy = parsed.deploy ? batchMembership(parsed.deploy as DeployInputs) : undefined;
  const stageList = stages.map((action) => ({ stage: action, action: STAGE_SPECS[action].name, inputs: config.inputs(env, STAGE_SPECS[action].name) }));
  const blocked = (decision && !decision.allowed) || problems.length > 0 || migrations?.lint === 'failed' || Boolean(migrationsError);
  const result = {
    environment: env,
    ok: !blocked,
    window: decision ? { open: decision.allowed, reason: decision.reason } : null,
    problems: problems.map((p) => ({ line: p.line ?? null, key: p.key, message: p.detail })),
    migrations: migrations
      ? { source: migrations.source, pending: migrations.pending, violations: migrations.violations, lint: migrations.lint }
      : migrationsError
        ? { error: migrationsError }
        : null,
    deploy: deploy ?? null,
    stages: stageList,
  };
  if (args.json) {
    io.stdout(`${JSON.stringify(result, null, 2)}\n`);
    return blocked ? 1 : 0;
  }
  const lines: string[] = [`Plan for ${env} (${args.config ?? 'slipway.yml'})`];
  lines.push(`  deploy window: ${decision ? `${decision.allowed ? 'open' : 'CLOSED'}: ${decision.reason}` : 'none set (always open)'}`);
  if (problems.length) lines.push(`  problems (the release would refuse to start):`, ...problems.map((p) => `    ${p.message}`));
  lines.push('  stages:');
  stageList.forEach((s, i) => {
    lines.push(`    ${i + 1}. ${s.stage} (${s.action})`);
    if (s.stage === 'migrate') {
      if (migrationsError) lines.push(`       pending migrations: could not be read: ${migrationsError}`);
      else if (migrations) {
        lines.push(`       pending migrations (${migrations.source}): ${migrations.pending.length ? '' : 'none'}`);
        for (const m of migrations.pending) lines.push(`         - ${m.file}${migrations.violations.some((v) => v.file === m.file) ? '' : '  lint: clean'}`);
        for (const v of migrations.violations) lines.push(`         ${v.severity} ${v.rule} at ${v.file}${v.line ? `:${v.line}` : ''}: ${v.message}`);
        lines.push(`       lint: ${migrations.lint}`);
      }
    }
    if (s.stage === 'deploy' && deploy) {
      lines.push(`       target ${deploy.target}, strategy ${deploy.strategy}${deploy.note ? ` (${deploy.note})` : ''}`);
      deploy.batches.forEach((b, n) => lines.push(`       batch ${n + 1}/${deploy.batches.length}: ${b.join(', ')}`));
    }
    for (const [k, v] of Object.entries(s.inputs))
      if (!(s.stage === 'deploy' && k === 'hosts')) lines.push(`       ${k}: ${SECRET_REF.test(v.trim()) ? v : v.length > 80 ? `${v.slice(0, 77)}...` : v}`);
  });
  lines.push(blocked ? `A release to ${env} would not start now.` : `A release to ${env} may start now.`);
  io.stdout(`${lines.join('\n')}\n`);
  return blocked ? 1 : 0;
}
