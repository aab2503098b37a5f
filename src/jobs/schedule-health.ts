import { SCHEDULES } from './schedules.ts';

/** One declared schedule and whether the driver has it now (`ocsuite jobs schedules`, `ocsuite doctor`). */
export interface ScheduleHealth {
  name: string;
  cron: string;
  handler: 'registered' | 'unregistered';
  owner: string;
  description: string;
  scheduled: boolean;
  /** `missing`: it has a handler and should be scheduled, but the driver does not have it (a failure). */
  status: 'ok' | 'missing' | 'unregistered';
}

export interface DeclaredModuleSchedule {
  module: string;
  name: string;
  cron: string;
  description: string;
}

/** The platform's schedules, then each module's, against what the driver holds. */
export function scheduleHealth(active: ReadonlyArray<{ queue: string }>, moduleSchedules: readonly DeclaredModuleSchedule[]): ScheduleHealth[] {
  return [
    ...SCHEDULES.map((s) => ({ name: s.name, cron: s.cron, handler: s.handler ? 'registered' as const : 'unregistered' as const, owner: s.owner, description: s.description })),
    ...moduleSchedules.map((s) => ({ name: s.name, cron: s.cron, handler: 'registered' as const, owner: `module ${s.module}`, description: s.description })),
  ].map((r) => {
    const scheduled = active.some((a) => a.queue === r.name);
    return { ...r, scheduled, status: r.handler === 'unregistered' ? 'unregistered' as const : scheduled ? 'ok' as const : 'missing' as const };
  });
}

