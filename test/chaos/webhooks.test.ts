/**
 * Issue 20 under faults: the api SIGKILLed between the commit of an event and
 * its delivery (the attempt in flight at a receiver that never answers), and
 * Postgres restarted while deliveries wait. Each event still arrives, with
 * the same webhook-id; nothing committed is lost. A private Postgres cluster
 * this file owns, the api as a real process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, signatureMatches, startReceiver, waitFor, type Receiver } from '@airlock/testing';
import { adminClient, createAdminToken, enrollToPollToken, type Admin } from './support/airlock.ts';
import { startPrivatePostgres, type PrivatePostgres } from './support/postgres.ts';
import { apiProcess, type ApiProcess } from './support/processes.ts';

let pg: PrivatePostgres;
let api: ApiProcess;
let admin: Admin;
const receivers: Receiver[] = [];

beforeAll(async () => {
  pg = await startPrivatePostgres();
  const dbUrl = await pg.createDatabase('airlock_chaos_webhooks');
  // A short attempt timeout keeps the lease of a killed replica's claim short (2 × timeout + 5 s).
  api = await apiProcess(dbUrl, { AIRLOCK_WEBHOOK_TIMEOUT_MS: '1000', AIRLOCK_WEBHOOK_POLL_MS: '100', AIRLOCK_WEBHOOK_RETRY_BASE_MS: '200' });
  await api.start();
  admin = adminClient(api.url, await createAdminToken(dbUrl));
});
afterAll(async () => {
  await api?.cleanup();
  await pg?.destroy();
  for (const r of receivers) await r.close();
});

const addWebhook = async (url: string, events: string[]) => {
  const r = await admin.call('POST', '/api/v1/admin/webhooks', { url, events });
  expect(r.status).toBe(201);
  return r.body as { id: string; secret: string };
};

describe('webhooks under faults', () => {
  it('the api SIGKILLed with the attempt in flight: the event still arrives, same webhook-id', async () => {
    const rx = await startReceiver();
    receivers.push(rx);
    // The first attempt of each event hangs: the api dies holding it.
    rx.answer((_r, nth) => (nth === 1 ? 'hang' : 200));
    const hook = await addWebhook(rx.url, ['enrollment.approved']);
    const site = await admin.site('auto', 'WH');
    const code = await admin.code(site, { autoApprove: true });
    const enrolled = await enrollToPollToken(api.url, site, code.code);
    expect(enrolled.pollToken).toBeDefined();
    const first = await waitFor(() => rx.received.find((r) => r.json.type === 'enrollment.approved'), 'the first attempt');
    await api.kill();
    await api.start();
    const again = await waitFor(() => rx.received.find((r, i) => i > rx.received.indexOf(first) && r.id === first.id), 'the event again after the restart', 60_000);
    expect(again.json.data?.enrollment_id).toBe(enrolled.enrollmentId);
    expect(signatureMatches(again, hook.secret)).toBe(true);
    const delivered = await waitFor(async () => {
      const d = await admin.call('GET', `/api/v1/admin/webhooks/${hook.id}/deliveries`);
      return d.body.items[0]?.state === 'delivered' ? d.body.items[0] : null;
    }, 'the delivered state');
    // The killed replica's attempt left no outcome; the restarted one's 2xx is the one recorded.
    expect(delivered).toMatchObject({ event_id: first.id, status_code: 200 });
  });

  it('Postgres restarted while deliveries wait: every event arrives once the receiver is back', async () => {
    const port = await freePort();
    const hook = await addWebhook(`http://127.0.0.1:${port}/later`, ['webhook.test']);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(String((await admin.call('POST', `/api/v1/admin/webhooks/${hook.id}/test`)).body.event_id));
    // Each has failed at least once (nothing listens yet).
    await waitFor(async () => {
      const d = await admin.call('GET', `/api/v1/admin/webhooks/${hook.id}/deliveries`);
      return d.status === 200 && d.body.items.length === 5 && d.body.items.every((x: { attempt: number }) => x.attempt >= 1);
    }, 'a failed attempt for each');
    await pg.stop('fast');
    // The worker notices the outage (it polls every 100 ms) and says so once.
    await waitFor(() => api.proc().output().includes('webhook delivery paused'), 'the worker pausing');
    await pg.start();
    const rx = await startReceiver(port);
    receivers.push(rx);
    await waitFor(() => ids.every((id) => rx.received.some((r) => r.id === id)), 'every event after the restart', 60_000);
    expect(api.proc().output()).toContain('webhook delivery resumed');
  });
});
