/**
 * A cookie-keeping HTTP client for the operator console, for HTTP-level tests:
 * real requests over a real socket, like a browser's but with every header in
 * the test's hands (Origin, Sec-Fetch-Site, Content-Type, X-Forwarded-For).
 */
export interface ConsoleResponse {
  status: number;
  headers: Headers;
  text: string;
  setCookies: string[];
}

export interface PostOptions {
  /** Origin header; default this api's origin; null sends none. */
  origin?: string | null;
  secFetchSite?: string;
  contentType?: string;
  /** Raw body instead of the urlencoded form. */
  rawBody?: string;
  /** Leave out the CSRF token the client would otherwise add. */
  noCsrf?: boolean;
  headers?: Record<string, string>;
}

const csrfOf = (html: string): string | null => /name="_csrf" value="([0-9a-f]{64})"/.exec(html)?.[1] ?? null;

export class ConsoleClient {
  readonly cookies = new Map<string, string>();
  csrf: string | null = null;
  constructor(
    readonly baseUrl: string,
    readonly defaultHeaders: Record<string, string> = {},
  ) {}

  get origin(): string {
    return new URL(this.baseUrl).origin;
  }

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private async send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<ConsoleResponse> {
    const res = await fetch(this.baseUrl + path, {
      method,
      redirect: 'manual',
      headers: { ...this.defaultHeaders, ...(this.cookies.size ? { cookie: this.cookieHeader() } : {}), ...headers },
      body,
    });
    const setCookies = res.headers.getSetCookie();
    for (const line of setCookies) {
      const [pair] = line.split(';');
      const eq = pair?.indexOf('=') ?? -1;
      if (!pair || eq < 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === '' || /max-age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await res.text();
    const token = csrfOf(text);
    if (token) this.csrf = token;
    return { status: res.status, headers: res.headers, text, setCookies };
  }

  get(path: string, headers: Record<string, string> = {}): Promise<ConsoleResponse> {
    return this.send('GET', path, headers);
  }

  post(path: string, form: Record<string, string> = {}, opts: PostOptions = {}): Promise<ConsoleResponse> {
    const fields = { ...(opts.noCsrf || !this.csrf ? {} : { _csrf: this.csrf }), ...form };
    const headers: Record<string, string> = {
      'content-type': opts.contentType ?? 'application/x-www-form-urlencoded',
      ...(opts.origin === null ? {} : { origin: opts.origin ?? this.origin }),
      ...(opts.secFetchSite ? { 'sec-fetch-site': opts.secFetchSite } : {}),
      ...opts.headers,
    };
    return this.send('POST', path, headers, opts.rawBody ?? new URLSearchParams(fields).toString());
  }

  /** Loads the sign-in form (for its CSRF cookie and token), then signs in. */
  async signIn(name: string, password: string, opts: PostOptions = {}): Promise<ConsoleResponse> {
    await this.get('/console/sign-in');
    return this.post('/console/sign-in', { operator: name, password }, opts);
  }
}
