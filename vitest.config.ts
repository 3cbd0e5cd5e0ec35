import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['apps/**/*.test.ts', 'packages/**/*.test.ts', 'scripts/**/*.test.ts', 'test/**/*.test.ts'],
    // The fault-and-flood suite has its own config (vitest.chaos.config.ts): `pnpm test:chaos`.
    exclude: ['**/node_modules/**', 'test/chaos/**'],
    // Every test talks to real processes and real sockets; two cores here.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // A skipped test must never look like a pass in CI.
    allowOnly: false,
    passWithNoTests: false,
    // In CI a JSON report too, so .ci/run can print the totals and fail on any skipped test.
    ...(process.env.CI ? { reporters: ['default', 'json'], outputFile: { json: '.tmp/vitest-report.json' } } : {}),
  },
});
