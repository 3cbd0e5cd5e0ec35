/**
 * Attackers: many loopback source addresses, each on its own keep-alive
 * connection, sending requests as fast as the edge answers until a deadline.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { newAgentKey } from '@airlock/testing';
import { hit } from './http.ts';

const floodKey = newAgentKey('flood').publicKey;

export interface FloodResult {
  /** Answers by status, across all sources. */
  byStatus: Record<number, number>;
  /** Per source address: how many answers of each status. */
  perSource: Map<string, Record<number, number>>;
  transportErrors: number;
  /** Transport errors by code (ECONNRESET, ECONNREFUSED, TRUNCATED, …). */
  errorCodes: Record<string, number>;
  requests: number;
}

/** The most answers of one status any single source got (e.g. 401: the lockout caps it). */
export const worstPerSource = (r: FloodResult, status: number): number =>
  Math.max(...[...r.perSource.values()].map((s) => s[status] ?? 0));

/** Every source has been refused with 429 at least once: the limits caught all of them. */
export const allLocked = (r: FloodResult): boolean => [...r.perSource.values()].every((counts) => (counts[429] ?? 0) > 0);

/**
 * Edge settings that leave the (site, IP) lockout as the only rule a wrong-code
 * flood meets: the per-IP pairing budget and the cross-site block stay out of the way.
 */
export const lockoutOnlyEdgeEnv = (lockoutFailures: number): Record<string, string> => ({
  EDGE_LOCKOUT_FAILURES: String(lockoutFailures),
  EDGE_LIMIT_ENROLL_PAIRING_PER_HOUR: '100000',
  EDGE_BLOCK_FAILURES: '100000',
});

export interface FloodOptions {
  url: string;
  sources: string[];
  /** Builds the body for one request (JSON), or null for a GET. */
  body: (source: string, n: number) => unknown;
  /** Checked before every request; sees the answers so far. */
  until: (soFar: FloodResult) => boolean;
  headers?: Record<string, string>;
  /** Requests in flight per source (each on its own keep-alive socket). */
  perSource?: number;
}

export const flood = async (o: FloodOptions): Promise<FloodResult> => {
  const result: FloodResult = { byStatus: {}, perSource: new Map(), transportErrors: 0, errorCodes: {}, requests: 0 };
  const tls = o.url.startsWith('https:');
  const agents: http.Agent[] = [];
  const loop = async (source: string) => {
    // keepAlive: one TLS handshake per attacker socket, not per request, so the flood is requests, not handshakes.
    const agent = tls ? new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false }) : new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    const mine: Record<number, number> = result.perSource.get(source) ?? {};
    result.perSource.set(source, mine);
    let n = 0;
    while (!o.until(result)) {
      n += 1;
      const body = o.body(source, n);
      try {
        const res = await hit(o.url, {
          ...(body === null ? { method: 'GET' as const } : { body }),
          localAddress: source,
          agent,
          // Longer than the edge's own upstream timeout (15 s): the edge, not the client, must give up first.
          timeoutMs: 60_000,
          ...(o.headers ? { headers: o.headers } : {}),
        });
        result.byStatus[res.status] = (result.byStatus[res.status] ?? 0) + 1;
        mine[res.status] = (mine[res.status] ?? 0) + 1;
      } catch (err) {
        result.transportErrors += 1;
        const code = (err as { code?: string }).code ?? (err instanceof Error ? err.message.slice(0, 40) : 'unknown');
        result.errorCodes[code] = (result.errorCodes[code] ?? 0) + 1;
        // A refused or reset connection: back off a moment rather than spin.
        await new Promise((r) => setTimeout(r, 20));
      }
      result.requests += 1;
    }
  };
  await Promise.all(o.sources.flatMap((s) => Array.from({ length: o.perSource ?? 1 }, () => loop(s))));
  for (const a of agents) a.destroy();
  return result;
};

export const wrongCodeBody = (site: string) => (_source: string, n: number) => ({
  site_code: site,
  pairing_code: `AAAA-BBBB-${String(n % 10_000).padStart(4, '2').replace(/[01]/g, '2')}`,
  public_key: floodKey,
  hostname: 'flood',
});
