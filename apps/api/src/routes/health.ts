import { errorEnvelope } from '@airlock/schema';
import type { Hono } from 'hono';
import type { AppEnv } from '../http/context.ts';

export const registerHealthRoutes = (app: Hono<AppEnv>, isReady?: () => Promise<boolean>) => {
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const ready = isReady ? await isReady().catch(() => false) : true;
    return ready
      ? c.json({ status: 'ready' })
      : c.json(errorEnvelope('service_unavailable', 'Database unreachable or not migrated'), 503);
  });
};
