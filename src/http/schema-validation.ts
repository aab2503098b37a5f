import type { FastifySchemaCompiler } from 'fastify';
import { Ajv, type Options } from 'ajv';
import ajvFormats from 'ajv-formats';

/**
 * Request validation (the "schema validation" step of DESIGN.md §3).
 * Bodies are JSON: a value of the wrong type is a 400, never converted
 * (`"name": 12345` is not a name, `"scopes": "crm.read"` is not a list).
 * Path parameters, querystrings and headers are text: they are coerced to
 * the declared number, boolean or array types. Unknown properties are errors,
 * never silently dropped; allErrors stays off (an attacker-sized error list is
 * a DoS, as Fastify's own defaults note).
 */
const common: Options = { removeAdditional: false, useDefaults: true, allErrors: false, addUsedSchema: false };

export function requestSchemaCompiler(): FastifySchemaCompiler<unknown> {
  const json = new Ajv({ ...common, coerceTypes: false });
  const text = new Ajv({ ...common, coerceTypes: 'array' });
  ajvFormats.default(json);
  ajvFormats.default(text);
  return ({ schema, httpPart }) => (httpPart === 'body' ? json : text).compile(schema as object);
}

/**
 * True when every string of a parsed JSON body, keys included, is well-formed
 * UTF-16. A lone surrogate (`"\ud800"`) would be stored as U+FFFD, silently
 * changing the value (two names could collide). Iterative: nesting depth is
 * bounded by the body limit, not by the call stack.
 */
export function isWellFormedBody(body: unknown): boolean {
  const pending: unknown[] = [body];
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value === 'string') {
      if (!value.isWellFormed()) return false;
    } else if (Array.isArray(value)) {
      for (const inner of value) pending.push(inner);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, inner] of Object.entries(value)) {
        if (!key.isWellFormed()) return false;
        pending.push(inner);
      }
    }
  }
  return true;
}
