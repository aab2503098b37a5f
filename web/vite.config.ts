import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// Static files for /console (served by src/modules/console): hashed names under assets/,
// no inline script or style anywhere, so the page runs under a CSP without 'unsafe-inline'.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('./dist', import.meta.url)),
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    cssCodeSplit: false,
    sourcemap: false,
    target: 'es2022',
  },
});
