/**
 * The UUID text form (RFC 9562 §4), in either case: PostgreSQL's uuid input
 * accepts both, so a check that refused upper case would refuse ids the
 * database takes. Code that binds an id where text is compared (a setting, a
 * sealed value's context) lower-cases it itself.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}
