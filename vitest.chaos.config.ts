import { defineConfig } from 'vitest/config';

/**
 * `pnpm test:chaos`: the fault-and-flood suite (test/chaos, issue 13). Files
 * run one at a time: each starts its own Postgres, Redis, Sentinels, api and
 * edge processes and floods them, and two at once on two cores would measure
 * each other rather than the system.
 */
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    pool: 'forks',
    poolOptions: { forks: { maxForks: 1, minForks: 1 } },
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    allowOnly: false,
    passWithNoTests: false,
    // Its own report, so .ci/run counts both runs.
    ...(process.env.CI ? { reporters: ['default', 'json'], outputFile: { json: '.tmp/vitest-chaos-report.json' } } : {}),
  },
});
