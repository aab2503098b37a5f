import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import type { AuditEventInput } from '../audit/events.ts';

/**
 * Bookkeeping of rotation runs (`key_rotation_runs`): what a resumed run
 * continues, and what `ocsuite keys status` shows.
 */
export interface RunRow {
  id: string;
  cutoff: Date | null;
  resumed: boolean;
}

/**
 * Opens a run, or resumes the unfinished one of the same kind and target.
 * Tenant runs without a cutoff use the database's now(), so no client clock
 * decides which keys count as old.
 */
export async function openRun(t: Session, kind: 'master' | 'tenants', target: string, startedBy: string, cutoff: Date | undefined): Promise<RunRow> {
  const [open] = await t.query<{ id: string; cutoff: Date | null }>(sql`
    SELECT id, cutoff FROM key_rotation_runs WHERE kind = ${kind} AND target = ${target} AND finished_at IS NULL
    ORDER BY started_at DESC LIMIT 1`);
  if (open) return { id: open.id, cutoff: open.cutoff ? new Date(open.cutoff) : null, resumed: true };
  const [created] = await t.query<{ id: string; cutoff: Date | null }>(sql`
    INSERT INTO key_rotation_runs (kind, target, cutoff, started_by)
    VALUES (${kind}, ${target}, ${kind === 'tenants' ? sql`coalesce(${cutoff ? cutoff.toISOString() : null}::timestamptz, now())` : sql`NULL`}, ${startedBy})
    RETURNING id, cutoff`);
  return { id: created!.id, cutoff: created!.cutoff ? new Date(created!.cutoff) : null, resumed: false };
}

export async function saveProgress(t: Session, runId: string, progress: Record<string, unknown>): Promise<void> {
  await t.query(sql`UPDATE key_rotation_runs SET progress = ${JSON.stringify(progress)}::jsonb, updated_at = now() WHERE id = ${runId}`);
}

export async function finishRun(t: Session, runId: string, ok: boolean, progress: Record<string, unknown>): Promise<void> {
  await t.query(sql`UPDATE key_rotation_runs SET progress = ${JSON.stringify(progress)}::jsonb, updated_at = now(), finished_at = now(),
    outcome = ${ok ? 'completed' : 'failed'} WHERE id = ${runId}`);
}

export const actorLabel = (a: AuditEventInput['actor']): string => `${a.type}${a.id ? `:${a.id}` : ''}`;
