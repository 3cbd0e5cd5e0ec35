/**
 * Bad input gets a clear 400 and changes nothing: for every field of every
 * route, hostile values are refused with a field error, no row is written but
 * the refusal's audit row, and no response echoes the value.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAgentKey } from '@airlock/testing';
import { createCode, createSite, enrollAndVerify, enrollBody, startTestApi, type TestApi } from '@airlock/api/testing';
import { latestAudit, snapshotState } from './snapshot.ts';

let t: TestApi;
let code: string;
let enrollmentId: string;
beforeAll(async () => {
  t = await startTestApi();
  await createSite(t, 'ACME-PHX');
  code = (await createCode(t, 'ACME-PHX')).code;
  enrollmentId = (await enrollAndVerify(t, 'ACME-PHX')).enrollmentId;
});
afterAll(async () => t.close());

// Values every string field must refuse (a field may refuse more).
const HOSTILE: Array<[string, unknown]> = [
  ['a number', 12345],
  ['null', null],
  ['an array', ['x']],
  ['an object', { x: 1 }],
  ['a boolean', true],
  ['an oversize string', 'A'.repeat(20_000 / 2)],
  ['a NUL byte', 'vma\u0000-01'],
  ['an escape sequence', '\u001b[31mred'],
  ['a newline', 'line1\nline2'],
  ['Cyrillic look-alikes', 'АСМЕ-РНХ'],
  ['fullwidth look-alikes', 'ＡＸ７Ｋ'],
  // These two upper-case to ASCII (ı → I, ſ → S): a parser that upper-cases first lets them through.
  ['dotless i and long s', 'acme-phıx-ſ'],
  ['SQL metacharacters', "x'; drop table sites; --"],
  ['shell metacharacters', '$(reboot)`id`;|&'],
];

const enrollField = (field: string, value: unknown) => ({ ...enrollBody(newAgentKey(), 'ACME-PHX', code), [field]: value });

interface Case {
  name: string;
  method: 'post' | 'get';
  path: () => string;
  body: (value: unknown) => unknown;
  field: string;
  admin: boolean;
  /** Values this field accepts although they are in HOSTILE. */
  accepts?: string[];
  /** Further values this field must refuse. */
  extra?: unknown[];
}

const BAD_NUMBERS = [-5, 0, 1.5, 1e12, '60', Number.MAX_SAFE_INTEGER];

const CASES: Case[] = [
  ...['site_code', 'pairing_code', 'public_key', 'hostname', 'agent_version', 'machine_uid'].map((field) => ({
    name: `enroll ${field}`,
    method: 'post' as const,
    path: () => '/api/v1/enroll',
    body: (value: unknown) => enrollField(field, value),
    field,
    admin: false,
    // A shell or SQL string is a valid... nothing here: every field has a strict grammar.
  })),
  {
    name: 'enroll labels',
    method: 'post',
    path: () => '/api/v1/enroll',
    body: (v) => enrollField('labels', { role: v }),
    field: 'labels.role',
    admin: false,
    accepts: ['SQL metacharacters', 'shell metacharacters'],
  },
  { name: 'verify enrollment_id', method: 'post', path: () => '/api/v1/enroll/verify', body: (v) => ({ enrollment_id: v, signature: 'AAAA' }), field: 'enrollment_id', admin: false },
  { name: 'create site site_code', method: 'post', path: () => '/api/v1/admin/sites', body: (v) => ({ site_code: v, name: 'n' }), field: 'site_code', admin: true },
  {
    name: 'create site name',
    method: 'post',
    path: () => '/api/v1/admin/sites',
    body: (v) => ({ site_code: 'NEWSITE', name: v }),
    field: 'name',
    admin: true,
    accepts: ['SQL metacharacters', 'shell metacharacters'],
  },
  { name: 'create site policy', method: 'post', path: () => '/api/v1/admin/sites', body: (v) => ({ site_code: 'NEWSITE', name: 'n', policy: v }), field: 'policy', admin: true },
  { name: 'create code site_code', method: 'post', path: () => '/api/v1/admin/pairing-codes', body: (v) => ({ site_code: v }), field: 'site_code', admin: true },
  { name: 'create code ttl_seconds', method: 'post', path: () => '/api/v1/admin/pairing-codes', body: (v) => ({ site_code: 'ACME-PHX', ttl_seconds: v }), field: 'ttl_seconds', admin: true, accepts: ['a number'], extra: BAD_NUMBERS },
  {
    name: 'create code note',
    method: 'post',
    path: () => '/api/v1/admin/pairing-codes',
    body: (v) => ({ site_code: 'ACME-PHX', note: v }),
    field: 'note',
    admin: true,
    accepts: ['SQL metacharacters', 'shell metacharacters'],
  },
  { name: 'create code auto_approve', method: 'post', path: () => '/api/v1/admin/pairing-codes', body: (v) => ({ site_code: 'ACME-PHX', auto_approve: v }), field: 'auto_approve', admin: true, accepts: ['a boolean'] },
  { name: 'reject reason', method: 'post', path: () => `/api/v1/admin/enrollments/${enrollmentId}/reject`, body: (v) => ({ reason: v }), field: 'reason', admin: true, accepts: ['SQL metacharacters', 'shell metacharacters'] },
  { name: 'approve notes', method: 'post', path: () => `/api/v1/admin/enrollments/${enrollmentId}/approve`, body: (v) => ({ notes: v }), field: 'notes', admin: true, accepts: ['SQL metacharacters', 'shell metacharacters'] },
  { name: 'rotate key max_uses', method: 'post', path: () => '/api/v1/admin/sites/ACME-PHX/enrollment-key', body: (v) => ({ max_uses: v }), field: 'max_uses', admin: true, accepts: ['a number', 'null'], extra: BAD_NUMBERS.filter((n) => n !== 1e12 && n !== Number.MAX_SAFE_INTEGER).concat([2e6]) },
  { name: 'agent key verify agent_key', method: 'post', path: () => '/api/v1/internal/agent-keys/verify', body: (v) => ({ agent_key: v }), field: 'agent_key', admin: true, accepts: ['a NUL byte', 'an escape sequence', 'a newline', 'Cyrillic look-alikes', 'fullwidth look-alikes', 'dotless i and long s', 'SQL metacharacters', 'shell metacharacters'] },
];

const send = (c: Case, body: unknown) => {
  const req = t.http.post(c.path()).set('content-type', 'application/json');
  if (c.admin) req.set('authorization', `Bearer ${c.path().includes('/internal/') ? t.serviceToken : t.adminToken}`);
  return req.send(JSON.stringify(body));
};

describe('malformed input', () => {
  for (const c of CASES) {
    it(`refuses hostile values for ${c.name} with a field error and changes nothing`, async () => {
      const values: Array<[string, unknown]> = [...HOSTILE, ...(c.extra ?? []).map((v): [string, unknown] => [`the value ${String(v)}`, v])];
      for (const [label, value] of values) {
        if (c.accepts?.includes(label)) continue;
        const before = await snapshotState(t);
        const r = await send(c, c.body(value));
        expect(r.status, `${c.name} with ${label}`).toBe(400);
        expect(r.body.error.code).toBe('invalid_request');
        expect(r.body.error.fields?.[c.field], `${c.name} with ${label}: ${JSON.stringify(r.body)}`).toEqual(expect.any(String));
        if (typeof value === 'string' && value.length > 3) expect(JSON.stringify(r.body)).not.toContain(value);
        const after = await snapshotState(t);
        expect(after.tables).toEqual(before.tables);
        expect(after.auditCount).toBe(before.auditCount + 1);
      }
    });
  }

  it('refuses unknown fields on every body', async () => {
    const bodies: Array<[string, unknown, boolean]> = [
      ['/api/v1/enroll', { ...enrollBody(newAgentKey(), 'ACME-PHX', code), is_admin: true }, false],
      ['/api/v1/enroll/verify', { enrollment_id: enrollmentId, signature: 'AAAA', extra: 1 }, false],
      ['/api/v1/admin/sites', { site_code: 'NEWSITE', name: 'n', owner: 'x' }, true],
      ['/api/v1/admin/pairing-codes', { site_code: 'ACME-PHX', code: 'AAAA-AAAA-AAAA' }, true],
    ];
    for (const [path, body, admin] of bodies) {
      const before = await snapshotState(t);
      const req = t.http.post(path);
      if (admin) req.set('authorization', `Bearer ${t.adminToken}`);
      const r = await req.send(body as object);
      expect(r.status).toBe(400);
      expect(Object.values(r.body.error.fields)).toContain('unknown field');
      expect((await snapshotState(t)).tables).toEqual(before.tables);
    }
  });

  it('refuses a "__proto__" label without touching any prototype', async () => {
    const r = await t.http
      .post('/api/v1/enroll')
      .set('content-type', 'application/json')
      .send(`{"site_code":"ACME-PHX","pairing_code":"${code}","public_key":"${newAgentKey().publicKey}","hostname":"h","labels":{"__proto__":"x"}}`);
    expect(r.status).toBe(400);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('refuses both or neither of pairing_code and enrollment_key, and enrollment_key without machine_uid', async () => {
    const key = newAgentKey();
    const both = await t.http.post('/api/v1/enroll').send({ ...enrollBody(key, 'ACME-PHX', code), enrollment_key: `cek_${'A'.repeat(43)}` });
    expect(both.status).toBe(400);
    const { pairing_code: _omit, ...neither } = enrollBody(key, 'ACME-PHX', code);
    expect((await t.http.post('/api/v1/enroll').send(neither)).status).toBe(400);
    const noUid = await t.http.post('/api/v1/enroll').send({ ...neither, enrollment_key: `cek_${'A'.repeat(43)}` });
    expect(noUid.status).toBe(400);
    expect(noUid.body.error.fields.machine_uid).toBeDefined();
  });

  it('refuses a body that is not JSON (400), not declared JSON (415) or too large (413)', async () => {
    const notJson = await t.http.post('/api/v1/enroll').set('content-type', 'application/json').send('{"site_code":');
    expect(notJson.status).toBe(400);
    const text = await t.http.post('/api/v1/enroll').set('content-type', 'text/plain').send('{}');
    expect(text.status).toBe(415);
    expect(text.body.error.code).toBe('unsupported_media_type');
    const big = await t.http.post('/api/v1/enroll').set('content-type', 'application/json').send(JSON.stringify({ pad: 'x'.repeat(17_000) }));
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('payload_too_large');
  });

  it('refuses a public key that is not one ssh-ed25519 key', async () => {
    const blobWithTrailer = Buffer.concat([Buffer.from(newAgentKey().publicKey.split(' ')[1] ?? '', 'base64'), Buffer.from([0])]).toString('base64');
    for (const pk of ['ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ', `ssh-ed25519 ${blobWithTrailer}`, 'ssh-ed25519 not-base64!!', `${newAgentKey().publicKey} ${'c'.repeat(101)}`]) {
      const r = await t.http.post('/api/v1/enroll').send({ ...enrollBody(newAgentKey(), 'ACME-PHX', code), public_key: pk });
      expect(r.status).toBe(400);
      expect(r.body.error.fields.public_key).toEqual(expect.any(String));
    }
  });
});

describe('audit of refusals', () => {
  it('writes an enroll.denied row with the source address and no secret', async () => {
    const before = await snapshotState(t);
    const r = await t.http.post('/api/v1/enroll').send(enrollBody(newAgentKey(), 'ACME-PHX', 'ZZZZ-ZZZZ-ZZZZ'));
    expect(r.status).toBe(401);
    const after = await snapshotState(t);
    expect(after.tables).toEqual(before.tables);
    expect(after.auditCount).toBe(before.auditCount + 1);
    const row = await latestAudit(t);
    expect(row?.event_type).toBe('enroll.denied');
    expect(row?.source_ip).toBe('127.0.0.1');
    expect(JSON.stringify(row)).not.toContain('ZZZZ');
  });

  it('counts an unknown enrollment (it names nothing real) instead of writing a row, and writes a row for a bad signature on a real one', async () => {
    const before = await snapshotState(t);
    const v = await t.http.post('/api/v1/enroll/verify').send({ enrollment_id: '00000000-0000-4000-8000-000000000000', signature: 'AAAA' });
    expect(v.status).toBe(401);
    const counted = await t.api.deps.db.execute<{ n: number }>(
      sql`select coalesce(sum(count), 0)::int as n from audit_refusal_counts where kind = 'verify.denied'`,
    );
    expect(counted[0]?.n).toBeGreaterThan(0);
    expect((await snapshotState(t)).auditCount).toBe(before.auditCount + 1);
    const bad = await t.http.post('/api/v1/enroll/verify').send({ enrollment_id: enrollmentId, signature: 'A'.repeat(86) + '==' });
    expect(bad.status).toBe(401);
    expect((await latestAudit(t))?.event_type).toMatch(/^verify\./);
  });

  it('cannot update or delete an audit row, even with the application\'s own connection', async () => {
    await expect(t.api.deps.db.execute(sql`update audit_events set actor = 'mallory'`)).rejects.toThrow();
    await expect(t.api.deps.db.execute(sql`delete from audit_events`)).rejects.toThrow();
    await expect(t.api.deps.db.execute(sql`truncate audit_events`)).rejects.toThrow();
    const rows = await t.api.deps.db.execute<{ n: number }>(sql`select count(*)::int as n from audit_events where actor = 'mallory'`);
    expect(rows[0]?.n).toBe(0);
  });

  it('pages the audit log newest first with a cursor and filters', async () => {
    const page1 = await t.admin('get', '/api/v1/admin/audit?limit=2');
    expect(page1.status).toBe(200);
    expect(page1.body.items).toHaveLength(2);
    const page2 = await t.admin('get', `/api/v1/admin/audit?limit=2&cursor=${page1.body.next_cursor}`);
    expect(page2.body.items).toHaveLength(2);
    const ids = [...page1.body.items, ...page2.body.items].map((i: { id: string }) => i.id);
    expect(new Set(ids).size).toBe(4);
    const times = [...page1.body.items, ...page2.body.items].map((i: { occurred_at: string }) => i.occurred_at);
    expect([...times].sort().reverse()).toEqual(times);
    const denied = await t.admin('get', '/api/v1/admin/audit?event_type=enroll.denied');
    expect(denied.body.items.length).toBeGreaterThan(0);
    expect(denied.body.items.every((i: { event_type: string }) => i.event_type === 'enroll.denied')).toBe(true);
    const bad = await t.admin('get', '/api/v1/admin/audit?cursor=bogus');
    expect(bad.status).toBe(400);
  });
});

describe('unexpected failures', () => {
  it('answers 500 with the bare envelope, no stack and no query parameters, and logs only the driver cause', async () => {
    const doomed = await startTestApi();
    try {
      await createSite(doomed, 'DOOMED');
      const { code } = await createCode(doomed, 'DOOMED');
      // The database vanishes under the running api.
      await doomed.db?.drop();
      const r = await doomed.http.post('/api/v1/enroll').send(enrollBody(newAgentKey(), 'DOOMED', code));
      expect(r.status).toBe(500);
      expect(r.body).toEqual({ error: { code: 'internal_error', message: 'Internal error' } });
      const errors = doomed.logs.filter((l) => l.includes('"level":"error"'));
      expect(errors.length).toBeGreaterThan(0);
      for (const line of errors) {
        expect(line).not.toContain('params');
        expect(line).not.toMatch(/\bat .*\.ts:\d+/);
      }
    } finally {
      await doomed.close();
    }
  });
});
