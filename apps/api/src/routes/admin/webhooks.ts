import { CreateWebhookRequest, ROUTES, WebhookDeliveriesQuery, type ResponseOf } from '@airlock/schema';
import type { Hono } from 'hono';
import type { Deps } from '../../domain/deps.ts';
import { createWebhook, deleteWebhook, listWebhookDeliveries, listWebhooks, rotateWebhookSecret, testWebhook } from '../../domain/webhooks.ts';
import { readJson, readQuery, uuidParam } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

export const registerWebhookRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.post(ROUTES.createWebhook.path, async (c) => {
    const body = await readJson(c, CreateWebhookRequest);
    return c.json((await createWebhook(deps, body, c.get('operator'), c.get('client'))) satisfies ResponseOf<'createWebhook'>, 201);
  });
  app.get(ROUTES.listWebhooks.path, async (c) => c.json((await listWebhooks(deps, c.get('operator'))) satisfies ResponseOf<'listWebhooks'>));
  app.delete(ROUTES.deleteWebhook.path, async (c) => {
    await deleteWebhook(deps, uuidParam(c, 'id'), c.get('operator'), c.get('client'));
    return c.body(null, 204);
  });
  app.post(ROUTES.testWebhook.path, async (c) =>
    c.json((await testWebhook(deps, uuidParam(c, 'id'), c.get('operator'), c.get('client'))) satisfies ResponseOf<'testWebhook'>, 202),
  );
  app.post(ROUTES.rotateWebhookSecret.path, async (c) =>
    c.json((await rotateWebhookSecret(deps, uuidParam(c, 'id'), c.get('operator'), c.get('client'))) satisfies ResponseOf<'rotateWebhookSecret'>, 201),
  );
  app.get(ROUTES.listWebhookDeliveries.path, async (c) => {
    const q = readQuery(c, WebhookDeliveriesQuery);
    return c.json((await listWebhookDeliveries(deps, uuidParam(c, 'id'), q, c.get('operator'))) satisfies ResponseOf<'listWebhookDeliveries'>);
  });
};
