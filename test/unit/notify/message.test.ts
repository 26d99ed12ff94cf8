import { describe, expect, it } from 'vitest';
import {
  COLORS,
  EVENT_KINDS,
  SLACK_LIMITS,
  commentMarker,
  fitSlackLimits,
  headline,
  normalizeGate,
  normalizeLint,
  normalizeMigrations,
  normalizeTimeline,
  renderIncidentIssue,
  renderMarkdown,
  renderSlack,
  renderStatusDescription,
  renderWebhookPayload,
  slackTextLength,
  type NotifyEvent,
} from '../../../src/notify/message.ts';
import { validateMessage } from '../../helpers/fakes/fake-slack.ts';

const SHA = '0123456789abcdef0123456789abcdef01234567';
const DIGEST = `sha256:${'ab'.repeat(32)}`;

export function sampleEvent(over: Partial<NotifyEvent> = {}): NotifyEvent {
  return {
    kind: 'succeeded',
    environment: 'production',
    repository: 'acme/shop',
    version: { image: 'ghcr.io/acme/shop', digest: DIGEST, sha: SHA, label: 'v2' },
    previousVersion: { label: 'v1' },
    actor: 'octocat',
    runUrl: 'https://github.com/acme/shop/actions/runs/4242',
    commitUrl: `https://github.com/acme/shop/commit/${SHA}`,
    environmentUrl: 'https://shop.example.com',
    durationMs: 95_000,
    details: {
      migrations: [{ version: '0003', name: 'add_orders_index', durationMs: 1200, lockRetries: 1 }],
      timeline: [{ at: '2025-01-01T10:00:00Z', step: 'batch 1/2', detail: 'web1', durationMs: 3100, ok: true }],
      gate: { verdict: 'pass', reason: 'all objectives met', objectives: [{ objective: 'error-ratio', measured: '0.1%', threshold: '1%', samples: 5000, verdict: 'pass' }] },
    },
    ...over,
  };
}

describe('one event model, rendered per channel', () => {
  it('gives each outcome its own headline and Slack colour', () => {
    const heads = EVENT_KINDS.map((kind) => headline(sampleEvent({ kind })));
    expect(new Set(heads).size).toBe(EVENT_KINDS.length);
    expect(heads[0]).toBe('Deploying shop v2 to production…');
    expect(headline(sampleEvent({ kind: 'rolled-back' }))).toBe('Deploy of shop v2 to production rolled back to v1');
    const colors = EVENT_KINDS.map((kind) => renderSlack(sampleEvent({ kind })).attachments![0]!.color);
    expect(new Set(colors).size).toBe(EVENT_KINDS.length);
    expect(renderSlack(sampleEvent({ kind: 'failed' })).attachments![0]!.color).toBe(COLORS.failed);
  });

  it('puts the run, commit and environment links and the reports in the Slack message', () => {
    const m = renderSlack(sampleEvent({ kind: 'failed', reason: 'gate failed: p99 1.4s > 1s' }));
    const json = JSON.stringify(m);
    expect(json).toContain('<https://github.com/acme/shop/actions/runs/4242|Run>');
    expect(json).toContain(`<https://github.com/acme/shop/commit/${SHA}|Commit>`);
    expect(json).toContain('<https://shop.example.com|Environment>');
    expect(json).toContain('0003 add_orders_index');
    expect(json).toContain('error-ratio');
    expect(json).toContain('batch 1/2');
    expect(m.text).toContain('gate failed: p99 1.4s &gt; 1s'.replace('&gt;', '>'));
    expect(validateMessage(m).error).toBeUndefined();
  });

  it('escapes Slack mrkdwn control characters in user text', () => {
    const m = renderSlack(sampleEvent({ kind: 'failed', reason: '<!channel> & <https://evil|click>' }));
    const section = JSON.stringify(m.attachments![0]!.blocks[1]);
    expect(section).toContain('&lt;!channel&gt; &amp; &lt;https://evil|click&gt;');
  });

  it('renders Markdown with the facts, links and reports (PR comments, summaries)', () => {
    const md = renderMarkdown(sampleEvent());
    expect(md).toContain('### ✅ Deployed shop v2 to production');
    expect(md).toContain('[Run](https://github.com/acme/shop/actions/runs/4242)');
    expect(md).toMatch(/\| error-ratio \| 0\.1% \| 1% \| 5000 \| pass \|/);
    expect(md).toContain('| 0003 | add_orders_index | 1.20s | 1 |');
  });

  it('keeps the deployment status description within GitHub\'s 140 characters', () => {
    const d = renderStatusDescription(sampleEvent({ kind: 'failed', reason: 'x'.repeat(500) }));
    expect(d.length).toBe(140);
    expect(d.endsWith('…')).toBe(true);
  });

  it('writes an incident issue with timeline, gate numbers, versions and a post-mortem template', () => {
    const { title, body } = renderIncidentIssue(sampleEvent({ kind: 'rolled-back', reason: 'error ratio 4.2% > 1%', previousVersion: { label: 'v1', sha: 'f'.repeat(40) } }));
    expect(title).toBe('Incident: Deploy of shop v2 to production rolled back to v1');
    for (const s of ['### What happened', '### Impact', '### Why it happened', '### How we prevent it', 'error ratio 4.2% > 1%', DIGEST, SHA, 'f'.repeat(40), 'batch 1/2', '| error-ratio | 0.1% | 1% | 5000 | pass |']) expect(body).toContain(s);
    expect(body.startsWith(commentMarker('incident-production'))).toBe(true);
  });

  it('gives webhooks the whole event as JSON', () => {
    const p = renderWebhookPayload(sampleEvent({ kind: 'rolled-back' }), new Date('2025-02-03T04:05:06Z'));
    expect(p).toMatchObject({ type: 'slipway.deployment', event: 'rolled-back', outcome: 'warning', environment: 'production', version: { digest: DIGEST, sha: SHA }, sentAt: '2025-02-03T04:05:06.000Z' });
    expect(p.details.gate?.objectives[0]?.samples).toBe(5000);
  });
});

describe('other actions\' reports are normalised leniently', () => {
  it('reads migrate\'s applied list in its different spellings', () => {
    expect(normalizeMigrations([{ version: '0001', name: 'init', duration_ms: 12 }, '0002'])).toEqual([{ version: '0001', name: 'init', durationMs: 12, lockRetries: undefined }, { version: '0002' }]);
    expect(normalizeMigrations({ applied: [{ id: 7, durationMs: 3 }] })?.[0]).toMatchObject({ version: '7', durationMs: 3 });
    expect(normalizeMigrations('nonsense')).toBeUndefined();
  });

  it('reads a rollout report with batches and instances', () => {
    const t = normalizeTimeline({ batches: [{ name: 'batch 1', instances: [{ name: 'web1' }, { name: 'web2' }], status: 'ready', readyMs: 900 }, { batch: 2, status: 'failed', reason: 'not ready' }] })!;
    expect(t[0]).toMatchObject({ step: 'batch 1', detail: 'web1, web2', ok: true, durationMs: 900 });
    expect(t[1]).toMatchObject({ step: '2', detail: 'not ready', ok: false });
  });

  it('reads an instances map (instance → version and ready time)', () => {
    expect(normalizeTimeline({ web1: { version: 'v2', readyMs: 1500 }, web2: 'v1' })).toEqual([
      expect.objectContaining({ step: 'web1', detail: 'v2', durationMs: 1500 }),
      expect.objectContaining({ step: 'web2', detail: 'v1' }),
    ]);
  });

  it('reads a gate report with objectives', () => {
    const g = normalizeGate({ verdict: 'inconclusive', reason: 'too few samples', results: [{ name: 'p99', value: '0.8s', target: '1s', count: 40, passed: true }] })!;
    expect(g).toEqual({ verdict: 'inconclusive', reason: 'too few samples', objectives: [{ objective: 'p99', measured: '0.8s', threshold: '1s', samples: 40, verdict: 'pass' }] });
  });
});

describe('Slack limits are enforced before sending', () => {
  const huge = () =>
    sampleEvent({
      kind: 'failed',
      app: 'a'.repeat(200),
      reason: 'r'.repeat(5000),
      details: {
        migrations: Array.from({ length: 2000 }, (_, i) => ({ version: String(i).padStart(4, '0'), name: `migration_number_${i}_${'x'.repeat(40)}` })),
        gate: { verdict: 'fail', objectives: Array.from({ length: 14 }, (_, i) => ({ objective: `objective-${i}`, measured: '1', threshold: '2', verdict: 'fail' })) },
        notes: [{ title: 'log', text: 'L'.repeat(2500) }],
      },
    });

  it('an unfitted message breaks Slack\'s rules (the fake would refuse it)', () => {
    const v = validateMessage(renderSlack(huge()));
    expect(v.error).toBe('invalid_blocks');
    expect(v.messages.join('\n')).toMatch(/less than 151 characters|less than 3001|no more than 10 items|no more than 50/);
  });

  it('cuts header, section, fields and blocks with a note, and the result is valid', () => {
    const { message, truncated } = fitSlackLimits(renderSlack(huge()), 'https://github.com/acme/shop/actions/runs/4242');
    expect(validateMessage(message)).toEqual({ messages: [] });
    const blocks = message.attachments![0]!.blocks;
    expect(blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
    const header = blocks[0] as { text: { text: string } };
    expect(header.text.text.length).toBeLessThanOrEqual(150);
    const why = blocks[1] as { text: { text: string } };
    expect(why.text.text.length).toBeLessThanOrEqual(3000);
    expect(why.text.text).toContain('(cut: see https://github.com/acme/shop/actions/runs/4242)');
    const gateFields = blocks.find((b) => b.type === 'section' && b.fields?.some((f) => f.text.includes('objective-0'))) as { fields: { text: string }[] };
    expect(gateFields.fields).toHaveLength(10);
    expect(gateFields.fields[9]!.text).toContain('and 5 more');
    expect(JSON.stringify(blocks.at(-1))).toMatch(/blocks not shown/);
    expect(truncated.join('\n')).toMatch(/header text cut/);
    expect(truncated.join('\n')).toMatch(/fields dropped/);
    expect(truncated.join('\n')).toMatch(/blocks dropped/);
  });

  it('drops detail blocks when the total text is over 40,000 characters', () => {
    const m = { text: 'hi', attachments: [{ color: '#000000', blocks: Array.from({ length: 20 }, () => ({ type: 'section' as const, text: { type: 'mrkdwn' as const, text: 'y'.repeat(2900) } })) }] };
    expect(slackTextLength(m)).toBeGreaterThan(40_000);
    const { message, truncated } = fitSlackLimits(m);
    expect(slackTextLength(message)).toBeLessThanOrEqual(40_000);
    expect(validateMessage(message).error).toBeUndefined();
    expect(truncated.join()).toMatch(/over Slack's 40000/);
  });

  it('leaves a message that fits untouched', () => {
    const m = renderSlack(sampleEvent());
    const { message, truncated } = fitSlackLimits(m);
    expect(truncated).toEqual([]);
    expect(message).toEqual(m);
  });
});

describe('migration lint in a message (the PR comment of pr-check.yml)', () => {
  const finding = { rule: 'add-column-not-null-without-default', severity: 'error', file: 'migrations/0004_sku.sql', line: 3, column: 1, statement: 'ALTER TABLE items ADD COLUMN sku text NOT NULL', message: 'rewrites | locks the table', fix: 'add it nullable, backfill, then SET NOT NULL' };
  it("renders migrate's violations as a table with the fix; a clean lint says so", () => {
    const md = renderMarkdown(sampleEvent({ kind: 'failed', details: { lint: normalizeLint([finding, { ...finding, severity: 'warning', rule: 'x', line: 9 }]) } }));
    expect(md).toContain('**Migration lint:** ❌ 1 error(s), ⚠️ 1 warning(s)');
    expect(md).toContain('| ❌ | migrations/0004_sku.sql:3 | `add-column-not-null-without-default` | rewrites \\| locks the table | add it nullable, backfill, then SET NOT NULL |');
    expect(renderMarkdown(sampleEvent({ details: { lint: normalizeLint([]) } }))).toContain('**Migration lint:** ✅ no findings');
    expect(validateMessage(renderSlack(sampleEvent({ details: { lint: normalizeLint([finding]) } }))).messages).toEqual([]);
  });
});

