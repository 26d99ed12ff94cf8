/**
 * kubectl for the Kubernetes target: argument arrays only (src/lib/exec.ts), the user's
 * kubeconfig/context/namespace on every call, state read only as JSON (`-o json`), errors turned
 * into one line (`deployments.apps "web" not found`), transient failures (connection refused,
 * timeouts, 429/5xx from the API server) retried with backoff a bounded number of times.
 *
 * Also the pure part: `assessRollout` reads a Deployment, its ReplicaSets and pods the way
 * `kubectl rollout status` does (observedGeneration, updatedReplicas, availableReplicas, the
 * Progressing condition with ProgressDeadlineExceeded), plus per-pod readiness.
 */
import { exec as defaultExec, lastLines, type Exec, type ExecResult } from '../lib/exec.ts';
import { UserError } from '../lib/errors.ts';
import { sleep } from '../lib/sleep.ts';
import { spawn } from 'node:child_process';

export type KubeObject = Record<string, any>;

export interface KubectlOptions {
  /** kubectl binary. Default `kubectl` (PATH). */
  kubectl?: string;
  /** --kubeconfig (a file path). Default: $KUBECONFIG or ~/.kube/config, as kubectl decides. */
  kubeconfig?: string;
  /** --context. Default: the kubeconfig's current context. */
  context?: string;
  /** Timeout of one kubectl call (ms). Default 60 s. */
  callTimeoutMs?: number;
  /** Attempts for calls that are safe to repeat. Default 3. */
  attempts?: number;
  exec?: Exec;
  env?: NodeJS.ProcessEnv;
}

/** A kubectl call failed; `reason` is the API status reason when the server gave one. */
export class KubectlError extends UserError {
  readonly reason?: string;
  readonly result: ExecResult;
  constructor(message: string, result: ExecResult, reason?: string) {
    super(message);
    this.name = 'KubectlError';
    this.reason = reason;
    this.result = result;
  }
}

const NOISE = /^(E\d{4} |W\d{4} |I\d{4} )/;

/** The one line that says why kubectl failed. */
export function kubectlReason(stderr: string): { message: string; reason?: string } {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !NOISE.test(l));
  const text = lines.join(' | ') || lastLines(stderr, 3);
  const m = /Error from server \((\w+)\): (.*)/.exec(text);
  if (m) return { message: m[2]!.split(' | ')[0]!, reason: m[1] };
  if (/The Deployment "[^"]*" is invalid|is invalid:/.test(text)) return { message: text.replace(/^The /, ''), reason: 'Invalid' };
  return { message: text.replace(/^error: /, '') };
}

export const TRANSIENT =
  /connection refused|was refused|i\/o timeout|timed out|TLS handshake timeout|connection reset|EOF|ServiceUnavailable|InternalError|TooManyRequests|the server is currently unable|etcdserver|context deadline exceeded/i;

export class Kubectl {
  readonly bin: string;
  readonly namespace: string;
  readonly context?: string;
  private readonly opts: KubectlOptions;
  private readonly execFn: Exec;
  /** Every kubectl argument list run (for the log and tests). */
  readonly calls: string[][] = [];

  constructor(opts: KubectlOptions & { namespace: string }) {
    this.opts = opts;
    this.bin = opts.kubectl ?? 'kubectl';
    this.namespace = opts.namespace;
    this.context = opts.context;
    this.execFn = opts.exec ?? defaultExec;
  }

  /** Global flags: kubeconfig, context, namespace. */
  globals(namespaced = true): string[] {
    return [
      ...(this.opts.kubeconfig ? ['--kubeconfig', this.opts.kubeconfig] : []),
      ...(this.opts.context ? ['--context', this.opts.context] : []),
      ...(namespaced ? ['--namespace', this.namespace] : []),
    ];
  }

  /**
   * Runs kubectl with the global flags. `retry`: the call is safe to repeat (reads, patches to a
   * fixed value, apply). Throws KubectlError with the server's one-line reason.
   */
  async run(args: string[], o: { input?: string; signal?: AbortSignal; retry?: boolean; namespaced?: boolean; timeoutMs?: number } = {}): Promise<string> {
    const full = [...this.globals(o.namespaced ?? true), ...args];
    const attempts = o.retry === false ? 1 : (this.opts.attempts ?? 3);
    let last: KubectlError | undefined;
    for (let i = 0; i < attempts; i++) {
      if (i > 0) await sleep(300 * 2 ** (i - 1) + Math.random() * 200, o.signal);
      this.calls.push(full);
      const r = await this.execFn(this.bin, full, {
        input: o.input,
        signal: o.signal,
        timeoutMs: o.timeoutMs ?? this.opts.callTimeoutMs ?? 60_000,
        env: this.opts.env,
      });
      if (r.code === 0) return r.stdout;
      if (o.signal?.aborted) throw o.signal.reason ?? new UserError('cancelled');
      const { message, reason } = r.timedOut ? { message: `kubectl ${args[0]} timed out`, reason: 'Timeout' } : kubectlReason(r.stderr || r.stdout);
      last = new KubectlError(`kubectl ${args.slice(0, 2).join(' ')}: ${message}`, r, reason);
      if (!(r.timedOut || TRANSIENT.test(r.stderr))) break;
    }
    throw last!;
  }

  async json<T = KubeObject>(args: string[], o: { signal?: AbortSignal; namespaced?: boolean } = {}): Promise<T> {
    const out = await this.run([...args, '-o', 'json'], { ...o, retry: true });
    try {
      return JSON.parse(out) as T;
    } catch {
      throw new UserError(`kubectl ${args.slice(0, 2).join(' ')} did not print JSON: ${out.slice(0, 200)}`);
    }
  }

  /**
   * `kubectl proxy` on 127.0.0.1 (a free port): the API server's pod and service proxies reached
   * with the user's credentials, so a gate can talk to pods from outside the cluster network.
   * The caller stops it (kills the process it started, by its pid).
   */
  async proxy(timeoutMs = 15_000): Promise<{ url: string; stop: () => void }> {
    const child = spawn(this.bin, [...this.globals(false), 'proxy', '--port=0', '--address=127.0.0.1'], {
      env: this.opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.calls.push([...this.globals(false), 'proxy', '--port=0', '--address=127.0.0.1']);
    const stop = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    };
    let out = '';
    let err = '';
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new UserError(`kubectl proxy did not start within ${timeoutMs} ms: ${lastLines(err, 3)}`)), timeoutMs);
        child.stdout.on('data', (b: Buffer) => {
          out += b.toString('utf8');
          const m = /Starting to serve on (127\.0\.0\.1:\d+)/.exec(out);
          if (m) {
            clearTimeout(t);
            resolve(`http://${m[1]}`);
          }
        });
        child.stderr.on('data', (b: Buffer) => (err += b.toString('utf8')));
        child.on('error', (e) => {
          clearTimeout(t);
          reject(new UserError(`kubectl proxy: ${e.message}`));
        });
        child.on('exit', (code) => {
          clearTimeout(t);
          reject(new UserError(`kubectl proxy exited with code ${code}: ${kubectlReason(err).message}`));
        });
      });
      return { url, stop };
    } catch (e) {
      stop();
      throw e;
    }
  }

  /** The object, or undefined when the server says NotFound. */
  async find(kind: string, name: string, signal?: AbortSignal): Promise<KubeObject | undefined> {
    try {
      // Deployments with their managedFields: who owns what (a strategy Helm set is the user's).
      return await this.json(['get', kind, name, ...(kind === 'deployment' ? ['--show-managed-fields'] : [])], { signal });
    } catch (err) {
      if (err instanceof KubectlError && err.reason === 'NotFound' && !/namespaces? "/.test(err.message)) return undefined;
      throw err;
    }
  }
}

/** A kubectl failure a later retry may fix (API server unreachable, 5xx, 429, timeouts). */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof KubectlError)) return false;
  return (
    err.reason === 'Timeout' ||
    err.reason === 'ServiceUnavailable' ||
    err.reason === 'InternalError' ||
    err.reason === 'TooManyRequests' ||
    TRANSIENT.test(err.result.stderr) ||
    TRANSIENT.test(err.message)
  );
}

/** Label selector string from a metav1.LabelSelector. */
export function selectorString(sel: KubeObject | undefined): string {
  const parts = Object.entries((sel?.matchLabels ?? {}) as Record<string, string>).map(([k, v]) => `${k}=${v}`);
  for (const e of (sel?.matchExpressions ?? []) as { key: string; operator: string; values?: string[] }[]) {
    if (e.operator === 'In') parts.push(`${e.key} in (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}

export interface PodView {
  name: string;
  hash?: string;
  image: string;
  labels: Record<string, string>;
  ready: boolean;
  /** Ready condition's lastTransitionTime when ready. */
  readyAt?: string;
  createdAt?: string;
  ip?: string;
  restarts: number;
  /** Why it is not ready (a waiting reason, an unschedulable pod's scheduler message, or the Ready condition's message). */
  why?: string;
  isNew: boolean;
  /** Being deleted (deletionTimestamp set): it may still serve, but it is on its way out. */
  terminating: boolean;
}

/** Ready and not terminating: the pods that count (gates, endpoints, readiness). */
export const servingPod = (p: PodView): boolean => p.ready && !p.terminating;

export interface RolloutView {
  name: string;
  generation: number;
  observed: boolean;
  paused: boolean;
  replicas: number;
  updated: number;
  available: number;
  ready: number;
  total: number;
  revision?: number;
  newReplicaSet?: string;
  newHash?: string;
  /** Available pods of the new ReplicaSet, and the replicas the controller asked it for. */
  newAvailable: number;
  newDesired: number;
  complete: boolean;
  /** Set when the Progressing condition says ProgressDeadlineExceeded. */
  deadlineExceeded?: string;
  /** The ReplicaFailure condition's message (a ResourceQuota or admission refused pods). */
  replicaFailure?: string;
  pods: PodView[];
  /** `2 of 3 updated, 1 available` — what a person reads in the log. */
  message: string;
}

export function revisionOf(o: KubeObject | undefined): number | undefined {
  const r = o?.metadata?.annotations?.['deployment.kubernetes.io/revision'];
  return r === undefined ? undefined : Number(r);
}

function podView(p: KubeObject, newHash: string | undefined, container: string | undefined): PodView {
  const conds: any[] = p.status?.conditions ?? [];
  const ready = conds.find((c) => c.type === 'Ready');
  const statuses: any[] = p.status?.containerStatuses ?? [];
  const waiting = statuses.map((s) => s.state?.waiting?.reason).find(Boolean);
  const unscheduled = conds.find((c) => c.type === 'PodScheduled' && c.status === 'False');
  const containers: any[] = p.spec?.containers ?? [];
  const c = containers.find((x) => x.name === container) ?? containers[0];
  const hash = p.metadata?.labels?.['pod-template-hash'];
  return {
    name: p.metadata?.name,
    hash,
    image: c?.image ?? '',
    labels: p.metadata?.labels ?? {},
    ready: ready?.status === 'True',
    readyAt: ready?.status === 'True' ? ready.lastTransitionTime : undefined,
    createdAt: p.metadata?.creationTimestamp,
    ip: p.status?.podIP,
    restarts: statuses.reduce((n, s) => n + (s.restartCount ?? 0), 0),
    why:
      ready?.status === 'True'
        ? undefined
        : unscheduled
          ? `unschedulable: ${unscheduled.message ?? unscheduled.reason}`
          : (waiting ?? ready?.message ?? p.status?.phase),
    isNew: !!newHash && hash === newHash,
    terminating: !!p.metadata?.deletionTimestamp,
  };
}

/**
 * Reads a Deployment's rollout like `kubectl rollout status`: complete when the controller saw
 * the latest generation, every replica is updated and available and no old replica is left.
 */
export function assessRollout(deploy: KubeObject, replicaSets: KubeObject[], pods: KubeObject[], container?: string): RolloutView {
  const uid = deploy.metadata?.uid;
  const generation = deploy.metadata?.generation ?? 0;
  const st = deploy.status ?? {};
  const observed = (st.observedGeneration ?? 0) >= generation;
  const replicas = deploy.spec?.replicas ?? 1;
  const owned = replicaSets.filter((r) => (r.metadata?.ownerReferences ?? []).some((o: any) => o.uid === uid && o.controller));
  const revision = revisionOf(deploy);
  const newRS = observed && revision !== undefined ? owned.find((r) => revisionOf(r) === revision) : undefined;
  const newHash = newRS?.metadata?.labels?.['pod-template-hash'];
  const ownedNames = new Set(owned.map((r) => r.metadata?.name));
  const mine = pods.filter((p) => (p.metadata?.ownerReferences ?? []).some((o: any) => ownedNames.has(o.name) && o.kind === 'ReplicaSet'));
  const views = mine.map((p) => podView(p, newHash, container)).sort((a, b) => Number(b.isNew) - Number(a.isNew) || a.name.localeCompare(b.name));
  const updated = st.updatedReplicas ?? 0;
  const available = st.availableReplicas ?? 0;
  const total = st.replicas ?? 0;
  const progressing = (st.conditions ?? []).find((c: any) => c.type === 'Progressing');
  const deadlineExceeded = progressing?.reason === 'ProgressDeadlineExceeded' ? `${progressing.message ?? 'progress deadline exceeded'}` : undefined;
  const failureCond = (st.conditions ?? []).find((c: any) => c.type === 'ReplicaFailure' && c.status === 'True');
  const replicaFailure = failureCond ? `${failureCond.reason ?? 'ReplicaFailure'}: ${failureCond.message ?? ''}`.trim() : undefined;
  // Without the ReplicaSets (a status-only poll) the Deployment status alone decides.
  const complete =
    observed &&
    updated >= replicas &&
    total <= updated &&
    available >= updated &&
    (replicaSets.length === 0 || (newRS?.status?.availableReplicas ?? 0) >= replicas);
  let message: string;
  if (!observed) message = 'waiting for the deployment controller to see the change';
  else if (updated < replicas) message = `${updated} of ${replicas} updated, ${available} available`;
  else if (total > updated) message = `${total - updated} old replica(s) pending termination`;
  else if (available < updated) message = `${available} of ${updated} updated replicas available`;
  else message = `${replicas} of ${replicas} updated and available`;
  if (deploy.spec?.paused) message += ' (paused)';
  return {
    name: deploy.metadata?.name,
    generation,
    observed,
    paused: !!deploy.spec?.paused,
    replicas,
    updated,
    available,
    ready: st.readyReplicas ?? 0,
    total,
    revision,
    newReplicaSet: newRS?.metadata?.name,
    newHash,
    newAvailable: newRS?.status?.availableReplicas ?? 0,
    newDesired: newRS?.spec?.replicas ?? 0,
    complete,
    deadlineExceeded,
    replicaFailure,
    pods: views,
    message,
  };
}
