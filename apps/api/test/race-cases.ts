/** Race scenarios shared by the Postgres and the embedded-Postgres test files. */
import { newAgentKey } from '@airlock/testing';
import { createCode, enroll, enrollAndVerify, enrollBody, type TestApi } from '@airlock/api/testing';

export const raceEnrollsWithOneCode = async (t: TestApi, site: string, n: number): Promise<number[]> => {
  const { code } = await createCode(t, site);
  const responses = await Promise.all(
    Array.from({ length: n }, (_, i) => enroll(t, enrollBody(newAgentKey(), site, code, { hostname: `racer-${i}` }))),
  );
  return responses.map((r) => r.status);
};

const decide = (t: TestApi, id: string, action: 'approve' | 'reject') =>
  t.admin('post', `/api/v1/admin/enrollments/${id}/${action}`).send(action === 'reject' ? { reason: 'race' } : {});

/** Two operator decisions on one enrollment at once; returns both statuses. */
export const raceDecisions = async (t: TestApi, site: string, first: 'approve' | 'reject', second: 'approve' | 'reject'): Promise<[number, number]> => {
  const { enrollmentId } = await enrollAndVerify(t, site);
  const [a, b] = await Promise.all([decide(t, enrollmentId, first), decide(t, enrollmentId, second)]);
  return [a.status, b.status];
};

export const raceApproveAndReject = (t: TestApi, site: string) => raceDecisions(t, site, 'approve', 'reject');
