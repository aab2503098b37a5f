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
    // .ci/run asks for a JSON report to print one plain "N passed, N failed" line.
    reporters: process.env.OCSUITE_TEST_REPORT ? ['default', 'json'] : ['default'],
    outputFile: process.env.OCSUITE_TEST_REPORT ? { json: process.env.OCSUITE_TEST_REPORT } : {},
  },
});
