/**
 * Extracts the few GitHub REST operations Slipway calls from @octokit/openapi's dereferenced
 * description into a small committed fixture (test/fixtures/github-openapi-subset.json), so the
 * fake GitHub server validates requests against the real contract without a 385 MB dependency.
 *
 *   npm install --prefix /tmp/openapi @octokit/openapi
 *   node scripts/extract-openapi.ts [/tmp/openapi/node_modules/@octokit/openapi/generated/api.github.com.deref.json]
 *   node scripts/extract-openapi.ts --check   (fail when the fixture differs from a fresh extraction)
 *
 * Kept per operation: method, path, path and query parameters, the request body schema (dereferenced,
 * annotations dropped), every response status code, and the 2xx response schemas pruned to a few
 * levels (enough to check that the fake answers with the real shape).
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const OUT = join(root, 'test/fixtures/github-openapi-subset.json');
const DEFAULT_SRC = '/tmp/openapi/node_modules/@octokit/openapi/generated/api.github.com.deref.json';

/** The operations Slipway uses (src/notify/github.ts, the release plan's compare, the deployment report's commits and approvals). */
export const OPERATIONS = [
  'repos/create-deployment',
  'repos/list-deployments',
  'repos/get-deployment',
  'repos/create-deployment-status',
  'repos/list-deployment-statuses',
  'issues/create-comment',
  'issues/update-comment',
  'issues/list-comments',
  'issues/create',
  'repos/get-commit',
  'repos/compare-commits',
  'actions/get-reviews-for-run',
];

const ANNOTATIONS = new Set(['description', 'example', 'examples', 'externalDocs', 'summary', 'title', 'x-github', 'deprecated', 'readOnly', 'writeOnly', 'x-multi-segment']);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Drops annotation keywords (only where they annotate: a property *named* description stays). */
function clean(schema: Json, depth: number, maxDepth: number): Json {
  if (Array.isArray(schema)) return schema.map((s) => clean(s, depth, maxDepth));
  if (!schema || typeof schema !== 'object') return schema;
  const out: { [k: string]: Json } = {};
  for (const [k, v] of Object.entries(schema)) {
    if (ANNOTATIONS.has(k) && (typeof v !== 'object' || v === null || k === 'examples' || k === 'example' || k === 'externalDocs' || k === 'x-github')) continue;
    if (k === 'properties' && v && typeof v === 'object' && !Array.isArray(v)) {
      if (depth >= maxDepth) continue;
      const props: { [k: string]: Json } = {};
      for (const [name, sub] of Object.entries(v)) props[name] = clean(sub, depth + 1, maxDepth);
      out[k] = props;
    } else if (k === 'items' || k === 'additionalProperties' || k === 'oneOf' || k === 'anyOf' || k === 'allOf') {
      out[k] = clean(v, depth, maxDepth);
    } else {
      out[k] = v;
    }
  }
  // Pruned objects keep only their type: no 'required' list naming properties we dropped.
  if (depth >= maxDepth) delete out.required;
  return out;
}

export function extract(spec: any) {
  const operations: Record<string, unknown> = {};
  for (const [path, item] of Object.entries<any>(spec.paths)) {
    for (const [method, op] of Object.entries<any>(item)) {
      if (!op || typeof op !== 'object' || !OPERATIONS.includes(op.operationId)) continue;
      const params = (op.parameters ?? []).map((p: any) => ({ name: p.name, in: p.in, required: !!p.required, schema: clean(p.schema ?? {}, 0, 3) }));
      const body = op.requestBody?.content?.['application/json']?.schema;
      const responses: Record<string, unknown> = {};
      for (const [code, r] of Object.entries<any>(op.responses ?? {})) {
        const schema = r?.content?.['application/json']?.schema;
        // 2xx: the shape, two levels deep; errors: the shape in full (they are small).
        responses[code] = schema ? { schema: clean(schema, 0, code.startsWith('2') ? 2 : 4) } : {};
      }
      operations[op.operationId] = {
        method: method.toUpperCase(),
        path,
        parameters: params,
        requestBody: body ? { required: !!op.requestBody.required, schema: clean(body, 0, 6) } : undefined,
        responses,
      };
    }
  }
  const missing = OPERATIONS.filter((o) => !(o in operations));
  if (missing.length) throw new Error(`operations not found in the description: ${missing.join(', ')}`);
  return {
    source: `@octokit/openapi api.github.com.deref.json (API ${spec.info?.version}, OpenAPI ${spec.openapi})`,
    generatedBy: 'scripts/extract-openapi.ts',
    operations: Object.fromEntries(OPERATIONS.map((o) => [o, operations[o]])),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const check = args.includes('--check');
  const src = args.find((a) => !a.startsWith('--')) ?? DEFAULT_SRC;
  if (!existsSync(src)) {
    console.error(`extract-openapi: ${src} not found. Install it outside the project first: npm install --prefix /tmp/openapi @octokit/openapi`);
    process.exit(1);
  }
  const subset = extract(JSON.parse(readFileSync(src, 'utf8')));
  // One line per operation: small, and a diff shows which operation changed.
  const ops = Object.entries(subset.operations).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  const text = `{\n  "source": ${JSON.stringify(subset.source)},\n  "generatedBy": ${JSON.stringify(subset.generatedBy)},\n  "operations": {\n${ops.join(',\n')}\n  }\n}\n`;
  if (check) {
    const old = existsSync(OUT) ? readFileSync(OUT, 'utf8') : '';
    if (old !== text) {
      console.error('extract-openapi: test/fixtures/github-openapi-subset.json differs from a fresh extraction');
      process.exit(1);
    }
    console.log('extract-openapi: fixture up to date');
  } else {
    writeFileSync(OUT, text);
    console.log(`extract-openapi: wrote ${OUT} (${(text.length / 1024).toFixed(1)} kB, ${OPERATIONS.length} operations)`);
  }
}
