/**
 * What a hosts target runs now, read on each host over SSH: the `current` and `previous` release
 * links, the releases kept (what a rollback can go back to), and the deploy lock's holder record.
 */
import type { SshClient } from './ssh.ts';
import { parseHolder, type LockHolder } from './lock.ts';
import type { AuditHost } from './audit.ts';

export interface HostState {
  id: string;
  current?: string;
  previous?: string;
  /** When `current` last changed (ISO; the link's modification time). */
  since?: string;
  /** Release directories kept, oldest first. */
  releases: string[];
  lock?: LockHolder;
  /** The lock directory exists but holds no readable record (being taken, or damaged). */
  lockRaw?: string;
}

/** $1 root. Prints: current, previous, the current link's mtime (epoch s), the lock record on one line, then the releases by age. */
const READ = `cd "$1" 2>/dev/null || { printf '\\n\\n\\n\\n'; exit 0; }
c=$(readlink current 2>/dev/null || true); p=$(readlink previous 2>/dev/null || true)
printf '%s\\n%s\\n' "\${c#releases/}" "\${p#releases/}"
stat -c %Y current 2>/dev/null || echo
if [ -d .slipway-lock ]; then tr -d '\\n' < .slipway-lock/holder.json 2>/dev/null; echo; else echo; fi
ls -1tr releases 2>/dev/null | grep -v '^\\.' || true`;

export async function readHostState(ssh: SshClient, h: AuditHost, signal?: AbortSignal): Promise<HostState> {
  const r = await ssh.script(h, READ, [h.deployRoot], 'reading the releases', { timeoutMs: 60_000, signal });
  const [current, previous, mtime, lock, ...releases] = r.stdout.split('\n');
  const since = mtime?.trim() ? new Date(Number(mtime.trim()) * 1000).toISOString() : undefined;
  const lockText = lock?.trim() ?? '';
  const holder = lockText ? parseHolder(lockText) : undefined;
  return {
    id: h.id,
    current: current?.trim() || undefined,
    previous: previous?.trim() || undefined,
    since,
    releases: releases.map((x) => x.trim()).filter(Boolean),
    lock: holder,
    lockRaw: lockText && !holder ? lockText : undefined,
  };
}

export interface UpstreamState {
  address: string;
  down: boolean;
  weight?: number;
}

/**
 * The state of each instance in an upstream file Slipway generated (nginx.ts renderUpstream:
 * `server ADDRESS [weight=N] [down]; # ID`): drained (down) or in, and its weight, by instance id.
 */
export function parseUpstreamState(text: string): Record<string, UpstreamState> {
  const out: Record<string, UpstreamState> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*server\s+(\S+)([^;#]*);\s*#\s*(.+?)\s*$/.exec(line);
    if (!m) continue;
    const w = /\bweight=(\d+)/.exec(m[2]!);
    out[m[3]!] = { address: m[1]!, down: /\bdown\b/.test(m[2]!), ...(w ? { weight: Number(w[1]) } : {}) };
  }
  return out;
}
