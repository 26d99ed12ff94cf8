import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { InputsOf } from '../../manifest/fields.ts';
import type { ActionContext, ActionResult } from '../../runner/context.ts';
import { InputError, UserError, errorMessage } from '../../lib/errors.ts';
import { exec as defaultExec, lastLines, type Exec } from '../../lib/exec.ts';
import { request, type Http } from '../../lib/http.ts';
import { formatDuration } from '../../lib/duration.ts';
import { heading } from '../../lib/markdown.ts';
import {
  needsUndo,
  resumeRollback,
  rollbackFleet,
  rollout,
  type DeployTarget,
  type EngineOptions,
  type GateFn,
  type GateResult,
  type RolloutResult,
  type RolloutState,
} from '../../deploy/engine.ts';
import { blueGreenRollback, blueGreenRollout, isBlueGreenTarget, resumeBlueGreen } from '../../deploy/strategies.ts';
import type { BatchSize, Ramp } from '../../deploy/batches.ts';
import {
  createKubernetesDeployer,
  toEngineResult,
  validateKubernetesOptions,
  type KubeRolloutResult,
  type KubernetesDeployerOptions,
} from '../../deploy/kubernetes.ts';
import { renderKubeSummary } from '../../deploy/kubernetes-summary.ts';
import { Kubectl } from '../../deploy/kubernetes-kubectl.ts';
import { leaseLockPart } from '../../deploy/kubernetes-lease.ts';
import { appendKubeAudit } from '../../deploy/kubernetes-audit.ts';
import { HostsTarget, parseHostEntry, substitute, type HostSpec } from '../../deploy/hosts.ts';
import { CommandTarget } from '../../deploy/command.ts';
import type { AuditEntry } from '../../deploy/audit.ts';
import { DeployLock, newHolder, type LockHolder } from '../../deploy/lock.ts';
import { SshClient, buildKnownHosts, writePrivateKey, type SshHost } from '../../deploy/ssh.ts';
import { fleetVersions, headline, mixedFleet, renderSummary } from '../../deploy/summary.ts';
import type { ReleaseKillSwitch } from '../../flags/kill.ts';
import type { FlagActor, FlagChange } from '../../flags/model.ts';
import { spec } from './inputs.ts';

export type DeployInputs = InputsOf<typeof spec>;

export interface DeployDeps {
  /** A ready target (the CLI's local fleet); otherwise built from the inputs. */
  target?: DeployTarget;
  /** kubectl binary for the kubernetes target (default: kubectl on PATH). */
  kubectl?: string;
  exec?: Exec;
  http?: Http;
  /**
   * The deploy lock, instead of the one the target offers (tests; kubernetes: the Lease part from
   * kubernetes.ts plugs in here as `new DeployLock([leasePart])`).
   */
  lock?: DeployLock;
  /**
   * The kill switch (tests, the release action); null: none. Default: from the `flags` section of
   * slipway.yml's environment when SLIPWAY_CONFIG and SLIPWAY_ENVIRONMENT are set.
   */
  killSwitch?: ReleaseKillSwitch | null;
}

/**
 * The release's kill switch: slipway.yml's `flags` section of this environment (its `release` flags),
 * secrets resolved from the step's environment. undefined without a config or release flags. A bad
 * section fails here, before any change.
 */
export async function killSwitchOf(ctx: ActionContext, deps: Pick<DeployDeps, 'killSwitch' | 'http' | 'exec'> = {}): Promise<ReleaseKillSwitch | undefined> {
  if (deps.killSwitch !== undefined) return deps.killSwitch ?? undefined;
  const path = ctx.env?.SLIPWAY_CONFIG;
  const environment = ctx.env?.SLIPWAY_ENVIRONMENT;
  if (!path || !environment) return undefined;
  const [{ loadConfig, resolveSecrets }, { spec: flagsSpec }, { releaseKillSwitch }] = await Promise.all([
    import('../../config/load.ts'),
    import('../../flags/spec.ts'),
    import('../../flags/kill.ts'),
  ]);
  const config = await loadConfig(isAbsolute(path) ? path : join(ctx.workspace, path), { flags: flagsSpec });
  const raw = config.inputs(environment, 'flags');
  if (!raw.release) return undefined;
  const values = resolveSecrets(
    raw,
    ctx.env,
    (v) => ctx.log.mask(v),
    (input, variable) =>
      ctx.log.warning(
        `slipway.yml: environments.${environment}.flags.${input} refers to secret ${variable}, which this step's environment does not have: the kill switch runs without it (give the step env ${variable}: \${{ secrets.${variable} }})`,
      ),
  );
  return releaseKillSwitch(values, `${path} environments.${environment}.flags`, {
    env: ctx.env,
    cwd: ctx.workspace,
    mask: (v) => ctx.log.mask(v),
    http: deps.http,
    exec: deps.exec,
  });
}

function actorOf(ctx: ActionContext): FlagActor {
  return { who: ctx.github?.actor || ctx.env?.USER || 'unknown', run: ctx.github?.runUrl || 'cli' };
}

/** A failed rollout on any target: the kill switch, run by the executor once before anything is undone. */
function killBeforeUndo(killer: ReleaseKillSwitch, ctx: ActionContext): (failure: { phase: string }) => Promise<FlagChange[]> {
  return (failure) => killer.run({ actor: actorOf(ctx), log: ctx.log, why: `${failure.phase} failed` });
}

/** The audit line of a deploy or a rollback (hosts: `slipway audit`; kubernetes: the ConfigMap). */
function auditEntry(ctx: ActionContext, inputs: DeployInputs, r: { version: string; previousVersion?: string; status: string }): AuditEntry {
  return {
    at: new Date().toISOString(),
    actor: ctx.github?.actor || 'unknown',
    action: inputs.rollback ? 'rollback' : 'deploy',
    version: r.version,
    from: r.previousVersion,
    reason: inputs['lock-reason'],
    run: ctx.github?.runUrl || 'local',
    outcome: r.status,
  };
}

/** The kill switch's part of the step's result: the output, a summary section, a clause of the failure line. */
async function withKillSwitch(r: ActionResult, switched: FlagChange[], when: string): Promise<ActionResult> {
  if (!switched.length) return { ...r, outputs: { ...r.outputs, 'flags-switched': [] } };
  const { killSwitchLine, killSwitchSummary } = await import('../../flags/kill.ts');
  const failed = switched.some((c) => !c.ok);
  const line = killSwitchLine(switched);
  return {
    outputs: { ...r.outputs, 'flags-switched': switched },
    summary: `${r.summary ?? ''}${killSwitchSummary(switched, when)}`,
    failure: r.failure ? `${r.failure}; ${line}` : failed ? `deploy-rolling: ${line}` : undefined,
  };
}

export const STATE_KEY = 'rollout';
/** Saved while the deploy lock is held: {"token": …}; '' once released. */
export const LOCK_STATE_KEY = 'deploy-lock';

function lockOf(inputs: DeployInputs, target: DeployTarget, deps: DeployDeps): DeployLock | undefined {
  if (deps.lock) return deps.lock;
  if (!inputs.lock) return undefined;
  const parts = target.lockParts?.() ?? [];
  return parts.length ? new DeployLock(parts) : undefined;
}

/** Takes the lock (before any change) and saves its token for the post step. */
async function takeLock(lock: DeployLock | undefined, inputs: DeployInputs, ctx: ActionContext): Promise<LockHolder | undefined> {
  if (!lock) return undefined;
  const holder = newHolder({
    actor: ctx.github?.actor,
    runUrl: ctx.github?.runUrl,
    version: inputs.rollback ? 'rollback' : (inputs.version ?? inputs.image ?? ''),
    reason: inputs['lock-reason'] ?? (inputs.rollback ? 'rollback' : `deploy ${inputs.version ?? inputs.image ?? ''}`),
    ttlMs: inputs['lock-ttl'],
  });
  await lock.acquire(holder, { waitMs: inputs['lock-wait'], log: ctx.log, signal: ctx.signal });
  ctx.saveState(LOCK_STATE_KEY, JSON.stringify({ token: holder.token }));
  return holder;
}

async function giveLock(lock: DeployLock | undefined, token: string | undefined, ctx: ActionContext): Promise<void> {
  if (!lock || !token) return;
  try {
    await lock.release(token);
    ctx.saveState(LOCK_STATE_KEY, '');
    ctx.log.info('deploy lock released');
  } catch (err) {
    ctx.log.warning(`${errorMessage(err)}: it expires at its until time, or remove it by hand`);
  }
}

/** Checks the inputs that depend on each other, before anything happens. */
export function checkInputs(i: DeployInputs, ctx?: Pick<ActionContext, 'workspace'>): void {
  // "pause: manual" waits for a promote signal that only the hosts target holds (on the hosts).
  for (const name of ['batches', 'canary-steps'] as const) {
    const pauses = (i[name] as Ramp<unknown> | undefined)?.manualPauses;
    if (pauses?.length && i.target !== 'hosts')
      throw new UserError(
        `Input '${name}': "pause: manual" (after step ${pauses.join(', ')}) needs target: hosts, where \`slipway promote\` and \`slipway abort\` leave their signal; with target: ${i.target} gate the steps with gate-command, gate-url or gate-slo, or put an environment approval between two deploys`,
      );
  }
  if (i.target === 'kubernetes') {
    if (!i.rollback && !i.image) throw new InputError('image', '', 'the image to deploy, by digest (required with target: kubernetes unless rollback is true)');
    if (i.kubeconfig && i['kubeconfig-data']) throw new UserError("Inputs 'kubeconfig' and 'kubeconfig-data' both given: use one of them");
    if (i['max-unavailable'])
      throw new UserError(
        "Input 'max-unavailable' does not apply to target: kubernetes (the Deployment's maxUnavailable/maxSurge do; Slipway defaults to one pod at a time); use batches for gated steps",
      );
    validateKubernetesOptions(kubeOptions(i, ctx?.workspace ?? process.cwd(), undefined), i.strategy);
    return;
  }
  if (!i.rollback && !i.version) throw new InputError('version', '', 'a release name (required unless rollback is true)');
  if (i.batches && i['max-unavailable']) throw new UserError("Inputs 'batches' and 'max-unavailable' both given: use one of them");
  if (i.strategy !== 'rolling') {
    if (i.target === 'command')
      throw new InputError(
        'strategy',
        i.strategy,
        `rolling with target: command (${i.strategy} needs a load balancer Slipway controls: use target hosts with nginx-host, or kubernetes)`,
      );
    if (i.target === 'hosts' && !i['nginx-host'] && !i['haproxy-host'])
      throw new InputError('nginx-host', '', `local or [user@]host[:port] (or haproxy-host): strategy ${i.strategy} moves traffic through the load balancer`);
    if (i.strategy === 'blue-green' && i['systemd-unit'])
      throw new InputError(
        'systemd-unit',
        i['systemd-unit'],
        'no systemd unit with strategy blue-green (a unit runs one copy; give start-command so two copies can run side by side)',
      );
    if (i.strategy === 'blue-green' && (i.batches || i['max-unavailable']))
      throw new UserError(
        `Input '${i.batches ? 'batches' : 'max-unavailable'}' does not apply to strategy blue-green (the whole new set starts at once and traffic switches in one step)`,
      );
    if (i.strategy === 'canary' && (i.batches || i['max-unavailable']))
      throw new UserError(`Input '${i.batches ? 'batches' : 'max-unavailable'}' does not apply to strategy canary: canary-steps sets the steps`);
  }
  if (i.target === 'hosts') {
    if (i['nginx-host'] && i['haproxy-host'])
      throw new UserError("Inputs 'nginx-host' and 'haproxy-host' both given: one load balancer drives the fleet; use one of them");
    if (!i.hosts?.length) throw new InputError('hosts', '', 'the hosts to deploy to (required with target: hosts)');
    if (!i['start-command'] && !i['systemd-unit'])
      throw new InputError('start-command', '', 'an argument list such as ["node", "server.js"] (or give systemd-unit) with target: hosts');
    if (!i['known-hosts'] && !i['host-key'] && !i['insecure-skip-host-key-check']) {
      throw new UserError(
        "Host key verification is on: give the 'host-key' input (the public key the hosts present, e.g. from `ssh-keyscan`) or 'known-hosts'. Only if you accept the risk: insecure-skip-host-key-check: true",
      );
    }
    if (i['nginx-host'] && !i['nginx-command']) {
      // nginx-command defaults to ["nginx"]; nothing to check.
    }
  }
  if (i.target === 'command') {
    if (!i.instances?.length) throw new InputError('instances', '', 'instance names (required with target: command)');
    if (!i['start-command']) throw new InputError('start-command', '', 'an argument list (required with target: command)');
    if (!i['ready-command'] && !/\{instance\}/.test(i['instance-url'])) {
      throw new InputError('instance-url', i['instance-url'], 'a URL template with {instance} (or give ready-command) with target: command');
    }
  }
}

interface Built {
  target: DeployTarget;
  cleanup: () => void;
}

function hostSpecs(i: DeployInputs): HostSpec[] {
  const defaults = { user: i['ssh-user'], port: i['ssh-port'] };
  const list = (i.hosts ?? []).map((h) => {
    const o = h as { host: string; name?: string; 'app-port'?: number; 'deploy-root'?: string };
    let ssh: SshHost;
    try {
      ssh = parseHostEntry(o.host, defaults);
    } catch (err) {
      throw new UserError(`Input 'hosts': ${errorMessage(err)}`);
    }
    return { ...ssh, name: o.name, appPort: o['app-port'] ?? i['app-port'], deployRoot: o['deploy-root'] ?? i['deploy-root'] };
  });
  const sameHost = new Set(list.map((h) => h.host)).size < list.length;
  return list.map((h) => ({
    id: h.name ?? (sameHost || h.port !== 22 ? `${h.host}:${h.port}` : h.host),
    host: h.host,
    port: h.port,
    user: h.user,
    appPort: h.appPort,
    deployRoot: h.deployRoot,
  }));
}

/** Builds the target from the inputs. The SSH key and known_hosts go to a private temp dir. */
export function buildTarget(i: DeployInputs, ctx: ActionContext, deps: DeployDeps): Built {
  const exec = deps.exec ?? defaultExec;
  if (i.target === 'command') {
    const target = new CommandTarget({
      instances: i.instances ?? [],
      commands: {
        start: i['start-command']!,
        stop: i['stop-command'],
        drain: i['drain-command'],
        undrain: i['undrain-command'],
        readyCheck: i['ready-command'],
        switchBack: i['switch-back-command'],
        version: i['version-command'],
      },
      urlTemplate: i['instance-url'],
      readyPath: i['ready-path'],
      previousVersion: i['previous-version'],
      lockCommand: i['lock-command'],
      cwd: ctx.workspace,
      env: ctx.env as NodeJS.ProcessEnv,
      exec,
    });
    return { target, cleanup: () => {} };
  }
  const hosts = hostSpecs(i);
  let nginxHost: 'local' | SshHost | undefined;
  if (i['nginx-host']) {
    try {
      nginxHost = i['nginx-host'] === 'local' ? 'local' : parseHostEntry(i['nginx-host'], { user: i['ssh-user'], port: i['ssh-port'] });
    } catch (err) {
      throw new UserError(`Input 'nginx-host': ${errorMessage(err)}`);
    }
  }
  let haproxyHost: 'local' | SshHost | undefined;
  if (i['haproxy-host']) {
    try {
      haproxyHost = i['haproxy-host'] === 'local' ? 'local' : parseHostEntry(i['haproxy-host'], { user: i['ssh-user'], port: i['ssh-port'] });
    } catch (err) {
      throw new UserError(`Input 'haproxy-host': ${errorMessage(err)}`);
    }
  }
  const keyed = [...hosts, ...[nginxHost, haproxyHost].filter((x): x is SshHost => !!x && x !== 'local')];
  const knownHosts =
    i['insecure-skip-host-key-check'] && !i['known-hosts'] && !i['host-key'] ? undefined : buildKnownHosts(i['known-hosts'], i['host-key'], keyed);
  const dir = mkdtempSync(join(ctx.tempDir, 'slipway-ssh-'));
  let ssh: SshClient;
  try {
    const keyPath = i['ssh-key'] ? writePrivateKey(dir, i['ssh-key']) : undefined;
    let knownHostsPath: string | undefined;
    if (knownHosts) {
      knownHostsPath = join(dir, 'known_hosts');
      writeFileSync(knownHostsPath, knownHosts, { mode: 0o600 });
    }
    if (i['insecure-skip-host-key-check']) {
      ctx.log.warning(
        'insecure-skip-host-key-check is true: SSH host keys are NOT verified. Anyone between this runner and the hosts can impersonate them and receive your deploy key. Give host-key or known-hosts instead.',
      );
    }
    if (!keyPath && !ctx.env.SSH_AUTH_SOCK) ctx.log.warning('no ssh-key input and no ssh-agent (SSH_AUTH_SOCK): SSH authentication will likely fail');
    ssh = new SshClient({ keyPath, knownHostsPath, insecure: i['insecure-skip-host-key-check'], env: ctx.env, exec });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const target = new HostsTarget({
    hosts,
    ssh,
    artifact: i.artifact ? (i.artifact.startsWith('/') ? i.artifact : join(ctx.workspace, i.artifact)) : undefined,
    start: i['start-command'],
    stop: i['stop-command'],
    systemdUnit: i['systemd-unit'],
    env: i.env,
    urlTemplate: i['instance-url'],
    versionCommand: i['version-command'],
    readyPath: i['ready-path'],
    keepReleases: i['keep-releases'],
    drainTimeoutMs: i['drain-timeout'],
    nginx: nginxHost
      ? {
          host: nginxHost,
          file: i['nginx-upstream-file'],
          name: i['nginx-upstream-name'],
          command: i['nginx-command'] ?? ['nginx'],
          pidFile: i['nginx-pid-file'],
        }
      : undefined,
    haproxy: haproxyHost ? { host: haproxyHost, socket: i['haproxy-socket'], backend: i['haproxy-backend'], stateFile: i['haproxy-state-file'] } : undefined,
    log: ctx.log,
    exec,
    tempDir: ctx.tempDir,
    greenPortOffset: i['blue-green-port-offset'],
    listIdleSlots: i.strategy === 'blue-green',
  });
  return { target, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The gate between batches, from gate-command, gate-url and gate-slo (all must pass). */
export async function buildGate(i: DeployInputs, ctx: ActionContext, deps: DeployDeps): Promise<GateFn | undefined> {
  const gates: { name: string; fn: GateFn }[] = [];
  const exec = deps.exec ?? defaultExec;
  const cmd = i['gate-command'];
  if (cmd) {
    gates.push({
      name: 'gate-command',
      fn: async (g) => {
        const vars = { batch: String(g.batch), version: i.version ?? '', new_urls: g.newInstances.map((n) => n.url).join(',') };
        const a = cmd.map((x) => substitute(x, vars));
        const r = await exec(a[0]!, a.slice(1), { signal: g.signal, timeoutMs: 600_000, cwd: ctx.workspace, env: ctx.env as NodeJS.ProcessEnv });
        const out = lastLines(r.stdout || r.stderr, 2);
        return { pass: r.code === 0, reason: `${a[0]} exited with code ${r.code}${out ? `: ${out}` : ''}` };
      },
    });
  }
  const url = i['gate-url'];
  if (url) {
    const http = deps.http ?? request;
    gates.push({
      name: 'gate-url',
      fn: async (g) => {
        try {
          const r = await http(url, { timeoutMs: 10_000, retries: 2, signal: g.signal });
          return { pass: r.status >= 200 && r.status < 300, reason: `GET answered ${r.status}` };
        } catch (err) {
          return { pass: false, reason: errorMessage(err) };
        }
      },
    });
  }
  if (i['gate-slo']) {
    const { createSloGate } = await import('../../metrics/gate.ts');
    const slo = createSloGate({
      objectives: i['gate-slo'],
      provider: 'probe',
      durationMs: i['gate-duration'],
      intervalMs: Math.min(10_000, i['gate-duration']),
      probe: { rate: i['gate-rate'] },
      log: ctx.log,
      http: deps.http,
    });
    gates.push({
      name: 'gate-slo',
      fn: async (g) => {
        const out = await slo({
          urls: g.newInstances.map((n) => n.url),
          version: i.version ?? '',
          baselineUrls: g.oldInstances.map((n) => n.url),
          baselineVersion: g.oldInstances[0]?.version,
          signal: g.signal,
        });
        return { pass: out.pass, verdict: out.verdict, reason: out.reason, details: out.report };
      },
    });
  }
  if (!gates.length) return undefined;
  return async (g) => {
    const results: (GateResult & { name: string })[] = [];
    for (const { name, fn } of gates) {
      const r = await fn(g);
      results.push({ ...r, name });
      if (!r.pass) break;
    }
    const failed = results.find((r) => !r.pass);
    return {
      pass: !failed,
      verdict: failed ? (failed.verdict ?? 'fail') : 'pass',
      reason: results.map((r) => `${r.name}: ${r.reason}`).join('; '),
      details: results.map((r) => r.details).filter(Boolean),
    };
  };
}

/** The kubernetes target's options from the inputs (kubeconfig: a path; kubeconfig-data is written by runKubernetes). */
export function kubeOptions(i: DeployInputs, workspace: string, ctx: ActionContext | undefined, deps: DeployDeps = {}): KubernetesDeployerOptions {
  const abs = (p: string) => (p.startsWith('/') ? p : join(workspace, p));
  return {
    deployment: i.deployment || undefined,
    namespace: i.namespace || undefined,
    context: i.context || undefined,
    kubeconfig: i.kubeconfig ? abs(i.kubeconfig) : undefined,
    container: i.container || undefined,
    manifests: i.manifests ? abs(i.manifests) : undefined,
    progressDeadlineMs: i['progress-deadline'],
    keepPreviousMs: i['keep-previous'],
    drainDelayMs: i['drain-delay'],
    runnerInCluster: i['runner-in-cluster'],
    version: i.version || undefined,
    commitSha: ctx?.github.sha || undefined,
    runUrl: ctx?.github.runUrl || undefined,
    env: ctx ? (ctx.env as NodeJS.ProcessEnv) : undefined,
    exec: deps.exec,
    kubectl: deps.kubectl,
  };
}

/** The Lease lock of the namespace the deploy works in (the kubeconfig context's when none is given). */
export function kubeLock(o: KubernetesDeployerOptions): DeployLock {
  return new DeployLock([leaseLockPart(new Kubectl({ ...o, namespace: o.namespace ?? '' }), o.namespace ?? "the context's namespace")]);
}

/** target: kubernetes — the deployer from kubernetes.ts; its own undo on failure and cancellation. */
async function runKubernetes(inputs: DeployInputs, ctx: ActionContext, deps: DeployDeps, killer?: ReleaseKillSwitch): Promise<ActionResult> {
  const o = kubeOptions(inputs, ctx.workspace, ctx, deps);
  let dir: string | undefined;
  if (inputs['kubeconfig-data']) {
    dir = mkdtempSync(join(ctx.tempDir, 'slipway-kube-'));
    o.kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(o.kubeconfig, inputs['kubeconfig-data'], { mode: 0o600 });
  }
  const gate = await buildGate(inputs, ctx, deps);
  let r: KubeRolloutResult;
  // The deploy lock: a Lease in the namespace (kubernetes-lease.ts), taken before the first change.
  const lock = inputs.lock ? (deps.lock ?? kubeLock(o)) : undefined;
  let holder: LockHolder | undefined;
  try {
    holder = await takeLock(lock, inputs, ctx);
  } catch (err) {
    if (dir) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  // rollback: true (or kill-switch: first) — the release's flags go off first, then the Deployment rolls back.
  const first = inputs.rollback || inputs['kill-switch'] === 'first';
  const killedFirst = first && killer ? await killer.run({ actor: actorOf(ctx), log: ctx.log, why: inputs.rollback ? 'rollback' : 'kill-switch: first' }) : [];
  try {
    const deployer = createKubernetesDeployer(o);
    if (inputs.rollback) r = await deployer.rollback({ strategy: inputs.strategy, log: ctx.log, signal: ctx.signal });
    else
      r = await deployer.rollout({
        image: inputs.image!,
        strategy: inputs.strategy,
        steps: inputs.strategy === 'canary' ? inputs['canary-steps'] : undefined,
        batches: inputs.strategy === 'rolling' && gate ? (inputs.batches ?? undefined) : undefined,
        gate,
        signal: ctx.signal,
        log: ctx.log,
        // A failed rollout: the kill switch runs before the Deployment is undone (the executor's rule on every target).
        ...(killer && !first ? { beforeUndo: killBeforeUndo(killer, ctx) } : {}),
      });
    // The audit trail: a line in the namespace's ConfigMap (kubernetes-audit.ts); a failure is a warning.
    try {
      await appendKubeAudit(new Kubectl({ ...o, namespace: o.namespace ?? '' }), auditEntry(ctx, inputs, r), AbortSignal.timeout(30_000));
    } catch (err) {
      ctx.log.warning(`the audit ConfigMap could not be written: ${errorMessage(err)}`);
    }
  } finally {
    await giveLock(lock, holder?.token, ctx);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
  const e = toEngineResult(r);
  const instances: Record<string, { version: string; status: string; readyMs?: number }> = {};
  e.instances.forEach((s, k) => (instances[s.id] = { version: r.pods[k]?.version ?? '', status: s.status, readyMs: s.readyMs }));
  const ok = r.status === 'succeeded' || r.status === 'unchanged';
  const rollbackMode = r.mode === 'rollback';
  const outputs = {
    version: ok ? r.version : (r.previousVersion ?? ''),
    'previous-version': r.previousVersion ?? '',
    instances,
    'rolled-back': r.status === 'rolled-back' || (rollbackMode && ok),
    duration: (r.durationMs / 1000).toFixed(1),
    strategy: r.strategy,
    revision: r.revision !== undefined ? String(r.revision) : '',
  };
  let failure: string | undefined;
  if (!ok) {
    const why = `${r.failure?.reason ?? r.status}${r.failure?.lastState ? ` (${r.failure.lastState})` : ''}`;
    failure =
      r.status === 'rolled-back'
        ? `deploy-rolling: ${why}; rolled back: Deployment ${r.deployment} runs ${r.finalImage ?? r.previousImage ?? 'the previous image'} again`
        : r.status === 'rollback-failed'
          ? `deploy-rolling: ${why}; the rollback failed too: Deployment ${r.deployment} runs ${r.finalImage ?? 'an unknown image'}`
          : `deploy-rolling: ${why}`;
  }
  const killedBeforeUndo = (r.beforeUndo as FlagChange[] | undefined) ?? [];
  return withKillSwitch({ outputs, summary: renderKubeSummary(r), failure }, first ? killedFirst : killedBeforeUndo, 'before the rollback');
}

export function resultOutputs(r: RolloutResult): ActionResult['outputs'] {
  const versions = fleetVersions(r);
  const instances: Record<string, { version: string; status: string; readyMs?: number }> = {};
  for (const s of r.instances) instances[s.id] = { version: versions[s.id] ?? '', status: s.status, readyMs: s.readyMs };
  return {
    version: r.status === 'succeeded' || r.status === 'unchanged' ? r.version : (r.previousVersion ?? ''),
    'previous-version': r.previousVersion ?? '',
    instances,
    'rolled-back': r.status === 'rolled-back' || (r.mode === 'rollback' && (r.status === 'succeeded' || r.status === 'unchanged')),
    duration: (r.durationMs / 1000).toFixed(1),
    strategy: r.strategy ?? 'rolling',
    revision: '',
  };
}

function failureLine(r: RolloutResult): string | undefined {
  if (r.status === 'succeeded' || r.status === 'unchanged') return undefined;
  const f = r.failure;
  const why = f ? `${f.reason}${f.lastAnswer ? ` (last readiness answer: ${f.lastAnswer})` : ''}` : 'failed';
  const rolled = r.instances.filter((s) => s.status === 'rolled-back').map((s) => s.id);
  if (r.blueGreen && r.status === 'rolled-back') {
    return `deploy-rolling: ${why}; ${r.blueGreen.switched ? `traffic switched back to the old set (${r.previousVersion})` : `traffic was never switched: the fleet still serves ${r.previousVersion}`}`;
  }
  switch (r.status) {
    case 'rolled-back':
      return `deploy-rolling: ${why}; rolled back ${rolled.length ? rolled.join(', ') : 'nothing (no instance had been switched)'} to ${r.previousVersion}`;
    case 'rollback-failed':
      return `deploy-rolling: ${why}; the rollback failed too: ${
        mixedFleet(r) ??
        Object.entries(fleetVersions(r))
          .map(([k, v]) => `${k} runs ${v}`)
          .join(', ')
      }`;
    case 'cancelled':
      return 'deploy-rolling: cancelled; the post step rolls back the instances already switched';
    default:
      return `deploy-rolling: ${why}`;
  }
}

/** The readiness discipline from the inputs: the same forward, back, and in the post step. */
function readinessOf(inputs: DeployInputs): EngineOptions['readiness'] {
  return {
    threshold: inputs['healthy-threshold'],
    timeoutMs: inputs['ready-timeout'],
    intervalMs: inputs['ready-interval'],
    minReadyMs: inputs['min-ready'],
    requestTimeoutMs: Math.min(5_000, Math.max(500, inputs['ready-interval'] * 4)),
    versionCheck: inputs['version-check'],
  };
}

export async function run(inputs: DeployInputs, ctx: ActionContext, deps: DeployDeps = {}): Promise<ActionResult> {
  checkInputs(inputs, ctx);
  const killer = inputs['kill-switch'] === 'off' ? undefined : await killSwitchOf(ctx, deps);
  if (inputs.target === 'kubernetes') return runKubernetes(inputs, ctx, deps, killer);
  const kubeOnly = (['deployment', 'namespace', 'context', 'kubeconfig', 'kubeconfig-data', 'container', 'manifests', 'progress-deadline'] as const).filter(
    (k) => inputs[k] !== undefined && inputs[k] !== '',
  );
  if (kubeOnly.length) ctx.log.warning(`input(s) ${kubeOnly.join(', ')} apply to target: kubernetes only; ignored with target: ${inputs.target}`);
  const gate = await buildGate(inputs, ctx, deps);
  const built = deps.target ? { target: deps.target, cleanup: () => {} } : buildTarget(inputs, ctx, deps);
  const strategy = inputs.strategy;
  if (strategy === 'canary' && !built.target.setWeights) {
    built.cleanup();
    throw new InputError('strategy', strategy, `rolling: the ${built.target.kind} target cannot weight traffic`);
  }
  if (strategy === 'blue-green' && !isBlueGreenTarget(built.target)) {
    built.cleanup();
    throw new InputError('strategy', strategy, `rolling: the ${built.target.kind} target has no second slot per instance`);
  }
  // rollback: true (or kill-switch: first) — the release's flags go off first (seconds), then the instances roll back.
  const first = inputs.rollback || inputs['kill-switch'] === 'first';
  const killedFirst = first && killer ? await killer.run({ actor: actorOf(ctx), log: ctx.log, why: inputs.rollback ? 'rollback' : 'kill-switch: first' }) : [];
  const lock = lockOf(inputs, built.target, deps);
  let holder: LockHolder | undefined;
  try {
    holder = await takeLock(lock, inputs, ctx);
  } catch (err) {
    await built.target.close().catch(() => undefined);
    built.cleanup();
    // The flags are off already: the outputs still say so (notify lists them).
    if (killedFirst.length)
      return withKillSwitch(
        { outputs: { 'rolled-back': false }, failure: `deploy-rolling: ${errorMessage(err)}` },
        killedFirst,
        'before the rollback (which did not start)',
      );
    throw err;
  }
  const opts: EngineOptions = {
    batches: inputs['max-unavailable'] ?? inputs.batches ?? [{ count: 1 }],
    readiness: readinessOf(inputs),
    pauseMs: inputs.pause,
    gate,
    signal: ctx.signal,
    log: ctx.log,
    http: deps.http,
    saveState: (s) => ctx.saveState(STATE_KEY, JSON.stringify(s)),
    ...(strategy === 'canary' ? { canary: inputs['canary-steps'] } : {}),
    // pause: manual steps wait for `slipway promote` / `slipway abort` on the target, until pause-deadline.
    manualPauses: (strategy === 'canary' ? (inputs['canary-steps'] as Ramp<number>) : ((inputs['max-unavailable'] ?? inputs.batches ?? []) as Ramp<BatchSize>))
      .manualPauses,
    promotion: built.target.promotion?.(),
    promotionDeadlineMs: inputs['pause-deadline'],
    promoteHint: `slipway promote --env ${ctx.env?.SLIPWAY_ENVIRONMENT || 'ENV'}`,
    // A failed rollout (readiness, gate, target error; blue/green after the switch): the kill switch runs before any instance rolls back.
    ...(killer && !first ? { beforeUndo: killBeforeUndo(killer, ctx) } : {}),
  };
  let result: RolloutResult;
  let keepLock = false;
  try {
    if (strategy === 'blue-green' && isBlueGreenTarget(built.target)) {
      const bgt = built.target;
      const bo = { ...opts, keepPreviousMs: inputs['keep-previous'] };
      result = inputs.rollback
        ? await blueGreenRollback(bgt, { ...bo, fallback: (i) => built.target.previousVersion(i, ctx.signal) })
        : await blueGreenRollout(bgt, inputs.version!, bo);
    } else result = inputs.rollback ? await rollbackFleet(built.target, opts) : await rollout(built.target, inputs.version!, opts);
    keepLock = result.status === 'cancelled';
    if (built.target instanceof HostsTarget) {
      // The audit trail on the hosts (slipway audit): who, when, what, from which run, the outcome.
      const failed = await built.target.appendAudit(auditEntry(ctx, inputs, result), AbortSignal.timeout(30_000));
      if (failed.length) ctx.log.warning(`the audit log could not be written on ${failed.join('; ')}`);
    }
  } catch (err) {
    // The flags are off already: the outputs still say so (notify lists them).
    if (!killedFirst.length) throw err;
    return withKillSwitch(
      { outputs: { 'rolled-back': false }, failure: `deploy-rolling: ${errorMessage(err)}` },
      killedFirst,
      'before the rollback (which failed)',
    );
  } finally {
    // A cancelled rollout keeps the lock: the post step rolls back, then releases it.
    if (!keepLock) await giveLock(lock, holder?.token, ctx);
    await built.target.close().catch(() => undefined);
    built.cleanup();
  }
  const switched = first ? killedFirst : ((result.beforeUndo as FlagChange[] | undefined) ?? []);
  return withKillSwitch(
    {
      outputs: resultOutputs(result),
      summary: renderSummary(result, { target: `${built.target.kind}, ${result.instances.length} instance(s)` }),
      failure: failureLine(result),
    },
    switched,
    'before the rollback',
  );
}

/** The post: step. Rolls back an unfinished rollout from the saved state; otherwise does nothing. */
/** The post: step: finishes or undoes what the main step started, with the inputs runAction parsed (undefined: they did not parse). */
export async function post(given: DeployInputs | undefined, ctx: ActionContext, deps: DeployDeps = {}): Promise<ActionResult | void> {
  const parsedInputs = (): DeployInputs => {
    if (!given) throw new UserError('deploy-rolling post: the inputs do not parse, so the saved rollout cannot be finished or undone');
    return given;
  };
  const raw = ctx.getState(STATE_KEY);
  const lockToken = (() => {
    try {
      return (JSON.parse(ctx.getState(LOCK_STATE_KEY) || '{}') as { token?: string }).token;
    } catch {
      return undefined;
    }
  })();
  let state: RolloutState | undefined;
  try {
    state = raw ? (JSON.parse(raw) as RolloutState) : undefined;
  } catch {
    ctx.log.warning('deploy-rolling post: the saved rollout state is not readable; nothing to roll back');
  }
  if (!state || !needsUndo(state)) {
    if (lockToken) {
      // The main step ended without releasing the lock (killed, or cancelled before a change).
      const inputs = parsedInputs();
      if (inputs.target === 'kubernetes') {
        // The Lease of the namespace (with kubeconfig-data: written again for this step).
        const o = kubeOptions(inputs, ctx.workspace, ctx, deps);
        const dir = inputs['kubeconfig-data'] ? mkdtempSync(join(ctx.tempDir, 'slipway-kube-')) : undefined;
        try {
          if (dir) {
            o.kubeconfig = join(dir, 'kubeconfig');
            writeFileSync(o.kubeconfig, inputs['kubeconfig-data']!, { mode: 0o600 });
          }
          await giveLock(inputs.lock ? (deps.lock ?? kubeLock(o)) : undefined, lockToken, ctx);
        } finally {
          if (dir) rmSync(dir, { recursive: true, force: true });
        }
        return;
      }
      const built = deps.target ? { target: deps.target, cleanup: () => {} } : buildTarget(inputs, ctx, deps);
      try {
        await giveLock(lockOf(inputs, built.target, deps), lockToken, ctx);
      } finally {
        await built.target.close().catch(() => undefined);
        built.cleanup();
      }
    }
    return;
  }
  ctx.log.warning(`deploy-rolling post: the ${state.mode} to ${state.version} did not finish; rolling back the instances it switched`);
  const inputs = parsedInputs();
  const built = deps.target ? { target: deps.target, cleanup: () => {} } : buildTarget(inputs, ctx, deps);
  let result: RolloutResult;
  try {
    if (state.strategy === 'blue-green' && isBlueGreenTarget(built.target)) {
      result = await resumeBlueGreen(built.target, state, {
        readiness: readinessOf(inputs),
        log: ctx.log,
        http: deps.http,
        saveState: (s) => ctx.saveState(STATE_KEY, JSON.stringify(s)),
      });
    } else
      result = await resumeRollback(built.target, state, {
        readiness: readinessOf(inputs),
        log: ctx.log,
        http: deps.http,
        saveState: (s) => ctx.saveState(STATE_KEY, JSON.stringify(s)),
      });
  } finally {
    await giveLock(lockOf(inputs, built.target, deps), lockToken, ctx);
    await built.target.close().catch(() => undefined);
    built.cleanup();
  }
  const mixed = mixedFleet(result);
  const ok = result.status === 'rolled-back';
  return {
    outputs: resultOutputs(result),
    summary:
      heading(`Post step: ${ok ? 'rolled back the cancelled rollout' : 'rollback after cancellation failed'}`) +
      '\n' +
      renderSummary(result).replace(/^## .*\n/, `### ${headline(result)}\n`),
    failure: ok
      ? undefined
      : `deploy-rolling post: rolling back the cancelled rollout failed${mixed ? `: ${mixed}` : ''} (took ${formatDuration(result.durationMs)})`,
  };
}
