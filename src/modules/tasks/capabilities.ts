import type { Principal } from '../../kernel/auth/principal.ts';
import { conflict, ProblemError } from '../../http/problem.ts';

export const TASK_STATUSES = ['open', 'completed', 'verified', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Every action on one task, each one route. */
export const TASK_ACTIONS = ['update', 'complete', 'verify', 'reject', 'cancel'] as const;
export type TaskAction = (typeof TASK_ACTIONS)[number];

/** The permission each action's route requires. */
export const ACTION_PERMISSION: Record<TaskAction, string> = {
  update: 'tasks:manage',
  complete: 'tasks:work',
  verify: 'tasks:verify',
  reject: 'tasks:verify',
  cancel: 'tasks:manage',
};

/** What the decision needs of a task. */
export interface TaskState {
  status: TaskStatus;
  assigneeId: string | null;
  completedBy: string | null;
}

/**
 * One decision, used twice: to list a task's `capabilities` and to refuse an
 * action, so what a UI is shown is exactly what the API then allows. Returns
 * null when allowed, else the problem the API answers (403 for who the caller
 * is, 409 for the state the task is in).
 */
export function refusal(principal: Principal, task: TaskState, action: TaskAction): ProblemError | null {
  if (!principal.permissions.has(ACTION_PERMISSION[action])) {
    return new ProblemError('forbidden', 403, `This action requires the ${ACTION_PERMISSION[action]} permission.`);
  }
  const me = principal.userId;
  switch (action) {
    case 'update':
      return task.status === 'open' ? null : conflict(`A ${task.status} task cannot be edited.`);
    case 'cancel':
      return task.status === 'open' || task.status === 'completed' ? null : conflict(`A ${task.status} task cannot be cancelled.`);
    case 'complete':
      if (me === null || task.assigneeId !== me) return fourEyes('Only the assignee completes a task.');
      return task.status === 'open' ? null : conflict(`A ${task.status} task cannot be completed.`);
    case 'verify':
    case 'reject':
      // Four-eyes: the assignee, and whoever completed it, never judge their own work.
      if (me === null) return fourEyes('A task is verified by a person, not a machine credential.');
      if (task.assigneeId === me || task.completedBy === me) return fourEyes('The assignee cannot verify or reject their own task: a second person must.');
      return task.status === 'completed' ? null : conflict(`Only a completed task can be ${action === 'verify' ? 'verified' : 'rejected'}; this one is ${task.status}.`);
  }
}

export function capabilitiesOf(principal: Principal, task: TaskState): TaskAction[] {
  return TASK_ACTIONS.filter((a) => refusal(principal, task, a) === null);
}

const fourEyes = (detail: string) => new ProblemError('forbidden', 403, detail, { extensions: { rule: 'four-eyes' } });
