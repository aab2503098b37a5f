/**
 * A timestamptz as PostgreSQL prints it (`created_at::text`, ISO DateStyle):
 * `2025-01-31 12:00:00.123456+00`, the offset as `±hh`, `±hh:mm` or
 * `±hh:mm:ss`. Every field is range-checked against what the server's
 * timestamptz input accepts, so a forged value is refused here and never
 * reaches a query as a datetime error.
 */
const PG_TIMESTAMPTZ = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?[+-](\d{2})(?::(\d{2}))?(?::(\d{2}))?$/;

const leap = (year: number) => year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
const daysIn = (year: number, month: number) => (month === 2 ? (leap(year) ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31);

export function isPgTimestamptz(value: unknown): value is string {
  const m = typeof value === 'string' ? PG_TIMESTAMPTZ.exec(value) : null;
  if (!m) return false;
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, offsetHours = 0, offsetMinutes = 0, offsetSeconds = 0] =
    m.slice(1).map((field) => Number(field ?? 0));
  // Year 0 does not exist (1 BC precedes AD 1); PostgreSQL refuses an offset past ±15:59:59.
  return year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= daysIn(year, month)
    && hour <= 23 && minute <= 59 && second <= 59 && offsetHours <= 15 && offsetMinutes <= 59 && offsetSeconds <= 59;
}
