/** All state lives in Postgres: two api replicas on one database behave as one. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAgentKey } from '@airlock/testing';
import { createCode, createSite, enroll, enrollBody, startTestApi, status, type TestApi, verify } from '@airlock/api/testing';

let a: TestApi;
let b: TestApi;
beforeAll(async () => {
  a = await startTestApi();
  b = await startTestApi({ shareDatabaseOf: a });
  await createSite(a, 'TWIN');
});
afterAll(async () => {
  await b?.close();
  await a?.close();
});

describe('two replicas on one database', () => {
  it('enroll on one, verify and poll on the other, approve on either', async () => {
    const key = newAgentKey();
    const { code } = await createCode(a, 'TWIN');
    const e = await enroll(a, enrollBody(key, 'TWIN', code));
    expect(e.status).toBe(201);
    const v = await verify(b, e.body.enrollment_id, key.sign(e.body.enrollment_id, e.body.challenge));
    expect(v.status).toBe(200);
    expect((await status(a, v.body.poll_token)).status).toBe(202);
    expect((await b.admin('post', `/api/v1/admin/enrollments/${e.body.enrollment_id}/approve`).send({})).status).toBe(200);
    b.clock.advance(5000);
    const creds = await status(b, v.body.poll_token);
    expect(creds.status).toBe(200);
    a.clock.advance(10_000);
    expect((await status(a, v.body.poll_token)).status).toBe(410);
  });

  it('lets exactly one of 20 enrolls with one code win across both replicas', async () => {
    const { code } = await createCode(a, 'TWIN');
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => enroll(i % 2 ? a : b, enrollBody(newAgentKey(), 'TWIN', code))),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 401)).toHaveLength(19);
  });
});
