/**
 * Webhook delivery with two api replicas on one database (each runs a
 * worker): every event is delivered, and no two attempts for one event are
 * ever in flight at once; and the same pipeline on embedded PGlite (the
 * audit trigger runs there too).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver, waitFor, type Receiver } from '@airlock/testing';
import { createSite, enrollAndVerify, startTestApi, type TestApi } from '@airlock/api/testing';
import { addWebhook, deliveries } from './webhook-support.ts';

describe('two replicas on one database', () => {
  let a: TestApi;
  let b: TestApi;
  let rx: Receiver;
  beforeAll(async () => {
    const env = { AIRLOCK_WEBHOOK_POLL_MS: '20', AIRLOCK_WEBHOOK_RETRY_BASE_MS: '50' };
    a = await startTestApi({ env });
    b = await startTestApi({ env, shareDatabaseOf: a });
    rx = await startReceiver();
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await rx?.close();
  });

  it('sends every event, never two attempts of one event at once', async () => {
    // One failure per event: the retry is a second chance for the other replica to race in.
    rx.answer((_r, nth) => (nth === 1 ? 503 : 200));
    const w = await addWebhook(a, { url: rx.url, events: ['webhook.test'] });
    const ids = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const r = await (i % 2 ? a : b).admin('post', `/api/v1/admin/webhooks/${w.id}/test`);
        expect(r.status).toBe(202);
        return r.body.event_id as string;
      }),
    );
    await waitFor(async () => (await deliveries(a, w.id)).filter((d) => d.state === 'delivered').length === ids.length, 'every event delivered', 60_000);
    expect(rx.maxConcurrentPerId).toBe(1);
    for (const id of ids) {
      const attempts = rx.received.filter((r) => r.id === id);
      // One refused attempt, one delivered: never a duplicate from the other replica.
      expect(attempts.length, id).toBe(2);
    }
    expect((await deliveries(b, w.id)).every((d) => d.attempt === 2)).toBe(true);
  });
});

describe('embedded Postgres (PGlite)', () => {
  let t: TestApi;
  let rx: Receiver;
  beforeAll(async () => {
    t = await startTestApi({ embedded: true, env: { AIRLOCK_WEBHOOK_POLL_MS: '50' } });
    rx = await startReceiver();
    await createSite(t, 'EMBED');
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await rx?.close();
  });

  it('runs the audit trigger and delivers from the outbox', async () => {
    await addWebhook(t, { url: rx.url, events: ['enrollment.pending', 'enrollment.approved'] });
    const { enrollmentId } = await enrollAndVerify(t, 'EMBED');
    await waitFor(() => rx.received.find((r) => r.json.type === 'enrollment.pending' && r.json.data?.enrollment_id === enrollmentId), 'enrollment.pending');
    expect((await t.admin('post', `/api/v1/admin/enrollments/${enrollmentId}/approve`).send({})).status).toBe(200);
    const approved = await waitFor(() => rx.received.find((r) => r.json.type === 'enrollment.approved'), 'enrollment.approved');
    expect(approved.json.data).toMatchObject({ approved_by: 'alice', enrollment_id: enrollmentId, site_code: 'EMBED' });
  });
});
