import type { FastifyReply, FastifyRequest, FastifySchemaCompiler, HookHandlerDoneFunction } from 'fastify';
import { ProblemError } from './problem.ts';
import { Ajv, type Options } from 'ajv';
import ajvFormats from 'ajv-formats';

/**
 * Request validation (the "schema validation" step of DESIGN.md §3).
 * Bodies are JSON: a value of the wrong type is a 400, never converted
 * (`"name": 12345` is not a name, `"scopes": "crm.read"` is not a list).
 * Path parameters, querystrings and headers are text: they are read as the
 * declared number, boolean or list types (fromText). Unknown properties are errors,
 * never silently dropped; allErrors stays off (an attacker-sized error list is
 * a DoS, as Fastify's own defaults note).
 */
const common: Options = { removeAdditional: false, useDefaults: true, allErrors: false, addUsedSchema: false };

export function requestSchemaCompiler(): FastifySchemaCompiler<unknown> {
  const ajv = new Ajv({ ...common, coerceTypes: false });
  ajvFormats.default(ajv);
  return ({ schema, httpPart }) => {
    const validate = ajv.compile(schema as object);
    if (httpPart === 'body') return validate;
    // Only fields declared as numbers, booleans or lists are read from text; a schema of strings
    // (an `:id` parameter) is validated as it is, at no extra cost on the request path.
    const typed = Object.entries((schema as { properties?: Record<string, TextSchema> }).properties ?? {})
      .filter(([, field]) => field.type === 'integer' || field.type === 'number' || field.type === 'boolean' || field.type === 'array');
    if (typed.length === 0) return validate;
    const check = (data: unknown) => {
      if (data !== null && typeof data === 'object') {
        const fields = data as Record<string, unknown>;
        for (const [name, field] of typed) if (name in fields) fields[name] = fromText(field, fields[name]);
      }
      const ok = validate(data);
      check.errors = validate.errors;
      return ok;
    };
    check.errors = validate.errors;
    return check;
  };
}

interface TextSchema {
  type?: string;
  items?: TextSchema;
}

/**
 * Text to the declared type, strictly: plain decimal digits only (Ajv's own
 * coercion takes `0x1`, `1e2` and ` 5 ` as numbers), `true`/`false`, and a
 * single value for a list. Anything else stays text and fails validation.
 */
const INTEGER = /^-?(?:0|[1-9][0-9]{0,15})$/;
const NUMBER = /^-?(?:0|[1-9][0-9]{0,15})(?:\.[0-9]{1,15})?$/;

function fromText(schema: TextSchema, value: unknown): unknown {
  if (schema.type === 'array') {
    const list = Array.isArray(value) ? value : [value];
    return schema.items ? list.map((v) => fromText(schema.items!, v)) : list;
  }
  if (typeof value !== 'string') return value;
  if (schema.type === 'integer') return INTEGER.test(value) ? Number(value) : value;
  if (schema.type === 'number') return NUMBER.test(value) ? Number(value) : value;
  if (schema.type === 'boolean') return value === 'true' ? true : value === 'false' ? false : value;
  return value;
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

/** preValidation of routes with a body: a lone surrogate anywhere is a 400 (isWellFormedBody). */
export function rejectMalformedText(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
  if (request.body !== undefined && !isWellFormedBody(request.body)) {
    done(new ProblemError('validation-failed', 400, 'The body contains text that is not well-formed Unicode (a lone surrogate).'));
    return;
  }
  done();
}
