/**
 * `@airlock/edge/config`: the edge's settings as other parts read them:
 * `airlock doctor` validates an edge's environment with the edge's own
 * schema, and the tunnel tests check the demux's pre-auth cap against the
 * tunnel's sshd. Nothing else of the edge is importable from outside.
 */
export { ConfigError, EdgeEnv, loadConfig } from './env.ts';
export { SshDemuxEnv, TUNNEL_MAX_STARTUPS } from './ssh/config.ts';
