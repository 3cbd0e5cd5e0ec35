/**
 * The throttle rules executed in Redis: one Lua script per request checks
 * every gate and budget and spends the budgets atomically (one round trip,
 * exact across edge processes and replicas), one more script per counted
 * outcome. Key layout: packages/lockouts.
 */
import type { Redis, Result } from 'ioredis';
import type { AdmitPlan, OutcomePlan } from './plan.ts';
import type { Verdict } from './verdict.ts';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    airlockAdmit(...args: Array<string | number>): Result<[number, number, number, number?, number?], Context>;
    airlockRecord(...args: Array<string | number>): Result<number[], Context>;
    airlockAddTally(key: string, count: number, ms: number): Result<number, Context>;
  }
}

/**
 * KEYS: gates…, budgets…, [watched]  ARGV: #gates, #budgets, has watched (1/0), then per
 * budget limit, window ms, consume (1/0), then how many to take (1, or a lease's slice).
 * Returns {1, gate#, ms} | {2, budget#, ms} | {0, remaining of budget 1, ms of budget 1, watched exists, taken}.
 * A slice is taken against the limit: never more than every consumed budget has left.
 */
const ADMIT = `
local ng = tonumber(ARGV[1])
local nb = tonumber(ARGV[2])
local nw = tonumber(ARGV[3])
for i = 1, ng do
  local t = redis.call('PTTL', KEYS[i])
  if t > 0 then return {1, i, t} end
  if t == -1 then return {1, i, 86400000} end
end
for j = 1, nb do
  local b = 3 + (j - 1) * 3
  local v = tonumber(redis.call('GET', KEYS[ng + j]) or '0')
  if v >= tonumber(ARGV[b + 1]) then
    local t = redis.call('PTTL', KEYS[ng + j])
    if t < 0 then t = tonumber(ARGV[b + 2]) end
    return {2, j, t}
  end
end
local take = tonumber(ARGV[4 + nb * 3] or '1')
for j = 1, nb do
  local b = 3 + (j - 1) * 3
  if ARGV[b + 3] == '1' then
    local room = tonumber(ARGV[b + 1]) - tonumber(redis.call('GET', KEYS[ng + j]) or '0')
    if room < take then take = room end
  end
end
local rem, ms = -1, -1
for j = 1, nb do
  local b = 3 + (j - 1) * 3
  if ARGV[b + 3] == '1' then
    local k = KEYS[ng + j]
    local v = redis.call('INCRBY', k, take)
    local t = redis.call('PTTL', k)
    if t < 0 then
      redis.call('PEXPIRE', k, ARGV[b + 2])
      t = tonumber(ARGV[b + 2])
    end
    if j == 1 then
      rem = tonumber(ARGV[b + 1]) - v
      ms = t
    end
  end
end
local watched = 0
if nw == 1 then watched = redis.call('EXISTS', KEYS[ng + nb + 1]) end
return {0, rem, ms, watched, take}
`;

/**
 * KEYS: cleared…, then per tally its counter and its gate.
 * ARGV: #cleared, #tallies, then per tally window ms, threshold (0: none), gate ms.
 * Returns the (1-based) tallies whose gate was set.
 */
const RECORD = `
local nc = tonumber(ARGV[1])
local nt = tonumber(ARGV[2])
for i = 1, nc do redis.call('DEL', KEYS[i]) end
local set = {}
for j = 1, nt do
  local ck = KEYS[nc + (j - 1) * 2 + 1]
  local gk = KEYS[nc + (j - 1) * 2 + 2]
  local b = 2 + (j - 1) * 3
  local v = redis.call('INCR', ck)
  if redis.call('PTTL', ck) < 0 then redis.call('PEXPIRE', ck, ARGV[b + 1]) end
  local th = tonumber(ARGV[b + 2])
  if th > 0 and v >= th then
    redis.call('SET', gk, '1', 'PX', ARGV[b + 3])
    redis.call('DEL', ck)
    set[#set + 1] = j
  end
end
return set
`;

/** KEYS[1]: a failure tally. ARGV: count to add, window ms (set only when the key has none). */
const ADD_TALLY = `
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v
`;

/** KEYS: a lease's counters. ARGV[1]: the unspent count. */
const GIVE_BACK = `
for i = 1, #KEYS do
  if redis.call('PTTL', KEYS[i]) > 0 then redis.call('DECRBY', KEYS[i], ARGV[1]) end
end
return 0
`;

export class RedisStore {
  constructor(private readonly redis: Redis) {
    redis.defineCommand('airlockAdmit', { lua: ADMIT });
    redis.defineCommand('airlockRecord', { lua: RECORD });
    redis.defineCommand('airlockAddTally', { lua: ADD_TALLY, numberOfKeys: 1 });
  }

  /** `take` > 1: a lease's slice (throttle/index.ts); the verdict says how many were taken. */
  async admit(plan: AdmitPlan, take = 1): Promise<Verdict> {
    const { gates, budgets } = plan;
    const watch = plan.watch;
    const args: Array<string | number> = [gates.length + budgets.length + (watch === null ? 0 : 1)];
    for (const g of gates) args.push(g.key);
    for (const b of budgets) args.push(b.key);
    if (watch !== null) args.push(watch);
    args.push(gates.length, budgets.length, watch === null ? 0 : 1);
    for (const b of budgets) args.push(b.limit, b.windowMs, b.consume ? 1 : 0);
    args.push(take);
    const [kind, a, ms, watched, taken] = await this.redis.airlockAdmit(...args);
    if (kind === 1) return { kind: 'gate', index: a - 1, ms };
    if (kind === 2) return { kind: 'limit', index: a - 1, ms };
    return { kind: 'ok', remaining: a, ms, watched: watched === 1, taken: taken ?? 1 };
  }

  /**
   * Gives back what a lease did not spend, to the window it was taken from:
   * a counter that has already expired (a new window) is left alone.
   */
  async giveBack(keys: readonly string[], count: number): Promise<void> {
    await this.redis.eval(GIVE_BACK, keys.length, ...keys, count);
  }

  async record(plan: OutcomePlan): Promise<number[]> {
    const { clear, tallies } = plan;
    const args: Array<string | number> = [clear.length + tallies.length * 2, ...clear];
    for (const t of tallies) args.push(t.key, t.gate?.key ?? t.key);
    args.push(clear.length, tallies.length);
    for (const t of tallies) args.push(t.windowMs, t.threshold, t.gateMs);
    const set = await this.redis.airlockRecord(...args);
    return set.map((j) => j - 1);
  }

  /**
   * Adds failures counted in memory to the shared tally. The threshold is
   * checked at the next counted failure, which then sets the gate (RECORD).
   */
  async addTally(key: string, count: number, ms: number): Promise<void> {
    await this.redis.airlockAddTally(key, count, Math.max(1, Math.round(ms)));
  }

  /** Writes a gate made while Redis was down; keeps a longer one already there. */
  async restoreGate(key: string, ms: number): Promise<void> {
    await this.redis.set(key, '1', 'PX', ms, 'NX');
  }
}
