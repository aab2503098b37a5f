import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Suites share one PostgreSQL database per run; files run one at a time so
    // migrations and the schema lint see a stable catalog.
    fileParallelism: false,
    pool: 'forks',
  },
});
