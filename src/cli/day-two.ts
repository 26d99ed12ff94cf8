/**
 * Day-two commands over the target an environment's `deploy` section describes (issue 19):
 *   slipway status   --env E            what runs where: version, since when, ready, the lock holder
 *   slipway releases --env E            the releases kept on every host (what rollback can go back to)
 *   slipway rollback --env E [--to V]   the same executor, readiness, gate and lock as a deploy
 *   slipway lock acquire|release|status --env E [--reason TEXT] [--ttl 1h]
 *   slipway audit    --env E [--since 7d]
 * Bad input (unknown environment, a version not kept, a lock held by someone else) is one line on
 * stderr, before anything changes: exit 2 for usage, 1 for a failed operation.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { CliIO } from './main.ts';
import { readConfig, requireEnv } from './main.ts';
import { UsageError, type ParsedArgs } from './args.ts';
import { parseInputs } from '../manifest/fields.ts';
import { errorMessage } from '../lib/errors.ts';
import { parseDuration, formatDuration, DURATION_HELP } from '../lib/duration.ts';
import { suggest } from '../lib/suggest.ts';
import { resolveSecrets, inSlipwayWords } from '../config/load.ts';
import { ConsoleRuntime } from '../runner/console.ts';
import { deliver, makeContext } from '../runner/run-action.ts';
import type { ActionContext, ActionResult } from '../runner/context.ts';
import { spec as deploySpec } from '../actions/deploy-rolling/inputs.ts';
import { buildTarget, run as deployRun, type DeployInputs } from '../actions/deploy-rolling/run.ts';
import { HostsTarget, parseHostEntry, checkVersionName } from '../deploy/hosts.ts';
import { SshClient, buildKnownHosts, writePrivateKey } from '../deploy/ssh.ts';
import { DeployLock, LockHeldError, describeHolder, newHolder, readPause, type LockHolder } from '../deploy/lock.ts';
import { httpProbe } from '../deploy/engine.ts';
import { sleep } from '../lib/sleep.ts';
import { appendAudit, readAudit, type AuditEntry, type AuditHost } from '../deploy/audit.ts';
import { parseUpstreamState, readHostState, type HostState, type UpstreamState } from '../deploy/status.ts';

/** An image reference, as deploy-rolling's image input takes it. */
const KUBE_IMAGE = /^[A-Za-z0-9][A-Za-z0-9._\-/:]*(@sha256:[0-9a-f]{64})?$/;

export interface Fleet {
  env: string;
  inputs: DeployInputs;
  raw: Record<string, string>;
  rt: ConsoleRuntime;
  ctx: ActionContext;
  hosts: AuditHost[];
  /** Only with target hosts. */
  ssh?: SshClient;
  actor: string;
  run: string;
  close(): Promise<void>;
}

function help(io: CliIO, text: string): number {
  io.stdout(`${text}\n`);
  return 0;
}

function allow(args: ParsedArgs, command: string, flags: string[]): void {
  for (const f of Object.keys(args.flags)) {
    if (!flags.includes(f)) {
      const hint = suggest(f, flags);
      throw new UsageError(
        `${command}: unknown flag --${f}${hint ? ` (did you mean --${hint}?)` : ''}; it takes --env NAME${flags.length ? `, ${flags.map((x) => `--${x}`).join(', ')}` : ''}`,
      );
    }
  }
}

/** The hosts of the environment's deploy section, with an SSH client of their own (read-only work, audit lines). */
export async function openFleet(
  args: ParsedArgs,
  io: CliIO,
  command: string,
  over: Record<string, string> | ((target: string) => Record<string, string>) = {},
  targets: readonly string[] = ['hosts'],
): Promise<Fleet> {
  const config = (await readConfig(args, io, true))!;
  const env = requireEnv(args, config, command);
  const rt = new ConsoleRuntime({}, { write: io.stderr });
  const fromFile = config.inputs(env, 'deploy-rolling');
  if (!Object.keys(fromFile).length)
    throw new UsageError(`${command}: environment ${env} in ${config.path} has no deploy section; expected one with the target to look at`);
  const resolved = resolveSecrets(fromFile, io.env, (s) => rt.mask(s));
  const raw = { ...resolved, ...(typeof over === 'function' ? over(resolved.target ?? 'hosts') : over) };
  let inputs: DeployInputs;
  try {
    inputs = await parseInputs(
      deploySpec,
      (n) => raw[n],
      (s) => rt.mask(s),
    );
  } catch (err) {
    throw new UsageError(`${command}: environments.${env}.deploy: ${inSlipwayWords(errorMessage(err))}`);
  }
  const actor = io.env.GITHUB_ACTOR || io.env.SLIPWAY_ACTOR || io.env.USER || userInfo().username || 'unknown';
  const ctx = makeContext(rt, { ...io.env, GITHUB_WORKSPACE: io.cwd, GITHUB_ACTOR: actor }, new AbortController().signal);
  const run = ctx.github.runUrl || `cli on ${hostname()}`;
  if (!targets.includes(inputs.target))
    throw new UsageError(
      `${command}: environment ${env} deploys to target ${inputs.target}; this command works on target ${targets.join(' and ')} for now${inputs.target === 'kubernetes' ? ' (for kubernetes: kubectl rollout history)' : ''}`,
    );
  if (inputs.target !== 'hosts') return { env, inputs, raw, rt, ctx, hosts: [], ssh: undefined, actor, run, close: async () => {} };
  const defaults = { user: inputs['ssh-user'], port: inputs['ssh-port'] };
  const list = (inputs.hosts ?? []).map((h) => {
    const o = h as { host: string; name?: string; 'deploy-root'?: string };
    const ssh = parseHostEntry(o.host, defaults);
    return { ...ssh, name: o.name, deployRoot: o['deploy-root'] ?? inputs['deploy-root'] };
  });
  if (!list.length) throw new UsageError(`${command}: environments.${env}.deploy.hosts: got nothing; expected the hosts to look at`);
  const sameHost = new Set(list.map((h) => h.host)).size < list.length;
  const hosts: AuditHost[] = list.map((h) => ({ ...h, id: h.name ?? (sameHost || h.port !== 22 ? `${h.host}:${h.port}` : h.host) }));
  const dir = mkdtempSync(join(tmpdir(), 'slipway-cli-ssh-'));
  let ssh: SshClient;
  try {
    const keyPath = inputs['ssh-key'] ? writePrivateKey(dir, inputs['ssh-key']) : undefined;
    let knownHostsPath: string | undefined;
    if (inputs['known-hosts'] || inputs['host-key']) {
      knownHostsPath = join(dir, 'known_hosts');
      writeFileSync(knownHostsPath, buildKnownHosts(inputs['known-hosts'], inputs['host-key'], hosts), { mode: 0o600 });
    } else if (!inputs['insecure-skip-host-key-check']) {
      throw new UsageError(`${command}: environments.${env}.deploy: host key verification is on: give host-key or known-hosts`);
    }
    ssh = new SshClient({ keyPath, knownHostsPath, insecure: inputs['insecure-skip-host-key-check'], env: io.env });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    env,
    inputs,
    raw,
    rt,
    ctx,
    hosts,
    ssh,
    actor,
    run,
    async close() {
      await ssh?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function withFleet<T>(f: Fleet, work: (f: Fleet) => Promise<T>): Promise<T> {
  try {
    return await work(f);
  } finally {
    await f.close();
  }
}

export async function record(f: Fleet, e: Omit<AuditEntry, 'at' | 'actor' | 'run'>): Promise<void> {
  const failed = await appendAudit(f.ssh!, f.hosts, { at: new Date().toISOString(), actor: f.actor, run: f.run, ...e });
  if (failed.length) f.rt.warning(`the audit log could not be written on ${failed.join('; ')}`);
}

/** The environment's newest GitHub deployment and its latest status, when GITHUB_TOKEN and GITHUB_REPOSITORY are set. */
async function lastGithubDeployment(
  f: Fleet,
  io: CliIO,
): Promise<{ sha: string; version: string | null; state: string | null; createdAt: string } | null | undefined> {
  const token = io.env.GITHUB_TOKEN;
  const repository = io.env.GITHUB_REPOSITORY;
  if (!token || !repository) return undefined;
  f.rt.mask(token);
  try {
    const { githubClient } = await import('../notify/github.ts');
    const client = await githubClient({ token, repository, apiUrl: io.env.GITHUB_API_URL || undefined, deadlineMs: 15_000 });
    const [d] = await client.listDeployments({ environment: f.env, perPage: 1 });
    if (!d) return null;
    const [latest] = await client.latestStatuses(d.id, 1);
    return { sha: d.sha, version: d.version?.label ?? null, state: latest?.state ?? null, createdAt: d.createdAt };
  } catch (err) {
    f.rt.warning(`status: the last GitHub deployment of ${f.env} could not be read: ${errorMessage(err)}`);
    return undefined;
  }
}

type GithubDeployment = Awaited<ReturnType<typeof lastGithubDeployment>>;
const githubLine = (g: GithubDeployment, env: string) =>
  g === undefined
    ? ''
    : g === null
      ? `GitHub: no deployment of ${env} yet\n`
      : `GitHub: last deployment ${g.sha.slice(0, 7)}${g.version ? ` (${g.version})` : ''}, ${g.state ?? 'no status'}, created ${g.createdAt}\n`;

const holderView = (h: LockHolder | undefined) =>
  h ? { actor: h.actor, run: h.runUrl, version: h.version, reason: h.reason, since: h.since, until: h.until } : null;

export async function status(args: ParsedArgs, io: CliIO): Promise<number> {
  if (args.help)
    return help(
      io,
      "slipway status --env NAME [--json] [--watch [--interval 2s]]\n  Per host: the release it runs (current), since when, the previous one, ready or not (the readiness path, as a deploy checks it), and the deploy lock holder.\n  target command: each instance's version (version-command) and readiness. --watch refreshes until Ctrl-C (with --json: one document per line).",
    );
  allow(args, 'status', ['watch', 'interval']);
  const watch = args.flags.watch === 'true';
  let intervalMs = 2000;
  if (args.flags.interval !== undefined) {
    try {
      intervalMs = parseDuration(args.flags.interval);
    } catch {
      throw new UsageError(`status: --interval: got ${JSON.stringify(args.flags.interval)}; expected ${DURATION_HELP}`);
    }
    if (intervalMs < 100 || intervalMs > 3_600_000)
      throw new UsageError(`status: --interval: got ${JSON.stringify(args.flags.interval)}; expected between 100ms and 1h`);
  }
  return withFleet(await openFleet(args, io, 'status', {}, ['hosts', 'command', 'kubernetes']), async (f) => {
    const kube = f.inputs.target === 'kubernetes' ? await import('./kube-day-two.ts') : undefined;
    const once = () => (kube ? kube.kubeStatus(f, args, io) : f.inputs.target === 'command' ? commandStatus(f, args, io) : hostsStatus(f, args, io));
    if (!watch) return once();
    const stop = new AbortController();
    const onSig = () => stop.abort();
    process.once('SIGINT', onSig);
    process.once('SIGTERM', onSig);
    let code = 0;
    try {
      while (!stop.signal.aborted) {
        if (!args.json) io.stdout(`--- ${new Date().toISOString()}\n`);
        code = await once();
        await sleep(intervalMs, stop.signal).catch(() => undefined);
      }
    } finally {
      process.off('SIGINT', onSig);
      process.off('SIGTERM', onSig);
    }
    return code;
  });
}

async function hostsStatus(f: Fleet, args: ParsedArgs, io: CliIO): Promise<number> {
  const states = await Promise.all(f.hosts.map((h) => readHostState(f.ssh!, h)));
  const built = buildTarget({ ...f.inputs, lock: false }, f.ctx, {});
  let urls: Record<string, string> = {};
  let haproxy: Record<string, UpstreamState> | undefined;
  try {
    urls = Object.fromEntries((await built.target.instances(AbortSignal.timeout(60_000))).map((i) => [i.id, i.url]));
    // HAProxy: its runtime API says which servers are drained (nginx: the upstream file, below).
    if (built.target instanceof HostsTarget && f.inputs['haproxy-host']) {
      const st = await built.target.balancerState(AbortSignal.timeout(30_000)).catch((err) => {
        f.rt.warning(`status: HAProxy's server state could not be read: ${errorMessage(err)}`);
        return undefined;
      });
      if (st)
        haproxy = Object.fromEntries([...st].map(([id, x]) => [id, { address: x.address, down: x.down, ...(x.weight !== 1 ? { weight: x.weight } : {}) }]));
    }
  } finally {
    await built.target.close().catch(() => undefined);
    built.cleanup();
  }
  const balancer = haproxy ?? upstreamState(f);
  const lbName = haproxy ? 'HAPROXY' : 'NGINX';
  const rows = await Promise.all(
    states.map(async (s) => {
      const url = urls[s.id];
      const probe = url ? await httpProbe(`${url.replace(/\/$/, '')}${f.inputs['ready-path']}`, 2000, AbortSignal.timeout(10_000)) : undefined;
      return {
        host: s.id,
        version: s.current ?? null,
        since: s.since ?? null,
        previous: s.previous ?? null,
        nginx: balancer ? balancerView(balancer[s.id]) : undefined,
        ready: probe?.ok ?? false,
        answer: probe?.answer ?? 'no URL',
        answers: probe?.version ?? null,
        lock: holderView(s.lock),
      };
    }),
  );
  const versions = [...new Set(rows.map((r) => r.version ?? '(none)'))];
  const lock = states.find((s) => s.lock)?.lock;
  const github = await lastGithubDeployment(f, io);
  // A rollout waiting at a `pause: manual` step (lock.ts): what to run next.
  const pause = await readPause(f.ssh!, f.hosts, AbortSignal.timeout(30_000)).catch(() => undefined);
  const pauseView = pause
    ? { version: pause.version, batch: pause.batch, totalBatches: pause.totalBatches, deadline: pause.deadline, run: pause.runUrl ?? null }
    : null;
  if (args.json) {
    io.stdout(
      `${JSON.stringify({ at: new Date().toISOString(), environment: f.env, versions, lock: holderView(lock), pause: pauseView, github: github ?? null, hosts: rows }, null, args.flags.watch === 'true' ? undefined : 2)}\n`,
    );
  } else {
    io.stdout(
      `${f.env}: ${versions.length === 1 ? `every host runs ${versions[0]}` : `MIXED: ${versions.join(', ')}`}${lock ? `; LOCKED by ${describeHolder(lock)}` : '; not locked'}\n`,
    );
    if (pause)
      io.stdout(
        `WAITING: the rollout of ${pause.version} is paused after batch ${pause.batch}/${pause.totalBatches} (pause: manual) until ${pause.deadline}: slipway promote --env ${f.env} or slipway abort --env ${f.env}\n`,
      );
    io.stdout(githubLine(github, f.env));
    const table = [
      ['HOST', 'VERSION', 'SINCE', 'PREVIOUS', ...(balancer ? [lbName] : []), 'READY'],
      ...rows.map((r) => [
        r.host,
        r.version ?? '(none)',
        r.since ?? '',
        r.previous ?? '',
        ...(balancer ? [r.nginx ?? ''] : []),
        r.ready ? `yes${r.answers ? ` (answers ${r.answers})` : ''}` : `NO: ${r.answer}`,
      ]),
    ];
    io.stdout(formatTable(table));
  }
  return rows.every((r) => r.ready && r.nginx !== 'DRAINED') && versions.length === 1 ? 0 : 1;
}

/** The nginx upstream file Slipway generates, when nginx runs on this machine (nginx-host: local). */
function upstreamState(f: Fleet): Record<string, UpstreamState> | undefined {
  if (f.inputs['nginx-host'] !== 'local' || !f.inputs['nginx-upstream-file']) return undefined;
  try {
    return parseUpstreamState(readFileSync(f.inputs['nginx-upstream-file'], 'utf8'));
  } catch (err) {
    f.rt.warning(`status: the nginx upstream file could not be read: ${errorMessage(err)}`);
    return undefined;
  }
}

const balancerView = (u: UpstreamState | undefined) => (!u ? 'not listed' : u.down ? 'DRAINED' : u.weight !== undefined ? `in (weight ${u.weight})` : 'in');

/** target: command: each instance's version from version-command, and readiness (ready-command or the readiness path). */
async function commandStatus(f: Fleet, args: ParsedArgs, io: CliIO): Promise<number> {
  if (!f.inputs['version-command'])
    throw new UsageError(
      `status: environments.${f.env}.deploy.version-command: got nothing; expected a command that prints the version an instance runs (target command)`,
    );
  const built = buildTarget({ ...f.inputs, lock: false }, f.ctx, {});
  try {
    const signal = AbortSignal.timeout(120_000);
    const insts = await built.target.instances(signal);
    const rows = await Promise.all(
      insts.map(async (i) => {
        let version: string | null = null;
        let error: string | undefined;
        try {
          version = (await built.target.currentVersion(i, signal)) || null;
        } catch (err) {
          error = errorMessage(err);
        }
        const readyUrl = `${i.url.replace(/\/$/, '')}${f.inputs['ready-path']}`;
        const probe = built.target.probe ? await built.target.probe(i, readyUrl, signal) : await httpProbe(readyUrl, 2000, signal);
        return { instance: i.id, version, ready: probe.ok, answer: error ? `version-command failed: ${error}` : probe.answer };
      }),
    );
    const versions = [...new Set(rows.map((r) => r.version ?? '(unknown)'))];
    const github = await lastGithubDeployment(f, io);
    if (args.json)
      io.stdout(
        `${JSON.stringify({ at: new Date().toISOString(), environment: f.env, versions, github: github ?? null, instances: rows }, null, args.flags.watch === 'true' ? undefined : 2)}\n`,
      );
    else {
      io.stdout(`${f.env}: ${versions.length === 1 ? `every instance runs ${versions[0]}` : `MIXED: ${versions.join(', ')}`}\n`);
      io.stdout(githubLine(github, f.env));
      io.stdout(
        formatTable([['INSTANCE', 'VERSION', 'READY'], ...rows.map((r) => [r.instance, r.version ?? '(unknown)', r.ready ? 'yes' : `NO: ${r.answer}`])]),
      );
    }
    return rows.every((r) => r.ready && r.version) && versions.length === 1 ? 0 : 1;
  } finally {
    await built.target.close().catch(() => undefined);
    built.cleanup();
  }
}

/** One audit entry as table cells: time, actor, action, version (or the reason), outcome (cut at 60), run. */
export function auditCells(e: Pick<AuditEntry, 'at' | 'actor' | 'action' | 'version' | 'from' | 'reason' | 'outcome' | 'run'>): string[] {
  return [
    e.at.replace(/\.\d+Z$/, 'Z'),
    e.actor,
    e.action,
    e.version ? `${e.from ? `${e.from} → ` : ''}${e.version}` : (e.reason ?? ''),
    e.outcome.length > 60 ? `${e.outcome.slice(0, 57)}...` : e.outcome,
    e.run,
  ];
}

export function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return (
    rows
      .map((r) =>
        r
          .map((x, c) => (c === r.length - 1 ? x : x.padEnd(widths[c]!)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/** The releases kept on every host (a rollback target must be on all of them). */
function keptEverywhere(states: HostState[]): string[] {
  const first = states[0]?.releases ?? [];
  return first.filter((r) => states.every((s) => s.releases.includes(r)));
}

export async function releases(args: ParsedArgs, io: CliIO): Promise<number> {
  if (args.help)
    return help(
      io,
      "slipway releases --env NAME [--json]\n  The releases kept on the hosts (keep-releases), oldest first: what slipway rollback --to can go back to.\n  On target kubernetes: the images the Deployment's ReplicaSets keep, newest revision first.",
    );
  allow(args, 'releases', []);
  return withFleet(await openFleet(args, io, 'releases', {}, ['hosts', 'kubernetes']), async (f) => {
    if (f.inputs.target === 'kubernetes') return (await import('./kube-day-two.ts')).kubeReleases(f, args, io);
    const states = await Promise.all(f.hosts.map((h) => readHostState(f.ssh!, h)));
    const kept = keptEverywhere(states);
    const current = states[0]?.current;
    const previous = states[0]?.previous;
    const list = kept.map((v) => ({ version: v, current: states.every((s) => s.current === v), previous: states.every((s) => s.previous === v) }));
    const partial = [...new Set(states.flatMap((s) => s.releases))]
      .filter((r) => !kept.includes(r))
      .map((r) => ({ version: r, on: states.filter((s) => s.releases.includes(r)).map((s) => s.id) }));
    if (args.json) io.stdout(`${JSON.stringify({ environment: f.env, releases: list, partial }, null, 2)}\n`);
    else {
      io.stdout(`${f.env}: ${kept.length} release(s) kept on every host (oldest first)\n`);
      for (const r of list)
        io.stdout(`  ${r.version}${r.current ? '  ← current' : ''}${r.previous ? '  ← previous (slipway rollback goes here by default)' : ''}\n`);
      for (const p of partial) io.stdout(`  ${p.version}  (only on ${p.on.join(', ')}: not a rollback target)\n`);
      if (!current && !previous && !kept.length) io.stdout('  (none: nothing was deployed here yet)\n');
    }
    return 0;
  });
}

export async function rollback(args: ParsedArgs, io: CliIO): Promise<number> {
  if (args.help)
    return help(
      io,
      'slipway rollback --env NAME [--to VERSION] [--reason TEXT] [--json]\n  Puts every host back on a release it keeps (default: the previous one), with the same executor, readiness checks, gate and deploy lock as a deploy. See slipway releases for what is kept.\n  On target kubernetes --to is an image (registry/app@sha256:…, see slipway releases); without it the Deployment goes back to its last good template.',
    );
  allow(args, 'rollback', ['to', 'reason']);
  const to = args.flags.to;
  const reason = args.flags.reason ?? (to ? `rollback to ${to}` : 'rollback');
  // hosts: --to deploys a kept release (checked below); command: --to is the version to go back to
  // (previous-version); kubernetes: --to is an image, deployed like any image (without it: the last good template).
  const over = (target: string): Record<string, string> => {
    if (target === 'kubernetes') {
      if (!to) return { rollback: 'true', 'lock-reason': reason };
      if (!KUBE_IMAGE.test(to) || to.length > 512)
        throw new UsageError(
          `rollback: --to: got ${JSON.stringify(to)}; expected an image reference such as ghcr.io/acme/app@sha256:<64 hex> on target kubernetes (slipway releases --env NAME lists the images the Deployment keeps)`,
        );
      return { image: to, rollback: 'false', 'lock-reason': reason };
    }
    if (to !== undefined) {
      try {
        checkVersionName(to, '--to');
      } catch {
        throw new UsageError(
          `rollback: --to: got ${JSON.stringify(to)}; expected a release name of letters, digits, '.', '_', '+', '-' (see slipway releases)`,
        );
      }
    }
    if (target === 'command') return { rollback: 'true', 'lock-reason': reason, ...(to ? { 'previous-version': to } : {}) };
    return to ? { version: to, rollback: 'false', 'lock-reason': reason } : { rollback: 'true', 'lock-reason': reason };
  };
  return withFleet(await openFleet(args, io, 'rollback', over, ['hosts', 'command', 'kubernetes']), async (f) => {
    if (f.inputs.target !== 'hosts') {
      f.rt.info(`rollback ${f.env} (target ${f.inputs.target})${to ? ` to ${to}` : ''}`);
      const result: ActionResult = await deployRun(f.inputs, f.ctx, {}).catch((err): ActionResult => ({ outputs: {}, failure: errorMessage(err) }));
      const ok = deliver(deploySpec, f.rt, result);
      if (args.json) io.stdout(`${JSON.stringify({ environment: f.env, ok, to: to ?? null, failure: f.rt.failure || undefined }, null, 2)}\n`);
      else if (result.summary) io.stdout(`${f.rt.summary}\n`);
      return ok ? 0 : 1;
    }
    const states = await Promise.all(f.hosts.map((h) => readHostState(f.ssh!, h)));
    const from = states[0]?.current;
    if (to) {
      const kept = keptEverywhere(states);
      if (!kept.includes(to)) {
        const missing = states.filter((s) => !s.releases.includes(to)).map((s) => s.id);
        io.stderr(
          `slipway: rollback: --to ${JSON.stringify(to)} is not kept on ${missing.join(', ')}; expected one of the releases kept on every host: ${kept.join(', ') || '(none)'}; nothing was changed\n`,
        );
        return 1;
      }
    } else if (states.some((s) => !s.previous)) {
      io.stderr(
        `slipway: rollback: no previous release is kept on ${states
          .filter((s) => !s.previous)
          .map((s) => s.id)
          .join(', ')}; give --to VERSION (see slipway releases --env ${f.env}); nothing was changed\n`,
      );
      return 1;
    }
    const target = to ?? states[0]!.previous!;
    f.rt.info(`rollback ${f.env}: ${from ?? '(none)'} → ${target} on ${f.hosts.map((h) => h.id).join(', ')}`);
    const result = await deployRun(f.inputs, f.ctx, {}).catch((err) => ({ outputs: {}, failure: errorMessage(err), summary: undefined }));
    const ok = deliver(deploySpec, f.rt, result);
    // deploy-rolling appends the audit line on every host (a rollback, or a deploy of the kept release for --to).
    if (args.json) io.stdout(`${JSON.stringify({ environment: f.env, ok, from: from ?? null, to: target, failure: f.rt.failure || undefined }, null, 2)}\n`);
    else if (result.summary) io.stdout(`${f.rt.summary}\n`);
    return ok ? 0 : 1;
  });
}

export async function lock(args: ParsedArgs, io: CliIO): Promise<number> {
  const usage =
    'slipway lock acquire|release|status --env NAME [--reason TEXT] [--ttl 1h] [--json]\n  The deploy lock every deploy takes (<deploy-root>/.slipway-lock on every host). While you hold it, deploys and rollbacks fail naming you.';
  if (args.help) return help(io, usage);
  const sub = args.positional[0];
  if (!sub || !['acquire', 'release', 'status'].includes(sub))
    throw new UsageError(`lock: got ${sub ? JSON.stringify(sub) : 'no subcommand'}; expected acquire, release or status`);
  allow(args, `lock ${sub}`, sub === 'acquire' ? ['reason', 'ttl'] : []);
  let ttlMs = 3_600_000;
  if (args.flags.ttl !== undefined) {
    try {
      ttlMs = parseDuration(args.flags.ttl);
    } catch {
      throw new UsageError(`lock acquire: --ttl: got ${JSON.stringify(args.flags.ttl)}; expected ${DURATION_HELP}`);
    }
    if (ttlMs < 1000 || ttlMs > 30 * 86_400_000)
      throw new UsageError(`lock acquire: --ttl: got ${JSON.stringify(args.flags.ttl)}; expected between 1s and 30d`);
  }
  return withFleet(await openFleet(args, io, `lock ${sub}`, { version: 'lock' }, ['hosts', 'kubernetes']), async (f) => {
    if (f.inputs.target === 'kubernetes') return (await import('./kube-day-two.ts')).kubeLock(f, sub, args, io, ttlMs);
    if (sub === 'status') {
      const states = await Promise.all(f.hosts.map((h) => readHostState(f.ssh!, h)));
      const rows = states.map((s) => ({ host: s.id, holder: holderView(s.lock) }));
      if (args.json) io.stdout(`${JSON.stringify({ environment: f.env, locked: rows.some((r) => r.holder), hosts: rows }, null, 2)}\n`);
      else
        for (const s of states)
          io.stdout(`${s.id}: ${s.lock ? `held by ${describeHolder(s.lock)}` : s.lockRaw ? `held by ${describeHolder(undefined, s.lockRaw)}` : 'free'}\n`);
      return 0;
    }
    const built = buildTarget({ ...f.inputs, lock: true }, f.ctx, {});
    try {
      const deployLock = new DeployLock(built.target.lockParts?.() ?? []);
      if (sub === 'acquire') {
        const holder = newHolder({ actor: f.actor, runUrl: f.run, version: 'manual lock', reason: args.flags.reason ?? `locked by ${f.actor}`, ttlMs });
        try {
          await deployLock.acquire(holder, { waitMs: 0, log: f.rt, signal: AbortSignal.timeout(120_000) });
        } catch (err) {
          if (err instanceof LockHeldError) {
            io.stderr(
              `slipway: lock acquire: ${errorMessage(err).replace('(give lock-wait to wait for it)', '(slipway lock status shows it; it expires at its until time)')}\n`,
            );
            return 1;
          }
          throw err;
        }
        await record(f, { action: 'lock', reason: holder.reason, outcome: `held until ${holder.until}` });
        if (args.json) io.stdout(`${JSON.stringify({ environment: f.env, locked: true, holder: holderView(holder) }, null, 2)}\n`);
        else io.stdout(`${f.env}: locked by ${describeHolder(holder)} (for ${formatDuration(ttlMs)}); slipway lock release --env ${f.env} gives it back\n`);
        return 0;
      }
      // release: gives back the lock whoever holds it (a person's command, like kamal lock release), naming the holder.
      const states = await Promise.all(f.hosts.map((h) => readHostState(f.ssh!, h)));
      const holders = [...new Map(states.filter((s) => s.lock).map((s) => [s.lock!.token, s.lock!])).values()];
      if (!holders.length) {
        if (args.json) io.stdout(`${JSON.stringify({ environment: f.env, released: false, reason: 'not locked' })}\n`);
        else io.stdout(`${f.env}: not locked; nothing to release\n`);
        return 0;
      }
      for (const h of holders) await deployLock.release(h.token);
      for (const h of holders) await record(f, { action: 'unlock', reason: h.reason, outcome: `released the lock held by ${h.actor} since ${h.since}` });
      if (args.json) io.stdout(`${JSON.stringify({ environment: f.env, released: true, holders: holders.map(holderView) }, null, 2)}\n`);
      else io.stdout(`${f.env}: released the lock held by ${holders.map((h) => describeHolder(h)).join('; ')}\n`);
      return 0;
    } finally {
      await built.target.close().catch(() => undefined);
      built.cleanup();
    }
  });
}

export async function auditCommand(args: ParsedArgs, io: CliIO): Promise<number> {
  if (args.help)
    return help(
      io,
      'slipway audit --env NAME [--since 7d] [--json]\n  Who deployed, rolled back, locked and unlocked, when, from which run, and the outcome (<deploy-root>/audit.log on each host).',
    );
  allow(args, 'audit', ['since']);
  let sinceMs = Date.now() - 7 * 86_400_000;
  if (args.flags.since !== undefined) {
    const t = args.flags.since;
    if (/^\d{4}-\d\d-\d\d/.test(t) && !Number.isNaN(Date.parse(t))) sinceMs = Date.parse(t);
    else {
      try {
        sinceMs = Date.now() - parseDuration(t);
      } catch {
        throw new UsageError(`audit: --since: got ${JSON.stringify(t)}; expected ${DURATION_HELP}, or a date such as 2026-12-01`);
      }
    }
  }
  return withFleet(await openFleet(args, io, 'audit', { version: 'audit' }, ['hosts', 'kubernetes']), async (f) => {
    if (f.inputs.target === 'kubernetes') return (await import('./kube-day-two.ts')).kubeAudit(f, sinceMs, args, io);
    const { entries, skipped } = await readAudit(f.ssh!, f.hosts, sinceMs);
    if (skipped) f.rt.warning(`${skipped} line(s) of the audit logs are not audit entries and were skipped`);
    if (args.json) {
      io.stdout(`${JSON.stringify({ environment: f.env, since: new Date(sinceMs).toISOString(), entries }, null, 2)}\n`);
      return 0;
    }
    if (!entries.length) {
      io.stdout(`${f.env}: nothing in the audit log since ${new Date(sinceMs).toISOString()}\n`);
      return 0;
    }
    const all = f.hosts.length;
    io.stdout(
      formatTable([
        ['TIME', 'ACTOR', 'ACTION', 'VERSION', 'OUTCOME', 'HOSTS', 'RUN'],
        ...entries.map((e) => [...auditCells(e).slice(0, 5), e.hosts.length === all ? 'all' : e.hosts.join(','), e.run]),
      ]),
    );
    return 0;
  });
}

export { auditCommand as audit };
