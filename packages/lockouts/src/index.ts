import { normalizeSiteCode } from '@airlock/schema';
import type { Redis } from 'ioredis';

/**
 * The Redis key layout of the edge's throttle state. Edge, admin API and CLI
 * all build keys through this module so they can never disagree on names.
 *
 * Layout (prefix defaults to `airlock:edge:`; `{site}` is an upper-case
 * site_code or `_invalid_`, `{ip}` is an IPv4 address or an IPv6 /64 such as
 * `2001:db8:1:2::/64`):
 *
 * | key                               | meaning                                        |
 * |-----------------------------------|------------------------------------------------|
 * | `{p}rl:enroll_key:{site}:{ip}`    | enroll-with-site-key counter (per minute)      |
 * | `{p}rl:enroll_pairing:{ip}`       | enroll-with-pairing-code counter (per hour)    |
 * | `{p}rl:enroll_ip:{ip}`            | every enroll from one IP, any site and outcome |
 * | `{p}rl:rejected:{ip}`             | 4xx answers of the api to enroll (per hour)    |
 * | `{p}rl:agent_rejected:{ip}`       | 4xx answers of the api to agent routes (hour)  |
 * | `{p}rl:verify:{ip}`               | verify counter                                 |
 * | `{p}rl:status:{ip}`               | status counter                                 |
 * | `{p}rl:agent_challenge:{ip}`      | agent challenge counter (per hour)             |
 * | `{p}rl:agent_credentials:{ip}`    | agent credentials counter (per hour)           |
 * | `{p}fail:site:{site}:{ip}`        | consecutive 401s for one (site, IP)            |
 * | `{p}fail:ip:{ip}`                 | enroll and agent 401s from one IP, all sites   |
 * | `{p}fail:agent:{ip}`              | agent-route 401s from one IP                   |
 * | `{p}fail:poll:{ip}`               | verify and status failures from one IP         |
 * | `{p}lockout:{site}:{ip}`          | active lockout; TTL = time left                |
 * | `{p}block:{ip}`                   | active enroll block; TTL = time left           |
 * | `{p}agentblock:{ip}`              | active block of the agent routes; TTL = left   |
 * | `{p}pollblock:{ip}`               | short block of verify and status; TTL = left   |
 * | `{p}rl:ssh:{ip}`                  | new SSH connections through the demux (minute) |
 * | `{p}ssh:preauth` (+`:ids`,`:counts`) | SSH connections in their pre-auth window     |
 * | `{p}ssh:evicted` (pub/sub channel)| pre-auth connections evicted for a newcomer    |
 * | `{p}ssh-peer:{ip}:{port}`         | the client a piped SSH connection carries (the |
 * |                                   | demux's outgoing address and port -> client IP)|
 *
 * `{ip}` for IPv6 is counted three times, under the /64, /56 and /48.
 * `clearLockout` publishes the lifted key on `{p}lifted`, so edges that
 * cache known blocks drop theirs at once.
 *
 * A site_code never contains `:`, so `{site}` ends at the first colon and
 * everything after it is the IP (which may itself contain colons).
 *
 * @example
 *   const keys = edgeKeys('airlock:edge:');
 *   keys.lockout('ACME-PHX', '203.0.113.7'); // 'airlock:edge:lockout:ACME-PHX:203.0.113.7'
 */
export const DEFAULT_KEY_PREFIX = 'airlock:edge:';

/** Bucket used when an enroll body carries no usable site_code. */
export const INVALID_SITE_BUCKET = '_invalid_';

/**
 * Upper-cases a site_code for use in a key; anything that is not a valid
 * site_code lands in one fixed bucket, so junk cannot mint unlimited keys.
 *
 * @example
 *   siteBucket('acme-phx'); // 'ACME-PHX'
 *   siteBucket('../x');     // '_invalid_'
 */
export const siteBucket = (raw: unknown): string => {
  if (typeof raw !== 'string') return INVALID_SITE_BUCKET;
  return normalizeSiteCode(raw) ?? INVALID_SITE_BUCKET;
};

/** Namespaces, without the trailing colon (keys are `{namespace}:{suffix}`). */
export interface KeyNamespaces {
  enrollKey: string;
  enrollPairing: string;
  verify: string;
  status: string;
  failSite: string;
  failIp: string;
  lockout: string;
  block: string;
  enrollIp: string;
  rejected: string;
  agentChallenge: string;
  agentCredentials: string;
  failPoll: string;
  pollBlock: string;
  agentRejected: string;
  failAgent: string;
  agentBlock: string;
  ssh: string;
}

/** The demux's shared ledger of SSH connections in their pre-auth window (apps/edge/src/ssh). */
export interface SshPreauthKeys {
  /** Sorted set: connection id -> lease end (ms). */
  held: string;
  /** Hash: connection id -> its identities, space-separated. */
  ids: string;
  /** Hash: identity -> connections it holds. */
  counts: string;
  /** Pub/sub channel: ids of connections evicted to make room for a newcomer. */
  evicted: string;
}

export interface EdgeKeys {
  prefix: string;
  ns: KeyNamespaces;
  /** Suffix for per-(site, IP) keys: `{site}:{ip}`. */
  siteIp: (site: string, ip: string) => string;
  lockout: (site: string, ip: string) => string;
  block: (ip: string) => string;
  failSite: (site: string, ip: string) => string;
  failIp: (ip: string) => string;
  pollBlock: (ip: string) => string;
  failPoll: (ip: string) => string;
  agentBlock: (ip: string) => string;
  failAgent: (ip: string) => string;
  /** Pub/sub channel on which lifted lockout and block keys are announced. */
  liftChannel: string;
  sshPreauth: SshPreauthKeys;
  /**
   * The demux's note of which client a piped SSH connection carries, under
   * the address and port it connected to the tunnel from (what sshd and the
   * tunnel see as the peer); the tunnel reads it to audit the agent's address.
   */
  sshPeer: (ip: string, port: number) => string;
}

export const edgeKeys = (prefix: string = DEFAULT_KEY_PREFIX): EdgeKeys => {
  if (!prefix.endsWith(':')) throw new Error('key prefix must end with ":"');
  const ns: KeyNamespaces = {
    enrollKey: `${prefix}rl:enroll_key`,
    enrollPairing: `${prefix}rl:enroll_pairing`,
    verify: `${prefix}rl:verify`,
    status: `${prefix}rl:status`,
    failSite: `${prefix}fail:site`,
    failIp: `${prefix}fail:ip`,
    lockout: `${prefix}lockout`,
    block: `${prefix}block`,
    enrollIp: `${prefix}rl:enroll_ip`,
    rejected: `${prefix}rl:rejected`,
    agentChallenge: `${prefix}rl:agent_challenge`,
    agentCredentials: `${prefix}rl:agent_credentials`,
    failPoll: `${prefix}fail:poll`,
    pollBlock: `${prefix}pollblock`,
    agentRejected: `${prefix}rl:agent_rejected`,
    failAgent: `${prefix}fail:agent`,
    agentBlock: `${prefix}agentblock`,
    ssh: `${prefix}rl:ssh`,
  };
  const siteIp = (site: string, ip: string): string => `${site}:${ip}`;
  return {
    prefix,
    ns,
    siteIp,
    lockout: (site, ip) => `${ns.lockout}:${siteIp(site, ip)}`,
    block: (ip) => `${ns.block}:${ip}`,
    failSite: (site, ip) => `${ns.failSite}:${siteIp(site, ip)}`,
    failIp: (ip) => `${ns.failIp}:${ip}`,
    pollBlock: (ip) => `${ns.pollBlock}:${ip}`,
    failPoll: (ip) => `${ns.failPoll}:${ip}`,
    agentBlock: (ip) => `${ns.agentBlock}:${ip}`,
    failAgent: (ip) => `${ns.failAgent}:${ip}`,
    liftChannel: `${prefix}lifted`,
    sshPeer: (ip, port) => `${prefix}ssh-peer:${ip}:${port}`,
    sshPreauth: {
      held: `${prefix}ssh:preauth`,
      ids: `${prefix}ssh:preauth:ids`,
      counts: `${prefix}ssh:preauth:counts`,
      evicted: `${prefix}ssh:evicted`,
    },
  };
};

export interface ActiveLockout {
  /** Full Redis key; pass it to `clearLockout`. */
  key: string;
  /**
   * `lockout`: one (site, IP) after consecutive failures; `block`: one IP's
   * enrollment, across all sites; `poll_block`: verify and status only, for
   * minutes; `agent_block`: the agent routes only, after agent-route 401s.
   */
  kind: LockoutKind;
  site_code: string | null;
  ip: string;
  retry_after_seconds: number;
}

export interface LockoutOptions {
  prefix?: string;
}

export type LockoutKind = 'lockout' | 'block' | 'poll_block' | 'agent_block';

interface ParsedKey {
  kind: LockoutKind;
  site: string | null;
  ip: string;
}

const parseKey = (keys: EdgeKeys, key: string): ParsedKey | null => {
  // Accept the full key or the same key without the deployment prefix.
  const bare = key.startsWith(keys.prefix) ? key.slice(keys.prefix.length) : key;
  if (bare.startsWith('lockout:')) {
    const rest = bare.slice('lockout:'.length);
    const colon = rest.indexOf(':');
    if (colon <= 0 || colon === rest.length - 1) return null;
    return { kind: 'lockout', site: rest.slice(0, colon), ip: rest.slice(colon + 1) };
  }
  if (bare.startsWith('pollblock:')) {
    const ip = bare.slice('pollblock:'.length);
    return ip.length > 0 ? { kind: 'poll_block', site: null, ip } : null;
  }
  if (bare.startsWith('agentblock:')) {
    const ip = bare.slice('agentblock:'.length);
    return ip.length > 0 ? { kind: 'agent_block', site: null, ip } : null;
  }
  if (bare.startsWith('block:')) {
    const ip = bare.slice('block:'.length);
    return ip.length > 0 ? { kind: 'block', site: null, ip } : null;
  }
  return null;
};

const scanAll = async (redis: Redis, pattern: string): Promise<string[]> => {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    found.push(...batch);
  } while (cursor !== '0');
  return found;
};

/** Escapes glob metacharacters so a custom prefix cannot widen the SCAN. */
const globEscape = (s: string): string => s.replace(/[*?[\]\\]/g, '\\$&');

/**
 * Lists the lockouts and blocks currently held in Redis, soonest-expiring last.
 *
 * @example
 *   const active = await listLockouts(redis);
 *   // [{ key: 'airlock:edge:lockout:ACME:203.0.113.7', kind: 'lockout',
 *   //    site_code: 'ACME', ip: '203.0.113.7', retry_after_seconds: 840 }]
 */
export const listLockouts = async (
  redis: Redis,
  options: LockoutOptions = {},
): Promise<ActiveLockout[]> => {
  const keys = edgeKeys(options.prefix);
  const names = [
    ...(await scanAll(redis, `${globEscape(keys.ns.lockout)}:*`)),
    ...(await scanAll(redis, `${globEscape(keys.ns.block)}:*`)),
    ...(await scanAll(redis, `${globEscape(keys.ns.pollBlock)}:*`)),
    ...(await scanAll(redis, `${globEscape(keys.ns.agentBlock)}:*`)),
  ];
  const unique = [...new Set(names)];
  if (unique.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const name of unique) pipeline.pttl(name);
  const ttls = (await pipeline.exec()) ?? [];
  const result: ActiveLockout[] = [];
  unique.forEach((name, i) => {
    const entry = ttls[i];
    const pttl = entry && entry[0] === null && typeof entry[1] === 'number' ? entry[1] : -2;
    // -2: expired between SCAN and PTTL.
    if (pttl === -2) return;
    const parsed = parseKey(keys, name);
    if (!parsed) return;
    result.push({
      key: name,
      kind: parsed.kind,
      site_code: parsed.site,
      ip: parsed.ip,
      retry_after_seconds: pttl > 0 ? Math.ceil(pttl / 1000) : 0,
    });
  });
  return result.sort((a, b) => b.retry_after_seconds - a.retry_after_seconds);
};

/**
 * Lifts one lockout or block. Also forgets the failure count behind it, so
 * the next single failure does not lock the key again at once. Returns
 * whether a lockout or block was actually active. Keys outside the lockout
 * and block namespaces are refused.
 *
 * @example
 *   await clearLockout(redis, 'airlock:edge:lockout:ACME:203.0.113.7'); // true
 */
export const clearLockout = async (
  redis: Redis,
  key: string,
  options: LockoutOptions = {},
): Promise<boolean> => {
  const keys = edgeKeys(options.prefix);
  const parsed = parseKey(keys, key);
  if (!parsed) throw new Error('not a lockout or block key');
  const [active, counter] =
    parsed.kind === 'lockout' && parsed.site !== null
      ? [keys.lockout(parsed.site, parsed.ip), keys.failSite(parsed.site, parsed.ip)]
      : parsed.kind === 'poll_block'
        ? [keys.pollBlock(parsed.ip), keys.failPoll(parsed.ip)]
        : parsed.kind === 'agent_block'
          ? [keys.agentBlock(parsed.ip), keys.failAgent(parsed.ip)]
          : [keys.block(parsed.ip), keys.failIp(parsed.ip)];
  const removed = await redis.del(active);
  await redis.del(counter);
  // Edges keep known blocks in memory to refuse without a round trip; tell them.
  await redis.publish(keys.liftChannel, active);
  return removed > 0;
};

export { createFailFastRedisClient, createRedisClient, parseSentinels, resolveRedisTarget, type RedisTarget, type SentinelAddress } from './redis.ts';
