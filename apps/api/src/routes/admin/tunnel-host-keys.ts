/**
 * The tunnel endpoint's host keys as an admin sees them (issue 18): list
 * them, retire one. Auditors may list (GET); retiring is admin only.
 */
import { RetireHostKeyRequest } from '@airlock/schema';
import type { Hono } from 'hono';
import type { Deps } from '../../domain/deps.ts';
import { listTunnelHostKeys, retireTunnelHostKey } from '../../domain/tunnel.ts';
import { readJson } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

export const registerTunnelHostKeyRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.get('/api/v1/admin/tunnel/host-keys', async (c) => c.json(await listTunnelHostKeys(deps)));
  app.post('/api/v1/admin/tunnel/host-keys/retire', async (c) => {
    const body = await readJson(c, RetireHostKeyRequest);
    return c.json(await retireTunnelHostKey(deps, body.fingerprint, c.get('operator'), c.get('client')));
  });
};
