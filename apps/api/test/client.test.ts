/** The typed client against a real api on a fresh Postgres database. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCode, createSite, enrollAndVerify, startTestApi, type TestApi } from '@airlock/api/testing';
import { AirlockClient, ApiRequestError, ApiUnreachableError } from '@airlock/client';

let t: TestApi;
let airlock: AirlockClient;
beforeAll(async () => {
  t = await startTestApi();
  airlock = new AirlockClient({ baseUrl: new URL(t.api.url), token: t.adminToken });
}, 60_000);
afterAll(async () => t?.close());

describe('@airlock/client', () => {
  it('lists pending enrollments and approves one, with typed answers', async () => {
    await createSite(t, 'CLIENT');
    const waiting = await enrollAndVerify(t, 'CLIENT');
    const { items } = await airlock.listPending();
    expect(items.map((e) => e.id)).toEqual([waiting.enrollmentId]);
    expect(items[0]).toMatchObject({ site_code: 'CLIENT', hostname: 'vma-01', method: 'pairing_code', status: 'awaiting_approval' });
    const decided = await airlock.approveEnrollment(waiting.enrollmentId, { notes: 'via client' });
    expect(decided).toMatchObject({ id: waiting.enrollmentId, status: 'approved' });
    expect((await airlock.listPending()).items).toEqual([]);
  });

  it('creates sites and codes with bodies typed by the api schemas', async () => {
    expect(await airlock.createSite({ site_code: 'CLIENT-2', name: 'Two', policy: 'auto' })).toMatchObject({ site_code: 'CLIENT-2', policy: 'auto' });
    const code = await airlock.createPairingCode({ site_code: 'CLIENT-2', ttl_seconds: 120 });
    expect(code.code).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    expect((await airlock.listPairingCodes({ status: 'active' })).items.map((c) => c.id)).toContain(code.id);
    await createCode(t, 'CLIENT-2');
  });

  it('turns a refusal into ApiRequestError with the catalogue code and field problems', async () => {
    const err = await airlock.createSite({ site_code: 'x', name: '' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiRequestError);
    expect(err).toMatchObject({ status: 400, code: 'invalid_request' });
    expect(Object.keys((err as ApiRequestError).fields)).toEqual(expect.arrayContaining(['site_code']));
    const auditor = new AirlockClient({ baseUrl: new URL(t.api.url), token: t.auditorToken });
    await expect(auditor.createSite({ site_code: 'NOPE', name: 'n' })).rejects.toMatchObject({ status: 403, code: 'forbidden' });
  });

  it('reads the OpenAPI document with a service token, and says when the api is unreachable', async () => {
    const service = new AirlockClient({ baseUrl: new URL(t.api.url), token: t.serviceToken });
    expect((await service.openApiDocument()).openapi).toBe('3.1.0');
    const down = new AirlockClient({ baseUrl: new URL('http://127.0.0.1:1'), token: t.adminToken });
    await expect(down.listSites()).rejects.toBeInstanceOf(ApiUnreachableError);
  });
});
