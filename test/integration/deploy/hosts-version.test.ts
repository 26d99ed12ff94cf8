/**
 * The version that answers is the version deployed (issue 16, item 3), against real sshd + nginx:
 * an app that answers ready but serves another version fails the rollout with "web1 answers v3,
 * expected v4" and is rolled back; version-command answers instead of the readiness answer;
 * version-check: off is the fallback for apps that cannot say their version.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { parseInputs } from '../../../src/manifest/fields.ts';
import type { ActionContext } from '../../../src/runner/context.ts';
import { spec } from '../../../src/actions/deploy-rolling/inputs.ts';
import { run } from '../../../src/actions/deploy-rolling/run.ts';
import { requireServer } from '../../helpers/servers.ts';
import { node24, startHostsFleet, versionAt, type HostsFleet } from './hosts-fleet.ts';

const ok = requireServer('sshd') && requireServer('nginx');

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

describe.skipIf(!ok)('readiness checks the version that answers (real sshd + nginx)', () => {
  let fleet: HostsFleet;
  let raw: Record<string, string>;
  const go = async (over: Record<string, string>) => {
    const inputs = await parseInputs(spec, (n) => ({ ...raw, ...over })[n], () => {});
    return run(inputs, context());
  };
  // An app that is ready but always says it is v3, whatever it was deployed as.
  const liar = JSON.stringify(['env', 'APP_VERSION=v3', node24, 'server.js']);

  beforeAll(async () => {
    fleet = await startHostsFleet(2);
    raw = {
      target: 'hosts',
      hosts: fleet.hostsInput,
      'ssh-key': readFileSync(fleet.ssh.keyPath, 'utf8'),
      'known-hosts': readFileSync(fleet.ssh.knownHostsPath, 'utf8'),
      artifact: fleet.artifact,
      'start-command': JSON.stringify([node24, 'server.js']),
      'nginx-host': 'local',
      'nginx-upstream-file': fleet.upstreamFile,
      'nginx-command': JSON.stringify(fleet.nginxCommand),
      'ready-timeout': '15s',
      'ready-interval': '50ms',
    };
    expect((await go({ version: 'v3' })).failure).toBeUndefined();
  }, 120_000);
  afterAll(async () => fleet?.stop());

  it('a ready instance serving another version fails the rollout and is rolled back', async () => {
    const r = await go({ version: 'v4', 'start-command': liar });
    expect(r.failure).toMatch(/web1 answers v3, expected v4/);
    expect(r.failure).toMatch(/rolled back web1 to v3/);
    expect(fleet.currentVersions()).toEqual(['v3', 'v3']);
    expect(await versionAt(fleet.nginx!.url)).toBe('v3');
  }, 60_000);

  it('version-check: off trusts a 2xx (the fallback for apps that cannot say their version)', async () => {
    const r = await go({ version: 'v5', 'start-command': liar, 'version-check': 'off' });
    expect(r.failure).toBeUndefined();
    expect(fleet.currentVersions()).toEqual(['v5', 'v5']);
  }, 60_000);

  it('version-command on the host answers instead of the readiness answer', async () => {
    const asks = JSON.stringify(['sh', '-c', 'cat "$1/current/.version" 2>/dev/null || echo none', 'version', '{deploy_root}']);
    const r = await go({ version: 'v6', 'version-command': asks });
    expect(r.failure).toMatch(/web1 answers none, expected v6/);
    expect(fleet.currentVersions()).toEqual(['v5', 'v5']);
    const good = JSON.stringify(['sh', '-c', 'curl -s "http://127.0.0.1:$1/version" | sed -E \'s/.*"version":"([^"]*)".*/\\1/\'', 'version', '{port}']);
    const r2 = await go({ version: 'v6', 'version-command': good });
    expect(r2.failure).toBeUndefined();
    expect(fleet.currentVersions()).toEqual(['v6', 'v6']);
  }, 90_000);

  it('bad input: a version-check value that does not exist fails naming the input', async () => {
    await expect(go({ version: 'v7', 'version-check': 'maybe' })).rejects.toThrow("Input 'version-check': got \"maybe\"; expected one of required, off");
    expect(fleet.currentVersions()).toEqual(['v6', 'v6']);
  });
});
