/**
 * Webhooks that keep failing: a delivery past the retry window is `failed`,
 * an endpoint failing past AIRLOCK_WEBHOOK_DISABLE_AFTER_SECONDS is disabled
 * and audited, a redirect is a failure (never followed), and the metrics say
 * so. The windows are shortened here (24 h and 5 days by default, docs/alerts.md).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver, waitFor, type Receiver } from '@airlock/testing';
import { startTestApi, type TestApi } from '@airlock/api/testing';
import { addWebhook, deliveries } from './webhook-support.ts';

let t: TestApi;
let rx: Receiver;
beforeAll(async () => {
  t = await startTestApi({
    env: {
      AIRLOCK_WEBHOOK_POLL_MS: '50',
      AIRLOCK_WEBHOOK_RETRY_BASE_MS: '100',
      AIRLOCK_WEBHOOK_RETRY_WINDOW_SECONDS: '2',
      AIRLOCK_WEBHOOK_DISABLE_AFTER_SECONDS: '3',
    },
  });
  rx = await startReceiver();
});
afterAll(async () => {
  await t.close();
  await rx.close();
});

describe('giving up', () => {
  it('a redirect is not followed: the attempt fails with its status', async () => {
    const redirected = await startReceiver();
    redirected.answer(() => 302);
    const w = await addWebhook(t, { url: redirected.url, events: ['webhook.test'] });
    await t.admin('post', `/api/v1/admin/webhooks/${w.id}/test`);
    const d = await waitFor(async () => (await deliveries(t, w.id)).find((x) => x.attempt >= 1), 'an attempt');
    expect(d).toMatchObject({ status_code: 302, error: 'HTTP 302' });
    expect(redirected.received.length).toBeGreaterThanOrEqual(1);
    await redirected.close();
  });

  it('fails a delivery after the retry window, then disables the endpoint and audits it; the metrics count both', async () => {
    rx.answer(() => 500);
    const w = await addWebhook(t, { url: rx.url, events: ['webhook.test'] });
    const first = await t.admin('post', `/api/v1/admin/webhooks/${w.id}/test`);
    const failed = await waitFor(async () => (await deliveries(t, w.id)).find((x) => x.state === 'failed'), 'the failed state', 30_000);
    expect(failed).toMatchObject({ event_id: first.body.event_id, status_code: 500, next_attempt_at: null });
    expect(failed.attempt).toBeGreaterThan(1);
    // Still failing past the disable threshold: the next failure disables it.
    await waitFor(async () => {
      await t.admin('post', `/api/v1/admin/webhooks/${w.id}/test`);
      const listed = (await t.admin('get', '/api/v1/admin/webhooks')).body.items.find((x: { id: string }) => x.id === w.id);
      return listed.disabled_at !== null;
    }, 'the endpoint disabled', 30_000);
    const audit = await t.admin('get', '/api/v1/admin/audit?event_type=webhook.disabled');
    expect(audit.body.items).toHaveLength(1);
    expect(audit.body.items[0]).toMatchObject({ actor: 'system', details: { webhook_id: w.id, reason: 'failing' } });
    // Disabled: nothing more is sent to it.
    const before = rx.received.length;
    const quiet = await startReceiver();
    const other = await addWebhook(t, { url: quiet.url, events: ['webhook.test'] });
    const probe = await t.admin('post', `/api/v1/admin/webhooks/${other.id}/test`);
    await waitFor(() => quiet.received.find((r) => r.id === probe.body.event_id), 'another endpoint still served');
    expect(rx.received.length).toBe(before);
    await quiet.close();

    // The 2xx is counted once recorded, a moment after the receiver answered it.
    const text = await waitFor(async () => {
      const m = await t.api.deps.metrics!.registry.metrics();
      return /api_webhook_deliveries_total\{result="delivered"\} [1-9]/.test(m) ? m : null;
    }, 'the delivered count');
    expect(text).toMatch(/api_webhook_deliveries_total\{result="failed"\} [1-9]/);
    expect(text).toMatch(/api_webhook_deliveries_total\{result="retrying"\} [1-9]/);
    expect(text).toMatch(/api_webhook_failed_deliveries [1-9]/);
    expect(text).toMatch(/api_webhook_outbox_lag_seconds \d/);
  });
});
