/**
 * The job queue port every module uses. Jobs that touch tenant data carry a
 * tenant id and run inside withTenant; jobs without one are platform jobs and
 * are declared as such by their queue definition.
 */
export interface QueueDefinition {
  name: string;
  /** `platform`: runs without a tenant (mail delivery, maintenance). */
  scope: 'platform' | 'tenant';
  retryLimit: number;
  retryDelaySeconds: number;
  expireInSeconds: number;
}

export interface JobQueue {
  readonly driver: 'pg-boss';
  define(queue: QueueDefinition): Promise<void>;
  send(queue: string, data: object, opts?: { singletonKey?: string }): Promise<string | null>;
  work(queue: string, handler: (data: unknown) => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}
