/** The tunnel's calls to the api's internal routes, with the service token. */
import type { TunnelConfig } from './env.ts';

export class ApiUnavailable extends Error {
  override readonly name = 'ApiUnavailable';
}

export interface TunnelApi {
  registerHostKeys(keys: string[]): Promise<void>;
  agentFor(fingerprint: string): Promise<string | null>;
  event(e: { event: 'opened' | 'closed' | 'denied'; fingerprint: string; agent_id?: string; source_ip: string; source_port?: number; reason?: string }): Promise<void>;
  activeAgents(ids: string[]): Promise<Set<string>>;
}

export const createTunnelApi = (config: Pick<TunnelConfig, 'apiUrl' | 'apiToken' | 'apiTimeoutMs'>): TunnelApi => {
  const post = async (path: string, body: unknown): Promise<unknown> => {
    let res: Response;
    try {
      res = await fetch(`${config.apiUrl}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${config.apiToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(config.apiTimeoutMs),
      });
    } catch (err) {
      throw new ApiUnavailable(err instanceof Error ? err.message : 'unreachable');
    }
    const text = await res.text();
    if (res.status >= 300) {
      // The code only: an error envelope never carries secrets, but keep the line short.
      const code = /"code":"([a-z_]{1,40})"/.exec(text)?.[1] ?? 'unknown';
      throw new ApiUnavailable(`${path} answered ${res.status} ${code}`);
    }
    return text ? (JSON.parse(text) as unknown) : null;
  };
  return {
    registerHostKeys: async (keys) => {
      await post('/api/v1/internal/tunnel/host-keys', { keys });
    },
    agentFor: async (fingerprint) => {
      const body = (await post('/api/v1/internal/tunnel/authorized-keys', { fingerprint })) as { keys?: Array<{ agent_id?: unknown }> };
      const id = body.keys?.[0]?.agent_id;
      return typeof id === 'string' ? id : null;
    },
    event: async (e) => {
      await post('/api/v1/internal/tunnel/events', e);
    },
    activeAgents: async (ids) => {
      const active = new Set<string>();
      // The api takes at most 400 ids per call (16 KiB bodies).
      for (let i = 0; i < ids.length; i += 400) {
        const body = (await post('/api/v1/internal/tunnel/active-agents', { agent_ids: ids.slice(i, i + 400) })) as { active?: unknown };
        for (const x of Array.isArray(body.active) ? body.active : []) if (typeof x === 'string') active.add(x);
      }
      return active;
    },
  };
};
