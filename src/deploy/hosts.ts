/**
 * The `hosts` target: VMs over SSH, releases side by side (Capistrano-style), nginx in front.
 *
 * On each host, under its deploy root:
 *   releases/<version>/   one directory per version (uploaded from the artifact, or already there)
 *   current  -> releases/<version>   what runs
 *   previous -> releases/<version>   what ran before the last deploy (rollback mode goes there)
 *   shared/app.pid, shared/app.log   the process started by the built-in start (nohup, pid file)
 * Start: the start command (argument array; `{version}`, `{port}`, `{release_dir}`, `{deploy_root}`,
 * `{host}`, `{instance}` substituted per argument) runs in the release directory in the background,
 * or `systemctl restart <unit>` when a systemd unit is given. Stop: the stop command, `systemctl
 * stop`, or SIGTERM to the pid file's process and SIGKILL after the drain timeout.
 * Drain: the instance is marked `down` in the generated nginx upstream (nginx -t, then reload).
 *
 * Two slots per host for blue/green (strategies.ts): `blue` on app-port (pid file shared/app.pid,
 * start line .slipway-start) and `green` on app-port + greenPortOffset (shared/app-green.pid,
 * .slipway-start-green). shared/slot names the live slot (absent = blue); slot-blue/slot-green
 * -> releases/<version> say what each slot runs; `current` follows the live slot. Rolling and
 * canary work in place on the live slot. keepPrevious leaves a `sleep; stop` job on the host
 * (shared/expire-<slot>.pid) that stops the old slot unless it became live again.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { exec as defaultExec, execOk, type Exec } from '../lib/exec.ts';
import { UserError, errorMessage } from '../lib/errors.ts';
import type { Reporter } from '../lib/report.ts';
import { NotStarted, type DeployTarget, type InstanceRef, type Promotion, type Started } from './engine.ts';
import type { BlueGreenTarget, Slot, SlotInfo } from './strategies.ts';
import { NginxUpstream, localNginxHost, sshNginxHost } from './nginx.ts';
import { HaproxyBackend, localHaproxyHost, sshHaproxyHost } from './haproxy.ts';
import { SshClient, remoteCommand, shQuote, sshTargetName, type SshHost } from './ssh.ts';
import { hostPromotion, parseHolder, type LockPart } from './lock.ts';
import { appendAudit, type AuditEntry } from './audit.ts';

export interface HostSpec extends SshHost {
  /** Instance id shown everywhere (`web1`, or `host:port`). */
  id: string;
  appPort: number;
  deployRoot: string;
}

export interface HostsTargetOptions {
  hosts: HostSpec[];
  ssh: SshClient;
  /** Local directory or .tar.gz uploaded as releases/<version> when a host does not have it. */
  artifact?: string;
  /** Start command (argument array with placeholders). Runs in the foreground of a nohup'ed background job. */
  start?: string[];
  stop?: string[];
  systemdUnit?: string;
  /** How systemctl is called (default ['sudo', '-n', 'systemctl']). */
  systemctl?: string[];
  /** Environment for the start command (values may use placeholders). APP_VERSION and PORT are always set. */
  env?: Record<string, string>;
  /** Prints the version the app on a host serves (argument array run over SSH; placeholders as start). */
  versionCommand?: string[];
  /** Instance URL template: `http://{host}:{port}`. */
  urlTemplate?: string;
  readyPath: string;
  keepReleases: number;
  /** SIGTERM → SIGKILL grace of the built-in stop (ms). */
  drainTimeoutMs: number;
  nginx?: {
    /** 'local' or an SSH host. */
    host: 'local' | SshHost;
    file: string;
    name: string;
    command: string[];
    /** host:port of an instance in the upstream; template, default `{host}:{port}`. */
    addressTemplate?: string;
    settleMs?: number;
    /** nginx's pid file: the stop waits until the old workers exited (observed). */
    pidFile?: string;
  };
  /** HAProxy in front instead of nginx: driven through its runtime API, no reloads (haproxy.ts). */
  haproxy?: {
    host: 'local' | SshHost;
    socket: string;
    backend: string;
    stateFile?: string;
  };
  log: Reporter;
  exec?: Exec;
  tempDir?: string;
  /** The green slot's port is appPort + this (blue/green). Default 1. */
  greenPortOffset?: number;
  /** List each host's idle slot (marked down) in the upstream too (blue/green runs). */
  listIdleSlots?: boolean;
}

const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

export function checkVersionName(v: string, input = 'version'): string {
  if (!VERSION_RE.test(v))
    throw new UserError(
      `Input '${input}': got ${JSON.stringify(v)}; expected a release name of letters, digits, '.', '_', '+', '-' (it becomes a directory name), at most 128 characters`,
    );
  return v;
}

/** Substitutes {name} placeholders in one argument (no shell, no splitting). Unknown names stay. */
export function substitute(arg: string, vars: Record<string, string>): string {
  return arg.replace(/\{([a-z_]+)\}/g, (m, k: string) => (k in vars ? vars[k]! : m));
}

// Fixed remote scripts: user values arrive as $1, $2, … only.
const HAS_RELEASE = `if [ -d "$1/releases/$2" ]; then echo yes; else echo no; fi`;

const UNPACK = `set -e
mkdir -p "$1/releases" "$1/shared"
tmp="$1/releases/.incoming-$2"
rm -rf "$tmp"; mkdir -p "$tmp"
tar -xzf - -C "$tmp"
touch "$tmp"
if [ -d "$1/releases/$2" ]; then rm -rf "$tmp"; else mv "$tmp" "$1/releases/$2"; fi`;

/**
 * Starting a release, in two halves so that the first can run before the old copy is stopped.
 * SWITCH_PREP: $1 root, $2 version, $3 'deploy'|'switchback'|'slot', $4 mode ('nohup'|'none'), $5
 * the command line quoted by us (kept in the release as .slipway-start[-green]), $6 the slot, $7 a
 * token, then the command argv. stdin: the environment file (`export K='v'` lines, quoted by us) up
 * to a line holding the token, kept in the release as .slipway-env[-green]. Both files are written
 * owner-only (umask 077, then chmod 600: a file left by an older Slipway keeps no wider mode); the
 * environment reaches the app by being sourced into the shell that execs it, so no value is ever on
 * a command line that `ps` shows. The new `current` and slot links are made beside the live ones.
 * SWITCH_GO: the links are moved into place and the app is started (shell builtins and one spawn).
 * 'slot' starts the release in that slot without touching `current` (blue/green). A switch back
 * starts a release the way it was started when it was deployed (its own environment), from
 * .slipway-start / .slipway-env when present.
 * `previous` is not touched here: finish() moves it once a rollout succeeded, so an undone rollout
 * leaves it as it was.
 */
const SWITCH_PREP = `set -e
umask 077
root=$1; ver=$2; how=$3; mode=$4; line=$5; slot=$6; tok=$7; shift 7
sfx=; [ "$slot" = green ] && sfx=-green
rel="$root/releases/$ver"
[ -d "$rel" ] || { echo "release $ver is not on this host ($rel)" >&2; exit 3; }
envf="$rel/.slipway-env$sfx"
keep=1; if [ "$how" = switchback ] && [ -f "$envf" ]; then keep=0; fi
if [ "$keep" = 1 ]; then : > "$envf.tmp"; chmod 600 "$envf.tmp"; fi
got=0
while IFS= read -r l; do
  if [ "$l" = "$tok" ]; then got=1; break; fi
  if [ "$keep" = 1 ]; then printf '%s\n' "$l" >> "$envf.tmp"; fi
done
[ "$got" = 1 ] || { echo "the environment did not arrive in full (stdin closed early)" >&2; exit 4; }
if [ "$keep" = 1 ]; then mv -f "$envf.tmp" "$envf"; fi
chmod 600 "$envf"
if [ "$how" != switchback ]; then printf '%s\n' "$line" > "$rel/.slipway-start$sfx.tmp"; chmod 600 "$rel/.slipway-start$sfx.tmp"; mv -f "$rel/.slipway-start$sfx.tmp" "$rel/.slipway-start$sfx"
elif [ -f "$rel/.slipway-start$sfx" ]; then chmod 600 "$rel/.slipway-start$sfx"; eval "set -- $(cat "$rel/.slipway-start$sfx")"; fi
mkdir -p "$root/shared"
ln -sfn "releases/$ver" "$root/.slot.tmp"
if [ "$how" != slot ]; then ln -sfn "releases/$ver" "$root/.current.tmp"; fi
stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)`;

const SWITCH_GO = `mv -Tf "$root/.slot.tmp" "$root/slot-$slot"
if [ "$how" != slot ]; then mv -Tf "$root/.current.tmp" "$root/current"; fi
cd "$rel"
echo "=== slipway: starting $ver in the $slot slot $stamp" >> "$root/shared/app.log"
umask 022
set -a; . "$envf"; set +a
if [ "$mode" = nohup ]; then
  nohup "$@" >> "$root/shared/app.log" 2>&1 < /dev/null &
  echo $! > "$root/shared/app$sfx.pid"
else
  "$@"
fi`;

const SWITCH_AND_START = `${SWITCH_PREP}
${SWITCH_GO}`;

/** The environment file's text: one `export NAME='value'` line per variable (names checked, values quoted). */
export function envFileText(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
        throw new UserError(`Input 'env': ${JSON.stringify(k)} is not a variable name (letters, digits and _, not starting with a digit)`);
      return `export ${k}=${shQuote(v)}\n`;
    })
    .join('');
}

/** Shell function: the process exists and is not a zombie (an exited child not yet reaped). */
const ALIVE_FN = `alive() {
  kill -0 "$1" 2>/dev/null || return 1
  [ -r "/proc/$1/status" ] || return 0
  while IFS= read -r st; do case $st in State:*Z*) return 1 ;; State:*) return 0 ;; esac; done < "/proc/$1/status"
  return 0
}`;

/**
 * Prints current, previous, the live slot, the idle slot's version, alive/dead and the releases on
 * the host (space-separated: prepare needs no round trip of its own to see which hosts lack the
 * release). Backfills slot-<live>.
 */
const READ_STATE = `${ALIVE_FN}
cd "$1" 2>/dev/null || { printf '\n\n\n\n\n\n'; exit 0; }
c=$(readlink current 2>/dev/null || true); p=$(readlink previous 2>/dev/null || true)
s=$(cat shared/slot 2>/dev/null || true); [ "$s" = green ] || s=blue
if [ "$s" = blue ]; then i=green; ipid=shared/app-green.pid; else i=blue; ipid=shared/app.pid; fi
if [ -n "$c" ] && [ ! -L "slot-$s" ]; then ln -sfn "$c" "slot-$s" 2>/dev/null || true; fi
iv=$(readlink "slot-$i" 2>/dev/null || true)
ia=dead; if [ -f "$ipid" ] && alive "$(cat "$ipid")"; then ia=alive; fi
printf '%s\n%s\n%s\n%s\n%s\n' "\${c##*/}" "\${p##*/}" "$s" "\${iv##*/}" "$ia"
for r in releases/*; do [ -d "$r" ] && printf '%s ' "\${r#releases/}"; done; echo`;

/** $1 root, $2 the slot that becomes live: shared/slot, current -> that slot's release. */
const RECORD_SLOT = `set -e
cd "$1"
r=$(readlink "slot-$2" 2>/dev/null || true)
[ -n "$r" ] || { echo "the $2 slot has no release" >&2; exit 3; }
mkdir -p shared
printf '%s\n' "$2" > shared/.slot.tmp && mv -f shared/.slot.tmp shared/slot
ln -sfn "$r" .current.tmp && mv -Tf .current.tmp current
ef="shared/expire-$2.pid"
if [ -f "$ef" ]; then kill "$(cat "$ef")" 2>/dev/null || true; rm -f "$ef"; fi`;

/** The background job of keepPrevious: $1 root, $2 slot, $3 pid file, $4 seconds, $5 grace (twentieths of a second). */
const EXPIRE_JOB = `${ALIVE_FN}
sleep "$4"
s=$(cat "$1/shared/slot" 2>/dev/null || echo blue)
[ "$s" = "$2" ] && exit 0
pidf="$1/shared/$3"
if [ -f "$pidf" ]; then
  pid=; read -r pid < "$pidf" || true
  if [ -n "$pid" ] && alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    i=0; while alive "$pid" && [ "$i" -lt "$5" ]; do sleep 0.05; i=$((i+1)); done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$pidf"
fi
rm -f "$1/shared/expire-$2.pid"`;

/** $1 root, $2 slot, $3 pid file, $4 seconds or 'cancel', $5 grace, $6 the job script. */
const EXPIRE = `ef="$1/shared/expire-$2.pid"
if [ -f "$ef" ]; then kill "$(cat "$ef")" 2>/dev/null || true; rm -f "$ef"; fi
[ "$4" = cancel ] && exit 0
mkdir -p "$1/shared"
nohup sh -c "$6" slipway "$1" "$2" "$3" "$4" "$5" > /dev/null 2>&1 < /dev/null &
echo $! > "$ef"`;

/**
 * Shell function stop_pid: $1 root, $2 grace in hundredths of a second, $3 pid file name. SIGTERM,
 * then a look every 10 ms until the process is gone (the next start needs its port), SIGKILL after
 * the grace.
 */
const STOP_FN = `${ALIVE_FN}
stop_pid() {
  pidf="$1/shared/$3"
  [ -f "$pidf" ] || return 0
  pid=; read -r pid < "$pidf" || true
  if [ -n "$pid" ] && alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    i=0
    while alive "$pid" && [ "$i" -lt "$2" ]; do sleep 0.01; i=$((i+1)); done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; echo "killed $pid after the drain timeout"; fi
  fi
  rm -f "$pidf"
}`;

/** $1 root, $2 grace in hundredths of a second, $3 pid file name. */
const STOP_PIDFILE = `${STOP_FN}
stop_pid "$1" "$2" "$3"`;

/**
 * In place, in one SSH round trip: $1 grace (hundredths of a second), $2 pid file name, then the
 * arguments of SWITCH_PREP. Gets the new release ready (SWITCH_PREP), then waits for a line `go`
 * on stdin: anything else (stdin closed: the load balancer's change failed) leaves the old copy
 * running and prints `slipway: not started`. Then stops what runs (as STOP_PIDFILE), and starts.
 */
const REPLACE_AND_START = `${STOP_FN}
grace=$1; pidn=$2; shift 2
${SWITCH_PREP}
go=; read -r go || true
if [ "$go" != go ]; then rm -f "$root/.slot.tmp" "$root/.current.tmp"; echo "slipway: not started"; exit 0; fi
stop_pid "$root" "$grace" "$pidn"
${SWITCH_GO}`;

const ALIVE = `${ALIVE_FN}
pidf="$1/shared/$2"; if [ -f "$pidf" ] && alive "$(cat "$pidf")"; then echo alive; else echo dead; fi`;

/**
 * $1 root, $2 how many to keep. Never removes current, previous or what a slot runs. A pruned
 * release leaves releases/ at once (a rename into .slipway-trash) and is deleted in the background,
 * so a rollout does not wait for thousands of files to be unlinked.
 */
const PRUNE = `cd "$1/releases" 2>/dev/null || exit 0
trash="$1/.slipway-trash"
c=$(readlink ../current 2>/dev/null || true); p=$(readlink ../previous 2>/dev/null || true)
b=$(readlink ../slot-blue 2>/dev/null || true); g=$(readlink ../slot-green 2>/dev/null || true)
n=0
for r in $(ls -1t); do
  n=$((n+1))
  [ "$n" -le "$2" ] && continue
  [ "releases/$r" = "$c" ] && continue
  [ "releases/$r" = "$p" ] && continue
  [ "releases/$r" = "$b" ] && continue
  [ "releases/$r" = "$g" ] && continue
  mkdir -p "$trash"
  mv "./$r" "$trash/$r.$$" 2>/dev/null || rm -rf "./$r"
done
if [ -d "$trash" ]; then nohup rm -rf "$trash" > /dev/null 2>&1 < /dev/null & fi`;

/** $1 root, $2 the version that ran before a successful rollout ('' = leave previous), $3 how many releases to keep: previous, then prune. */
const FINISH = `if [ -n "$2" ] && [ -d "$1/releases/$2" ]; then ln -sfn "releases/$2" "$1/.previous.tmp" && mv -Tf "$1/.previous.tmp" "$1/previous"; fi
set -- "$1" "$3"
${PRUNE}`;

/**
 * The deploy lock's part on one host: $1 root, $2 token, $3 until (epoch s), $4 now (epoch s);
 * stdin: the holder record (JSON). `mkdir` is atomic: exactly one of two deploys gets it. An
 * expired lock is broken under a second mkdir guard (re-checked inside it, so a lock taken in
 * between is never broken). Prints `taken`, `broke` + the old record, or `held` + the record.
 */
const LOCK_TAKE = `holder=$(cat)
lock="$1/.slipway-lock"; tok=$2; until=$3
mkdir -p "$1" || exit 3
take() {
  mkdir "$lock" 2>/dev/null || return 1
  printf '%s\\n' "$tok" > "$lock/token"; printf '%s\\n' "$until" > "$lock/until"; printf '%s\\n' "$holder" > "$lock/holder.json"
}
if take; then echo taken; exit 0; fi
u=$(cat "$lock/until" 2>/dev/null || true)
case "$u" in ''|*[!0-9]*) u= ;; esac
if [ -n "$u" ] && [ "$u" -lt "$4" ]; then
  find "$lock.break" -maxdepth 0 -mmin +1 -exec rmdir {} \\; 2>/dev/null || true
  if mkdir "$lock.break" 2>/dev/null; then
    broke=no
    if [ "$(cat "$lock/until" 2>/dev/null || true)" = "$u" ]; then old=$(cat "$lock/holder.json" 2>/dev/null || true); rm -rf "$lock"; broke=yes; fi
    rmdir "$lock.break"
    if [ "$broke" = yes ] && take; then echo broke; printf '%s\\n' "$old"; exit 0; fi
  fi
fi
echo held
cat "$lock/holder.json" 2>/dev/null || true`;

/** $1 root, $2 token: removes the lock when this token holds it. */
const LOCK_GIVE = `lock="$1/.slipway-lock"
[ -d "$lock" ] || exit 0
if [ "$(cat "$lock/token" 2>/dev/null || true)" = "$2" ]; then rm -rf "$lock"; fi`;

const LOGS = `tail -n "$2" "$1/shared/app.log" 2>/dev/null || true`;

export class HostsTarget implements DeployTarget, BlueGreenTarget {
  readonly kind = 'hosts';
  readonly strategy = 'in-place' as const;
  private readonly o: HostsTargetOptions;
  private readonly byId: Map<string, HostSpec>;
  /** The load balancer: nginx (checked reloads) or HAProxy (runtime API). */
  private readonly nginx?: NginxUpstream | HaproxyBackend;
  private readonly exec: Exec;
  private readonly versions = new Map<string, { current?: string; previous?: string }>();
  /** Live slot and idle slot state per host (read by instances()). */
  private readonly slots = new Map<string, { live: Slot; idleVersion?: string; idleRunning: boolean }>();
  /** The version each instance ran before this rollout switched it (for `previous` on success). */
  private readonly from = new Map<string, string | undefined>();
  private tarball?: string;
  private scratch?: string;
  /** The releases each host had when its state was last read (prepare's check, no round trip of its own). */
  private readonly releases = new Map<string, Set<string>>();
  /** Hosts whose state instances() has just read: their next currentVersion() is answered from it. */
  private readonly fresh = new Set<string>();

  constructor(o: HostsTargetOptions) {
    this.o = o;
    this.exec = o.exec ?? defaultExec;
    this.byId = new Map(o.hosts.map((h) => [h.id, h]));
    if (this.byId.size !== o.hosts.length) throw new UserError('hosts: two hosts have the same name');
    if (o.nginx) {
      const n = o.nginx;
      this.nginx = new NginxUpstream({
        host: n.host === 'local' ? localNginxHost(this.exec) : sshNginxHost(o.ssh, n.host),
        file: n.file,
        name: n.name,
        command: n.command,
        servers: o.hosts.map((h) => ({ id: h.id, address: this.addressOf(h, 'blue') })),
        settleMs: n.settleMs,
        pidFile: n.pidFile,
        settleTimeoutMs: o.drainTimeoutMs,
      });
    } else if (o.haproxy) {
      const x = o.haproxy;
      this.nginx = new HaproxyBackend({
        host: x.host === 'local' ? localHaproxyHost() : sshHaproxyHost(o.ssh, x.host),
        socket: x.socket,
        backend: x.backend,
        stateFile: x.stateFile,
        servers: o.hosts.map((h) => ({ id: h.id, address: this.addressOf(h, 'blue') })),
        drainTimeoutMs: o.drainTimeoutMs,
      });
    }
  }

  /** Whether a load balancer is configured (canary and blue/green need one). */
  get hasBalancer(): boolean {
    return !!this.nginx;
  }
  /** The load balancer (benchmarks count its reloads). */
  get nginxUpstream(): NginxUpstream | HaproxyBackend | undefined {
    return this.nginx;
  }

  private live(h: HostSpec): Slot {
    return this.slots.get(h.id)?.live ?? 'blue';
  }
  portOf(h: HostSpec, slot: Slot): number {
    return slot === 'blue' ? h.appPort : h.appPort + (this.o.greenPortOffset ?? 1);
  }
  private pidName(slot: Slot): string {
    return slot === 'blue' ? 'app.pid' : 'app-green.pid';
  }
  private vars(h: HostSpec, version: string, slot: Slot = this.live(h)): Record<string, string> {
    return {
      version,
      port: String(this.portOf(h, slot)),
      app_port: String(this.portOf(h, slot)),
      host: h.host,
      instance: h.id,
      deploy_root: h.deployRoot,
      release_dir: `${h.deployRoot}/releases/${version}`,
      slot,
    };
  }
  private addressOf(h: HostSpec, slot: Slot): string {
    return substitute(this.o.nginx?.addressTemplate ?? '{host}:{port}', this.vars(h, '', slot));
  }
  private host(i: InstanceRef): HostSpec {
    const h = this.byId.get(i.id);
    if (!h) throw new UserError(`hosts: unknown instance ${i.id}`);
    return h;
  }
  private urlOf(h: HostSpec, slot: Slot = this.live(h)): string {
    return substitute(this.o.urlTemplate ?? 'http://{host}:{port}', this.vars(h, '', slot));
  }
  /** The upstream's servers for a live-slot map (idle slots listed as down when asked to). */
  private serversFor(live: (h: HostSpec) => Slot) {
    return this.o.hosts.flatMap((h) => [
      { id: h.id, address: this.addressOf(h, live(h)) },
      ...(this.o.listIdleSlots ? [{ id: `${h.id}@idle`, address: this.addressOf(h, live(h) === 'blue' ? 'green' : 'blue'), down: true }] : []),
    ]);
  }

  /** Reads every host's state (versions, live slot): the rollout starts here. */
  async instances(signal: AbortSignal): Promise<InstanceRef[]> {
    await Promise.all(this.o.hosts.map((h) => this.readState(h, signal)));
    // The engine asks each instance's version right after: answered from this read (one round trip, not two).
    for (const h of this.o.hosts) this.fresh.add(h.id);
    if (this.nginx) this.nginx.servers = this.serversFor((h) => this.live(h));
    return this.o.hosts.map((h) => ({ id: h.id, url: this.urlOf(h) }));
  }

  private async readState(h: HostSpec, signal: AbortSignal) {
    const r = await this.o.ssh.script(h, READ_STATE, [h.deployRoot], 'reading the current release', { signal, timeoutMs: 60_000 });
    const [current, previous, slot, idleVersion, idle, releases] = r.stdout.split('\n').map((x) => x.trim());
    this.releases.set(h.id, new Set((releases ?? '').split(' ').filter(Boolean)));
    const v = { current: current || undefined, previous: previous || undefined };
    this.versions.set(h.id, v);
    this.slots.set(h.id, { live: slot === 'green' ? 'green' : 'blue', idleVersion: idleVersion || undefined, idleRunning: idle === 'alive' });
    return v;
  }
  async currentVersion(i: InstanceRef, signal: AbortSignal) {
    if (this.fresh.delete(i.id)) return this.versions.get(i.id)?.current;
    return (await this.readState(this.host(i), signal)).current;
  }
  async previousVersion(i: InstanceRef, signal: AbortSignal) {
    return (this.versions.get(i.id) ?? (await this.readState(this.host(i), signal))).previous;
  }

  /** Uploads the release where it is missing and checks nginx, before anything is switched. */
  async prepare(version: string, insts: InstanceRef[], signal: AbortSignal): Promise<void> {
    const hosts = insts.map((i) => this.host(i));
    this.fresh.clear();
    // The load balancer's check runs beside the release checks and uploads (independent).
    const balancer = this.nginx ? this.nginx.adopt(signal).then(() => this.nginx!.check(signal)) : Promise.resolve();
    balancer.catch(() => undefined);
    // Packing the artifact (local) too: ready when the checks find a host without the release.
    const packed = this.o.artifact ? this.pack(signal) : undefined;
    packed?.catch(() => undefined);
    const has = await Promise.all(
      hosts.map(
        async (h) =>
          this.releases.get(h.id)?.has(version) ??
          (await this.o.ssh.script(h, HAS_RELEASE, [h.deployRoot, version], 'checking the release', { signal })).stdout.trim() === 'yes',
      ),
    );
    this.releases.clear(); // read once, for this prepare
    const missing = hosts.filter((_, k) => !has[k]);
    if (missing.length) {
      if (!this.o.artifact) throw new UserError(`release ${version} is not on ${missing.map((h) => h.id).join(', ')} and no artifact was given to upload`);
      const tar = await packed!;
      const t0 = performance.now();
      await Promise.all(missing.map((h) => this.o.ssh.streamFile(h, tar, UNPACK, [h.deployRoot, version], `uploading release ${version}`, { signal })));
      this.o.log.info(`uploaded ${version} to ${missing.length} host(s) in ${Math.round(performance.now() - t0)} ms`);
    }
    await balancer;
  }

  private async pack(signal: AbortSignal): Promise<string> {
    if (this.tarball) return this.tarball;
    const a = this.o.artifact!;
    let st;
    try {
      st = statSync(a);
    } catch {
      throw new UserError(`Input 'artifact': ${a} does not exist`);
    }
    if (st.isFile()) {
      if (!/\.(tar\.gz|tgz)$/.test(a)) throw new UserError(`Input 'artifact': ${a} is a file but not a .tar.gz/.tgz archive (give a directory or a .tar.gz)`);
      return (this.tarball = a);
    }
    this.scratch = mkdtempSync(join(this.o.tempDir ?? '/tmp', 'slipway-artifact-'));
    const out = join(this.scratch, 'release.tar.gz');
    await execOk('tar', ['-czf', out, '-C', a, '.'], { signal, timeoutMs: 300_000, what: 'packing the artifact' });
    return (this.tarball = out);
  }

  async drain(insts: InstanceRef[], signal: AbortSignal): Promise<void> {
    if (this.nginx)
      await this.nginx.setDown(
        insts.map((i) => i.id),
        true,
        signal,
      );
  }
  async undrain(insts: InstanceRef[], signal: AbortSignal): Promise<void> {
    if (this.nginx)
      await this.nginx.setDown(
        insts.map((i) => i.id),
        false,
        signal,
      );
  }
  /** One load-balancer change at a batch boundary: `back` in, `out` out (nginx: one checked reload; its stop waits for the old workers). */
  async swap(back: InstanceRef[], out: InstanceRef[], signal: AbortSignal): Promise<void> {
    if (!this.nginx) return;
    await this.nginx.reconfigure(
      (u) => {
        for (const i of back) u.down.delete(i.id);
        for (const i of out) u.down.add(i.id);
      },
      signal,
      true,
    );
  }
  async setWeights(weights: Record<string, number> | undefined, signal: AbortSignal, apply: boolean): Promise<void> {
    if (!this.nginx) throw new UserError('hosts: canary weights need a load balancer in front (the nginx-host or haproxy-host input)');
    await this.nginx.setWeights(weights, signal, apply);
  }

  private async stopIn(h: HostSpec, slot: Slot, version: string, signal: AbortSignal): Promise<void> {
    this.fresh.clear();
    const vars = this.vars(h, version, slot);
    if (this.o.stop) {
      await this.o.ssh.runOk(
        h,
        this.o.stop.map((a) => substitute(a, vars)),
        'the stop command',
        { signal, timeoutMs: this.o.drainTimeoutMs + 30_000 },
      );
    } else if (this.o.systemdUnit) {
      await this.o.ssh.runOk(h, [...(this.o.systemctl ?? ['sudo', '-n', 'systemctl']), 'stop', this.o.systemdUnit], 'systemctl stop', {
        signal,
        timeoutMs: this.o.drainTimeoutMs + 30_000,
      });
    } else {
      const r = await this.o.ssh.script(
        h,
        STOP_PIDFILE,
        [h.deployRoot, String(Math.ceil(this.o.drainTimeoutMs / 10)), this.pidName(slot)],
        'stopping the app',
        { signal, timeoutMs: this.o.drainTimeoutMs + 30_000 },
      );
      if (r.stdout.trim()) this.o.log.warning(`${h.id}: ${r.stdout.trim()}`);
    }
  }
  async stop(i: InstanceRef, signal: AbortSignal): Promise<void> {
    const h = this.host(i);
    await this.stopIn(h, this.live(h), this.versions.get(i.id)?.current ?? '', signal);
  }

  private async start(
    i: InstanceRef,
    version: string,
    how: 'deploy' | 'switchback' | 'slot',
    signal: AbortSignal,
    slot: Slot = this.live(this.host(i)),
    stopFirst = false,
    go?: Promise<boolean>,
  ): Promise<Started> {
    const h = this.host(i);
    this.fresh.clear();
    const vars = this.vars(h, version, slot);
    let mode = 'nohup';
    let argv: string[];
    let envText = '';
    if (this.o.systemdUnit) {
      if (how === 'slot') throw new UserError('hosts: blue/green needs start-command (a systemd unit runs one copy of the app)');
      mode = 'none';
      argv = [...(this.o.systemctl ?? ['sudo', '-n', 'systemctl']), 'restart', this.o.systemdUnit];
    } else {
      // Values travel on stdin into an owner-only file, never on a command line (ssh's or the app's).
      const env = { ...Object.fromEntries(Object.entries(this.o.env ?? {}).map(([k, v]) => [k, substitute(v, vars)])), APP_VERSION: version, PORT: vars.port! };
      envText = envFileText(env);
      argv = (this.o.start ?? []).map((a) => substitute(a, vars));
    }
    const what = how === 'deploy' ? `starting ${version}` : how === 'slot' ? `starting ${version} in the ${slot} slot` : `switching back to ${version}`;
    // The environment ends at a line holding a token of our own (a value cannot end it early).
    const token = `--slipway-end-${randomBytes(12).toString('hex')}--`;
    const args = [h.deployRoot, version, how, mode, remoteCommand(argv), slot, token, ...argv];
    const input = `${envText}${token}\n`;
    // Replacing: the host gets the release ready at once and stops the old copy only on `go`.
    const later = stopFirst ? (go ?? Promise.resolve(true)).then((ok) => (ok ? 'go\n' : undefined)) : undefined;
    const r = await this.o.ssh.script(
      h,
      stopFirst ? REPLACE_AND_START : SWITCH_AND_START,
      stopFirst ? [String(Math.ceil(this.o.drainTimeoutMs / 10)), this.pidName(slot), ...args] : args,
      stopFirst ? `stopping the app and ${what}` : what,
      { signal, timeoutMs: 120_000 + (stopFirst ? this.o.drainTimeoutMs : 0), input, inputLater: later },
    );
    if (stopFirst && r.stdout.split('\n').includes('slipway: not started')) throw new NotStarted(i.id);
    const killed = stopFirst ? r.stdout.split('\n').find((l) => l.startsWith('killed ')) : undefined;
    if (killed) this.o.log.warning(`${h.id}: ${killed}`);
    const v = this.versions.get(i.id) ?? {};
    if (how !== 'switchback' && !this.from.has(i.id)) this.from.set(i.id, v.current);
    if (how !== 'slot') v.current = version;
    this.versions.set(i.id, v);
    return { readyUrl: this.urlOf(h, slot) + this.o.readyPath };
  }
  deploy(i: InstanceRef, version: string, signal: AbortSignal) {
    return this.start(i, version, 'deploy', signal);
  }
  switchBack(i: InstanceRef, version: string, signal: AbortSignal) {
    return this.start(i, version, 'switchback', signal);
  }
  /**
   * In place: stop, then deploy or switch back, in ONE SSH round trip (the built-in stop). With a
   * stop command or a systemd unit: stop() then the start, as two. With `go`, the SSH command
   * starts at once (while the load balancer still moves traffic away) and the host stops the old
   * copy only when `go` resolves true; false leaves it running (NotStarted).
   */
  async replace(i: InstanceRef, version: string, how: 'deploy' | 'switchBack', signal: AbortSignal, go?: Promise<boolean>): Promise<Started> {
    const h = this.host(i);
    const mode = how === 'deploy' ? 'deploy' : 'switchback';
    if (this.o.stop || this.o.systemdUnit) {
      if (go && !(await go)) throw new NotStarted(i.id);
      await this.stop(i, signal);
      return this.start(i, version, mode, signal);
    }
    return this.start(i, version, mode, signal, this.live(h), true, go);
  }

  /** The version-command's answer: the version the app in that slot says it serves. */
  async reportedVersion(i: InstanceRef, signal: AbortSignal, slot?: Slot): Promise<string | undefined> {
    const c = this.o.versionCommand;
    if (!c) return undefined;
    const h = this.host(i);
    const s = slot ?? this.live(h);
    const vars = this.vars(h, this.versions.get(h.id)?.current ?? '', s);
    const r = await this.o.ssh.runOk(
      h,
      c.map((a) => substitute(a, vars)),
      'the version-command',
      { signal, timeoutMs: 30_000 },
    );
    return r.stdout.trim().split('\n').pop()?.trim() ?? '';
  }

  // ------------------------------------------------------------- blue/green slots

  async slotInfo(i: InstanceRef, signal: AbortSignal): Promise<SlotInfo> {
    const h = this.host(i);
    if (!this.slots.has(h.id)) await this.readState(h, signal);
    const s = this.slots.get(h.id)!;
    return { live: s.live, liveVersion: this.versions.get(h.id)?.current, idleVersion: s.idleVersion, idleRunning: s.idleRunning };
  }
  slotUrl(i: InstanceRef, slot: Slot): string {
    return this.urlOf(this.host(i), slot);
  }
  slotReadyUrl(i: InstanceRef, slot: Slot): string {
    return this.urlOf(this.host(i), slot) + this.o.readyPath;
  }
  async startSlot(i: InstanceRef, slot: Slot, version: string, signal: AbortSignal): Promise<Started> {
    const h = this.host(i);
    if (slot === this.live(h)) throw new UserError(`hosts: ${h.id}: the ${slot} slot is live; a new version starts in the idle slot only`);
    await this.cancelExpiry(h, slot, signal);
    await this.stopIn(h, slot, '', signal);
    return this.start(i, version, 'slot', signal, slot);
  }
  async stopSlot(i: InstanceRef, slot: Slot, signal: AbortSignal): Promise<void> {
    const h = this.host(i);
    await this.cancelExpiry(h, slot, signal);
    await this.stopIn(h, slot, '', signal);
  }
  private async cancelExpiry(h: HostSpec, slot: Slot, signal: AbortSignal) {
    await this.o.ssh.script(h, EXPIRE, [h.deployRoot, slot, this.pidName(slot), 'cancel', '0', ''], 'cancelling the keep-previous timer', {
      signal,
      timeoutMs: 30_000,
    });
  }
  /** Records the live slots on the hosts, then moves the traffic in ONE nginx reload. */
  async switchTraffic(live: Record<string, Slot>, signal: AbortSignal): Promise<void> {
    if (!this.nginx) throw new UserError('hosts: blue/green needs a load balancer in front (the nginx-host or haproxy-host input)');
    const before = new Map(this.o.hosts.map((h) => [h.id, this.live(h)]));
    const changed = this.o.hosts.filter((h) => live[h.id] && live[h.id] !== before.get(h.id));
    const record = (hs: HostSpec[], slotOf: (h: HostSpec) => Slot) =>
      Promise.all(
        hs.map((h) => this.o.ssh.script(h, RECORD_SLOT, [h.deployRoot, slotOf(h)], `recording the ${slotOf(h)} slot as live`, { signal, timeoutMs: 30_000 })),
      );
    await record(changed, (h) => live[h.id]!);
    try {
      // settle: `nginx -s reload` returns before the new workers took over; wait so that the
      // caller's next step (the gate, stopping the old set) sees the new routing.
      await this.nginx.reconfigure((u) => (u.servers = this.serversFor((h) => live[h.id] ?? before.get(h.id)!)), signal, true);
    } catch (err) {
      await record(changed, (h) => before.get(h.id)!).catch(() => undefined);
      throw err;
    }
    for (const h of this.o.hosts) {
      const s = this.slots.get(h.id);
      const to = live[h.id];
      if (!s || !to || to === s.live) continue;
      const v = this.versions.get(h.id) ?? {};
      const idleVersion = s.idleVersion;
      this.slots.set(h.id, { live: to, idleVersion: v.current, idleRunning: true });
      v.current = idleVersion;
      this.versions.set(h.id, v);
    }
  }
  async keepPrevious(i: InstanceRef, slot: Slot, ms: number, signal: AbortSignal): Promise<string> {
    const h = this.host(i);
    if (ms <= 0) {
      await this.stopSlot(i, slot, signal);
      return new Date().toISOString();
    }
    await this.o.ssh.script(
      h,
      EXPIRE,
      [h.deployRoot, slot, this.pidName(slot), String(Math.ceil(ms / 1000)), String(Math.ceil(this.o.drainTimeoutMs / 50)), EXPIRE_JOB],
      'keeping the previous slot',
      { signal, timeoutMs: 30_000 },
    );
    return new Date(Date.now() + Math.ceil(ms / 1000) * 1000).toISOString();
  }

  async logs(i: InstanceRef, lines: number, signal: AbortSignal): Promise<string> {
    const h = this.host(i);
    const [log, alive] = await Promise.all([
      this.o.ssh.script(h, LOGS, [h.deployRoot, String(lines)], 'reading the app log', { signal, timeoutMs: 15_000 }),
      this.o.systemdUnit
        ? Promise.resolve(undefined)
        : this.o.ssh.script(h, ALIVE, [h.deployRoot, this.pidName(this.live(h))], 'checking the app process', { signal, timeoutMs: 15_000 }),
    ]);
    const state = alive ? (alive.stdout.trim() === 'alive' ? '(process running)' : '(process not running)') : '';
    return `${log.stdout.trimEnd()}${state ? `\n${state}` : ''}`;
  }

  /** After a successful rollout: `previous` → what ran before, then prune old releases. */
  async finish(version: string, insts: InstanceRef[], signal: AbortSignal): Promise<void> {
    await Promise.all(
      insts.map(async (i) => {
        const h = this.host(i);
        try {
          const before = this.from.get(i.id);
          const setPrevious = !!before && before !== version;
          await this.o.ssh.script(
            h,
            FINISH,
            [h.deployRoot, setPrevious ? before : '', String(this.o.keepReleases)],
            'recording the previous release and pruning',
            {
              signal,
            },
          );
          const v = this.versions.get(i.id);
          if (setPrevious && v) v.previous = before;
        } catch (e) {
          this.o.log.warning(`${h.id}: ${errorMessage(e)}`);
        }
      }),
    );
  }

  /** The deploy lock's parts: one per host, in a fixed order (host, port, root) whatever the input order. */
  lockParts(): LockPart[] {
    const key = (h: HostSpec) => `${h.host}\u0000${String(h.port).padStart(5, '0')}\u0000${h.deployRoot}`;
    return [...this.o.hosts].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)).map((h) => hostLockPart(this.o.ssh, h));
  }

  /** Where a `pause: manual` step waits: files next to the lock on every host (lock.ts hostPromotion). */
  promotion(): Promotion {
    return hostPromotion(this.o.ssh, this.o.hosts);
  }

  /** Appends one line to <deploy-root>/audit.log on every host (audit.ts); returns the hosts where that failed. */
  appendAudit(e: AuditEntry, signal?: AbortSignal): Promise<string[]> {
    return appendAudit(this.o.ssh, this.o.hosts, e, signal);
  }

  /**
   * What the load balancer does with each instance now, read from it (HAProxy's runtime API), for
   * `slipway status`; undefined with nginx (its state is the upstream file Slipway writes).
   */
  async balancerState(signal?: AbortSignal): Promise<Map<string, { address: string; down: boolean; weight: number }> | undefined> {
    return this.nginx instanceof HaproxyBackend ? this.nginx.state(signal) : undefined;
  }

  async close(): Promise<void> {
    await this.o.ssh.close();
    if (this.scratch) rmSync(this.scratch, { recursive: true, force: true });
  }
}

/** The lock on one host: `<deploy-root>/.slipway-lock` (mkdir), holding token, until and the holder record. */
export function hostLockPart(ssh: SshClient, h: HostSpec): LockPart {
  return {
    where: `${h.id} (${h.deployRoot}/.slipway-lock)`,
    async take(holder, nowMs, signal) {
      const r = await ssh.script(
        h,
        LOCK_TAKE,
        [h.deployRoot, holder.token, String(Math.floor(Date.parse(holder.until) / 1000)), String(Math.floor(nowMs / 1000))],
        'taking the deploy lock',
        { signal, timeoutMs: 30_000, input: JSON.stringify(holder) },
      );
      const [first, ...rest] = r.stdout.trim().split('\n');
      const record = rest.join('\n').trim();
      if (first === 'taken') return { taken: true };
      if (first === 'broke')
        return {
          taken: true,
          broke: parseHolder(record) ?? { token: '', actor: 'unknown', runUrl: '', version: '', reason: record.slice(0, 200), since: '?', until: '?' },
        };
      return { taken: false, holder: parseHolder(record), raw: record || undefined };
    },
    async give(token, signal) {
      await ssh.script(h, LOCK_GIVE, [h.deployRoot, token], 'releasing the deploy lock', { signal, timeoutMs: 30_000 });
    },
  };
}

/** Parses `[user@]host[:port]` (IPv6 as `[::1]:22`). */
export function parseHostEntry(text: string, defaults: { user: string; port: number }): SshHost {
  const m = /^(?:([A-Za-z0-9._][A-Za-z0-9._-]*)@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*)(?::(\d{1,5}))?$/.exec(text.trim());
  if (!m) throw new UserError(`host ${JSON.stringify(text)} is not [user@]host[:port]`);
  const port = m[3] ? Number(m[3]) : defaults.port;
  if (port < 1 || port > 65535) throw new UserError(`host ${JSON.stringify(text)}: port out of range`);
  return { user: m[1] ?? defaults.user, host: m[2]!.replace(/^\[|\]$/g, ''), port };
}

export { sshTargetName };
