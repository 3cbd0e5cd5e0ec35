/**
 * The SSH tunnel endpoint's questions: whose key is this, which host keys
 * does the endpoint present, what happened to a connection, who is still
 * allowed. Decisions only; SQL lives in store/tunnel.ts.
 */
import { sshFingerprint } from '@airlock/crypto';
import type { SshCredentials, TunnelActiveAgentsResponse, TunnelAuthorizedKeysResponse, TunnelHostKeyItem } from '@airlock/schema';
import type { Executor } from '../db/client.ts';
import { ApiError } from '../errors.ts';
import {
  activeAgentIds,
  agentForTunnel,
  agentsByFingerprint,
  latestAgentByFingerprint,
  listAllHostKeys,
  listHostKeys,
  retiredHostKeys,
  retireHostKey,
  touchAgentForTunnel,
  upsertHostKeys,
} from '../store/tunnel.ts';
import { recordAudit } from './audit.ts';
import { remoteForwardFor } from './tunnel-state.ts';
import type { Actor, Client, Deps } from './deps.ts';

/**
 * Active agents whose enrolled key is the offered one. sshd passes both the
 * fingerprint and the key blob; both must match the enrolled key. Holders of
 * that exact key that are not active are named in `inactive`.
 */
export const authorizedKeysFor = async (
  deps: Deps,
  q: { fingerprint: string; keyType?: string | undefined; key?: string | undefined },
): Promise<TunnelAuthorizedKeysResponse> => {
  const permitOpen = deps.config.sshEndpoint?.permitOpen ?? [];
  // No tunnel configured, or a key type agents never enroll: nobody, and no query.
  if (permitOpen.length === 0 || (q.keyType !== undefined && q.keyType !== 'ssh-ed25519')) return { keys: [], permit_open: permitOpen, inactive: [] };
  const rows = (await agentsByFingerprint(deps.db, q.fingerprint, deps.config.sshEndpoint?.remoteTarget != null))
    .map((r) => ({ ...r, publicKey: r.publicKey.split(' ').slice(0, 2).join(' ') }))
    .filter((r) => q.key === undefined || r.publicKey === `ssh-ed25519 ${q.key}`);
  return {
    keys: rows
      .filter((r) => r.status === 'active')
      .map((r) => ({ agent_id: r.id, site_code: r.siteCode, public_key: r.publicKey, remote_port: r.remotePort })),
    permit_open: permitOpen,
    inactive: rows.filter((r) => r.status !== 'active').map((r) => ({ agent_id: r.id, site_code: r.siteCode, status: r.status })),
  };
};

const hostKeyFingerprint = (line: string): string => sshFingerprint(Buffer.from(line.split(' ')[1] ?? '', 'base64'));

/**
 * The endpoint's host keys, pushed at its start; `last_seen_at` says which
 * are current. A key seen for the first time is audited
 * (`tunnel.host_key_added`); a key an admin retired is refused (409,
 * audited as `tunnel.host_key_refused`) and changes nothing: only a new key
 * brings the endpoint back.
 */
export const registerHostKeys = async (deps: Deps, keys: string[], actor: Actor, client: Client): Promise<void> => {
  const unique = [...new Set(keys)];
  await deps.db.transaction(async (tx) => {
    const retired = await retiredHostKeys(tx, unique);
    if (retired.length > 0) {
      throw new ApiError('conflict', 'This host key was retired by an operator; give the tunnel endpoint a new host key', {
        audit: { eventType: 'tunnel.host_key_refused', details: { fingerprints: retired.map(hostKeyFingerprint), reason: 'retired' } },
      });
    }
    const added = await upsertHostKeys(tx, unique, actor.name, deps.clock.now());
    for (const key of added) {
      await recordAudit(tx, deps, client, {
        eventType: 'tunnel.host_key_added',
        actor: actor.name,
        details: { fingerprint: hostKeyFingerprint(key), public_key: key },
      });
    }
  });
};

const hostKeyItem = (r: Awaited<ReturnType<typeof listAllHostKeys>>[number]): TunnelHostKeyItem => ({
  fingerprint: hostKeyFingerprint(r.publicKey),
  public_key: r.publicKey,
  registered_by: r.registeredBy,
  registered_at: r.registeredAt.toISOString(),
  last_seen_at: r.lastSeenAt.toISOString(),
  retired_at: r.retiredAt?.toISOString() ?? null,
  retired_by: r.retiredBy ?? null,
});

/** Every host key the api knows, retired ones included. */
export const listTunnelHostKeys = async (deps: Deps): Promise<{ items: TunnelHostKeyItem[] }> => ({
  items: (await listAllHostKeys(deps.db)).map(hostKeyItem),
});

/** Retires one host key (by its SHA256 fingerprint): out of known_hosts at once, never registered again. */
export const retireTunnelHostKey = async (deps: Deps, fingerprint: string, actor: Actor, client: Client): Promise<TunnelHostKeyItem> =>
  deps.db.transaction(async (tx) => {
    const row = (await listAllHostKeys(tx)).find((r) => hostKeyFingerprint(r.publicKey) === fingerprint);
    if (!row) throw new ApiError('not_found', 'No host key with this fingerprint');
    const retired = await retireHostKey(tx, row.publicKey, actor.name, deps.clock.now());
    if (!retired) throw new ApiError('invalid_state', 'This host key is already retired');
    await recordAudit(tx, deps, client, { eventType: 'tunnel.host_key_retired', actor: actor.name, details: { fingerprint, public_key: row.publicKey } });
    return hostKeyItem(retired);
  });

const knownHostsName = (host: string, port: number) => (port === 22 ? host : `[${host.replace(/^\[|\]$/g, '')}]:${port}`);

/**
 * `credentials.ssh` for an approved agent, or null when no endpoint is
 * configured; with a reverse target, the agent's port (allocated once, kept).
 */
export const sshCredentials = async (
  db: Executor,
  deps: Pick<Deps, 'config' | 'logger' | 'clock' | 'metrics'>,
  agent: { agentId: string; siteCode: string },
  client: Client | null,
): Promise<SshCredentials | null> => {
  const ep = deps.config.sshEndpoint;
  if (!ep) return null;
  const reverse = await remoteForwardFor(db, deps, agent, client);
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
    remote_forwards: reverse ? [reverse] : [],
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
 * One audit row per session event, carrying the agent's real address (the
 * tunnel resolved it through the edge). An open moves `last_seen_at` of an
 * active agent only; an open seen for an agent revoked meanwhile is still
 * written (it happened), and the endpoint cuts that session.
 */
export const recordTunnelEvent = async (deps: Deps, e: TunnelEvent, actor: Actor, client: Client): Promise<void> => {
  await deps.db.transaction(async (tx) => {
    const now = deps.clock.now();
    let agent: { id: string; siteCode: string; status: string } | null;
    if (e.event === 'denied') {
      agent = await latestAgentByFingerprint(tx, e.fingerprint);
    } else {
      if (e.agentId === undefined) throw new ApiError('invalid_request', 'Invalid request', { fields: { agent_id: 'is required' } });
      agent =
        (e.event === 'opened' ? await touchAgentForTunnel(tx, e.agentId, e.fingerprint, now) : null) ??
        (await agentForTunnel(tx, e.agentId, e.fingerprint));
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
