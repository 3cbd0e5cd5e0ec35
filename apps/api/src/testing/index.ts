/**
 * `@airlock/api/testing`: the api in the test's own process, for the tests of
 * the api, the CLI, the client and the end-to-end suite. `startTestApi` gives
 * a fresh Postgres database (or the embedded one), a hand-moved clock and
 * admin, auditor and service operators; the flows drive enrollment over HTTP.
 * The parts are exported too, for the tests that start the api their own way
 * (an upgrade from an older schema, a restore from a backup).
 *
 * Never imported by the api itself, so never in its bundle; the generic
 * helpers (ports, databases, Redis, processes) are in `@airlock/testing`.
 */
export { startTestApi, type TestApi } from './api.ts';
export * from './flows.ts';
export { ManualClock } from '../clock.ts';
export { MIGRATIONS_FOLDER, expectedMigrationCount, runMigrations } from '../db/migrate.ts';
export { setOperatorPassword } from '../domain/console-sessions.ts';
export { createOperator } from '../domain/operators.ts';
export { loadApiConfig } from '../env.ts';
export { silentLogger } from '@airlock/log';
export { startApi, type RunningApi } from '../server.ts';
