/**
 * The tunnel's real parts for tests: the Unix accounts, a tunnel endpoint
 * process (pnpm start:tunnel's entry point) with its own sshd, an echo server
 * as the permitted destination, and the OpenSSH client.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, type ManagedProcess, spawnManaged, waitFor } from '@airlock/testing';
import { runAgent, tempStateDir } from '../agent/support.ts';

const TUNNEL_USER = 'airlock';
export const KEYS_USER = 'airlock-keys';

/** Idempotent: the accounts the endpoint needs, as docs/tunnel.md tells an operator to make them. */
export const ensureAccounts = (): void => {
  const exists = (u: string) => {
    try {
      execFileSync('id', ['-u', u], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  // Test files run in parallel and /etc/passwd has one lock: retry briefly, and touch nothing already right.
  const withLock = (cmd: string, args: string[]) => {
    for (let attempt = 1; ; attempt++) {
      try {
        execFileSync(cmd, args, { stdio: 'ignore' });
        return;
      } catch (err) {
        if (attempt >= 10) throw err;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
      }
    }
  };
  if (!exists(TUNNEL_USER)) withLock('useradd', ['--create-home', '--shell', '/usr/sbin/nologin', TUNNEL_USER]);
  // useradd leaves the account locked ('!'); with UsePAM no sshd would refuse it before any key.
  const hash = readFileSync('/etc/shadow', 'utf8').split('\n').find((l) => l.startsWith(`${TUNNEL_USER}:`))?.split(':')[1];
  if (hash !== '*') withLock('usermod', ['-p', '*', TUNNEL_USER]);
  if (!exists(KEYS_USER)) withLock('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', KEYS_USER]);
};

/** A root-owned directory for the keys helper: sshd refuses one under /tmp. */
export const helperDir = (): string => {
  mkdirSync('/run/airlock-test', { recursive: true, mode: 0o755 });
  chmodSync('/run/airlock-test', 0o755);
  return path.join('/run/airlock-test', randomBytes(6).toString('hex'));
};

/** A keys socket of one endpoint's own, in a directory under the root-owned /run/airlock-test. */
export const keysSocketPath = (): string => path.join(helperDir(), 'keys.sock');

/** An operator with the endpoint's own role (issue 18), made through the admin API. */
export const createTunnelOperator = async (
  admin: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: { token?: string } }>,
  name = `tunnel-${randomBytes(4).toString('hex')}`,
): Promise<string> => {
  const r = await admin('POST', '/api/v1/admin/operators', { name, role: 'tunnel' });
  if (r.status !== 201 || typeof r.body.token !== 'string') throw new Error(`cannot create a tunnel operator: ${r.status}`);
  return r.body.token;
};

export interface TunnelEndpoint {
  proc: ManagedProcess;
  port: number;
  helperDir: string;
  keysSocket: string;
  dataDir: string;
  env: Record<string, string>;
  /** JSON log lines so far. */
  lines(): Array<Record<string, unknown>>;
  stop(): Promise<number | null>;
}

export const startTunnel = async (opts: {
  apiUrl: string;
  token: string;
  port?: number;
  redisPrefix?: string;
  redisUrl?: string;
  dataDir?: string;
  helper?: string;
  keysSocket?: string;
  waitFor?: string;
  extraEnv?: Record<string, string>;
}): Promise<TunnelEndpoint> => {
  const port = opts.port ?? (await freePort());
  const dir = opts.helper ?? helperDir();
  const keysSocket = opts.keysSocket ?? keysSocketPath();
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), 'airlock-tunnel-'));
  const env: Record<string, string> = {
    TUNNEL_HOST: '127.0.0.1',
    TUNNEL_PORT: String(port),
    TUNNEL_API_URL: opts.apiUrl,
    TUNNEL_API_TOKEN: opts.token,
    AIRLOCK_DATA_DIR: dataDir,
    TUNNEL_HELPER_DIR: dir,
    TUNNEL_KEYS_SOCKET: keysSocket,
    TUNNEL_REVOCATION_POLL_MS: '1000',
    // Several endpoints run at once in tests: no fixed metrics port unless a test asks for one.
    TUNNEL_METRICS_PORT: '0',
    ...(opts.redisUrl ? { REDIS_URL: opts.redisUrl, EDGE_REDIS_PREFIX: opts.redisPrefix ?? '' } : {}),
    ...opts.extraEnv,
  };
  const proc = spawnManaged(['apps/tunnel/src/main.ts'], env);
  const lines = () =>
    proc
      .output()
      .split('\n')
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
  const want = opts.waitFor ?? 'host key registered with the api';
  await waitFor(() => {
    if (proc.child.exitCode !== null) throw new Error(`tunnel exited early:\n${proc.output()}`);
    return lines().some((l) => l.msg === want);
  }, `tunnel: ${want}`, 30_000);
  return {
    proc,
    port,
    helperDir: dir,
    keysSocket,
    dataDir,
    env,
    lines,
    stop: async () => {
      const code = await proc.stop();
      return code;
    },
  };
};

export const cleanupTunnelDirs = (t: TunnelEndpoint): void => {
  rmSync(t.helperDir, { recursive: true, force: true });
  rmSync(path.dirname(t.keysSocket), { recursive: true, force: true });
  rmSync(t.dataDir, { recursive: true, force: true });
};

/** A TCP echo server: the management service an agent is permitted to reach. */
export const startEcho = async (): Promise<{ port: number; close(): void }> => {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
};

/** Sends a line through a local port and resolves with what came back (or null if the connection closed empty). */
export const echoThrough = (port: number, text = `hello-${randomBytes(4).toString('hex')}`) =>
  new Promise<{ sent: string; got: string | null }>((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let got = '';
    const done = () => {
      s.destroy();
      resolve({ sent: text, got: got === '' ? null : got });
    };
    s.on('connect', () => s.write(text));
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.length >= text.length) done();
    });
    s.on('error', done);
    s.on('close', done);
    setTimeout(done, 5_000).unref();
  });

export interface SshRun {
  child: ChildProcess;
  output(): string;
  exit: Promise<number | null>;
  waitFor(re: RegExp, ms?: number): Promise<void>;
}

/** The OpenSSH client against the endpoint, checking its host key, with only the given key. */
export const runSsh = (o: { port: number; key: string; knownHosts: string; args: string[]; bind?: string }): SshRun => {
  const child = spawn(
    'ssh',
    [
      '-F', '/dev/null',
      '-p', String(o.port),
      '-i', o.key,
      '-o', 'IdentitiesOnly=yes',
      '-o', 'IdentityAgent=none',
      '-o', 'BatchMode=yes',
      '-o', 'StrictHostKeyChecking=yes',
      '-o', `UserKnownHostsFile=${o.knownHosts}`,
      '-o', 'GlobalKnownHostsFile=/dev/null',
      '-o', 'ConnectTimeout=10',
      ...(o.bind ? ['-b', o.bind] : []),
      '-l', TUNNEL_USER,
      ...o.args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  return {
    child,
    output: () => out,
    exit,
    waitFor: async (re, ms = 15_000) => {
      await waitFor(() => {
        if (re.test(out)) return true;
        if (child.exitCode !== null) throw new Error(`ssh exited (${child.exitCode}) before ${re}:\n${out}`);
        return false;
      }, `ssh: ${re}`, ms);
    },
  };
};

export interface Enrolled {
  dir: string;
  agentId: string;
  /** Private key file (OpenSSH), and its public line. */
  key: string;
  publicKey: string;
  knownHosts: string;
  credentials: { ssh: { known_hosts: string; host: string; port: number; user: string; permit_open: string[] } };
}

/** airlock-agent enroll through the edge with the site key (auto policy), and a known_hosts file for plain ssh. */
export const enrollTunnelAgent = async (o: { edgeUrl: string; site: string; enrollmentKey: string; pin: string }, name: string): Promise<Enrolled> => {
  const dir = await tempStateDir();
  const run = runAgent(
    ['enroll', '--server', o.edgeUrl, '--site', o.site, '--state-dir', dir, '--pin', o.pin, '--name', name, '--machine-uid', `vm-${randomBytes(6).toString('hex')}`],
    { AIRLOCK_ENROLLMENT_KEY: o.enrollmentKey },
  );
  const code = await run.exit;
  if (code !== 0) throw new Error(`airlock-agent enroll exited ${code}:\n${run.stderr()}`);
  const credentials = JSON.parse(readFileSync(path.join(dir, 'credentials.json'), 'utf8'));
  const knownHosts = path.join(dir, 'test_known_hosts');
  writeFileSync(knownHosts, credentials.ssh.known_hosts);
  const key = path.join(dir, 'id_ed25519');
  const publicKey = readFileSync(`${key}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
  return { dir, agentId: credentials.agent_id, key, publicKey, knownHosts, credentials };
};
