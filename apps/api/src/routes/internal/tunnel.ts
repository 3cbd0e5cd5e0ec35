/**
 * Internal routes of the SSH tunnel endpoint (roles tunnel and admin; the
 * `/api/v1/internal/*` guard in agent-keys.ts applies, see http/auth.ts). Parse, ask the
 * domain, answer.
 */
import { ROUTES, TUNNEL_SESSIONS_MAX_BYTES, TunnelActiveAgentsRequest, TunnelAuthorizedKeysRequest, TunnelEventRequest, TunnelHostKeysRequest, TunnelSessionsRequest, type ResponseOf } from '@airlock/schema';
import type { Hono } from 'hono';
import type { Deps } from '../../domain/deps.ts';
import { authorizedKeysFor, recordTunnelEvent, registerHostKeys, stillActive } from '../../domain/tunnel.ts';
import { reportTunnelSessions } from '../../domain/tunnel-state.ts';
import { readJson } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

export const registerTunnelRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.post(ROUTES.tunnelAuthorizedKeys.path, async (c) => {
    const body = await readJson(c, TunnelAuthorizedKeysRequest);
    const keys = await authorizedKeysFor(deps, { fingerprint: body.fingerprint, keyType: body.key_type, key: body.key });
    return c.json(keys satisfies ResponseOf<'tunnelAuthorizedKeys'>);
  });
  app.post(ROUTES.tunnelHostKeys.path, async (c) => {
    const body = await readJson(c, TunnelHostKeysRequest);
    await registerHostKeys(deps, body.keys, c.get('operator'), c.get('client'));
    return c.body(null, 204);
  });
  app.post(ROUTES.tunnelEvent.path, async (c) => {
    const b = await readJson(c, TunnelEventRequest);
    await recordTunnelEvent(
      deps,
      { event: b.event, fingerprint: b.fingerprint, agentId: b.agent_id?.toLowerCase(), sourceIp: b.source_ip, sourcePort: b.source_port, reason: b.reason },
      c.get('operator'),
      c.get('client'),
    );
    return c.body(null, 204);
  });
  app.post(ROUTES.tunnelSessions.path, async (c) => {
    // Every session the endpoint holds, in one report: a larger body than other routes take.
    const b = await readJson(c, TunnelSessionsRequest, 'request.invalid', TUNNEL_SESSIONS_MAX_BYTES);
    const sessions = b.sessions.map((s) => ({ session: s.session, agentId: s.agent_id.toLowerCase(), sourceIp: s.source_ip, openedAt: new Date(s.opened_at) }));
    const r = await reportTunnelSessions(deps, { endpoint: b.endpoint, leaseSeconds: b.lease_seconds, sessions }, c.get('operator'), c.get('client'));
    return c.json({ connected_agents: r.connected } satisfies ResponseOf<'tunnelSessions'>);
  });
  app.post(ROUTES.tunnelActiveAgents.path, async (c) => {
    const body = await readJson(c, TunnelActiveAgentsRequest);
    return c.json((await stillActive(deps, body.agent_ids)) satisfies ResponseOf<'tunnelActiveAgents'>);
  });
};
