/**
 * The fake cluster's state and its controllers: an object store (namespaces, Deployments,
 * ReplicaSets, Pods, Services) with API-server semantics (defaults, generation, resourceVersion,
 * schema validation against the Kubernetes OpenAPI definitions shipped by `kubernetes-models`,
 * 422 Status on invalid objects), plus a deployment controller, a ReplicaSet controller and a
 * "kubelet" that move pods to Running and Ready over time ticks.
 *
 * The deployment controller follows kube-controller-manager's rolling-update arithmetic
 * (maxSurge rounds up, maxUnavailable rounds down, both 0 → maxUnavailable 1; scale the new
 * ReplicaSet up to replicas+maxSurge, scale old ones down while available ≥ replicas −
 * maxUnavailable), one ReplicaSet per pod-template hash with `deployment.kubernetes.io/revision`
 * (an old template coming back gets the next revision, which is how `kubectl rollout undo`
 * works), pause (no new ReplicaSet, no scaling of the rollout), Recreate, and the Progressing
 * condition with `ProgressDeadlineExceeded` once no progress happened for progressDeadlineSeconds.
 *
 * Pods whose image matches `badImage` (default: contains "bad") start but never become ready.
 *
 * What clusters do that a deploy tool must survive, modelled too:
 * - EndpointSlices (discovery.k8s.io/v1), kept by an endpoint controller from the pods matching
 *   each Service's selector: an endpoint is `ready` only while its pod is Ready and not
 *   terminating; a terminating pod stays `serving` (its Ready condition) and `terminating`.
 *   `endpointHistory` records every Service's ready-endpoint count after each change (a test
 *   reads it to prove a Service was never left without endpoints).
 * - Graceful termination: a pod the ReplicaSet controller removes (or a DELETE) gets a
 *   deletionTimestamp and stays Terminating for terminationGracePeriodSeconds (×
 *   `graceMsPerSecond`), serving, out of the ReplicaSet's counts, then goes away.
 * - minReadySeconds: a pod counts as available once Ready that long.
 * - ResourceQuota (`spec.hard.pods`): the ReplicaSet controller's pod creation is refused
 *   beyond it, and the ReplicaSet and Deployment get a ReplicaFailure condition (FailedCreate).
 * - Scheduling on one node of `nodeCpuMillis`: a pod whose CPU requests do not fit beside the
 *   pods already there stays Pending with PodScheduled=False (Unschedulable, "0/1 nodes are
 *   available: 1 Insufficient cpu."), and is scheduled once room is free.
 * - HorizontalPodAutoscalers (autoscaling/v2) are stored and validated; with
 *   `hpaDesiredReplicas` set, one scales its target Deployment to that count on every tick.
 * - Real processes (opt-in, off by default): with `runtime` set (fake-kube/kubelet.ts), each pod's
 *   containers run as processes on this machine; the pod is Running once they started, Ready only
 *   while its readinessProbe really answers, and a terminating pod goes away once they exited
 *   (SIGTERM, then SIGKILL after the grace period). Without it pods run nothing and become ready
 *   on a timer (`podReadyMs`; `badImage` never).
 * Deliberately left out: events, watches of anything but a single object.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Deployment as DeploymentModel } from 'kubernetes-models/apps/v1/Deployment';
import { ReplicaSet as ReplicaSetModel } from 'kubernetes-models/apps/v1/ReplicaSet';
import { Pod as PodModel } from 'kubernetes-models/v1/Pod';
import { Service as ServiceModel } from 'kubernetes-models/v1/Service';
import { Namespace as NamespaceModel } from 'kubernetes-models/v1/Namespace';
import { ResourceQuota as ResourceQuotaModel } from 'kubernetes-models/v1/ResourceQuota';
import { EndpointSlice as EndpointSliceModel } from 'kubernetes-models/discovery.k8s.io/v1/EndpointSlice';
import { HorizontalPodAutoscaler as HpaModel } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Lease as LeaseModel } from 'kubernetes-models/coordination.k8s.io/v1/Lease';
import { ConfigMap as ConfigMapModel } from 'kubernetes-models/v1/ConfigMap';
import { Secret as SecretModel } from 'kubernetes-models/v1/Secret';
import { matchesRequirements, selectorRequirements, type Requirement } from './patch.ts';

export type K8sObject = Record<string, any>;

export type Resource = 'namespaces' | 'deployments' | 'replicasets' | 'pods' | 'services' | 'endpointslices' | 'horizontalpodautoscalers' | 'resourcequotas' | 'leases' | 'configmaps' | 'secrets';

export interface ResourceInfo {
  resource: Resource;
  kind: string;
  group: string;
  version: string;
  namespaced: boolean;
  singular: string;
  shortNames: string[];
  validate: (obj: K8sObject) => void;
}

const validator = (Model: new (o: any) => { validate(): void }) => (obj: K8sObject) => new Model(obj).validate();

export const RESOURCES: Record<Resource, ResourceInfo> = {
  namespaces: { resource: 'namespaces', kind: 'Namespace', group: '', version: 'v1', namespaced: false, singular: 'namespace', shortNames: ['ns'], validate: validator(NamespaceModel) },
  pods: { resource: 'pods', kind: 'Pod', group: '', version: 'v1', namespaced: true, singular: 'pod', shortNames: ['po'], validate: validator(PodModel) },
  services: { resource: 'services', kind: 'Service', group: '', version: 'v1', namespaced: true, singular: 'service', shortNames: ['svc'], validate: validator(ServiceModel) },
  deployments: { resource: 'deployments', kind: 'Deployment', group: 'apps', version: 'v1', namespaced: true, singular: 'deployment', shortNames: ['deploy'], validate: validator(DeploymentModel) },
  replicasets: { resource: 'replicasets', kind: 'ReplicaSet', group: 'apps', version: 'v1', namespaced: true, singular: 'replicaset', shortNames: ['rs'], validate: validator(ReplicaSetModel) },
  endpointslices: { resource: 'endpointslices', kind: 'EndpointSlice', group: 'discovery.k8s.io', version: 'v1', namespaced: true, singular: 'endpointslice', shortNames: [], validate: validator(EndpointSliceModel) },
  horizontalpodautoscalers: { resource: 'horizontalpodautoscalers', kind: 'HorizontalPodAutoscaler', group: 'autoscaling', version: 'v2', namespaced: true, singular: 'horizontalpodautoscaler', shortNames: ['hpa'], validate: validator(HpaModel) },
  resourcequotas: { resource: 'resourcequotas', kind: 'ResourceQuota', group: '', version: 'v1', namespaced: true, singular: 'resourcequota', shortNames: ['quota'], validate: validator(ResourceQuotaModel) },
  // Plain stored objects with the API server's optimistic concurrency (the deploy lock's Lease, the
  // audit ConfigMap): create of an existing name is 409 AlreadyExists, a PUT carrying a stale
  // metadata.resourceVersion is 409 Conflict, a PUT without one is an unconditional update.
  leases: { resource: 'leases', kind: 'Lease', group: 'coordination.k8s.io', version: 'v1', namespaced: true, singular: 'lease', shortNames: [], validate: validator(LeaseModel) },
  configmaps: { resource: 'configmaps', kind: 'ConfigMap', group: '', version: 'v1', namespaced: true, singular: 'configmap', shortNames: ['cm'], validate: validator(ConfigMapModel) },
  // Stored as given (data base64), read by the kubelet for env valueFrom.secretKeyRef.
  secrets: { resource: 'secrets', kind: 'Secret', group: '', version: 'v1', namespaced: true, singular: 'secret', shortNames: [], validate: validator(SecretModel) },
};

export const apiVersionOf = (info: ResourceInfo) => (info.group ? `${info.group}/${info.version}` : info.version);

/** An error answered as a metav1.Status. */
export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details?: K8sObject;
  constructor(code: number, reason: string, message: string, details?: K8sObject) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }
  status(): K8sObject {
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: this.message, reason: this.reason, ...(this.details ? { details: this.details } : {}), code: this.code };
  }
}

const qualified = (info: ResourceInfo) => (info.group ? `${info.resource}.${info.group}` : info.resource);
export const notFound = (info: ResourceInfo, name: string) =>
  new ApiError(404, 'NotFound', `${qualified(info)} "${name}" not found`, { name, group: info.group || undefined, kind: info.resource });

function invalid(info: ResourceInfo, name: string, causes: { field: string; message: string }[]): ApiError {
  const kindGroup = info.group ? `${info.kind}.${info.group}` : info.kind;
  const text = causes.map((c) => `${c.field}: ${c.message}`).join(', ');
  return new ApiError(422, 'Invalid', `${kindGroup} "${name}" is invalid: ${causes.length > 1 ? `[${text}]` : text}`, {
    name,
    group: info.group || undefined,
    kind: info.kind,
    causes: causes.map((c) => ({ reason: 'FieldValueInvalid', message: c.message, field: c.field })),
  });
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const LABEL_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

function labelCauses(field: string, labels: unknown): { field: string; message: string }[] {
  const out: { field: string; message: string }[] = [];
  if (!labels || typeof labels !== 'object') return out;
  for (const [k, v] of Object.entries(labels as Record<string, unknown>)) {
    if (!LABEL_NAME.test(k) || k.split('/').at(-1)!.length > 63) out.push({ field, message: `Invalid value: ${JSON.stringify(k)}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character` });
    if (typeof v !== 'string' || v.length > 63 || !LABEL_VALUE.test(v)) out.push({ field, message: `Invalid value: ${JSON.stringify(v)}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345'), and at most 63 characters` });
  }
  return out;
}

/** Schema validation (OpenAPI definitions from kubernetes-models) plus the API server's own checks. */
export function validateObject(info: ResourceInfo, obj: K8sObject, old?: K8sObject): void {
  const name = String(obj.metadata?.name ?? '');
  const causes: { field: string; message: string }[] = [];
  try {
    info.validate(obj);
  } catch (err: any) {
    for (const e of (err?.errors ?? [{ instancePath: '', message: String(err?.message ?? err) }]) as { instancePath: string; message?: string; params?: any }[]) {
      const field = e.instancePath.replace(/^\//, '').replace(/\/(\d+)(?=\/|$)/g, '[$1]').replace(/\//g, '.') || '<root>';
      causes.push({ field, message: `Invalid value: ${e.message ?? 'invalid'}${e.params?.missingProperty ? ` (${e.params.missingProperty})` : ''}` });
    }
  }
  if (!name) causes.push({ field: 'metadata.name', message: 'Required value: name or generateName is required' });
  else if (name.length > 253 || !(info.resource === 'namespaces' || info.resource === 'services' ? DNS1123_LABEL : DNS1123_SUBDOMAIN).test(name)) {
    causes.push({ field: 'metadata.name', message: `Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 ${info.resource === 'namespaces' || info.resource === 'services' ? 'label' : 'subdomain'} must consist of lower case alphanumeric characters, '-' or '.'` });
  }
  causes.push(...labelCauses('metadata.labels', obj.metadata?.labels));
  if (info.resource === 'deployments' || info.resource === 'replicasets') {
    const sel = obj.spec?.selector;
    const tl = obj.spec?.template?.metadata?.labels;
    causes.push(...labelCauses('spec.template.metadata.labels', tl));
    if (!sel || (!Object.keys(sel.matchLabels ?? {}).length && !(sel.matchExpressions ?? []).length)) causes.push({ field: 'spec.selector', message: 'Required value' });
    else if (!matchesRequirements(tl, selectorRequirements(sel))) {
      causes.push({ field: 'spec.template.metadata.labels', message: `Invalid value: ${JSON.stringify(tl ?? {})}: \`selector\` does not match template \`labels\`` });
    }
    if (typeof obj.spec?.replicas === 'number' && obj.spec.replicas < 0) causes.push({ field: 'spec.replicas', message: `Invalid value: ${obj.spec.replicas}: must be greater than or equal to 0` });
    if (old && JSON.stringify(old.spec?.selector) !== JSON.stringify(sel)) causes.push({ field: 'spec.selector', message: `Invalid value: ${JSON.stringify(sel)}: field is immutable` });
    const containers = obj.spec?.template?.spec?.containers;
    if (Array.isArray(containers)) {
      containers.forEach((c: any, i: number) => {
        if (!c?.image) causes.push({ field: `spec.template.spec.containers[${i}].image`, message: 'Required value' });
      });
      if (containers.length === 0) causes.push({ field: 'spec.template.spec.containers', message: 'Required value' });
    }
  }
  if (info.resource === 'deployments') {
    const st = obj.spec?.strategy;
    if (st?.type === 'Recreate' && st.rollingUpdate) causes.push({ field: 'spec.strategy.rollingUpdate', message: "Forbidden: may not be specified when strategy `type` is 'Recreate'" });
    if (st?.type === 'RollingUpdate' && st.rollingUpdate) {
      const s = st.rollingUpdate.maxSurge;
      const u = st.rollingUpdate.maxUnavailable;
      if ((s === 0 || s === '0%') && (u === 0 || u === '0%')) causes.push({ field: 'spec.strategy.rollingUpdate.maxUnavailable', message: 'Invalid value: 0: may not be 0 when `maxSurge` is 0' });
    }
    const pds = obj.spec?.progressDeadlineSeconds;
    if (typeof pds === 'number' && typeof obj.spec?.minReadySeconds === 'number' && pds <= obj.spec.minReadySeconds) causes.push({ field: 'spec.progressDeadlineSeconds', message: 'Invalid value: must be greater than minReadySeconds' });
  }
  if (info.resource === 'services') causes.push(...labelCauses('spec.selector', obj.spec?.selector));
  if (causes.length) throw invalid(info, name, causes);
}

const HASH_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
function safeEncode(bytes: Buffer, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += HASH_ALPHABET[bytes[i]! % HASH_ALPHABET.length];
  return s;
}
const randomSuffix = (n = 5) => safeEncode(createHash('sha256').update(randomUUID()).digest(), n);

function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stable((v as any)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

/** pod-template-hash: the template without that label, hashed and safe-encoded like the controller does. */
export function templateHash(template: K8sObject): string {
  const t = structuredClone(template);
  if (t.metadata?.labels) delete t.metadata.labels['pod-template-hash'];
  return safeEncode(createHash('sha256').update(stable(t)).digest(), 10);
}

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

function defaultPodSpec(spec: K8sObject | undefined) {
  if (!spec) return;
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.securityContext ??= {};
  spec.schedulerName ??= 'default-scheduler';
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    if (!c || typeof c !== 'object') continue;
    c.terminationMessagePath ??= '/dev/termination-log';
    c.terminationMessagePolicy ??= 'File';
    c.resources ??= {};
    if (typeof c.image === 'string') c.imagePullPolicy ??= /:latest$/.test(c.image) || !/[:@]/.test(c.image.split('/').at(-1)!) ? 'Always' : 'IfNotPresent';
    for (const p of c.ports ?? []) p.protocol ??= 'TCP';
  }
}

/** The API server's defaulting for the kinds the fake stores. */
export function applyDefaults(resource: Resource, obj: K8sObject) {
  obj.metadata ??= {};
  if (resource === 'deployments' || resource === 'replicasets') {
    obj.spec ??= {};
    obj.spec.replicas ??= 1;
    if (resource === 'deployments') {
      obj.spec.strategy ??= { type: 'RollingUpdate' };
      obj.spec.strategy.type ??= 'RollingUpdate';
      if (obj.spec.strategy.type === 'RollingUpdate') {
        obj.spec.strategy.rollingUpdate ??= {};
        obj.spec.strategy.rollingUpdate.maxUnavailable ??= '25%';
        obj.spec.strategy.rollingUpdate.maxSurge ??= '25%';
      }
      obj.spec.revisionHistoryLimit ??= 10;
      obj.spec.progressDeadlineSeconds ??= 600;
    }
    defaultPodSpec(obj.spec.template?.spec);
  }
  if (resource === 'pods') defaultPodSpec(obj.spec);
  if (resource === 'services') {
    obj.spec ??= {};
    obj.spec.type ??= 'ClusterIP';
    obj.spec.sessionAffinity ??= 'None';
    for (const p of obj.spec.ports ?? []) {
      p.protocol ??= 'TCP';
      p.targetPort ??= p.port;
    }
  }
}

export interface FakeClusterOptions {
  /** Controller tick (ms). Default 50. */
  tickMs?: number;
  /** Time from pod creation to Running (ms). Default 50. */
  podStartMs?: number;
  /** Time from pod creation to Ready (ms). Default 250. */
  podReadyMs?: number;
  /** Pods whose image matches never become ready. Default /bad/. */
  badImage?: RegExp;
  /** Namespaces that exist at start (besides default and kube-system). */
  namespaces?: string[];
  /** Real milliseconds per second of terminationGracePeriodSeconds. Default 1000 (real time). */
  graceMsPerSecond?: number;
  /** Real milliseconds per second of minReadySeconds. Default 1000. */
  minReadyMsPerSecond?: number;
  /** CPU of the one node (millicores); pods requesting more stay Pending (Unschedulable). Default 4000. */
  nodeCpuMillis?: number;
  /** When set, every HPA scales its target Deployment to this many replicas each tick. */
  hpaDesiredReplicas?: number;
}

interface DeployMemory {
  lastProgressAt: number;
  signature: string;
  resumedAt?: number;
}

interface PodMemory {
  createdAt: number;
  /** When the pod became Ready (for minReadySeconds). */
  readyAt?: number;
  /** When a terminating pod goes away. */
  goneAt?: number;
  /** Requests more than the node has: stays Pending. */
  unschedulable?: boolean;
}

/**
 * What runs a pod's containers when the fake's kubelet is backed by real processes
 * (fake-kube/kubelet.ts). The cluster asks it on every tick; it never blocks.
 */
export interface PodRuntime {
  /** A scheduled pod that is not terminating: starts it if new; its IP once it has one, whether its containers run, the readiness probe's last answer. */
  sync(pod: K8sObject): { podIP?: string; running: boolean; ready: boolean };
  /** The pod got its deletionTimestamp: SIGTERM now, SIGKILL once graceMs passed. */
  terminate(pod: K8sObject, graceMs: number): void;
  /** Whether every process of the pod has exited (the pod object then goes away). */
  exited(pod: K8sObject): boolean;
  /** The pod object is gone: kill what is left. */
  remove(pod: K8sObject): void;
}

const podCpu = (p: K8sObject) => ((p.spec?.containers ?? []) as any[]).reduce((n: number, c: any) => n + cpuMillis(c?.resources?.requests?.cpu), 0);

/** `500m` → 500, `2` → 2000. */
function cpuMillis(v: unknown): number {
  if (v === undefined || v === null) return 0;
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(String(v));
  if (!m) return 0;
  return m[2] ? Number(m[1]) : Number(m[1]) * 1000;
}

export class FakeCluster {
  readonly opts: Required<FakeClusterOptions>;
  private readonly store = new Map<string, K8sObject>();
  private rv = 1000;
  private ipCounter = 10;
  private clusterIpCounter = 10;
  private readonly deployMem = new Map<string, DeployMemory>();
  private readonly podMem = new Map<string, PodMemory>();
  private timer?: NodeJS.Timeout;
  /** Real processes behind the pods (fake-kube/kubelet.ts); undefined: pods run nothing (the default). */
  runtime?: PodRuntime;
  /**
   * While set, a pod that is not Ready becomes Ready only once this returns true for it (checked on
   * every tick, besides the usual timer or probe): a test holds pods until something it can observe
   * happened, instead of racing a time. Pods already Ready are not affected.
   */
  readyGate?: (pod: K8sObject) => boolean;
  /** Called after every change (for watches). */
  onChange?: (resource: Resource, type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: K8sObject) => void;

  constructor(opts: FakeClusterOptions = {}) {
    this.opts = { tickMs: 50, podStartMs: 50, podReadyMs: 250, badImage: /bad/, namespaces: [], graceMsPerSecond: 1000, minReadyMsPerSecond: 1000, nodeCpuMillis: 4000, hpaDesiredReplicas: undefined as unknown as number, ...opts };
    for (const ns of ['default', 'kube-system', ...this.opts.namespaces]) this.create('namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  }

  start() {
    this.timer ??= setInterval(() => this.tick(), this.opts.tickMs);
    this.timer.unref();
  }
  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private key(resource: Resource, ns: string | undefined, name: string) {
    return `${resource}/${ns ?? ''}/${name}`;
  }

  nextResourceVersion(): string {
    return String(++this.rv);
  }

  get(resource: Resource, ns: string | undefined, name: string): K8sObject {
    const info = RESOURCES[resource];
    if (info.namespaced) this.requireNamespace(ns!, false, info, name);
    const o = this.store.get(this.key(resource, ns, name));
    if (!o) throw notFound(info, name);
    return structuredClone(o);
  }

  tryGet(resource: Resource, ns: string | undefined, name: string): K8sObject | undefined {
    const o = this.store.get(this.key(resource, ns, name));
    return o ? structuredClone(o) : undefined;
  }

  list(resource: Resource, ns: string | undefined, reqs: Requirement[] = [], fieldName?: string): K8sObject[] {
    const out: K8sObject[] = [];
    for (const [k, o] of this.store) {
      if (!k.startsWith(`${resource}/`)) continue;
      if (ns !== undefined && RESOURCES[resource].namespaced && o.metadata.namespace !== ns) continue;
      if (fieldName !== undefined && o.metadata.name !== fieldName) continue;
      if (!matchesRequirements(o.metadata.labels, reqs)) continue;
      out.push(structuredClone(o));
    }
    return out.sort((a, b) => String(a.metadata.name).localeCompare(String(b.metadata.name)));
  }

  private requireNamespace(ns: string, forCreate: boolean, info: ResourceInfo, name: string) {
    if (this.store.has(this.key('namespaces', undefined, ns))) return;
    if (forCreate) throw new ApiError(404, 'NotFound', `namespaces "${ns}" not found`, { name: ns, kind: 'namespaces' });
    throw notFound(info, name);
  }

  /** Create (POST). Validates, defaults, assigns uid/resourceVersion/generation. */
  create(resource: Resource, ns: string | undefined, body: K8sObject, opts: { dryRun?: boolean; system?: boolean } = {}): K8sObject {
    const info = RESOURCES[resource];
    const obj = structuredClone(body);
    obj.apiVersion = apiVersionOf(info);
    obj.kind = info.kind;
    obj.metadata ??= {};
    if (!obj.metadata.name && obj.metadata.generateName) obj.metadata.name = `${obj.metadata.generateName}${randomSuffix()}`;
    const name = String(obj.metadata.name ?? '');
    if (info.namespaced) {
      if (obj.metadata.namespace && obj.metadata.namespace !== ns) {
        throw new ApiError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
      }
      obj.metadata.namespace = ns;
      this.requireNamespace(ns!, true, info, name);
    }
    applyDefaults(resource, obj);
    validateObject(info, obj);
    if (this.store.has(this.key(resource, ns, name))) {
      throw new ApiError(409, 'AlreadyExists', `${qualified(info)} "${name}" already exists`, { name, group: info.group || undefined, kind: info.resource });
    }
    delete obj.status;
    obj.metadata.uid = randomUUID();
    obj.metadata.creationTimestamp = now();
    obj.metadata.resourceVersion = this.nextResourceVersion();
    if (resource === 'deployments' || resource === 'replicasets') obj.metadata.generation = 1;
    if (resource === 'deployments') obj.status = {};
    if (resource === 'replicasets') obj.status = { replicas: 0 };
    if (resource === 'namespaces') {
      obj.spec = { finalizers: ['kubernetes'] };
      obj.status = { phase: 'Active' };
      obj.metadata.labels = { ...obj.metadata.labels, 'kubernetes.io/metadata.name': name };
    }
    if (resource === 'services') {
      obj.spec.clusterIP ??= `10.96.0.${this.clusterIpCounter++}`;
      obj.spec.clusterIPs = [obj.spec.clusterIP];
      obj.status = { loadBalancer: {} };
    }
    if (resource === 'pods') {
      const fits = this.cpuUsed() + podCpu(obj) <= this.opts.nodeCpuMillis;
      this.podMem.set(obj.metadata.uid, { createdAt: performance.now(), ...(fits ? {} : { unschedulable: true }) });
      obj.status = fits
        ? { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: now() }], qosClass: 'BestEffort' }
        : { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', lastProbeTime: null, lastTransitionTime: now(), reason: 'Unschedulable', message: '0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.' }], qosClass: 'Burstable' };
      if (fits) obj.spec.nodeName = 'fake-node';
    }
    if (opts.dryRun) return obj;
    this.store.set(this.key(resource, ns, name), obj);
    this.onChange?.(resource, 'ADDED', obj);
    return structuredClone(obj);
  }

  /**
   * Replaces an object with `next` (after a PUT or a patch): keeps server-owned metadata and
   * status, bumps generation when the spec changed, validates.
   */
  update(resource: Resource, ns: string | undefined, name: string, next: K8sObject, opts: { checkResourceVersion?: boolean; dryRun?: boolean; status?: boolean } = {}): K8sObject {
    const info = RESOURCES[resource];
    const old = this.store.get(this.key(resource, ns, name));
    if (!old) {
      if (info.namespaced) this.requireNamespace(ns!, false, info, name);
      throw notFound(info, name);
    }
    const obj = structuredClone(next);
    if (opts.checkResourceVersion && obj.metadata?.resourceVersion && obj.metadata.resourceVersion !== old.metadata.resourceVersion) {
      throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(info)} "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, group: info.group || undefined, kind: info.resource });
    }
    if (obj.metadata?.name !== undefined && obj.metadata.name !== name) throw new ApiError(400, 'BadRequest', `the name of the object (${obj.metadata.name}) does not match the name on the URL (${name})`);
    obj.apiVersion = apiVersionOf(info);
    obj.kind = info.kind;
    obj.metadata = { ...obj.metadata, name, namespace: old.metadata.namespace, uid: old.metadata.uid, creationTimestamp: old.metadata.creationTimestamp };
    if (!info.namespaced) delete obj.metadata.namespace;
    if (old.metadata.generation !== undefined) obj.metadata.generation = old.metadata.generation;
    if (opts.status) obj.spec = old.spec;
    else obj.status = old.status;
    applyDefaults(resource, obj);
    validateObject(info, obj, old);
    if (resource === 'services' && obj.spec.clusterIP !== old.spec.clusterIP) {
      if (obj.spec.clusterIP === undefined) obj.spec.clusterIP = old.spec.clusterIP;
      else throw invalid(info, name, [{ field: 'spec.clusterIP', message: `Invalid value: ${JSON.stringify(obj.spec.clusterIP)}: field is immutable` }]);
    }
    if (resource === 'services') obj.spec.clusterIPs = [obj.spec.clusterIP];
    if (obj.metadata.generation !== undefined && stable(obj.spec) !== stable(old.spec)) obj.metadata.generation += 1;
    const unchanged = stable({ ...obj, metadata: { ...obj.metadata, resourceVersion: undefined, managedFields: undefined } }) === stable({ ...old, metadata: { ...old.metadata, resourceVersion: undefined, managedFields: undefined } });
    obj.metadata.resourceVersion = unchanged ? old.metadata.resourceVersion : this.nextResourceVersion();
    if (opts.dryRun) return obj;
    this.store.set(this.key(resource, ns, name), obj);
    if (!unchanged) this.onChange?.(resource, 'MODIFIED', obj);
    return structuredClone(obj);
  }

  /** Delete with background cascading through ownerReferences. */
  delete(resource: Resource, ns: string | undefined, name: string): K8sObject {
    const info = RESOURCES[resource];
    const k = this.key(resource, ns, name);
    const obj = this.store.get(k);
    if (!obj) {
      if (info.namespaced) this.requireNamespace(ns!, false, info, name);
      throw notFound(info, name);
    }
    if (resource === 'pods' && this.terminate(obj)) return structuredClone(this.store.get(k)!);
    this.store.delete(k);
    this.onChange?.(resource, 'DELETED', obj);
    if (resource === 'namespaces') {
      for (const [key, o] of [...this.store]) {
        if (o.metadata.namespace !== name) continue;
        this.store.delete(key);
        if (key.startsWith('pods/')) this.runtime?.remove(o);
      }
    }
    this.collectGarbage();
    return obj;
  }

  /**
   * Graceful termination: the pod gets a deletionTimestamp and stays (Terminating) for its grace
   * period. Returns false when the grace period is 0 (the caller removes it at once).
   */
  private terminate(pod: K8sObject): boolean {
    const grace = pod.spec?.terminationGracePeriodSeconds ?? 30;
    const mem = this.podMem.get(pod.metadata.uid);
    if (grace <= 0 || !mem || this.opts.graceMsPerSecond <= 0) return false;
    if (pod.metadata.deletionTimestamp) return true;
    mem.goneAt = performance.now() + grace * this.opts.graceMsPerSecond;
    this.runtime?.terminate(pod, grace * this.opts.graceMsPerSecond);
    const next = structuredClone(pod);
    next.metadata.deletionTimestamp = now();
    next.metadata.deletionGracePeriodSeconds = grace;
    this.put('pods', next);
    return true;
  }

  private removePod(p: K8sObject) {
    this.store.delete(this.key('pods', p.metadata.namespace, p.metadata.name));
    this.podMem.delete(p.metadata.uid);
    this.runtime?.remove(p);
    this.onChange?.('pods', 'DELETED', p);
  }

  /** Every Service's count of ready endpoints, one entry per change (namespace/name → counts). */
  readonly endpointHistory = new Map<string, number[]>();
  /** CPU requested by the pods on the node (scheduled, terminating ones included: they still run). */
  private cpuUsed(except?: string): number {
    let n = 0;
    for (const [k, p] of this.store) if (k.startsWith('pods/') && p.spec?.nodeName && p.metadata.uid !== except) n += podCpu(p);
    return n;
  }

  /** Every change of a Service's ready endpoints: when (performance.now()), and the pods. */
  readonly endpointLog: { at: number; service: string; ready: string[] }[] = [];
  private readonly sliceNames = new Map<string, string>();

  /** The endpoint controller: one EndpointSlice per Service with a selector. */
  private syncEndpoints() {
    for (const [k, svc] of [...this.store]) {
      if (!k.startsWith('services/')) continue;
      const sel: Record<string, string> | undefined = svc.spec?.selector;
      if (!sel || !Object.keys(sel).length) continue;
      const ns = svc.metadata.namespace;
      const pods = this.list('pods', ns).filter((p) => Object.entries(sel).every(([a, b]) => p.metadata.labels?.[a] === b) && p.status?.podIP);
      const isReady = (p: K8sObject) => (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
      const endpoints = pods.map((p) => {
        const terminating = !!p.metadata.deletionTimestamp;
        return {
          addresses: [p.status.podIP],
          conditions: { ready: isReady(p) && !terminating, serving: isReady(p), terminating },
          targetRef: { kind: 'Pod', namespace: ns, name: p.metadata.name, uid: p.metadata.uid },
          nodeName: p.spec?.nodeName,
        };
      });
      const ports = (svc.spec.ports ?? []).map((pt: any) => ({ name: pt.name ?? '', protocol: pt.protocol ?? 'TCP', port: typeof pt.targetPort === 'number' ? pt.targetPort : pt.port }));
      const svcKey = `${ns}/${svc.metadata.name}`;
      let name = this.sliceNames.get(svcKey);
      const body = {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: name ?? `${svc.metadata.name}-${randomSuffix()}`,
          namespace: ns,
          labels: { 'kubernetes.io/service-name': svc.metadata.name, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
          ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: svc.metadata.name, uid: svc.metadata.uid, controller: true, blockOwnerDeletion: true }],
        },
        addressType: 'IPv4',
        endpoints,
        ports,
      };
      const existing = name ? this.store.get(this.key('endpointslices', ns, name)) : undefined;
      if (!existing) {
        name = body.metadata.name;
        this.sliceNames.set(svcKey, name);
        this.create('endpointslices', ns, body);
      } else if (stable(existing.endpoints) !== stable(endpoints) || stable(existing.ports) !== stable(ports)) {
        this.put('endpointslices', { ...structuredClone(existing), endpoints, ports });
      } else continue;
      const ready = endpoints.filter((e) => e.conditions.ready).length;
      const hist = this.endpointHistory.get(svcKey) ?? [];
      if (hist.at(-1) !== ready) hist.push(ready);
      this.endpointHistory.set(svcKey, hist);
      this.endpointLog.push({ at: performance.now(), service: svcKey, ready: endpoints.filter((e) => e.conditions.ready).map((e) => e.targetRef.name) });
    }
  }

  /** HPAs with `hpaDesiredReplicas`: the target Deployment is scaled to it (within min/max). */
  private syncHpas() {
    const want = this.opts.hpaDesiredReplicas;
    if (want === undefined) return;
    for (const [k, h] of [...this.store]) {
      if (!k.startsWith('horizontalpodautoscalers/')) continue;
      const ref = h.spec?.scaleTargetRef;
      const d = ref?.kind === 'Deployment' ? this.store.get(this.key('deployments', h.metadata.namespace, ref.name)) : undefined;
      if (!d) continue;
      const n = Math.max(h.spec.minReplicas ?? 1, Math.min(h.spec.maxReplicas, want));
      if (d.spec.replicas !== n) this.update('deployments', d.metadata.namespace, d.metadata.name, { ...structuredClone(d), spec: { ...structuredClone(d.spec), replicas: n } });
    }
  }

  private collectGarbage() {
    for (let pass = 0; pass < 3; pass++) {
      const uids = new Set([...this.store.values()].map((o) => o.metadata.uid));
      for (const [k, o] of [...this.store]) {
        const owners: any[] = o.metadata.ownerReferences ?? [];
        if (owners.length && owners.every((r) => !uids.has(r.uid))) {
          this.store.delete(k);
          if (k.startsWith('pods/')) this.runtime?.remove(o);
          this.onChange?.(k.split('/')[0] as Resource, 'DELETED', o);
        }
      }
    }
  }

  /** Writes a controller-owned object directly (status and spec), bumping resourceVersion. */
  private put(resource: Resource, obj: K8sObject) {
    const k = this.key(resource, obj.metadata.namespace, obj.metadata.name);
    const old = this.store.get(k);
    if (old && stable(old) === stable(obj)) return;
    obj.metadata.resourceVersion = this.nextResourceVersion();
    this.store.set(k, obj);
    this.onChange?.(resource, old ? 'MODIFIED' : 'ADDED', obj);
  }

  private owned(resource: Resource, owner: K8sObject): K8sObject[] {
    const out: K8sObject[] = [];
    for (const [k, o] of this.store) {
      if (!k.startsWith(`${resource}/`) || o.metadata.namespace !== owner.metadata.namespace) continue;
      if ((o.metadata.ownerReferences ?? []).some((r: any) => r.uid === owner.metadata.uid && r.controller)) out.push(o);
    }
    return out;
  }

  /** One controller round: kubelet, ReplicaSets, Deployments. */
  tick() {
    const t = performance.now();
    for (const [k, pod] of [...this.store]) if (k.startsWith('pods/')) this.kubelet(pod, t);
    for (const [k, d] of [...this.store]) if (k.startsWith('deployments/')) this.syncDeployment(structuredClone(d), t);
    for (const [k, rs] of [...this.store]) if (k.startsWith('replicasets/')) this.syncReplicaSet(structuredClone(rs));
    for (const [k, d] of [...this.store]) if (k.startsWith('deployments/')) this.deploymentStatus(structuredClone(d), t);
    this.syncEndpoints();
    this.syncHpas();
  }

  private kubelet(live: K8sObject, t: number) {
    const mem = this.podMem.get(live.metadata.uid);
    if (!mem) return;
    if (mem.goneAt !== undefined) {
      // With real processes the pod goes once they exited (at the latest when the grace period ends).
      if (t >= mem.goneAt || this.runtime?.exited(live)) this.removePod(live);
      return;
    }
    if (mem.unschedulable) {
      // The scheduler retries: the pod fits once others went away.
      if (this.cpuUsed(live.metadata.uid) + podCpu(live) > this.opts.nodeCpuMillis) return;
      const next = structuredClone(live);
      mem.unschedulable = false;
      mem.createdAt = t;
      next.spec.nodeName = 'fake-node';
      next.status.conditions = [{ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: now() }];
      this.put('pods', next);
      return;
    }
    const pod = structuredClone(live);
    const age = t - mem.createdAt;
    const containers: any[] = pod.spec.containers ?? [];
    const real = this.runtime?.sync(live);
    const bad = containers.some((c) => this.opts.badImage.test(String(c.image)));
    const running = real ? real.running && !!real.podIP : age >= this.opts.podStartMs;
    const wasReady = (pod.status.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
    const ready = (real ? running && real.ready : running && !bad && age >= this.opts.podReadyMs) && (wasReady || !this.readyGate || this.readyGate(live));
    // A pod whose process exited (real runtime) stays Running but not Ready, as after a crash.
    if (!running && !(real && pod.status.phase === 'Running')) return;
    const ts = now();
    const cond = (type: string, ok: boolean, prev?: any) => ({
      type,
      status: ok ? 'True' : 'False',
      lastProbeTime: null,
      lastTransitionTime: prev && prev.status === (ok ? 'True' : 'False') ? prev.lastTransitionTime : ts,
      ...(ok ? {} : { reason: 'ContainersNotReady', message: `containers with unready status: [${containers.map((c) => c.name).join(' ')}]` }),
    });
    const prev = (type: string) => (pod.status.conditions ?? []).find((c: any) => c.type === type);
    if (ready && !wasReady) mem.readyAt = t;
    if (!ready) mem.readyAt = undefined;
    if (pod.status.phase === 'Running' && wasReady === ready) return;
    pod.status = {
      phase: 'Running',
      conditions: [
        { type: 'PodReadyToStartContainers', status: 'True', lastProbeTime: null, lastTransitionTime: prev('PodReadyToStartContainers')?.lastTransitionTime ?? ts },
        { type: 'Initialized', status: 'True', lastProbeTime: null, lastTransitionTime: prev('Initialized')?.lastTransitionTime ?? ts },
        cond('Ready', ready, prev('Ready')),
        cond('ContainersReady', ready, prev('ContainersReady')),
        prev('PodScheduled') ?? { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: ts },
      ],
      hostIP: '172.18.0.2',
      hostIPs: [{ ip: '172.18.0.2' }],
      podIP: live.status.podIP ?? real?.podIP ?? `10.244.0.${this.ipCounter++ % 250}`,
      startTime: live.status.startTime ?? ts,
      containerStatuses: containers.map((c) => ({
        name: c.name,
        image: c.image,
        imageID: `${String(c.image).split('@')[0]!.split(':')[0]}@sha256:${createHash('sha256').update(String(c.image)).digest('hex')}`,
        containerID: `containerd://${createHash('sha256').update(`${pod.metadata.uid}/${c.name}`).digest('hex')}`,
        ready,
        started: true,
        restartCount: 0,
        state: { running: { startedAt: live.status.startTime ?? ts } },
      })),
      qosClass: 'BestEffort',
    };
    pod.status.podIPs = [{ ip: pod.status.podIP }];
    this.put('pods', pod);
  }

  /** The namespace's ResourceQuota refusal for one more pod, or undefined. */
  private quotaRefusal(ns: string, podName: string): string | undefined {
    for (const q of this.list('resourcequotas', ns)) {
      const hard = Number(q.spec?.hard?.pods);
      if (!Number.isFinite(hard)) continue;
      const used = this.list('pods', ns).filter((p) => !p.metadata.deletionTimestamp).length;
      if (used + 1 > hard) return `pods "${podName}" is forbidden: exceeded quota: ${q.metadata.name}, requested: pods=1, used: pods=${used}, limited: pods=${hard}`;
    }
    return undefined;
  }

  private syncReplicaSet(rs: K8sObject) {
    const pods = this.owned('pods', rs).filter((p) => !p.metadata.deletionTimestamp);
    const want = rs.spec.replicas ?? 1;
    let failure: string | undefined;
    if (pods.length < want) {
      for (let i = pods.length; i < want; i++) {
        const tpl = structuredClone(rs.spec.template ?? {});
        const podName = `${rs.metadata.name}-${randomSuffix()}`;
        failure = this.quotaRefusal(rs.metadata.namespace, podName);
        if (failure) break;
        this.create('pods', rs.metadata.namespace, {
          metadata: {
            name: podName,
            labels: tpl.metadata?.labels ?? {},
            annotations: tpl.metadata?.annotations,
            ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs.metadata.name, uid: rs.metadata.uid, controller: true, blockOwnerDeletion: true }],
          },
          spec: tpl.spec,
        });
      }
    } else if (pods.length > want) {
      const isReady = (p: K8sObject) => (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
      // The ReplicaSet controller deletes not-ready pods first, then the youngest.
      const victims = [...pods].sort((a, b) => Number(isReady(a)) - Number(isReady(b)) || String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp))).slice(0, pods.length - want);
      for (const p of victims) if (!this.terminate(p)) this.removePod(p);
    }
    const now2 = this.owned('pods', rs).filter((p) => !p.metadata.deletionTimestamp);
    const isReady = (p: K8sObject) => (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
    const ready = now2.filter(isReady);
    const minReadyMs = (rs.spec.minReadySeconds ?? 0) * this.opts.minReadyMsPerSecond;
    const t = performance.now();
    const available = ready.filter((p) => {
      const at = this.podMem.get(p.metadata.uid)?.readyAt;
      return minReadyMs <= 0 || (at !== undefined && t - at >= minReadyMs);
    }).length;
    const conditions = failure
      ? [{ type: 'ReplicaFailure', status: 'True', lastTransitionTime: rs.status?.conditions?.find((c: any) => c.type === 'ReplicaFailure')?.lastTransitionTime ?? now(), reason: 'FailedCreate', message: failure }]
      : undefined;
    rs.status = {
      replicas: now2.length,
      fullyLabeledReplicas: now2.length,
      ...(ready.length ? { readyReplicas: ready.length } : {}),
      ...(available ? { availableReplicas: available } : {}),
      observedGeneration: rs.metadata.generation,
      ...(conditions ? { conditions } : {}),
    };
    this.put('replicasets', rs);
  }

  private resolveIntOrPercent(v: unknown, total: number, roundUp: boolean): number {
    if (typeof v === 'number') return v;
    const m = /^(\d+)%$/.exec(String(v ?? '0'));
    if (!m) return Number(v) || 0;
    const x = (Number(m[1]) * total) / 100;
    return roundUp ? Math.ceil(x) : Math.floor(x);
  }

  private surgeAndUnavailable(d: K8sObject): { surge: number; unavailable: number } {
    const replicas = d.spec.replicas ?? 1;
    const ru = d.spec.strategy?.rollingUpdate ?? {};
    const surge = this.resolveIntOrPercent(ru.maxSurge ?? '25%', replicas, true);
    let unavailable = this.resolveIntOrPercent(ru.maxUnavailable ?? '25%', replicas, false);
    if (surge === 0 && unavailable === 0) unavailable = 1;
    return { surge, unavailable: Math.min(unavailable, replicas) };
  }

  private revisionOf(rs: K8sObject): number {
    return Number(rs.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0);
  }

  private syncDeployment(d: K8sObject, _t: number) {
    const hash = templateHash(d.spec.template);
    const rss = this.owned('replicasets', d).map((r) => structuredClone(r));
    let newRS = rss.find((r) => r.metadata.labels?.['pod-template-hash'] === hash);
    const maxRev = Math.max(0, ...rss.map((r) => this.revisionOf(r)));
    const copyAnnotations = (rs: K8sObject) => {
      const skip = new Set(['kubectl.kubernetes.io/last-applied-configuration', 'deployment.kubernetes.io/revision', 'deployment.kubernetes.io/revision-history', 'deployment.kubernetes.io/desired-replicas', 'deployment.kubernetes.io/max-replicas']);
      for (const [k, v] of Object.entries(d.metadata.annotations ?? {})) if (!skip.has(k)) rs.metadata.annotations[k] = v;
    };
    const paused = !!d.spec.paused;
    if (!newRS && !paused) {
      const labels = { ...(d.spec.template.metadata?.labels ?? {}), 'pod-template-hash': hash };
      const template = structuredClone(d.spec.template);
      template.metadata = { ...template.metadata, labels };
      const recreate = d.spec.strategy?.type === 'Recreate';
      const oldPods = rss.reduce((n, r) => n + (r.spec.replicas ?? 0), 0);
      newRS = this.create('replicasets', d.metadata.namespace, {
        metadata: {
          name: `${d.metadata.name}-${hash}`,
          labels,
          annotations: { 'deployment.kubernetes.io/revision': String(maxRev + 1), 'deployment.kubernetes.io/desired-replicas': String(d.spec.replicas), 'deployment.kubernetes.io/max-replicas': String((d.spec.replicas ?? 1) + this.surgeAndUnavailable(d).surge) },
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata.name, uid: d.metadata.uid, controller: true, blockOwnerDeletion: true }],
        },
        spec: { replicas: oldPods === 0 && !recreate ? Math.min(d.spec.replicas ?? 1, (d.spec.replicas ?? 1) + this.surgeAndUnavailable(d).surge) : 0, minReadySeconds: d.spec.minReadySeconds ?? 0, selector: { matchLabels: { ...(d.spec.selector.matchLabels ?? {}), 'pod-template-hash': hash }, ...(d.spec.selector.matchExpressions ? { matchExpressions: d.spec.selector.matchExpressions } : {}) }, template },
      });
      const stored = this.store.get(this.key('replicasets', d.metadata.namespace, newRS.metadata.name))!;
      copyAnnotations(stored);
      this.mem(d).lastProgressAt = performance.now();
      newRS = structuredClone(stored);
      rss.push(newRS);
    } else if (newRS && this.revisionOf(newRS) < maxRev) {
      // An older template is back (rollout undo): it becomes the newest revision.
      const stored = this.store.get(this.key('replicasets', d.metadata.namespace, newRS.metadata.name))!;
      const hist = [stored.metadata.annotations['deployment.kubernetes.io/revision-history'], String(this.revisionOf(newRS))].filter(Boolean).join(',');
      stored.metadata.annotations['deployment.kubernetes.io/revision'] = String(maxRev + 1);
      stored.metadata.annotations['deployment.kubernetes.io/revision-history'] = hist;
      copyAnnotations(stored);
      stored.metadata.resourceVersion = this.nextResourceVersion();
      this.mem(d).lastProgressAt = performance.now();
      newRS = structuredClone(stored);
    }
    if (newRS) {
      const rev = this.revisionOf(this.store.get(this.key('replicasets', d.metadata.namespace, newRS.metadata.name))!);
      const live = this.store.get(this.key('deployments', d.metadata.namespace, d.metadata.name))!;
      if (live.metadata.annotations?.['deployment.kubernetes.io/revision'] !== String(rev)) {
        live.metadata.annotations = { ...live.metadata.annotations, 'deployment.kubernetes.io/revision': String(rev) };
        live.metadata.resourceVersion = this.nextResourceVersion();
      }
    }
    if (paused || !newRS) return;
    const replicas = d.spec.replicas ?? 1;
    const olds = rss.filter((r) => r.metadata.uid !== newRS!.metadata.uid).sort((a, b) => this.revisionOf(a) - this.revisionOf(b));
    const scale = (rs: K8sObject, n: number) => {
      const stored = this.store.get(this.key('replicasets', rs.metadata.namespace, rs.metadata.name));
      if (!stored || stored.spec.replicas === n) return;
      stored.spec.replicas = n;
      stored.metadata.generation = (stored.metadata.generation ?? 1) + 1;
      stored.metadata.annotations = { ...stored.metadata.annotations, 'deployment.kubernetes.io/desired-replicas': String(replicas) };
      stored.metadata.resourceVersion = this.nextResourceVersion();
      rs.spec.replicas = n;
    };
    const avail = (rs: K8sObject) => rs.status?.availableReplicas ?? 0;
    if (d.spec.strategy?.type === 'Recreate') {
      for (const o of olds) scale(o, 0);
      const oldPods = olds.reduce((n, o) => n + this.owned('pods', o).length, 0);
      if (oldPods === 0) scale(newRS, replicas);
    } else {
      const { surge, unavailable } = this.surgeAndUnavailable(d);
      const all = [newRS, ...olds];
      const count = () => all.reduce((n, r) => n + (r.spec.replicas ?? 0), 0);
      // Scale up the new ReplicaSet within maxSurge.
      if ((newRS.spec.replicas ?? 0) > replicas) scale(newRS, replicas);
      else if ((newRS.spec.replicas ?? 0) < replicas) {
        const up = Math.min(replicas + surge - count(), replicas - (newRS.spec.replicas ?? 0));
        if (up > 0) scale(newRS, (newRS.spec.replicas ?? 0) + up);
      }
      // Scale down old ReplicaSets while enough pods stay available.
      const minAvailable = replicas - unavailable;
      const newUnavailable = (newRS.spec.replicas ?? 0) - avail(newRS);
      let maxScaledDown = count() - minAvailable - newUnavailable;
      if (maxScaledDown > 0) {
        for (const o of olds) {
          if (maxScaledDown <= 0) break;
          const unhealthy = (o.spec.replicas ?? 0) - avail(o);
          const cut = Math.min(unhealthy, maxScaledDown);
          if (cut > 0) {
            scale(o, (o.spec.replicas ?? 0) - cut);
            maxScaledDown -= cut;
          }
        }
        const available = all.reduce((n, r) => n + Math.min(avail(r), r.spec.replicas ?? 0), 0);
        let total = available - minAvailable;
        for (const o of olds) {
          if (total <= 0) break;
          const cut = Math.min(o.spec.replicas ?? 0, total);
          if (cut > 0) {
            scale(o, (o.spec.replicas ?? 0) - cut);
            total -= cut;
          }
        }
      }
    }
    // Old ReplicaSets beyond revisionHistoryLimit go away once scaled to 0.
    const idle = olds.filter((o) => (o.spec.replicas ?? 0) === 0 && this.owned('pods', o).length === 0);
    const limit = d.spec.revisionHistoryLimit ?? 10;
    for (const o of idle.slice(0, Math.max(0, idle.length - limit))) this.delete('replicasets', o.metadata.namespace, o.metadata.name);
  }

  private mem(d: K8sObject): DeployMemory {
    let m = this.deployMem.get(d.metadata.uid);
    if (!m) {
      m = { lastProgressAt: performance.now(), signature: '' };
      this.deployMem.set(d.metadata.uid, m);
    }
    return m;
  }

  private deploymentStatus(d: K8sObject, t: number) {
    const rss = this.owned('replicasets', d);
    const hash = templateHash(d.spec.template);
    const newRS = rss.find((r) => r.metadata.labels?.['pod-template-hash'] === hash);
    const replicas = d.spec.replicas ?? 1;
    const sum = (f: (r: K8sObject) => number) => rss.reduce((n, r) => n + f(r), 0);
    const total = sum((r) => r.status?.replicas ?? 0);
    const updated = newRS?.status?.replicas ?? 0;
    const ready = sum((r) => r.status?.readyReplicas ?? 0);
    const available = sum((r) => r.status?.availableReplicas ?? 0);
    const m = this.mem(d);
    const signature = `${newRS?.metadata.name}/${newRS?.spec.replicas}/${updated}/${newRS?.status?.availableReplicas ?? 0}/${sum((r) => r.spec.replicas ?? 0)}`;
    if (signature !== m.signature) {
      m.signature = signature;
      m.lastProgressAt = t;
    }
    const { unavailable } = d.spec.strategy?.type === 'Recreate' ? { unavailable: replicas } : this.surgeAndUnavailable(d);
    const prevConds: any[] = d.status?.conditions ?? [];
    const prev = (type: string) => prevConds.find((c) => c.type === type);
    const ts = now();
    const mk = (type: string, status: string, reason: string, message: string) => {
      const p = prev(type);
      const same = p && p.status === status && p.reason === reason;
      return { type, status, lastUpdateTime: same && reason !== 'ReplicaSetUpdated' ? p.lastUpdateTime : ts, lastTransitionTime: p && p.status === status ? p.lastTransitionTime : ts, reason, message };
    };
    const availableOk = available >= replicas - unavailable;
    const conds: any[] = [
      mk('Available', availableOk ? 'True' : 'False', availableOk ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable', availableOk ? 'Deployment has minimum availability.' : 'Deployment does not have minimum availability.'),
    ];
    const rsName = newRS?.metadata.name ?? d.metadata.name;
    const complete = !!newRS && updated === replicas && total === replicas && available === replicas && (newRS.status?.availableReplicas ?? 0) === replicas;
    const p = prev('Progressing');
    let progressing;
    if (d.spec.paused) {
      progressing = mk('Progressing', 'Unknown', 'DeploymentPaused', 'Deployment is paused');
    } else if (p?.reason === 'DeploymentPaused') {
      m.lastProgressAt = t;
      progressing = mk('Progressing', 'Unknown', 'DeploymentResumed', 'Deployment is resumed');
    } else if (complete) {
      progressing = p?.reason === 'NewReplicaSetAvailable' ? p : mk('Progressing', 'True', 'NewReplicaSetAvailable', `ReplicaSet "${rsName}" has successfully progressed.`);
    } else if (m.lastProgressAt === t || !p) {
      progressing = { ...mk('Progressing', 'True', 'ReplicaSetUpdated', `ReplicaSet "${rsName}" is progressing.`), lastUpdateTime: ts };
    } else if (d.spec.progressDeadlineSeconds !== undefined && t - m.lastProgressAt > d.spec.progressDeadlineSeconds * 1000) {
      progressing = mk('Progressing', 'False', 'ProgressDeadlineExceeded', `ReplicaSet "${rsName}" has timed out progressing.`);
    } else progressing = p.reason === 'ProgressDeadlineExceeded' ? mk('Progressing', 'True', 'ReplicaSetUpdated', `ReplicaSet "${rsName}" is progressing.`) : p;
    conds.push(progressing);
    const failure = (newRS?.status?.conditions ?? []).find((c: any) => c.type === 'ReplicaFailure' && c.status === 'True');
    if (failure) conds.push(mk('ReplicaFailure', 'True', failure.reason, failure.message));
    const live = this.store.get(this.key('deployments', d.metadata.namespace, d.metadata.name));
    if (!live) return;
    const next = structuredClone(live);
    next.status = {
      observedGeneration: live.metadata.generation,
      replicas: total,
      updatedReplicas: updated,
      ...(ready ? { readyReplicas: ready } : {}),
      ...(available ? { availableReplicas: available } : {}),
      ...(replicas - available > 0 ? { unavailableReplicas: replicas - available } : {}),
      conditions: conds,
    };
    this.put('deployments', next);
  }

  /** Everything stored, for test assertions. */
  all(resource: Resource, ns?: string): K8sObject[] {
    return this.list(resource, ns);
  }
}
