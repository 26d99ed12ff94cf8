import { z } from 'zod';
import { defineAction, f, out } from '../../manifest/fields.ts';
import { checksSchema } from '../../smoke/checks.ts';

export const spec = defineAction({
  name: 'smoke-test',
  title: 'Slipway smoke-test',
  description: 'Declarative HTTP checks against a deployed URL, retried until a deadline so a fresh deploy has time to come up.',
  branding: { icon: 'check-circle', color: 'green' },
  inputs: {
    url: f.url({
      description: 'Base URL of the deployment, e.g. https://staging.example.com. Credentials in the URL are sent as Basic auth and masked.',
      required: true,
    }),
    checks: f.yaml(checksSchema, {
      description: 'YAML or JSON list of checks: path, method, headers, body, and expect (status, contains, matches, json, headers, max-latency).',
      default: '[{"path": "/"}]',
      expected: 'a YAML or JSON list of checks like [{path: /health, expect: {status: 200}}]',
    }),
    headers: f.yaml(z.record(z.string(), z.union([z.string(), z.number()]).transform(String)), {
      description: 'YAML or JSON map of headers sent with every check (values are masked when they look like credentials).',
      expected: 'a YAML or JSON map of header names to values',
    }),
    timeout: f.duration({ description: 'Timeout of each request.', default: '10s', min: 1, max: 600_000 }),
    deadline: f.duration({
      description: 'Keep retrying failed checks with backoff until this much time has passed (0 = one attempt).',
      default: '60s',
      max: 3_600_000,
    }),
    'fail-fast': f.boolean({ description: 'Stop at the first failed check, without retrying.', default: 'false' }),
  },
  outputs: {
    passed: out.boolean("'true' when every check passed, else 'false'."),
    'failed-count': out.integer('Number of checks that failed.'),
    results: out.json(
      'JSON list of results: name, method, path, passed, attempts, status, latencyMs, reason.',
      'a JSON list of check results',
      z.array(z.looseObject({ name: z.string(), path: z.string(), passed: z.boolean() })),
      ['[{"name":"GET /health","method":"GET","path":"/health","passed":true,"attempts":1,"status":200,"latencyMs":3}]'],
    ),
  },
});
