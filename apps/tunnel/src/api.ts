/**
 * The tunnel's calls to the api's internal routes, with its `tunnel` token,
 * through @airlock/client: the same transport as the CLI, so an https:// api
 * is checked against TUNNEL_API_CA and/or TUNNEL_API_PIN before a byte of
 * the request (and its token) is written (issue 18, finding 9).
 */
import { AirlockClient, ApiRequestError, ApiUnreachableError } from '@airlock/client';
import type { TunnelAuthorizedKeysResponse, TunnelEventRequest, TunnelSessionsRequest } from '@airlock/schema';
import type { InferInput } from 'valibot';
import { TUNNEL_TOKEN_HOWTO, type TunnelConfig } from './env.ts';

/** The api could not answer now (unreachable, TLS, timeout, 5xx): worth retrying. */
class ApiUnavailable extends Error {
  override readonly name = 'ApiUnavailable';
}

/** The api refused us for good (token, role, a retired host key): retrying changes nothing. */
export class ApiRefused extends Error {
  override readonly name = 'ApiRefused';
}

export type TunnelEvent = InferInput<typeof TunnelEventRequest>;

export interface TunnelApi {
  /** Fails with ApiRefused, naming the fix, when the token is unknown or lacks the tunnel role. */
  checkAccess(): Promise<void>;
  registerHostKeys(keys: string[]): Promise<void>;
  authorizedKeys(q: { fingerprint: string; keyType: string; key: string }): Promise<TunnelAuthorizedKeysResponse>;
  event(e: TunnelEvent): Promise<void>;
  activeAgents(ids: string[]): Promise<Set<string>>;
  /** Issue 21: every session held now, and the lease that keeps them counted. */
  reportSessions(r: TunnelSessionsReport): Promise<void>;
}

export type TunnelSessionsReport = InferInput<typeof TunnelSessionsRequest>;

const refusal = (err: ApiRequestError): string => {
  if (err.status === 401) return `the api did not accept TUNNEL_API_TOKEN (unknown or disabled operator); make ${TUNNEL_TOKEN_HOWTO}`;
  if (err.status === 403) {
    return `TUNNEL_API_TOKEN may not call the tunnel routes (${err.message}): since issue 18 the endpoint needs ${TUNNEL_TOKEN_HOWTO}, in TUNNEL_API_TOKEN`;
  }
  if (err.code === 'conflict') {
    return `the api refuses this endpoint's host key: an operator retired it (${err.message}); remove the host key file and its .pub and restart, and a new key is made`;
  }
  return `${err.status} ${err.code}: ${err.message}`;
};

/** Turns the client's errors into the two kinds the tunnel acts on; never echoes a body. */
const classify = (err: unknown): Error => {
  if (err instanceof ApiRequestError) {
    if (err.status === 401 || err.status === 403 || err.code === 'conflict') return new ApiRefused(refusal(err));
    return new ApiUnavailable(`answered ${err.status} ${err.code}`);
  }
  if (err instanceof ApiUnreachableError) return new ApiUnavailable(err.reason);
  return new ApiUnavailable(err instanceof Error ? err.message : 'unknown error');
};

const call = async <T>(f: () => Promise<T>): Promise<T> => {
  try {
    return await f();
  } catch (err) {
    throw classify(err);
  }
};

export const createTunnelApi = (config: Pick<TunnelConfig, 'apiUrl' | 'apiToken' | 'apiTimeoutMs' | 'apiTrust'>): TunnelApi => {
  const client = new AirlockClient({
    baseUrl: new URL(config.apiUrl),
    token: config.apiToken,
    trust: config.apiTrust,
    timeoutMs: config.apiTimeoutMs,
    userAgent: 'airlock-tunnel',
  });
  const activeAgents = async (ids: string[]) => {
    const active = new Set<string>();
    // The api takes at most 400 ids per call (16 KiB bodies).
    for (let i = 0; i < ids.length; i += 400) {
      const body = await call(() => client.tunnelActiveAgents({ agent_ids: ids.slice(i, i + 400) }));
      for (const x of Array.isArray(body.active) ? body.active : []) if (typeof x === 'string') active.add(x);
    }
    return active;
  };
  return {
    // The cheapest tunnel route: an empty question. 401/403 here mean a wrong token or role.
    checkAccess: async () => void (await call(() => client.tunnelActiveAgents({ agent_ids: [] }))),
    registerHostKeys: async (keys) => void (await call(() => client.tunnelHostKeys({ keys }))),
    authorizedKeys: (q) => call(() => client.tunnelAuthorizedKeys({ fingerprint: q.fingerprint, key_type: q.keyType, key: q.key })),
    event: async (e) => void (await call(() => client.tunnelEvent(e))),
    activeAgents,
    reportSessions: async (r) => void (await call(() => client.tunnelSessions(r))),
  };
};
