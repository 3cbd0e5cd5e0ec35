/** The console's Webhooks page (admins only), at the HTTP level: add (secret shown once), send test, recent deliveries, delete. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleClient, signatureMatches, startReceiver, waitFor, type Receiver } from '@airlock/testing';
import { startTestApi, type TestApi } from '@airlock/api/testing';
import { setOperatorPassword } from '../src/domain/console-sessions.ts';

const PW = 'webhooks page password';
let t: TestApi;
let rx: Receiver;
let admin: ConsoleClient;
let auditor: ConsoleClient;

beforeAll(async () => {
  t = await startTestApi({ env: { AIRLOCK_WEBHOOK_POLL_MS: '50' } });
  rx = await startReceiver();
  await setOperatorPassword(t.api.deps.db, t.clock, 'alice', PW, 'test', null);
  await setOperatorPassword(t.api.deps.db, t.clock, 'audrey', PW, 'test', null);
  admin = new ConsoleClient(t.api.url);
  auditor = new ConsoleClient(t.api.url);
  expect((await admin.signIn('alice', PW)).status).toBe(303);
  expect((await auditor.signIn('audrey', PW)).status).toBe(303);
});
afterAll(async () => {
  await t.close();
  await rx.close();
});

const idOf = (html: string) => /action="\/console\/webhooks\/([0-9a-f-]{36})\/test"/.exec(html)?.[1];

describe('console Webhooks page', () => {
  it('is linked and served for admins only', async () => {
    expect((await admin.get('/console/pending')).text).toContain('>Webhooks</a>');
    expect((await auditor.get('/console/pending')).text).not.toContain('>Webhooks</a>');
    expect((await auditor.get('/console/webhooks')).status).toBe(403);
    await auditor.get('/console/pending');
    expect((await auditor.post('/console/webhooks', { url: rx.url, events: '*' })).status).toBe(403);
  });

  it('adds a webhook (secret shown once), sends a test, lists its delivery, deletes it', async () => {
    const page = await admin.get('/console/webhooks');
    expect(page.status).toBe(200);
    expect(page.text).toContain('Add webhook');
    const added = await admin.post('/console/webhooks', { url: rx.url, events: 'webhook.test, agent.revoked', format: 'standard', site_code: '', description: 'ops' });
    expect(added.status).toBe(201);
    const secret = /(whsec_[A-Za-z0-9+/=]{44})/.exec(added.text)?.[1];
    expect(secret).toBeDefined();
    const again = await admin.get('/console/webhooks');
    expect(again.text).not.toContain(secret!.slice(6));
    const id = idOf(again.text);
    expect(id).toBeDefined();

    expect((await admin.post(`/console/webhooks/${id}/test`)).status).toBe(303);
    const got = await waitFor(() => rx.received.find((r) => r.json.type === 'webhook.test'), 'the test event');
    expect(signatureMatches(got, secret!)).toBe(true);
    const listed = await waitFor(async () => {
      const p = await admin.get('/console/webhooks');
      return p.text.includes('badge-delivered') ? p.text : null;
    }, 'the delivery on the page');
    expect(listed).toContain('webhook.test');

    await admin.get('/console/webhooks');
    expect((await admin.post(`/console/webhooks/${id}/delete`)).status).toBe(303);
    expect((await admin.get('/console/webhooks')).text).not.toContain(rx.url);
  });

  it('refuses a metadata URL with the field named', async () => {
    await admin.get('/console/webhooks');
    const r = await admin.post('/console/webhooks', { url: 'http://169.254.169.254/latest', events: '*' });
    expect(r.status).toBe(400);
  });
});
