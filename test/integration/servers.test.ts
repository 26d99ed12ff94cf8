// Proves each real-server fixture in test/helpers/servers.ts: start, one real request, stop, PID gone.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import {
  freePort,
  isAlive,
  requireServer,
  startNginx,
  startPostgres,
  startPrometheus,
  startRegistry,
  startSshd,
  startSshdFleet,
} from '../helpers/servers.ts';

const has = {
  postgres: requireServer('postgres'),
  nginx: requireServer('nginx'),
  sshd: requireServer('sshd'),
  prometheus: requireServer('prometheus'),
  registry: requireServer('registry'),
};

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

/** A small node HTTP server on a port the OS picks; closed after the test. */
async function nodeServer(handler: http.RequestListener): Promise<{ port: number; address: string }> {
  const srv = http.createServer(handler);
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise((resolve) => {
        srv.closeAllConnections();
        srv.close(resolve);
      }),
  );
  const port = (srv.address() as AddressInfo).port;
  return { port, address: `127.0.0.1:${port}` };
}

function runFile(cmd: string, args: string[], timeoutMs = 20_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('freePort', () => {
  it('returns distinct bindable ports in 20000-32000', async () => {
    const ports = await Promise.all([freePort(), freePort(), freePort()]);
    expect(new Set(ports).size).toBe(3);
    for (const p of ports) expect(p >= 20_000 && p < 32_000).toBe(true);
    const srv = http.createServer();
    await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(ports[0], '127.0.0.1', resolve));
    await new Promise((resolve) => srv.close(resolve));
  });
});

describe.skipIf(!has.postgres)('startPostgres', () => {
  it('answers select 1 with a password, survives kill9 + restart, and stops by PID', async () => {
    const password = 'p@ss w/rd:1';
    const db = await startPostgres({ password });
    cleanups.push(() => db.stop());
    expect(db.url).toBe(`postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${db.port}/postgres`);

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    await client.end();
    expect(await db.psql('select 40 + 2')).toBe('42');

    // the password is really required over TCP
    const wrong = new pg.Client({ connectionString: db.url.replace(encodeURIComponent(password), 'nope') });
    await expect(wrong.connect()).rejects.toThrow(/password authentication failed/);

    const first = db.pid;
    await db.kill9();
    expect(isAlive(first)).toBe(false);
    await db.restart();
    expect(db.pid).not.toBe(first);
    expect(await db.psql('select 1')).toBe('1');

    const pid = db.pid;
    await db.stop();
    expect(isAlive(pid)).toBe(false);
    expect(fs.existsSync(db.dataDir)).toBe(false);
  });
});

describe.skipIf(!has.nginx)('startNginx', () => {
  it('proxies to an upstream, reloads onto another, and stops by PID', async () => {
    const a = await nodeServer((_req, res) => res.end('from-a'));
    const b = await nodeServer((_req, res) => res.end('from-b'));
    const ngx = await startNginx({ upstreams: [a.address] });
    cleanups.push(() => ngx.stop());
    expect(await (await fetch(ngx.url)).text()).toBe('from-a');

    const workers = ngx.workerPids();
    expect(workers.length).toBeGreaterThan(0);
    await ngx.reload({ upstreams: [{ address: a.address, down: true }, b.address] });
    expect(await (await fetch(ngx.url)).text()).toBe('from-b');
    expect(fs.readFileSync(ngx.confPath, 'utf8')).toContain(`server ${a.address} down;`);

    const pid = ngx.pid;
    const all = [pid, ...ngx.workerPids()];
    await ngx.stop();
    for (const p of all) expect(isAlive(p)).toBe(false);
    expect(fs.existsSync(ngx.prefix)).toBe(false);
  });

  it('takes a whole http {} body and rejects a bad one with nginx -t output', async () => {
    const ngx = await startNginx({ config: ({ port }) => `server { listen 127.0.0.1:${port}; location / { return 204; } }` });
    cleanups.push(() => ngx.stop());
    expect((await fetch(ngx.url)).status).toBe(204);
    await expect(ngx.reload({ config: 'server { nonsense_directive on; }' })).rejects.toThrow(/unknown directive "nonsense_directive"/);
    expect((await fetch(ngx.url)).status).toBe(204);
  });
});

describe.skipIf(!has.sshd)('startSshd', () => {
  it('accepts the client key with a pinned host key, and stops by PID', async () => {
    const s = await startSshd();
    cleanups.push(() => s.stop());
    expect(fs.readFileSync(s.knownHostsPath, 'utf8')).toBe(`${s.hostKeyLine}\n`);
    expect(s.hostKeyLine).toMatch(new RegExp(`^\\[127\\.0\\.0\\.1\\]:${s.port} ssh-ed25519 `));
    const r = await runFile('ssh', [...s.sshArgs, s.target, 'echo', 'ok']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('ok\n');
    expect((await s.exec('id -un')).trim()).toBe(s.user);

    const pid = s.pid;
    await s.stop();
    expect(isAlive(pid)).toBe(false);
  });

  it('starts a fleet sharing one client key', async () => {
    const fleet = await startSshdFleet(2);
    cleanups.push(() => fleet.stop());
    expect(new Set(fleet.servers.map((s) => s.port)).size).toBe(2);
    for (const s of fleet.servers) {
      const r = await runFile('ssh', [
        '-F', '/dev/null', '-p', String(s.port), '-i', fleet.keyPath, '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes',
        '-o', `UserKnownHostsFile=${fleet.knownHostsPath}`, '-o', 'StrictHostKeyChecking=yes', `${fleet.user}@127.0.0.1`, 'echo', String(s.port),
      ]);
      expect(r.stdout).toBe(`${s.port}\n`);
    }
    const pids = fleet.servers.map((s) => s.pid);
    await fleet.stop();
    for (const p of pids) expect(isAlive(p)).toBe(false);
  });
});

describe.skipIf(!has.prometheus)('startPrometheus', () => {
  it('scrapes a target and answers a query', async () => {
    const app = await nodeServer((_req, res) => {
      res.setHeader('content-type', 'text/plain; version=0.0.4');
      res.end('# TYPE slipway_fixture_ok gauge\nslipway_fixture_ok 1\n');
    });
    const prom = await startPrometheus({ targets: [app.address] });
    cleanups.push(() => prom.stop());
    const up = await prom.waitForSeries('up{job="app"} == 1', 20_000);
    expect(up[0]!.metric.instance).toBe(app.address);
    expect((await prom.query('slipway_fixture_ok'))[0]!.value[1]).toBe('1');

    const pid = prom.pid;
    await prom.stop();
    expect(isAlive(pid)).toBe(false);
  });
});

describe.skipIf(!has.registry)('startRegistry', () => {
  it('serves the OCI distribution API and stops by PID', async () => {
    const reg = await startRegistry();
    cleanups.push(() => reg.stop());
    expect(reg.url).toBe(`http://${reg.host}`);
    const res = await fetch(`${reg.url}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    const pid = reg.pid;
    await reg.stop();
    expect(isAlive(pid)).toBe(false);
  });

  it('requires basic auth when given htpasswd credentials', async () => {
    const reg = await startRegistry({ htpasswd: { user: 'ci', password: 's3cret!' } });
    cleanups.push(() => reg.stop());
    expect((await fetch(`${reg.url}/v2/`)).status).toBe(401);
    expect((await fetch(`${reg.url}/v2/`, { headers: { authorization: 'Basic ' + Buffer.from('ci:wrong').toString('base64') } })).status).toBe(401);
    expect((await fetch(`${reg.url}/v2/`, { headers: { authorization: reg.auth!.header } })).status).toBe(200);
  });
});

describe.skipIf(!has.nginx)('exit hook', () => {
  it('kills the servers of a test process that crashes', async () => {
    const helpers = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../helpers/servers.ts');
    const script = `
      const m = await import(${JSON.stringify(helpers)});
      const n = await m.startNginx();
      console.log(JSON.stringify({ pid: n.pid, prefix: n.prefix }));
      throw new Error('simulated crash');`;
    const r = await runFile(process.execPath, ['--input-type=module', '-e', script]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('simulated crash');
    const { pid, prefix } = JSON.parse(r.stdout.trim()) as { pid: number; prefix: string };
    expect(isAlive(pid)).toBe(false);
    expect(fs.existsSync(prefix)).toBe(false);
  });
});
