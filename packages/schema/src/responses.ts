import type { SshCredentials } from './tunnel.ts';
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

export interface StatusApprovedResponse {
  status: 'approved';
  agent_id: string;
  site_code: string;
  credentials: { agent_key: string; ssh: null | SshCredentials };
}

export interface AgentKeyVerifyResponse {
  agent_id: string;
  site_code: string;
  status: 'active' | 'revoked' | 'pending_confirmation';
}
