import { randomUUID } from 'node:crypto';

type Schema = Record<string, any>;

/**
 * A minimal body that satisfies a route's JSON schema, so an authorization
 * probe is judged by the policy and not stopped early by validation.
 */
export function sampleFromSchema(schema: Schema | undefined): unknown {
  if (!schema) return undefined;
  if (schema.anyOf) return sampleFromSchema(schema.anyOf[0]);
  if ('const' in schema) return schema.const;
  if (schema.enum) return schema.enum[0];
  switch (schema.type) {
    case 'object': {
      const props: Record<string, Schema> = schema.properties ?? {};
      const required: string[] = schema.required ?? [];
      const out: Record<string, unknown> = {};
      for (const key of required) out[key] = sampleFromSchema(props[key]);
      for (const key of Object.keys(props)) {
        if (Object.keys(out).length >= (schema.minProperties ?? 0)) break;
        if (!(key in out)) out[key] = sampleFromSchema(props[key]);
      }
      return out;
    }
    case 'string':
      if (schema.format === 'email') return `probe-${randomUUID().slice(0, 8)}@example.com`;
      if (schema.format === 'uuid') return randomUUID();
      return 'x'.repeat(Math.max(1, schema.minLength ?? 1));
    case 'integer':
    case 'number':
      return schema.minimum ?? 1;
    case 'boolean':
      return true;
    case 'array':
      return schema.minItems ? Array.from({ length: schema.minItems }, () => sampleFromSchema(schema.items)) : [];
    default:
      return {};
  }
}
