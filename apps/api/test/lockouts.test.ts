/** Operators list and lift the edge's lockouts through the admin API; each lift is audited by name. */
import { randomBytes } from 'node:crypto';
import { edgeKeys } from '@airlock/lockouts';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '@airlock/api/testing';
import { REDIS_URL } from '@airlock/testing';
import { latestAudit } from './snapshot.ts';

const prefix = `airlock-test:${randomBytes(6).toString('hex')}:`;
const keys = edgeKeys(prefix);
let t: TestApi;
let redis: Redis;
beforeAll(async () => {
  t = await startTestApi({ env: { REDIS_URL, EDGE_REDIS_PREFIX: prefix } });
  redis = new Redis(REDIS_URL);
});
afterAll(async () => {
  const leftovers = await redis.keys(`${prefix}*`);
  if (leftovers.length) await redis.del(...leftovers);
  redis.disconnect();
  await t.close();
});

describe('lockouts', () => {
  it('lists active lockouts and blocks, lifts one, and audits who lifted it', async () => {
    await redis.set(keys.lockout('ACME', '203.0.113.7'), '1', 'EX', 900);
    await redis.set(keys.block('198.51.100.9'), '1', 'EX', 86400);
    const list = await t.admin('get', '/api/v1/admin/lockouts');
    expect(list.status).toBe(200);
    expect(list.body.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'lockout', site_code: 'ACME', ip: '203.0.113.7' }),
        expect.objectContaining({ kind: 'block', site_code: null, ip: '198.51.100.9' }),
      ]),
    );
    const key = keys.lockout('ACME', '203.0.113.7');
    const cleared = await t.admin('post', '/api/v1/admin/lockouts/clear').send({ key });
    expect(cleared.status).toBe(200);
    expect(cleared.body).toEqual({ key, cleared: true });
    expect(await redis.exists(key)).toBe(0);
    const row = await latestAudit(t);
    expect(row?.event_type).toBe('lockout.cleared');
    const audit = await t.admin('get', '/api/v1/admin/audit?event_type=lockout.cleared');
    expect(audit.body.items[0].actor).toBe('alice');
  });

  it('refuses a key outside the lockout namespaces, and auditors may only look', async () => {
    const bad = await t.admin('post', '/api/v1/admin/lockouts/clear').send({ key: `${prefix}rl:enroll:x` });
    expect(bad.status).toBe(400);
    const auditor = await t.http.post('/api/v1/admin/lockouts/clear').set('authorization', `Bearer ${t.auditorToken}`).send({ key: keys.block('1.2.3.4') });
    expect(auditor.status).toBe(403);
    const look = await t.http.get('/api/v1/admin/lockouts').set('authorization', `Bearer ${t.auditorToken}`);
    expect(look.status).toBe(200);
  });
});
