/**
 * The tunnel endpoint's host keys as an admin sees them (issue 18): list
 * them, retire one. Auditors may list (GET); retiring is admin only.
 */
import { RetireHostKeyRequest, ROUTES, type ResponseOf } from '@airlock/schema';
import type { Hono } from 'hono';
import type { Deps } from '../../domain/deps.ts';
import { listTunnelHostKeys, retireTunnelHostKey } from '../../domain/tunnel.ts';
import { readJson } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

export const registerTunnelHostKeyRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.get(ROUTES.listTunnelHostKeys.path, async (c) => c.json((await listTunnelHostKeys(deps)) satisfies ResponseOf<'listTunnelHostKeys'>));
  app.post(ROUTES.retireTunnelHostKey.path, async (c) => {
    const body = await readJson(c, RetireHostKeyRequest);
    return c.json((await retireTunnelHostKey(deps, body.fingerprint, c.get('operator'), c.get('client'))) satisfies ResponseOf<'retireTunnelHostKey'>);
  });
};
