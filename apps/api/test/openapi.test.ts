/**
 * The OpenAPI document: generated from the route table and the routes' own
 * valibot schemas, equal to the app's real routes in both directions, valid
 * OpenAPI 3.1 by a maintained validator, served to every operator role, and
 * refused without a token in the error envelope.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { ERROR_STATUS, ROUTE_LIST } from '@airlock/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/http/app.ts';
import { buildOpenApiDocument, openApiPath } from '../src/openapi/document.ts';
import { startTestApi, type TestApi } from '@airlock/api/testing';

let t: TestApi;
beforeAll(async () => {
  t = await startTestApi();
}, 60_000);
afterAll(async () => t?.close());

type Json = Record<string, any>;
const doc = buildOpenApiDocument() as Json;

/** METHOD path pairs the app really serves (middleware, registered as ALL, excluded). */
const realRoutes = (): Set<string> => {
  const app = createApp(t.api.deps);
  // The console (/console) is the operators' HTML UI, not part of the API this document describes.
  return new Set(
    app.routes.filter((r) => r.method !== 'ALL' && !r.path.startsWith('/console')).map((r) => `${r.method} ${openApiPath(r.path)}`),
  );
};
const documented = (): Set<string> =>
  new Set(Object.entries(doc.paths as Record<string, Json>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)));

describe('OpenAPI document', () => {
  it('documents every route the app registers (a missing route is named)', () => {
    const missing = [...realRoutes()].filter((r) => !documented().has(r));
    expect(missing, `routes without an entry in packages/schema/src/wire/routes.ts: ${missing.join(', ')}`).toEqual([]);
  });

  it('documents no route the app does not register (a stale entry is named)', () => {
    const stale = [...documented()].filter((r) => !realRoutes().has(r));
    expect(stale, `entries in packages/schema/src/wire/routes.ts with no real route: ${stale.join(', ')}`).toEqual([]);
  });

  it('is valid OpenAPI 3.1 by @seriousme/openapi-schema-validator', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc));
    expect(result.errors ?? [], JSON.stringify(result.errors)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('carries the request schemas generated from valibot: strict, bounded, required fields', () => {
    const enroll = doc.paths['/api/v1/enroll'].post.requestBody.content['application/json'].schema;
    expect(enroll.properties.site_code.type).toBe('string');
    expect(enroll.properties.hostname.maxLength).toBe(253);
    expect(enroll.required).toEqual(expect.arrayContaining(['site_code', 'public_key', 'hostname']));
    const site = doc.paths['/api/v1/admin/sites'].post.requestBody.content['application/json'].schema;
    expect(site.additionalProperties).toBe(false);
    expect(site.properties.policy.enum).toEqual(['manual', 'auto']);
    const audit = doc.paths['/api/v1/admin/audit'].get.parameters.map((p: Json) => p.name);
    expect(audit).toEqual(expect.arrayContaining(['event_type', 'site_code', 'agent_id', 'limit', 'cursor']));
    expect(doc.paths['/api/v1/admin/sites/{site_code}/enrollment-key'].post.requestBody.required).toBe(false);
  });

  it('lists every status the contract lists for the public routes, refusals as the error envelope', () => {
    const statuses = (p: string, m: string) => Object.keys(doc.paths[p][m].responses).map(Number).sort();
    expect(statuses('/api/v1/enroll', 'post')).toEqual([201, 400, 401, 409, 413, 415, 429]);
    expect(statuses('/api/v1/enroll/verify', 'post')).toEqual(expect.arrayContaining([200, 401, 410, 429]));
    expect(statuses('/api/v1/enroll/status', 'get')).toEqual([200, 202, 401, 403, 410, 429]);
    expect(doc.paths['/api/v1/enroll'].post.responses['429'].headers['Retry-After']).toBeDefined();
    expect(doc.paths['/api/v1/enroll'].post.responses['401'].content['application/json'].schema.$ref).toBe('#/components/schemas/ErrorEnvelope');
    expect(doc.components.schemas.ErrorEnvelope.properties.error.properties.code.enum).toEqual(Object.keys(ERROR_STATUS));
    // Every refusal's catalogue code carries the status it is documented under.
    for (const r of ROUTE_LIST) {
      for (const [status, resp] of Object.entries(r.responses)) {
        if ('codes' in resp) for (const code of resp.codes) expect(ERROR_STATUS[code], `${r.path} ${status} ${code}`).toBe(Number(status));
      }
    }
  });

  it('states the bearer schemes: operator token on admin and internal routes, poll token on status', () => {
    expect(doc.components.securitySchemes.operatorToken).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }));
    for (const [p, ops] of Object.entries(doc.paths as Record<string, Json>)) {
      for (const op of Object.values(ops as Record<string, Json>)) {
        if (p.startsWith('/api/v1/admin/') || p.startsWith('/api/v1/internal/')) expect(op.security, p).toEqual([{ operatorToken: [] }]);
      }
    }
    expect(doc.paths['/api/v1/enroll/status'].get.security).toEqual([{ pollToken: [] }]);
  });
});

describe('GET /api/v1/openapi.json and the reference page', () => {
  it('serves the document to admin, auditor and service operators alike', async () => {
    for (const token of [t.adminToken, t.auditorToken, t.serviceToken]) {
      const res = await t.http.get('/api/v1/openapi.json').set('authorization', `Bearer ${token}`);
      expect(res.status).toBe(200);
      expect(res.body.openapi).toBe('3.1.0');
      expect(Object.keys(res.body.paths)).toContain('/api/v1/admin/enrollments');
    }
  });

  it('refuses a missing or unknown token with 401 unauthorized in the envelope', async () => {
    const none = await t.http.get('/api/v1/openapi.json');
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
    const bad = await t.http.get('/api/v1/openapi.json').set('authorization', `Bearer aop_${'A'.repeat(43)}`);
    expect(bad.status).toBe(401);
    expect(bad.body.error.code).toBe('unauthorized');
  });

  it('serves a script-free HTML reference under a strict CSP, with no secret in it', async () => {
    const res = await t.http.get('/api/v1/docs');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    expect(res.text).toContain('POST /api/v1/enroll');
    expect(res.text).not.toMatch(/<script/i);
    expect(res.text).not.toMatch(/aop_[A-Za-z0-9]|cak_[A-Za-z0-9]/);
  });
});
