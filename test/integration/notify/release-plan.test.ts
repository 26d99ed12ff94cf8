/**
 * The release plan as the approver sees it: notify's approval-waiting summary, from real inputs
 * (migrate's lint of a migrations folder on disk, a staging report as deploy-environment.yml writes
 * it, a deploy-window verdict) and the fake GitHub API (the live deployment, the commits and the
 * files added since). Rendered with a GitHub-flavoured Markdown library (marked) and headless
 * Chromium; the screenshot is kept in docs/ (docs/release-plan.png).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeGithub, type FakeGithub } from '../../helpers/fakes/fake-github.ts';
import { chromium, screenshot } from '../../helpers/screenshot.ts';
import { repoRoot } from '../../helpers/runner.ts';
import { parseInputs } from '../../../src/manifest/fields.ts';
import { MemoryReporter } from '../../../src/lib/report.ts';
import { spec } from '../../../src/actions/notify/inputs.ts';
import { run } from '../../../src/actions/notify/run.ts';
import { spec as migrateSpec } from '../../../src/actions/migrate/inputs.ts';
import { run as migrateRun } from '../../../src/actions/migrate/run.ts';
import { sendNotification } from '../../../src/notify/send.ts';
import type { ActionContext, GithubContext } from '../../../src/runner/context.ts';

const TOKEN = 'ghs_releasePlanFakeToken0123456789';
const [LIVE, A, B, HEAD] = ['1', '2', '3', '4'].map((c) => c.repeat(40)) as [string, string, string, string];

describe('the release plan', () => {
  let gh: FakeGithub;
  let workspace: string;

  const ctx = (github: Partial<GithubContext> = {}): ActionContext => ({
    log: new MemoryReporter(),
    github: { serverUrl: 'https://github.com', repository: 'acme/shop', sha: HEAD, ref: 'refs/heads/main', refName: 'main', eventName: 'push', actor: 'ada', runId: '9', runAttempt: '1', workflow: 'deploy', job: 'release-plan', runUrl: 'https://github.com/acme/shop/actions/runs/9', event: {}, ...github },
    saveState: () => {}, getState: () => '', signal: new AbortController().signal, tempDir: tmpdir(), workspace, env: {},
  });

  beforeAll(async () => {
    gh = await startFakeGithub({ token: TOKEN, repository: 'acme/shop' });
    gh.history.push(
      { sha: LIVE, message: 'Release 1.4', author: 'ada', added: ['migrations/0010_users.sql', 'migrations/0020_orders.sql'] },
      { sha: A, message: 'Show display names (#41)', author: 'grace', added: ['migrations/0030_add_display_name.sql'] },
      { sha: B, message: 'Require a SKU on items (#42)', author: 'linus', added: ['migrations/0040_items_sku_not_null.sql', 'src/items.ts'] },
      { sha: HEAD, message: 'Backfill a forgotten index (#43)\n\nLong description', author: 'ada', added: ['migrations/0015_orders_index.sql'] },
    );
    const r = await sendNotification({ kind: 'succeeded', environment: 'production', repository: 'acme/shop', version: { sha: LIVE, label: 'v1.4.0' }, details: {} }, { channels: ['github'], github: { token: TOKEN, repository: 'acme/shop', apiUrl: gh.url, reuseOpenDeployment: false } }, { log: new MemoryReporter() });
    expect(r.failed).toEqual([]);

    workspace = mkdtempSync(join(tmpdir(), 'slipway-plan-'));
    const m = join(workspace, 'migrations');
    mkdirSync(m);
    writeFileSync(join(m, '0010_users.sql'), 'CREATE TABLE users (id bigint PRIMARY KEY);\n');
    writeFileSync(join(m, '0020_orders.sql'), 'CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint);\n');
    writeFileSync(join(m, '0030_add_display_name.sql'), 'ALTER TABLE users ADD COLUMN display_name text;\n');
    writeFileSync(join(m, '0040_items_sku_not_null.sql'), 'ALTER TABLE users ADD COLUMN sku text NOT NULL;\n');
    writeFileSync(join(m, '0015_orders_index.sql'), '-- slipway:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS orders_user_idx ON orders (user_id);\n');
  }, 60_000);

  afterAll(async () => {
    await gh?.close();
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  let summary = '';
  it('puts what is approved first, from GitHub, the repository and staging, with no production credential', async () => {
    // migrate's lint over the folder (no database), as the release-plan job runs it.
    const lint = await migrateRun(await parseInputs(migrateSpec, (n) => ({ mode: 'lint', dir: 'migrations', 'fail-on': 'never' })[n]), ctx());
    const violations = JSON.stringify(lint.outputs.violations);
    expect(JSON.parse(violations).length).toBeGreaterThan(0);
    const stage = JSON.stringify({ environment: 'staging', result: 'success', version: HEAD, 'smoke-passed': 'true', 'smoke-failed-count': '0', 'gate-verdict': 'pass', 'gate-reason': 'error-ratio 0.1% <= 1% over 2,410 requests; p99 212ms <= 1s' });
    const inputs = await parseInputs(spec, (n) => ({
      event: 'approval-waiting', channels: 'summary', environment: 'production', app: 'shop',
      image: `ghcr.io/acme/shop@sha256:${'ab'.repeat(32)}`, digest: `sha256:${'ab'.repeat(32)}`, version: HEAD,
      'migrations-dir': 'migrations', lint: violations, stage, 'window-verdict': 'pass', 'window-reason': 'inside the deploy window (Mon–Thu 09:00–16:00 Europe/Berlin)',
      'github-token': TOKEN, 'github-api-url': gh.url,
    } as Record<string, string>)[n]);
    const r = await run(inputs, ctx());
    summary = r.summary ?? '';
    const headings = summary.split('\n').filter((l) => /^#{2,3} /.test(l));
    expect(headings).toEqual([
      '## Release plan: shop 4444444 → production',
      '### Staging',
      '### Migrations this release applies (3)',
      '### Commits since the live deployment (3)',
      '### Where this plan was sent',
    ]);
    expect(summary).toContain(`| **Digest** | \`sha256:${'ab'.repeat(32)}\` |`);
    expect(summary).toMatch(/\| \*\*Live now, and what a rollback returns to\*\* \| v1\.4\.0 \(1111111\), deployed /);
    expect(summary).toContain('| **Deploy window** | ✅ open: inside the deploy window');
    expect(summary).toContain('| SLO gate | ✅ pass | error-ratio 0.1% <= 1% over 2,410 requests; p99 212ms <= 1s |');
    // Only the files added since the live commit; the NOT NULL one is flagged; 0015 is out of order.
    expect(summary).toMatch(/\| 0030 \| add_display_name \| ✅ safe \|/);
    expect(summary).toMatch(/\| 0040 \| items_sku_not_null \| ❌ `add-column-not-null-without-default` \(line 1\)/);
    expect(summary).toMatch(/\| 0015 \| orders_index \| ✅ safe \| ⚠️ out of order: older than 0020/);
    expect(summary).not.toMatch(/\| 0010 \|/);
    expect(summary).toContain('([#42](https://github.com/acme/shop/pull/42))');
    expect(summary).not.toContain('Long description');
    // No raw JSON and no empty header rows.
    expect(summary).not.toMatch(/\{"|```/);
    expect(summary).not.toMatch(/^\|\s*\|\s*\|$/m);
    expect(gh.selfCheck).toEqual([]);
  }, 60_000);

  it.skipIf(!chromium && process.env.CI !== 'true')('reads well rendered: GitHub-flavoured Markdown in headless Chromium (docs/release-plan.png)', async () => {
    expect(chromium, 'chromium is required under CI=true (Debian package chromium)').toBeTruthy();
    expect(summary).not.toBe('');
    const { html, png } = await screenshot(summary);
    // The rendered page: every table became a table, no Markdown syntax left over.
    expect((html.match(/<table>/g) ?? []).length).toBe(5);
    expect(html).not.toMatch(/\| --- \||\*\*[A-Z]/);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.length).toBeGreaterThan(20_000); // a page with text, not a blank frame
    writeFileSync(join(repoRoot, 'docs/release-plan.png'), png);
  }, 90_000);
});
