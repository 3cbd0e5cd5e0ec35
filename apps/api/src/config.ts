/**
 * `@airlock/api/config`: the api's settings table as other parts read it
 * (test/docs.test.ts checks docs/configuration.md against it). Nothing else
 * of the api's configuration is importable from outside.
 */
export { ApiEnv } from './env.ts';
