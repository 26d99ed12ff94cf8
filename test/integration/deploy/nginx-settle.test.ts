/**
 * nginx drain (issue 16, item 1): after the checked reload that marks an instance down, the
 * caller (who stops the instance next) gets control only once the workers that ran before the
 * reload — the ones still routing to it — have exited. Observed through the master's pid file
 * (found with nginx -T), not a fixed sleep. Real nginx on 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { NginxUpstream, localNginxHost } from '../../../src/deploy/nginx.ts';
import { requireServer, startNginx, type NginxServer } from '../../helpers/servers.ts';

const ok = requireServer('nginx');

describe.skipIf(!ok)('nginx: the stop waits for the old workers (observed)', () => {
  let nginx: NginxServer;
  let file: string;
  let slow: http.Server;
  let slowPort = 0;
  beforeAll(async () => {
    // A backend that answers after 1.5 s: a request in flight keeps an old worker alive.
    slow = http.createServer((_q, r) => setTimeout(() => r.end('slow ok'), 1500));
    await new Promise<void>((res) => slow.listen(0, '127.0.0.1', () => res()));
    slowPort = (slow.address() as AddressInfo).port;
    nginx = await startNginx({
      workerProcesses: 2,
      config: ({ port, prefix }) => {
        file = join(prefix, 'upstream.conf');
        writeFileSync(file, `upstream app { server 127.0.0.1:${slowPort}; server 127.0.0.1:${slowPort + 0}; }\n`);
        return `include ${file};\nserver { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }`;
      },
    });
  }, 30_000);
  afterAll(async () => {
    await nginx?.stop();
    slow?.closeAllConnections();
    slow?.close();
  });

  const workers = () => execFileSync('ps', ['-o', 'pid=', '--ppid', String(nginx.pid)]).toString().trim().split(/\s+/).filter(Boolean);
  const alive = (pid: string) => {
    try {
      process.kill(Number(pid), 0);
      return !/State:\s*Z/.test(execFileSync('cat', [`/proc/${pid}/status`]).toString());
    } catch {
      return false;
    }
  };

  it('finds the pid file with nginx -T and returns from a drain only after the old workers exited', async () => {
    const u = new NginxUpstream({ host: localNginxHost(), file, name: 'app', command: ['nginx', ...nginx.nginxArgs], servers: [{ id: 'web1', address: `127.0.0.1:${slowPort}` }, { id: 'web2', address: `localhost:${slowPort}` }] });
    await u.check();
    for (let k = 0; k < 3; k++) {
      const before = workers();
      expect(before.length).toBeGreaterThanOrEqual(2);
      const inFlight = fetch(nginx.url).then((r) => r.text());
      await new Promise((r) => setTimeout(r, 200));
      const t0 = performance.now();
      await u.setDown(['web1'], true);
      const took = performance.now() - t0;
      expect(before.filter(alive), `old workers still running when the drain returned (round ${k})`).toEqual([]);
      expect(took).toBeGreaterThan(1000); // it waited for the request in flight on an old worker
      expect(await inFlight).toBe('slow ok');
      await u.setDown(['web1'], false); // putting back: no wait needed
    }
    expect(u.reloads).toBe(7); // check() wrote the generated file once, then 3 × (down, up)
    expect(u.settleTimeouts).toBe(0);
  }, 60_000);
});
