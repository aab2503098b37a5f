import { defineModule } from '../manifest.ts';
import { consoleRoutes } from './routes.ts';

/** The admin console's static files at /console (docs/console.md); it owns no table and no permission. */
export const consoleModule = defineModule({
  name: 'console',
  description: 'The admin console: static files served at /console, working on the public API only',
  publicRoutes: consoleRoutes,
  permissions: [],
  tables: [],
});
