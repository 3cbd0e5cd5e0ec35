import { errorEnvelope, ROUTES, type ResponseOf } from '@airlock/schema';
import type { Hono } from 'hono';
import type { AppEnv } from '../http/context.ts';

/** The same bytes every time: built once, not per probe. */
const LIVE_BODY = JSON.stringify({ status: 'ok' } satisfies ResponseOf<'healthz'>);

/** GET /healthz: the process is up. Registered ahead of every middleware (http/app.ts). */
export const registerLivenessRoute = (app: Hono<AppEnv>) => {
  app.get(ROUTES.healthz.path, (c) => c.body(LIVE_BODY, 200, { 'content-type': 'application/json', 'cache-control': 'no-store' }));
};

/** GET /readyz: the database answers and is migrated. */
export const registerHealthRoutes = (app: Hono<AppEnv>, isReady?: () => Promise<boolean>) => {
  app.get(ROUTES.readyz.path, async (c) => {
    const ready = isReady ? await isReady().catch(() => false) : true;
    return ready
      ? c.json({ status: 'ready' } satisfies ResponseOf<'readyz'>)
      : c.json(errorEnvelope('service_unavailable', 'Database unreachable or not migrated'), 503);
  });
};
