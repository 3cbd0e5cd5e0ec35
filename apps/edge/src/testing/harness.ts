/**
 * Test harness: real sockets, real processes, real Redis. Nothing here mocks
 * HTTP or Redis; it only starts them and watches what happens.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { loadConfig, type EdgeConfig } from '../env.ts';
import type { LogFields, Logger, LogLevel } from '../log.ts';
import { startEdge, type RunningEdge } from '../server.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls until `check` is truthy; fails with `what` after `ms`. */
export const waitFor = async <T>(check: () => T | Promise<T>, what: string, ms = 15_000): Promise<NonNullable<T>> => {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
};

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });

export const uniquePrefix = (): string => `airlock:test:${randomUUID().slice(0, 8)}:`;

export const deletePrefix = async (url: string, prefix: string): Promise<void> => {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
};

// ---- recording upstream ----------------------------------------------------

export interface Recorded {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

export interface RecordingUpstream {
  port: number;
  url: string;
  requests: Recorded[];
  /** Status (and optional delay) for the next answers. */
  respond: (status: number, delayMs?: number) => void;
  close: () => Promise<void>;
}

/** A stand-in api that records every request it receives, byte for byte where it matters. */
export const startRecordingUpstream = async (port = 0): Promise<RecordingUpstream> => {
  const requests: Recorded[] = [];
  let status = 200;
  let delay = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const answer = () => {
        const body =
          status >= 400
            ? JSON.stringify({ error: { code: status === 401 ? 'enrollment_denied' : 'invalid_request', message: 'upstream says no' } })
            : JSON.stringify({ ok: true });
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      };
      if (delay > 0) setTimeout(answer, delay);
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  const actual = (server.address() as AddressInfo).port;
  return {
    port: actual,
    url: `http://127.0.0.1:${actual}`,
    requests,
    respond: (s, d = 0) => {
      status = s;
      delay = d;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
};

// ---- raw HTTP over node:net --------------------------------------------------

export interface RawResponse {
  status: number | null;
  headers: Record<string, string>;
  body: string;
  raw: string;
  /** The server closed the connection (rather than us after a complete answer). */
  closedByServer: boolean;
}

const parseResponse = (raw: string): { head: RawResponse; complete: boolean } | null => {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const [statusLine = '', ...lines] = raw.slice(0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const body = raw.slice(end + 4);
  const len = headers['content-length'] === undefined ? null : Number(headers['content-length']);
  return {
    head: { status: m?.[1] ? Number(m[1]) : null, headers, body, raw, closedByServer: false },
    complete: len !== null && Buffer.byteLength(body) >= len,
  };
};

/**
 * Sends exact bytes and reads one response. Resolves when the response is
 * complete or the server closes the socket.
 */
export const rawRequest = (
  port: number,
  bytes: string | Buffer,
  opts: { tls?: boolean; timeoutMs?: number } = {},
): Promise<RawResponse> =>
  new Promise((resolve, reject) => {
    const socket: Socket = opts.tls
      ? tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false })
      : connect({ port, host: '127.0.0.1' });
    let raw = '';
    let done = false;
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const parsed = parseResponse(raw);
      socket.destroy();
      resolve(
        parsed
          ? { ...parsed.head, closedByServer }
          : { status: null, headers: {}, body: '', raw, closedByServer },
      );
    };
    const timer = setTimeout(() => {
      if (!done) {
        done = true;
        socket.destroy();
        reject(new Error(`no response within ${opts.timeoutMs ?? 10_000} ms; got: ${JSON.stringify(raw.slice(0, 200))}`));
      }
    }, opts.timeoutMs ?? 10_000);
    socket.on(opts.tls ? 'secureConnect' : 'connect', () => socket.write(bytes));
    socket.on('data', (d: Buffer) => {
      raw += d.toString('latin1');
      // Skip interim 1xx answers (100 Continue) when deciding completeness.
      const interim = /^HTTP\/1\.1 1\d\d [^\r]*\r\n\r\n/.exec(raw);
      const parsed = parseResponse(interim ? raw.slice(interim[0].length) : raw);
      if (parsed?.complete) finish(false);
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
  });

/** A well-formed request, for building variants. */
export const req = (
  method: string,
  target: string,
  headers: Array<[string, string]> = [],
  body = '',
  version = 'HTTP/1.1',
): string => {
  const hasHost = headers.some(([n]) => n.toLowerCase() === 'host');
  const all: Array<[string, string]> = [...(hasHost ? [] : [['Host', 'edge.test'] as [string, string]]), ...headers];
  return `${method} ${target} ${version}\r\n${all.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n${body}`;
};

export const jsonPost = (target: string, body: string, extra: Array<[string, string]> = []): string =>
  req(
    'POST',
    target,
    [['Content-Type', 'application/json'], ['Content-Length', String(Buffer.byteLength(body))], ...extra],
    body,
  );

// ---- in-process edge ---------------------------------------------------------

export interface CapturedLog {
  level: LogLevel;
  msg: string;
  fields: LogFields;
}

export const captureLogger = (): Logger & { lines: CapturedLog[] } => {
  const lines: CapturedLog[] = [];
  return { lines, log: (level, msg, fields = {}) => lines.push({ level, msg, fields }) };
};

export const testConfig = (env: Record<string, string>): EdgeConfig =>
  loadConfig({ EDGE_HOST: '127.0.0.1', EDGE_PORT: '0', EDGE_METRICS_PORT: '0', ...env });

export const startTestEdge = async (
  env: Record<string, string>,
): Promise<RunningEdge & { logs: CapturedLog[] }> => {
  const logger = captureLogger();
  const edge = await startEdge(testConfig(env), { logger });
  return { ...edge, logs: logger.lines };
};

// ---- edge as a real process -----------------------------------------------

export interface EdgeProcess {
  child: ChildProcess;
  port: number;
  metricsPort: number;
  lines: Array<Record<string, unknown>>;
  stderr: () => string;
  exited: Promise<number | null>;
}

export const spawnEdge = async (env: Record<string, string>, opts: { startMs?: number } = {}): Promise<EdgeProcess> => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/edge/src/main.ts'], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env['PATH'] ?? '',
      EDGE_HOST: '127.0.0.1',
      EDGE_PORT: '0',
      EDGE_METRICS_PORT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<Record<string, unknown>> = [];
  let buffer = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    buffer += d.toString('utf8');
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ msg: 'unparsed', line });
      }
    }
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const listening = await Promise.race([
    waitFor(() => lines.find((l) => l['msg'] === 'edge listening'), 'edge to listen', opts.startMs ?? 20_000),
    exited.then((code) => {
      throw new Error(`edge exited early (${code}): ${err}`);
    }),
  ]);
  return {
    child,
    port: Number(listening['port']),
    metricsPort: Number(listening['metrics_port']),
    lines,
    stderr: () => err,
    exited,
  };
};

export const stopProcess = async (p: { child: ChildProcess; exited: Promise<number | null> }): Promise<void> => {
  if (p.child.exitCode === null && p.child.signalCode === null) {
    p.child.kill('SIGKILL');
    await p.exited;
  }
};

// ---- a private redis-server ----------------------------------------------------

export interface RedisServer {
  port: number;
  url: string;
  stop: () => Promise<void>;
  start: () => Promise<void>;
}

/** Starts `redis-server` on a spare port with no persistence; can be stopped and restarted. */
export const startRedisServer = async (): Promise<RedisServer> => {
  const port = await freePort();
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    const c = child;
    exited = new Promise<void>((r) => c.once('exit', () => r()));
    await waitFor(async () => {
      const probe = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        return (await probe.ping()) === 'PONG';
      } catch {
        return false;
      } finally {
        probe.disconnect();
      }
    }, 'redis-server to accept connections');
  };
  const stop = async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    child = null;
  };
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, stop, start };
};

/** Reads one metric's value from a Prometheus text page. */
export const metricValue = async (metricsPort: number, line: string): Promise<number | null> => {
  const text = await new Promise<string>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: metricsPort, path: '/metrics' }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString('utf8')));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? null : Number(found.slice(line.length + 1));
};

// ---- well-formed client requests ---------------------------------------------

export interface SimpleResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** An ordinary client request through node:http (for flows, not abuse). */
export const send = (
  port: number,
  method: 'GET' | 'POST',
  path: string,
  opts: { body?: unknown; headers?: Record<string, string>; agent?: http.Agent } = {},
): Promise<SimpleResponse> =>
  new Promise((resolve, reject) => {
    const payload = opts.body === undefined ? null : JSON.stringify(opts.body);
    const r = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: opts.agent ?? false,
        headers: {
          ...(payload === null ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          ...(opts.headers ?? {}),
        },
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    r.end(payload ?? undefined);
  });

export const enrollWithKey = (port: number, site: string, machine: string, agent?: http.Agent) =>
  send(port, 'POST', '/api/v1/enroll', {
    body: { site_code: site, enrollment_key: 'cek_secret', public_key: 'ssh-ed25519 AAAA', hostname: machine, machine_uid: `uid-${machine}` },
    ...(agent ? { agent } : {}),
  });

export const enrollWithCode = (port: number, site: string, code = 'AX7K-PJ3F-TH2Q') =>
  send(port, 'POST', '/api/v1/enroll', {
    body: { site_code: site, pairing_code: code, public_key: 'ssh-ed25519 AAAA', hostname: 'vm' },
  });
