/**
 * The Kubernetes target: rolling, canary and blue/green deploys of a Deployment through kubectl
 * (the user's kubeconfig, context and namespace; argument arrays; state read with `-o json`).
 *
 * ## How it maps onto the step executor (executor.ts)
 * Every strategy here is a plan of steps run by the same executor as the hosts, local and command
 * targets (engine.ts, strategies.ts): the executor owns the step loop, the gate between steps,
 * the undo log (run in reverse, with a signal of its own), the cancellation and the
 * failed/rolled-back/rollback-failed rule. This file holds the Kubernetes capabilities the steps
 * use: surge a Deployment to a pod count and pause it there (`followSteps`), size a canary, scale
 * a slot, patch a Service selector, wait for its endpoints, the drain delay, undo to a template.
 * - Batches/steps: `steps` are cumulative fractions of the replicas (canary-steps `5%,50%,100%`
 *   → [0.05, 0.5, 1]); engine-style `batches` (`1,25%,100%`, each entry one batch) are turned
 *   into cumulative steps once the replica count is known. A step is reached when
 *   max(1, ceil(fraction × replicas)) pods of the new version are available.
 * - The gate is the engine's GateFn, called between steps (not after the last), with a
 *   GateContext whose instances are pods (id = pod name, url = http://podIP:containerPort or ''
 *   when the pod has no IP or port, version = the `version` label value) plus a `kubernetes`
 *   field (namespace, deployment, label selectors for the new and the old pods) so a metrics
 *   gate compares by the version label. Rolling: the rollout is paused (`kubectl rollout pause`)
 *   while the gate runs and resumed after. Canary: the canary Deployment is sized to the step,
 *   then the gate runs. Blue/green: the gate runs once, after the Service switched.
 * - Results use the executor's statuses (`succeeded`, `unchanged`, `rolled-back`,
 *   `rollback-failed`, `failed`); `toEngineResult` converts a KubeRolloutResult (which also holds
 *   pods, revisions, the timeline) into the engine's RolloutResult for the action's outputs.
 * - Rollback: rolling → `kubectl rollout undo --to-revision=<revision before>` and wait until
 *   complete; canary → delete the canary Deployment (and undo the stable one if the promotion
 *   failed); blue/green → switch the Service selector back (before the switch: scale the idle
 *   slot down). A cancelled rollout (signal) is undone at once, with a signal of its own.
 *
 * ## Strategies
 * - rolling: one strategic-merge patch sets the container image, the change-cause annotation
 *   (`kubernetes.io/change-cause`: image, commit, run URL), the `version` label when the
 *   template already has one, `progressDeadlineSeconds` when given, and `maxUnavailable: 0,
 *   maxSurge: 1` unless the user chose a strategy (a last-applied manifest that names one, or
 *   anything else than the API default RollingUpdate 25%/25%). `manifests` mode instead applies
 *   a directory of manifests (client-side `kubectl apply`) with the image substituted, then
 *   follows the Deployment the same way.
 * - canary: `<name>-canary` beside the stable Deployment: its pods carry the stable template's
 *   labels (so the same Service selects them) plus `track: canary` and `version: <v>`; its
 *   selector is the stable one plus `track: canary`. Sized per step, gated, grown; at 100% the
 *   stable Deployment gets the new image (a rolling update, `version` label set) and the canary
 *   is deleted.
 * - blue-green: two slots, `<name>` (blue) and `<name>-green`, told apart by the label
 *   `slipway.dev/slot` which the Service selector includes. The idle slot gets the new image and
 *   the live slot's replica count, must become fully ready, then the Service selector switches
 *   in one patch. The old slot keeps running (annotation `slipway.dev/keep-until`) for
 *   keep-previous; `switchBack()` moves the selector back instantly while it runs, and
 *   `expirePrevious()` (for a later step or a scheduled workflow; the next blue/green rollout reuses that slot anyway) scales it to 0
 *   after that time. The first blue/green rollout prepares a Service whose selector has no slot
 *   label: it adds `slipway.dev/slot: blue` to the blue template (a same-image rolling update),
 *   then to the Service selector, so green pods never receive traffic before the switch.
 */
import { parseAllDocuments } from 'yaml';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage, InputError, UserError } from '../lib/errors.ts';
import { formatDuration, formatPercent } from '../lib/duration.ts';
import type { Reporter } from '../lib/report.ts';
import type { BatchSize } from './batches.ts';
import type { GateContext, GateFn, GateResult, InstanceState, RolloutResult, RolloutStatus } from './engine.ts';
import {
  assessRollout,
  isTransient,
  Kubectl,
  KubectlError,
  revisionOf,
  selectorString,
  servingPod,
  type KubectlOptions,
  type KubeObject,
  type PodView,
  type RolloutView,
} from './kubernetes-kubectl.ts';
import { sleep } from '../lib/sleep.ts';
import { executeSteps, type ExecuteOptions, type ExecuteResult, type Step } from './executor.ts';

export { Kubectl, KubectlError, assessRollout, selectorString, type RolloutView, type PodView } from './kubernetes-kubectl.ts';

export type KubeStrategy = 'rolling' | 'canary' | 'blue-green';

export const SLOT_LABEL = 'slipway.dev/slot';
export const KEEP_UNTIL_ANNOTATION = 'slipway.dev/keep-until';
export const CHANGE_CAUSE = 'kubernetes.io/change-cause';
export const VERSION_LABEL = 'version';
export const TRACK_LABEL = 'track';
/** Pod-template hashes of the revisions Slipway saw succeed, oldest first (revision numbers change on undo; hashes do not). */
export const GOOD_ANNOTATION = 'slipway.dev/good-templates';
/** Pod-template hashes of the revisions Slipway rolled back after a failure (rollback mode never picks them). */
export const FAILED_ANNOTATION = 'slipway.dev/failed-templates';

export interface KubernetesDeployerOptions extends KubectlOptions {
  /** The Deployment (input `deployment`). Required unless `manifests` holds exactly one Deployment. */
  deployment?: string;
  /** Input `namespace`. Default: the context's namespace, else `default`. */
  namespace?: string;
  /** Input `container`: the container whose image changes. Default: the only one, else the one named like the Deployment. */
  container?: string;
  /** Input `manifests`: a directory of YAML/JSON manifests applied with the image substituted (rolling only). */
  manifests?: string;
  /** The Service in front of the pods (canary check, blue/green switch). Default: the one Service whose selector matches the pods. */
  service?: string;
  /** Input `progress-deadline` (ms): set as spec.progressDeadlineSeconds and used as Slipway's own no-progress timeout. Default: the Deployment's (600 s). */
  progressDeadlineMs?: number;
  /** Input `keep-previous` (ms): blue/green keeps the old slot running this long. Default 10 min; 0 scales it down at once. */
  keepPreviousMs?: number;
  /** Status poll interval (ms). Default 1000. */
  pollMs?: number;
  /** For the change-cause annotation. */
  commitSha?: string;
  runUrl?: string;
  /** Replaces the generated change-cause text. */
  changeCause?: string;
  /** Value of the `version` label. Default: the image tag, else the first 12 hex digits of its digest. */
  version?: string;
  /**
   * Input `drain-delay` (ms): after the Service's endpoints stopped listing pods (blue/green
   * switch), time for kube-proxy and ingress controllers to catch up before those pods are scaled
   * down. Default 5 s.
   */
  drainDelayMs?: number;
  /** Time the Service's EndpointSlices may take to list exactly the new Ready pods after a switch (ms). Default 60 s. */
  endpointsTimeoutMs?: number;
  /**
   * Input `runner-in-cluster`: the runner is inside the cluster network and can reach pod IPs,
   * so gates probe `http://<podIP>:<port>`. Default false: gates reach pods through the API
   * server (a `kubectl proxy` on 127.0.0.1), which needs only what kubectl needs.
   */
  runnerInCluster?: boolean;
  /** Where the pod's service-account files are (in-cluster namespace). Default /var/run/secrets/kubernetes.io/serviceaccount. */
  serviceAccountDir?: string;
}

export interface KubeRolloutRequest {
  /** The image to deploy, ideally by digest (`registry/app@sha256:…`). */
  image: string;
  strategy?: KubeStrategy;
  /** Cumulative fractions (0, 1]: [0.05, 0.5, 1]. Default: rolling [1], canary [0.05, 0.5, 1]. */
  steps?: readonly number[];
  /** Engine-style batches (each entry one batch), used when steps is not given. */
  batches?: readonly BatchSize[];
  gate?: GateFn;
  signal?: AbortSignal;
  log: Reporter;
  /**
   * Runs once when the rollout failed, before anything is undone (the kill switch: the release's
   * flags go off while the new pods still serve); its result lands on KubeRolloutResult.beforeUndo.
   * The same rule as on every target (executor.ts): a throw is a warning, the undo goes on.
   */
  beforeUndo?: (failure: KubeFailure) => Promise<unknown>;
}

export interface KubeGateContext extends GateContext {
  kubernetes: {
    namespace: string;
    deployment: string;
    strategy: KubeStrategy;
    /** Label selector of the new pods and of the old (baseline) pods. */
    newSelector: string;
    oldSelector: string;
    versionLabel: string;
  };
}

export interface KubePod {
  name: string;
  version: string;
  image: string;
  /** ReplicaSet revision (rolling) or Deployment (canary/blue-green) the pod belongs to. */
  owner?: string;
  ready: boolean;
  createdAt?: string;
  /** The pod's Ready condition time (the API's, second precision). */
  readyAt?: string;
  /** First time Slipway saw it ready, from the start of the rollout (ms). */
  readyAfterMs?: number;
  restarts: number;
  why?: string;
}

export interface KubeStep {
  step: number;
  fraction: number;
  /** New pods wanted at this step. */
  target: number;
  /** New pods available when the step was reached. */
  available: number;
  startedAt: number;
  endedAt?: number;
  gate?: GateResult & { durationMs: number };
  outcome: 'running' | 'done' | 'failed' | 'cancelled';
  /** Canary: the new pods' share of the Service's ready endpoints at this step (0–1). */
  share?: number;
}

export interface KubeFailure {
  phase: 'prepare' | 'apply' | 'rollout' | 'gate' | 'switch' | 'promote' | 'cancelled';
  reason: string;
  /** The rollout state last seen (`1 of 3 updated, 0 available`) and why pods were not ready. */
  lastState?: string;
}

export interface KubeRolloutResult {
  status: RolloutStatus;
  strategy: KubeStrategy;
  /** 'rollback': rollback mode (`rollout undo`, or the blue/green switch back); absent: a rollout. */
  mode?: 'rollout' | 'rollback';
  namespace: string;
  context?: string;
  deployment: string;
  image: string;
  version: string;
  previousImage?: string;
  previousVersion?: string;
  /** Deployment revision after the rollout (or after the undo), and before it. */
  revision?: number;
  previousRevision?: number;
  replicas: number;
  startedAt: number;
  durationMs: number;
  rollbackMs?: number;
  steps: KubeStep[];
  pods: KubePod[];
  canary?: { deployment: string; sizes: number[]; deleted: boolean };
  blueGreen?: { service: string; from: string; to: string; switched: boolean; switchedBack: boolean; previousDeployment: string; keepUntil?: string };
  failure?: KubeFailure;
  /** Image the Deployment (the live slot for blue/green) runs at the end, read back. */
  finalImage?: string;
  events: { atMs: number; message: string }[];
  warnings: string[];
  /** What KubeRolloutRequest.beforeUndo returned (the kill switch's record), when it ran. */
  beforeUndo?: unknown;
}

/** How often a gated rollout looks at the Deployment until it has paused it at the step (ms). */
const FAST_POLL_MS = 100;

/** The executor's undo on a Kubernetes result: how long it took and the kill switch's record (when it ran). */
function takeUndo(r: KubeRolloutResult, x: ExecuteResult<KubeFailure>): void {
  r.rollbackMs = x.rollbackMs;
  if (x.ranBeforeUndo) r.beforeUndo = x.beforeUndo;
}

export interface KubernetesDeployer {
  readonly options: Readonly<KubernetesDeployerOptions>;
  rollout(req: KubeRolloutRequest): Promise<KubeRolloutResult>;
  /** Blue/green: moves the Service back to the previous slot while it still runs. */
  switchBack(o: { log: Reporter; signal?: AbortSignal }): Promise<{ from: string; to: string; service: string }>;
  /**
   * Rollback mode (no new image): rolling/canary → `kubectl rollout undo` to the revision before
   * the current one, followed to completion; blue-green → the Service switches back to the
   * previous slot (it must still run). Status 'succeeded' when the Deployment runs the earlier
   * version again.
   */
  rollback(o: { strategy: KubeStrategy; log: Reporter; signal?: AbortSignal }): Promise<KubeRolloutResult>;
  /** Blue/green: scales the non-live slot to 0 once its keep-until time passed. Returns its name when it did. */
  expirePrevious(o: { log: Reporter; signal?: AbortSignal; now?: Date }): Promise<string | undefined>;
}

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const IMAGE = /^[A-Za-z0-9][A-Za-z0-9._\-/:]*(@sha256:[0-9a-f]{64})?$/;

/** max(1, ceil(fraction × replicas)), never more than replicas (replicas 0 → 0). */
export function podsForStep(fraction: number, replicas: number): number {
  if (replicas <= 0) return 0;
  return Math.min(replicas, Math.max(1, Math.ceil(fraction * replicas - 1e-9)));
}

/** Cumulative step fractions, sorted, ending with 1. */
export function normalizeSteps(
  steps: readonly number[] | undefined,
  batches: readonly BatchSize[] | undefined,
  replicas: number,
  fallback: readonly number[],
): number[] {
  let out: number[];
  if (steps && steps.length) out = [...steps];
  else if (batches && batches.length && replicas > 0) {
    out = [];
    let done = 0;
    for (let i = 0; done < replicas && i < 10_000; i++) {
      const b = batches[Math.min(i, batches.length - 1)]!;
      const size = 'count' in b ? b.count : Math.max(1, Math.ceil(b.fraction * replicas));
      done = Math.min(replicas, done + size);
      out.push(done / replicas);
    }
  } else out = [...fallback];
  for (const s of out) if (!(s > 0 && s <= 1)) throw new UserError(`step ${formatPercent(s)} is not in (0%, 100%]`);
  out = [...new Set(out)].sort((a, b) => a - b);
  if (out.at(-1) !== 1) out.push(1);
  return out;
}

/** The repository part of an image reference (no tag, no digest). */
export function imageRepository(image: string): string {
  const noDigest = image.split('@')[0]!;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

/** A label value naming the version: the tag, else the digest's first 12 hex digits. */
export function versionFromImage(image: string): string {
  const [ref, digest] = image.split('@');
  const repo = imageRepository(ref!);
  const tag = ref!.length > repo.length ? ref!.slice(repo.length + 1) : undefined;
  const raw = tag ?? (digest ? digest.replace(/^sha256:/, '').slice(0, 12) : 'latest');
  return sanitizeLabel(raw);
}

export function sanitizeLabel(v: string): string {
  return (
    v
      .replace(/[^A-Za-z0-9_.-]/g, '-')
      .slice(0, 63)
      .replace(/^[^A-Za-z0-9]+/, '')
      .replace(/[^A-Za-z0-9]+$/, '') || 'unknown'
  );
}

class Cancelled extends Error {}

/** Checks the options before anything runs; throws InputError naming the action input. */
export function validateKubernetesOptions(o: KubernetesDeployerOptions, strategy?: KubeStrategy): void {
  if (o.deployment !== undefined && (!NAME.test(o.deployment) || o.deployment.length > 63 - 7)) {
    throw new InputError('deployment', o.deployment, 'a Deployment name (lowercase letters, digits and -, at most 56 characters so that -canary/-green fit)');
  }
  if (!o.deployment && !o.manifests)
    throw new InputError('deployment', o.deployment, 'the name of the Deployment to roll out (required unless manifests holds exactly one Deployment)');
  if (o.namespace !== undefined && (!NAME.test(o.namespace) || o.namespace.length > 63))
    throw new InputError('namespace', o.namespace, 'a namespace name (lowercase letters, digits and -)');
  if (o.container !== undefined && (!NAME.test(o.container) || o.container.length > 63))
    throw new InputError('container', o.container, 'a container name (lowercase letters, digits and -)');
  if (o.service !== undefined && !NAME.test(o.service)) throw new InputError('service', o.service, 'a Service name');
  if (o.context !== undefined && (!o.context || /[\s]/.test(o.context) || o.context.startsWith('-')))
    throw new InputError('context', o.context, 'a kubeconfig context name');
  if (o.kubeconfig !== undefined && (!o.kubeconfig || o.kubeconfig.startsWith('-')))
    throw new InputError('kubeconfig', o.kubeconfig, 'the path of a kubeconfig file');
  if (o.progressDeadlineMs !== undefined && !(o.progressDeadlineMs >= 1000))
    throw new InputError('progress-deadline', String(o.progressDeadlineMs), 'a duration of at least 1s');
  if (o.keepPreviousMs !== undefined && !(o.keepPreviousMs >= 0)) throw new InputError('keep-previous', String(o.keepPreviousMs), 'a duration');
  if (o.manifests !== undefined) {
    let ok = false;
    try {
      ok = statSync(o.manifests).isDirectory();
    } catch {}
    if (!ok) throw new InputError('manifests', o.manifests, 'a directory of Kubernetes manifests (.yaml, .yml, .json)');
    if (strategy && strategy !== 'rolling')
      throw new InputError('manifests', o.manifests, `no manifests with strategy ${strategy} (manifests mode supports the rolling strategy only)`);
  }
  if (o.version !== undefined && sanitizeLabel(o.version) !== o.version)
    throw new InputError('version', o.version, 'a label value (letters, digits, - _ ., at most 63 characters, starting and ending with a letter or digit)');
}

export function createKubernetesDeployer(options: KubernetesDeployerOptions): KubernetesDeployer {
  validateKubernetesOptions(options);
  return {
    options,
    rollout: (req) => new KubeRun(options, req.log, req.signal).rollout(req),
    switchBack: (o) => new KubeRun(options, o.log, o.signal).switchBack(),
    rollback: (o) => new KubeRun(options, o.log, o.signal).rollbackMode(o.strategy),
    expirePrevious: (o) => new KubeRun(options, o.log, o.signal).expirePrevious(o.now ?? new Date()),
  };
}

interface Slot {
  name: string;
  slot: 'blue' | 'green';
}

type FollowResult = { ok: true; view: RolloutView } | { ok: false; reason: string; view?: RolloutView };

/** One rollout (or switch-back): the kubectl client, the timeline, the result being built. */
class KubeRun {
  readonly o: KubernetesDeployerOptions;
  readonly log: Reporter;
  readonly signal: AbortSignal;
  k!: Kubectl;
  readonly t0 = performance.now();
  readonly startedAt = Date.now();
  readonly events: { atMs: number; message: string }[] = [];
  readonly warnings: string[] = [];
  readonly seenReady = new Map<string, number>();
  readonly pollMs: number;

  constructor(o: KubernetesDeployerOptions, log: Reporter, signal?: AbortSignal) {
    this.o = o;
    this.log = log;
    this.signal = signal ?? new AbortController().signal;
    this.pollMs = o.pollMs ?? 1000;
  }

  /** What every Kubernetes plan gives the executor: its gate, the kill switch, this run's signal, log, warnings and timeline. */
  executorOptions(req: KubeRolloutRequest, gate: GateFn | undefined): Omit<ExecuteOptions<KubeFailure>, 'onFailure'> {
    return { gate, beforeUndo: req.beforeUndo, signal: this.signal, log: this.log, warnings: this.warnings, note: (line) => this.note(line) };
  }

  note(message: string) {
    this.events.push({ atMs: performance.now() - this.t0, message });
    this.log.info(message);
  }
  warn(message: string) {
    this.warnings.push(message);
    this.log.warning(message);
  }
  checkCancel() {
    if (this.signal.aborted) throw new Cancelled();
  }

  /**
   * A write that is safe to repeat (a patch to fixed values, apply, delete --ignore-not-found).
   * kubectl retries a transient failure a few times within about a second; an API server away for
   * longer is waited out here, like the reads in follow(), up to the progress deadline, so an outage
   * between two steps is not turned into a failed (or half-undone) rollout.
   */
  async write(args: string[], input?: string): Promise<string> {
    const t = performance.now();
    const budget = this.o.progressDeadlineMs ?? 600_000;
    let warned = false;
    for (;;) {
      try {
        return await this.k.run(args, { input, signal: this.signal });
      } catch (err) {
        if (err instanceof Cancelled || this.signal.aborted || !isTransient(err) || performance.now() - t > budget) throw err;
        if (!warned) this.warn(`kubectl ${args.slice(0, 2).join(' ')}: the Kubernetes API did not answer (${errorMessage(err)}); still trying`);
        warned = true;
        await sleep(this.pollMs, this.signal).catch(() => undefined);
      }
    }
  }

  /** Resolves the namespace (context default) and checks context and namespace exist. */
  async connect(): Promise<void> {
    const probe = new Kubectl({ ...this.o, namespace: this.o.namespace ?? 'default' });
    let ns = this.o.namespace;
    if (!ns) {
      let cfg: KubeObject;
      try {
        cfg = await probe.json(['config', 'view', '--minify'], { signal: this.signal, namespaced: false });
        ns = cfg.contexts?.[0]?.context?.namespace || 'default';
      } catch (err) {
        // In a pod with no kubeconfig kubectl uses the service account; its namespace is a file.
        const inCluster = !this.o.kubeconfig && !this.o.context ? this.serviceAccountNamespace() : undefined;
        if (!inCluster)
          throw new UserError(
            `kubeconfig: ${errorMessage(err).replace(/^kubectl config view: /, '')}${this.o.context ? ` (context ${JSON.stringify(this.o.context)})` : ''}`,
          );
        ns = inCluster;
        this.note(`no kubeconfig: using the pod's service account, namespace ${ns}`);
      }
    } else if (this.o.context) {
      try {
        await probe.json(['config', 'view', '--minify'], { signal: this.signal, namespaced: false });
      } catch (err) {
        throw new UserError(`kubeconfig: ${errorMessage(err).replace(/^kubectl config view: /, '')}`);
      }
    }
    this.k = new Kubectl({ ...this.o, namespace: ns! });
    try {
      await this.k.json(['get', 'namespace', ns!], { signal: this.signal, namespaced: false });
    } catch (err) {
      if (err instanceof KubectlError && err.reason === 'NotFound') {
        throw new UserError(
          `namespace ${JSON.stringify(ns)} not found${this.o.context ? ` in context ${JSON.stringify(this.o.context)}` : ''} (check the namespace input or the context's namespace)`,
        );
      }
      if (!(err instanceof KubectlError && err.reason === 'Forbidden')) throw err;
    }
  }

  /** The namespace of the pod's service account (in-cluster runners), if there is one. */
  serviceAccountNamespace(): string | undefined {
    const dir = this.o.serviceAccountDir ?? '/var/run/secrets/kubernetes.io/serviceaccount';
    try {
      const ns = readFileSync(join(dir, 'namespace'), 'utf8').trim();
      return NAME.test(ns) ? ns : undefined;
    } catch {
      return undefined;
    }
  }

  async getDeployment(name: string): Promise<KubeObject> {
    const d = await this.k.find('deployment', name, this.signal);
    if (!d)
      throw new UserError(
        `Deployment ${JSON.stringify(name)} not found in namespace ${JSON.stringify(this.k.namespace)}${this.k.context ? ` (context ${this.k.context})` : ''}`,
      );
    return d;
  }

  pickContainer(d: KubeObject): KubeObject {
    const cs: KubeObject[] = d.spec?.template?.spec?.containers ?? [];
    const name = d.metadata?.name;
    if (this.o.container) {
      const c = cs.find((x) => x.name === this.o.container);
      if (!c) throw new InputError('container', this.o.container, `a container of Deployment ${name}: ${cs.map((x) => x.name).join(', ') || '(none)'}`);
      return c;
    }
    if (cs.length === 1) return cs[0]!;
    const same = cs.find((x) => x.name === name);
    if (same) return same;
    throw new InputError('container', undefined, `one of the containers of Deployment ${name} (it has ${cs.length}: ${cs.map((x) => x.name).join(', ')})`);
  }

  changeCause(image: string): string {
    if (this.o.changeCause) return this.o.changeCause;
    const parts = [`slipway: ${image}`];
    const extra = [this.o.commitSha ? `commit ${this.o.commitSha}` : '', this.o.runUrl ? `run ${this.o.runUrl}` : ''].filter(Boolean);
    return extra.length ? `${parts[0]} (${extra.join(', ')})` : parts[0]!;
  }

  private readonly selectors = new Map<string, string>();

  /**
   * The rollout as the API shows it. `withPods`: also the ReplicaSets and pods (one more kubectl
   * call, run in parallel once the selector is known); without, the Deployment status only.
   */
  async observe(name: string, container?: string, withPods = true): Promise<RolloutView> {
    let sel = this.selectors.get(name);
    const listPods = (s: string) => this.k.json<KubeObject>(['get', 'replicasets,pods', '-l', s], { signal: this.signal });
    let d: KubeObject;
    let list: KubeObject | undefined;
    if (withPods && sel) [d, list] = await Promise.all([this.getDeployment(name), listPods(sel)]);
    else {
      d = await this.getDeployment(name);
      sel = selectorString(d.spec?.selector);
      this.selectors.set(name, sel);
      if (withPods) list = await listPods(sel);
    }
    const items: KubeObject[] = list?.items ?? [];
    const view = assessRollout(
      d,
      items.filter((i) => i.kind === 'ReplicaSet'),
      items.filter((i) => i.kind === 'Pod'),
      container,
    );
    const at = performance.now() - this.t0;
    for (const p of view.pods) if (p.ready && !this.seenReady.has(p.name)) this.seenReady.set(p.name, at);
    return view;
  }

  /** Pods of Deployments selected by `sel`, for canary/blue-green (no rollout view needed). */
  async pods(sel: string): Promise<KubeObject[]> {
    const list = await this.k.json<KubeObject>(['get', 'pods', '-l', sel], { signal: this.signal });
    return list.items ?? [];
  }

  podRecord(p: PodView, version: string, owner?: string): KubePod {
    return {
      name: p.name,
      version,
      image: p.image,
      owner,
      ready: p.ready,
      createdAt: p.createdAt,
      readyAt: p.readyAt,
      readyAfterMs: this.seenReady.get(p.name),
      restarts: p.restarts,
      why: p.why,
    };
  }

  private proxy?: Promise<{ url: string; stop: () => void }>;

  /** Stops what this run started (the kubectl proxy). */
  async close(): Promise<void> {
    const p = this.proxy;
    this.proxy = undefined;
    if (p) (await p.catch(() => undefined))?.stop();
  }

  /**
   * What a gate probes. Only Ready, non-terminating pods count. By default through the API
   * server (a `kubectl proxy` on 127.0.0.1: the Service's proxy when `via` names it, else each
   * pod's proxy), which reaches the app wherever kubectl works; pod IPs only with runnerInCluster.
   */
  async gateInstances(pods: PodView[], version: (p: PodView) => string, port: number | undefined, via?: { service: string; servicePort?: number }) {
    const serving = pods.filter(servingPod);
    if (this.o.runnerInCluster) return serving.map((p) => ({ id: p.name, url: p.ip && port ? `http://${p.ip}:${port}` : '', version: version(p) }));
    this.proxy ??= this.k.proxy();
    const base = `${(await this.proxy).url}/api/v1/namespaces/${this.k.namespace}`;
    if (via && serving.length)
      return [
        {
          id: `service/${via.service}`,
          url: `${base}/services/${via.service}${via.servicePort ? `:${via.servicePort}` : ''}/proxy`,
          version: version(serving[0]!),
        },
      ];
    return serving.map((p) => ({ id: p.name, url: port ? `${base}/pods/${p.name}:${port}/proxy` : '', version: version(p) }));
  }

  /**
   * `kubectl auth can-i` for every verb the rollout needs, before its first change: a missing
   * permission fails here, not half-way through.
   */
  async canI(checks: [verb: string, resource: string][], withGate = false): Promise<void> {
    const denied: string[] = [];
    // Gates through the API server need the pod and service proxies.
    const all: [string, string][] = withGate && !this.o.runnerInCluster ? [...checks, ['get', 'pods/proxy'], ['get', 'services/proxy']] : checks;
    await Promise.all(
      all.map(async ([verb, resource]) => {
        const [res, sub] = resource.split('/');
        try {
          await this.k.run(['auth', 'can-i', verb, res!, ...(sub ? [`--subresource=${sub}`] : [])], { signal: this.signal, retry: true });
        } catch (err) {
          if (err instanceof KubectlError && /^no\b/.test(err.result.stdout.trim())) denied.push(`${verb} ${resource}`);
          else if (!(err instanceof Cancelled)) this.warn(`could not check the permission to ${verb} ${resource}: ${errorMessage(err)}`);
        }
      }),
    );
    if (denied.length) {
      throw new UserError(
        `the Kubernetes credentials may not ${denied.sort().join(', ')} in namespace ${this.k.namespace} (kubectl auth can-i said no); grant them (Role/RoleBinding) and run again. Nothing was changed.`,
      );
    }
  }

  /** HorizontalPodAutoscalers that scale one of `deployments`. */
  async hpasFor(deployments: string[]): Promise<KubeObject[]> {
    try {
      const list = await this.k.json<KubeObject>(['get', 'horizontalpodautoscalers.autoscaling'], { signal: this.signal });
      return ((list.items ?? []) as KubeObject[]).filter(
        (h) => h.spec?.scaleTargetRef?.kind === 'Deployment' && deployments.includes(h.spec.scaleTargetRef.name),
      );
    } catch (err) {
      if (err instanceof Cancelled) throw err;
      this.warn(
        `could not list HorizontalPodAutoscalers (${errorMessage(err)}); if one scales these Deployments, traffic shares and replica counts may differ from what Slipway sets`,
      );
      return [];
    }
  }

  /** Blue/green refuses a Deployment an HPA scales: the HPA would keep scaling the old slot, whichever is live. */
  async refuseHpa(strategy: KubeStrategy, deployments: string[]): Promise<void> {
    const hpas = await this.hpasFor(deployments);
    if (hpas.length && strategy === 'blue-green') {
      throw new UserError(
        `HorizontalPodAutoscaler ${hpas.map((h) => h.metadata.name).join(', ')} scales ${hpas.map((h) => h.spec.scaleTargetRef.name).join(', ')}: after a blue/green switch it would keep scaling that slot whichever one is live, and the live slot would not scale; use the rolling or canary strategy with an HPA. Nothing was changed.`,
      );
    }
  }

  /** Pauses or resumes a Deployment: one merge patch to a fixed value, safe to retry (unlike `kubectl rollout pause`). */
  async setPaused(name: string, paused: boolean, extra: KubeObject = {}): Promise<void> {
    await this.patch(name, { spec: { ...extra, paused } }, 'deployment', 'merge');
  }

  /** Follows a Deployment's rollout until complete (or failed). */
  async follow(name: string, o: { container?: string; deadlineMs: number; what: string }): Promise<FollowResult> {
    const r = await this.followSteps(name, o).next();
    if (!r.done) throw new Error('follow: a rollout without step targets paused');
    return r.value;
  }

  /**
   * The rollout capability of a Deployment for the step executor: follows its rollout; at each
   * of `targets` (new-pod counts) the rollout is paused and the generator yields the step reached
   * (the executor runs the gate); the next `next()` resumes it (with `resumeSpec`, the next step's
   * surge). Returns when the rollout completed or failed.
   */
  async *followSteps(
    name: string,
    o: {
      container?: string;
      deadlineMs: number;
      targets?: number[];
      /** Spec fields set in the same patch that resumes the rollout before step `idx` (the step's surge). */
      resumeSpec?: (idx: number, view: RolloutView) => KubeObject;
      what: string;
    },
  ): AsyncGenerator<{ idx: number; view: RolloutView }, FollowResult, void> {
    let sig = '';
    let progressAt = performance.now();
    let next = 0;
    let pausedByUs = false;
    let outage = false;
    const slack = Math.max(5000, o.deadlineMs * 0.2);
    let lastMsg = '';
    const pending = () => !!(o.targets && next < o.targets.length);
    for (;;) {
      this.checkCancel();
      let view: RolloutView;
      try {
        view = await this.observe(name, o.container, pending());
        outage = false;
      } catch (err) {
        // The API server away for a while (kubectl already retried): keep waiting within the deadline.
        if (err instanceof Cancelled || this.signal.aborted || !isTransient(err)) throw err;
        if (performance.now() - progressAt > o.deadlineMs + slack)
          return {
            ok: false,
            reason: `${o.what}: the Kubernetes API did not answer for ${formatDuration(performance.now() - progressAt)}: ${errorMessage(err)}`,
          };
        if (!outage) this.warn(`${o.what}: the Kubernetes API did not answer (${errorMessage(err)}); still waiting`);
        outage = true;
        await sleep(this.pollMs, this.signal).catch(() => undefined);
        continue;
      }
      const s = `${view.observed}/${view.updated}/${view.available}/${view.total}/${view.newAvailable}/${view.pods.filter((p) => p.ready).length}`;
      if (s !== sig) {
        sig = s;
        progressAt = performance.now();
      }
      if (view.message !== lastMsg) {
        lastMsg = view.message;
        this.log.info(`${o.what}: ${view.message}`);
      }
      const withPods = async () => {
        if (view.pods.length || !view.observed) return view;
        try {
          return await this.observe(name, o.container, true);
        } catch (err) {
          if (err instanceof Cancelled) throw err;
          this.warn(`${o.what}: could not list the pods of ${name}: ${errorMessage(err)}`);
          return view;
        }
      };
      const causes = (v: RolloutView) => {
        const unscheduled = v.pods.find((p) => !p.ready && p.why?.startsWith('unschedulable'));
        const parts = [v.replicaFailure ? `ReplicaFailure ${v.replicaFailure}` : '', unscheduled ? `pod ${unscheduled.name} is ${unscheduled.why}` : ''].filter(
          Boolean,
        );
        return parts.length ? ` because ${parts.join('; ')}` : '';
      };
      if (view.observed && view.deadlineExceeded && !view.paused) {
        const v = await withPods();
        return { ok: false, reason: `${o.what}: Deployment ${name} exceeded its progress deadline (${view.deadlineExceeded})${causes(v)}`, view: v };
      }
      if (pending() && view.observed) {
        const target = o.targets![next]!;
        // Pause as soon as the controller asked for the step's pods, so that it starts no more.
        if (!pausedByUs && !view.complete && !view.paused && view.newDesired >= target) {
          await this.setPaused(name, true);
          pausedByUs = true;
          this.log.info(`${o.what}: paused at ${view.newDesired} new pod(s) for step ${next + 1}`);
          continue;
        }
        if (view.newAvailable >= target || view.complete) {
          let idx = next;
          while (idx + 1 < o.targets!.length && view.newAvailable >= o.targets![idx + 1]!) idx++;
          if (!pausedByUs && !view.complete) {
            await this.setPaused(name, true);
            pausedByUs = true;
            view = await this.observe(name, o.container, true);
          }
          yield { idx, view };
          if (pausedByUs) {
            await this.setPaused(name, false, o.resumeSpec?.(idx + 1, view));
            pausedByUs = false;
          }
          next = idx + 1;
          progressAt = performance.now();
          continue;
        }
      }
      if (view.complete && !pending()) return { ok: true, view: await withPods() };
      if (performance.now() - progressAt > o.deadlineMs + slack) {
        const v = await withPods();
        return {
          ok: false,
          reason: `${o.what}: no progress for ${formatDuration(performance.now() - progressAt)} (progress deadline ${formatDuration(o.deadlineMs)})${causes(v)}; last state: ${view.message}`,
          view: v,
        };
      }
      // Until the controller has asked for the step's pods and the Deployment is paused, look
      // often: a pause that comes after the step's pods became available lets the controller go
      // on to the next surge, and the gate would see more new pods than the step wanted.
      await sleep(pending() && !pausedByUs ? Math.min(this.pollMs, FAST_POLL_MS) : this.pollMs, this.signal).catch(() => undefined);
    }
  }

  lastState(view?: RolloutView): string | undefined {
    if (!view) return undefined;
    const bad = view.pods.filter((p) => p.isNew && !p.ready);
    return `${view.message}${view.replicaFailure ? `; ReplicaFailure ${view.replicaFailure}` : ''}${
      bad.length
        ? `; not ready: ${bad
            .slice(0, 5)
            .map((p) => `${p.name} (${p.why ?? 'not ready'})`)
            .join(', ')}`
        : ''
    }`;
  }

  deadlineFor(d: KubeObject): number {
    return this.o.progressDeadlineMs ?? (d.spec?.progressDeadlineSeconds ?? 600) * 1000;
  }

  /** Undo with a signal of its own, so a cancelled run still rolls back. */
  withOwnSignal<T>(ms: number, fn: () => Promise<T>): Promise<T> {
    const saved = this.signal;
    const own = AbortSignal.timeout(ms);
    (this as { signal: AbortSignal }).signal = own;
    return fn().finally(() => {
      (this as { signal: AbortSignal }).signal = saved;
    });
  }

  /**
   * Puts a Deployment back on `template` (the pod template of the revision to return to) and
   * unpauses it in ONE patch, so the controller never resumes the failed version in between; then
   * waits until complete. Without a template, the previous image is patched back (same patch).
   */
  async undo(
    name: string,
    container: string,
    template: KubeObject | undefined,
    toImage: string | undefined,
    deadlineMs: number,
    label = 'rollback',
  ): Promise<{ ok: boolean; reason?: string; view?: RolloutView }> {
    const t = performance.now();
    try {
      if (template) {
        const tpl = structuredClone(template);
        if (tpl.metadata?.labels) delete tpl.metadata.labels['pod-template-hash'];
        await this.write([
          'patch',
          'deployment',
          name,
          '--type',
          'json',
          '-p',
          JSON.stringify([
            { op: 'replace', path: '/spec/template', value: tpl },
            { op: 'add', path: '/spec/paused', value: false },
          ]),
        ]);
        const img = ((tpl.spec?.containers ?? []) as KubeObject[]).find((c) => c.name === container)?.image;
        this.note(`${label}: Deployment ${name} back to its previous pod template (${img ?? 'image unknown'}) and unpaused, in one patch`);
      } else {
        if (!toImage) return { ok: false, reason: 'no earlier revision or image to go back to' };
        await this.patch(name, { spec: { paused: false, template: { spec: { containers: [{ name: container, image: toImage }] } } } });
        this.note(`${label}: Deployment ${name}: image set back to ${toImage} and unpaused, in one patch`);
      }
    } catch (err) {
      if (err instanceof Cancelled) throw err;
      return { ok: false, reason: `could not change Deployment ${name} back: ${errorMessage(err)}` };
    }
    let f: Awaited<ReturnType<KubeRun['follow']>>;
    try {
      f = await this.follow(name, { container, deadlineMs, what: label });
    } catch (err) {
      if (err instanceof Cancelled) throw err;
      f = { ok: false, reason: `could not follow the ${label}: ${errorMessage(err)}` };
    }
    this.note(f.ok ? `${label} complete in ${formatDuration(performance.now() - t)}` : `${label} did not complete: ${f.reason}`);
    return f.ok ? { ok: true, view: f.view } : { ok: false, reason: f.reason, view: f.view };
  }

  async patch(name: string, body: unknown, kind = 'deployment', type: 'strategic' | 'merge' = 'strategic'): Promise<void> {
    await this.write(['patch', kind, name, '--type', type, '-p', JSON.stringify(body)]);
  }

  base(strategy: KubeStrategy, deployment: string, image: string, version: string): KubeRolloutResult {
    return {
      status: 'failed',
      strategy,
      namespace: this.k?.namespace ?? this.o.namespace ?? '',
      context: this.o.context,
      deployment,
      image,
      version,
      replicas: 0,
      startedAt: this.startedAt,
      durationMs: 0,
      steps: [],
      pods: [],
      events: this.events,
      warnings: this.warnings,
    };
  }

  finish(r: KubeRolloutResult): KubeRolloutResult {
    r.durationMs = performance.now() - this.t0;
    r.namespace = this.k?.namespace ?? r.namespace;
    return r;
  }

  async rollout(req: KubeRolloutRequest): Promise<KubeRolloutResult> {
    const strategy = req.strategy ?? 'rolling';
    validateKubernetesOptions(this.o, strategy);
    if (!req.image || !IMAGE.test(req.image) || req.image.length > 512)
      throw new InputError('image', req.image, 'an image reference such as registry.example.com/app@sha256:<64 hex> or registry.example.com/app:1.2.3');
    if (!req.image.includes('@sha256:'))
      this.warn(`image ${req.image} has no digest: a tag can move; deploy by digest (build-and-tag's image output) to be sure what runs`);
    const version = this.o.version ?? versionFromImage(req.image);
    await this.connect();
    this.note(
      `Kubernetes ${strategy} deploy of ${req.image} (version ${version}) in namespace ${this.k.namespace}${this.o.context ? `, context ${this.o.context}` : ''}`,
    );
    const gate = req.gate;
    try {
      if (strategy === 'rolling') return this.finish(await this.rolling(req, version, gate));
      if (strategy === 'canary') return this.finish(await this.canary(req, version, gate));
      return this.finish(await this.blueGreen(req, version, gate));
    } catch (err) {
      if (err instanceof Cancelled) throw new UserError('the Kubernetes rollout was cancelled before anything was changed');
      throw err;
    } finally {
      await this.close();
    }
  }

  // ---------------------------------------------------------------- rolling

  strategyPatch(d: KubeObject): KubeObject | undefined {
    let userChose = false;
    const last = d.metadata?.annotations?.['kubectl.kubernetes.io/last-applied-configuration'];
    if (last) {
      try {
        userChose = !!JSON.parse(last)?.spec?.strategy;
      } catch {}
    }
    // A strategy another field manager set (Helm, a server-side apply) is the user's too.
    const owners = ((d.metadata?.managedFields ?? []) as KubeObject[]).filter(
      (m) => m.manager !== 'slipway' && m.manager !== 'kube-controller-manager' && JSON.stringify(m.fieldsV1 ?? {}).includes('"f:strategy"'),
    );
    if (owners.length) userChose = true;
    const st = d.spec?.strategy;
    const isDefault = st?.type === 'RollingUpdate' && st.rollingUpdate?.maxSurge === '25%' && st.rollingUpdate?.maxUnavailable === '25%';
    if (userChose || !isDefault) return undefined;
    return { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } };
  }

  loadManifests(dir: string, image: string, version: string, cause: string): { docs: KubeObject[]; deployment: string; container: string } {
    const files = readdirSync(dir)
      .filter((f) => /\.(ya?ml|json)$/.test(f))
      .sort();
    if (!files.length) throw new InputError('manifests', dir, 'a directory with at least one .yaml, .yml or .json manifest');
    const docs: KubeObject[] = [];
    for (const f of files) {
      const text = readFileSync(join(dir, f), 'utf8');
      for (const doc of parseAllDocuments(text)) {
        if (doc.errors.length) throw new UserError(`manifests: ${f}: ${doc.errors[0]!.message.split('\n')[0]}`);
        const v = doc.toJS() as KubeObject | null;
        if (!v) continue;
        if (typeof v !== 'object' || !v.kind || !v.apiVersion) throw new UserError(`manifests: ${f}: a document without kind/apiVersion`);
        if (v.kind === 'List') docs.push(...(v.items ?? []));
        else docs.push(v);
      }
    }
    const deployments = docs.filter((d) => d.kind === 'Deployment');
    const name = this.o.deployment ?? (deployments.length === 1 ? deployments[0]!.metadata?.name : undefined);
    if (!name)
      throw new InputError(
        'deployment',
        undefined,
        `the Deployment to follow (the manifests hold ${deployments.length}: ${deployments.map((d) => d.metadata?.name).join(', ') || 'none'})`,
      );
    const target = deployments.find((d) => d.metadata?.name === name);
    if (!target)
      throw new InputError('deployment', name, `a Deployment defined in ${dir} (found: ${deployments.map((d) => d.metadata?.name).join(', ') || 'none'})`);
    const repo = imageRepository(image);
    let container = '';
    for (const d of deployments) {
      const cs: KubeObject[] = d.spec?.template?.spec?.containers ?? [];
      for (const c of cs) {
        const hit = this.o.container ? d === target && c.name === this.o.container : typeof c.image === 'string' && imageRepository(c.image) === repo;
        if (!hit) continue;
        c.image = image;
        if (d === target) container ||= c.name;
      }
      if (d === target) {
        d.metadata = { ...d.metadata, annotations: { ...d.metadata?.annotations, [CHANGE_CAUSE]: cause } };
        d.spec ??= {};
        if (!d.spec.strategy) d.spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } };
        if (this.o.progressDeadlineMs !== undefined) d.spec.progressDeadlineSeconds = Math.ceil(this.o.progressDeadlineMs / 1000);
        const labels = d.spec.template?.metadata?.labels;
        if (labels && VERSION_LABEL in labels) labels[VERSION_LABEL] = version;
      }
    }
    if (!container) {
      throw new InputError(
        this.o.container ? 'container' : 'image',
        this.o.container ?? image,
        this.o.container
          ? `a container of Deployment ${name} in the manifests`
          : `an image whose repository (${repo}) matches a container of Deployment ${name} in the manifests, or the container input`,
      );
    }
    return { docs, deployment: name, container };
  }

  async rolling(req: KubeRolloutRequest, version: string, gate?: GateFn): Promise<KubeRolloutResult> {
    const cause = this.changeCause(req.image);
    let name = this.o.deployment!;
    let containerName: string;
    let manifests: ReturnType<KubeRun['loadManifests']> | undefined;
    if (this.o.manifests) {
      manifests = this.loadManifests(this.o.manifests, req.image, version, cause);
      name = manifests.deployment;
      containerName = manifests.container;
    }
    const before = manifests ? await this.k.find('deployment', name, this.signal) : await this.getDeployment(name);
    const r = this.base('rolling', name, req.image, version);
    if (before) {
      const c = this.pickContainer(before);
      containerName ??= c.name;
      const cur = (before.spec.template.spec.containers as KubeObject[]).find((x) => x.name === containerName);
      r.previousImage = cur?.image;
      r.previousVersion = before.spec.template.metadata?.labels?.[VERSION_LABEL] ?? (cur?.image ? versionFromImage(cur.image) : undefined);
      r.previousRevision = revisionOf(before);
      r.replicas = before.spec.replicas ?? 1;
      if (before.spec.paused) this.warn(`Deployment ${name} was paused; Slipway resumes it for this rollout`);
    }
    const container = containerName!;
    const deadlineMs = before ? this.deadlineFor(before) : (this.o.progressDeadlineMs ?? 600_000);
    if (before && !manifests && r.previousImage === req.image) {
      const view = await this.observe(name, container);
      if (view.complete) {
        this.note(`Deployment ${name} already runs ${req.image} (revision ${view.revision}); nothing to do`);
        r.status = 'unchanged';
        r.revision = view.revision;
        r.finalImage = req.image;
        r.pods = view.pods.map((p) => this.podRecord(p, version, view.newReplicaSet));
        return r;
      }
    }
    await this.canI(
      [
        ['get', 'deployments'],
        ['patch', 'deployments'],
        ['list', 'replicasets'],
        ['list', 'pods'],
        ...(manifests ? ([['create', 'deployments']] as [string, string][]) : []),
      ],
      !!gate,
    );
    // Gated steps: the controller acts on the image change before any pause can land, so the
    // step's size is enforced by the strategy itself: maxUnavailable 0 and maxSurge = the pods
    // the step wants; the user's strategy comes back when the rollout ends.
    const replicasNow = manifests
      ? Number(manifests.docs.find((d) => d.kind === 'Deployment' && d.metadata?.name === name)?.spec?.replicas ?? before?.spec?.replicas ?? 1)
      : (before!.spec.replicas ?? 1);
    const gatedTargets = gate
      ? normalizeSteps(req.steps, req.batches, replicasNow, [1])
          .slice(0, -1)
          .map((f) => podsForStep(f, replicasNow))
      : [];
    const stepStrategy = (surge: number): KubeObject => ({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: Math.max(1, surge) } });
    const userStrategy: KubeObject | undefined = before && gatedTargets.length ? (this.strategyPatch(before) ?? before.spec.strategy) : undefined;
    const restoreStrategy = async () => {
      if (!userStrategy) return;
      const body =
        userStrategy.type === 'Recreate'
          ? { type: 'Recreate', rollingUpdate: null }
          : { type: 'RollingUpdate', rollingUpdate: userStrategy.rollingUpdate ?? null };
      await this.patch(name, { spec: { strategy: body } }, 'deployment', 'merge').catch((err) =>
        this.warn(`could not set the strategy of ${name} back: ${errorMessage(err)}`),
      );
    };
    // The plan, run by the shared step executor (executor.ts). Step 1 changes the Deployment (its
    // undo entry: back to the pod template before) and follows it to the first step's pod count;
    // once the replica count is known the later steps are added: each resumes the rollout with its
    // surge and follows it to its count (`followSteps`), the gate runs while it is paused.
    let changed = false;
    let it: AsyncGenerator<{ idx: number; view: RolloutView }, FollowResult, void> | undefined;
    let fractions: number[] = [1];
    let targets: number[] = [];
    let port: number | undefined;
    let sel = '';
    let reached = -1; // the step the rollout last paused at (a step may reach several at once)
    let pausedHere = false;
    let end: FollowResult | undefined;
    let lastView: RolloutView | undefined;
    let current: KubeStep = { step: 1, fraction: 1, target: 0, available: 0, startedAt: Date.now(), outcome: 'running' };
    const failedPhase = manifests ? 'apply' : 'rollout';
    const advance = async (k: number): Promise<KubeFailure | undefined> => {
      pausedHere = false;
      if (end || reached >= k) return undefined;
      current = {
        step: k + 1,
        fraction: fractions[k]!,
        target: podsForStep(fractions[k]!, r.replicas),
        available: lastView?.newAvailable ?? 0,
        startedAt: Date.now(),
        outcome: 'running',
      };
      r.steps.push(current);
      let n: IteratorResult<{ idx: number; view: RolloutView }, FollowResult>;
      try {
        n = await it!.next();
      } catch (err) {
        // Whatever failed after the first write (a 403, the API away too long), the change is undone.
        if (this.signal.aborted || err instanceof Cancelled) return { phase: 'cancelled', reason: 'the rollout was cancelled' };
        return { phase: failedPhase, reason: `rollout: ${errorMessage(err)}` };
      }
      if (n.done) {
        end = n.value;
        if (!end.ok) {
          lastView = end.view;
          return { phase: failedPhase, reason: end.reason };
        }
        current.available = end.view.newAvailable;
        current.endedAt = Date.now();
        return undefined;
      }
      const { idx, view } = n.value;
      reached = idx;
      pausedHere = true;
      lastView = view;
      current.available = view.newAvailable;
      current.endedAt = Date.now();
      current.step = idx + 1;
      current.fraction = fractions[idx]!;
      current.target = targets[idx]!;
      this.note(
        `step ${idx + 1}/${fractions.length}: ${view.newAvailable} of ${r.replicas} pods on ${version} (${formatPercent(fractions[idx]!)} wanted); rollout paused for the gate`,
      );
      return undefined;
    };
    const stepOf = (k: number): Step<KubeFailure> => ({
      get record() {
        return current;
      },
      run: () => advance(k),
      gate: {
        after: () => `step ${reached + 1}`,
        context: async (signal): Promise<KubeGateContext | undefined> => {
          if (!pausedHere || !lastView) return undefined;
          const view = lastView;
          return {
            batch: reached + 1,
            totalBatches: fractions.length,
            newInstances: await this.gateInstances(
              view.pods.filter((p) => p.isNew),
              () => version,
              port,
            ),
            oldInstances: await this.gateInstances(
              view.pods.filter((p) => !p.isNew),
              () => r.previousVersion ?? '',
              port,
            ),
            signal,
            kubernetes: {
              namespace: this.k.namespace,
              deployment: name,
              strategy: 'rolling',
              newSelector: `${sel},pod-template-hash=${view.newHash}`,
              oldSelector: `${sel},pod-template-hash!=${view.newHash}`,
              versionLabel: VERSION_LABEL,
            },
          };
        },
      },
    });
    const steps: Step<KubeFailure>[] = [];
    steps.push({
      ...stepOf(0),
      get record() {
        return current;
      },
      run: async (ctx) => {
        try {
          if (manifests) {
            const target = manifests.docs.find((d) => d.kind === 'Deployment' && d.metadata?.name === name)!;
            if (gatedTargets.length) target.spec.strategy = stepStrategy(gatedTargets[0]!);
            const hpas = await this.hpasFor([name]);
            if (hpas.length && target.spec?.replicas !== undefined) {
              delete target.spec.replicas;
              this.note(`HorizontalPodAutoscaler ${hpas[0]!.metadata.name} scales ${name}: spec.replicas from the manifests is not applied`);
            }
            // Server-side apply with Slipway's field manager: no last-applied annotation (no 256 KiB
            // limit), fields other managers own (Helm, an HPA, other appliers) are not overwritten silently.
            const out = await this.write(
              ['apply', '--server-side', '--field-manager=slipway', '-f', '-'],
              manifests.docs.map((d) => JSON.stringify(d)).join('\n'),
            );
            this.note(
              `applied ${manifests.docs.length} object(s) from ${this.o.manifests} (server-side, field manager slipway): ${out.trim().split('\n').join('; ')}`,
            );
          } else {
            const spec: KubeObject = { template: { spec: { containers: [{ name: container, image: req.image }] } } };
            const labels = before!.spec.template.metadata?.labels ?? {};
            if (VERSION_LABEL in labels) spec.template.metadata = { labels: { [VERSION_LABEL]: version } };
            const st = gatedTargets.length ? stepStrategy(gatedTargets[0]!) : this.strategyPatch(before!);
            if (st) spec.strategy = st;
            if (this.o.progressDeadlineMs !== undefined) spec.progressDeadlineSeconds = Math.ceil(this.o.progressDeadlineMs / 1000);
            if (before!.spec.paused) spec.paused = false;
            await this.patch(name, { metadata: { annotations: { [CHANGE_CAUSE]: cause } }, spec });
            this.note(`Deployment ${name}: ${container} → ${req.image}${st ? ` (maxUnavailable 0, maxSurge ${st.rollingUpdate.maxSurge})` : ''}`);
          }
        } catch (err) {
          if (err instanceof Cancelled) throw err;
          return { phase: manifests ? 'apply' : 'prepare', reason: errorMessage(err) };
        }
        changed = true;
        // A Deployment that did not exist before has no earlier revision: nothing goes in the undo log.
        if (before)
          ctx.undo({
            what: `Deployment ${name} back to its pod template before the rollout`,
            run: async () => {
              const undone = await this.withOwnSignal(deadlineMs * 2 + 60_000, async () => {
                await this.recordGood(name, lastView, 'failed');
                const u = await this.undo(name, container, before.spec.template, r.previousImage, deadlineMs);
                await restoreStrategy();
                return u;
              });
              if (undone.view) r.revision = undone.view.revision;
              return undone.ok ? undefined : { ok: false, reason: `rollback: ${undone.reason}` };
            },
          });
        const now = await this.getDeployment(name);
        r.replicas = now.spec.replicas ?? 1;
        fractions = normalizeSteps(req.steps, req.batches, r.replicas, [1]);
        targets = fractions.slice(0, -1).map((f) => podsForStep(f, r.replicas));
        port = (now.spec.template.spec.containers as KubeObject[]).find((c) => c.name === container)?.ports?.[0]?.containerPort;
        sel = selectorString(now.spec.selector);
        it = this.followSteps(name, {
          container,
          deadlineMs,
          what: 'rollout',
          targets: gate ? targets : undefined,
          resumeSpec: (idx, view) => ({ strategy: stepStrategy((targets[idx] ?? r.replicas) - view.newAvailable) }),
        });
        for (let k = 1; k < fractions.length; k++) steps.push(stepOf(k));
        return advance(0);
      },
    });
    const x = await executeSteps<KubeFailure>(steps, {
      ...this.executorOptions(req, gate),
      onFailure: (f) => {
        if (!changed) {
          if (f.phase !== 'cancelled') this.log.error(f.reason);
          r.failure = f;
          return;
        }
        if ((f.phase as string) === 'target') Object.assign(f, { phase: failedPhase, reason: `rollout: ${f.reason}` });
        f.lastState = this.lastState(lastView);
        r.pods = (lastView?.pods ?? []).map((p) =>
          this.podRecord(p, p.isNew ? version : (r.previousVersion ?? ''), p.isNew ? lastView?.newReplicaSet : undefined),
        );
        this.log.error(`rollout failed: ${f.reason}${f.lastState ? ` (${f.lastState})` : ''}`);
      },
    });
    if (x.status === 'succeeded' && end?.ok) {
      const view = end.view;
      await restoreStrategy();
      await this.recordGood(name, view);
      r.status = 'succeeded';
      r.revision = view.revision;
      r.finalImage = req.image;
      r.pods = view.pods.map((p) => this.podRecord(p, version, view.newReplicaSet));
      this.note(`rollout complete: revision ${view.revision}, ${view.available}/${r.replicas} available`);
      return r;
    }
    const failure = x.failure ?? { phase: failedPhase, reason: 'the rollout ended without completing' };
    if (!changed && failure.phase === 'cancelled') throw new Cancelled();
    r.failure = failure;
    if (x.status === 'failed' || x.status === 'succeeded') {
      r.status = 'failed';
      if (changed && !before)
        this.warn(`Deployment ${name} did not exist before: there is no earlier revision to go back to; it is left as it is for inspection`);
      return r;
    }
    takeUndo(r, x);
    r.status = x.status === 'cancelled' ? 'rolled-back' : x.status;
    const after = await this.getDeployment(name).catch(() => undefined);
    r.finalImage = (after?.spec?.template?.spec?.containers as KubeObject[] | undefined)?.find((c) => c.name === container)?.image;
    return r;
  }

  /** Records the rollout's pod template as good, or as failed (for rollback mode). */
  async recordGood(name: string, view: RolloutView | undefined, which: 'good' | 'failed' = 'good'): Promise<void> {
    const hash = view?.newHash;
    if (!hash) return;
    const key = which === 'good' ? GOOD_ANNOTATION : FAILED_ANNOTATION;
    try {
      const d = await this.getDeployment(name);
      const list = String(d.metadata?.annotations?.[key] ?? '')
        .split(',')
        .filter((h) => h && h !== hash);
      const next = [...list, hash].slice(-10).join(',');
      const other = which === 'good' ? FAILED_ANNOTATION : GOOD_ANNOTATION;
      const otherList = String(d.metadata?.annotations?.[other] ?? '')
        .split(',')
        .filter(Boolean);
      const otherNext = otherList.filter((h) => h !== hash).join(',');
      await this.patch(
        name,
        { metadata: { annotations: { [key]: next, ...(otherNext !== otherList.join(',') ? { [other]: otherNext || null } : {}) } } },
        'deployment',
        'merge',
      );
    } catch (err) {
      if (err instanceof Cancelled) throw err;
      this.warn(`could not record revision ${view?.revision} of ${name} as ${which} (rollback mode will pick by revision number): ${errorMessage(err)}`);
    }
  }

  // ---------------------------------------------------------------- canary & blue/green helpers

  /** The Service in front of a Deployment's pods: the named one, or the only one whose selector matches. */
  async findService(templateLabels: Record<string, string>, required: boolean): Promise<KubeObject | undefined> {
    if (this.o.service) {
      const s = await this.k.find('service', this.o.service, this.signal);
      if (!s) throw new UserError(`Service ${JSON.stringify(this.o.service)} not found in namespace ${JSON.stringify(this.k.namespace)}`);
      return s;
    }
    const list = await this.k.json<KubeObject>(['get', 'services'], { signal: this.signal });
    const matching = (list.items ?? []).filter((s: KubeObject) => {
      const sel: Record<string, string> = s.spec?.selector ?? {};
      const keys = Object.keys(sel).filter((k) => k !== SLOT_LABEL);
      return keys.length > 0 && keys.every((k) => templateLabels[k] === sel[k]);
    });
    if (matching.length === 1) return matching[0];
    if (matching.length > 1)
      throw new InputError(
        'service',
        undefined,
        `the Service to use (several select these pods: ${matching.map((s: KubeObject) => s.metadata.name).join(', ')})`,
      );
    if (required)
      throw new UserError(
        `no Service in namespace ${JSON.stringify(this.k.namespace)} selects the pods of this Deployment (labels ${JSON.stringify(templateLabels)}); blue/green switches a Service's selector`,
      );
    return undefined;
  }

  /** A Deployment manifest derived from `from`: new name, extra selector/template labels, image, replicas. */
  derive(
    from: KubeObject,
    name: string,
    extraSelector: Record<string, string>,
    extraLabels: Record<string, string>,
    container: string,
    image: string,
    replicas: number,
    cause: string,
  ): KubeObject {
    const spec = structuredClone(from.spec);
    delete spec.paused;
    spec.replicas = replicas;
    spec.selector = { ...spec.selector, matchLabels: { ...(spec.selector?.matchLabels ?? {}), ...extraSelector } };
    spec.template.metadata = { ...spec.template.metadata, labels: { ...(spec.template.metadata?.labels ?? {}), ...extraSelector, ...extraLabels } };
    for (const c of spec.template.spec.containers as KubeObject[]) if (c.name === container) c.image = image;
    if (this.o.progressDeadlineMs !== undefined) spec.progressDeadlineSeconds = Math.ceil(this.o.progressDeadlineMs / 1000);
    const annotations: Record<string, string> = {};
    for (const [k, v] of Object.entries((from.metadata?.annotations ?? {}) as Record<string, string>)) {
      if (!k.startsWith('deployment.kubernetes.io/') && k !== 'kubectl.kubernetes.io/last-applied-configuration' && k !== KEEP_UNTIL_ANNOTATION)
        annotations[k] = v;
    }
    annotations[CHANGE_CAUSE] = cause;
    return {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: this.k.namespace, labels: { ...(from.metadata?.labels ?? {}), ...extraSelector }, annotations },
      spec,
    };
  }

  async deleteDeployment(name: string): Promise<void> {
    await this.write(['delete', 'deployment', name, '--ignore-not-found', '--wait=false']);
  }

  async scale(name: string, replicas: number): Promise<void> {
    await this.patch(name, { spec: { replicas } }, 'deployment', 'merge');
  }

  // ---------------------------------------------------------------- canary

  /**
   * The canary's share of the Service's ready endpoints (what kube-proxy balances connections
   * over), once the endpoints list `canary` canary pods and `stable` stable pods; undefined when
   * there is no Service or the endpoints did not settle within endpointsTimeoutMs.
   */
  async endpointShare(
    service: string,
    canaryPods: () => Promise<Set<string>>,
    canary: number,
    total: number,
  ): Promise<{ canary: number; total: number } | undefined> {
    const until = performance.now() + (this.o.endpointsTimeoutMs ?? 60_000);
    let seen: { canary: number; total: number } | undefined;
    for (;;) {
      this.checkCancel();
      try {
        const [eps, mine] = await Promise.all([this.endpoints(service), canaryPods()]);
        seen = { canary: [...eps.ready].filter((n) => mine.has(n)).length, total: eps.ready.size };
        if (seen.canary === canary && seen.total === total) return seen;
      } catch (err) {
        if (err instanceof Cancelled || !isTransient(err)) throw err;
      }
      if (performance.now() > until) {
        this.warn(
          `Service ${service}: endpoints did not settle at ${canary} canary of ${total} (last seen ${seen ? `${seen.canary} of ${seen.total}` : 'nothing'})`,
        );
        return seen;
      }
      await sleep(Math.min(this.pollMs, 500), this.signal).catch(() => undefined);
    }
  }

  async canary(req: KubeRolloutRequest, version: string, gate?: GateFn): Promise<KubeRolloutResult> {
    const name = this.o.deployment!;
    const canaryName = `${name}-canary`;
    const stable = await this.getDeployment(name);
    const c = this.pickContainer(stable);
    const cause = this.changeCause(req.image);
    const r = this.base('canary', name, req.image, version);
    r.previousImage = c.image;
    r.previousRevision = revisionOf(stable);
    const stableLabels: Record<string, string> = stable.spec.template.metadata?.labels ?? {};
    r.previousVersion = stableLabels[VERSION_LABEL] ?? versionFromImage(c.image);
    r.replicas = stable.spec.replicas ?? 1;
    if (r.replicas < 1) throw new UserError(`Deployment ${name} has 0 replicas: a canary needs a stable Deployment with at least one replica`);
    const deadlineMs = this.deadlineFor(stable);
    const fractions = normalizeSteps(req.steps, req.batches, r.replicas, [0.05, 0.5, 1]);
    r.canary = { deployment: canaryName, sizes: [], deleted: false };
    if (c.image === req.image) {
      this.note(`Deployment ${name} already runs ${req.image}; nothing to do`);
      r.status = 'unchanged';
      r.finalImage = c.image;
      r.revision = r.previousRevision;
      return r;
    }
    const svc = await this.findService(stableLabels, false);
    if (svc) {
      const sel: Record<string, string> = svc.spec?.selector ?? {};
      for (const key of [VERSION_LABEL, TRACK_LABEL]) {
        if (key in sel)
          throw new UserError(
            `Service ${svc.metadata.name} selects on the label ${JSON.stringify(key)}: canary pods carry ${key}=${key === TRACK_LABEL ? 'canary' : version} and would get no traffic; remove ${key} from the Service selector`,
          );
      }
      this.note(`Service ${svc.metadata.name} (selector ${selectorString({ matchLabels: sel })}) will send traffic to the canary pods too`);
    } else this.warn(`no Service selects the pods of ${name}: the canary gets no Service traffic`);
    // Traffic follows ready endpoints (per connection): a share of S means S of the endpoints.
    // Without an HPA the stable Deployment shrinks by the canary's size (total stays the same);
    // with one (it would scale the stable back) the canary is sized so that it is S of the total.
    const hpas = await this.hpasFor([name]);
    if (hpas.length)
      this.warn(
        `HorizontalPodAutoscaler ${hpas[0]!.metadata.name} scales ${name}: the stable Deployment is left to it and the canary is sized to the share instead; the HPA's selector also counts canary pods`,
      );
    const plan = fractions.slice(0, -1).map((f) => {
      if (hpas.length) {
        const n = Math.max(1, Math.round((f * r.replicas) / (1 - f)));
        return { canary: n, stable: r.replicas };
      }
      const n = podsForStep(f, r.replicas);
      return { canary: n, stable: Math.max(1, r.replicas - n) };
    });
    const sizes = plan.map((p) => p.canary);
    await this.canI(
      [
        ['get', 'deployments'],
        ['create', 'deployments'],
        ['patch', 'deployments'],
        ['delete', 'deployments'],
        ['list', 'pods'],
        ['list', 'replicasets'],
        ...(svc ? ([['list', 'endpointslices.discovery.k8s.io']] as [string, string][]) : []),
      ],
      !!gate,
    );
    const leftover = await this.k.find('deployment', canaryName, this.signal);
    if (leftover) {
      this.warn(`a leftover ${canaryName} from an earlier run was deleted first`);
      await this.deleteDeployment(canaryName);
    }
    const port = c.ports?.[0]?.containerPort as number | undefined;
    const stableSel = selectorString(stable.spec.selector);
    const canarySel = `${stableSel},${TRACK_LABEL}=canary`;
    let stableScaled = false;
    // The plan, run by the shared step executor (executor.ts): one step per canary size (size the
    // canary, follow it, then make room in the stable Deployment, measure the share; the gate
    // after it), then the promotion. Undo log: delete the canary (step 1), the stable Deployment
    // back to its size (once it shrank), the stable Deployment back to its template (promotion).
    let lastView: RolloutView | undefined;
    let promoting = false;
    const own = <T>(fn: () => Promise<T>) => this.withOwnSignal(120_000 + deadlineMs, fn);
    const steps: Step<KubeFailure>[] = sizes.map((n, i) => {
      const step: KubeStep = { step: i + 1, fraction: fractions[i]!, target: n, available: 0, startedAt: 0, outcome: 'running' };
      let view: RolloutView | undefined;
      return {
        record: step,
        run: async (ctx) => {
          step.startedAt = Date.now();
          r.steps.push(step);
          if (i === 0) {
            ctx.undo({
              what: `delete ${canaryName}`,
              run: () =>
                own(async () => {
                  try {
                    await this.deleteDeployment(canaryName);
                    r.canary!.deleted = true;
                    this.note(`deleted ${canaryName}: all traffic is back on ${r.previousVersion}`);
                  } catch (err) {
                    this.warn(`could not delete ${canaryName}: ${errorMessage(err)}`);
                    throw new UserError(`${canaryName} could not be deleted (it still takes traffic: delete it by hand)`);
                  }
                }),
            });
            const manifest = this.derive(stable, canaryName, { [TRACK_LABEL]: 'canary' }, { [VERSION_LABEL]: version }, c.name, req.image, n, cause);
            await this.write(['apply', '-f', '-'], JSON.stringify(manifest));
          } else await this.scale(canaryName, n);
          r.canary!.sizes.push(n);
          const f = await this.follow(canaryName, { container: c.name, deadlineMs, what: `canary step ${i + 1}` });
          if (!f.ok) {
            lastView = f.view;
            r.pods = (f.view?.pods ?? []).map((p) => this.podRecord(p, version, canaryName));
            return { phase: 'rollout', reason: f.reason };
          }
          view = f.view;
          // The canary is Ready: now the stable Deployment makes room (never before).
          const stableWant = plan[i]!.stable;
          const stableNow = (await this.getDeployment(name)).spec.replicas ?? r.replicas;
          if (stableWant !== stableNow) {
            if (stableWant !== r.replicas && !stableScaled)
              ctx.undo({
                what: `${name} back to ${r.replicas} replica(s)`,
                run: () =>
                  own(async () => {
                    // Capacity first: the stable Deployment back to its size and available, then the canary goes.
                    if (!stableScaled) return;
                    try {
                      await this.scale(name, r.replicas);
                      const back = await this.follow(name, { container: c.name, deadlineMs, what: `${name} back to ${r.replicas}` });
                      if (!back.ok) throw new UserError(back.reason);
                      stableScaled = false;
                    } catch (err) {
                      this.warn(`could not scale ${name} back to ${r.replicas}: ${errorMessage(err)}`);
                      throw new UserError(`Deployment ${name} could not be scaled back to ${r.replicas}`);
                    }
                  }),
              });
            stableScaled = stableWant !== r.replicas;
            await this.scale(name, stableWant);
            const fs = await this.follow(name, { container: c.name, deadlineMs, what: `${name} to ${stableWant}` });
            if (!fs.ok) {
              lastView = fs.view;
              return { phase: 'rollout', reason: fs.reason };
            }
          }
          let share = n / (n + stableWant);
          if (svc) {
            const seen = await this.endpointShare(
              svc.metadata.name,
              async () => new Set((await this.pods(canarySel)).map((p) => p.metadata.name as string)),
              n,
              n + stableWant,
            );
            if (seen && seen.total) share = seen.canary / seen.total;
          }
          step.share = share;
          this.note(
            `step ${i + 1}/${fractions.length}: ${canaryName} has ${n} pod(s), ${name} ${stableWant}: the canary is ${formatPercent(share, 0)} of the ${svc ? `ready endpoints of Service ${svc.metadata.name}` : 'pods'} (${formatPercent(fractions[i]!)} wanted)`,
          );
          step.available = f.view.newAvailable;
          step.endedAt = Date.now();
          lastView = f.view;
          r.pods = f.view.pods.map((p) => this.podRecord(p, version, canaryName));
          return undefined;
        },
        gate: {
          after: `step ${i + 1}`,
          context: async (signal): Promise<KubeGateContext> => {
            const stableView = await this.observe(name, c.name, true);
            return {
              batch: i + 1,
              totalBatches: fractions.length,
              newInstances: await this.gateInstances(view!.pods, () => version, port),
              oldInstances: await this.gateInstances(
                stableView.pods.filter((p) => p.labels[TRACK_LABEL] !== 'canary'),
                (p) => p.labels[VERSION_LABEL] ?? r.previousVersion!,
                port,
              ),
              signal,
              kubernetes: {
                namespace: this.k.namespace,
                deployment: name,
                strategy: 'canary',
                newSelector: canarySel,
                oldSelector: `${stableSel},${TRACK_LABEL}!=canary`,
                versionLabel: VERSION_LABEL,
              },
            };
          },
        },
      };
    });
    // Promote: the stable Deployment gets the new image (and its full size back), then the canary goes away.
    const promote: KubeStep = { step: fractions.length, fraction: 1, target: r.replicas, available: 0, startedAt: 0, outcome: 'running' };
    steps.push({
      record: promote,
      run: async (ctx) => {
        promote.startedAt = Date.now();
        r.steps.push(promote);
        promoting = true;
        ctx.undo({
          what: `${name} back to its pod template before the rollout`,
          run: async () => {
            const undone = await this.withOwnSignal(deadlineMs * 2 + 60_000, () => this.undo(name, c.name, stable.spec.template, r.previousImage, deadlineMs));
            return undone.ok ? undefined : { ok: false, reason: `rollback: ${undone.reason}` };
          },
        });
        const st = this.strategyPatch(stable);
        await this.patch(name, {
          metadata: { annotations: { [CHANGE_CAUSE]: cause } },
          spec: {
            ...(hpas.length ? {} : { replicas: r.replicas }),
            template: { metadata: { labels: { [VERSION_LABEL]: version } }, spec: { containers: [{ name: c.name, image: req.image }] } },
            ...(st ? { strategy: st } : {}),
            ...(this.o.progressDeadlineMs !== undefined ? { progressDeadlineSeconds: Math.ceil(this.o.progressDeadlineMs / 1000) } : {}),
          },
        });
        stableScaled = false;
        this.note(`promote: Deployment ${name} → ${req.image} (version label ${version}), ${r.replicas} replica(s)`);
        const f = await this.follow(name, { container: c.name, deadlineMs, what: 'promote' });
        promote.endedAt = Date.now();
        if (!f.ok) {
          lastView = f.view;
          return { phase: 'promote', reason: f.reason };
        }
        promote.available = f.view.newAvailable;
        r.revision = f.view.revision;
        r.pods = f.view.pods.map((p) => this.podRecord(p, version, name));
        await this.recordGood(name, f.view);
        return undefined;
      },
    });
    const x = await executeSteps<KubeFailure>(steps, {
      ...this.executorOptions(req, gate),
      onFailure: (f) => {
        // A failure after the first write (not a step's own): the canary goes, the stable Deployment is restored.
        if ((f.phase as string) === 'target') f.phase = promoting ? 'promote' : 'rollout';
        if (this.signal.aborted) f.phase = 'cancelled';
        f.lastState = this.lastState(lastView);
        this.log.error(`canary failed: ${f.reason}`);
      },
    });
    if (x.status !== 'succeeded') {
      r.failure = x.failure;
      takeUndo(r, x);
      r.status = x.status === 'failed' || x.status === 'cancelled' ? 'failed' : x.status;
      r.finalImage = r.previousImage;
      return r;
    }
    // The canary pods leave the endpoints as they get SIGTERM: apps need a preStop delay (see docs).
    try {
      await this.deleteDeployment(canaryName);
      r.canary.deleted = true;
      this.note(`promoted; deleted ${canaryName}`);
    } catch (err) {
      this.warn(`promoted, but ${canaryName} could not be deleted: ${errorMessage(err)}`);
    }
    r.status = 'succeeded';
    r.finalImage = req.image;
    return r;
  }

  // ---------------------------------------------------------------- blue/green

  slots(name: string): { blue: Slot; green: Slot } {
    return { blue: { name, slot: 'blue' }, green: { name: `${name}-green`, slot: 'green' } };
  }

  /**
   * The Service's endpoints as EndpointSlices list them: the pods behind a ready endpoint (what
   * kube-proxy and ingress controllers send traffic to) and every pod listed at all.
   */
  async endpoints(service: string): Promise<{ ready: Set<string>; listed: Set<string> }> {
    const list = await this.k.json<KubeObject>(['get', 'endpointslices.discovery.k8s.io', '-l', `kubernetes.io/service-name=${service}`], {
      signal: this.signal,
    });
    const ready = new Set<string>();
    const listed = new Set<string>();
    for (const slice of (list.items ?? []) as KubeObject[]) {
      for (const e of (slice.endpoints ?? []) as KubeObject[]) {
        const pod = e.targetRef?.kind === 'Pod' ? (e.targetRef.name as string) : undefined;
        if (!pod) continue;
        listed.add(pod);
        // A nil ready condition means ready (discovery.k8s.io/v1), unless terminating.
        if (e.conditions?.ready !== false && !e.conditions?.terminating) ready.add(pod);
      }
    }
    return { ready, listed };
  }

  /**
   * Waits until the Service's EndpointSlices list exactly the Ready, non-terminating pods of
   * `deployment` as ready endpoints (and no other pod). Returns the time it happened, or the
   * reason it did not within endpointsTimeoutMs.
   */
  async waitEndpoints(
    service: string,
    deployment: string,
    container: string | undefined,
  ): Promise<{ ok: true; at: number; pods: string[] } | { ok: false; reason: string }> {
    const until = performance.now() + (this.o.endpointsTimeoutMs ?? 60_000);
    let last: string;
    for (;;) {
      this.checkCancel();
      try {
        const [view, eps] = await Promise.all([this.observe(deployment, container, true), this.endpoints(service)]);
        const want = view.pods
          .filter((p) => p.isNew && servingPod(p))
          .map((p) => p.name)
          .sort();
        const have = [...eps.ready].sort();
        if (want.length > 0 && want.length === have.length && want.every((n, i) => n === have[i])) return { ok: true, at: performance.now(), pods: want };
        last = `endpoints list ${have.length ? have.join(', ') : 'no ready pod'}; the Ready pods of ${deployment} are ${want.join(', ') || 'none'}`;
      } catch (err) {
        if (err instanceof Cancelled || !isTransient(err)) throw err;
        last = errorMessage(err);
      }
      if (performance.now() > until)
        return {
          ok: false,
          reason: `Service ${service}: its EndpointSlices did not list exactly the new Ready pods within ${formatDuration(this.o.endpointsTimeoutMs ?? 60_000)} (${last})`,
        };
      await sleep(Math.min(this.pollMs, 500), this.signal).catch(() => undefined);
    }
  }

  /** After endpoints changed at `since`: the drain delay for kube-proxy and ingress controllers, before pods are stopped. */
  async drain(since: number, what: string): Promise<void> {
    const left = (this.o.drainDelayMs ?? 5000) - (performance.now() - since);
    if (left <= 0) return;
    this.log.info(
      `drain delay: waiting ${formatDuration(left)} before stopping ${what} (endpoint changes reach kube-proxy and ingress controllers with a lag)`,
    );
    await sleep(left, this.signal).catch(() => undefined);
  }

  /** The idle slot's pod template: the live slot's current template with the slot, version and image of this rollout. */
  idleTemplate(liveD: KubeObject, idle: Slot, version: string, container: string, image: string): KubeObject {
    const t = structuredClone(liveD.spec.template);
    t.metadata = { ...t.metadata, labels: { ...(t.metadata?.labels ?? {}), [SLOT_LABEL]: idle.slot, [VERSION_LABEL]: version } };
    delete t.metadata.labels['pod-template-hash'];
    for (const c of t.spec.containers as KubeObject[]) if (c.name === container) c.image = image;
    return t;
  }

  async blueGreen(req: KubeRolloutRequest, version: string, gate?: GateFn): Promise<KubeRolloutResult> {
    const name = this.o.deployment!;
    const cause = this.changeCause(req.image);
    const { blue, green } = this.slots(name);
    const blueD = await this.getDeployment(name);
    const c = this.pickContainer(blueD);
    const blueLabels: Record<string, string> = blueD.spec.template.metadata?.labels ?? {};
    let svc = (await this.findService(blueLabels, true))!;
    for (const key of [VERSION_LABEL, TRACK_LABEL]) {
      if (key in (svc.spec.selector ?? {})) {
        throw new UserError(
          `Service ${svc.metadata.name} selects on the label ${JSON.stringify(key)} (${key}=${svc.spec.selector[key]}): after a blue/green switch it would select none of the new pods (${VERSION_LABEL}=${version}) and have no endpoints; remove ${key} from the Service selector (blue/green switches by ${SLOT_LABEL}). Nothing was changed.`,
        );
      }
    }
    const liveSlot = svc.spec.selector?.[SLOT_LABEL] === 'green' ? green : blue;
    const idle = liveSlot === blue ? green : blue;
    const liveD = liveSlot === blue ? blueD : await this.getDeployment(green.name);
    const liveC = (liveD.spec.template.spec.containers as KubeObject[]).find((x) => x.name === c.name)!;
    const r = this.base('blue-green', name, req.image, version);
    r.previousImage = liveC.image;
    r.previousVersion = liveD.spec.template.metadata?.labels?.[VERSION_LABEL] ?? versionFromImage(liveC.image);
    r.previousRevision = revisionOf(liveD);
    r.replicas = liveD.spec.replicas ?? 1;
    const deadlineMs = this.deadlineFor(liveD);
    const selectorBefore = { ...svc.spec.selector };
    r.blueGreen = { service: svc.metadata.name, from: liveSlot.name, to: idle.name, switched: false, switchedBack: false, previousDeployment: liveSlot.name };
    if (liveC.image === req.image) {
      this.note(`the live slot ${liveSlot.name} already runs ${req.image}; nothing to do`);
      r.status = 'unchanged';
      r.finalImage = req.image;
      r.revision = r.previousRevision;
      return r;
    }
    await this.refuseHpa('blue-green', [blue.name, green.name]);
    await this.canI(
      [
        ['get', 'deployments'],
        ['create', 'deployments'],
        ['patch', 'deployments'],
        ['delete', 'deployments'],
        ['list', 'pods'],
        ['list', 'replicasets'],
        ['get', 'services'],
        ['patch', 'services'],
        ['list', 'endpointslices.discovery.k8s.io'],
      ],
      !!gate,
    );
    this.note(`Service ${svc.metadata.name} sends traffic to ${liveSlot.name} (${liveSlot.slot}); deploying ${req.image} to ${idle.name} (${idle.slot})`);
    const port = c.ports?.[0]?.containerPort as number | undefined;
    const bgStep: KubeStep = { step: 1, fraction: 1, target: r.replicas, available: 0, startedAt: Date.now(), outcome: 'running' };
    r.steps.push(bgStep);
    const bgr = r.blueGreen;
    let createdIdle = false;
    let switchedAt = 0;
    let switchedBackAt: number | undefined;
    let template: KubeObject | undefined;
    let view: RolloutView | undefined;
    let lastView: RolloutView | undefined;
    // The plan, run by the shared step executor (executor.ts): prepare the Service (once), scale
    // the idle slot up with the new image (undo: scale it down again), switch the Service selector
    // and wait for its endpoints (undo: switch back), the gate after the switch; the drain delay
    // before the old slot is scaled down.
    const steps: Step<KubeFailure>[] = [
      {
        record: { outcome: 'running' },
        run: async () => {
          // One-time preparation: make the Service select by slot.
          if (SLOT_LABEL in (svc.spec.selector ?? {})) return undefined;
          this.note(
            `preparing blue/green: Deployment ${blue.name} pods get the label ${SLOT_LABEL}=blue (a same-image rolling update), then Service ${svc.metadata.name} selects ${SLOT_LABEL}=blue`,
          );
          if (blueLabels[SLOT_LABEL] !== 'blue') {
            await this.patch(blue.name, { spec: { template: { metadata: { labels: { [SLOT_LABEL]: 'blue' } } } } });
            const f = await this.follow(blue.name, { container: c.name, deadlineMs, what: 'prepare blue slot' });
            if (!f.ok) {
              lastView = f.view;
              return { phase: 'prepare', reason: `could not label the blue slot: ${f.reason}` };
            }
          }
          await this.patch(svc.metadata.name, { spec: { selector: { [SLOT_LABEL]: 'blue' } } }, 'service', 'merge');
          svc = (await this.k.find('service', svc.metadata.name, this.signal))!;
          liveD.spec.template = (await this.getDeployment(liveSlot.name)).spec.template;
          return undefined;
        },
      },
      {
        record: { outcome: 'running' },
        run: async (ctx) => {
          ctx.undo({
            what: `scale ${idle.name} down`,
            // The Service never moved (or moved back): traffic is on the previous version either way.
            optional: true,
            run: () =>
              this.withOwnSignal(120_000 + (this.o.endpointsTimeoutMs ?? 60_000), async () => {
                if (bgr.switched) {
                  // The failed slot stops only once the endpoints list the previous pods again.
                  if (!bgr.switchedBack || switchedBackAt === undefined) return;
                  await this.drain(switchedBackAt, idle.name);
                  await this.scale(idle.name, 0).catch((err) => this.warn(`could not scale ${idle.name} down: ${errorMessage(err)}`));
                  return;
                }
                try {
                  if (createdIdle) await this.deleteDeployment(idle.name);
                  else await this.scale(idle.name, 0);
                  this.note(`${createdIdle ? 'deleted' : 'scaled to 0'} ${idle.name}; the Service still sends traffic to ${liveSlot.name}`);
                } catch (err) {
                  this.warn(
                    `could not clean up ${idle.name}: ${errorMessage(err)} (the Service still sends traffic to ${liveSlot.name}; scale ${idle.name} to 0 by hand)`,
                  );
                  throw new UserError(`${idle.name} could not be scaled down`);
                }
              }),
          });
          // The idle slot gets the live slot's current template (so every label the Service selects
          // on is there), with the new image, version and slot, and the live replica count.
          const tpl = this.idleTemplate(liveD, idle, version, c.name, req.image);
          template = tpl;
          const idleD = await this.k.find('deployment', idle.name, this.signal);
          if (!idleD) {
            if (idle !== green) throw new UserError(`Deployment ${idle.name} (the blue slot) is missing`);
            const manifest = this.derive(liveD, green.name, { [SLOT_LABEL]: 'green' }, { [VERSION_LABEL]: version }, c.name, req.image, r.replicas, cause);
            manifest.spec.template = tpl;
            await this.write(['apply', '-f', '-'], JSON.stringify(manifest));
            createdIdle = true;
            this.note(`created Deployment ${green.name} with ${r.replicas} replica(s) of ${req.image}`);
          } else {
            const sel = idleD.spec?.selector?.matchLabels ?? {};
            const clash = Object.entries(sel as Record<string, string>).find(([k2, v]) => tpl.metadata.labels[k2] !== v);
            if (clash)
              throw new UserError(
                `Deployment ${idle.name} selects ${clash[0]}=${clash[1]}, which the pods of ${liveSlot.name} do not carry (${tpl.metadata.labels[clash[0]] ?? 'absent'}); delete ${idle.name} so that it is created again from ${liveSlot.name}`,
              );
            await this.patch(idle.name, { metadata: { annotations: { [CHANGE_CAUSE]: cause, [KEEP_UNTIL_ANNOTATION]: null } } }, 'deployment', 'merge');
            await this.write([
              'patch',
              'deployment',
              idle.name,
              '--type',
              'json',
              '-p',
              JSON.stringify([
                { op: 'replace', path: '/spec/template', value: tpl },
                { op: 'replace', path: '/spec/replicas', value: r.replicas },
                { op: 'add', path: '/spec/paused', value: false },
              ]),
            ]);
            this.note(`Deployment ${idle.name}: ${r.replicas} replica(s) of ${req.image}, template from ${liveSlot.name}`);
          }
          const f = await this.follow(idle.name, { container: c.name, deadlineMs, what: `${idle.slot} slot` });
          if (!f.ok) {
            lastView = f.view;
            return { phase: 'rollout', reason: f.reason };
          }
          view = f.view;
          bgStep.available = f.view.newAvailable;
          r.pods = f.view.pods.filter((p) => p.isNew).map((p) => this.podRecord(p, version, idle.name));
          r.revision = f.view.revision;
          return undefined;
        },
      },
      {
        record: bgStep,
        run: async (ctx) => {
          // The Service, once switched, must select the new pods: checked before it moves.
          const next = { ...svc.spec.selector, [SLOT_LABEL]: idle.slot } as Record<string, string>;
          const missing = Object.entries(next).filter(([k2, v]) => template!.metadata.labels[k2] !== v);
          if (missing.length)
            return {
              phase: 'switch',
              reason: `Service ${svc.metadata.name} would select ${missing.map(([k2, v]) => `${k2}=${v}`).join(', ')}, which the pods of ${idle.name} do not carry: it would have no endpoints; not switched`,
            };
          // Switch.
          await this.patch(svc.metadata.name, { spec: { selector: { [SLOT_LABEL]: idle.slot } } }, 'service', 'merge');
          bgr.switched = true;
          ctx.undo({
            what: `switch Service ${svc.metadata.name} back to ${liveSlot.name}`,
            run: () =>
              this.withOwnSignal(120_000 + (this.o.endpointsTimeoutMs ?? 60_000), async () => {
                const service = svc.metadata.name;
                try {
                  await this.patch(service, { spec: { selector: { [SLOT_LABEL]: liveSlot.slot } } }, 'service', 'merge');
                  const s = await this.k.find('service', service, this.signal);
                  bgr.switchedBack = s?.spec?.selector?.[SLOT_LABEL] === liveSlot.slot;
                } catch (err) {
                  this.warn(`switch back failed: ${errorMessage(err)}`);
                }
                if (!bgr.switchedBack) throw new UserError(`the switch back to ${liveSlot.name} failed: Service ${service} may still select ${idle.name}`);
                this.note(`switched Service ${service} back to ${liveSlot.name}`);
                const eps = await this.waitEndpoints(service, liveSlot.name, c.name).catch((err) => ({ ok: false as const, reason: errorMessage(err) }));
                if (!eps.ok) this.warn(`after the switch back: ${eps.reason}; ${idle.name} is left running`);
                else switchedBackAt = eps.at;
              }),
          });
          const after = await this.k.find('service', svc.metadata.name, this.signal);
          if (after?.spec?.selector?.[SLOT_LABEL] !== idle.slot)
            return { phase: 'switch', reason: `Service ${svc.metadata.name} selector did not change (it reads ${JSON.stringify(after?.spec?.selector)})` };
          svcAfter = after;
          this.note(
            `switched Service ${svc.metadata.name}: ${selectorString({ matchLabels: selectorBefore })} → ${selectorString({ matchLabels: after.spec.selector })}`,
          );
          // Done only when the Service's endpoints are exactly the new Ready pods.
          const eps = await this.waitEndpoints(svc.metadata.name, idle.name, c.name);
          if (!eps.ok) return { phase: 'switch', reason: eps.reason };
          switchedAt = eps.at;
          bgStep.endedAt = Date.now();
          this.note(`Service ${svc.metadata.name}: endpoints are the ${eps.pods.length} Ready pod(s) of ${idle.name}`);
          return undefined;
        },
        gate: {
          after: 'the switch',
          context: async (signal): Promise<KubeGateContext> => {
            const oldView = await this.observe(liveSlot.name, c.name, true);
            const after = svcAfter!;
            return {
              batch: 1,
              totalBatches: 1,
              newInstances: await this.gateInstances(
                view!.pods.filter((p) => p.isNew),
                () => version,
                port,
                { service: svc.metadata.name, servicePort: after.spec.ports?.[0]?.port },
              ),
              oldInstances: await this.gateInstances(oldView.pods, () => r.previousVersion!, port),
              signal,
              kubernetes: {
                namespace: this.k.namespace,
                deployment: idle.name,
                strategy: 'blue-green',
                newSelector: `${selectorString({ matchLabels: after.spec.selector })}`,
                oldSelector: `${selectorString({ matchLabels: { ...after.spec.selector, [SLOT_LABEL]: liveSlot.slot } })}`,
                versionLabel: VERSION_LABEL,
              },
            };
          },
        },
      },
    ];
    let svcAfter: KubeObject | undefined;
    const x = await executeSteps<KubeFailure>(steps, {
      ...this.executorOptions(req, gate),
      onFailure: (f) => {
        if (bgStep.outcome === 'running') {
          bgStep.outcome = f.phase === 'cancelled' ? 'cancelled' : 'failed';
          bgStep.endedAt ??= Date.now();
        }
        // Any other failure after the first write: undo what was started.
        if ((f.phase as string) === 'target') f.phase = bgr.switched ? 'switch' : 'prepare';
        if (f.phase === 'cancelled' && bgr.switched) f.reason = 'the rollout was cancelled after the switch';
        else if (this.signal.aborted) f.phase = 'cancelled';
        f.lastState = this.lastState(lastView);
        if (bgr.switched) this.log.error(`blue/green: ${f.reason}; switching back to ${liveSlot.name}`);
        else if (f.phase !== 'prepare' || lastView === undefined) this.log.error(`blue/green failed before the switch: ${f.reason}`);
      },
    });
    if (x.status !== 'succeeded') {
      r.failure = x.failure;
      takeUndo(r, x);
      r.status = x.status === 'cancelled' ? 'failed' : x.status;
      r.finalImage = bgr.switched && !bgr.switchedBack ? r.image : r.previousImage;
      return r;
    }
    bgStep.outcome = 'done';
    // Keep the previous slot for instant switch-back.
    const keep = this.o.keepPreviousMs ?? 600_000;
    if (keep === 0) {
      await this.drain(switchedAt, `${liveSlot.name}`);
      await this.scale(liveSlot.name, 0).catch((err) => this.warn(`could not scale ${liveSlot.name} down: ${errorMessage(err)}`));
      this.note(`keep-previous 0: scaled ${liveSlot.name} to 0`);
    } else {
      const until = new Date(Date.now() + keep).toISOString().replace(/\.\d+Z$/, 'Z');
      await this.patch(liveSlot.name, { metadata: { annotations: { [KEEP_UNTIL_ANNOTATION]: until } } }, 'deployment', 'merge').catch((err) =>
        this.warn(`could not annotate ${liveSlot.name}: ${errorMessage(err)}`),
      );
      r.blueGreen.keepUntil = until;
      this.note(`${liveSlot.name} keeps running until ${until} (keep-previous ${formatDuration(keep)}) for an instant switch back`);
    }
    r.status = 'succeeded';
    r.finalImage = req.image;
    return r;
  }

  async liveAndPrevious(): Promise<{ svc: KubeObject; live: Slot; previous: Slot }> {
    await this.connect();
    const name = this.o.deployment!;
    const { blue, green } = this.slots(name);
    const blueD = await this.getDeployment(name);
    const svc = (await this.findService(blueD.spec.template.metadata?.labels ?? {}, true))!;
    const slot = svc.spec.selector?.[SLOT_LABEL];
    if (!slot) throw new UserError(`Service ${svc.metadata.name} does not select by ${SLOT_LABEL}: no blue/green rollout ran here yet`);
    const live = slot === 'green' ? green : blue;
    return { svc, live, previous: live === blue ? green : blue };
  }

  async switchBack(): Promise<{ from: string; to: string; service: string }> {
    const { svc, live, previous } = await this.liveAndPrevious();
    const view = await this.observe(previous.name);
    if (view.replicas === 0 || view.available < view.replicas) {
      throw new UserError(
        `cannot switch back: ${previous.name} has ${view.available} of ${view.replicas} replicas available (keep-previous expired or it was scaled down); deploy the previous image instead`,
      );
    }
    await this.patch(svc.metadata.name, { spec: { selector: { [SLOT_LABEL]: previous.slot } } }, 'service', 'merge');
    this.note(`switched Service ${svc.metadata.name} back: ${live.name} → ${previous.name}`);
    // Done only when the endpoints list exactly the previous slot's Ready pods.
    const eps = await this.waitEndpoints(svc.metadata.name, previous.name, undefined);
    if (!eps.ok) throw new UserError(`switched Service ${svc.metadata.name} back to ${previous.name}, but ${eps.reason}`);
    return { from: live.name, to: previous.name, service: svc.metadata.name };
  }

  async rollbackMode(strategy: KubeStrategy): Promise<KubeRolloutResult> {
    if (!this.o.deployment) throw new InputError('deployment', undefined, 'the Deployment to roll back');
    const name = this.o.deployment;
    const imageOf = (d: KubeObject, container: string) =>
      ((d.spec?.template?.spec?.containers ?? []) as KubeObject[]).find((x) => x.name === container)?.image as string | undefined;
    const versionOf = (d: KubeObject, img: string | undefined) =>
      d.spec?.template?.metadata?.labels?.[VERSION_LABEL] ?? (img ? versionFromImage(img) : 'unknown');
    if (strategy === 'blue-green') {
      const { live, previous } = await this.liveAndPrevious();
      const liveD = await this.getDeployment(live.name);
      const prevD = await this.getDeployment(previous.name);
      const c = this.pickContainer(prevD);
      const r = this.base('blue-green', name, imageOf(prevD, c.name) ?? '', versionOf(prevD, imageOf(prevD, c.name)));
      r.mode = 'rollback';
      r.previousImage = imageOf(liveD, c.name);
      r.previousVersion = versionOf(liveD, r.previousImage);
      r.previousRevision = revisionOf(liveD);
      r.revision = revisionOf(prevD);
      r.replicas = prevD.spec?.replicas ?? 1;
      const sw = await this.switchBack();
      r.blueGreen = { service: sw.service, from: sw.from, to: sw.to, switched: true, switchedBack: false, previousDeployment: sw.from };
      const view = await this.observe(previous.name, c.name);
      r.pods = view.pods.map((p) => this.podRecord(p, r.version, previous.name));
      r.status = 'succeeded';
      r.finalImage = r.image;
      this.warn(`${sw.from} keeps running (scale it down, or deploy again: the next blue/green deploy reuses that slot)`);
      return this.finish(r);
    }
    await this.connect();
    const d = await this.getDeployment(name);
    const c = this.pickContainer(d);
    const rev = revisionOf(d);
    const list = await this.k.json<KubeObject>(['get', 'replicasets', '-l', selectorString(d.spec?.selector)], { signal: this.signal });
    const owned = ((list.items ?? []) as KubeObject[]).filter((rs) =>
      (rs.metadata?.ownerReferences ?? []).some((o: KubeObject) => o.kind === 'Deployment' && o.name === name),
    );
    // The last template recorded as good that is not the current one; `rollout undo` renumbers
    // revisions, so "the highest revision below the current" can be the version that just failed.
    const hashOf = (rs: KubeObject) => rs.metadata?.labels?.['pod-template-hash'] as string | undefined;
    const currentHash = hashOf(owned.find((rs) => revisionOf(rs) === rev) ?? {});
    const good = String(d.metadata?.annotations?.[GOOD_ANNOTATION] ?? '')
      .split(',')
      .filter(Boolean);
    let earlier: KubeObject | undefined;
    for (const h of [...good].reverse()) {
      if (h === currentHash) continue;
      earlier = owned.find((rs) => hashOf(rs) === h);
      if (earlier) break;
    }
    if (!earlier) {
      const failed = new Set(
        String(d.metadata?.annotations?.[FAILED_ANNOTATION] ?? '')
          .split(',')
          .filter(Boolean),
      );
      earlier = owned
        .filter((rs) => (revisionOf(rs) ?? 0) < (rev ?? 0) && !failed.has(hashOf(rs) ?? '') && hashOf(rs) !== currentHash)
        .sort((a, b) => (revisionOf(b) ?? 0) - (revisionOf(a) ?? 0))[0];
      if (earlier)
        this.note(`no earlier revision recorded as good: going back to the highest earlier revision that did not fail (revision ${revisionOf(earlier)})`);
    }
    if (!earlier)
      throw new UserError(
        `rollback: Deployment ${name} has no earlier revision to go back to (revision ${rev ?? '?'}; revisionHistoryLimit may be 0); nothing was changed`,
      );
    const toImage = imageOf(earlier, c.name);
    const r = this.base(strategy === 'canary' ? 'canary' : 'rolling', name, toImage ?? '', versionOf(earlier, toImage));
    r.mode = 'rollback';
    r.previousImage = imageOf(d, c.name);
    r.previousVersion = versionOf(d, r.previousImage);
    r.previousRevision = rev;
    r.replicas = d.spec?.replicas ?? 1;
    await this.canI([
      ['get', 'deployments'],
      ['patch', 'deployments'],
      ['list', 'replicasets'],
      ['list', 'pods'],
      ...(strategy === 'canary' ? ([['delete', 'deployments']] as [string, string][]) : []),
    ]);
    if (strategy === 'canary' && (await this.k.find('deployment', `${name}-canary`, this.signal))) {
      await this.deleteDeployment(`${name}-canary`);
      this.note(`deleted the leftover canary ${name}-canary`);
    }
    this.note(`rollback mode: Deployment ${name} revision ${rev} (${r.previousImage}) → revision ${revisionOf(earlier)} (${toImage})`);
    const u0 = performance.now();
    const undone = await this.undo(name, c.name, earlier.spec?.template, toImage, this.deadlineFor(d));
    r.rollbackMs = performance.now() - u0;
    r.status = undone.ok ? 'succeeded' : 'failed';
    if (!undone.ok) r.failure = { phase: 'rollout', reason: `rollout undo did not complete: ${undone.reason}`, lastState: this.lastState(undone.view) };
    r.revision = undone.view?.revision;
    r.pods = (undone.view?.pods ?? []).map((p) => this.podRecord(p, r.version, undone.view?.newReplicaSet));
    const after = await this.getDeployment(name).catch(() => undefined);
    r.finalImage = after ? imageOf(after, c.name) : undefined;
    return this.finish(r);
  }

  async expirePrevious(now: Date): Promise<string | undefined> {
    const { previous } = await this.liveAndPrevious();
    const d = await this.k.find('deployment', previous.name, this.signal);
    if (!d || (d.spec?.replicas ?? 0) === 0) return undefined;
    const until = d.metadata?.annotations?.[KEEP_UNTIL_ANNOTATION];
    if (until && Date.parse(until) > now.getTime()) {
      this.log.info(`${previous.name} is kept until ${until}`);
      return undefined;
    }
    await this.scale(previous.name, 0);
    this.note(`keep-previous over: scaled ${previous.name} to 0`);
    return previous.name;
  }
}

/** The engine's RolloutResult view of a Kubernetes rollout (pods as instances), for outputs and summaries. */
export function toEngineResult(r: KubeRolloutResult): RolloutResult {
  const rolledBack = r.status === 'rolled-back';
  const instances: InstanceState[] = r.pods.map((p) => ({
    id: p.name,
    url: '',
    batch: r.steps.length,
    from: r.previousVersion,
    to: r.version,
    status: rolledBack
      ? 'rolled-back'
      : r.status === 'succeeded' || r.status === 'unchanged'
        ? p.ready
          ? 'new'
          : 'switching'
        : p.version === r.version
          ? 'rollback-failed'
          : 'old',
    readyMs: p.readyAfterMs,
    error: p.ready ? undefined : p.why,
  }));
  return {
    status: r.status,
    strategy: r.strategy,
    mode: r.mode ?? 'rollout',
    version: r.version,
    previousVersion: r.previousVersion,
    startedAt: r.startedAt,
    durationMs: r.durationMs,
    batches: r.steps.map((s) => ({ batch: s.step, instances: [], startedAt: s.startedAt, endedAt: s.endedAt, outcome: s.outcome, gate: s.gate })),
    instances,
    failure: r.failure
      ? {
          phase:
            r.failure.phase === 'gate'
              ? 'gate'
              : r.failure.phase === 'cancelled'
                ? 'cancelled'
                : r.failure.phase === 'prepare'
                  ? 'prepare'
                  : r.failure.phase === 'rollout'
                    ? 'readiness'
                    : 'target',
          reason: r.failure.reason,
          lastAnswer: r.failure.lastState,
        }
      : undefined,
    finalVersions: { [r.deployment]: r.finalImage ?? 'unknown' },
    rollbackMs: r.rollbackMs,
    warnings: r.warnings,
  };
}
