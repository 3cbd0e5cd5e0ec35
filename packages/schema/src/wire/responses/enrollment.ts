/**
 * Answers of the public routes (enroll, verify, status, and v1.1's agent
 * routes), as the api sends them and as the agent holds them. Objects are
 * not strict: the contract may add optional fields, and a client ignores
 * what it does not know (the api's own answers are checked for undocumented
 * fields in its tests, apps/api/src/http/response-check.ts).
 */
import * as v from 'valibot';
import {
  AgentKeyValue,
  Challenge,
  HostPort,
  KnownHosts,
  NetHost,
  PemCertificate,
  PemCertificates,
  PollInterval,
  PollToken,
  Rfc3339,
  SiteCodeStored,
  UnixUser,
  Uuid,
} from '../formats.ts';
import { VERIFY_STATUSES, WAITING_STATUSES } from '../vocabulary.ts';

/** A challenge to sign, and until when it may be answered. */
const challengeEntries = { challenge: Challenge, expires_at: Rfc3339 };

/** 201 of POST /api/v1/enroll: answer the challenge before expires_at. */
export const EnrollResponse = v.object({ enrollment_id: Uuid, ...challengeEntries });
export type EnrollResponse = v.InferOutput<typeof EnrollResponse>;

/** 200 of POST /api/v1/enroll/verify. */
export const VerifyResponse = v.object({
  status: v.picklist(VERIFY_STATUSES),
  poll_token: PollToken,
  poll_interval: PollInterval,
});
export type VerifyResponse = v.InferOutput<typeof VerifyResponse>;

/** 202 of GET /api/v1/enroll/status: still waiting. */
export const StatusWaitingResponse = v.object({
  status: v.picklist(WAITING_STATUSES),
  poll_interval: PollInterval,
});
export type StatusWaitingResponse = v.InferOutput<typeof StatusWaitingResponse>;

/** `credentials.ssh` (contract v1.1): where the agent's tunnel goes, and the only host keys it trusts there. */
export const SshCredentials = v.object({
  host: NetHost,
  port: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535)),
  user: UnixUser,
  known_hosts: KnownHosts,
  permit_open: v.pipe(v.array(HostPort), v.maxLength(64)),
  /**
   * Contract v1.2 (issue 21): the agent's reverse forward, `-R listen:to`; `listen` is on the
   * endpoint's loopback, `to` on the appliance. Empty when none is configured or the port range
   * is exhausted; absent from servers before v1.2.
   */
  remote_forwards: v.optional(v.pipe(v.array(v.object({ listen: HostPort, to: HostPort })), v.maxLength(1)), []),
});
export type SshCredentials = v.InferOutput<typeof SshCredentials>;

/** `credentials.tls` (v1.1): the agent's certificate and the CA bundle to trust, both PEM. */
export const TlsCredentials = v.object({
  certificate: PemCertificate,
  ca_certificates: PemCertificates,
  expires_at: Rfc3339,
});
export type TlsCredentials = v.InferOutput<typeof TlsCredentials>;

/** What an agent is handed; `agentKey` is the schema of `agent_key` (always set in the status answer). */
const credentialsOf = <K extends v.GenericSchema>(agentKey: K) =>
  v.object({
    agent_key: agentKey,
    ssh: v.nullable(SshCredentials),
    tls: v.nullable(TlsCredentials),
  });

/** `credentials` of POST /api/v1/agent/credentials: `agent_key` null unless it was rotated or recovered. */
export const AgentCredentials = credentialsOf(v.nullable(AgentKeyValue));
export type AgentCredentials = v.InferOutput<typeof AgentCredentials>;

/** 200 of GET /api/v1/enroll/status: approved; the first successful read only. */
export const StatusApprovedResponse = v.object({
  status: v.literal('approved'),
  agent_id: Uuid,
  site_code: SiteCodeStored,
  credentials: credentialsOf(AgentKeyValue),
});
export type StatusApprovedResponse = v.InferOutput<typeof StatusApprovedResponse>;

/** 201 of POST /api/v1/agent/challenge (60 s). */
export const AgentChallengeResponse = v.object({ challenge_id: Uuid, ...challengeEntries });
export type AgentChallengeResponse = v.InferOutput<typeof AgentChallengeResponse>;

/** 200 of POST /api/v1/agent/credentials. */
export const AgentCredentialsResponse = v.object({
  agent_id: Uuid,
  site_code: SiteCodeStored,
  credentials: AgentCredentials,
});
export type AgentCredentialsResponse = v.InferOutput<typeof AgentCredentialsResponse>;
