/**
 * `npm install` runs this (the `prepare` script): it builds the console into web/dist
 * when Vite (a dev dependency) is installed. A production install without dev
 * dependencies skips it with a note: build the console in the image's build stage
 * (`npm ci && npm run build:console`) and ship web/dist — docs/console.md.
 */
let vite: typeof import('vite');
try {
  vite = await import('vite');
} catch {
  console.warn('console: Vite is not installed (production install?); /console stays unbuilt — see docs/console.md.');
  process.exit(0);
}
await vite.build({ configFile: new URL('./vite.config.ts', import.meta.url).pathname });
console.log('console: built into web/dist');
