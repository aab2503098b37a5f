/**
 * Audit writes made off the response path (denials, failed logins) are
 * tracked so a clean shutdown waits for them before the database closes.
 */
const pending = new Set<Promise<unknown>>();

export function trackAuditWrite<T>(p: Promise<T>): Promise<T> {
  pending.add(p);
  void p.finally(() => pending.delete(p)).catch(() => {});
  return p;
}

/** Resolves when every tracked write has settled (Fastify onClose). */
export async function drainAuditWrites(): Promise<void> {
  while (pending.size > 0) await Promise.allSettled([...pending]);
}
