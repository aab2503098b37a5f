/**
 * When each delivery attempt runs, in seconds after the previous one failed
 * (the first entry: after the message was published). The default follows
 * Svix's: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h — eight
 * attempts over about a day; after the last failure the delivery is dead.
 */
export const DEFAULT_RETRY_SCHEDULE = '0,5,300,1800,7200,18000,36000,36000';

export function parseRetrySchedule(text: string): number[] {
  const steps = text.split(',').map((s) => Number(s.trim()));
  if (steps.length === 0 || steps.length > 20 || steps.some((s) => !Number.isSafeInteger(s) || s < 0 || s > 86_400)) {
    throw new Error('the webhook retry schedule is 1 to 20 comma-separated delays in seconds (0 to 86400)');
  }
  return steps;
}

/** Delay before attempt `n` (1-based); undefined once the schedule is spent. */
export const delayBeforeAttempt = (schedule: readonly number[], n: number): number | undefined => schedule[n - 1];
