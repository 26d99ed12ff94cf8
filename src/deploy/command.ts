/**
 * The `command` target: the user's own programs per phase, for platforms Slipway does not know,
 * with the engine's guarantees (batches, readiness, drain, rollback, saved state). Every command is
 * an argument array run without a shell; `{instance}`, `{index}`, `{version}`, `{previous_version}`
 * and `{url}` are substituted per argument. Exit 0 = success.
 *
 *   start         start {version} on {instance} (required)
 *   stop          stop what runs on {instance}
 *   drain/undrain take {instance} out of / back into the load balancer
 *   ready-check   exit 0 when {instance} is ready (else HTTP GET {url}<ready-path>)
 *   switch-back   start {version} again (an earlier one); default: start
 *   version       print the version {instance} runs (else: the previous-version input)
 */
import { parseHolder, type LockPart } from './lock.ts';
import { exec as defaultExec, lastLines, type Exec } from '../lib/exec.ts';
import { UserError } from '../lib/errors.ts';
import type { DeployTarget, InstanceRef, ReadyProbe, Started } from './engine.ts';
import { substitute } from './hosts.ts';

export interface CommandSet {
  start: string[];
  stop?: string[];
  drain?: string[];
  undrain?: string[];
  readyCheck?: string[];
  switchBack?: string[];
  version?: string[];
}

export interface CommandTargetOptions {
  instances: string[];
  commands: CommandSet;
  /** Instance URL template, e.g. `http://{instance}:8080`. */
  urlTemplate?: string;
  readyPath: string;
  /** What every instance runs before the rollout when there is no version command. */
  previousVersion?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  exec?: Exec;
  /**
   * The deploy lock (argument array): `{action}` is acquire or release, `{token}`, `{version}`,
   * `{until}` (ISO) and `{holder}` (the holder record, one line of JSON) are substituted. acquire:
   * exit 0 = taken, exit 1 = held (the output names the holder), anything else = error. release:
   * exit 0, and only when {token} holds it.
   */
  lockCommand?: string[];
}

/** The deploy lock part of the command target: the user's lock-command. */
export function commandLockPart(argv: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; exec?: Exec }): LockPart {
  const exec = o.exec ?? defaultExec;
  const call = async (vars: Record<string, string>, signal: AbortSignal) => {
    const a = argv.map((x) => substitute(x, vars));
    return exec(a[0]!, a.slice(1), { cwd: o.cwd, env: o.env, timeoutMs: 60_000, signal });
  };
  return {
    where: 'lock-command',
    async take(h, _now, signal) {
      const r = await call({ action: 'acquire', token: h.token, version: h.version, until: h.until, holder: JSON.stringify(h) }, signal);
      if (r.code === 0) return { taken: true };
      const out = lastLines(r.stdout || r.stderr, 3);
      if (r.code === 1) return { taken: false, holder: parseHolder(out), raw: out || undefined };
      throw new UserError(`lock-command (acquire) ${r.timedOut ? 'timed out' : `exited with code ${r.code}`}: ${out || '(no output)'}`);
    },
    async give(token, signal) {
      const r = await call({ action: 'release', token, version: '', until: '', holder: '' }, signal);
      if (r.code !== 0) throw new UserError(`lock-command (release) exited with code ${r.code}: ${lastLines(r.stderr || r.stdout, 3) || '(no output)'}`);
    },
  };
}

export class CommandTarget implements DeployTarget {
  readonly kind = 'command';
  readonly strategy = 'in-place' as const;
  private readonly o: CommandTargetOptions;
  private readonly exec: Exec;
  private readonly current = new Map<string, string | undefined>();
  private readonly previous = new Map<string, string | undefined>();
  constructor(o: CommandTargetOptions) {
    if (!o.instances.length) throw new UserError("Input 'instances': the command target needs at least one instance");
    if (new Set(o.instances).size !== o.instances.length) throw new UserError("Input 'instances': two instances have the same name");
    this.o = o;
    this.exec = o.exec ?? defaultExec;
    for (const i of o.instances) {
      this.current.set(i, o.previousVersion);
      this.previous.set(i, o.previousVersion);
    }
  }
  private vars(i: InstanceRef, version = ''): Record<string, string> {
    return { instance: i.id, index: String(this.o.instances.indexOf(i.id)), version, previous_version: this.previous.get(i.id) ?? '', url: i.url };
  }
  private async run(phase: string, argv: string[], vars: Record<string, string>, signal: AbortSignal) {
    const a = argv.map((x) => substitute(x, vars));
    const r = await this.exec(a[0]!, a.slice(1), { cwd: this.o.cwd, env: this.o.env, timeoutMs: this.o.timeoutMs ?? 300_000, signal });
    if (r.code !== 0) {
      if (signal.aborted) throw new UserError(`${phase} command for ${vars.instance} cancelled`);
      throw new UserError(
        `${phase} command for ${vars.instance} ${r.timedOut ? 'timed out' : `exited with code ${r.code}`}: ${lastLines(r.stderr || r.stdout, 5) || '(no output)'}`,
      );
    }
    return r;
  }
  async instances(): Promise<InstanceRef[]> {
    return this.o.instances.map((id) => ({ id, url: substitute(this.o.urlTemplate ?? '', { instance: id }) }));
  }
  async currentVersion(i: InstanceRef, signal: AbortSignal) {
    if (!this.o.commands.version) return this.current.get(i.id);
    const v = (await this.run('version', this.o.commands.version, this.vars(i), signal)).stdout.trim().split('\n').pop()?.trim();
    this.current.set(i.id, v || undefined);
    return v || undefined;
  }
  async previousVersion(i: InstanceRef) {
    return this.previous.get(i.id);
  }
  async drain(list: InstanceRef[], signal: AbortSignal) {
    const c = this.o.commands.drain;
    if (c) await Promise.all(list.map((i) => this.run('drain', c, this.vars(i), signal)));
  }
  async undrain(list: InstanceRef[], signal: AbortSignal) {
    const c = this.o.commands.undrain;
    if (c) await Promise.all(list.map((i) => this.run('undrain', c, this.vars(i), signal)));
  }
  async stop(i: InstanceRef, signal: AbortSignal) {
    if (this.o.commands.stop) await this.run('stop', this.o.commands.stop, this.vars(i, this.current.get(i.id) ?? ''), signal);
  }
  private started(i: InstanceRef): Started {
    return { readyUrl: this.o.commands.readyCheck ? `command:${i.id}` : `${i.url}${this.o.readyPath}` };
  }
  async deploy(i: InstanceRef, version: string, signal: AbortSignal) {
    const cur = this.current.get(i.id);
    await this.run('start', this.o.commands.start, this.vars(i, version), signal);
    if (cur && cur !== version) this.previous.set(i.id, cur);
    this.current.set(i.id, version);
    return this.started(i);
  }
  async switchBack(i: InstanceRef, version: string, signal: AbortSignal) {
    await this.run('switch-back', this.o.commands.switchBack ?? this.o.commands.start, this.vars(i, version), signal);
    this.current.set(i.id, version);
    return this.started(i);
  }
  /** With a version command: what the instance says it runs (readiness checks it against the rollout's version). */
  async reportedVersion(i: InstanceRef, signal: AbortSignal): Promise<string | undefined> {
    if (!this.o.commands.version) return undefined;
    return (await this.run('version', this.o.commands.version, this.vars(i), signal)).stdout.trim().split('\n').pop()?.trim() ?? '';
  }
  async probe(i: InstanceRef, readyUrl: string, signal: AbortSignal): Promise<ReadyProbe> {
    const c = this.o.commands.readyCheck;
    if (!c) {
      const { httpProbe } = await import('./engine.ts');
      return httpProbe(readyUrl, 2000, signal);
    }
    const a = c.map((x) => substitute(x, this.vars(i, this.current.get(i.id) ?? '')));
    const r = await this.exec(a[0]!, a.slice(1), { cwd: this.o.cwd, env: this.o.env, timeoutMs: 30_000, signal });
    return { ok: r.code === 0, answer: `exit ${r.code}${lastLines(r.stdout || r.stderr, 1) ? `: ${lastLines(r.stdout || r.stderr, 1)}` : ''}` };
  }
  lockParts(): LockPart[] {
    return this.o.lockCommand ? [commandLockPart(this.o.lockCommand, { cwd: this.o.cwd, env: this.o.env, exec: this.exec })] : [];
  }
  async close() {}
}
