/**
 * The CLI as a person runs it: `node src/cli/main.ts` as a process, with real files. Results on
 * stdout, progress and errors on stderr, exit codes 0/1/2.
 */
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../helpers/runner.ts';

const mainTs = join(repoRoot, 'src/cli/main.ts');
const slipway = (args: string[], cwd: string, env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [mainTs, ...args], { cwd, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, timeout: 120_000 });

function project(yml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'cli-e2e-'));
  writeFileSync(join(dir, 'slipway.yml'), yml);
  mkdirSync(join(dir, 'db'));
  writeFileSync(join(dir, 'db/0001_users.sql'), 'create table users (id bigint primary key);\n');
  return dir;
}

describe('node src/cli/main.ts', { timeout: 180_000 }, () => {
  it('validate lists every problem on stdout and exits 1; a valid file exits 0', () => {
    const dir = project('version: 1\nenvironments:\n  staging:\n    smoke: { checks: [{path: /}] }\n    gate: { provider: probe }\n    deploy: { target: command, instances: [a], start-command: "run it", instance-url: "http://127.0.0.1:9/{instance}" }\n');
    const bad = slipway(['validate'], dir);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/3 problems/);
    expect(bad.stdout).toMatch(/environments\.staging\.url: missing/);
    expect(bad.stdout).toMatch(/environments\.staging\.gate\.urls: got nothing/);
    expect(bad.stdout).toMatch(/environments\.staging\.deploy\.start-command: got text; expected a list/);
    expect(bad.stdout).not.toMatch(/Invalid input|\(top\)/);
    const good = slipway(['validate', '--config', join(dir, 'ok.yml')], dir);
    expect(good.status).toBe(2);
    expect(good.stderr).toMatch(/config file not found/);
    writeFileSync(join(dir, 'ok.yml'), 'version: 1\nenvironments:\n  staging: { url: "http://127.0.0.1:9/" }\n');
    const ok = slipway(['validate', '--config', 'ok.yml'], dir);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toBe('ok.yml: valid (staging)\n');
    expect(ok.stderr).toBe('');
  });
  it('plan exits 1 when the deploy window is closed, with the verdict on stdout', () => {
    const dir = project('version: 1\nenvironments:\n  production:\n    url: "http://127.0.0.1:9/"\n    migrate: { dir: db }\n    window: { freeze: ["2000-01-01"], deny: [sun, mon, tue, wed, thu, fri, sat] }\n');
    const r = slipway(['plan', '--env', 'production'], dir);
    expect(r.stdout).toMatch(/deploy window: CLOSED/);
    expect(r.stdout).toMatch(/db\/0001_users\.sql/);
    expect(r.status).toBe(1);
  });
  it('a boolean flag alone, and --json with JSON values', () => {
    const dir = project('version: 1\nenvironments:\n  staging: { url: "http://127.0.0.1:9/" }\n');
    const r = slipway(['lint', 'db', '--json'], dir);
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.outputs.violations).toEqual([]);
    const dry = slipway(['migrate', '--dry-run', '--dir', 'db', '--json'], dir);
    expect(dry.status).toBe(0);
    expect(JSON.parse(dry.stdout).outputs.pending).toEqual([expect.objectContaining({ name: 'users' })]);
  });
  it('status --watch refreshes until Ctrl-C, showing a change made meanwhile (one JSON document per line)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-e2e-watch-'));
    const deploy = { target: 'command', instances: ['a', 'b'], 'start-command': ['true'], 'version-command': ['cat', join(dir, '{instance}.version')], 'ready-command': ['true'] };
    writeFileSync(join(dir, 'slipway.yml'), JSON.stringify({ version: 1, environments: { staging: { deploy } } }));
    for (const i of ['a', 'b']) writeFileSync(join(dir, `${i}.version`), 'v1\n');
    const child = spawn(process.execPath, [mainTs, 'status', '--env', 'staging', '--watch', '--interval', '200ms', '--json'], { cwd: dir, env: { PATH: process.env.PATH ?? '' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const frames = () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { versions: string[] });
    const until = async (f: () => boolean) => { for (let i = 0; i < 300 && !f(); i++) await new Promise((r) => setTimeout(r, 100)); };
    await until(() => frames().length >= 2);
    writeFileSync(join(dir, 'a.version'), 'v2\n');
    await until(() => frames().some((x) => x.versions.includes('v2')));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGINT');
    const code = await exited;
    expect(frames()[0]!.versions).toEqual(['v1']);
    expect(frames().at(-1)!.versions).toEqual(['v2', 'v1']);
    expect(code).toBe(1); // the last frame saw a mixed fleet
  }, 60_000);
  it('bad usage exits 2 with one line on stderr, nothing on stdout', () => {
    const dir = project('version: 1\nenvironments:\n  staging: { url: "http://127.0.0.1:9/" }\n');
    const r = slipway(['smoke-test', '--env', 'stagin'], dir);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/--env: got "stagin"; expected one of the environments in .*slipway\.yml: staging \(did you mean staging\?\)/);
  });
});
