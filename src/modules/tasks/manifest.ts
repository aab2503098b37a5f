import { sql } from 'drizzle-orm';
import { defineModule } from '../manifest.ts';
import { tasksRoutes } from './routes.ts';
import { eraseTaskSubject, exportTaskSubject } from './service.ts';

/** Admin tasks with four-eyes verification (issue #16 §4, seed 000 §4.7). */
export const tasksModule = defineModule({
  name: 'tasks',
  description: 'Admin tasks assigned within a tenant, completed by the assignee and verified by a second person',
  api: { prefix: '/tasks', plugin: tasksRoutes },
  permissions: [
    { key: 'tasks:read', description: 'See the tenant\'s tasks', grantedTo: ['viewer', 'member', 'admin'] },
    { key: 'tasks:work', description: 'Complete tasks assigned to oneself (and be assigned tasks)', grantedTo: ['member', 'admin'] },
    { key: 'tasks:manage', description: 'Create, edit, reassign and cancel tasks', grantedTo: ['admin'] },
    { key: 'tasks:verify', description: 'Verify or reject tasks someone else completed (never one\'s own: four-eyes)', grantedTo: ['admin'] },
  ],
  tables: [{ name: 'admin_tasks', onTenantErasure: 'erase' }],
  auditEvents: ['task.created', 'task.updated', 'task.completed', 'task.verified', 'task.rejected', 'task.cancelled'],
  webhookEvents: [
    { type: 'tasks.task.completed', description: 'A task was completed and awaits verification', permission: 'tasks:read' },
    { type: 'tasks.task.verified', description: 'A completed task was verified by a second person', permission: 'tasks:read' },
  ],
  async eraseTenant(tx, tenantId) {
    const rows = await tx.query(sql`DELETE FROM admin_tasks WHERE tenant_id = ${tenantId} RETURNING id`);
    return { admin_tasks: rows.length };
  },
  exportSubject: async (tx, subject) => ({ tasks: await exportTaskSubject(tx, subject.tenantId, subject.userId) }),
  eraseSubject: async (tx, subject) => ({ admin_tasks: await eraseTaskSubject(tx, subject.tenantId, subject.userId) }),
});
