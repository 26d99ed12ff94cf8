/** The incident issue, Slack and the webhook say which flags the kill switch switched (and which it could not). */
import { describe, expect, it } from 'vitest';
import { normalizeFlags, normalizeNotes, renderIncidentIssue, renderMarkdown, renderSlack, renderWebhookPayload, type NotifyEvent } from '../../../src/notify/message.ts';
import type { FlagChange } from '../../../src/flags/model.ts';
import { renderReleasePlan } from '../../../src/notify/plan.ts';
import { parseInputs } from '../../../src/manifest/fields.ts';
import { spec } from '../../../src/actions/flags/inputs.ts';
import { plannedChanges } from '../../../src/actions/flags/run.ts';

const changes: FlagChange[] = [
  { flag: 'new-checkout', provider: 'unleash', server: 'https://unleash.example.com', environment: 'production', action: 'disable', from: { enabled: true, rollout: 25 }, to: { enabled: false, rollout: 25 }, who: 'slipway', run: 'https://github.com/acme/shop/actions/runs/7', at: '2026-12-06T21:00:01.000Z', durationMs: 80, ok: true },
  { flag: 'new-search', provider: 'unleash', server: 'https://unleash.example.com', environment: 'production', action: 'disable', from: { enabled: true }, to: { enabled: false }, who: 'slipway', run: 'https://github.com/acme/shop/actions/runs/7', at: '2026-12-06T21:00:01.000Z', durationMs: 30000, ok: false, error: 'the Unleash server https://unleash.example.com is unreachable (ECONNREFUSED)' },
];

describe('flags in notify messages', () => {
  // What the notify action gets: details: {flags: <the flags action's changes output>, …}.
  const details = JSON.parse(JSON.stringify({ flags: changes, other: 'x' })) as Record<string, unknown>;
  const event: NotifyEvent = {
    kind: 'rolled-back',
    environment: 'production',
    repository: 'acme/shop',
    version: { label: 'v42' },
    previousVersion: { label: 'v41' },
    reason: 'gate failed after batch 1: error-ratio 12% > 1%',
    details: { flags: normalizeFlags(details.flags), notes: normalizeNotes(details) },
  };

  it('the incident issue lists the flags switched before the rollback, and the ones that could not be', () => {
    const { body } = renderIncidentIssue(event);
    expect(body).toContain('**Feature flags switched (kill switch, before the rollback)** — ❌ 1 could NOT be switched: turn them off by hand');
    expect(body).toContain('| `new-checkout` | on 25% | off (25% when on) | ✅ | 2026-12-06T21:00:01.000Z |');
    expect(body).toContain('| `new-search` | on | off | ❌ the Unleash server https://unleash.example.com is unreachable (ECONNREFUSED) |');
    // The flags are not shown twice as a raw note; other notes stay.
    expect(body.match(/new-checkout/g)).toHaveLength(1);
    expect(event.details.notes).toEqual([{ title: 'other', text: 'x' }]);
    expect(renderMarkdown(event)).toContain('Feature flags switched');
  });

  it('Slack and the webhook carry them too', () => {
    const slack = JSON.stringify(renderSlack(event));
    expect(slack).toContain('new-checkout: on 25% → off (25% when on) (production)');
    expect(slack).toContain('new-search: NOT switched to off');
    const hook = renderWebhookPayload(event);
    expect(JSON.stringify(hook)).toContain('"flag":"new-checkout"');
  });

  it('anything that is not a list of flag changes stays an ordinary note', () => {
    expect(normalizeFlags('checkout')).toBeUndefined();
    expect(normalizeFlags([{ name: 'x' }])).toBeUndefined();
    expect(normalizeNotes({ flags: 'checkout on' })).toEqual([{ title: 'flags', text: 'checkout on' }]);
  });

  it('the release plan shows the approver which flags the release changes and how, with no credential', async () => {
    // The flags action in mode plan, from slipway.yml's flags section: nothing is contacted.
    const inputs = await parseInputs(spec, (n) => ({ environment: 'production', mode: 'plan', 'unleash-url': 'https://unleash.example.com', release: 'new-checkout=25%, new-search', progressive: 'one-click', steps: '5%,50%,100%' })[n]);
    const changes = plannedChanges(inputs, { who: 'octocat', run: 'https://github.com/acme/shop/actions/runs/9' }, '2026-12-06T21:00:00.000Z');
    const flags = normalizeFlags(JSON.parse(JSON.stringify(changes)));
    const plan = await renderReleasePlan({ event: { kind: 'approval-waiting', environment: 'production', repository: 'acme/shop', version: { label: 'v43' }, details: { flags } }, flags });
    expect(plan).toContain('### Feature flags this release changes (3)');
    expect(plan).toContain('| `new-checkout` | production | gradual rollout: on 25% | not read (no production credential in the plan) | switched off first by the kill switch |');
    expect(plan).toContain('| `new-search` | production | turn on |');
    expect(plan).toContain('| `one-click` | production | gradual rollout: on 100% |');
  });
});
