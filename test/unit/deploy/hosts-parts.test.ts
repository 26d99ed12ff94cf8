import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { buildKnownHosts, explainSshFailure, remoteCommand, shQuote } from '../../../src/deploy/ssh.ts';
import { renderUpstream } from '../../../src/deploy/nginx.ts';
import { checkVersionName, parseHostEntry, substitute } from '../../../src/deploy/hosts.ts';

describe('remote quoting', () => {
  it('a remote POSIX shell gets every argument back exactly, whatever it contains', () => {
    const nasty = ["it's", '$(rm -rf /)', '`id`', 'a b\tc', '"; echo pwned', '\\', '', '*', '~', 'x\ny'];
    const out = execFileSync('sh', ['-c', `printf '%s\\0' ${remoteCommand(nasty)}`]).toString().split('\0').slice(0, -1);
    expect(out).toEqual(nasty);
    expect(shQuote("a'b")).toBe(`'a'\\''b'`);
  });
  it('substitutes placeholders per argument without splitting', () => {
    expect(substitute('{release_dir}/bin --port={port} {unknown}', { release_dir: '/srv/a b', port: '80' })).toBe('/srv/a b/bin --port=80 {unknown}');
  });
});

describe('inputs for the hosts target', () => {
  it('parses host entries', () => {
    expect(parseHostEntry('web1', { user: 'deploy', port: 22 })).toEqual({ user: 'deploy', host: 'web1', port: 22 });
    expect(parseHostEntry('ops@10.0.0.5:2222', { user: 'deploy', port: 22 })).toEqual({ user: 'ops', host: '10.0.0.5', port: 2222 });
    expect(parseHostEntry('[::1]:22', { user: 'd', port: 22 })).toEqual({ user: 'd', host: '::1', port: 22 });
    expect(() => parseHostEntry('-oProxyCommand=x', { user: 'd', port: 22 })).toThrow(/not \[user@\]host\[:port\]/);
    expect(() => parseHostEntry('web1:99999', { user: 'd', port: 22 })).toThrow(/port out of range/);
  });
  it('rejects version names that are not a plain directory name', () => {
    expect(checkVersionName('v1.2.3+build-7')).toBe('v1.2.3+build-7');
    for (const bad of ['../x', '.hidden', 'a/b', 'a b', '']) expect(() => checkVersionName(bad)).toThrow(/release name/);
  });
  it('builds known_hosts from bare host keys for every host and keeps full lines', () => {
    const text = buildKnownHosts('[h]:2 ssh-ed25519 AAAAfull', 'ssh-ed25519 AAAAbare comment', [{ host: 'web1', port: 22 }, { host: '10.0.0.2', port: 2222 }]);
    expect(text.trim().split('\n')).toEqual(['[h]:2 ssh-ed25519 AAAAfull', 'web1 ssh-ed25519 AAAAbare', '[10.0.0.2]:2222 ssh-ed25519 AAAAbare']);
    expect(() => buildKnownHosts(undefined, 'not a key', [])).toThrow(/Input 'host-key'/);
  });
  it('explains ssh failures', () => {
    const h = { user: 'deploy', host: 'web1', port: 22 };
    const r = (stderr: string, code = 255) => explainSshFailure(h, { code, stderr, stdout: '', timedOut: false, signal: null }, 'x');
    expect(r('deploy@web1: Permission denied (publickey).')).toMatch(/deploy@web1: authentication failed/);
    expect(r('No ED25519 host key is known for web1 and you have requested strict checking.\nHost key verification failed.')).toMatch(/host key is not trusted/);
    expect(r('ssh: connect to host web1 port 22: Connection refused')).toMatch(/host unreachable/);
    expect(r('boom', 3)).toBe('x on deploy@web1 exited with code 3: boom');
  });
});

describe('nginx upstream file', () => {
  it('marks drained servers down', () => {
    const t = renderUpstream('app', [{ id: 'web1', address: '10.0.0.1:8080', down: false }, { id: 'web2', address: '10.0.0.2:8080', down: true }]);
    expect(t).toContain('upstream app {');
    expect(t).toContain('  server 10.0.0.1:8080; # web1');
    expect(t).toContain('  server 10.0.0.2:8080 down; # web2');
    expect(t).toContain('keepalive 16;');
  });
});
