/**
 * A small client for the api's admin and internal routes: bearer token, JSON
 * in and out, the contract's error envelope turned into a typed error, and
 * for an https:// api a private CA or a certificate pin (#8.8).
 */
import { readFileSync } from 'node:fs';
import { exchange, parsePin, TransportError, type RawResponse, type TlsTrust } from './transport.ts';

export const DEFAULT_API_URL = 'http://127.0.0.1:8082';
const REQUEST_TIMEOUT_MS = 30_000;

/** The api answered with a non-2xx status. */
export class ApiRequestError extends Error {
  override readonly name = 'ApiRequestError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** The api could not be reached at all (refused, DNS, timeout, TLS). */
export class ApiUnreachableError extends Error {
  override readonly name = 'ApiUnreachableError';
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`cannot reach the api at ${url}: ${reason}`);
  }
}

/** The base URL is unusable; a usage problem rather than a network one. */
export class ApiUrlError extends Error {
  override readonly name = 'ApiUrlError';
}

/** `--api`, else AIRLOCK_API_URL, else the default; only http(s), no credentials or query in it. */
export const resolveApiUrl = (flag: string | undefined, env: NodeJS.ProcessEnv): URL => {
  const raw = flag ?? (env.AIRLOCK_API_URL || DEFAULT_API_URL);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ApiUrlError(`"${raw}" is not a URL (expected e.g. ${DEFAULT_API_URL})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ApiUrlError('the api URL must be http:// or https://');
  if (url.username || url.password) throw new ApiUrlError('the api URL must not carry credentials');
  if (url.search || url.hash) throw new ApiUrlError('the api URL must not carry a query or fragment');
  return url;
};

/**
 * AIRLOCK_API_CA (PEM file of CA certificates) and AIRLOCK_API_PIN
 * (`sha256:<hex>` of the api certificate), for an https:// api (#8.8).
 * A bad value is a usage problem, found before anything is sent. Another
 * program's settings read the same way under its own prefix (the tunnel
 * endpoint: TUNNEL_API_CA / TUNNEL_API_PIN).
 */
/** A setting as (its name, for messages; its value from the environment). */
export type NamedSetting = readonly [name: string, value: string | undefined];

/** A CA file and a pin from the named settings; a bad value throws ApiUrlError naming the setting. */
export const resolveTlsTrust = (settings: { ca: NamedSetting; pin: NamedSetting }): TlsTrust => {
  const trust: TlsTrust = {};
  const [caName, caFile] = settings.ca;
  if (caFile) {
    try {
      trust.ca = readFileSync(caFile, 'utf8');
    } catch (err) {
      throw new ApiUrlError(`${caName}: cannot read ${caFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    if (!trust.ca.includes('-----BEGIN CERTIFICATE-----')) throw new ApiUrlError(`${caName}: ${caFile} holds no PEM certificate`);
  }
  const [pinName, rawPin] = settings.pin;
  if (rawPin) {
    const pin = parsePin(rawPin);
    if (!pin) throw new ApiUrlError(`${pinName} must be sha256:<64 hex digits> (the SHA-256 of the api certificate)`);
    trust.pinSha256 = pin;
    trust.pinSetting = pinName;
  }
  return trust;
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const readFields = (v: unknown): Record<string, string> => {
  if (!isRecord(v)) return {};
  return Object.fromEntries(Object.entries(v).flatMap(([k, p]) => (typeof p === 'string' ? [[k, p]] : [])));
};

/** Why fetch failed, from the undici cause chain, without echoing request data. */
const networkReason = (err: unknown): string => {
  if (err instanceof Error && err.name === 'TimeoutError') return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  const cause = err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (cause && typeof cause.message === 'string') return cause.message;
  return err instanceof Error ? err.message : 'unknown error';
};

export type Query = Record<string, string | number | undefined>;

export interface AdminClientOptions {
  baseUrl: URL;
  /** For an https:// api: a private CA and/or a certificate pin (AIRLOCK_API_CA / AIRLOCK_API_PIN). */
  trust?: TlsTrust;
  /** Null for a caller that only wants to know the URL; requests then fail with unauthorized. */
  token: string | null;
  userAgent?: string;
  /** Per request, connection included (default 30 s). */
  timeoutMs?: number;
}

export class AdminClient {
  readonly baseUrl: URL;
  readonly #token: string | null;
  readonly #userAgent: string;
  readonly #trust: TlsTrust;
  readonly #timeoutMs: number;

  constructor(opts: AdminClientOptions) {
    this.#trust = opts.trust ?? {};
    this.#timeoutMs = opts.timeoutMs ?? REQUEST_TIMEOUT_MS;
    this.baseUrl = opts.baseUrl;
    this.#token = opts.token;
    this.#userAgent = opts.userAgent ?? 'airlock-cli';
  }

  /** The base URL as printed in messages: no trailing slash. */
  get displayUrl(): string {
    return this.baseUrl.href.replace(/\/$/, '');
  }

  get<T>(path: string, query: Query = {}): Promise<T> {
    return this.request<T>('GET', path, undefined, query);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  async request<T>(method: string, path: string, body?: unknown, query: Query = {}): Promise<T> {
    const url = new URL(this.baseUrl.pathname.replace(/\/$/, '') + path, this.baseUrl);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': this.#userAgent };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: RawResponse;
    try {
      // node:http never follows a redirect: it would carry the bearer token to wherever it points.
      res = await exchange(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        trust: this.#trust,
        timeoutMs: this.#timeoutMs,
      });
    } catch (err) {
      throw new ApiUnreachableError(this.displayUrl, err instanceof TransportError ? err.reason : networkReason(err));
    }
    const text = res.body;
    let json: unknown = undefined;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    if (res.status >= 200 && res.status < 300) {
      if (res.status !== 204 && json === undefined) {
        throw new ApiRequestError(res.status, 'bad_response', 'The api answered with something that is not JSON');
      }
      return (json ?? null) as T;
    }
    const error = isRecord(json) && isRecord(json.error) ? json.error : undefined;
    if (error && typeof error.code === 'string' && typeof error.message === 'string') {
      throw new ApiRequestError(res.status, error.code, error.message, readFields(error.fields));
    }
    // Not the envelope: a proxy, a redirect or something else answering on that port.
    throw new ApiRequestError(res.status, `http_${res.status}`, res.statusText || 'unexpected response');
  }
}
