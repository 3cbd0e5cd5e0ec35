/**
 * Answers of the internal routes (the management server, the tunnel
 * endpoint) and of the admin routes over the endpoint's host keys.
 */
import * as v from 'valibot';
import { HostPort, PemCertificates, Rfc3339, SiteCodeStored, Uuid } from '../formats.ts';
import { AGENT_STATUSES } from '../vocabulary.ts';

/** Whose agent key (or certificate) this is, and the agent's status. */
const agentStanding = { agent_id: Uuid, site_code: SiteCodeStored, status: v.picklist(AGENT_STATUSES) };
export const AgentKeyVerifyResponse = v.object(agentStanding);
export type AgentKeyVerifyResponse = v.InferOutput<typeof AgentKeyVerifyResponse>;
export const CertificateVerifyResponse = v.object(agentStanding);
export type CertificateVerifyResponse = v.InferOutput<typeof CertificateVerifyResponse>;

/** Airlock's CA bundle, PEM, to configure mTLS peers. */
export const CaResponse = v.object({ ca_certificates: PemCertificates });
export type CaResponse = v.InferOutput<typeof CaResponse>;

export const TunnelAuthorizedKey = v.object({
  agent_id: Uuid,
  site_code: SiteCodeStored,
  /** `ssh-ed25519 AAAA…` without comment. */
  public_key: v.string(),
  /** Issue 21: the only port this key may listen on (`permitlisten="127.0.0.1:N"`); null or absent: no -R at all. */
  remote_port: v.optional(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535)))),
});
/** An agent that holds the offered key but is not active (revoked, pending): its key is refused. */
export const TunnelInactiveKeyHolder = v.object({ agent_id: Uuid, site_code: SiteCodeStored, status: v.picklist(AGENT_STATUSES) });

export const TunnelAuthorizedKeysResponse = v.object({
  keys: v.array(TunnelAuthorizedKey),
  permit_open: v.array(HostPort),
  /**
   * Issue 18 (optional, added): agents holding exactly that key that are not
   * active. Lets the endpoint audit a known agent's refused key (bounded)
   * while only counting strangers' keys.
   */
  inactive: v.optional(v.array(TunnelInactiveKeyHolder)),
});
export type TunnelAuthorizedKeysResponse = v.InferOutput<typeof TunnelAuthorizedKeysResponse>;

/** Issue 21: an endpoint's session report, answered with how many agents it holds. */
export const TunnelSessionsResponse = v.object({ connected_agents: v.pipe(v.number(), v.integer()) });
export type TunnelSessionsResponse = v.InferOutput<typeof TunnelSessionsResponse>;

export const TunnelActiveAgentsResponse = v.object({ active: v.array(Uuid) });
export type TunnelActiveAgentsResponse = v.InferOutput<typeof TunnelActiveAgentsResponse>;

/** One of the tunnel endpoint's host keys, retired ones included. */
export const TunnelHostKeyItem = v.object({
  fingerprint: v.string(),
  /** `type base64`. */
  public_key: v.string(),
  registered_by: v.string(),
  registered_at: Rfc3339,
  last_seen_at: Rfc3339,
  retired_at: v.nullable(Rfc3339),
  retired_by: v.nullable(v.string()),
});
export type TunnelHostKeyItem = v.InferOutput<typeof TunnelHostKeyItem>;
export const TunnelHostKeyList = v.object({ items: v.array(TunnelHostKeyItem) });

/** 202 of a lockout report: false when this report_id was already recorded. */
export const LockoutReportResponse = v.object({ recorded: v.boolean() });
