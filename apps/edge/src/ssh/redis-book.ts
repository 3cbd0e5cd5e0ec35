/**
 * The SSH book in Redis: the rate budget is the throttle's own admit script
 * (throttle/redis-store.ts), the pre-auth slots are the rule of ledger.ts in
 * one Lua script, so every worker and every edge on this Redis shares one
 * cap, exactly. Times are Redis's own clock (TIME), so edges on several
 * hosts agree on lease ends. Key layout: packages/lockouts (`sshPreauth`).
 */
import type { Redis, Result } from 'ioredis';
import type { SshPreauthKeys } from '@airlock/lockouts';
import { RedisStore } from '../throttle/redis-store.ts';
import type { BookRules, SshBook, SshVerdict } from './book.ts';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    airlockSshTake(...args: Array<string | number>): Result<[number, string], Context>;
    airlockSshRelease(...args: Array<string | number>): Result<number, Context>;
  }
}

/** Shared by both scripts. KEYS: held (zset), ids (hash), counts (hash). */
const COMMON = `
local held, idsh, cnt = KEYS[1], KEYS[2], KEYS[3]
local function drop(m)
  local ids = redis.call('HGET', idsh, m)
  if ids then
    for id in string.gmatch(ids, '%S+') do
      if redis.call('HINCRBY', cnt, id, -1) <= 0 then redis.call('HDEL', cnt, id) end
    end
    redis.call('HDEL', idsh, m)
  end
  redis.call('ZREM', held, m)
end
`;

/**
 * ARGV: conn, lease ms, cap, /56 factor, /48 factor, eviction channel, identities...
 * Returns {1, evicted or ''} or {0, ''}. Same rule as PreauthLedger.take.
 */
const TAKE = `${COMMON}
local conn, lease, cap, f56, f48, chan = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function factor(id)
  local tail = string.sub(id, -3)
  if tail == '/56' then return f56 end
  if tail == '/48' then return f48 end
  return 1
end
for _, m in ipairs(redis.call('ZRANGEBYSCORE', held, '-inf', now)) do drop(m) end
if redis.call('ZSCORE', held, conn) then return {1, ''} end
local ids = {}
for i = 7, #ARGV do ids[#ids + 1] = ARGV[i] end
local function add()
  redis.call('ZADD', held, now + lease, conn)
  redis.call('HSET', idsh, conn, table.concat(ids, ' '))
  for _, id in ipairs(ids) do redis.call('HINCRBY', cnt, id, 1) end
  -- Every entry ends within one lease of the last add: so do the keys.
  for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, lease + 1000) end
end
if redis.call('ZCARD', held) < cap then
  add()
  return {1, ''}
end
local all = redis.call('HGETALL', cnt)
local hk, hn, hf = nil, 0, 1
for i = 1, #all, 2 do
  local k, n = all[i], tonumber(all[i + 1])
  local f = factor(k)
  if hk == nil or n * hf > hn * f or (n * hf == hn * f and k < hk) then hk, hn, hf = k, n, f end
end
if hk == nil then return {0, ''} end
local nn, nf = 0, 1
for _, id in ipairs(ids) do
  local n = tonumber(redis.call('HGET', cnt, id) or '0') + 1
  local f = factor(id)
  if n * nf > nn * f then nn, nf = n, f end
end
if not (nn * hf < hn * nf) then return {0, ''} end
local victim = nil
for _, m in ipairs(redis.call('ZRANGE', held, 0, -1)) do
  local s = redis.call('HGET', idsh, m)
  if s then
    for id in string.gmatch(s, '%S+') do
      if id == hk then victim = m end
    end
  end
  if victim then break end
end
if victim == nil then return {0, ''} end
drop(victim)
add()
redis.call('PUBLISH', chan, victim)
return {1, victim}
`;

/** ARGV: conn. Returns 1 when it held a slot. */
const RELEASE = `${COMMON}
if redis.call('ZSCORE', held, ARGV[1]) then
  drop(ARGV[1])
  return 1
end
return 0
`;

export class RedisBook implements SshBook {
  private readonly rate: RedisStore;
  private readonly keys: string[];

  constructor(
    private readonly redis: Redis,
    private readonly preauth: SshPreauthKeys,
    private readonly rules: BookRules,
  ) {
    this.rate = new RedisStore(redis);
    redis.defineCommand('airlockSshTake', { lua: TAKE, numberOfKeys: 3 });
    redis.defineCommand('airlockSshRelease', { lua: RELEASE, numberOfKeys: 3 });
    this.keys = [preauth.held, preauth.ids, preauth.counts];
  }

  async admit(conn: string, ids: readonly string[]): Promise<SshVerdict> {
    const spent = await this.rate.admit(this.rules.plan(ids));
    if (spent.kind !== 'ok') return { ok: false, reason: 'rate', retryAfterSeconds: Math.max(1, Math.ceil(spent.ms / 1000)) };
    const p = this.rules.preauth;
    const [ok, evicted] = await this.redis.airlockSshTake(...this.keys, conn, p.leaseMs, p.cap, p.factor56, p.factor48, this.preauth.evicted, ...ids);
    if (ok !== 1) return { ok: false, reason: 'cap', retryAfterSeconds: 1 };
    return { ok: true, evicted: evicted === '' ? null : evicted };
  }

  async release(conn: string): Promise<void> {
    await this.redis.airlockSshRelease(...this.keys, conn);
  }

  /** Of these connections, the ones no longer in the shared ledger (evicted by another process, or lapsed). */
  async missing(conns: readonly string[]): Promise<string[]> {
    if (conns.length === 0) return [];
    const scores = await this.redis.zmscore(this.preauth.held, ...conns);
    return conns.filter((_, i) => scores[i] === null);
  }
}
