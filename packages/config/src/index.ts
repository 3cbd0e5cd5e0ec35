/**
 * @airlock/config: every app's settings defined and read one way.
 *
 * - `defineEnv(app, fields, rules)`: one table per app, parsed once at
 *   startup; every problem listed as `NAME: problem`; `exitOnConfigError`
 *   prints them and exits 2.
 * - Field types shared by the apps (fields.ts): whole numbers with bounds,
 *   on/off, ports, host:port, URLs by scheme, CIDR lists, absolute paths,
 *   durations, certificate pins and CA files, the Redis group and key prefix.
 * - The text formats behind them (formats.ts: host:port, pins), for flags
 *   and other readers that are not environment variables.
 *
 * @example
 *   import { defineEnv, exitOnConfigError, int, bool } from '@airlock/config';
 *   const Env = defineEnv('demo', { DEMO_PORT: int(8080, 1, 65_535), DEMO_VERBOSE: bool('0') });
 *   const env = exitOnConfigError('demo', () => Env.parse(process.env));
 */
export * from './define-env.ts';
export * from './duration.ts';
export * from './fields.ts';
export * from './formats.ts';
export * from './redis.ts';
