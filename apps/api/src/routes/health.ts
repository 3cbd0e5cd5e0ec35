import { errorEnvelope } from '@airlock/schema';
import type { Hono } from 'hono';
import type { AppEnv } from '../http/context.ts';

/** The same bytes every time: built once, not per probe. */
const LIVE_BODY = JSON.stringify({ status: 'ok' });

/** GET /healthz: the process is up. Registered ahead of every middleware (http/app.ts). */
export const registerLivenessRoute = (app: Hono<AppEnv>) => {
  app.get('/healthz', (c) => c.body(LIVE_BODY, 200, { 'content-type': 'application/json', 'cache-control': 'no-store' }));
};

/** GET /readyz: the database answers and is migrated. */
export const registerHealthRoutes = (app: Hono<AppEnv>, isReady?: () => Promise<boolean>) => {
  app.get('/readyz', async (c) => {
    const ready = isReady ? await isReady().catch(() => false) : true;
    return ready
      ? c.json({ status: 'ready' })
      : c.json(errorEnvelope('service_unavailable', 'Database unreachable or not migrated'), 503);
  });
};
