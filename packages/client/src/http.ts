/**
 * A small client for the api's admin and internal routes: bearer token, JSON
 * in and out, the contract's error envelope turned into a typed error, and
 * for an https:// api a private CA or a certificate pin (#8.8), checked by
 * @airlock/transport before the request (and its token) is written.
 */
import { parsePin, PIN_FORM, readCaFile } from '@airlock/config';
import { createTransport, TransportError, type Transport, type TlsTrust, type TransportResponse } from '@airlock/transport';

export { parsePin } from '@airlock/config';
export type { TlsTrust } from '@airlock/transport';

export const DEFAULT_API_URL = 'http://127.0.0.1:8082';
const REQUEST_TIMEOUT_MS = 30_000;
// Pages of 500 audit events with their details: well past the agent's 1 MiB, still a bound.
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

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

/** A setting as (its name, for messages; its value from the environment). */
export type NamedSetting = readonly [name: string, value: string | undefined];

/**
 * AIRLOCK_API_CA (PEM file of CA certificates) and AIRLOCK_API_PIN
 * (`sha256:<hex>` of the api certificate), for an https:// api (#8.8). A
 * bad value is a usage problem, found before anything is sent; it throws
 * ApiUrlError naming the setting. Read with @airlock/config's parsers, as
 * the tunnel reads TUNNEL_API_CA / TUNNEL_API_PIN in its settings table.
 */
export const resolveTlsTrust = (settings: { ca: NamedSetting; pin: NamedSetting }): TlsTrust => {
  const trust: TlsTrust = {};
  const [caName, caFile] = settings.ca;
  if (caFile) {
    const read = readCaFile(caFile);
    if ('problem' in read) throw new ApiUrlError(`${caName}: ${read.problem}`);
    trust.ca = read.pem;
  }
  const [pinName, rawPin] = settings.pin;
  if (rawPin) {
    const pin = parsePin(rawPin);
    if (!pin) throw new ApiUrlError(`${pinName} must be ${PIN_FORM} (the SHA-256 of the api certificate)`);
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

/**
 * Why the api could not be reached, as the CLI prints it: the OS or OpenSSL
 * code for a refused connection or a failed TLS check (`ECONNREFUSED`), the
 * sentence otherwise (a timeout, a pin mismatch). Never request data.
 */
const unreachableReason = (err: TransportError): string =>
  (err.kind === 'network' || err.kind === 'tls') && err.code !== undefined ? err.code : err.message;

/** Query parameters; a list repeats its parameter (`label=a:1&label=b:2`). */
export type Query = Record<string, string | number | readonly string[] | undefined>;

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
  readonly #transport: Transport;

  constructor(opts: AdminClientOptions) {
    this.#transport = createTransport({
      origin: opts.baseUrl,
      trust: opts.trust ?? {},
      timeoutMs: opts.timeoutMs ?? REQUEST_TIMEOUT_MS,
      maxResponseBytes: MAX_RESPONSE_BYTES,
    });
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
    for (const [k, v] of Object.entries(query)) {
      if (Array.isArray(v)) for (const one of v) url.searchParams.append(k, one);
      else if (v !== undefined) url.searchParams.set(k, String(v));
    }
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': this.#userAgent };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: TransportResponse;
    try {
      // The transport never follows a redirect: it would carry the bearer token to wherever it points.
      res = await this.#transport.request({
        method,
        path: url.pathname + url.search,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new ApiUnreachableError(this.displayUrl, err instanceof TransportError ? unreachableReason(err) : err instanceof Error ? err.message : 'unknown error');
    }
    const text = res.body.toString('utf8');
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
