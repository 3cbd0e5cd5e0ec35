/** Race scenarios shared by the Postgres and the embedded-Postgres test files. */
import { newAgentKey } from '../../../test/helpers/agent-key.ts';
import type { TestApi } from '../../../test/helpers/api.ts';
import { createCode, enroll, enrollAndVerify, enrollBody } from './flows.ts';

export const raceEnrollsWithOneCode = async (t: TestApi, site: string, n: number): Promise<number[]> => {
  const { code } = await createCode(t, site);
  const responses = await Promise.all(
    Array.from({ length: n }, (_, i) => enroll(t, enrollBody(newAgentKey(), site, code, { hostname: `racer-${i}` }))),
  );
  return responses.map((r) => r.status);
};

export const raceApproveAndReject = async (t: TestApi, site: string): Promise<[number, number]> => {
  const { enrollmentId } = await enrollAndVerify(t, site);
  const [a, r] = await Promise.all([
    t.admin('post', `/api/v1/admin/enrollments/${enrollmentId}/approve`).send({}),
    t.admin('post', `/api/v1/admin/enrollments/${enrollmentId}/reject`).send({ reason: 'race' }),
  ]);
  return [a.status, r.status];
};
