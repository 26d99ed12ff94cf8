/**
 * Secrets given in `env` stay secret on the host (issue 16, item 5), against real sshd: the start
 * and environment files are owner-only (0600), no value is on any command line `ps` shows while the
 * rollout runs (the ssh client's, the remote shell's, the app's), and the app still receives every
 * value through its environment, forward and on a switch back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { parseInputs } from '../../../src/manifest/fields.ts';
import type { ActionContext } from '../../../src/runner/context.ts';
import { spec } from '../../../src/actions/deploy-rolling/inputs.ts';
import { run } from '../../../src/actions/deploy-rolling/run.ts';
import { envFileText } from '../../../src/deploy/hosts.ts';
import { requireServer } from '../../helpers/servers.ts';
import { node24, startHostsFleet, type HostsFleet } from './hosts-fleet.ts';

const ok = requireServer('sshd');
const SECRET = 'postgres://app:s3cr3t-pa55-Zq9@db.internal/app';
const OTHER = "it's \"quoted\" $HOME `x`\nsecond line";

function context(): ActionContext {
  return {
    log: new MemoryReporter(),
    github: {} as ActionContext['github'],
    saveState: () => {},
    getState: () => '',
    signal: new AbortController().signal,
    tempDir: mkdtempSync(join(tmpdir(), 'slipway-runner-temp-')),
    workspace: process.cwd(),
    env: process.env,
  };
}

/** Every process's command line, read from /proc (what `ps -eo args` shows every local user). */
function commandLines(): string[] {
  const out: string[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      out.push(readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' '));
    } catch {}
  }
  return out;
}

describe('envFileText', () => {
  it('quotes every value for the shell and refuses a bad name', () => {
    expect(envFileText({ A: "x'y", B: '$(id)' })).toBe(`export A='x'\\''y'\nexport B='$(id)'\n`);
    expect(() => envFileText({ 'A B': 'x' })).toThrow(/Input 'env': "A B" is not a variable name/);
  });
});

describe.skipIf(!ok)('env secrets on the hosts target (real sshd)', () => {
  let fleet: HostsFleet;
  let raw: Record<string, string>;
  const go = async (over: Record<string, string>) => {
    const ctx = context();
    const inputs = await parseInputs(spec, (n) => ({ ...raw, ...over })[n], () => {});
    return run(inputs, ctx);
  };
  beforeAll(async () => {
    fleet = await startHostsFleet(1, { nginx: false });
    raw = {
      target: 'hosts',
      hosts: fleet.hostsInput,
      'ssh-key': readFileSync(fleet.ssh.keyPath, 'utf8'),
      'known-hosts': readFileSync(fleet.ssh.knownHostsPath, 'utf8'),
      artifact: fleet.artifact,
      'start-command': JSON.stringify([node24, 'server.js']),
      env: JSON.stringify({ SLIPWAY_TEST_SECRET: SECRET, OTHER_VALUE: OTHER }),
      'ready-timeout': '15s',
      'ready-interval': '50ms',
    };
  }, 60_000);
  afterAll(async () => fleet?.stop());

  it('owner-only files, nothing on a command line, the app gets the values', async () => {
    const seen: string[] = [];
    let polls = 0;
    let stop = false;
    const watcher = (async () => {
      while (!stop) {
        polls++;
        for (const l of commandLines()) if (l.includes('s3cr3t') || l.includes('second line')) seen.push(l);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    try {
      for (const v of ['s1', 's2']) expect((await go({ version: v })).failure).toBeUndefined();
      // rollback mode: a switch back to s1 starts it with its own saved environment
      expect((await go({ rollback: 'true' })).failure).toBeUndefined();
    } finally {
      stop = true;
      await watcher;
    }
    expect(polls).toBeGreaterThan(20);
    expect(seen).toEqual([]);
    const root = fleet.hosts[0]!.deployRoot;
    expect(fleet.currentVersions()).toEqual(['s1']);
    for (const v of ['s1', 's2']) {
      for (const f of ['.slipway-start', '.slipway-env']) {
        const mode = statSync(join(root, 'releases', v, f)).mode & 0o777;
        expect(mode.toString(8), `${v}/${f}`).toBe('600');
      }
      expect(readFileSync(join(root, 'releases', v, '.slipway-start'), 'utf8')).not.toContain('s3cr3t');
    }
    const pid = Number(readFileSync(join(root, 'shared/app.pid'), 'utf8').trim());
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    expect(environ).toContain(`SLIPWAY_TEST_SECRET=${SECRET}`);
    expect(environ).toContain(`OTHER_VALUE=${OTHER}`);
    expect(environ).toContain('APP_VERSION=s1');
    const r = await fetch(`http://127.0.0.1:${fleet.hosts[0]!.appPort}/version`);
    expect(((await r.json()) as { version: string }).version).toBe('s1');
  }, 120_000);
});
