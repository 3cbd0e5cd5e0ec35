/**
 * The edge as a real process (`apps/edge/src/main.ts` under tsx, started by
 * path, not imported), its metrics page, and ordinary client requests to it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import { REPO_ROOT } from './paths.ts';
import { waitFor } from './wait.ts';

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

export interface SentResponse {
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
): Promise<SentResponse> =>
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
