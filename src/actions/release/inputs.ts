import { z } from 'zod';
import { defineAction, f, out } from '../../manifest/fields.ts';

import { RELEASE_STAGES as STAGES } from '../../config/stages.ts';

export const spec = defineAction({
  name: 'release',
  title: 'Slipway release',
  description:
    'The all-in-one release for one environment, from slipway.yml: deploy window → migrate → rolling deploy (SLO gate between batches) → smoke tests → SLO gate → notify, rolling back when a check fails after the switch.',
  branding: { icon: 'anchor', color: 'blue' },
  post: true,
  inputs: {
    environment: f.string({
      description: 'The slipway.yml environment to release to (e.g. staging, production).',
      required: true,
      pattern: /^[a-z0-9][a-z0-9_-]*$/,
      expected: 'an environment name like staging',
    }),
    config: f.string({ description: 'Path of slipway.yml (relative to the workspace).', default: 'slipway.yml', expected: 'a file path' }),
    version: f.string({
      description: 'The release to deploy (release name or image reference; the commit SHA by default).',
      pattern: /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/,
      expected: 'a release name of letters, digits and . _ + -',
    }),
    image: f.string({ description: 'Image by digest, for notifications and Kubernetes targets.', expected: 'an image reference' }),
    stages: f.list({
      description: `Stages to run, in this order: ${STAGES.join(', ')}. A stage without a section in slipway.yml is skipped.`,
      default: STAGES.join(','),
      item: new RegExp(`^(${STAGES.join('|')})$`),
      itemExpected: STAGES.join(', '),
    }),
    'window-override': f.string({
      description: 'Reason to release outside the deploy window (recorded in the summary and the notification).',
      expected: 'a reason',
    }),
    'rollback-on-failure': f.boolean({ description: 'Roll the fleet back when smoke tests or the SLO gate fail after the switch.', default: 'true' }),
    'database-url': f.string({ description: 'PostgreSQL URL for migrations (secret; overrides slipway.yml).', secret: true, expected: 'a postgres:// URL' }),
    'ssh-key': f.string({ description: 'SSH private key for the hosts target (secret).', secret: true, expected: 'an OpenSSH private key' }),
    'prometheus-token': f.string({ description: 'Bearer token for Prometheus (secret).', secret: true, expected: 'a token' }),
    'slack-webhook-url': f.string({ description: 'Slack incoming webhook URL (secret).', secret: true, expected: 'a https:// URL' }),
    'webhook-url': f.string({ description: 'Webhook URL (secret).', secret: true, expected: 'a URL' }),
    'webhook-secret': f.string({ description: 'HMAC secret for the webhook (secret).', secret: true, expected: 'a secret' }),
    'github-token': f.string({
      description: 'Token for deployment statuses and incident issues.',
      default: '${{ github.token }}',
      secret: true,
      expected: 'a GitHub token',
    }),
  },
  outputs: {
    result: out.enum('success, failure or rolled-back.', ['success', 'failure', 'rolled-back']),
    version: out.text('The version the environment runs after this step.', ['v2']),
    'previous-version': out.text('The version it ran before.', ['v1']),
    stages: out.json('JSON: each stage that ran, with ok and its outputs.', 'a JSON list of stages', z.unknown(), ['[]']),
  },
});
