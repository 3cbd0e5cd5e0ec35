/**
 * Internal routes of the SSH tunnel endpoint (roles tunnel and admin; the
 * `/api/v1/internal/*` guard in agent-keys.ts applies, see http/auth.ts). Parse, ask the
 * domain, answer.
 */
import { TunnelActiveAgentsRequest, TunnelAuthorizedKeysRequest, TunnelEventRequest, TunnelHostKeysRequest } from '@airlock/schema';
import type { Hono } from 'hono';
import type { Deps } from '../../domain/deps.ts';
import { authorizedKeysFor, recordTunnelEvent, registerHostKeys, stillActive } from '../../domain/tunnel.ts';
import { readJson } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

export const registerTunnelRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.post('/api/v1/internal/tunnel/authorized-keys', async (c) => {
    const body = await readJson(c, TunnelAuthorizedKeysRequest);
    return c.json(await authorizedKeysFor(deps, { fingerprint: body.fingerprint, keyType: body.key_type, key: body.key }));
  });
  app.post('/api/v1/internal/tunnel/host-keys', async (c) => {
    const body = await readJson(c, TunnelHostKeysRequest);
    await registerHostKeys(deps, body.keys, c.get('operator'), c.get('client'));
    return c.body(null, 204);
  });
  app.post('/api/v1/internal/tunnel/events', async (c) => {
    const b = await readJson(c, TunnelEventRequest);
    await recordTunnelEvent(
      deps,
      { event: b.event, fingerprint: b.fingerprint, agentId: b.agent_id?.toLowerCase(), sourceIp: b.source_ip, sourcePort: b.source_port, reason: b.reason },
      c.get('operator'),
      c.get('client'),
    );
    return c.body(null, 204);
  });
  app.post('/api/v1/internal/tunnel/active-agents', async (c) => {
    const body = await readJson(c, TunnelActiveAgentsRequest);
    return c.json(await stillActive(deps, body.agent_ids));
  });
};
