/**
 * JSON Schema for slipway.yml (committed as schema/slipway.schema.json, for editors), generated from
 * the zod schemas the loader uses (src/config/load.ts, src/policy/deploy-window.ts) with zod 4's
 * `z.toJSONSchema`: every key of the environment schema is taken from it, so a section added there
 * (such as `flags`) appears here with no change. Sections that hold an action's inputs are described
 * by that action's input spec, in the forms slipway.yml accepts for each input.
 */
import { z } from 'zod';
import type { ActionSpec, InputSpec } from '../manifest/fields.ts';
import { SECRET_REF, SECTIONS, configSchema, environmentSchema } from './load.ts';

/** The values slipway.yml accepts for one input (the loader turns each into the input's string). */
function inputSchema(i: InputSpec): z.ZodType {
  const description = `${i.description} Expected: ${i.expected}.${i.default !== undefined ? ` Default: ${i.default}.` : ''}`;
  const text = z.string();
  let s: z.ZodType;
  if (i.secret) s = z.string().regex(SECRET_REF);
  else
    switch (i.kind) {
      case 'boolean':
        s = z.union([z.boolean(), text]);
        break;
      case 'integer':
        s = z.union([z.int(), text]);
        break;
      case 'number':
        s = z.union([z.number(), text]);
        break;
      case 'list':
        s = z.union([z.array(z.union([z.string(), z.number()])), text]);
        break;
      case 'yaml':
        s = z.union([z.array(z.unknown()), z.record(z.string(), z.unknown()), text]);
        break;
      case 'enum':
        s = z.enum([...(i.values ?? [])] as [string, ...string[]]);
        break;
      default:
        s = text;
    }
  return s.meta({ description });
}

function section(spec: ActionSpec): z.ZodType {
  return z
    .strictObject(Object.fromEntries(Object.entries(spec.inputs).map(([n, i]) => [n, inputSchema(i).optional()])))
    .meta({ description: `Inputs of the ${spec.name} action: ${spec.description}` });
}

/** Descriptions of the keys that are not an action's inputs. */
const DESCRIBE: Record<string, string> = {
  url: 'The environment URL (smoke tests, deployment status).',
  'database-url': 'The database URL, as a reference to a secret: ${{ secrets.NAME }}.',
  window: 'Deploy window policy: timezone (IANA, default UTC), deny (closed times such as "fri 15:00-24:00" or "sat", any case), freeze (YYYY-MM-DD dates).',
};

/** The loader's zod schema with each action section typed by that action's inputs. */
export function configZodSchema(specs: Record<string, ActionSpec>): z.ZodType {
  const env: Record<string, z.ZodType> = {};
  for (const [key, schema] of Object.entries(environmentSchema.shape as Record<string, z.ZodType>)) {
    const action = (SECTIONS as Record<string, string>)[key];
    if (action && specs[action]) env[key] = section(specs[action]).optional();
    // The loader refuses a literal database URL (it holds a password): the schema says so too.
    else if (key === 'database-url') env[key] = z.string().regex(SECRET_REF).optional();
    else env[key] = schema;
    if (DESCRIBE[key]) env[key] = env[key]!.meta({ description: DESCRIBE[key] });
  }
  const shape = configSchema.shape as Record<string, z.ZodType> & { environments: z.ZodRecord };
  return z.strictObject({
    ...shape,
    ...(specs['build-and-tag'] ? { build: section(specs['build-and-tag']).optional() } : {}),
    environments: z.record(shape.environments.keyType as z.ZodString, z.strictObject(env)),
  });
}

/**
 * A regular expression's source with the `i` flag spelled out ([fF][rR][iI]): JSON Schema patterns
 * have no flags, and zod drops them, which made editors refuse "Fri 15:00-24:00" that the loader takes.
 */
export function caseInsensitiveSource(re: RegExp): string {
  if (!re.flags.includes('i')) return re.source;
  let out = '';
  let inClass = false;
  for (let k = 0; k < re.source.length; k++) {
    const c = re.source[k]!;
    if (c === '\\') {
      out += c + (re.source[++k] ?? '');
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
    if (/[a-z]/i.test(c)) {
      if (inClass) throw new Error(`cannot spell out the i flag of /${re.source}/ (a letter inside [...])`);
      out += `[${c.toLowerCase()}${c.toUpperCase()}]`;
    } else out += c;
  }
  return out;
}

export function configJsonSchema(specs: Record<string, ActionSpec>): Record<string, unknown> {
  const json = z.toJSONSchema(configZodSchema(specs), {
    target: 'draft-7',
    io: 'input',
    unrepresentable: 'any',
    override: (ctx) => {
      const def = (ctx.zodSchema as { _zod?: { def?: { checks?: { _zod?: { def?: { pattern?: RegExp } } }[] } } })._zod?.def;
      const re = def?.checks?.map((c) => c._zod?.def?.pattern).find((p): p is RegExp => p instanceof RegExp && p.flags.includes('i'));
      if (re) ctx.jsonSchema.pattern = caseInsensitiveSource(re);
    },
  }) as Record<string, any>;
  // A refinement (at least one environment) has no JSON Schema form of its own.
  json.properties.environments.minProperties = 1;
  return { $schema: json.$schema, $id: 'https://slipway.dev/schema/slipway.schema.json', title: 'slipway.yml', ...json };
}
