/**
 * A deployment history seeded into the fake GitHub API for the report tests, with the figures a
 * person computes from it by hand (see the comments). Times are relative to `now` so that the
 * report's window (ending at the real clock) holds them.
 *
 * production (window 90 days; T = now − 10 days; h = hour, m = minute):
 *   D0  c0  created T−100d, success               outside the window
 *   D1  c1  created T,      success T+10m          commit c1 at T−2h   → lead 2h10m, approved by ada
 *   D2  c2  created T+24h,  success T+24h20m       commit c2 at T+20h  → lead 4h20m, approved by grace
 *   D3  c3  created T+48h,  failure T+48h15m "… rolled back to …"      → rolled back, restored in 15m
 *   R3  c2  created T+48h16m, success T+48h17m "restored by a rollback" → a restore, not a change
 *   D4  c4  created T+72h,  failure T+72h5m "migration failed"         → failed; restored by D5: 24h30m
 *   D5  c5  created T+96h,  success T+96h30m       commit c5 at T+90h  → lead 6h30m (review pending: no approver)
 *   D6  c5  created T+9d,   in_progress only                          → in progress, not counted
 * Figures: frequency 3 successful changes / 90 days; lead time median(130m, 260m, 390m) = 260m;
 * change failure rate 2 / 5 = 40%; time to restore median(15m, 1470m) = 742.5m; running now: c5 (v1.5).
 *
 * staging: 120 successful deployments of commits GitHub does not know (commit lookups answer 404),
 * one every 12 hours from T−50d: the list of all environments needs two pages of 100.
 */
import type { FakeGithub } from './fakes/fake-github.ts';

const H = 3_600_000;
const M = 60_000;

export const EXPECTED_PRODUCTION = {
  deployments: 3,
  windowDays: 90,
  leadTimeMs: 260 * M,
  leadTimeSamples: 3,
  changeFailureRate: 0.4,
  failedChanges: 2,
  finishedChanges: 5,
  timeToRestoreMs: 742.5 * M,
  restoredFailures: 2,
  unrestoredFailures: 0,
};

export function seedHistory(gh: FakeGithub, now = Date.now(), repository = 'acme/shop'): { T: number; shas: Record<string, string> } {
  const T = now - 10 * 24 * H;
  const iso = (t: number) => new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const shas = { c0: 'a0'.repeat(20), c1: 'c1'.repeat(20), c2: 'c2'.repeat(20), c3: 'c3'.repeat(20), c4: 'c4'.repeat(20), c5: 'c5'.repeat(20) };
  gh.history.push(
    { sha: shas.c0, message: 'Old', author: 'ada', date: iso(T - 101 * 24 * H) },
    { sha: shas.c1, message: 'Add checkout', author: 'ada', date: iso(T - 2 * H) },
    { sha: shas.c2, message: 'Faster search', author: 'grace', date: iso(T + 20 * H) },
    { sha: shas.c3, message: 'Break checkout', author: 'linus', date: iso(T + 40 * H) },
    { sha: shas.c4, message: 'Add a column', author: 'ada', date: iso(T + 70 * H) },
    { sha: shas.c5, message: 'Fix checkout', author: 'grace', date: iso(T + 90 * H) },
  );
  let id = 5000;
  let sid = 900000;
  const run = (n: number) => `https://github.com/${repository}/actions/runs/${n}/job/${n * 10}`;
  const deps: FakeGithub['deployments'] = [];
  const add = (environment: string, s: string, label: string, created: number, statuses: [string, number, string?][], runId?: number, description = '') => {
    const d = {
      id: ++id, sha: s, ref: s, task: 'deploy', environment, description, payload: { slipway: { version: { sha: s, label } } },
      transient_environment: false, production_environment: environment === 'production', created_at: iso(created),
      statuses: statuses.map(([state, t, desc]) => ({ id: ++sid, state, environment_url: '', log_url: runId ? run(runId) : '', description: desc ?? '', environment, created_at: iso(t) })).reverse(),
    };
    deps.push(d);
    return d;
  };
  add('production', shas.c0, 'v1.0', T - 100 * 24 * H, [['in_progress', T - 100 * 24 * H + M], ['success', T - 100 * 24 * H + 5 * M]], 100);
  add('production', shas.c1, 'v1.1', T, [['in_progress', T + M], ['success', T + 10 * M]], 101);
  add('production', shas.c2, 'v1.2', T + 24 * H, [['in_progress', T + 24 * H + M], ['success', T + 24 * H + 20 * M]], 102);
  add('production', shas.c3, 'v1.3', T + 48 * H, [['in_progress', T + 48 * H + M], ['failure', T + 48 * H + 15 * M, 'Deploy of shop v1.3 to production rolled back to v1.2: error ratio 4.1% > 1%']], 103);
  add('production', shas.c2, 'v1.2', T + 48 * H + 16 * M, [['success', T + 48 * H + 17 * M, 'Deploy of shop v1.2 to production succeeded: restored by a rollback: v1.3 broke checkout']], 203, 'Deploy of shop v1.2 to production succeeded');
  add('production', shas.c4, 'v1.4', T + 72 * H, [['in_progress', T + 72 * H + M], ['failure', T + 72 * H + 5 * M, 'Deploy of shop v1.4 to production failed: migration 0007 failed']], 104);
  add('production', shas.c5, 'v1.5', T + 96 * H, [['in_progress', T + 96 * H + M], ['success', T + 96 * H + 30 * M]], 105);
  add('production', shas.c5, 'v1.5', T + 9 * 24 * H, [['in_progress', T + 9 * 24 * H + M]], 106);
  for (let k = 0; k < 120; k++) {
    const t = T - 50 * 24 * H + k * 12 * H;
    add('staging', (k + 1).toString(16).padStart(8, '0').padEnd(40, 'd'), `s${k + 1}`, t, [['success', t + 3 * M]], 3000 + k);
  }
  deps.sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at) || b.id - a.id);
  gh.deployments.push(...deps);
  gh.reviews.push(
    { runId: 101, environments: ['production'], state: 'approved', login: 'ada', comment: 'ship it' },
    { runId: 102, environments: ['staging'], state: 'approved', login: 'linus', comment: '' },
    { runId: 102, environments: ['production'], state: 'approved', login: 'grace', comment: '' },
    { runId: 103, environments: ['production'], state: 'rejected', login: 'ada', comment: 'wait' },
    { runId: 103, environments: ['production'], state: 'approved', login: 'linus', comment: '' },
    { runId: 105, environments: ['production'], state: 'pending', login: 'bob', comment: '' },
  );
  return { T, shas };
}
