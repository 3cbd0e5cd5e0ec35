/**
 * The served OpenAPI document types a generated client, as internal tooling
 * would build one: `openapi-typescript` turns the document the api serves
 * into types, and a file that calls every route with `openapi-fetch` and
 * reads fields of each answer (`data.items[0].hostname`) must type-check
 * under tsc. An untyped answer (`{}`, the state before issue 19) fails it;
 * so does a field the document does not have, which proves the answers are
 * not `any` either.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '@airlock/api/testing';

let t: TestApi;
let dir: string;
beforeAll(async () => {
  t = await startTestApi();
  // Inside the repository, so the generated file resolves openapi-fetch from its node_modules.
  dir = mkdtempSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '.generated-client-'));
  const served = await t.http.get('/api/v1/openapi.json').set('authorization', `Bearer ${t.auditorToken}`);
  expect(served.status).toBe(200);
  writeFileSync(path.join(dir, 'airlock-api.d.ts'), astToString(await openapiTS(served.body)));
}, 60_000);
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await t?.close();
});

const HEADER = `import createClient from 'openapi-fetch';
import type { paths } from './airlock-api.d.ts';
const client = createClient<paths>({ baseUrl: 'http://127.0.0.1:8082', headers: { authorization: 'Bearer aop_x' } });
const ID = '00000000-0000-4000-8000-000000000000';
`;

/** Every route, called as a client would, each answer's fields read into typed variables. */
const CALLS = `${HEADER}
export const all = async () => {
  const live = await client.GET('/healthz');
  if (live.data) { const s: 'ok' = live.data.status; void s; }
  const ready = await client.GET('/readyz');
  if (ready.data) { const s: string = ready.data.status; void s; }

  const enrolled = await client.POST('/api/v1/enroll', { body: { site_code: 'ACME', pairing_code: 'AX7K-PJ3F-TH2Q', public_key: 'ssh-ed25519 AAAA', hostname: 'vma-01' } });
  if (enrolled.data) { const id: string = enrolled.data.enrollment_id; const c: string = enrolled.data.challenge; void id; void c; }
  const verified = await client.POST('/api/v1/enroll/verify', { body: { enrollment_id: ID, signature: 'sig' } });
  if (verified.data) { const token: string = verified.data.poll_token; const every: number = verified.data.poll_interval; void token; void every; }
  const polled = await client.GET('/api/v1/enroll/status');
  if (polled.data && polled.data.status === 'approved') {
    const key: string = polled.data.credentials.agent_key;
    const user: string | undefined = polled.data.credentials.ssh?.user;
    const until: string | undefined = polled.data.credentials.tls?.expires_at;
    void key; void user; void until;
  }
  const challenge = await client.POST('/api/v1/agent/challenge', { body: { fingerprint: 'SHA256:x' } });
  if (challenge.data) { const id: string = challenge.data.challenge_id; void id; }
  const renewed = await client.POST('/api/v1/agent/credentials', { body: { fingerprint: 'SHA256:x', challenge_id: ID, signature: 's' } });
  if (renewed.data) { const key: string | null = renewed.data.credentials.agent_key; const site: string = renewed.data.site_code; void key; void site; }

  const site = await client.POST('/api/v1/admin/sites', { body: { site_code: 'ACME', name: 'Acme', policy: 'auto' } });
  if (site.data) { const p: 'manual' | 'auto' = site.data.policy; void p; }
  const sites = await client.GET('/api/v1/admin/sites', { params: { query: { tenant_code: 'default', limit: '50' } } });
  if (sites.data) { const code: string = sites.data.items[0].site_code; const cidrs: string[] = sites.data.items[0].allowed_cidrs; const next: string | null = sites.data.next_cursor; void code; void cidrs; void next; }
  const updated = await client.PATCH('/api/v1/admin/sites/{site_code}', { params: { path: { site_code: 'ACME' } }, body: { allowed_cidrs: ['198.51.100.0/24'] } });
  if (updated.data) { const tenant: string = updated.data.tenant_code; void tenant; }
  const tenant = await client.POST('/api/v1/admin/tenants', { body: { tenant_code: 'acme', name: 'Acme' } });
  if (tenant.data) { const t: string = tenant.data.tenant_code; void t; }
  const tenants = await client.GET('/api/v1/admin/tenants');
  if (tenants.data) { const name: string = tenants.data.items[0].name; void name; }
  const rotated = await client.POST('/api/v1/admin/sites/{site_code}/enrollment-key', { params: { path: { site_code: 'ACME' } }, body: { max_uses: 10 } });
  if (rotated.data) { const key: string = rotated.data.key; const until: string | null = rotated.data.expires_at; void key; void until; }
  const described = await client.GET('/api/v1/admin/sites/{site_code}/enrollment-key', { params: { path: { site_code: 'ACME' } } });
  if (described.data) { const left: number | null = described.data.uses_left; void left; }
  const installer = await client.POST('/api/v1/admin/sites/{site_code}/installer', { params: { path: { site_code: 'ACME' } }, body: { server: 'https://airlock.example.net', pin: 'sha256:ab', rotate: true } });
  if (installer.data) { const name: string = installer.data.file_name; const sig: string = installer.data.signature; const key: string | undefined = installer.data.enrollment_key; void name; void sig; void key; }
  const signers = await client.GET('/api/v1/admin/installers/allowed-signers');
  if (signers.data) { const lines: string = signers.data.allowed_signers; const current: boolean = signers.data.keys[0].current; void lines; void current; }
  const resigned = await client.POST('/api/v1/admin/installers/signing-key');
  if (resigned.data) { const fp: string = resigned.data.keys[0].fingerprint; void fp; }

  const code = await client.POST('/api/v1/admin/pairing-codes', { body: { site_code: 'ACME', ttl_seconds: 600 } });
  if (code.data) { const shown: string = code.data.code; void shown; }
  const codes = await client.GET('/api/v1/admin/pairing-codes', { params: { query: { status: 'active' } } });
  if (codes.data) { const s: 'active' | 'used' | 'expired' | 'revoked' = codes.data.items[0].status; void s; }
  const revokedCode = await client.DELETE('/api/v1/admin/pairing-codes/{id}', { params: { path: { id: ID } } });
  { const status: number = revokedCode.response.status; void status; }

  const enrollments = await client.GET('/api/v1/admin/enrollments', { params: { query: { status: 'awaiting_approval', limit: '50' } } });
  if (enrollments.data) {
    const host: string = enrollments.data.items[0].hostname;
    const next: string | null = enrollments.data.next_cursor;
    const replaces: string | null = enrollments.data.items[0].replaces_fingerprint;
    void host; void next; void replaces;
  }
  const approved = await client.POST('/api/v1/admin/enrollments/{id}/approve', { params: { path: { id: ID } }, body: { notes: 'checked' } });
  if (approved.data) { const s: 'approved' | 'rejected' = approved.data.status; void s; }
  const rejected = await client.POST('/api/v1/admin/enrollments/{id}/reject', { params: { path: { id: ID } }, body: { reason: 'unknown machine' } });
  if (rejected.data) { const id: string = rejected.data.id; void id; }

  const agents = await client.GET('/api/v1/admin/agents', { params: { query: { status: 'active', label: ['company:Acme'], q: 'vma-' } } });
  if (agents.data) { const fp: string = agents.data.items[0].fingerprint; const seen: string | null = agents.data.items[0].last_seen_at; const by: string | null = agents.data.items[0].approved_by; void fp; void seen; void by; }
  const labelled = await client.PATCH('/api/v1/admin/agents/{id}', { params: { path: { id: ID } }, body: { labels: { company: 'Acme' } } });
  if (labelled.data) { const labels: Record<string, string> = labelled.data.labels; void labels; }
  const revoked = await client.POST('/api/v1/admin/agents/{id}/revoke', { params: { path: { id: ID } }, body: { reason: 'stolen' } });
  if (revoked.data) { const advised: boolean = revoked.data.rotate_site_key_advised; void advised; }

  const audit = await client.GET('/api/v1/admin/audit', { params: { query: { event_type: 'agent.revoked', limit: '10' } } });
  if (audit.data) { const type: string = audit.data.items[0].event_type; const next: string | null = audit.data.next_cursor; void type; void next; }
  const refusals = await client.GET('/api/v1/admin/audit/refusals', { params: { query: { kind: 'enroll.invalid' } } });
  if (refusals.data) { const n: number = refusals.data.items[0].count; void n; }
  const pruned = await client.POST('/api/v1/admin/audit/prune', { body: { before: '2025-01-01' } });
  if (pruned.data) { const n: number = pruned.data.events_deleted; void n; }

  const operator = await client.POST('/api/v1/admin/operators', { body: { name: 'mgmt', role: 'service' } });
  if (operator.data) { const token: string = operator.data.token; void token; }
  const operators = await client.GET('/api/v1/admin/operators');
  if (operators.data) { const role: 'admin' | 'auditor' | 'service' | 'tunnel' | 'edge' = operators.data.items[0].role; void role; }
  const disabled = await client.POST('/api/v1/admin/operators/{name}/disable', { params: { path: { name: 'mgmt' } } });
  if (disabled.data) { const at: string = disabled.data.disabled_at; void at; }
  const cleared = await client.POST('/api/v1/admin/operators/{name}/clear-sign-in-failures', { params: { path: { name: 'audrey' } } });
  if (cleared.data) { const at: string = cleared.data.cleared_at; void at; }
  const password = await client.POST('/api/v1/admin/operators/{name}/password', { params: { path: { name: 'audrey' } }, body: { password: 'correct horse battery' } });
  if (password.data) { const name: string = password.data.name; void name; }

  const lockouts = await client.GET('/api/v1/admin/lockouts');
  if (lockouts.data) { const wait: number = lockouts.data.items[0].retry_after_seconds; void wait; }
  const lifted = await client.POST('/api/v1/admin/lockouts/clear', { body: { key: 'airlock:edge:block:203.0.113.7' } });
  if (lifted.data) { const was: boolean = lifted.data.cleared; void was; }

  const hostKeys = await client.GET('/api/v1/admin/tunnel/host-keys');
  if (hostKeys.data) { const line: string = hostKeys.data.items[0].public_key; void line; }
  const retired = await client.POST('/api/v1/admin/tunnel/host-keys/retire', { body: { fingerprint: 'SHA256:x' } });
  if (retired.data) { const at: string | null = retired.data.retired_at; void at; }

  const hook = await client.POST('/api/v1/admin/webhooks', { body: { url: 'http://10.0.0.9/hook', events: ['*'], format: 'slack' } });
  if (hook.data) { const secret: string = hook.data.secret; const f: 'standard' | 'slack' = hook.data.format; void secret; void f; }
  const hooks = await client.GET('/api/v1/admin/webhooks');
  if (hooks.data) { const site: string | null = hooks.data.items[0].site_code; void site; }
  const hookGone = await client.DELETE('/api/v1/admin/webhooks/{id}', { params: { path: { id: ID } } });
  { const status: number = hookGone.response.status; void status; }
  const hookTest = await client.POST('/api/v1/admin/webhooks/{id}/test', { params: { path: { id: ID } } });
  if (hookTest.data) { const id: string = hookTest.data.event_id; void id; }
  const hookSecret = await client.POST('/api/v1/admin/webhooks/{id}/secret', { params: { path: { id: ID } } });
  if (hookSecret.data) { const secret: string = hookSecret.data.secret; void secret; }
  const hookDeliveries = await client.GET('/api/v1/admin/webhooks/{id}/deliveries', { params: { path: { id: ID }, query: { limit: '10' } } });
  if (hookDeliveries.data) { const s: 'retrying' | 'delivered' | 'failed' = hookDeliveries.data.items[0].state; const next: string | null = hookDeliveries.data.next_cursor; void s; void next; }

  const agentKey = await client.POST('/api/v1/internal/agent-keys/verify', { body: { agent_key: 'cak_x' } });
  if (agentKey.data) { const s: 'active' | 'revoked' | 'pending_confirmation' = agentKey.data.status; void s; }
  const ca = await client.GET('/api/v1/internal/ca');
  if (ca.data) { const pem: string = ca.data.ca_certificates; void pem; }
  const cert = await client.POST('/api/v1/internal/certificates/verify', { body: { certificate: 'PEM' } });
  if (cert.data) { const id: string = cert.data.agent_id; void id; }
  const keys = await client.POST('/api/v1/internal/tunnel/authorized-keys', { body: { fingerprint: 'SHA256:x' } });
  if (keys.data) { const key: string = keys.data.keys[0].public_key; const targets: string[] = keys.data.permit_open; void key; void targets; }
  const sessions = await client.POST('/api/v1/internal/tunnel/sessions', {
    body: { endpoint: 'tunnel-1', lease_seconds: 45, sessions: [{ session: 's1', agent_id: ID, source_ip: '203.0.113.7', opened_at: '2026-12-01T10:00:00Z' }] },
  });
  if (sessions.data) { const n: number = sessions.data.connected_agents; void n; }
  const registered = await client.POST('/api/v1/internal/tunnel/host-keys', { body: { keys: ['ssh-ed25519 AAAA'] } });
  { const status: number = registered.response.status; void status; }
  const event = await client.POST('/api/v1/internal/tunnel/events', { body: { event: 'opened', fingerprint: 'SHA256:x', agent_id: ID, source_ip: '203.0.113.7' } });
  { const status: number = event.response.status; void status; }
  const lockout = await client.POST('/api/v1/internal/security/lockouts', { body: { report_id: ID, kind: 'lockout', site_code: 'ACME', source_ip: '203.0.113.7', until: '2026-12-01T10:15:00Z', failures: 20, counters: 'redis' } });
  if (lockout.data) { const recorded: boolean = lockout.data.recorded; void recorded; }
  const active = await client.POST('/api/v1/internal/tunnel/active-agents', { body: { agent_ids: [ID] } });
  if (active.data) { const first: string = active.data.active[0]; void first; }

  const doc = await client.GET('/api/v1/openapi.json');
  if (doc.data) { const version: '3.1.0' = doc.data.openapi; void version; }
  const page = await client.GET('/api/v1/docs', { parseAs: 'text' });
  if (page.data) { const html: string = page.data; void html; }
};
`;

/** tsc's problems with `files` (name → source) next to the generated types. */
const typeProblems = (files: Record<string, string>): string[] => {
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  const program = ts.createProgram(
    Object.keys(files).map((n) => path.join(dir, n)),
    {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      allowImportingTsExtensions: true,
      skipLibCheck: true,
      types: [],
      lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
    },
  );
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file ? path.basename(d.file.fileName) : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
};

describe('a client generated from the served OpenAPI document', () => {
  it('calls every route the document lists (the call file is complete)', async () => {
    const called = new Set([...CALLS.matchAll(/client\.(GET|POST|PATCH|DELETE)\('([^']+)'/g)].map((m) => `${m[1]} ${m[2]}`));
    const res = await t.http.get('/api/v1/openapi.json').set('authorization', `Bearer ${t.adminToken}`);
    const listed = Object.entries(res.body.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(listed.length).toBeGreaterThan(35);
    expect(listed.filter((r) => !called.has(r)), 'routes the call file does not call').toEqual([]);
    expect([...called].filter((r) => !listed.includes(r)), 'calls to routes the document does not list').toEqual([]);
  });

  it('type-checks field access on every answer with openapi-fetch', () => {
    expect(typeProblems({ 'calls.ts': CALLS })).toEqual([]);
  }, 60_000);

  it('refuses a field the document does not have, so the answers are not any', () => {
    const wrong = `${HEADER}
export const wrong = async () => {
  const enrollments = await client.GET('/api/v1/admin/enrollments');
  if (enrollments.data) { const x: string = enrollments.data.items[0].no_such_field; void x; }
  const code = await client.POST('/api/v1/admin/pairing-codes', { body: { site_code: 'ACME', ttl_seconds: 'soon' } });
  void code;
};
`;
    const problems = typeProblems({ 'wrong.ts': wrong });
    expect(problems.some((p) => p.includes("'no_such_field'"))).toBe(true);
    expect(problems.some((p) => p.includes("'string' is not assignable to type 'number'"))).toBe(true);
  }, 60_000);
});
