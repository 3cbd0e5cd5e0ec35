import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clearLockout, edgeKeys, listLockouts, siteBucket } from './index.ts';

const prefix = `airlock:test:${randomUUID().slice(0, 8)}:`;
const keys = edgeKeys(prefix);
let redis: Redis;

beforeAll(() => {
  redis = new Redis('redis://127.0.0.1:6379');
});

afterAll(async () => {
  const left = await redis.keys(`${prefix}*`);
  if (left.length > 0) await redis.del(...left);
  redis.disconnect();
});

describe('key helpers', () => {
  it('builds the documented layout', () => {
    expect(keys.lockout('ACME', '2001:db8:1:2::/64')).toBe(`${prefix}lockout:ACME:2001:db8:1:2::/64`);
    expect(keys.block('192.0.2.1')).toBe(`${prefix}block:192.0.2.1`);
    expect(keys.failSite('ACME', '192.0.2.1')).toBe(`${prefix}fail:site:ACME:192.0.2.1`);
    expect(keys.ns.enrollKey).toBe(`${prefix}rl:enroll_key`);
  });

  it('names the demux notes the tunnel reads (one layout for the edge and the tunnel)', () => {
    expect(keys.sshPeer('127.0.0.1', 40022)).toBe(`${prefix}ssh-peer:127.0.0.1:40022`);
  });

  it('upper-cases valid site codes and buckets everything else', () => {
    expect(siteBucket('acme-phx')).toBe('ACME-PHX');
    expect(siteBucket('a')).toBe('_invalid_');
    expect(siteBucket('-acme')).toBe('_invalid_');
    expect(siteBucket('ACME:1.2.3.4')).toBe('_invalid_');
    expect(siteBucket(42)).toBe('_invalid_');
    expect(siteBucket('x'.repeat(33))).toBe('_invalid_');
    // Upper-case to ASCII (ı → I, ſ → S) but are not site codes.
    expect(siteBucket('acme-phıx')).toBe('_invalid_');
    expect(siteBucket('ſite')).toBe('_invalid_');
  });

  it('refuses a prefix without a trailing colon', () => {
    expect(() => edgeKeys('airlock:edge')).toThrow();
  });
});

describe('listLockouts / clearLockout against Redis', () => {
  it('lists lockouts and blocks with their time left, and clears them with their counters', async () => {
    await redis.set(keys.lockout('ACME', '2001:db8:1:2::/64'), '2', 'EX', 900);
    await redis.set(keys.failSite('ACME', '2001:db8:1:2::/64'), '5', 'EX', 900);
    await redis.set(keys.block('192.0.2.1'), '2', 'EX', 60);
    await redis.set(keys.failIp('192.0.2.1'), '7', 'EX', 60);
    // Counters alone are not lockouts.
    await redis.set(keys.failSite('OTHER', '192.0.2.9'), '3', 'EX', 900);

    const active = await listLockouts(redis, { prefix });
    expect(active).toEqual([
      { key: keys.lockout('ACME', '2001:db8:1:2::/64'), kind: 'lockout', site_code: 'ACME', ip: '2001:db8:1:2::/64', retry_after_seconds: 900 },
      { key: keys.block('192.0.2.1'), kind: 'block', site_code: null, ip: '192.0.2.1', retry_after_seconds: 60 },
    ]);

    expect(await clearLockout(redis, keys.lockout('ACME', '2001:db8:1:2::/64'), { prefix })).toBe(true);
    expect(await redis.exists(keys.failSite('ACME', '2001:db8:1:2::/64'))).toBe(0);
    expect(await clearLockout(redis, 'block:192.0.2.1', { prefix })).toBe(true);
    expect(await redis.exists(keys.failIp('192.0.2.1'))).toBe(0);
    expect(await listLockouts(redis, { prefix })).toEqual([]);
    expect(await clearLockout(redis, keys.block('192.0.2.1'), { prefix })).toBe(false);
  });

  it('lists and clears an agent-route block with its own counter, leaving the enroll block alone (issue 18 #5)', async () => {
    await redis.set(keys.agentBlock('192.0.2.5'), '1', 'EX', 120);
    await redis.set(keys.failAgent('192.0.2.5'), '9', 'EX', 120);
    await redis.set(keys.block('192.0.2.5'), '1', 'EX', 60);
    expect(keys.agentBlock('192.0.2.5')).toBe(`${prefix}agentblock:192.0.2.5`);
    const active = await listLockouts(redis, { prefix });
    expect(active).toEqual([
      { key: keys.agentBlock('192.0.2.5'), kind: 'agent_block', site_code: null, ip: '192.0.2.5', retry_after_seconds: 120 },
      { key: keys.block('192.0.2.5'), kind: 'block', site_code: null, ip: '192.0.2.5', retry_after_seconds: 60 },
    ]);
    expect(await clearLockout(redis, 'agentblock:192.0.2.5', { prefix })).toBe(true);
    expect(await redis.exists(keys.failAgent('192.0.2.5'))).toBe(0);
    expect(await redis.exists(keys.block('192.0.2.5'))).toBe(1);
    expect(await clearLockout(redis, keys.block('192.0.2.5'), { prefix })).toBe(true);
  });

  it('refuses keys outside the lockout and block namespaces', async () => {
    await expect(clearLockout(redis, `${prefix}rl:verify:1.2.3.4`, { prefix })).rejects.toThrow();
    await expect(clearLockout(redis, 'some:other:key', { prefix })).rejects.toThrow();
  });

  it('uses the default prefix when none is given', async () => {
    expect(Array.isArray(await listLockouts(redis))).toBe(true);
  });
});
