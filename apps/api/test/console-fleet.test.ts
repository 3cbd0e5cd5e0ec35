/**
 * The console with a fleet (issue 22), at the HTTP level: Agents pages with
 * every filter in the URL, labels shown, the Pending page's collision read by
 * the enrollment's own machine_uid however many agents there are, and tenant
 * scope: a global operator's switcher, a scoped operator's fixed tenant.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleClient, newAgentKey } from '@airlock/testing';
import { createOperator, enroll, setOperatorPassword, startTestApi, status, verify, type TestApi } from '@airlock/api/testing';

const PW = 'fleet console password';
let t: TestApi;
let alice: ConsoleClient;
let sam: ConsoleClient;
const FP = `SHA256:${'Q'.repeat(43)}`;

/** `n` agents of a site, newer than everything so far, straight into the table (the console only reads them). */
const bulkAgents = async (site: string, tenant: string, prefix: string, n: number, labels: Record<string, string> = {}) =>
  t.api.deps.db.execute(sql`
    insert into agents (site_code, tenant_code, enrollment_id, public_key, fingerprint, hostname, status, created_by, created_at, labels)
    select ${site}, ${tenant}, gen_random_uuid(), 'ssh-ed25519 AAAA', ${FP}, ${prefix} || g, 'active', 'test',
           now() + interval '1 day' + g * interval '1 second', ${JSON.stringify(labels)}::jsonb
    from generate_series(1, ${n}) g`);

beforeAll(async () => {
  t = await startTestApi();
  for (const tenant of ['acme', 'globex']) expect((await t.admin('post', '/api/v1/admin/tenants').send({ tenant_code: tenant, name: tenant })).status).toBe(201);
  expect((await t.admin('post', '/api/v1/admin/sites').send({ site_code: 'ACME-WEB', name: 'a', tenant_code: 'acme', policy: 'auto' })).status).toBe(201);
  expect((await t.admin('post', '/api/v1/admin/sites').send({ site_code: 'GLOBEX-WEB', name: 'g', tenant_code: 'globex' })).status).toBe(201);
  await setOperatorPassword(t.api.deps.db, t.clock, 'alice', PW, 'test', null);
  await createOperator(t.api.deps.db, t.clock, { name: 'sam', role: 'admin', tenant_code: 'acme' }, 'test', null);
  await setOperatorPassword(t.api.deps.db, t.clock, 'sam', PW, 'test', null);
  alice = new ConsoleClient(t.api.url);
  sam = new ConsoleClient(t.api.url);
  expect((await alice.signIn('alice', PW)).status).toBe(303);
  expect((await sam.signIn('sam', PW)).status).toBe(303);
  await bulkAgents('ACME-WEB', 'acme', 'acme-bulk-', 105, { company: 'Acme' });
  await bulkAgents('GLOBEX-WEB', 'globex', 'globex-bulk-', 3, { company: 'Globex' });
}, 60_000);
afterAll(async () => t?.close());

const rowsOf = (html: string) => [...html.matchAll(/<strong class="hostname">([^<]+)<\/strong>/g)].map((m) => m[1]);

describe('the console with a fleet', () => {
  it('pages the Agents list with its filters in the URL, labels shown', async () => {
    const first = await alice.get('/console/agents?hostname=acme-bulk-&label=company:Acme');
    expect(first.status).toBe(200);
    expect(rowsOf(first.text)).toHaveLength(100);
    expect(first.text).toContain('company=Acme');
    const next = /href="(\/console\/agents\?[^"]*cursor=[^"]+)"/.exec(first.text)?.[1]?.replaceAll('&amp;', '&');
    expect(next).toContain('hostname=acme-bulk-');
    expect(next).toContain('label=company%3AAcme');
    const second = await alice.get(next ?? '');
    const rest = rowsOf(second.text);
    expect(rest).toHaveLength(5);
    expect(new Set([...rowsOf(first.text), ...rest]).size).toBe(105);
    expect(second.text).not.toContain('rel="next"');
    expect(rowsOf((await alice.get('/console/agents?label=company:Globex')).text).sort()).toEqual(['globex-bulk-1', 'globex-bulk-2', 'globex-bulk-3']);
    expect((await alice.get('/console/agents?label=nocolon')).status).toBe(400);
  });

  it('gives a global operator a tenant switcher, and a scoped one only its tenant whatever the URL says', async () => {
    const all = await alice.get('/console/agents?hostname=globex-');
    expect(all.text).toContain('id="tenant-switch"');
    expect(rowsOf(all.text)).toHaveLength(3);
    const acmeOnly = await alice.get('/console/agents?tenant=acme&hostname=globex-');
    expect(rowsOf(acmeOnly.text)).toEqual([]);
    expect(acmeOnly.text).toMatch(/<option value="acme" selected/);
    for (const url of ['/console/agents?hostname=globex-', '/console/agents?tenant=globex&hostname=globex-', '/console/sites?tenant=globex', '/console/audit?tenant=globex']) {
      const page = await sam.get(url);
      expect(page.status, url).toBe(200);
      expect(page.text, url).not.toContain('GLOBEX');
      expect(page.text, url).not.toContain('globex-bulk');
      expect(page.text).not.toContain('id="tenant-switch"');
      expect(page.text).toContain('data-tenant="acme"');
    }
    expect((await sam.get('/console/sites')).text).toContain('ACME-WEB');
  });

  it("shows a Pending collision's agent, read by the enrollment's own machine_uid, however many agents are newer", async () => {
    const key = (await t.admin('post', '/api/v1/admin/sites/ACME-WEB/enrollment-key').send({})).body.key as string;
    const uid = `uid-${randomBytes(4).toString('hex')}`;
    const keyEnroll = async (hostname: string) => {
      const agent = newAgentKey();
      const e = await enroll(t, { site_code: 'ACME-WEB', enrollment_key: key, public_key: agent.publicKey, hostname, machine_uid: uid });
      const v = await verify(t, e.body.enrollment_id, agent.sign(e.body.enrollment_id, e.body.challenge));
      return { id: e.body.enrollment_id as string, verify: v.body };
    };
    const original = await keyEnroll('original-host');
    expect((await status(t, original.verify.poll_token)).status).toBe(200);
    // 600 newer agents: the old page loaded the newest 500 and never found this one.
    await bulkAgents('ACME-WEB', 'acme', 'newer-', 600);
    const clone = await keyEnroll('clone-host');
    expect(clone.verify.status).toBe('pending_confirmation');
    for (const client of [alice, sam]) {
      const page = await client.get('/console/pending');
      const row = page.text.slice(page.text.indexOf(`data-id="${clone.id}"`));
      expect(row).toContain('Identity collision');
      expect(row).toContain('<strong>original-host</strong>');
    }
  });
});
