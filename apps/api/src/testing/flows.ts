/** Small steps of the enrollment lifecycle, over HTTP against a test api: the api's tests, the client's and the end-to-end ones. */
import { expect } from 'vitest';
import { newAgentKey, type TestAgentKey } from '@airlock/testing';
import type { TestApi } from './api.ts';

export const createSite = async (t: TestApi, code: string, policy: 'manual' | 'auto' = 'manual') => {
  const res = await t.admin('post', '/api/v1/admin/sites').send({ site_code: code, name: `Site ${code}`, policy });
  expect(res.status).toBe(201);
  return res.body;
};

export const createCode = async (t: TestApi, site: string, extra: Record<string, unknown> = {}) => {
  const res = await t.admin('post', '/api/v1/admin/pairing-codes').send({ site_code: site, ...extra });
  expect(res.status).toBe(201);
  return res.body as { id: string; code: string; expires_at: string };
};

export const enrollBody = (key: TestAgentKey, site: string, code: string, extra: Record<string, unknown> = {}) => ({
  site_code: site,
  pairing_code: code,
  public_key: key.publicKey,
  hostname: 'vma-01',
  agent_version: '1.4.2',
  ...extra,
});

export const enroll = (t: TestApi, body: unknown) => t.http.post('/api/v1/enroll').send(body as object);

export const verify = (t: TestApi, enrollmentId: string, signature: string) =>
  t.http.post('/api/v1/enroll/verify').send({ enrollment_id: enrollmentId, signature });

export const status = (t: TestApi, pollToken: string) =>
  t.http.get('/api/v1/enroll/status').set('authorization', `Bearer ${pollToken}`);

/** Enroll and answer the challenge: returns what the agent holds afterwards. */
export const enrollAndVerify = async (t: TestApi, site: string, extra: Record<string, unknown> = {}) => {
  const key = newAgentKey();
  const { code } = await createCode(t, site);
  const e = await enroll(t, enrollBody(key, site, code, extra));
  expect(e.status).toBe(201);
  const v = await verify(t, e.body.enrollment_id, key.sign(e.body.enrollment_id, e.body.challenge));
  expect(v.status).toBe(200);
  return { key, enrollmentId: e.body.enrollment_id as string, pollToken: v.body.poll_token as string, verify: v.body };
};

/** Polls once, after moving the clock past the poll interval so the api does not answer slow_down. */
export const pollAfterInterval = async (t: TestApi, pollToken: string, seconds = 5) => {
  t.clock.advance(seconds * 1000);
  return status(t, pollToken);
};
