import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { isKernelError } from '../../kernel/errors.ts';
import type { Platform } from '../../kernel/platform.ts';
import { creationCursor } from '../../kernel/pagination/keyset-cursor.ts';
import { notFound, ProblemError } from '../../http/problem.ts';
import { memberRoleState } from '../roles/service.ts';
import { createWebhookPublisher } from '../webhooks/publish.ts';
import { capabilitiesOf, refusal, type TaskAction, type TaskStatus } from './capabilities.ts';

interface TaskRow {
  id: string;
  title: string;
  description: string;
  status: TaskStatus;
  assignee_id: string | null;
  due_at: Date | null;
  created_by: string | null;
  completed_by: string | null;
  completed_at: Date | null;
  completion_note: string | null;
  verified_by: string | null;
  verified_at: Date | null;
  rejected_by: string | null;
  rejected_at: Date | null;
  rejection_reason: string | null;
  cancelled_at: Date | null;
  created_at: Date;
  updated_at: Date;
  cursor_ts: string;
}

const columns = sql`id, title, description, status, assignee_id, due_at, created_by, completed_by, completed_at, completion_note,
  verified_by, verified_at, rejected_by, rejected_at, rejection_reason, cancelled_at, created_at, updated_at, created_at::text AS cursor_ts`;

const iso = (d: Date | null) => d?.toISOString() ?? null;
const stateOf = (r: TaskRow) => ({ status: r.status, assigneeId: r.assignee_id, completedBy: r.completed_by });

function view(principal: Principal, r: TaskRow) {
  return {
    id: r.id, title: r.title, description: r.description, status: r.status, assigneeId: r.assignee_id, dueAt: iso(r.due_at),
    createdBy: r.created_by, completedBy: r.completed_by, completedAt: iso(r.completed_at), completionNote: r.completion_note,
    verifiedBy: r.verified_by, verifiedAt: iso(r.verified_at), rejectedBy: r.rejected_by, rejectedAt: iso(r.rejected_at),
    rejectionReason: r.rejection_reason, cancelledAt: iso(r.cancelled_at), createdAt: r.created_at.toISOString(), updatedAt: r.updated_at.toISOString(),
    capabilities: capabilitiesOf(principal, stateOf(r)),
  };
}

export type TaskView = ReturnType<typeof view>;

/**
 * Admin tasks (issue #16 §4). Each action loads the task locked, asks the one
 * decision (`capabilities.ts`) whether the caller may take it, changes it and
 * records its audit event in the same transaction. The database refuses the
 * four-eyes violations on its own too (migration 0070's trigger and checks).
 */
export function createTasksService(platform: Platform) {
  /** The assignee: a member of the transaction's tenant who may work on tasks. */
  async function assertAssignable(tx: Session, userId: string): Promise<string> {
    try {
      const held = await memberRoleState(tx, platform.permissions, userId, false);
      if (!held.permissions.has('tasks:work')) {
        throw new ProblemError('validation-failed', 400, 'The assignee cannot work on tasks (they lack tasks:work).');
      }
      return userId.toLowerCase();
    } catch (err) {
      // Another tenant's user reads exactly like nobody.
      if (isKernelError(err, 'not-found')) throw new ProblemError('validation-failed', 400, 'The assignee is not a member of this tenant.');
      throw err;
    }
  }

  async function locked(tx: Session, id: string): Promise<TaskRow> {
    const [row] = await tx.query<TaskRow>(sql`SELECT ${columns} FROM admin_tasks WHERE id = ${id} FOR UPDATE`);
    if (!row) throw notFound('task');
    return row;
  }

  const webhooks = createWebhookPublisher(platform);

  /** Runs one action on one task: refused unless the caller's capabilities hold it. */
  async function act(principal: Principal, id: string, action: TaskAction, change: (tx: Session, task: TaskRow) => Promise<{ row: TaskRow; metadata?: Record<string, unknown> }>) {
    const task = await platform.withTenant(contextOf(principal), async (tx) => {
      const before = await locked(tx, id);
      const refused = refusal(principal, stateOf(before), action);
      if (refused) throw refused;
      const { row, metadata } = await change(tx, before);
      // Subscribed endpoints hear of completions and verifications (outbox: only if this commits).
      const event = EVENT_OF[action];
      if (event) await webhooks.publishIn(tx, principal.tenantId, event, eventData(row));
      await recordAuditEvent(tx, {
        tenantId: principal.tenantId, actor: auditActorOf(principal), action: `task.${pastTense[action]}`,
        target: { type: 'task', id }, outcome: 'success', metadata: { from: before.status, to: row.status, ...metadata },
      });
      return row;
    });
    return view(principal, task);
  }

  const write = (tx: Session, id: string, set: ReturnType<typeof sql>) =>
    tx.query<TaskRow>(sql`UPDATE admin_tasks SET ${set}, updated_at = now() WHERE id = ${id} RETURNING ${columns}`).then((rows) => ({ row: rows[0]! }));

  return {
    async list(principal: Principal, q: { limit?: number | undefined; cursor?: string | undefined; status?: TaskStatus | undefined; assignee?: 'me' | undefined }) {
      const limit = q.limit ?? 20;
      const after = q.cursor ? creationCursor.decode(q.cursor) : undefined;
      const rows = await platform.queryAsTenant<TaskRow>(contextOf(principal), sql`
        SELECT ${columns} FROM admin_tasks WHERE true
        ${after ? sql`AND (created_at, id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
        ${q.status ? sql`AND status = ${q.status}` : sql``}
        ${q.assignee === 'me' ? sql`AND assignee_id = ${principal.userId}` : sql``}
        ORDER BY created_at DESC, id DESC LIMIT ${limit + 1}`);
      const { items, nextCursor } = creationCursor.page(rows, limit, (r) => ({ createdAt: r.cursor_ts, id: r.id }));
      return {
        items: items.map((r) => view(principal, r)), nextCursor,
        capabilities: principal.permissions.has('tasks:manage') ? ['create' as const] : [],
      };
    },

    async get(principal: Principal, id: string) {
      const [row] = await platform.queryAsTenant<TaskRow>(contextOf(principal), sql`SELECT ${columns} FROM admin_tasks WHERE id = ${id}`);
      if (!row) throw notFound('task');
      return view(principal, row);
    },

    async create(principal: Principal, input: { title: string; description?: string | undefined; assigneeId: string; dueAt?: string | undefined }) {
      return platform.withTenant(contextOf(principal), async (tx) => {
        const assignee = await assertAssignable(tx, input.assigneeId);
        const [row] = await tx.query<TaskRow>(sql`
          INSERT INTO admin_tasks (tenant_id, title, description, assignee_id, due_at, created_by)
          VALUES (${principal.tenantId}, ${input.title}, ${input.description ?? ''}, ${assignee}, ${input.dueAt ?? null}, ${principal.userId})
          RETURNING ${columns}`);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'task.created',
          target: { type: 'task', id: row!.id }, outcome: 'success', metadata: { assigneeId: assignee },
        });
        return view(principal, row!);
      });
    },

    update: (principal: Principal, id: string, patch: { title?: string | undefined; description?: string | undefined; assigneeId?: string | undefined; dueAt?: string | null | undefined }) =>
      act(principal, id, 'update', async (tx, task) => {
        const assignee = patch.assigneeId === undefined ? task.assignee_id : await assertAssignable(tx, patch.assigneeId);
        const { row } = await write(tx, id, sql`
          title = ${patch.title ?? task.title}, description = ${patch.description ?? task.description},
          assignee_id = ${assignee}, due_at = ${patch.dueAt === undefined ? iso(task.due_at) : patch.dueAt}`);
        return { row, metadata: { fields: Object.keys(patch).sort(), ...(assignee !== task.assignee_id ? { assigneeFrom: task.assignee_id, assigneeTo: assignee } : {}) } };
      }),

    complete: (principal: Principal, id: string, note: string | undefined) =>
      act(principal, id, 'complete', (tx) => write(tx, id, sql`
        status = 'completed', completed_by = ${principal.userId}, completed_at = now(), completion_note = ${note ?? null}`)),

    verify: (principal: Principal, id: string) =>
      act(principal, id, 'verify', (tx) => write(tx, id, sql`status = 'verified', verified_by = ${principal.userId}, verified_at = now()`)),

    /** Back to open for the assignee, with the reason; the completion is cleared. */
    reject: (principal: Principal, id: string, reason: string) =>
      act(principal, id, 'reject', (tx) => write(tx, id, sql`
        status = 'open', completed_by = NULL, completed_at = NULL, rejected_by = ${principal.userId}, rejected_at = now(), rejection_reason = ${reason}`)),

    cancel: (principal: Principal, id: string) =>
      act(principal, id, 'cancel', (tx) => write(tx, id, sql`status = 'cancelled', cancelled_at = now(), completed_at = NULL`)),
  };
}

/** The webhook event of an action (manifest `webhookEvents`); the payload is what `tasks:read` shows. */
const EVENT_OF: Partial<Record<TaskAction, string>> = { complete: 'tasks.task.completed', verify: 'tasks.task.verified' };
const eventData = (r: TaskRow) => ({
  id: r.id, title: r.title, status: r.status, assigneeId: r.assignee_id, completedBy: r.completed_by, completedAt: iso(r.completed_at),
  verifiedBy: r.verified_by, verifiedAt: iso(r.verified_at),
});

const pastTense: Record<TaskAction, string> = { update: 'updated', complete: 'completed', verify: 'verified', reject: 'rejected', cancel: 'cancelled' };

/** Data-subject access: the tasks a person was assigned, created, completed, verified or rejected. */
export async function exportTaskSubject(tx: Session, tenantId: string, userId: string) {
  const rows = await tx.query<TaskRow>(sql`
    SELECT ${columns} FROM admin_tasks
    WHERE tenant_id = ${tenantId} AND ${userId}::uuid IN (assignee_id, created_by, completed_by, verified_by, rejected_by)
    ORDER BY created_at`);
  return rows.map((r) => ({
    id: r.id, title: r.title, status: r.status, createdAt: r.created_at.toISOString(),
    as: (['assignee_id', 'created_by', 'completed_by', 'verified_by', 'rejected_by'] as const).filter((c) => r[c] === userId),
    ...(r.assignee_id === userId || r.completed_by === userId ? { completionNote: r.completion_note } : {}),
    ...(r.rejected_by === userId ? { rejectionReason: r.rejection_reason } : {}),
  }));
}

/**
 * Data-subject erasure: the person's references become NULL (the trigger allows nulling), and the
 * free text they wrote (completion note, rejection reason) is removed. Titles and descriptions are
 * the tenant's own records, written by whoever created the task.
 */
export async function eraseTaskSubject(tx: Session, tenantId: string, userId: string): Promise<number> {
  const rows = await tx.query(sql`
    UPDATE admin_tasks SET
      completion_note = CASE WHEN completed_by = ${userId}::uuid OR assignee_id = ${userId}::uuid THEN NULL ELSE completion_note END,
      rejection_reason = CASE WHEN rejected_by = ${userId}::uuid THEN NULL ELSE rejection_reason END,
      assignee_id = NULLIF(assignee_id, ${userId}::uuid), created_by = NULLIF(created_by, ${userId}::uuid), completed_by = NULLIF(completed_by, ${userId}::uuid),
      verified_by = NULLIF(verified_by, ${userId}::uuid), rejected_by = NULLIF(rejected_by, ${userId}::uuid), updated_at = now()
    WHERE tenant_id = ${tenantId} AND ${userId}::uuid IN (assignee_id, created_by, completed_by, verified_by, rejected_by)
    RETURNING id`);
  return rows.length;
}
