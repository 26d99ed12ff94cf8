/**
 * The OpenSSH client, driven with argument arrays: strict host-key checking by default, one
 * ControlMaster socket per host (ControlPersist) so the many short commands of a rollout reuse one
 * connection, and clear errors for the usual failures (authentication, unknown host key,
 * unreachable host).
 *
 * ssh joins the remote arguments with spaces into a command line for the remote user's shell, so
 * every argument is single-quoted here (shQuote) and scripts are fixed texts that receive user
 * values only as positional parameters: `sh -c '<script>' slipway 'arg1' 'arg2'`.
 */
import { spawn } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec as defaultExec, lastLines, type Exec, type ExecResult } from '../lib/exec.ts';
import { UserError } from '../lib/errors.ts';

export interface SshHost {
  host: string;
  port: number;
  user: string;
}

export function sshTargetName(h: SshHost): string {
  return `${h.user}@${h.host}${h.port === 22 ? '' : `:${h.port}`}`;
}

/** Single-quotes one argument for a POSIX shell. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The remote command line for an argument array. */
export function remoteCommand(argv: readonly string[]): string {
  return argv.map(shQuote).join(' ');
}

const KEY_TYPES = /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)$/;

/** known_hosts host pattern for host:port. */
export function knownHostsPattern(h: { host: string; port: number }): string {
  return h.port === 22 ? h.host : `[${h.host}]:${h.port}`;
}

/**
 * Builds known_hosts text from the inputs: `knownHosts` is used as it is; each `hostKeys` line is
 * either a full known_hosts line (host pattern first) or a bare `type base64` key that every host
 * of the fleet is expected to present.
 */
export function buildKnownHosts(knownHosts: string | undefined, hostKeys: string | undefined, hosts: { host: string; port: number }[]): string {
  const out: string[] = [];
  if (knownHosts)
    out.push(
      ...knownHosts
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#')),
    );
  for (const raw of (hostKeys ?? '').split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const parts = line.split(/\s+/);
    if (KEY_TYPES.test(parts[0]!)) {
      if (parts.length < 2) throw new UserError(`Input 'host-key': the line ${JSON.stringify(line.slice(0, 40))} has a key type but no key`);
      for (const h of hosts) out.push(`${knownHostsPattern(h)} ${parts[0]} ${parts[1]}`);
    } else if (parts.length >= 3 && KEY_TYPES.test(parts[1]!)) {
      out.push(line);
    } else {
      throw new UserError(`Input 'host-key': ${JSON.stringify(line.slice(0, 60))} is not a host key (expected "ssh-ed25519 AAAA…" or a known_hosts line)`);
    }
  }
  return out.join('\n') + '\n';
}

export interface SshClientOptions {
  /** Private key file (0600). Without it, ssh-agent (SSH_AUTH_SOCK in env) is used. */
  keyPath?: string;
  /** known_hosts file. Required unless insecure. */
  knownHostsPath?: string;
  /** Accept any host key (never silently: the caller warns). */
  insecure?: boolean;
  connectTimeoutSec?: number;
  /** Environment for the ssh processes (HOME, SSH_AUTH_SOCK). */
  env?: Record<string, string | undefined>;
  exec?: Exec;
  /** Where the ControlMaster sockets live (a short path: sockets are limited to ~100 characters). */
  controlDir?: string;
  /** ControlPersist seconds. */
  persistSec?: number;
}

/** Why an ssh command failed, in words a person can act on. */
export function explainSshFailure(h: SshHost, r: Pick<ExecResult, 'code' | 'stderr' | 'stdout' | 'timedOut' | 'signal'>, what: string): string {
  const who = sshTargetName(h);
  const err = r.stderr;
  if (r.timedOut) return `${what} on ${who} timed out`;
  if (r.code === 255) {
    if (/Host key verification failed|No \S+ host key is known|host key for .* has changed|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(err)) {
      return `SSH to ${who}: the host key is not trusted (not in known-hosts / host-key, or it changed); nothing was run there. Add the host's key to the 'host-key' or 'known-hosts' input (ssh-keyscan -p ${h.port} ${h.host})`;
    }
    if (/Permission denied|Too many authentication failures|no mutual signature/i.test(err)) {
      return `SSH to ${who}: authentication failed (${lastLines(err, 1)}): check the 'ssh-key' input and that its public key is in ~${h.user}/.ssh/authorized_keys`;
    }
    if (
      /Connection refused|timed out|No route to host|Could not resolve|Network is unreachable|Connection closed|Connection reset|kex_exchange_identification/i.test(
        err,
      )
    ) {
      return `SSH to ${who}: host unreachable (${lastLines(err, 1)})`;
    }
    return `SSH to ${who} failed: ${lastLines(err, 3) || 'exit 255'}`;
  }
  const tail = lastLines(err || r.stdout, 5);
  return `${what} on ${who} ${r.signal ? `was killed by ${r.signal}` : `exited with code ${r.code}`}${tail ? `: ${tail}` : ''}`;
}

/** Options of one remote command: stdin now (`input`) and, optionally, more of it later (`inputLater`, see exec). */
export interface RunOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  input?: string;
  inputLater?: Promise<string | undefined>;
}

export class SshClient {
  private readonly opts: SshClientOptions;
  private readonly exec: Exec;
  readonly controlDir: string;
  private readonly ownsControlDir: boolean;
  private readonly used = new Map<string, SshHost>();
  constructor(opts: SshClientOptions) {
    if (!opts.knownHostsPath && !opts.insecure) throw new UserError('SSH host key verification needs known hosts: give the known-hosts or host-key input');
    this.opts = opts;
    this.exec = opts.exec ?? defaultExec;
    this.ownsControlDir = !opts.controlDir;
    this.controlDir = opts.controlDir ?? mkdtempSync(join(tmpdir(), 'slw-'));
  }

  /** ssh options for a host (without the destination). */
  args(h: SshHost): string[] {
    const o = this.opts;
    const a = [
      '-F',
      'none',
      '-p',
      String(h.port),
      '-o',
      'BatchMode=yes',
      '-o',
      `ConnectTimeout=${o.connectTimeoutSec ?? 15}`,
      '-o',
      'ServerAliveInterval=5',
      '-o',
      'ServerAliveCountMax=3',
      '-o',
      'LogLevel=ERROR',
    ];
    if (o.insecure) a.push('-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'GlobalKnownHostsFile=/dev/null');
    else
      a.push('-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${o.knownHostsPath}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'CheckHostIP=no');
    if (o.keyPath) a.push('-i', o.keyPath, '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none');
    a.push('-o', 'ControlMaster=auto', '-o', `ControlPath=${join(this.controlDir, '%C')}`, '-o', `ControlPersist=${o.persistSec ?? 300}`);
    return a;
  }

  private env(): NodeJS.ProcessEnv {
    return { ...(this.opts.env ?? process.env) } as NodeJS.ProcessEnv;
  }

  /** Runs argv on the host (each argument quoted for the remote shell). Resolves whatever the exit code. */
  async run(h: SshHost, argv: readonly string[], o: RunOptions = {}): Promise<ExecResult> {
    this.used.set(sshTargetName(h), h);
    return this.exec('ssh', [...this.args(h), `${h.user}@${h.host}`, '--', remoteCommand(argv)], {
      timeoutMs: o.timeoutMs ?? 120_000,
      signal: o.signal,
      input: o.input,
      inputLater: o.inputLater,
      env: this.env(),
      killGraceMs: 1000,
    });
  }

  /** Like run, but throws a UserError that explains the failure. */
  async runOk(h: SshHost, argv: readonly string[], what: string, o: RunOptions = {}): Promise<ExecResult> {
    const r = await this.run(h, argv, o);
    if (r.code !== 0) {
      if (o.signal?.aborted) throw new UserError(`${what} on ${sshTargetName(h)} cancelled`);
      throw new UserError(explainSshFailure(h, r, what));
    }
    return r;
  }

  /** A fixed script run by the remote `sh`, with user values as positional parameters. */
  script(h: SshHost, script: string, args: readonly string[], what: string, o: RunOptions = {}): Promise<ExecResult> {
    return this.runOk(h, ['sh', '-c', script, 'slipway', ...args], what, o);
  }

  /** Streams a local file to the stdin of a remote script (uploads). */
  async streamFile(
    h: SshHost,
    file: string,
    script: string,
    args: readonly string[],
    what: string,
    o: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<void> {
    this.used.set(sshTargetName(h), h);
    const argv = [...this.args(h), `${h.user}@${h.host}`, '--', remoteCommand(['sh', '-c', script, 'slipway', ...args])];
    const r = await new Promise<ExecResult>((resolve, reject) => {
      const started = performance.now();
      const child = spawn('ssh', argv, { env: this.env(), stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      child.stdout.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-65536)));
      child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-65536)));
      const kill = () => child.kill('SIGTERM');
      const timer = setTimeout(() => {
        timedOut = true;
        kill();
      }, o.timeoutMs ?? 600_000);
      o.signal?.addEventListener('abort', kill, { once: true });
      const input = createReadStream(file);
      input.on('error', (e) => {
        kill();
        reject(e);
      });
      child.stdin.on('error', () => {});
      input.pipe(child.stdin);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', kill);
        resolve({ command: ['ssh', ...argv], code, signal, stdout, stderr, durationMs: performance.now() - started, timedOut });
      });
    });
    if (r.code !== 0) throw new UserError(explainSshFailure(h, r, what));
  }

  /** Closes every master connection and removes the socket directory. */
  async close(): Promise<void> {
    await Promise.all(
      [...this.used.values()].map((h) =>
        this.exec('ssh', [...this.args(h), '-O', 'exit', `${h.user}@${h.host}`], { timeoutMs: 5_000, env: this.env() }).catch(() => undefined),
      ),
    );
    this.used.clear();
    if (this.ownsControlDir) rmSync(this.controlDir, { recursive: true, force: true });
  }
}

/** Writes a private key from an input for ssh -i (0600, newline-terminated); returns its path. */
export function writePrivateKey(dir: string, key: string): string {
  const path = join(dir, 'id');
  const text = key.replace(/\r\n/g, '\n').trim() + '\n';
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}
