/**
 * The reference the api's own cost is measured against: the smallest Hono
 * app on the same server adapter, answering the same `/healthz`. Started by
 * apps/api/bench/api-bench.ts the same way as the api: bundled by esbuild,
 * run on plain node.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const app = new Hono();
app.get('/healthz', (c) => c.json({ status: 'ok' }));
serve({ fetch: app.fetch, hostname: '127.0.0.1', port: Number(process.env['PORT']) });
