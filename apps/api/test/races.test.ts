import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSite, startTestApi, type TestApi } from '@airlock/api/testing';
import { raceApproveAndReject, raceDecisions, raceEnrollsWithOneCode } from './race-cases.ts';

let t: TestApi;
beforeAll(async () => {
  t = await startTestApi();
  await createSite(t, 'RACE');
});
afterAll(async () => t.close());

describe('races on real Postgres', () => {
  it('lets exactly one of 50 concurrent enrolls presenting one code win', async () => {
    const statuses = await raceEnrollsWithOneCode(t, 'RACE', 50);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 401)).toHaveLength(49);
  });

  it('lets exactly one of a concurrent approve and reject win; the other gets 409', async () => {
    for (let round = 0; round < 5; round++) {
      const [a, r] = await raceApproveAndReject(t, 'RACE');
      expect([a, r].sort()).toEqual([200, 409]);
    }
  });

  it('lets exactly one of two concurrent approvals win', async () => {
    for (let round = 0; round < 5; round++) {
      expect((await raceDecisions(t, 'RACE', 'approve', 'approve')).sort()).toEqual([200, 409]);
    }
  });
});
