/**
 * The deploy lock on Kubernetes: a coordination.k8s.io/v1 Lease in the Deployment's namespace
 * (`slipway-deploy-lock`), one LockPart (lock.ts) taken by every Kubernetes deploy before its first
 * change and released at the end, and by `slipway lock`. It relies on the API server's optimistic
 * concurrency, as leader election does:
 * - take: `kubectl create` the Lease (409 AlreadyExists: someone has or had it); then read it: a
 *   Lease with no holderIdentity (released) or past renewTime + leaseDurationSeconds (expired) is
 *   taken with `kubectl replace` carrying the resourceVersion just read, so of two deploys racing
 *   for it the second gets 409 Conflict and reads the winner;
 * - give: the same conditional replace, clearing the holder, only when our token holds it.
 * The holder record (lock.ts LockHolder) is the annotation `slipway.dev/lock-holder`.
 */
import { UserError } from '../lib/errors.ts';
import { KubectlError, type Kubectl } from './kubernetes-kubectl.ts';
import { parseHolder, type LockHolder, type LockPart, type TakeResult } from './lock.ts';

export const LEASE_NAME = 'slipway-deploy-lock';
export const HOLDER_ANNOTATION = 'slipway.dev/lock-holder';

/** metav1.MicroTime: RFC 3339 with microseconds. */
const micro = (ms: number) => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

interface Lease {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

function leaseFor(h: LockHolder, nowMs: number, base?: Lease): Lease {
  const ttl = Math.max(1, Math.round((Date.parse(h.until) - Date.parse(h.since)) / 1000));
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: LEASE_NAME,
      ...(base?.metadata.resourceVersion ? { resourceVersion: base.metadata.resourceVersion } : {}),
      labels: { ...base?.metadata.labels, 'app.kubernetes.io/managed-by': 'slipway' },
      annotations: { ...base?.metadata.annotations, [HOLDER_ANNOTATION]: JSON.stringify(h) },
    },
    spec: {
      holderIdentity: `${h.actor}/${h.token}`.slice(0, 253),
      leaseDurationSeconds: ttl,
      acquireTime: micro(nowMs),
      renewTime: micro(nowMs),
      leaseTransitions: (base?.spec?.leaseTransitions ?? -1) + 1,
    },
  };
}

/** The holder of a Lease and whether it is free (released or expired) at `nowMs`. */
export function leaseState(l: Lease, nowMs: number): { holder?: LockHolder; free: boolean; expired: boolean; raw?: string } {
  const raw = l.metadata.annotations?.[HOLDER_ANNOTATION];
  const holder = raw ? parseHolder(raw) : undefined;
  if (!l.spec?.holderIdentity) return { holder: undefined, free: true, expired: false };
  const renew = Date.parse(l.spec.renewTime ?? l.spec.acquireTime ?? '');
  const expired = Number.isFinite(renew) && l.spec.leaseDurationSeconds !== undefined && renew + l.spec.leaseDurationSeconds * 1000 < nowMs;
  return { holder, free: expired, expired, raw: holder ? undefined : (raw ?? l.spec.holderIdentity) };
}

const reasonOf = (err: unknown) => (err instanceof KubectlError ? err.reason : undefined);

/** RBAC refused the Lease: say what to grant, or how to deploy without the lock. */
const forbidden = (err: unknown, ns: string) =>
  new UserError(
    `${(err as Error).message}: the deploy lock is a Lease; give the deploy's user get, create and update on leases (API group coordination.k8s.io) in ${ns}, or set lock: false to deploy without the lock`,
  );

export function leaseLockPart(kubectl: Kubectl, namespaceLabel: string): LockPart & { read(signal: AbortSignal): Promise<Lease | undefined> } {
  // No namespace given: kubectl uses the kubeconfig context's (as the deploy itself does).
  const namespaced = kubectl.namespace !== '';
  const get = async (signal: AbortSignal): Promise<Lease | undefined> => {
    try {
      return await kubectl.json<Lease>(['get', 'lease', LEASE_NAME], { signal, namespaced });
    } catch (err) {
      if (reasonOf(err) === 'NotFound') return undefined;
      throw err;
    }
  };
  // create and replace are not retried: a repeated create would see our own Lease as someone else's.
  const write = (verb: 'create' | 'replace', l: Lease, signal: AbortSignal) =>
    kubectl.run([verb, '-f', '-', '-o', 'name'], { input: JSON.stringify(l), signal, retry: false, namespaced });
  return {
    where: `Lease ${namespaceLabel}/${LEASE_NAME}`,
    read: get,
    async take(h, nowMs, signal): Promise<TakeResult> {
      try {
        await write('create', leaseFor(h, nowMs), signal);
        return { taken: true };
      } catch (err) {
        if (reasonOf(err) === 'Forbidden') throw forbidden(err, namespaceLabel);
        if (reasonOf(err) !== 'AlreadyExists') throw err;
      }
      const cur = await get(signal);
      if (!cur) throw new UserError(`Lease ${LEASE_NAME} was deleted while it was being taken; try again`);
      const st = leaseState(cur, nowMs);
      if (!st.free) return { taken: false, holder: st.holder, raw: st.raw };
      try {
        await write('replace', leaseFor(h, nowMs, cur), signal);
      } catch (err) {
        if (reasonOf(err) !== 'Conflict') throw err;
        // Another deploy replaced it first: it holds the lock now.
        const won = await get(signal);
        const ws = won ? leaseState(won, Date.now()) : undefined;
        return { taken: false, holder: ws?.holder, raw: ws?.raw };
      }
      return st.expired && st.holder ? { taken: true, broke: st.holder } : { taken: true };
    },
    async give(token, signal) {
      const cur = await get(signal);
      if (!cur) return;
      const raw = cur.metadata.annotations?.[HOLDER_ANNOTATION];
      if (!raw || parseHolder(raw)?.token !== token) return;
      const annotations = { ...cur.metadata.annotations };
      delete annotations[HOLDER_ANNOTATION];
      const next: Lease = {
        apiVersion: cur.apiVersion,
        kind: cur.kind,
        metadata: { name: LEASE_NAME, resourceVersion: cur.metadata.resourceVersion, labels: cur.metadata.labels, annotations },
        spec: { leaseTransitions: cur.spec?.leaseTransitions },
      };
      try {
        await write('replace', next, signal);
      } catch (err) {
        // Changed since we read it: not ours any more (an expired lock broken by another deploy).
        if (reasonOf(err) !== 'Conflict') throw err;
      }
    },
  };
}
