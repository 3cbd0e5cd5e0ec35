/**
 * The SSH tunnel endpoint's questions: whose key is this, which host keys
 * does the endpoint present, what happened to a connection, who is still
 * allowed. Decisions only; SQL lives in store/tunnel.ts.
 */
import type { SshCredentials, TunnelActiveAgentsResponse, TunnelAuthorizedKeysResponse } from '@airlock/schema';
import type { Executor } from '../db/client.ts';
import { ApiError } from '../errors.ts';
import {
  activeAgentIds,
  activeAgentsByFingerprint,
  agentForTunnel,
  latestAgentByFingerprint,
  listHostKeys,
  touchAgentForTunnel,
  upsertHostKeys,
} from '../store/tunnel.ts';
import { recordAudit } from './audit.ts';
import type { Actor, Client, Deps } from './deps.ts';

/**
 * Active agents whose enrolled key is the offered one. sshd passes both the
 * fingerprint and the key blob; both must match the enrolled key.
 */
export const authorizedKeysFor = async (
  deps: Deps,
  q: { fingerprint: string; keyType?: string | undefined; key?: string | undefined },
): Promise<TunnelAuthorizedKeysResponse> => {
  const permitOpen = deps.config.sshEndpoint?.permitOpen ?? [];
  // No tunnel configured, or a key type agents never enroll: nobody, and no query.
  if (permitOpen.length === 0 || (q.keyType !== undefined && q.keyType !== 'ssh-ed25519')) return { keys: [], permit_open: permitOpen };
  const rows = await activeAgentsByFingerprint(deps.db, q.fingerprint);
  const keys = rows
    .map((r) => ({ agent_id: r.id, site_code: r.siteCode, public_key: r.publicKey.split(' ').slice(0, 2).join(' ') }))
    .filter((k) => q.key === undefined || k.public_key === `ssh-ed25519 ${q.key}`);
  return { keys, permit_open: permitOpen };
};

/** The endpoint's host keys, pushed at its start; `last_seen_at` says which are current. */
export const registerHostKeys = async (deps: Deps, keys: string[], actor: Actor, client: Client): Promise<void> => {
  await deps.db.transaction(async (tx) => {
    await upsertHostKeys(tx, [...new Set(keys)], actor.name, deps.clock.now());
    await recordAudit(tx, deps, client, { eventType: 'tunnel.host_keys_registered', actor: actor.name, details: { count: keys.length } });
  });
};

const knownHostsName = (host: string, port: number) => (port === 22 ? host : `[${host.replace(/^\[|\]$/g, '')}]:${port}`);

/** `credentials.ssh` for an approved agent, or null when no endpoint is configured. */
export const sshCredentials = async (db: Executor, deps: Pick<Deps, 'config' | 'logger'>): Promise<SshCredentials | null> => {
  const ep = deps.config.sshEndpoint;
  if (!ep) return null;
  const hostKeys = await listHostKeys(db);
  // Issued anyway: the agent refuses to connect without a host key rather than trust one blindly.
  if (hostKeys.length === 0) deps.logger.warn('credentials.ssh issued without host keys: the tunnel endpoint has not registered yet');
  const name = knownHostsName(ep.host, ep.port);
  return {
    host: ep.host.replace(/^\[|\]$/g, ''),
    port: ep.port,
    user: ep.user,
    known_hosts: hostKeys.map((k) => `${name} ${k}\n`).join(''),
    permit_open: ep.permitOpen,
  };
};

export interface TunnelEvent {
  event: 'opened' | 'closed' | 'denied';
  fingerprint: string;
  agentId?: string | undefined;
  sourceIp: string;
  sourcePort?: number | undefined;
  reason?: string | undefined;
}

/**
 * One audit row per connection event, carrying the agent's real address (the
 * tunnel resolved it through the edge). An open moves `last_seen_at`.
 */
export const recordTunnelEvent = async (deps: Deps, e: TunnelEvent, actor: Actor, client: Client): Promise<void> => {
  await deps.db.transaction(async (tx) => {
    const now = deps.clock.now();
    let agent: { id: string; siteCode: string; status: string } | null;
    if (e.event === 'denied') {
      agent = await latestAgentByFingerprint(tx, e.fingerprint);
    } else {
      if (e.agentId === undefined) throw new ApiError('invalid_request', 'Invalid request', { fields: { agent_id: 'is required' } });
      agent = e.event === 'opened' ? await touchAgentForTunnel(tx, e.agentId, e.fingerprint, now) : await agentForTunnel(tx, e.agentId, e.fingerprint);
      if (!agent) throw new ApiError('not_found', 'No agent with this id holds this key');
    }
    await recordAudit(
      tx,
      deps,
      { ...client, ip: e.sourceIp, userAgent: null },
      {
        eventType: `tunnel.${e.event}`,
        actor: actor.name,
        siteCode: agent?.siteCode ?? null,
        agentId: agent?.id ?? null,
        details: {
          fingerprint: e.fingerprint,
          ...(e.sourcePort !== undefined ? { source_port: e.sourcePort } : {}),
          ...(e.reason !== undefined ? { reason: e.reason } : {}),
          // Who reported it, from where: the endpoint's own address, not the agent's.
          reported_from: client.ip,
        },
      },
    );
  });
};

export const stillActive = async (deps: Deps, ids: string[]): Promise<TunnelActiveAgentsResponse> => ({
  active: await activeAgentIds(deps.db, [...new Set(ids.map((i) => i.toLowerCase()))]),
});
