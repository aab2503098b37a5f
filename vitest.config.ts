import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two files at a time on the 2-core machines: each file has its own PGlite (or
    // its own tenants in the run's PostgreSQL database), migrations take an
    // advisory lock, and the schema lint's scratch DDL never commits.
    fileParallelism: true,
    maxWorkers: 2,
    pool: 'forks',
    // .ci/run asks for a JSON report to print one plain "N passed, N failed" line.
    reporters: process.env.OCSUITE_TEST_REPORT ? ['default', 'json'] : ['default'],
    outputFile: process.env.OCSUITE_TEST_REPORT ? { json: process.env.OCSUITE_TEST_REPORT } : {},
  },
});
