/**
 * The agent's HTTP client: JSON in and out over @airlock/transport (a fresh,
 * verified connection per request, through a proxy when one applies), with
 * the agent's TLS flags (--ca-file, --pin, --insecure) as its trust.
 */
import * as fs from 'node:fs/promises';
import { formatPin } from '@airlock/config';
import { createTransport, TransportError, type TlsTrust } from '@airlock/transport';
import type { TlsFlags } from './args.ts';

export { certificateSha256, TransportError } from '@airlock/transport';
export { formatPin };

export interface HttpResponse {
  status: number;
  /** Parsed JSON body, or null when the body was empty or not JSON. */
  json: unknown;
  /** From the Retry-After header, in seconds, when present and numeric. */
  retryAfterSeconds: number | null;
}

export interface AgentRequest {
  body?: unknown;
  bearer?: string;
  signal?: AbortSignal;
}

export interface HttpClient {
  request(method: 'GET' | 'POST', path: string, init?: AgentRequest): Promise<HttpResponse>;
}

export interface ClientOptions {
  server: URL;
  tls: TlsFlags;
  userAgent: string;
  /** Per phase of a request: connect, TLS handshake, answer. */
  timeoutMs?: number;
  /** An http:// proxy to tunnel through (see proxyFor), or null/undefined for a direct connection. */
  proxy?: URL | null;
}

/**
 * Builds the one HTTP client the agent uses. Every request opens a fresh
 * connection, and the TLS checks (CA chain, or the pin) complete before a
 * single request byte is written: the pairing code and poll token are never
 * sent to a server we have not verified.
 */
export const createHttpClient = async (options: ClientOptions): Promise<HttpClient> => {
  const trust: TlsTrust = { insecure: options.tls.insecure };
  if (options.tls.caFile !== undefined) {
    // --ca-file adds a private CA to the system's; chain and host name are still checked.
    trust.ca = await readCa(options.tls.caFile);
    trust.caWithSystem = true;
  }
  if (options.tls.pin !== undefined) {
    trust.pinSha256 = options.tls.pin.toString('hex');
    trust.pinSetting = '--pin';
  }
  const transport = createTransport({
    origin: options.server,
    trust,
    proxy: options.proxy ?? null,
    timeoutMs: options.timeoutMs ?? 30_000,
    maxResponseBytes: 1024 * 1024,
  });

  return {
    async request(method, path, init = {}) {
      const headers: Record<string, string> = { 'user-agent': options.userAgent, accept: 'application/json' };
      const body = init.body === undefined ? undefined : Buffer.from(JSON.stringify(init.body), 'utf8');
      if (body) headers['content-type'] = 'application/json';
      if (init.bearer !== undefined) headers.authorization = `Bearer ${init.bearer}`;
      const res = await transport.request({ method, path, headers, ...(body ? { body } : {}), ...(init.signal ? { signal: init.signal } : {}) });
      const text = res.body.toString('utf8');
      let json: unknown = null;
      try {
        json = text === '' ? null : JSON.parse(text);
      } catch {
        json = null;
      }
      const retry = res.headers['retry-after'];
      const retryAfterSeconds = typeof retry === 'string' && /^\d+$/.test(retry.trim()) ? Number(retry.trim()) : null;
      return { status: res.status, json, retryAfterSeconds };
    },
  };
};

const readCa = async (file: string): Promise<string> => {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TransportError('tls', `cannot read --ca-file ${file}: ${reason}`);
  }
};
