/**
 * The audit trail on Kubernetes: the ConfigMap `slipway-audit` in the deploy's namespace, key
 * `audit.log`, one JSON line per deploy, rollback, lock and unlock (the same lines as
 * `<deploy-root>/audit.log` on hosts, audit.ts). Appended with the API server's optimistic
 * concurrency: read, add the line, `kubectl replace` with the resourceVersion read (409 Conflict:
 * someone appended meanwhile, read again); created when missing (409 AlreadyExists: read again).
 * The oldest lines are dropped past 512 kB (a ConfigMap holds at most 1 MiB).
 */
import { UserError } from '../lib/errors.ts';
import { sleep } from '../lib/sleep.ts';
import { auditLine, parseAudit, type AuditEntry } from './audit.ts';
import { KubectlError, type Kubectl } from './kubernetes-kubectl.ts';

export const AUDIT_CONFIGMAP = 'slipway-audit';
export const AUDIT_KEY = 'audit.log';
const MAX_BYTES = 512 * 1024;

interface ConfigMap {
  apiVersion: string;
  kind: string;
  metadata: { name: string; resourceVersion?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
}

const reasonOf = (err: unknown) => (err instanceof KubectlError ? err.reason : undefined);

async function getMap(kubectl: Kubectl, signal?: AbortSignal): Promise<ConfigMap | undefined> {
  try {
    return await kubectl.json<ConfigMap>(['get', 'configmap', AUDIT_CONFIGMAP], { signal, namespaced: kubectl.namespace !== '' });
  } catch (err) {
    if (reasonOf(err) === 'NotFound') return undefined;
    throw err;
  }
}

/** Keeps the newest whole lines within MAX_BYTES. */
function trim(text: string): string {
  if (Buffer.byteLength(text) <= MAX_BYTES) return text;
  const lines = text.split('\n').filter(Boolean);
  while (lines.length && Buffer.byteLength(lines.join('\n') + '\n') > MAX_BYTES) lines.shift();
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** Appends one entry; retries a lost race a few times. Throws when it could not (the caller warns). */
export async function appendKubeAudit(kubectl: Kubectl, e: AuditEntry, signal?: AbortSignal): Promise<void> {
  const line = auditLine(e);
  const namespaced = kubectl.namespace !== '';
  for (let attempt = 1; attempt <= 6; attempt++) {
    const cur = await getMap(kubectl, signal);
    const next: ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: AUDIT_CONFIGMAP,
        ...(cur?.metadata.resourceVersion ? { resourceVersion: cur.metadata.resourceVersion } : {}),
        labels: { ...cur?.metadata.labels, 'app.kubernetes.io/managed-by': 'slipway' },
      },
      data: { ...cur?.data, [AUDIT_KEY]: trim(`${cur?.data?.[AUDIT_KEY] ?? ''}${line}`) },
    };
    try {
      await kubectl.run([cur ? 'replace' : 'create', '-f', '-', '-o', 'name'], { input: JSON.stringify(next), signal, retry: false, namespaced });
      return;
    } catch (err) {
      if (reasonOf(err) !== 'Conflict' && reasonOf(err) !== 'AlreadyExists') throw err;
      await sleep(50 * attempt + Math.random() * 100, signal);
    }
  }
  throw new UserError(`the audit ConfigMap ${AUDIT_CONFIGMAP} kept changing under us (6 tries)`);
}

/** The entries since `sinceMs`, oldest first. */
export async function readKubeAudit(kubectl: Kubectl, sinceMs: number, signal?: AbortSignal): Promise<{ entries: AuditEntry[]; skipped: number }> {
  const cur = await getMap(kubectl, signal);
  const r = parseAudit(cur?.data?.[AUDIT_KEY] ?? '');
  return { entries: r.entries.filter((e) => Date.parse(e.at) >= sinceMs).sort((a, b) => Date.parse(a.at) - Date.parse(b.at)), skipped: r.skipped };
}
