/**
 * Day-two commands on target kubernetes (issue 19, item 3), beside day-two.ts's hosts versions:
 *   slipway lock acquire|release|status --env E   over the Lease every Kubernetes deploy takes
 *                                                 (kubernetes-lease.ts), in the deploy's namespace
 *   slipway audit --env E [--since 7d]            the ConfigMap slipway-audit (kubernetes-audit.ts)
 *   slipway status --env E                        the Deployment, its ReplicaSets and pods, the Lease holder
 *   slipway releases --env E                      the images the Deployment's ReplicaSets keep (what rollback --to takes)
 * The cluster is reached like the deploy reaches it: kubeconfig / kubeconfig-data, context,
 * namespace from the environment's deploy section.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { CliIO } from './main.ts';
import type { ParsedArgs } from './args.ts';
import { errorMessage } from '../lib/errors.ts';
import { formatDuration } from '../lib/duration.ts';
import { kubeOptions } from '../actions/deploy-rolling/run.ts';
import { Kubectl, assessRollout, selectorString, type KubeObject } from '../deploy/kubernetes-kubectl.ts';
import { FAILED_ANNOTATION, GOOD_ANNOTATION, SLOT_LABEL, VERSION_LABEL, versionFromImage } from '../deploy/kubernetes.ts';
import { UsageError } from './args.ts';
import { leaseLockPart, leaseState } from '../deploy/kubernetes-lease.ts';
import { DeployLock, LockHeldError, describeHolder, newHolder, type LockHolder } from '../deploy/lock.ts';
import { appendKubeAudit, readKubeAudit, AUDIT_CONFIGMAP } from '../deploy/kubernetes-audit.ts';
import type { AuditEntry } from '../deploy/audit.ts';
import { auditCells, formatTable } from './day-two.ts';
import type { Fleet } from './day-two.ts';

const holderView = (h: LockHolder | undefined) =>
  h ? { actor: h.actor, run: h.runUrl, version: h.version, reason: h.reason, since: h.since, until: h.until } : null;

/** The Lease part of the environment's namespace, with a kubeconfig file for kubeconfig-data. */
async function withLease<T>(f: Fleet, work: (part: ReturnType<typeof leaseLockPart>, where: string, kubectl: Kubectl) => Promise<T>): Promise<T> {
  const o = kubeOptions(f.inputs, f.ctx.workspace, f.ctx);
  const dir = f.inputs['kubeconfig-data'] ? mkdtempSync(join(tmpdir(), 'slipway-cli-kube-')) : undefined;
  try {
    if (dir) {
      o.kubeconfig = join(dir, 'kubeconfig');
      writeFileSync(o.kubeconfig, f.inputs['kubeconfig-data']!, { mode: 0o600 });
    }
    const where = o.namespace ?? "the context's namespace";
    const kubectl = new Kubectl({ ...o, namespace: o.namespace ?? '' });
    return await work(leaseLockPart(kubectl, where), where, kubectl);
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

export function kubeLock(f: Fleet, sub: string, args: ParsedArgs, io: CliIO, ttlMs: number): Promise<number> {
  return withLease(f, async (part, where, kubectl) => {
    const signal = AbortSignal.timeout(120_000);
    const record = async (e: Omit<AuditEntry, 'at' | 'actor' | 'run'>) => {
      try {
        await appendKubeAudit(kubectl, { at: new Date().toISOString(), actor: f.actor, run: f.run, ...e }, signal);
      } catch (err) {
        f.rt.warning(`the audit ConfigMap ${AUDIT_CONFIGMAP} could not be written: ${errorMessage(err)}`);
      }
    };
    if (sub === 'status') {
      const l = await part.read(signal);
      const st = l ? leaseState(l, Date.now()) : undefined;
      const held = st && !st.free ? st : undefined;
      if (args.json)
        io.stdout(
          `${JSON.stringify({ environment: f.env, locked: Boolean(held), lease: `${where}/slipway-deploy-lock`, holder: holderView(held?.holder), expired: st?.expired ?? false }, null, 2)}\n`,
        );
      else
        io.stdout(
          `${f.env}: Lease ${where}/slipway-deploy-lock ${held ? `held by ${describeHolder(held.holder, held.raw)}` : st?.expired ? `free (expired; it was held by ${describeHolder(st.holder, st.raw)})` : 'free'}\n`,
        );
      return 0;
    }
    const lock = new DeployLock([part]);
    if (sub === 'acquire') {
      const holder = newHolder({ actor: f.actor, runUrl: f.run, version: 'manual lock', reason: args.flags.reason ?? `locked by ${f.actor}`, ttlMs });
      try {
        await lock.acquire(holder, { waitMs: 0, log: f.rt, signal });
      } catch (err) {
        if (err instanceof LockHeldError) {
          io.stderr(
            `slipway: lock acquire: ${errorMessage(err).replace('(give lock-wait to wait for it)', '(slipway lock status shows it; it expires at its until time)')}\n`,
          );
          return 1;
        }
        throw err;
      }
      await record({ action: 'lock', reason: holder.reason, outcome: `held until ${holder.until}` });
      if (args.json) io.stdout(`${JSON.stringify({ environment: f.env, locked: true, holder: holderView(holder) }, null, 2)}\n`);
      else io.stdout(`${f.env}: locked by ${describeHolder(holder)} (for ${formatDuration(ttlMs)}); slipway lock release --env ${f.env} gives it back\n`);
      return 0;
    }
    // release: whoever holds it (a person's command), naming the holder.
    const l = await part.read(signal);
    const st = l ? leaseState(l, Date.now()) : undefined;
    if (!st?.holder || st.free) {
      if (args.json) io.stdout(`${JSON.stringify({ environment: f.env, released: false, reason: 'not locked' })}\n`);
      else io.stdout(`${f.env}: not locked; nothing to release\n`);
      return 0;
    }
    await lock.release(st.holder.token);
    await record({ action: 'unlock', reason: st.holder.reason, outcome: `released the lock held by ${st.holder.actor} since ${st.holder.since}` });
    if (args.json) io.stdout(`${JSON.stringify({ environment: f.env, released: true, holders: [holderView(st.holder)] }, null, 2)}\n`);
    else io.stdout(`${f.env}: released the lock held by ${describeHolder(st.holder)}\n`);
    return 0;
  });
}

export function kubeAudit(f: Fleet, sinceMs: number, args: ParsedArgs, io: CliIO): Promise<number> {
  return withLease(f, async (_part, where, kubectl) => {
    const { entries, skipped } = await readKubeAudit(kubectl, sinceMs, AbortSignal.timeout(120_000));
    if (skipped) f.rt.warning(`${skipped} line(s) of the audit ConfigMap are not audit entries and were skipped`);
    if (args.json) {
      io.stdout(
        `${JSON.stringify({ environment: f.env, since: new Date(sinceMs).toISOString(), configMap: `${where}/${AUDIT_CONFIGMAP}`, entries }, null, 2)}\n`,
      );
      return 0;
    }
    if (!entries.length) {
      io.stdout(`${f.env}: nothing in the audit ConfigMap ${where}/${AUDIT_CONFIGMAP} since ${new Date(sinceMs).toISOString()}\n`);
      return 0;
    }
    io.stdout(formatTable([['TIME', 'ACTOR', 'ACTION', 'VERSION', 'OUTCOME', 'RUN'], ...entries.map(auditCells)]));
    return 0;
  });
}

/** The environment's Deployment (deploy.deployment), read once for status and releases. */
async function theDeployment(f: Fleet, kubectl: Kubectl, command: string): Promise<{ name: string; d: KubeObject; signal: AbortSignal; namespaced: boolean }> {
  const name = f.inputs.deployment;
  if (!name) throw new UsageError(`${command}: environments.${f.env}.deploy.deployment: got nothing; expected the Deployment to look at (target kubernetes)`);
  const signal = AbortSignal.timeout(120_000);
  const namespaced = kubectl.namespace !== '';
  return { name, d: await kubectl.json<KubeObject>(['get', 'deployment', name], { signal, namespaced }), signal, namespaced };
}

/**
 * slipway status on kubernetes: the Deployment's rollout (revision, updated/available), per pod its
 * Deployment, version (the `version` label, else the image tag), image, ready or not and since when,
 * restarts, and the Lease holder. The Deployments a rollout adds are part of it: `<name>-canary`
 * (a canary in progress) and `<name>-green` (blue/green: the slot the Service selects is the live
 * one; the other is idle and may still run the previous version). Exit 1 when a serving pod is not
 * ready, a rollout is not complete, a canary runs, or the serving pods run mixed versions.
 */
export function kubeStatus(f: Fleet, args: ParsedArgs, io: CliIO): Promise<number> {
  return withLease(f, async (part, where, kubectl) => {
    const { name, d, signal, namespaced } = await theDeployment(f, kubectl, 'status');
    const extra = (await Promise.all([`${name}-green`, `${name}-canary`].map((n) => kubectl.find('deployment', n, signal)))).filter((x): x is KubeObject =>
      Boolean(x),
    );
    const deployments = [d, ...extra];
    const list = await kubectl.json<KubeObject>(['get', 'replicasets,pods', '-l', selectorString(d.spec?.selector)], { signal, namespaced });
    const items: KubeObject[] = list.items ?? [];
    const views = deployments.map((dep) => ({
      dep,
      view: assessRollout(
        dep,
        items.filter((i) => i.kind === 'ReplicaSet'),
        items.filter((i) => i.kind === 'Pod'),
        f.inputs.container || undefined,
      ),
    }));
    // Blue/green: the live slot is the one a Service of these pods selects (by the slot label).
    const slotted = deployments.some((dep) => dep.spec?.template?.metadata?.labels?.[SLOT_LABEL]);
    let live: string | undefined;
    let service: string | undefined;
    if (slotted) {
      const svcs = ((await kubectl.json<KubeObject>(['get', 'services'], { signal, namespaced })).items ?? []) as KubeObject[];
      const base = Object.fromEntries(
        Object.entries((d.spec?.template?.metadata?.labels ?? {}) as Record<string, string>).filter(
          ([key]) => key !== SLOT_LABEL && key !== VERSION_LABEL && key !== 'pod-template-hash',
        ),
      );
      const svc = svcs.find(
        (x) =>
          x.spec?.selector?.[SLOT_LABEL] &&
          Object.entries((x.spec.selector ?? {}) as Record<string, string>).every(([key, v]) => key === SLOT_LABEL || base[key] === v),
      );
      if (svc) {
        service = svc.metadata?.name;
        live = deployments.find((dep) => dep.spec?.template?.metadata?.labels?.[SLOT_LABEL] === svc.spec.selector[SLOT_LABEL])?.metadata?.name;
      }
    }
    const serving = (dep: KubeObject) => (slotted && live ? dep.metadata?.name === live : true);
    const lease = await part.read(signal).catch(() => undefined);
    const st = lease ? leaseState(lease, Date.now()) : undefined;
    const holder = st && !st.free ? st : undefined;
    const rows = views.flatMap(({ dep, view }) =>
      view.pods.map((p) => ({
        deployment: dep.metadata?.name as string,
        serving: serving(dep),
        pod: p.name,
        version: p.labels[VERSION_LABEL] ?? versionFromImage(p.image),
        image: p.image,
        ready: p.ready,
        since: p.readyAt ?? p.createdAt ?? null,
        restarts: p.restarts,
        terminating: p.terminating,
        why: p.why ?? null,
      })),
    );
    const servingRows = rows.filter((r) => r.serving && !r.terminating);
    const versions = [...new Set(servingRows.map((r) => r.version))];
    const canary = extra.find((x) => x.metadata?.name === `${name}-canary`);
    const main = views[0]!.view;
    const servingViews = views.filter(({ dep }) => serving(dep));
    const complete = servingViews.every(({ view }) => view.complete);
    const ok = complete && !canary && servingRows.every((r) => r.ready) && versions.length <= 1 && servingRows.length > 0;
    const slots = slotted ? { live: live ?? null, service: service ?? null } : undefined;
    if (args.json) {
      io.stdout(
        `${JSON.stringify({ at: new Date().toISOString(), environment: f.env, deployment: name, namespace: where, revision: main.revision ?? null, complete, paused: main.paused, rollout: main.message, ...(slots ? { blueGreen: slots } : {}), canary: canary ? canary.metadata?.name : null, versions, lock: holderView(holder?.holder), pods: rows }, null, args.flags.watch === 'true' ? undefined : 2)}\n`,
      );
    } else {
      const what = slotted
        ? `blue/green, live slot ${live ? `Deployment ${where}/${live}${service ? ` (Service ${service})` : ''}` : 'unknown (no Service selects a slot)'}`
        : `Deployment ${where}/${name} revision ${main.revision ?? '?'}`;
      const which = slotted ? 'serving pod' : 'pod';
      const pods = versions.length === 1 ? `every ${which} runs ${versions[0]}` : versions.length ? `MIXED: ${versions.join(', ')}` : `no ${which}s`;
      io.stdout(
        `${f.env}: ${what}: ${pods}; ${complete ? 'rollout complete' : `rollout in progress (${servingViews.map(({ view }) => view.message).join('; ')})`}${main.paused ? ', PAUSED' : ''}${canary ? `; CANARY ${canary.metadata?.name} running (${canary.status?.readyReplicas ?? 0} ready)` : ''}${holder ? `; LOCKED by ${describeHolder(holder.holder, holder.raw)}` : '; not locked'}\n`,
      );
      const multi = deployments.length > 1;
      io.stdout(
        formatTable([
          [...(multi ? ['DEPLOYMENT'] : []), 'POD', 'VERSION', 'IMAGE', 'READY', 'SINCE', 'RESTARTS'],
          ...rows.map((r) => [
            ...(multi ? [`${r.deployment}${slotted ? (r.serving ? ' (live)' : ' (idle)') : ''}`] : []),
            r.pod,
            r.version,
            r.image,
            r.terminating ? 'terminating' : r.ready ? 'yes' : `NO${r.why ? `: ${r.why}` : ''}`,
            r.since ?? '',
            String(r.restarts),
          ]),
        ]),
      );
    }
    return ok ? 0 : 1;
  });
}

/**
 * slipway releases on kubernetes: one row per image the Deployment's ReplicaSets keep (its revision
 * history, `revisionHistoryLimit`), newest revision first, marked current, good (a Slipway rollout
 * succeeded with it) or failed (rolled back). `slipway rollback --to IMAGE` deploys one of them (or
 * any other image) with the same executor, gate and lock as a deploy.
 */
export function kubeReleases(f: Fleet, args: ParsedArgs, io: CliIO): Promise<number> {
  return withLease(f, async (_part, where, kubectl) => {
    const { name, d, signal, namespaced } = await theDeployment(f, kubectl, 'releases');
    const list = await kubectl.json<KubeObject>(['get', 'replicasets', '-l', selectorString(d.spec?.selector)], { signal, namespaced });
    const hashes = (a: string) =>
      String(d.metadata?.annotations?.[a] ?? '')
        .split(',')
        .filter(Boolean);
    const good = new Set(hashes(GOOD_ANNOTATION));
    const failed = new Set(hashes(FAILED_ANNOTATION));
    const view = assessRollout(d, list.items ?? [], [], f.inputs.container || undefined);
    const owned = ((list.items ?? []) as KubeObject[]).filter((rs) =>
      (rs.metadata?.ownerReferences ?? []).some((o: KubeObject) => o.kind === 'Deployment' && o.name === name),
    );
    const rows = owned
      .map((rs) => {
        const containers = (rs.spec?.template?.spec?.containers ?? []) as KubeObject[];
        const c = containers.find((x) => x.name === (f.inputs.container || name)) ?? containers[0];
        const hash = String(rs.metadata?.labels?.['pod-template-hash'] ?? '');
        return {
          revision: Number(rs.metadata?.annotations?.['deployment.kubernetes.io/revision'] ?? 0),
          image: String(c?.image ?? ''),
          version: String(rs.spec?.template?.metadata?.labels?.[VERSION_LABEL] ?? versionFromImage(String(c?.image ?? ''))),
          created: String(rs.metadata?.creationTimestamp ?? ''),
          replicas: Number(rs.status?.replicas ?? 0),
          current: hash !== '' && hash === view.newHash,
          verdict: good.has(hash) ? 'good' : failed.has(hash) ? 'failed' : '',
        };
      })
      .sort((a, b) => b.revision - a.revision);
    if (args.json) {
      io.stdout(`${JSON.stringify({ environment: f.env, deployment: `${where}/${name}`, releases: rows }, null, 2)}\n`);
      return 0;
    }
    io.stdout(
      `${f.env}: Deployment ${where}/${name} keeps ${rows.length} revision(s) (newest first); slipway rollback --env ${f.env} --to IMAGE deploys one\n`,
    );
    io.stdout(
      formatTable([
        ['REVISION', 'IMAGE', 'VERSION', 'CREATED', 'PODS', ''],
        ...rows.map((r) => [
          String(r.revision),
          r.image,
          r.version,
          r.created,
          String(r.replicas),
          [r.current ? '← current' : '', r.verdict === 'good' ? 'good' : r.verdict === 'failed' ? 'FAILED (rolled back)' : ''].filter(Boolean).join(', '),
        ]),
      ]),
    );
    return 0;
  });
}
