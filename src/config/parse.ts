import { Type, type Static, type TObject, type TSchemaOptions } from 'typebox';
import { Value } from 'typebox/value';

/** A declared variable: its JSON Schema keywords and the annotations of schema.ts. */
export interface Declared extends TSchemaOptions {
  env: string;
  description: string;
  /** The problem reported when a value fails the schema's own keywords. */
  errorMessage?: string;
  /** Set on arrays read as a list; other arrays and objects are JSON. */
  separator?: string;
  minimum?: number;
  maximum?: number;
  enum?: readonly unknown[];
}

/** Every field of the declaration, in declaration order. */
export const declared = (schema: TObject) => Object.entries(schema.properties) as Array<[string, Declared]>;

/** Every key is present; a variable without a default is undefined when unset. */
export type EnvValues<T extends TObject> = { [K in keyof Static<T>]-?: undefined extends Static<T>[K] ? Static<T>[K] | undefined : Static<T>[K] };

type Env = Record<string, string | undefined>;

const DIGITS = /^[0-9]{1,15}$/;
const TRUE = /^(1|true|yes|on)$/i;
const FALSE = /^(0|false|no|off)$/i;

/**
 * Reads each declared variable from the environment and reports every bad one, named. Not ajv's
 * coerceTypes: it reads " 80 ", 0x50 and 8e1 as 80 and refuses yes/on/1.
 * An unset or empty variable takes its default.
 */
export function readEnv<T extends TObject>(schema: T, env: Env): { values: EnvValues<T>; problems: string[] } {
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [field, variable] of declared(schema)) {
    // A copy: a caller changing its config's lists must not change the declaration's defaults.
    values[field] = structuredClone(variable.default);
    const raw = env[variable.env];
    if (raw === undefined || raw === '') continue;
    const read = decode(variable, raw);
    const found = 'problem' in read ? [read.problem] : refusals(variable, raw, read.value);
    if (found.length === 0 && 'value' in read) values[field] = read.value;
    for (const problem of found) problems.push(`${variable.env}: ${problem}`);
  }
  return { values: values as EnvValues<T>, problems };
}

function decode(variable: Declared, raw: string): { value: unknown } | { problem: string } {
  if (Type.IsInteger(variable)) return DIGITS.test(raw) ? { value: Number(raw) } : { problem: refusal(variable, raw) };
  if (Type.IsBoolean(variable)) return TRUE.test(raw) ? { value: true } : FALSE.test(raw) ? { value: false } : { problem: refusal(variable, raw) };
  if (Type.IsArray(variable) && variable.separator !== undefined) {
    return { value: raw.split(variable.separator).map((s) => s.trim()).filter(Boolean) };
  }
  if (Type.IsArray(variable) || Type.IsObject(variable)) {
    try {
      return { value: JSON.parse(raw) };
    } catch {
      return { problem: 'not valid JSON' };
    }
  }
  return { value: raw };
}

/** One problem per distinct failure: a Refine check's own message, else the variable's. */
function refusals(variable: Declared, raw: string, value: unknown): string[] {
  return [...new Set(Value.Errors(variable, value).map((e) => (e.keyword === '~refine' ? e.message : refusal(variable, raw))))];
}

function refusal(variable: Declared, raw: string): string {
  if (variable.errorMessage !== undefined) return variable.errorMessage;
  if (Type.IsInteger(variable)) return `expected an integer between ${variable.minimum} and ${variable.maximum}, got "${raw}"`;
  if (Type.IsBoolean(variable)) return `expected true or false, got "${raw}"`;
  if (Type.IsEnum(variable)) return `expected ${variable.enum.slice(0, -1).join(', ')} or ${variable.enum.at(-1)}, got "${raw}"`;
  // No echo: the value may be a URL with a password or a secret.
  return 'not an accepted value';
}
