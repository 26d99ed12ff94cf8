/**
 * The audit trail on the target: one JSON line per deploy, rollback, lock and unlock, appended to
 * `<deploy-root>/audit.log` on each host (hosts target). Who, when, what, from which run, and the
 * outcome. Read back (merged over the hosts, newest last) by `slipway audit`.
 */
import { errorMessage } from '../lib/errors.ts';
import type { SshClient, SshHost } from './ssh.ts';

export type AuditAction = 'deploy' | 'rollback' | 'lock' | 'unlock' | 'promote' | 'abort';

export interface AuditEntry {
  /** ISO time. */
  at: string;
  actor: string;
  action: AuditAction;
  /** The version deployed or rolled back to; for a lock, the reason. */
  version?: string;
  from?: string;
  reason?: string;
  /** The workflow run, or `cli` with the machine's name. */
  run: string;
  outcome: string;
  /** The host the line was read from (set when reading). */
  host?: string;
}

export interface AuditHost extends SshHost {
  id: string;
  deployRoot: string;
}

/** $1 root; stdin: one JSON line. Appends it (created with the deploy user's umask). */
const APPEND = `mkdir -p "$1" && cat >> "$1/audit.log"`;
/** $1 root: prints the log (nothing when there is none). */
const READ = `cat "$1/audit.log" 2>/dev/null || true`;

/** One line: no newlines inside (JSON.stringify escapes them), fields cut to a sane length. */
export function auditLine(e: AuditEntry): string {
  const cut = (s: string | undefined, n = 500) => (s === undefined ? undefined : s.length > n ? `${s.slice(0, n)}…` : s);
  const o = {
    at: e.at,
    actor: cut(e.actor, 100),
    action: e.action,
    version: cut(e.version, 200),
    from: cut(e.from, 200),
    reason: cut(e.reason),
    run: cut(e.run, 300),
    outcome: cut(e.outcome),
  };
  return `${JSON.stringify(o)}\n`;
}

/** Appends the entry on every host; returns the hosts where it failed (an audit failure never fails the operation). */
export async function appendAudit(ssh: SshClient, hosts: readonly AuditHost[], e: AuditEntry, signal?: AbortSignal): Promise<string[]> {
  const line = auditLine(e);
  const failed: string[] = [];
  await Promise.all(
    hosts.map(async (h) => {
      try {
        await ssh.script(h, APPEND, [h.deployRoot], 'appending to the audit log', { input: line, timeoutMs: 30_000, signal });
      } catch (err) {
        failed.push(`${h.id}: ${errorMessage(err)}`);
      }
    }),
  );
  return failed;
}

/** Parses audit.log text; lines that are not entries are skipped (counted). */
export function parseAudit(text: string, host?: string): { entries: AuditEntry[]; skipped: number } {
  const entries: AuditEntry[] = [];
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const o = JSON.parse(line) as Partial<AuditEntry>;
      if (typeof o.at !== 'string' || typeof o.action !== 'string' || Number.isNaN(Date.parse(o.at))) throw new Error('not an entry');
      entries.push({
        at: o.at,
        actor: String(o.actor ?? ''),
        action: o.action as AuditAction,
        version: o.version,
        from: o.from,
        reason: o.reason,
        run: String(o.run ?? ''),
        outcome: String(o.outcome ?? ''),
        host,
      });
    } catch {
      skipped++;
    }
  }
  return { entries, skipped };
}

/**
 * Every host's log since `sinceMs` (epoch ms), merged: an operation on n hosts is one line per
 * host; lines with the same time, action, actor, version and outcome are shown once, listing the hosts.
 */
export async function readAudit(
  ssh: SshClient,
  hosts: readonly AuditHost[],
  sinceMs: number,
  signal?: AbortSignal,
): Promise<{ entries: (AuditEntry & { hosts: string[] })[]; skipped: number }> {
  const texts = await Promise.all(
    hosts.map(async (h) => ({ h, text: (await ssh.script(h, READ, [h.deployRoot], 'reading the audit log', { timeoutMs: 60_000, signal })).stdout })),
  );
  const merged = new Map<string, AuditEntry & { hosts: string[] }>();
  let skipped = 0;
  for (const { h, text } of texts) {
    const r = parseAudit(text, h.id);
    skipped += r.skipped;
    for (const e of r.entries) {
      if (Date.parse(e.at) < sinceMs) continue;
      const key = JSON.stringify([e.at, e.action, e.actor, e.version, e.outcome, e.run]);
      const m = merged.get(key);
      if (m) m.hosts.push(h.id);
      else merged.set(key, { ...e, host: undefined, hosts: [h.id] });
    }
  }
  return { entries: [...merged.values()].sort((a, b) => Date.parse(a.at) - Date.parse(b.at)), skipped };
}
