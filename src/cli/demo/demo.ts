/**
 * `npm run demo`: the whole pipeline on this machine, in about a minute, with nothing but Node:
 * migrations on a throwaway PostgreSQL → v1 on 4 local instances behind a load balancer → live
 * traffic → v2 rolled out in batches with readiness and the probe SLO gate → smoke tests → a bad v3
 * that the gate catches and rolls back → signed webhook notifications to a local receiver. It ends
 * with a timeline and counts, writes them to demo-summary.md, and stops every process it started
 * (also on Ctrl-C).
 */
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { parseInputs, type ActionSpec } from '../../manifest/fields.ts';
import { formatDuration } from '../../lib/duration.ts';
import { table } from '../../lib/markdown.ts';
import { STAGE_ORDER } from '../../config/stages.ts';
import { ConsoleRuntime } from '../../runner/console.ts';
import { makeContext } from '../../runner/run-action.ts';
import type { ActionContext, ActionResult } from '../../runner/context.ts';
import { createLocalFleet, type LocalFleet } from './local.ts';
import { rollout, type GateFn, type RolloutResult } from '../../deploy/engine.ts';
import { parseBatches } from '../../deploy/batches.ts';
import { createSloGate } from '../../metrics/gate.ts';
import { verifySignature } from '../../notify/webhook.ts';
import { startDemoDatabase, type DemoDatabase } from './demo-postgres.ts';
import { startDemoUnleash, type DemoUnleash } from './demo-unleash.ts';
import { flagRollout } from '../../deploy/strategies.ts';
import { UnleashProvider } from '../../flags/unleash.ts';
import { applyFlagChanges, killSwitch } from '../../flags/change.ts';
import { flagSwitch } from '../../flags/switch.ts';
import { flagChangeLine } from '../../flags/summary.ts';
import type { FlagChange } from '../../flags/model.ts';
import { spec as migrateSpec } from '../../actions/migrate/inputs.ts';
import { run as migrateRun } from '../../actions/migrate/run.ts';
import { spec as smokeSpec } from '../../actions/smoke-test/inputs.ts';
import { run as smokeRun } from '../../actions/smoke-test/run.ts';
import { spec as notifySpec } from '../../actions/notify/inputs.ts';
import { run as notifyRun } from '../../actions/notify/run.ts';

const root = new URL('../../..', import.meta.url).pathname;
const tty = Boolean(process.stdout.isTTY && !process.env.NO_COLOR);
const c = (code: string, s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
const t0 = Date.now();
const stamp = () => c('2', `[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s]`);
const say = (msg: string) => process.stdout.write(`${stamp()} ${msg}\n`);
const step = (n: number, msg: string) => say(c('1;36', `${n}. ${msg}`));

interface Timeline {
  at: number;
  what: string;
  detail: string;
}
const timeline: Timeline[] = [];
const mark = (what: string, detail: string) => timeline.push({ at: Date.now() - t0, what, detail });

/**
 * Live traffic through the load balancer, counted per phase and per version. Never retried: a
 * request that gets a non-2xx answer, a reset or a closed connection counts as failed.
 */
function startTraffic(url: string, concurrency = 6, ratePerSec = 120) {
  const counts: Record<string, { ok: number; failed: number; byVersion: Record<string, number> }> = {};
  let phase = 'v1';
  let running = true;
  const bump = (p: string) => (counts[p] ??= { ok: 0, failed: 0, byVersion: {} });
  const interval = (1000 * concurrency) / ratePerSec;
  const worker = async () => {
    while (running) {
      const started = Date.now();
      const p = phase;
      const k = bump(p);
      let res: Response | undefined;
      try {
        res = await fetch(`${url}/work`, { signal: AbortSignal.timeout(5000) });
      } catch {}
      if (!res) k.failed++;
      else {
        await res.arrayBuffer().catch(() => undefined);
        const v = res.headers.get('x-app-version') ?? '?';
        k.byVersion[v] = (k.byVersion[v] ?? 0) + 1;
        if (res.status >= 200 && res.status < 300) k.ok++;
        else k.failed++;
      }
      const wait = interval - (Date.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    counts,
    setPhase(p: string) {
      phase = p;
    },
    async stop() {
      running = false;
      await Promise.all(workers);
    },
  };
}

/** A local webhook receiver that verifies Slipway's HMAC signature independently. */
async function startReceiver(secret: string) {
  const received: { event: string; verified: boolean; reason?: string }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const check = verifySignature(secret, body, req.headers);
      let event = '?';
      try {
        event = (JSON.parse(body) as { event?: { kind?: string }; kind?: string }).event?.kind ?? (JSON.parse(body) as { kind?: string }).kind ?? '?';
      } catch {}
      received.push({ event, verified: check.ok, reason: check.ok ? undefined : check.reason });
      res.writeHead(check.ok ? 204 : 401).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/slipway`,
    received,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function freeBase(n: number): Promise<number> {
  for (let i = 0; i < 40; i++) {
    const base = 21000 + Math.floor(Math.random() * 9000);
    const free = await Promise.all(
      Array.from(
        { length: n },
        (_, k) =>
          new Promise<boolean>((resolve) => {
            const s = createServer()
              .once('error', () => resolve(false))
              .listen(base + k, '127.0.0.1', () => s.close(() => resolve(true)));
          }),
      ),
    );
    if (free.every(Boolean)) return base;
  }
  throw new Error('no free ports for the demo fleet');
}

function context(): { ctx: ActionContext; rt: ConsoleRuntime } {
  const rt = new ConsoleRuntime(
    {},
    {
      write: (s) =>
        process.stdout.write(
          s
            .split('\n')
            .map((l) => (l ? `         ${c('2', l)}` : l))
            .join('\n'),
        ),
    },
  );
  return {
    rt,
    ctx: makeContext(
      rt,
      { ...process.env, GITHUB_WORKSPACE: root, GITHUB_REPOSITORY: 'acme/shop', GITHUB_ACTOR: process.env.USER ?? 'you' },
      new AbortController().signal,
    ),
  };
}

async function runAction(spec: ActionSpec, run: (i: any, ctx: ActionContext) => Promise<ActionResult>, raw: Record<string, string>): Promise<ActionResult> {
  const { ctx } = context();
  const inputs = await parseInputs(
    spec,
    (n) => raw[n],
    (s) => ctx.log.mask(s),
  );
  return run(inputs, ctx);
}

/**
 * Steps 6 and 7 (with a flag server): v4 ships the new checkout dark; the flag is released
 * progressively (2% → 50% → 100%) with the SLO gate on live traffic between steps, and the broken
 * code path fails the gate at 50%: the flag goes back off. Then the flag is on for everyone and v5
 * is deployed: its gate fails, the kill switch turns the flag off first, the instances roll back.
 */
async function flagSteps(unleash: DemoUnleash, fleet: LocalFleet, traffic: ReturnType<typeof startTraffic>, log: ConsoleRuntime): Promise<boolean> {
  step(
    6,
    'Deploy dark, release by flag: v4 carries new-checkout behind a flag (OpenFeature in the app), released 2% → 50% → 100% with the SLO gate between steps',
  );
  await unleash.ready;
  const res = await fetch(`${unleash.url}/api/admin/projects/default/features`, {
    method: 'POST',
    headers: { authorization: unleash.adminToken, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'new-checkout' }),
  });
  if (!res.ok) throw new Error(`creating the demo flag: ${res.status} ${await res.text()}`);
  const provider = new UnleashProvider({ url: unleash.url, token: unleash.adminToken, environment: 'production' });
  const actor = { who: process.env.USER ?? 'you', run: 'demo' };
  traffic.setPhase('v4 dark');
  const v4 = await rollout(fleet.target, 'v4', {
    batches: parseBatches('2,2'),
    readiness: { threshold: 2, timeoutMs: 30_000, intervalMs: 100, minReadyMs: 0, requestTimeoutMs: 2000 },
    log,
  });
  mark('v4 (dark)', `${v4.status} in ${formatDuration(v4.durationMs)}; new-checkout off`);
  say(`   v4 everywhere, new-checkout off: users see nothing new (${v4.status})`);
  // The gate judges the whole service through the load balancer: the flag changes what every instance does.
  const gate = createSloGate({
    provider: 'probe',
    objectives: 'error-ratio <= 2%',
    durationMs: 3000,
    intervalMs: 3000,
    probe: { paths: ['/work'], rate: 150, concurrency: 8 },
    minSamples: 100,
  });
  const changes: FlagChange[] = [];
  traffic.setPhase('flag rollout');
  const prog = await flagRollout(
    flagSwitch(provider, 'new-checkout', (from, to, ms) =>
      changes.push({
        flag: 'new-checkout',
        provider: 'unleash',
        server: unleash.url,
        environment: 'production',
        action: to.enabled ? 'rollout' : 'restore',
        from,
        to,
        who: actor.who,
        run: actor.run,
        at: new Date().toISOString(),
        durationMs: ms,
        ok: true,
      }),
    ),
    {
      steps: [2, 50, 100],
      pauseMs: 600,
      log,
      gate: async (g) => {
        const r = await gate({ urls: [fleet.url], version: 'v4', signal: g.signal });
        say(`   gate after ${[2, 50, 100][g.batch - 1]}%: ${r.verdict}: ${r.reason}`);
        return { pass: r.pass, verdict: r.verdict, reason: r.reason };
      },
    },
  );
  for (const ch of changes) say(`   flag ${flagChangeLine(ch)}`);
  const back = await provider.read('new-checkout');
  mark('flag new-checkout', `${prog.status}: ${prog.failure?.reason ?? 'at 100%'}; now ${back?.enabled ? `on ${back.rollout ?? 100}%` : 'off'}`);
  say(`   progressive rollout ${prog.status}; new-checkout is ${back?.enabled ? 'on' : 'off'} again`);

  step(7, 'Kill switch: new-checkout on for everyone, then v5 fails its gate: the flag is switched off first, then the instances roll back');
  await applyFlagChanges(provider, [{ flag: 'new-checkout', action: 'rollout', percent: 100 }], { actor });
  await new Promise((r) => setTimeout(r, 600));
  traffic.setPhase('kill switch');
  let killed: FlagChange[] = [];
  const v5 = await rollout(fleet.target, 'v5', {
    batches: parseBatches('1,1,2'),
    readiness: { threshold: 2, timeoutMs: 30_000, intervalMs: 100, minReadyMs: 0, requestTimeoutMs: 2000 },
    gate: probeGate('error-ratio <= 1%, p99 <= 1s', (v, why) => say(`   gate: ${v}: ${why}`)),
    beforeUndo: async () => (killed = await killSwitch(provider, ['new-checkout'], { actor, log, deadlineMs: 30_000 })),
    log,
  });
  const killMs = killed[0]?.durationMs;
  for (const ch of killed) say(`   kill switch: ${flagChangeLine(ch)}${killMs !== undefined ? ` in ${formatDuration(killMs)}` : ''}`);
  say(`   v5 ${v5.status}${v5.rollbackMs !== undefined ? `; instances rolled back in ${formatDuration(v5.rollbackMs)} (after the flag)` : ''}`);
  mark(
    'v5 + kill switch',
    `${v5.status}; new-checkout ${killed.every((k) => k.ok) ? `switched off in ${killMs !== undefined ? formatDuration(killMs) : '?'}` : 'NOT switched off'} before the rollback`,
  );
  traffic.setPhase('after kill switch');
  await new Promise((r) => setTimeout(r, 800));
  const finalFlag = await provider.read('new-checkout');
  return (
    v4.status === 'succeeded' &&
    prog.status === 'rolled-back' &&
    v5.status === 'rolled-back' &&
    killed.length === 1 &&
    killed[0]!.ok &&
    finalFlag?.enabled === false
  );
}

function probeGate(objectives: string, onResult: (verdict: string, reason: string) => void): GateFn {
  const gate = createSloGate({
    provider: 'probe',
    objectives,
    durationMs: 4000,
    intervalMs: 4000,
    probe: { paths: ['/work'], rate: 150, concurrency: 8 },
    minSamples: 100,
  });
  return async (g) => {
    const version = g.newInstances[0]?.version ?? '?';
    const r = await gate({
      urls: g.newInstances.map((i) => i.url),
      version,
      baselineUrls: g.oldInstances.map((i) => i.url),
      baselineVersion: g.oldInstances[0]?.version,
      signal: g.signal,
    });
    onResult(r.verdict, r.reason);
    return { pass: r.pass, verdict: r.verdict, reason: r.reason, details: r.report };
  };
}

export async function demo(): Promise<number> {
  const cleanups: (() => Promise<void>)[] = [];
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    for (const f of cleanups.reverse()) await f().catch(() => undefined);
  };
  const onSignal = () => {
    say(c('33', 'interrupted: stopping everything the demo started…'));
    void cleanup().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const log = context().rt;

  try {
    say(c('1', `Slipway demo: the whole pipeline on this machine (sample app in examples/app): ${STAGE_ORDER.join(' → ')}`));
    const secret = `demo-${Math.random().toString(36).slice(2)}`;
    const receiver = await startReceiver(secret);
    cleanups.push(receiver.close);

    // 1. Database and migrations.
    step(1, 'Migrations before the new code');
    let db: DemoDatabase | undefined;
    try {
      db = await startDemoDatabase(process.env);
    } catch {
      db = undefined;
    }
    let migrationsApplied = 0;
    if (db) {
      cleanups.push(db.stop);
      say(`   database: ${db.describe}`);
      const r = await runAction(migrateSpec, migrateRun, { mode: 'run', dir: join(root, 'examples/app/migrations'), 'database-url': db.url });
      if (r.failure) throw new Error(r.failure);
      const applied = JSON.parse(String(JSON.stringify(r.outputs.applied ?? []))) as unknown[];
      migrationsApplied = applied.length;
      say(`   applied ${migrationsApplied} migration(s); current version ${r.outputs['current-version']}`);
      mark(
        'migrate',
        `${migrationsApplied} applied on ${db.kind === 'given' ? 'DATABASE_URL' : db.kind === 'pglite' ? 'PGlite (embedded)' : 'a throwaway PostgreSQL'}`,
      );
    } else {
      say(c('33', '   no PostgreSQL here (no DATABASE_URL, no server binaries, no PGlite): skipping migrations; set DATABASE_URL to include them'));
      mark('migrate', 'skipped: no PostgreSQL');
    }
    // The flag server (a real Unleash on the same PostgreSQL) for steps 6 and 7.
    let unleash: DemoUnleash | undefined;
    if (db && db.kind !== 'pglite' && process.env.SLIPWAY_DEMO_FLAGS !== '0') {
      try {
        unleash = await startDemoUnleash(db.url);
        cleanups.push(unleash.stop);
        say(`   flag server: starting Unleash on ${unleash.url} (it migrates its database: ~10 s)`);
        // Waited for here, not beside the rollouts: its start would compete with the gates for the CPU.
        await unleash.ready;
        say(`   flag server ready: new-checkout will ship dark in step 6`);
      } catch (err) {
        say(c('33', `   no flag server (${err instanceof Error ? err.message : String(err)}): the flag steps are skipped`));
      }
    }

    // 2. v1 on a local fleet.
    step(2, 'v1 on 4 local instances behind a load balancer');
    const base = await freeBase(4);
    const fleet: LocalFleet = await createLocalFleet({
      command: [process.execPath, join(root, 'examples/app/server.js')],
      instances: 4,
      basePort: base,
      env: (version) => ({
        APP_VERSION: version,
        ERROR_RATE: version === 'v3' ? '0.08' : '0',
        DRAIN_TIMEOUT_MS: '5000',
        ...(db ? { DATABASE_URL: db.url } : {}),
        // v4 and v5 carry the new checkout, dark: behind the flag, read through OpenFeature. Its code path is broken (30% errors).
        ...(unleash && (version === 'v4' || version === 'v5')
          ? {
              UNLEASH_URL: unleash.url,
              UNLEASH_CLIENT_TOKEN: unleash.clientToken,
              UNLEASH_REFRESH_MS: '200',
              FEATURE_FLAG: 'new-checkout',
              FEATURE_ERROR_RATE: '0.3',
            }
          : {}),
      }),
      drainTimeoutMs: 5000,
    });
    cleanups.push(() => fleet.stop());
    await fleet.start('v1');
    const lbName = fleet.balancer === 'builtin' ? 'the built-in proxy' : fleet.balancer;
    say(`   ${fleet.status().length} instances ready; load balancer (${lbName}) at ${fleet.url}`);
    mark('v1', `4 instances behind ${lbName}`);

    const traffic = startTraffic(fleet.url);
    cleanups.push(() => traffic.stop());
    await new Promise((r) => setTimeout(r, 1500));

    // 3. v2 under live traffic.
    step(3, 'Roll out v2 in batches 1,1,2 with readiness checks and the SLO gate (probe) between batches');
    traffic.setPhase('v2');
    const gateLog: string[] = [];
    const v2 = await rollout(fleet.target, 'v2', {
      batches: parseBatches('1,1,2'),
      readiness: { threshold: 2, timeoutMs: 20_000, intervalMs: 100, minReadyMs: 0, requestTimeoutMs: 2000 },
      gate: probeGate('error-ratio <= 1%, p99 <= 1s', (v, why) => {
        gateLog.push(`v2: ${v}: ${why}`);
        say(`   gate: ${v}: ${why}`);
      }),
      log,
    });
    mark('v2', `${v2.status} in ${formatDuration(v2.durationMs)}`);
    if (v2.status !== 'succeeded') throw new Error(`v2 rollout ${v2.status}: ${v2.failure?.reason}`);
    say(`   v2 everywhere in ${formatDuration(v2.durationMs)}`);

    // 4. Smoke tests.
    step(4, 'Smoke tests against the load balancer');
    const smoke = await runAction(smokeSpec, smokeRun, {
      url: fleet.url,
      checks: JSON.stringify([
        { path: '/health', expect: { json: { status: 'ok' } } },
        { path: '/version', expect: { json: { version: 'v2' } } },
        { path: '/ready', expect: { status: 200 } },
      ]),
      deadline: '10s',
    });
    mark('smoke', smoke.failure ? `failed: ${smoke.failure}` : 'passed (3 checks)');
    await runAction(notifySpec, notifyRun, {
      event: smoke.failure ? 'failed' : 'succeeded',
      environment: 'demo',
      version: 'v2',
      'previous-version': 'v1',
      channels: 'webhook',
      'webhook-url': receiver.url,
      'webhook-secret': secret,
    });
    const v2Counts = { ...traffic.counts.v2!, byVersion: { ...traffic.counts.v2!.byVersion } };

    // 5. A bad v3.
    step(5, 'Roll out a bad v3 (8% errors): the gate must catch it and roll back');
    traffic.setPhase('v3');
    const v3: RolloutResult = await rollout(fleet.target, 'v3', {
      batches: parseBatches('1,1,2'),
      readiness: { threshold: 2, timeoutMs: 20_000, intervalMs: 100, minReadyMs: 0, requestTimeoutMs: 2000 },
      gate: probeGate('error-ratio <= 1%, p99 <= 1s', (v, why) => {
        gateLog.push(`v3: ${v}: ${why}`);
        say(`   gate: ${v}: ${why}`);
      }),
      log,
    });
    traffic.setPhase('after');
    await new Promise((r) => setTimeout(r, 1000));
    const versions = [...new Set(fleet.status().map((s) => s.version))];
    mark('v3', `${v3.status}${v3.rollbackMs !== undefined ? `, rollback ${formatDuration(v3.rollbackMs)}` : ''}; fleet on ${versions.join(', ')}`);
    say(`   ${v3.status}: ${v3.failure?.reason ?? ''}`);
    say(`   fleet now runs ${versions.join(', ')}${v3.rollbackMs !== undefined ? `; rollback took ${formatDuration(v3.rollbackMs)}` : ''}`);
    await runAction(notifySpec, notifyRun, {
      event: v3.status === 'rolled-back' ? 'rolled-back' : 'failed',
      environment: 'demo',
      version: 'v3',
      'previous-version': 'v2',
      reason: v3.failure?.reason ?? '',
      channels: 'webhook',
      'webhook-url': receiver.url,
      'webhook-secret': secret,
    });

    const flagOk = unleash ? await flagSteps(unleash, fleet, traffic, log) : undefined;

    await traffic.stop();
    const after = traffic.counts.after ?? { ok: 0, failed: 0, byVersion: {} };
    const v3Counts = traffic.counts.v3!;

    // 7. The story.
    step(unleash ? 8 : 6, 'What happened');
    const rows = timeline.map((e) => [`${(e.at / 1000).toFixed(1)}s`, e.what, e.detail]);
    const counts = [
      ['v2 rollout', v2Counts.ok + v2Counts.failed, v2Counts.failed, JSON.stringify(v2Counts.byVersion)],
      ['v3 attempt', v3Counts.ok + v3Counts.failed, v3Counts.failed, JSON.stringify(v3Counts.byVersion)],
      ['after rollback', after.ok + after.failed, after.failed, JSON.stringify(after.byVersion)],
      ...['v4 dark', 'flag rollout', 'kill switch', 'after kill switch'].flatMap((p) => {
        const k = traffic.counts[p];
        return k ? [[p, k.ok + k.failed, k.failed, JSON.stringify(k.byVersion)]] : [];
      }),
    ];
    const ok =
      v2.status === 'succeeded' &&
      !smoke.failure &&
      v3.status === 'rolled-back' &&
      versions.length === 1 &&
      versions[0] === 'v2' &&
      v2Counts.failed === 0 &&
      flagOk !== false;
    const md =
      `# Slipway demo\n\n${ok ? '✅ v2 shipped with zero failed requests; the bad v3 was caught by the gate and rolled back.' : '❌ The demo did not go as planned (see below).'}\n\n` +
      `## Timeline\n\n${table(['at', 'stage', 'what happened'], rows)}\n## Requests through the load balancer (never retried)\n\n${table(['phase', 'requests', 'failed (non-2xx, reset or closed)', 'served by'], counts)}\n` +
      `## Gate verdicts\n\n${gateLog.map((l) => `- ${l}`).join('\n')}\n\n## Notifications (signed webhooks, verified by the receiver)\n\n${receiver.received.map((r) => `- ${r.event}: ${r.verified ? 'signature verified' : `REJECTED: ${r.reason}`}`).join('\n')}\n`;
    process.stdout.write(`\n${table(['at', 'stage', 'what happened'], rows)}\n${table(['phase', 'requests', 'failed', 'served by'], counts)}\n`);
    say(`v2: ${v2Counts.ok + v2Counts.failed} requests during the rollout, ${v2Counts.failed} failed`);
    say(
      `v3: gate ${v3.batches.find((b) => b.gate)?.gate?.verdict ?? '?'}; rolled back in ${v3.rollbackMs !== undefined ? formatDuration(v3.rollbackMs) : '?'}; ${v3Counts.failed} of ${v3Counts.ok + v3Counts.failed} requests failed while v3 served part of the traffic`,
    );
    say(`notifications: ${receiver.received.length} signed webhooks, ${receiver.received.filter((r) => r.verified).length} verified`);
    writeFileSync('demo-summary.md', md);
    say(`summary written to demo-summary.md`);
    say(ok ? c('1;32', 'demo finished: everything went as designed') : c('1;31', 'demo finished with problems'));
    return ok ? 0 : 1;
  } catch (err) {
    say(c('31', `demo failed: ${err instanceof Error ? err.message : String(err)}`));
    return 1;
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    say('stopped every process the demo started');
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  demo().then((code) => process.exit(code));
}
