import fc from 'fast-check';

type Schema = Record<string, any>;

/**
 * fast-check arbitraries from a route's JSON schema (OpenAPI 3.1 = JSON Schema):
 * `valid` follows the schema (types, bounds, formats, enums, required), `any`
 * mixes it with invalid variants — wrong types, out-of-range values, missing
 * required members, unknown members (a `tenantId` among them), hostile strings —
 * so both the handler and the validator are exercised.
 */
const hostile = fc.constantFrom(
  "' OR 1=1 --", '"; DROP TABLE users; --', '<script>alert(1)</script>', '../../etc/passwd', '\u0000', '%00', '${jndi:ldap://x}',
  '{{7*7}}', '\uFFFF\uD800', 'a'.repeat(10_000), '-1', 'NaN', '1e309', ' ', '', '00000000-0000-0000-0000-000000000000',
);

export function validFrom(schema: Schema | undefined, depth = 0): fc.Arbitrary<unknown> {
  if (!schema || depth > 4) return fc.constant(undefined);
  if (schema.anyOf || schema.oneOf) return fc.oneof(...(schema.anyOf ?? schema.oneOf).map((s: Schema) => validFrom(s, depth + 1)));
  if ('const' in schema) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const type = Array.isArray(schema.type) ? schema.type.find((t: string) => t !== 'null') : schema.type;
  switch (type) {
    case 'object': {
      const props: Record<string, Schema> = schema.properties ?? {};
      const required = new Set<string>(schema.required ?? []);
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, s] of Object.entries(props)) record[k] = validFrom(s, depth + 1);
      return fc.record(record, { requiredKeys: [...required].filter((k) => k in props) });
    }
    case 'array': {
      const max = Math.min(schema.maxItems ?? 3, 3);
      const min = Math.min(schema.minItems ?? 0, max);
      return fc.array(validFrom(schema.items, depth + 1), { minLength: min, maxLength: max });
    }
    case 'string':
      return stringFrom(schema);
    case 'integer':
      return fc.integer({ min: schema.minimum ?? -1000, max: schema.maximum ?? Math.max(1000, schema.minimum ?? 0) });
    case 'number':
      return fc.double({ min: schema.minimum ?? -1000, max: schema.maximum ?? 1000, noNaN: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

function stringFrom(schema: Schema): fc.Arbitrary<string> {
  switch (schema.format) {
    case 'uuid': return fc.uuid();
    case 'email': return fc.emailAddress();
    case 'date-time': return fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString());
    case 'date': return fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10));
    case 'uri': return fc.webUrl();
    default: break;
  }
  if (schema.pattern) {
    try {
      return fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length >= (schema.minLength ?? 0) && s.length <= (schema.maxLength ?? 10_000));
    } catch {
      /* a pattern fast-check cannot generate from: fall through */
    }
  }
  const min = schema.minLength ?? 0;
  return fc.string({ minLength: min, maxLength: Math.max(min, Math.min(schema.maxLength ?? 40, 40)) });
}

/** Invalid variants of a value of `schema`. */
export function invalidFrom(schema: Schema | undefined): fc.Arbitrary<unknown> {
  const wrongType = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 2 }), hostile, fc.jsonValue({ maxDepth: 3 }));
  if (!schema || schema.type !== 'object') return wrongType;
  const valid = validFrom(schema) as fc.Arbitrary<Record<string, unknown>>;
  const keys = Object.keys(schema.properties ?? {});
  return fc.oneof(
    wrongType,
    valid.map((v) => ({ ...v, tenantId: '00000000-0000-4000-8000-000000000000' })),
    fc.tuple(valid, fc.string({ minLength: 1, maxLength: 12 }), fc.jsonValue()).map(([v, k, x]) => ({ ...v, [`x-${k}`]: x })),
    ...(keys.length ? [fc.tuple(valid, fc.constantFrom(...keys)).map(([v, k]) => { const c = { ...v }; delete c[k]; return c; })] : []),
    ...(keys.length ? [fc.tuple(valid, fc.constantFrom(...keys), fc.oneof(wrongType, hostile)).map(([v, k, x]) => ({ ...v, [k]: x }))] : []),
  );
}

export function anyFrom(schema: Schema | undefined): fc.Arbitrary<unknown> {
  return fc.oneof({ arbitrary: validFrom(schema), weight: 2 }, { arbitrary: invalidFrom(schema), weight: 1 });
}

/** A path parameter: a well-formed value, another tenant's id, or garbage. */
export function paramFrom(schema: Schema | undefined, foreignIds: readonly string[]): fc.Arbitrary<string> {
  const own = schema ? validFrom(schema).map((v) => String(v ?? 'x')) : fc.uuid();
  return fc.oneof(own, ...(foreignIds.length ? [fc.constantFrom(...foreignIds)] : []), hostile.map((s) => s.slice(0, 200)), fc.uuid());
}
