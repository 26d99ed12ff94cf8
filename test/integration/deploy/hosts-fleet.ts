/**
 * A real fleet for the hosts target: n sshd "hosts" on loopback (one shared client key, each its
 * own host key and deploy root), nginx in front including the generated upstream file, and a
 * release artifact holding the sample app. Used by the integration, e2e tests and the benches.
 */
import { chmodSync, chownSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { freePort, startNginx, startSshdFleet, type NginxServer, type SshdFleet } from '../../helpers/servers.ts';
import { startHaproxy, type HaproxyServer } from './haproxy-server.ts';

export const repoRoot = new URL('../../..', import.meta.url).pathname.replace(/\/$/, '');
export const node24 = join(repoRoot, 'node_modules/.bin/node');

export interface HostsFleet {
  ssh: SshdFleet;
  nginx?: NginxServer;
  /** With `balancer: 'haproxy'`: HAProxy in front instead of nginx (servers named like the hosts). */
  haproxy?: HaproxyServer;
  /** The load balancer's URL (nginx or HAProxy). */
  url: string;
  upstreamFile: string;
  /** Directory with server.js and node_modules (the artifact). */
  artifact: string;
  hosts: { id: string; host: string; port: number; user: string; appPort: number; deployRoot: string }[];
  /** The `hosts` input (YAML) for these hosts. */
  hostsInput: string;
  nginxCommand: string[];
  dir: string;
  /** What each host's `current` points at (read on disk: all hosts are this machine). */
  currentVersions(): string[];
  /** Sequence of /version answers through nginx. */
  stop(): Promise<void>;
}

function uidOf(user: string): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', user]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', user]).toString().trim());
  return { uid, gid };
}

export async function startHostsFleet(n: number, opts: { nginx?: boolean; balancer?: 'nginx' | 'haproxy' | 'none' } = {}): Promise<HostsFleet> {
  const balancer = opts.balancer ?? (opts.nginx === false ? 'none' : 'nginx');
  const ssh = await startSshdFleet(n);
  const dir = mkdtempSync(join(tmpdir(), 'slipway-hosts-'));
  chmodSync(dir, 0o755);
  const { uid, gid } = uidOf(ssh.user);
  const artifact = join(dir, 'artifact');
  mkdirSync(artifact);
  cpSync(join(repoRoot, 'examples/app/server.js'), join(artifact, 'server.js'));
  symlinkSync(join(repoRoot, 'node_modules'), join(artifact, 'node_modules'));
  writeFileSync(join(artifact, 'package.json'), '{"type":"module"}\n');
  const hosts: HostsFleet['hosts'] = [];
  for (let i = 0; i < n; i++) {
    const root = join(dir, `host${i + 1}`);
    mkdirSync(root, { mode: 0o755 });
    chownSync(root, uid, gid);
    hosts.push({ id: `web${i + 1}`, host: '127.0.0.1', port: ssh.servers[i]!.port, user: ssh.user, appPort: await freePort(), deployRoot: root });
  }
  const upstreamFile = join(dir, 'upstream.conf');
  writeFileSync(upstreamFile, `upstream app {\n${hosts.map((h) => `  server 127.0.0.1:${h.appPort};`).join('\n')}\n  keepalive 16;\n}\n`);
  let nginx: NginxServer | undefined;
  let haproxy: HaproxyServer | undefined;
  if (balancer === 'haproxy') haproxy = await startHaproxy(hosts.map((h) => ({ name: h.id, address: `127.0.0.1:${h.appPort}` })));
  if (balancer === 'nginx') {
    nginx = await startNginx({
      workerProcesses: 2,
      config: ({ port }) =>
        [
          `include ${upstreamFile};`,
          'server {',
          `  listen 127.0.0.1:${port};`,
          '  location / {',
          '    proxy_pass http://app;',
          '    proxy_http_version 1.1;',
          '    proxy_set_header Connection "";',
          '    proxy_next_upstream error timeout http_502 http_503;',
          '  }',
          '}',
        ].join('\n'),
    });
  }
  const hostsInput = JSON.stringify(hosts.map((h) => ({ name: h.id, host: `${h.user}@${h.host}:${h.port}`, 'app-port': h.appPort, 'deploy-root': h.deployRoot })));
  return {
    ssh,
    nginx,
    haproxy,
    url: nginx?.url ?? haproxy?.url ?? '',
    upstreamFile,
    artifact,
    hosts,
    hostsInput,
    nginxCommand: nginx ? ['nginx', ...nginx.nginxArgs] : [],
    dir,
    currentVersions() {
      return hosts.map((h) => {
        try {
          return execFileSync('readlink', [join(h.deployRoot, 'current')]).toString().trim().split('/').pop() ?? '';
        } catch {
          return '(none)';
        }
      });
    },
    async stop() {
      // Stop the apps the hosts started (pid files of both slots: blue/green keeps the other one running), then the servers.
      for (const h of hosts) {
        for (const file of ['shared/app.pid', 'shared/app-green.pid']) {
          try {
            const pid = Number(execFileSync('cat', [join(h.deployRoot, file)], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim());
            if (pid > 0) process.kill(pid, 'SIGKILL');
          } catch {}
        }
      }
      await nginx?.stop();
      await haproxy?.stop();
      await ssh.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * GET url, returns the app's version from /version, or the error. A keep-alive connection that an
 * nginx reload just closed is retried once on a fresh one, as clients do (TESTING.md).
 */
export async function versionAt(url: string): Promise<string> {
  let last: Error | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const r = await fetch(`${url}/version`, { signal: AbortSignal.timeout(2000) });
      return ((await r.json()) as { version: string }).version;
    } catch (e) {
      last = e as Error;
    }
  }
  return `error: ${last?.message}`;
}
