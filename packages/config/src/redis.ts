/**
 * Which Redis to use, read from the environment the same way by every app
 * that talks to the edge's Redis (edge, api, tunnel): one server
 * (`REDIS_URL`) or a Sentinel group (`REDIS_SENTINELS` +
 * `REDIS_SENTINEL_NAME`). Parsing only; @airlock/lockouts builds the client.
 */
import { parseHostPort, type HostPort } from './formats.ts';

export type SentinelAddress = HostPort;

export type RedisTarget =
  | { kind: 'url'; url: string }
  | { kind: 'sentinel'; sentinels: SentinelAddress[]; name: string };

/**
 * Parses `host:port,host:port` (IPv6 as `[::1]:26379`). Returns the list, or
 * a readable problem for the env validators.
 *
 * @example
 *   parseSentinels('10.0.0.1:26379,10.0.0.2:26379'); // [{ host: '10.0.0.1', port: 26379 }, …]
 */
export const parseSentinels = (text: string): SentinelAddress[] | { problem: string } => {
  const items = text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (items.length === 0) return { problem: 'must list at least one host:port' };
  const out: SentinelAddress[] = [];
  for (const item of items) {
    const hp = parseHostPort(item);
    if (hp === null) return { problem: `"${item.slice(0, 64)}" is not host:port` };
    out.push(hp);
  }
  return out;
};

/** A Sentinel master name as redis-sentinel accepts it. */
const SENTINEL_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Picks the Redis target from the three environment values, with every
 * problem listed for the app's fail-fast config error. `url` is assumed
 * already checked as a redis:// URL by the app's schema.
 *
 * @example
 *   resolveRedisTarget({ sentinels: '127.0.0.1:26379', name: 'airlock' });
 *   // { target: { kind: 'sentinel', … }, problems: [] }
 */
export const resolveRedisTarget = (env: {
  url?: string | undefined;
  sentinels?: string | undefined;
  name?: string | undefined;
}): { target: RedisTarget | null; problems: string[] } => {
  const problems: string[] = [];
  if (env.sentinels === undefined) {
    if (env.name !== undefined) problems.push('REDIS_SENTINEL_NAME: needs REDIS_SENTINELS');
    return { target: env.url === undefined ? null : { kind: 'url', url: env.url }, problems };
  }
  if (env.url !== undefined) problems.push('REDIS_URL and REDIS_SENTINELS: set one, not both');
  const parsed = parseSentinels(env.sentinels);
  if (!Array.isArray(parsed)) problems.push(`REDIS_SENTINELS: ${parsed.problem}`);
  if (env.name === undefined) problems.push('REDIS_SENTINEL_NAME: required with REDIS_SENTINELS');
  else if (!SENTINEL_NAME.test(env.name)) problems.push('REDIS_SENTINEL_NAME: must be 1-64 characters of A-Za-z0-9._-');
  if (problems.length > 0 || !Array.isArray(parsed) || env.name === undefined) return { target: null, problems };
  return { target: { kind: 'sentinel', sentinels: parsed, name: env.name }, problems };
};

/**
 * The edge's Redis key prefix (`EDGE_REDIS_PREFIX`), one rule for every app
 * that reads it: colon-separated words ending in a colon, at most 64
 * characters. The edge builds every key as prefix + name (packages/lockouts),
 * so a prefix without its colon could never match the edge's keys.
 */
export const REDIS_KEY_PREFIX = /^(?=.{1,64}$)[A-Za-z0-9_.-]+(?::[A-Za-z0-9_.-]+)*:$/;
