/**
 * Day two on Kubernetes (issue 19, item 3): the deploy lock as a coordination.k8s.io/v1 Lease taken through
 * kubectl against the fake API server, which models the real contract (409 AlreadyExists on
 * create of an existing Lease, 409 Conflict on a PUT with a stale resourceVersion):
 * - the fake itself answers those 409s (so the lock's race handling is tested against them);
 * - two deploys race: exactly one takes the lock, the other is told who holds it;
 * - only the holder's token gives it back; an expired Lease is broken with the old holder named;
 * - every Kubernetes deploy takes the Lease before its first change and releases it at the end,
 *   and a held Lease stops a deploy before any change, naming the holder;
 * - `slipway lock acquire|status|release` work on the Lease of the environment's namespace;
 * - the audit trail is the ConfigMap slipway-audit: deploys, locks and unlocks append to it (racing
 *   appends all land), `slipway audit` shows it;
 * - `slipway status` shows the Deployment, its pods and versions, and the Lease holder.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeEnv, seedApp, IMAGES, type KubeEnv } from '../../helpers/fake-kube/harness.ts';
import { Kubectl } from '../../../src/deploy/kubernetes-kubectl.ts';
import { leaseLockPart, LEASE_NAME, HOLDER_ANNOTATION } from '../../../src/deploy/kubernetes-lease.ts';
import { appendKubeAudit, readKubeAudit } from '../../../src/deploy/kubernetes-audit.ts';
import { DeployLock, LockHeldError, newHolder } from '../../../src/deploy/lock.ts';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { parseInputs } from '../../../src/manifest/fields.ts';
import { spec } from '../../../src/actions/deploy-rolling/inputs.ts';
import { post, run } from '../../../src/actions/deploy-rolling/run.ts';
import type { ActionContext } from '../../../src/runner/context.ts';
import { main } from '../../../src/cli/main.ts';
import { createKubernetesDeployer } from '../../../src/deploy/kubernetes.ts';

describe('the deploy lock as a Lease (fake Kubernetes API server)', () => {
  let k: KubeEnv;
  beforeAll(async () => {
    k = await kubeEnv();
  }, 60_000);
  afterAll(async () => {
    await k?.stop();
  });
  const kubectlFor = (ns: string) => new Kubectl({ namespace: ns, kubeconfig: k.kubeconfig, env: k.env });
  const newNs = async () => {
    const ns = `lease-${Date.now() % 100000}-${Math.floor(Math.random() * 1000)}`;
    await k.kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }));
    return ns;
  };

  it('the fake answers 409 AlreadyExists on create and 409 Conflict on a stale resourceVersion', async () => {
    const ns = await newNs();
    const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'x', namespace: ns }, spec: { holderIdentity: 'a', leaseDurationSeconds: 10 } };
    await k.kubectl(['create', '-f', '-'], JSON.stringify(lease));
    await expect(k.kubectl(['create', '-f', '-'], JSON.stringify(lease))).rejects.toThrow(/\(AlreadyExists\).*leases.coordination.k8s.io "x" already exists/);
    const cur = await k.json(['get', 'lease', 'x', '-n', ns]);
    const stale = cur.metadata.resourceVersion;
    await k.kubectl(['replace', '-f', '-'], JSON.stringify({ ...cur, spec: { holderIdentity: 'b', leaseDurationSeconds: 10 } }));
    await expect(k.kubectl(['replace', '-f', '-'], JSON.stringify({ ...cur, metadata: { ...cur.metadata, resourceVersion: stale }, spec: { holderIdentity: 'c' } }))).rejects.toThrow(/\(Conflict\).*the object has been modified/);
    expect((await k.json(['get', 'lease', 'x', '-n', ns])).spec.holderIdentity).toBe('b');
  }, 60_000);

  it('two deploys race for it: exactly one wins, the other is told who holds it; only the holder gives it back', async () => {
    const ns = await newNs();
    const log = new MemoryReporter();
    const a = newHolder({ actor: 'alice', version: 'v2', ttlMs: 600_000 });
    const b = newHolder({ actor: 'bob', version: 'v3', ttlMs: 600_000 });
    const lockA = new DeployLock([leaseLockPart(kubectlFor(ns), ns)]);
    const lockB = new DeployLock([leaseLockPart(kubectlFor(ns), ns)]);
    const results = await Promise.allSettled([lockA.acquire(a, { waitMs: 0, log, signal: AbortSignal.timeout(60_000) }), lockB.acquire(b, { waitMs: 0, log, signal: AbortSignal.timeout(60_000) })]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(LockHeldError);
    const winner = results[0]!.status === 'fulfilled' ? a : b;
    expect(String(lost.reason.message)).toMatch(new RegExp(`the deploy lock on Lease ${ns}/${LEASE_NAME} is held by ${winner.actor} for ${winner.version}`));
    const lease = await k.json(['get', 'lease', LEASE_NAME, '-n', ns]);
    expect(JSON.parse(lease.metadata.annotations[HOLDER_ANNOTATION]).token).toBe(winner.token);
    expect(lease.spec.leaseDurationSeconds).toBe(600);
    // The loser's token gives back nothing; the winner's does.
    const loser = winner === a ? b : a;
    await new DeployLock([leaseLockPart(kubectlFor(ns), ns)]).release(loser.token);
    expect((await k.json(['get', 'lease', LEASE_NAME, '-n', ns])).spec.holderIdentity).toBeTruthy();
    await new DeployLock([leaseLockPart(kubectlFor(ns), ns)]).release(winner.token);
    expect((await k.json(['get', 'lease', LEASE_NAME, '-n', ns])).spec.holderIdentity).toBeUndefined();
    // Free again: the other one takes it now.
    await lockB.acquire(loser, { waitMs: 0, log, signal: AbortSignal.timeout(60_000) });
  }, 60_000);

  it('RBAC without leases: the deploy fails before any change, saying what to grant (or lock: false)', async () => {
    const ns = await newNs();
    k.fake!.forbidden.push({ verb: 'create', resource: 'leases', namespace: ns });
    try {
      const h = newHolder({ actor: 'alice', version: 'v2', ttlMs: 600_000 });
      await expect(new DeployLock([leaseLockPart(kubectlFor(ns), ns)]).acquire(h, { waitMs: 0, log: new MemoryReporter(), signal: AbortSignal.timeout(60_000) })).rejects.toThrow(
        new RegExp(`taking the deploy lock failed, nothing was changed: .*forbidden.*: the deploy lock is a Lease; give the deploy's user get, create and update on leases \\(API group coordination.k8s.io\\) in ${ns}, or set lock: false`),
      );
    } finally {
      k.fake!.forbidden.length = 0;
    }
  }, 60_000);

  it('a deploy killed while holding the Lease: its post step gives it back (the token saved in the step state)', async () => {
    const ns = await newNs();
    const h = newHolder({ actor: 'ci', version: 'v2', ttlMs: 600_000 });
    await new DeployLock([leaseLockPart(kubectlFor(ns), ns)]).acquire(h, { waitMs: 0, log: new MemoryReporter(), signal: AbortSignal.timeout(60_000) });
    const state: Record<string, string> = { 'deploy-lock': JSON.stringify({ token: h.token }) };
    const log = new MemoryReporter();
    const ctx = { log, github: { actor: 'ci', runUrl: '', sha: '' }, saveState: (n: string, v: string) => (state[n] = v), getState: (n: string) => state[n] ?? '', signal: new AbortController().signal, tempDir: mkdtempSync(join(tmpdir(), 'slipway-lease-post-')), workspace: process.cwd(), env: k.env } as unknown as ActionContext;
    const inputs = await parseInputs(spec, (n) => ({ target: 'kubernetes', namespace: ns, deployment: 'web', kubeconfig: k.kubeconfig!, image: IMAGES.v2 } as Record<string, string>)[n], () => {});
    await post(inputs, ctx);
    expect((await k.json(['get', 'lease', LEASE_NAME, '-n', ns])).spec.holderIdentity).toBeUndefined();
    expect(log.text()).toMatch(/deploy lock released/);
  }, 60_000);

  it('an expired Lease is broken with a warning that names the old holder', async () => {
    const ns = await newNs();
    const log = new MemoryReporter();
    const old = newHolder({ actor: 'mallory', version: 'v9', reason: 'hotfix', ttlMs: 1000, now: Date.now() - 60_000 });
    await new DeployLock([leaseLockPart(kubectlFor(ns), ns)]).acquire(old, { waitMs: 0, log, signal: AbortSignal.timeout(60_000), now: () => Date.now() - 60_000 });
    const h = newHolder({ actor: 'alice', version: 'v2', ttlMs: 600_000 });
    await new DeployLock([leaseLockPart(kubectlFor(ns), ns)]).acquire(h, { waitMs: 0, log, signal: AbortSignal.timeout(60_000) });
    expect(log.text()).toMatch(new RegExp(`broke the expired deploy lock on Lease ${ns}/${LEASE_NAME}: it was held by mallory for v9, "hotfix"`));
  }, 60_000);

  it('every Kubernetes deploy takes the Lease before its first change and gives it back; a held Lease stops a deploy with nothing changed', async () => {
    const ns = await seedApp(k, { replicas: 2 });
    const context = (): ActionContext =>
      ({ log: new MemoryReporter(), github: { actor: 'ci', runUrl: 'https://github.com/acme/app/actions/runs/5', sha: '' }, saveState: () => {}, getState: () => '', signal: new AbortController().signal, tempDir: mkdtempSync(join(tmpdir(), 'slipway-lease-')), workspace: process.cwd(), env: k.env }) as unknown as ActionContext;
    const raw: Record<string, string> = { target: 'kubernetes', namespace: ns, deployment: 'web', kubeconfig: k.kubeconfig!, 'progress-deadline': '60s' };
    const go = async (image: string, ctx = context()) => run(await parseInputs(spec, (n) => ({ ...raw, image })[n], () => {}), ctx);
    const before = k.fake!.requests.length;
    const r = await go(IMAGES.v2);
    expect(r.failure).toBeUndefined();
    // The Lease was written before the Deployment's first change, and released after it.
    const writes = k.fake!.requests.slice(before).filter((q) => q.method !== 'GET').map((q) => `${q.method} ${q.path.replace(`/namespaces/${ns}`, '')}`);
    const firstDeploy = writes.findIndex((w) => w.includes('/deployments/'));
    expect(writes[0]).toMatch(/^POST \/apis\/coordination.k8s.io\/v1\/leases$/);
    expect(firstDeploy).toBeGreaterThan(0);
    expect(writes.at(-1)).toMatch(/^PUT \/apis\/coordination.k8s.io\/v1\/leases\/slipway-deploy-lock$/);
    expect((await k.json(['get', 'lease', LEASE_NAME, '-n', ns])).spec.holderIdentity).toBeUndefined();
    // Someone holds it: the next deploy fails at once, naming the holder; the Deployment is untouched.
    const other = newHolder({ actor: 'mallory', version: 'v9', reason: 'database maintenance', ttlMs: 600_000 });
    await new DeployLock([leaseLockPart(kubectlFor(ns), ns)]).acquire(other, { waitMs: 0, log: new MemoryReporter(), signal: AbortSignal.timeout(60_000) });
    const gen = (await k.json(['get', 'deployment', 'web', '-n', ns])).metadata.generation;
    await expect(go(IMAGES.v1)).rejects.toThrow(/the deploy lock on Lease .*slipway-deploy-lock is held by mallory for v9, "database maintenance"/);
    expect((await k.json(['get', 'deployment', 'web', '-n', ns])).metadata.generation).toBe(gen);
  }, 180_000);

  it('slipway lock acquire / status / release on target kubernetes', async () => {
    const ns = await newNs();
    const dir = mkdtempSync(join(tmpdir(), 'slipway-kube-lock-cli-'));
    writeFileSync(join(dir, 'slipway.yml'), JSON.stringify({ version: 1, environments: { production: { deploy: { target: 'kubernetes', namespace: ns, deployment: 'web', kubeconfig: k.kubeconfig } } } }));
    const cli = async (argv: string[], user: string) => {
      let stdout = '';
      let stderr = '';
      const code = await main(argv, { stdout: (x) => (stdout += x), stderr: (x) => (stderr += x), env: { ...k.env, USER: user, SLIPWAY_ACTOR: user }, cwd: dir });
      return { code, stdout, stderr };
    };
    expect((await cli(['lock', 'status', '--env', 'production'], 'alice')).stdout).toBe(`production: Lease ${ns}/slipway-deploy-lock free\n`);
    const a = await cli(['lock', 'acquire', '--env', 'production', '--reason', 'payment provider incident', '--ttl', '2h'], 'alice');
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/^production: locked by alice .*"payment provider incident".*\(for 2h\)/);
    const held = await cli(['lock', 'acquire', '--env', 'production'], 'bob');
    expect(held.code).toBe(1);
    expect(held.stderr.trim().split('\n')).toHaveLength(1);
    expect(held.stderr).toMatch(new RegExp(`^slipway: lock acquire: the deploy lock on Lease ${ns}/slipway-deploy-lock is held by alice \\(cli on [^)]+\\) for manual lock, "payment provider incident".*nothing was changed \\(slipway lock status shows it`));
    const st = await cli(['lock', 'status', '--env', 'production', '--json'], 'bob');
    expect(JSON.parse(st.stdout)).toMatchObject({ locked: true, holder: { actor: 'alice', reason: 'payment provider incident' } });
    const rel = await cli(['lock', 'release', '--env', 'production'], 'bob');
    expect(rel.code, rel.stderr).toBe(0);
    expect(rel.stdout).toMatch(/^production: released the lock held by alice/);
    expect((await k.json(['get', 'lease', LEASE_NAME, '-n', ns])).spec.holderIdentity).toBeUndefined();
    // The audit trail: the ConfigMap slipway-audit in the namespace, shown by slipway audit.
    const au = await cli(['audit', '--env', 'production', '--json'], 'carol');
    expect(au.code, au.stderr).toBe(0);
    expect(JSON.parse(au.stdout).entries.map((e: { actor: string; action: string }) => `${e.actor} ${e.action}`)).toEqual(['alice lock', 'bob unlock']);
    const table = await cli(['audit', '--env', 'production'], 'carol');
    expect(table.stdout).toMatch(/^TIME\s+ACTOR\s+ACTION\s+VERSION\s+OUTCOME\s+RUN\n.*alice\s+lock\s+payment provider incident/);
  }, 120_000);

  it('slipway status on target kubernetes: the Deployment, its pods and versions, the Lease holder', async () => {
    const ns = await seedApp(k, { replicas: 2 });
    const dir = mkdtempSync(join(tmpdir(), 'slipway-kube-status-'));
    writeFileSync(join(dir, 'slipway.yml'), JSON.stringify({ version: 1, environments: { production: { deploy: { target: 'kubernetes', namespace: ns, deployment: 'web', kubeconfig: k.kubeconfig } }, staging: { deploy: { target: 'kubernetes', namespace: ns, kubeconfig: k.kubeconfig } } } }));
    const cli = async (argv: string[]) => {
      let stdout = '';
      let stderr = '';
      const code = await main(argv, { stdout: (x) => (stdout += x), stderr: (x) => (stderr += x), env: { ...k.env, USER: 'alice' }, cwd: dir });
      return { code, stdout, stderr };
    };
    const v1 = IMAGES.v1.split(':').at(-1)!;
    const r = await cli(['status', '--env', 'production']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^production: Deployment ${ns}/web revision 1: every pod runs ${v1.replace(/[.]/g, '\\.')}; rollout complete; not locked\n`));
    const j = JSON.parse((await cli(['status', '--env', 'production', '--json'])).stdout);
    expect(j.pods).toHaveLength(2);
    expect(j.pods.every((p: { ready: boolean; image: string }) => p.ready && p.image === IMAGES.v1)).toBe(true);
    await cli(['lock', 'acquire', '--env', 'production', '--reason', 'checking']);
    expect((await cli(['status', '--env', 'production'])).stdout).toMatch(/; LOCKED by alice .*"checking"/);
    const bad = await cli(['status', '--env', 'staging']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('slipway: status: environments.staging.deploy.deployment: got nothing; expected the Deployment to look at (target kubernetes)');
  }, 120_000);

  it('the audit ConfigMap: every deploy appends a line; concurrent appends all land (409 Conflict retried)', async () => {
    const ns = await seedApp(k, { replicas: 1 });
    const ctx = { log: new MemoryReporter(), github: { actor: 'ci', runUrl: 'https://github.com/acme/app/actions/runs/7', sha: '' }, saveState: () => {}, getState: () => '', signal: new AbortController().signal, tempDir: mkdtempSync(join(tmpdir(), 'slipway-lease-')), workspace: process.cwd(), env: k.env } as unknown as ActionContext;
    const r = await run(await parseInputs(spec, (n) => ({ target: 'kubernetes', namespace: ns, deployment: 'web', kubeconfig: k.kubeconfig!, image: IMAGES.v2, 'progress-deadline': '60s' } as Record<string, string>)[n], () => {}), ctx);
    expect(r.failure).toBeUndefined();
    const kubectl = kubectlFor(ns);
    await Promise.all(['a', 'b', 'c', 'd'].map((actor) => appendKubeAudit(kubectl, { at: new Date().toISOString(), actor, action: 'lock', run: 'test', outcome: 'held' })));
    const { entries } = await readKubeAudit(kubectl, 0);
    expect(entries[0]).toMatchObject({ actor: 'ci', action: 'deploy', outcome: 'succeeded', run: 'https://github.com/acme/app/actions/runs/7' });
    expect(entries.slice(1).map((e) => e.actor).sort()).toEqual(['a', 'b', 'c', 'd']);
  }, 120_000);

  it('slipway releases and rollback --to IMAGE on target kubernetes: the kept revisions, and back to any image with the same executor', async () => {
    const ns = await seedApp(k, { replicas: 2 });
    const dir = mkdtempSync(join(tmpdir(), 'slipway-kube-releases-'));
    writeFileSync(join(dir, 'slipway.yml'), JSON.stringify({ version: 1, environments: { production: { deploy: { target: 'kubernetes', namespace: ns, deployment: 'web', kubeconfig: k.kubeconfig, 'progress-deadline': '60s' } } } }));
    const cli = async (argv: string[]) => {
      let stdout = '';
      let stderr = '';
      const code = await main(argv, { stdout: (x) => (stdout += x), stderr: (x) => (stderr += x), env: { ...k.env, USER: 'alice' }, cwd: dir });
      return { code, stdout, stderr };
    };
    const image = async () => (await k.json(['get', 'deployment', 'web', '-n', ns])).spec.template.spec.containers[0].image;
    // v2 goes out through Slipway (recorded as good), so two revisions are kept.
    const ctx = { log: new MemoryReporter(), github: { actor: 'ci', runUrl: 'https://github.com/acme/app/actions/runs/8', sha: '' }, saveState: () => {}, getState: () => '', signal: new AbortController().signal, tempDir: mkdtempSync(join(tmpdir(), 'slipway-kube-rel-')), workspace: process.cwd(), env: k.env } as unknown as ActionContext;
    const r = await run(await parseInputs(spec, (n) => ({ target: 'kubernetes', namespace: ns, deployment: 'web', kubeconfig: k.kubeconfig!, image: IMAGES.v2, 'progress-deadline': '60s' } as Record<string, string>)[n], () => {}), ctx);
    expect(r.failure).toBeUndefined();

    const rel = await cli(['releases', '--env', 'production', '--json']);
    expect(rel.code, rel.stderr).toBe(0);
    const rows = JSON.parse(rel.stdout).releases as { revision: number; image: string; current: boolean; verdict: string }[];
    expect(rows.map((x) => [x.revision, x.image, x.current, x.verdict])).toEqual([[2, IMAGES.v2, true, 'good'], [1, IMAGES.v1, false, '']]);
    expect((await cli(['releases', '--env', 'production'])).stdout).toMatch(new RegExp(`^production: Deployment ${ns}/web keeps 2 revision\\(s\\)[^\\n]*\\nREVISION\\s+IMAGE\\s+VERSION\\s+CREATED\\s+PODS\\s*\\n2\\s+${IMAGES.v2.replace(/[.]/g, '\\.')}\\s.*← current, good`));

    // Bad input: one line naming --to, exit 2, nothing changed.
    const gen = (await k.json(['get', 'deployment', 'web', '-n', ns])).metadata.generation;
    const bad = await cli(['rollback', '--env', 'production', '--to', 'v1; rm -rf /']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('slipway: rollback: --to: got "v1; rm -rf /"; expected an image reference such as ghcr.io/acme/app@sha256:<64 hex> on target kubernetes (slipway releases --env NAME lists the images the Deployment keeps)');
    expect((await k.json(['get', 'deployment', 'web', '-n', ns])).metadata.generation).toBe(gen);

    const back = await cli(['rollback', '--env', 'production', '--to', IMAGES.v1, '--reason', 'v2 breaks checkout']);
    expect(back.code, back.stderr).toBe(0);
    expect(await image()).toBe(IMAGES.v1);
    // The same executor as a deploy: the audit ConfigMap says who and why.
    const { entries } = await readKubeAudit(kubectlFor(ns), 0);
    expect(entries.at(-1)).toMatchObject({ actor: 'alice', outcome: 'succeeded' });
  }, 180_000);

  it('slipway status after a blue/green switch: the live slot (the one the Service selects) and the idle one still on the old version', async () => {
    const ns = await seedApp(k, { replicas: 2, slot: true });
    const r = await createKubernetesDeployer({ deployment: 'web', namespace: ns, kubeconfig: k.kubeconfig, env: k.env, pollMs: 100, drainDelayMs: 200, keepPreviousMs: 600_000 }).rollout({ image: IMAGES.v2, strategy: 'blue-green', log: new MemoryReporter() });
    expect(r.status).toBe('succeeded');
    const dir = mkdtempSync(join(tmpdir(), 'slipway-kube-bg-status-'));
    writeFileSync(join(dir, 'slipway.yml'), JSON.stringify({ version: 1, environments: { production: { deploy: { target: 'kubernetes', namespace: ns, deployment: 'web', kubeconfig: k.kubeconfig, strategy: 'blue-green' } } } }));
    const cli = async (argv: string[]) => {
      let stdout = '';
      let stderr = '';
      const code = await main(argv, { stdout: (x) => (stdout += x), stderr: (x) => (stderr += x), env: { ...k.env, USER: 'alice' }, cwd: dir });
      return { code, stdout, stderr };
    };
    const v2 = IMAGES.v2.split(':').at(-1)!;
    const text = await cli(['status', '--env', 'production']);
    // Before: "Deployment …/web revision 1: every pod runs 3.9" (the idle slot), the live pods not shown.
    expect(text.code, text.stdout + text.stderr).toBe(0);
    expect(text.stdout.split('\n')[0]).toBe(`production: blue/green, live slot Deployment ${ns}/web-green (Service web): every serving pod runs ${v2}; rollout complete; not locked`);
    expect(text.stdout).toMatch(/^web-green \(live\)\s+web-green-/m);
    expect(text.stdout).toMatch(/^web \(idle\)\s+web-/m);
    const j = JSON.parse((await cli(['status', '--env', 'production', '--json'])).stdout);
    expect(j.blueGreen).toEqual({ live: 'web-green', service: 'web' });
    expect(j.versions).toEqual([v2]);
    expect(j.pods.filter((p: { serving: boolean }) => p.serving).every((p: { image: string }) => p.image === IMAGES.v2)).toBe(true);
    expect(j.pods.filter((p: { serving: boolean }) => !p.serving).map((p: { image: string }) => p.image)).toEqual([IMAGES.v1, IMAGES.v1]);
  }, 120_000);
});
