/**
 * `airlock-agent tunnel --state-dir DIR`: keeps the appliance's SSH tunnel to
 * the management network up, from what enrollment stored in credentials.json.
 *
 * Runs the system's OpenSSH client (`ssh -N`) with the stored known_hosts
 * (StrictHostKeyChecking yes: no trust on first use), only the forwards the
 * server permits, keep-alives and ExitOnForwardFailure; reconnects with
 * backoff after any drop; stops for good, with exit code 11, when the agent
 * was revoked. How it knows: sshd refusing the key alone is not proof (the
 * endpoint also refuses everyone while the api is unreachable), so after a
 * refusal the agent asks the api itself, proving its key
 * (POST /api/v1/agent/challenge + /api/v1/agent/credentials, contract v1.1):
 * `401 agent_denied` to a correct proof means revoked. Anything else
 * (unreachable, 404 on an older server) keeps it retrying.
 *
 * Writes <state-dir>/tunnel-state.json on every state change, for
 * `airlock-agent status`, and logs one line per change on stderr.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseOpenSshPrivateKey } from '@airlock/crypto';
import { parseHostPort, SshCredentials as WireSshCredentials } from '@airlock/schema';
import { proveKey } from '../agent-proof.ts';
import * as v from 'valibot';
import type { TlsFlags } from '../args.ts';
import { createHttpClient } from '../http.ts';
import { proxyFor } from '@airlock/transport';
import { readPrivateKeyPem } from '../keys.ts';
import { isSealed, runtimeKeyFile } from '../sealed.ts';
import { defaultStateDir, readCredentials, statePaths, writeFileAtomic, type CredentialsState } from '../state.ts';
import { AGENT_VERSION } from '../version.ts';
import { watchForwards, type HealthWatch } from '../tunnel-health.ts';
import { ExitCode } from '../exit-codes.ts';
import type { AgentCommand } from './types.ts';

/** Exit codes of `tunnel`; 11 is its own: provisioning scripts and systemd (RestartPreventExitStatus) branch on it. */
// The shared exit-code table, as tunnel uses it.
const TunnelExit = { Stopped: ExitCode.Ok, Internal: ExitCode.Internal, Usage: ExitCode.Usage, NotEnrolled: ExitCode.NotEnrolled, Revoked: ExitCode.Revoked } as const;

export type TunnelStateName = 'connecting' | 'up' | 'backoff' | 'revoked' | 'stopped';
const TUNNEL_STATE_FILE = 'tunnel-state.json';
const TUNNEL_KNOWN_HOSTS_FILE = 'tunnel_known_hosts';

/**
 * `credentials.ssh` as stored (checked against the wire's SshCredentials when
 * it was issued, and again here); a tunnel needs at least one destination.
 */
const SshCredentials = v.object({ ...WireSshCredentials.entries, permit_open: v.pipe(WireSshCredentials.entries.permit_open, v.minLength(1)) });
type SshCredentials = v.InferOutput<typeof SshCredentials>;

class TunnelUsageError extends Error {
  override readonly name = 'TunnelUsageError';
}

export interface TunnelOptions {
  stateDir: string;
  /** permit_open destination -> local port on 127.0.0.1. Default: the destination's own port number. */
  forwards: Map<string, number>;
  ssh: string;
  keepaliveSeconds: number;
  maxBackoffMs: number;
  /** Issue 21: how often each forward is checked end to end; 0: never. */
  healthIntervalMs: number;
  /** Rounds in a row with a forward not answering before the connection is dropped and made again. */
  healthFailures: number;
}

const TUNNEL_HELP = `Usage: airlock-agent tunnel [--state-dir DIR] [--forward LOCAL=HOST:PORT]... [--ssh PATH]
                           [--keepalive SECONDS] [--max-backoff SECONDS]
                           [--health-interval SECONDS] [--health-failures N]

Keeps the SSH tunnel issued at enrollment up. Each permitted destination
HOST:PORT is forwarded from 127.0.0.1:PORT unless --forward LOCAL=HOST:PORT
says another local port; the reverse forward in the credentials (if any)
lets the management server reach this appliance. Every --health-interval
seconds (60; 0: off) each forward is dialled end to end; after
--health-failures rounds in a row (3) without an answer the connection is
made again. Exit codes: 0 stopped (SIGTERM/Ctrl-C), 2 usage,
10 not enrolled or no tunnel issued, 11 the agent was revoked (do not restart),
1 anything else.
`;

const parseTunnelArgs = (argv: readonly string[], env: NodeJS.ProcessEnv = process.env): TunnelOptions | 'help' => {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        'state-dir': { type: 'string' },
        forward: { type: 'string', multiple: true },
        ssh: { type: 'string' },
        keepalive: { type: 'string' },
        'max-backoff': { type: 'string' },
        'health-interval': { type: 'string' },
        'health-failures': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new TunnelUsageError(err instanceof Error ? err.message : 'bad arguments');
  }
  if (values.help) return 'help';
  const seconds = (raw: string | undefined, name: string, fallback: number, min: number, max: number) => {
    if (raw === undefined) return fallback;
    if (!/^\d{1,6}$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new TunnelUsageError(`--${name} must be a whole number of seconds, ${min}-${max}`);
    return Number(raw);
  };
  const forwards = new Map<string, number>();
  for (const f of values.forward ?? []) {
    const m = /^(\d{1,5})=(.+)$/.exec(f);
    const local = Number(m?.[1]);
    if (!m?.[2] || parseHostPort(m[2]) === null || local < 1 || local > 65535) throw new TunnelUsageError(`--forward must be LOCAL_PORT=HOST:PORT, got ${JSON.stringify(f.slice(0, 80))}`);
    forwards.set(m[2], local);
  }
  const ssh = values.ssh ?? 'ssh';
  if (values.ssh !== undefined && !path.isAbsolute(ssh)) throw new TunnelUsageError('--ssh must be an absolute path');
  return {
    stateDir: path.resolve(values['state-dir'] ?? defaultStateDir(env)),
    forwards,
    ssh,
    keepaliveSeconds: seconds(values.keepalive, 'keepalive', 15, 1, 3600),
    maxBackoffMs: seconds(values['max-backoff'], 'max-backoff', 60, 1, 3600) * 1000,
    healthIntervalMs: seconds(values['health-interval'], 'health-interval', 60, 0, 86400) * 1000,
    healthFailures: seconds(values['health-failures'], 'health-failures', 3, 1, 100),
  };
};

export interface TunnelIo {
  err: { write(s: string): unknown };
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
}

/** The `-L` arguments: one per permitted destination, bound to loopback only. */
const forwardArgs = (ssh: SshCredentials, forwards: Map<string, number>): string[] => {
  for (const dest of forwards.keys()) {
    if (!ssh.permit_open.includes(dest)) throw new TunnelUsageError(`--forward ${dest}: not a permitted destination (${ssh.permit_open.join(', ')})`);
  }
  return ssh.permit_open.flatMap((dest) => {
    const i = dest.lastIndexOf(':');
    const local = forwards.get(dest) ?? Number(dest.slice(i + 1));
    return ['-L', `127.0.0.1:${local}:${dest.slice(0, i)}:${dest.slice(i + 1)}`];
  });
};

/** The local ports the -L forwards listen on (what the health check dials). */
const localPorts = (args: string[]): number[] =>
  args.flatMap((a, i) => (args[i - 1] === '-L' ? [Number(/^127\.0\.0\.1:(\d+):/.exec(a)?.[1])] : [])).filter((p) => p > 0);

/**
 * The `-R` of contract v1.2: exactly what the credentials say, listen host
 * included (the endpoint grants `permitlisten` on that literal address only).
 */
const remoteArgs = (ssh: SshCredentials): string[] =>
  (ssh.remote_forwards ?? []).flatMap((f) => ['-R', `${f.listen}:${f.to}`]);

const sshArgs = (ssh: SshCredentials, keyFile: string, knownHosts: string, opts: TunnelOptions): string[] => [
  '-N',
  '-T',
  // No user or system ssh_config: every option that matters is on this line.
  '-F',
  '/dev/null',
  '-p',
  String(ssh.port),
  '-l',
  ssh.user,
  '-i',
  keyFile,
  ...['IdentitiesOnly=yes', 'IdentityAgent=none', 'BatchMode=yes', 'PasswordAuthentication=no', 'KbdInteractiveAuthentication=no']
    .concat(['StrictHostKeyChecking=yes', `UserKnownHostsFile=${knownHosts}`, 'GlobalKnownHostsFile=/dev/null', 'UpdateHostKeys=no'])
    .concat(['ExitOnForwardFailure=yes', `ServerAliveInterval=${opts.keepaliveSeconds}`, 'ServerAliveCountMax=3', 'ConnectTimeout=15'])
    .concat(['ForwardAgent=no', 'ForwardX11=no', 'LogLevel=VERBOSE'])
    .flatMap((o) => ['-o', o]),
  ...forwardArgs(ssh, opts.forwards),
  ...remoteArgs(ssh),
  '--',
  ssh.host,
];

type Check = 'revoked' | 'active' | 'unknown';

/** Asks the api whether this agent is still active, proving its key (contract v1.1 agent routes). */
const checkWithServer = async (creds: CredentialsState, secretKey: Uint8Array, io: TunnelIo): Promise<Check> => {
  try {
    const server = new URL(creds.server);
    const tls: TlsFlags = { insecure: creds.tls.insecure ?? false };
    if (creds.tls.ca_file !== undefined) tls.caFile = creds.tls.ca_file;
    if (creds.tls.pin !== undefined) tls.pin = Buffer.from(creds.tls.pin, 'hex');
    const client = await createHttpClient({ server, tls, userAgent: `airlock-agent/${AGENT_VERSION} tunnel`, proxy: proxyFor(server, io.env), timeoutMs: 15_000 });
    // The same proof renew uses; no rotation and no certificate, only "is this key still an active agent?".
    const res = await proveKey(client, { secretKey, fingerprint: creds.fingerprint }, { rotateAgentKey: false });
    if (res.status === 200) return 'active';
    const code = (res.json as { error?: { code?: unknown } } | null)?.error?.code;
    return res.status === 401 && code === 'agent_denied' ? 'revoked' : 'unknown';
  } catch {
    return 'unknown';
  }
};

interface Attempt {
  outcome: 'dropped' | 'refused' | 'hostkey' | 'forward' | 'stopped';
  wasUp: boolean;
  detail: string;
}

/** The whole command; resolves to its exit code. */
const runTunnel = async (opts: TunnelOptions, io: TunnelIo, sealedKeyFile: string | null): Promise<number> => {
  const paths = statePaths(opts.stateDir);
  const stateFile = path.join(opts.stateDir, TUNNEL_STATE_FILE);
  let current: TunnelStateName | null = null;
  let since = new Date().toISOString();
  let detailNow = '';
  let forwardsNow: { local: string[]; remote: string[] } = { local: [], remote: [] };
  let health: { checked_at: string | null; ok: boolean | null; failures: number } = { checked_at: null, ok: null, failures: 0 };
  const writeState = () =>
    writeFileAtomic(stateFile, `${JSON.stringify({ state: current, since, detail: detailNow, pid: process.pid, forwards: forwardsNow, health })}\n`);
  const setState = async (state: TunnelStateName, detail: string) => {
    if (state !== current) io.err.write(`${new Date().toISOString()} airlock-agent tunnel: ${state}${detail ? ` (${detail})` : ''}\n`);
    if (state !== current) since = new Date().toISOString();
    current = state;
    detailNow = detail;
    await writeState().catch(() => {
      io.err.write(`airlock-agent tunnel: cannot write ${stateFile}\n`);
    });
  };

  const creds = await readCredentials(paths);
  if (creds === null) {
    io.err.write(`airlock-agent tunnel: not enrolled (no ${paths.credentials}); run airlock-agent enroll first\n`);
    return TunnelExit.NotEnrolled;
  }
  const parsed = v.safeParse(SshCredentials, creds.ssh);
  if (!parsed.success) {
    io.err.write('airlock-agent tunnel: no SSH tunnel was issued with these credentials (the server has no tunnel endpoint configured)\n');
    return TunnelExit.NotEnrolled;
  }
  const ssh = parsed.output;
  if (ssh.known_hosts.trim() === '') {
    io.err.write('airlock-agent tunnel: the credentials carry no host key for the tunnel endpoint; refusing to trust one on first use\n');
    return TunnelExit.Internal;
  }
  const keyFile = sealedKeyFile ?? path.resolve(opts.stateDir, creds.private_key_file);
  const { secretKey } = parseOpenSshPrivateKey(await readFile(keyFile, 'utf8'));
  const knownHosts = path.join(opts.stateDir, TUNNEL_KNOWN_HOSTS_FILE);
  await writeFileAtomic(knownHosts, ssh.known_hosts.endsWith('\n') ? ssh.known_hosts : `${ssh.known_hosts}\n`);
  const args = sshArgs(ssh, keyFile, knownHosts, opts);
  const probed = localPorts(args);
  forwardsNow = {
    local: args.flatMap((a, i) => (args[i - 1] === '-L' ? [a] : [])),
    remote: (ssh.remote_forwards ?? []).map((f) => `${f.listen} -> ${f.to}`),
  };

  const attempt = (): Promise<Attempt> =>
    new Promise((resolve) => {
      const child = spawn(opts.ssh, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: io.env.PATH ?? '/usr/bin:/bin', HOME: opts.stateDir } });
      let stderr = '';
      let wasUp = false;
      const onAbort = () => child.kill('SIGTERM');
      io.signal.addEventListener('abort', onAbort, { once: true });
      let unhealthy = false;
      let watch: HealthWatch | null = null;
      child.stderr?.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString('utf8')).slice(-8192);
        if (!wasUp && /Authenticated to /.test(stderr)) {
          wasUp = true;
          void setState('up', `${ssh.user}@${ssh.host}:${ssh.port}, forwarding ${[...ssh.permit_open, ...forwardsNow.remote].join(', ')}`);
          if (opts.healthIntervalMs > 0) {
            watch = watchForwards({
              ports: probed,
              intervalMs: opts.healthIntervalMs,
              maxFailures: opts.healthFailures,
              onRound: (r) => {
                health = { checked_at: new Date().toISOString(), ok: r.ok, failures: r.failures };
                if (!r.ok) io.err.write(`${new Date().toISOString()} airlock-agent tunnel: health check failed (${r.failures}/${opts.healthFailures})\n`);
                void writeState().catch(() => {});
              },
              onUnhealthy: () => {
                unhealthy = true;
                child.kill('SIGTERM');
              },
            });
          }
        }
      });
      let settled = false;
      // A missing ssh binary emits 'error' and may never emit 'close'.
      child.once('error', (err) => {
        stderr += `\n${err.message}`;
        if (child.pid === undefined && !settled) {
          settled = true;
          io.signal.removeEventListener('abort', onAbort);
          resolve({ outcome: 'dropped', wasUp: false, detail: `cannot run ${opts.ssh}: ${err.message}`.slice(0, 200) });
        }
      });
      child.once('close', (code) => {
        (watch as HealthWatch | null)?.stop();
        if (settled) return;
        settled = true;
        io.signal.removeEventListener('abort', onAbort);
        if (unhealthy && !io.signal.aborted) {
          resolve({ outcome: 'dropped', wasUp, detail: `the forwards did not answer ${opts.healthFailures} health checks in a row; reconnecting` });
          return;
        }
        const last = stderr.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('debug') && !/^Authenticated to|^Warning: Permanently/.test(l)).pop() ?? `ssh exited ${code}`;
        const detail = last.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
        if (io.signal.aborted) resolve({ outcome: 'stopped', wasUp, detail: 'stopped' });
        else if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No .* host key is known/.test(stderr)) resolve({ outcome: 'hostkey', wasUp, detail: 'host key does not match the stored known_hosts' });
        else if (/Permission denied \(publickey/.test(stderr)) resolve({ outcome: 'refused', wasUp, detail: 'the endpoint refused the key' });
        else if (/forwarding failed|cannot listen to port|Address already in use/i.test(stderr)) resolve({ outcome: 'forward', wasUp, detail });
        else resolve({ outcome: 'dropped', wasUp, detail });
      });
    });

  let backoffMs = 1000;
  for (;;) {
    if (io.signal.aborted) break;
    await setState('connecting', `${ssh.host}:${ssh.port}`);
    const started = Date.now();
    const result = await attempt();
    if (result.outcome === 'stopped') break;
    if (result.outcome === 'refused') {
      const check = await checkWithServer(creds, secretKey, io);
      if (check === 'revoked') {
        await setState('revoked', 'the server says this agent was revoked; not reconnecting. Re-enroll to get access again');
        return TunnelExit.Revoked;
      }
      result.detail += check === 'active' ? '; the server says the agent is active (endpoint or api trouble), retrying' : '; revocation could not be confirmed with the server, retrying';
    }
    // A connection that held for a while starts the backoff over.
    if (result.wasUp && Date.now() - started > 10_000) backoffMs = 1000;
    const wait = Math.round(backoffMs * (0.8 + Math.random() * 0.4));
    await setState('backoff', `${result.detail}; retry in ${Math.ceil(wait / 1000)} s`);
    const slept = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(true), wait);
      io.signal.addEventListener('abort', () => (clearTimeout(t), resolve(false)), { once: true });
    });
    if (!slept) break;
    backoffMs = Math.min(backoffMs * 2, opts.maxBackoffMs);
  }
  await setState('stopped', 'stopped by signal');
  return TunnelExit.Stopped;
};

/** Entry point from main.ts: arguments after `tunnel`. */
const runTunnelCommand = async (argv: readonly string[], io: TunnelIo): Promise<number> => {
  try {
    const opts = parseTunnelArgs(argv, io.env);
    if (opts === 'help') {
      io.err.write(TUNNEL_HELP);
      return TunnelExit.Stopped;
    }
    // Sealed state: ssh -i gets the decrypted key in a 0700 runtime directory (tmpfs under the unit), removed on exit.
    const paths = statePaths(opts.stateDir);
    const sealedPem = (await isSealed(paths)) ? await readPrivateKeyPem(paths) : null;
    const runtimeKey = sealedPem !== null ? await runtimeKeyFile(sealedPem, io.env) : null;
    try {
      return await runTunnel(opts, io, runtimeKey?.file ?? null);
    } finally {
      await runtimeKey?.remove();
    }
  } catch (err) {
    if (err instanceof TunnelUsageError) {
      io.err.write(`airlock-agent tunnel: ${err.message}\nRun airlock-agent tunnel --help for usage.\n`);
      return TunnelExit.Usage;
    }
    io.err.write(`airlock-agent tunnel: ${err instanceof Error ? err.message : String(err)}\n`);
    return TunnelExit.Internal;
  }
};

/** `airlock-agent tunnel`, in the command table (commands/index.ts). */
export const tunnelCommand: AgentCommand = {
  name: 'tunnel',
  summary: 'keep the SSH tunnel to the management server up (ssh -N), until stopped or revoked',
  help: () => TUNNEL_HELP,
  run: async (argv, ctx) => (await runTunnelCommand(argv, { err: ctx.err, env: ctx.env, signal: ctx.signal })) as ExitCode,
};
