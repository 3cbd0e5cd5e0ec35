/** The tests-only check of every answer against the route table: what it refuses, and how loudly. */
import { errorEnvelope, ROUTES } from '@airlock/schema';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { answerProblem, checkResponses, undocumentedFields } from './response-check.ts';

const SITE = { site_code: 'ACME', name: 'Acme', policy: 'manual', created_at: '2026-11-22T12:00:00.000Z', created_by: 'alice', tenant_code: 'default', allowed_cidrs: [] };
const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('answerProblem', () => {
  it('accepts an answer that matches its route entry', async () => {
    expect(await answerProblem(ROUTES.listSites, json({ items: [SITE], next_cursor: null }))).toBeNull();
    expect(await answerProblem(ROUTES.revokePairingCode, new Response(null, { status: 204 }))).toBeNull();
    expect(await answerProblem(ROUTES.createSite, json(errorEnvelope('conflict', 'exists'), 409))).toBeNull();
  });

  it('names a field the schema does not document, however deep (a leak the document would hide)', async () => {
    expect(await answerProblem(ROUTES.listSites, json({ items: [SITE, { ...SITE, digest: 'x' }], next_cursor: null }))).toBe(
      'fields the route table does not document: items[1].digest',
    );
    expect(undocumentedFields({ a: { b: 1, c: 2 } }, { a: { b: 1 } })).toEqual(['a.c']);
  });

  it('names a field off its format, and a status the route does not list', async () => {
    expect(await answerProblem(ROUTES.listSites, json({ items: [{ ...SITE, created_at: 'yesterday' }], next_cursor: null }))).toMatch(/^items\.0\.created_at: /);
    expect(await answerProblem(ROUTES.listSites, json({ items: [] }, 201))).toBe('status 201 is not a success the route table lists');
    expect(await answerProblem(ROUTES.revokePairingCode, json({}, 200))).toBe('status 200 is not a success the route table lists');
  });

  it('holds refusals to the envelope and to the codes the route lists under that status', async () => {
    expect(await answerProblem(ROUTES.createSite, json({ error: 'nope' }, 409))).toBe('a refusal that is not the error envelope');
    expect(await answerProblem(ROUTES.createSite, json(errorEnvelope('invalid_state', 'x'), 409))).toBe('409 invalid_state is not listed for this route');
    expect(await answerProblem(ROUTES.createSite, json(errorEnvelope('conflict', 'x'), 400))).toBe('conflict carries 409, not 400');
    // Outages and an oversized body may meet any route.
    expect(await answerProblem(ROUTES.listSites, json(errorEnvelope('service_unavailable', 'x'), 503))).toBeNull();
  });
});

describe('checkResponses middleware', () => {
  it('reports an answer off the table and replaces it with a 500 naming the problem', async () => {
    const problems: string[] = [];
    const app = new Hono();
    app.use('*', checkResponses((p) => problems.push(p)));
    app.get(ROUTES.listSites.path, (c) => c.json({ items: [{ ...SITE, secret: 'x' }], next_cursor: null }));
    app.get(ROUTES.listOperators.path, (c) => c.json({ items: [] }));
    const bad = await app.request(ROUTES.listSites.path);
    expect(bad.status).toBe(500);
    expect(await bad.json()).toEqual({ error: { code: 'internal_error', message: expect.stringContaining('items[0].secret') } });
    expect(problems).toEqual(['GET /api/v1/admin/sites answered 200 off the route table: fields the route table does not document: items[0].secret']);
    const good = await app.request(ROUTES.listOperators.path);
    expect(good.status).toBe(200);
    expect(problems).toHaveLength(1);
  });
});
