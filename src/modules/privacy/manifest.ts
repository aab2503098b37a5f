import { defineModule } from '../manifest.ts';
import { privacyRoutes } from './routes.ts';

/** Data-subject requests (docs/privacy.md): export and erasure of one person across every module's hooks. */
export const privacyModule = defineModule({
  name: 'privacy',
  description: 'Data-subject access and erasure across every module',
  api: { prefix: '/privacy', plugin: privacyRoutes },
  permissions: [
    { key: 'privacy:manage', description: "Export or erase one person's data across all modules (with step-up)", grantedTo: ['admin'] },
  ],
  tables: [],
  auditEvents: ['privacy.subject.exported', 'privacy.subject.erased'],
});
