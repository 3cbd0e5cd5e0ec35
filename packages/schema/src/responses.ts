/** Response bodies of the public routes, shared by the api (producer) and the agent (consumer). */
export interface EnrollResponse {
  enrollment_id: string;
  challenge: string;
  expires_at: string;
}

export type VerifyStatus = 'awaiting_approval' | 'approved' | 'pending_confirmation';
export interface VerifyResponse {
  status: VerifyStatus;
  poll_token: string;
  poll_interval: number;
}

export interface StatusWaitingResponse {
  status: 'awaiting_approval' | 'pending_confirmation';
  poll_interval: number;
}

/** v1.1: the agent's certificate and the CA bundle to trust, both PEM. */
export interface TlsCredentials {
  certificate: string;
  ca_certificates: string;
  expires_at: string;
}

/** What an agent is handed: by the approved status answer (agent_key always set) and by the credentials route. */
export interface AgentCredentials {
  agent_key: string | null;
  ssh: null | Record<string, unknown>;
  tls: TlsCredentials | null;
}

export interface StatusApprovedResponse {
  status: 'approved';
  agent_id: string;
  site_code: string;
  credentials: AgentCredentials & { agent_key: string };
}

export interface AgentChallengeResponse {
  challenge_id: string;
  challenge: string;
  expires_at: string;
}

export interface AgentCredentialsResponse {
  agent_id: string;
  site_code: string;
  credentials: AgentCredentials;
}

export interface CaResponse {
  ca_certificates: string;
}

export interface CertificateVerifyResponse {
  agent_id: string;
  site_code: string;
  status: 'active' | 'revoked' | 'pending_confirmation';
}

export interface AgentKeyVerifyResponse {
  agent_id: string;
  site_code: string;
  status: 'active' | 'revoked' | 'pending_confirmation';
}
