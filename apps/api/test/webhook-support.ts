/** Webhook steps over HTTP against a test api (the receiver is @airlock/testing's). */
import { expect } from 'vitest';
import type { TestApi } from '@airlock/api/testing';

export const addWebhook = async (t: TestApi, body: Record<string, unknown>) => {
  const r = await t.admin('post', '/api/v1/admin/webhooks').send(body);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body as { id: string; secret: string; url: string };
};

export const deliveries = async (t: TestApi, webhookId: string) => {
  const r = await t.admin('get', `/api/v1/admin/webhooks/${webhookId}/deliveries?limit=200`);
  expect(r.status).toBe(200);
  return r.body.items as { event_id: string; event_type: string; attempt: number; state: string; status_code: number | null; error: string | null }[];
};
