/**
 * A poll that lands while an operator's approval is committing: the status
 * read waits for the enrollment's row lock, and must then hand out the
 * credentials of the agent the approval created, not answer invalid_token.
 * (The status route locks the enrollment and its agent in one statement,
 * whose snapshot predates that agent: the route must look again.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSite, enrollAndVerify, startTestApi, status, type TestApi } from '@airlock/api/testing';
import { approveInTransaction } from '../src/domain/decisions.ts';
import { lockEnrollment } from '../src/store/enrollments.ts';
import { EVERY_TENANT } from '../src/store/scope.ts';

let t: TestApi;
beforeAll(async () => {
  t = await startTestApi();
  await createSite(t, 'POLLRACE', 'manual');
});
afterAll(async () => t.close());

describe('a status poll racing an approval', () => {
  it('collects the credentials once the approval commits', async () => {
    const { enrollmentId, pollToken } = await enrollAndVerify(t, 'POLLRACE');
    let releaseApproval = () => {};
    const held = new Promise<void>((r) => (releaseApproval = r));
    let locked = () => {};
    const approvalLocked = new Promise<void>((r) => (locked = r));
    const approval = t.api.deps.db.transaction(async (tx) => {
      const e = await lockEnrollment(tx, enrollmentId, EVERY_TENANT);
      if (!e) throw new Error('no enrollment');
      await approveInTransaction(t.api.deps, tx, e, 'alice', null, null);
      locked();
      // Commit only once the poll is waiting for the enrollment's lock.
      await held;
    });
    await approvalLocked;
    const poll = status(t, pollToken).then((r) => r);
    await new Promise((r) => setTimeout(r, 300));
    releaseApproval();
    await approval;
    const answer = await poll;
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ status: 'approved', credentials: { agent_key: expect.stringMatching(/^cak_/) } });
  });
});
