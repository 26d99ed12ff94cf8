/** JSON Schema for slipway.yml, generated from the actions' input specs (committed as schema/slipway.schema.json). */
import type { ActionSpec, InputSpec } from '../lib/fields.ts';
import { SECTIONS } from './load.ts';

const SECRET_REF = '^\\$\\{\\{\\s*secrets\\.[A-Za-z_][A-Za-z0-9_]*\\s*\\}\\}$';

function inputSchema(i: InputSpec): Record<string, unknown> {
  const description = `${i.description} Expected: ${i.expected}.${i.default !== undefined ? ` Default: ${i.default}.` : ''}`;
  if (i.secret) return { description, type: 'string', pattern: SECRET_REF };
  switch (i.kind) {
    case 'boolean': return { description, type: ['boolean', 'string'] };
    case 'integer': return { description, type: ['integer', 'string'] };
    case 'number': return { description, type: ['number', 'string'] };
    case 'list': return { description, type: ['array', 'string'], items: { type: ['string', 'number'] } };
    case 'yaml': return { description, type: ['array', 'object', 'string'] };
    case 'enum': return { description, enum: [...(i.values ?? [])] };
    default: return { description, type: 'string' };
  }
}

function section(spec: ActionSpec): Record<string, unknown> {
  return {
    type: 'object',
    description: `Inputs of the ${spec.name} action: ${spec.description}`,
    additionalProperties: false,
    properties: Object.fromEntries(Object.entries(spec.inputs).map(([n, i]) => [n, inputSchema(i)])),
  };
}

export function configJsonSchema(specs: Record<string, ActionSpec>): Record<string, unknown> {
  const envProps: Record<string, unknown> = {
    url: { type: 'string', format: 'uri', description: 'The environment URL (smoke tests, deployment status).' },
    'database-url': { type: 'string', pattern: SECRET_REF, description: 'The database URL, as a reference to a secret: ${{ secrets.NAME }}.' },
    window: {
      type: 'object',
      additionalProperties: false,
      description: 'Deploy window policy.',
      properties: {
        timezone: { type: 'string', description: 'IANA time zone, e.g. Europe/Berlin. Default UTC.' },
        deny: { type: 'array', items: { type: 'string', pattern: '^(sun|mon|tue|wed|thu|fri|sat)(\\s+\\d{1,2}:\\d{2}-\\d{1,2}:\\d{2})?$' }, description: 'Closed times, e.g. "fri 15:00-24:00", "sat".' },
        freeze: { type: 'array', items: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' }, description: 'Freeze dates (YYYY-MM-DD).' },
      },
    },
  };
  for (const [name, action] of Object.entries(SECTIONS)) if (specs[action]) envProps[name] = section(specs[action]);
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://slipway.dev/schema/slipway.schema.json',
    title: 'slipway.yml',
    type: 'object',
    additionalProperties: false,
    required: ['version', 'environments'],
    properties: {
      version: { const: 1 },
      app: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: { type: 'string' }, image: { type: 'string' } } },
      ...(specs['build-and-tag'] ? { build: section(specs['build-and-tag']) } : {}),
      environments: {
        type: 'object',
        minProperties: 1,
        propertyNames: { pattern: '^[a-z0-9][a-z0-9_-]*$' },
        additionalProperties: { type: 'object', additionalProperties: false, properties: envProps },
      },
    },
  };
}
