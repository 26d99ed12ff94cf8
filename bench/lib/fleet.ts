/**
 * The deploy target the fleet benches roll out with: a HostsTarget over a test fleet
 * (test/integration/deploy/hosts-fleet.ts: sshd "hosts" on loopback, the sample app).
 */
import { node24, type HostsFleet } from '../../test/integration/deploy/hosts-fleet.ts';
import { HostsTarget, type HostSpec, type HostsTargetOptions } from '../../src/deploy/hosts.ts';
import { SshClient } from '../../src/deploy/ssh.ts';
import type { Exec } from '../../src/lib/exec.ts';
import type { Reporter } from '../../src/lib/report.ts';

export interface FleetTargetOptions extends Partial<Pick<HostsTargetOptions, 'env' | 'greenPortOffset' | 'listIdleSlots'>> {
  /** The fleet's balancer the target drives: nginx (checked reloads) or HAProxy (runtime API). */
  balancer: 'nginx' | 'haproxy';
  keepReleases: number;
  log: Reporter;
  /** The hosts to deploy to (default: all of the fleet's). */
  hosts?: HostSpec[];
  /** exec for both the SSH client and the target (e.g. one that records every command). */
  exec?: Exec;
}

/**
 * A fresh HostsTarget (and SSH client: new master connections) over `fleet`: `node24 server.js`
 * from the fleet's artifact, readiness on /ready, a 10 s drain before SIGKILL, and the fleet's
 * nginx upstream file or HAProxy admin socket.
 */
export function fleetTarget(fleet: HostsFleet, o: FleetTargetOptions): HostsTarget {
  const { balancer, keepReleases, log, hosts, exec, ...extra } = o;
  return new HostsTarget({
    hosts: hosts ?? fleet.hosts,
    ssh: new SshClient({ keyPath: fleet.ssh.keyPath, knownHostsPath: fleet.ssh.knownHostsPath, exec }),
    artifact: fleet.artifact,
    start: [node24, 'server.js'],
    readyPath: '/ready',
    keepReleases,
    drainTimeoutMs: 10_000,
    exec,
    ...(balancer === 'nginx'
      ? { nginx: { host: 'local' as const, file: fleet.upstreamFile, name: 'app', command: fleet.nginxCommand } }
      : { haproxy: { host: 'local' as const, socket: fleet.haproxy!.socket, backend: 'app', stateFile: fleet.haproxy!.stateFile } }),
    ...extra,
    log,
  });
}
