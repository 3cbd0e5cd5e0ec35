/**
 * The reference the api's own cost is measured against: the smallest Hono
 * app on the same server adapter, answering the same `/healthz`. Started by
 * scripts/bench/api-bench.ts with the same runner as the api.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const app = new Hono();
app.get('/healthz', (c) => c.json({ status: 'ok' }));
serve({ fetch: app.fetch, hostname: '127.0.0.1', port: Number(process.env['PORT']) });
