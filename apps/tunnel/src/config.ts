/**
 * `@airlock/tunnel/config`: the tunnel endpoint's settings table as other
 * parts read it (test/docs.test.ts checks docs/configuration.md against it).
 */
export { TunnelEnv } from './env.ts';
