/**
 * The keys service: sshd's AuthorizedKeysCommand (a tiny Perl client, see
 * helper/airlock-keys.pl) asks it over a Unix socket that only the keys
 * account may open. It checks in /proc that the asker's parent is an sshd
 * monitor serving a connection to our port, asks the api, records which
 * agents it authorised for that monitor (the session poll acts on that
 * record, never on sshd's log), and answers the authorized_keys lines.
 *
 * Wire: one line in, `airlock-keys/1 PPID USER FINGERPRINT TYPE KEY`; out,
 * `ok N` and N lines, or `deny` (the helper then prints nothing, exit 1).
 */
import { chmod, chown, lstat, mkdir, unlink } from 'node:fs/promises';
import * as net from 'node:net';
import path from 'node:path';
import type { TunnelApi } from './api.ts';
import { AuthorisationBook } from './authorisations.ts';
import type { TunnelConfig } from './env.ts';
import type { LogFn, Peer, Reporter } from './events.ts';
import { REMOTE_LISTEN_HOST } from './sshd-config.ts';
import { childrenOf, ourConnections, readProc, socketInodes, tcpSockets, type ProcRef } from './procfs.ts';

const QUESTION = /^airlock-keys\/1 (\d{1,10}) ([a-z_][a-z0-9_-]{0,31}) (SHA256:[A-Za-z0-9+/]{43}) ([a-z0-9@.-]{1,64}) ([A-Za-z0-9+/]{1,4096}={0,2})$/;
const ED25519_BLOB = /^AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43}=?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// What goes inside permitopen="…": no quotes, spaces or commas can get in. The helper checks the same shape.
const HOST_PORT = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\]):[0-9]{1,5}$/;
const MAX_QUESTION = 8192;
const isPort = (p: unknown): p is number => typeof p === 'number' && Number.isInteger(p) && p >= 1024 && p <= 65535;
const QUESTION_TIMEOUT_MS = 5000;

/**
 * An agent without a reverse port: a listen host sshd_config's PermitListen
 * (127.0.0.1 only) never matches, so sshd refuses every -R of this key. Without
 * any permitlisten the key would be allowed every loopback port.
 */
const NO_REMOTE_LISTEN = 'localhost:1';

/**
 * The authorized_keys line for one agent: forwarding to permit_open only,
 * listening (-R) only on its own port of the endpoint's loopback, no shell,
 * the offered key itself.
 */
export const keyLine = (permitOpen: string[], key: string, agentId: string, remotePort: number | null): string => {
  const listen = remotePort === null ? NO_REMOTE_LISTEN : `${REMOTE_LISTEN_HOST}:${remotePort}`;
  const options = ['restrict', 'port-forwarding', ...permitOpen.map((p) => `permitopen="${p}"`), `permitlisten="${listen}"`, 'command="/bin/false"'];
  return `${options.join(',')} ssh-ed25519 ${key} airlock-agent-${agentId}`;
};

export interface Monitor extends ProcRef {
  peer: Peer;
}

/**
 * The asker's parent as a verified sshd monitor: root, comm sshd, holding a
 * connection to our listener, with a child of the keys account (the helper
 * asking right now). A PID alone proves nothing; these facts come from the
 * kernel, and the start time pins the PID to this process.
 */
const verifyMonitor = async (
  pid: number,
  o: { host: string; port: number; keysUid: number },
): Promise<Monitor | { refused: string }> => {
  const proc = await readProc(pid);
  if (!proc || proc.comm !== 'sshd' || proc.uid !== 0) return { refused: 'not a root sshd process' };
  const ours = ourConnections(await tcpSockets(), o.host, o.port);
  const held = [...(await socketInodes(pid))].map((i) => ours.get(i)).filter((s) => s !== undefined);
  if (held.length !== 1 || !held[0]) return { refused: 'holds no connection to our listener' };
  const kids = await Promise.all((await childrenOf(pid)).map(readProc));
  if (!kids.some((k) => k?.uid === o.keysUid)) return { refused: 'runs no process of the keys account' };
  // Re-read: the PID must still be the process we checked.
  if ((await readProc(pid))?.start !== proc.start) return { refused: 'ended while checked' };
  return { pid, start: proc.start, peer: { ip: held[0].remoteIp, port: held[0].remotePort } };
};

export interface KeysService {
  book: AuthorisationBook;
  close(): Promise<void>;
}

export const startKeysService = async (o: {
  config: Pick<TunnelConfig, 'host' | 'port' | 'user' | 'keysSocket'>;
  keysAccount: { uid: number; gid: number };
  api: TunnelApi;
  reporter: Reporter;
  log: LogFn;
  /** Seconds one api lookup took (the metrics' histogram). */
  observeLookup?: (seconds: number) => void;
}): Promise<KeysService> => {
  const { config, api, reporter, log } = o;
  const book = new AuthorisationBook();
  const c = reporter.counters;

  const answer = async (question: string): Promise<string> => {
    const m = QUESTION.exec(question);
    if (!m) {
      c.keys_failed++;
      return 'deny';
    }
    const [, ppid = '', user, fingerprint = '', keyType = '', key = ''] = m;
    // Other accounts are not ours to authorise (AllowUsers already stops them).
    if (user !== config.user) return 'ok 0';
    // Agents enroll Ed25519 keys only (and sshd accepts nothing else): no api call.
    if (keyType !== 'ssh-ed25519' || !ED25519_BLOB.test(key)) {
      c.keys_unknown++;
      return 'ok 0';
    }
    const monitor = await verifyMonitor(Number(ppid), { host: config.host, port: config.port, keysUid: o.keysAccount.uid });
    if ('refused' in monitor) {
      c.keys_failed++;
      log('warn', 'keys question from a process that is not one of our sshd sessions: refused', { ppid: Number(ppid), why: monitor.refused });
      return 'deny';
    }
    let res;
    const asked = performance.now();
    try {
      res = await api.authorizedKeys({ fingerprint, keyType, key });
      o.observeLookup?.((performance.now() - asked) / 1000);
    } catch (err) {
      c.keys_failed++;
      c.keys_lookup_errors++;
      log('warn', 'keys lookup failed; refused', { reason: err instanceof Error ? err.message : 'unknown' });
      return 'deny';
    }
    const permit = Array.isArray(res.permit_open) ? res.permit_open : [];
    // No destination list would mean "forward anywhere" to sshd: refuse instead.
    if (permit.length === 0 || !permit.every((p) => typeof p === 'string' && HOST_PORT.test(p))) {
      c.keys_failed++;
      log('warn', 'the api answered no valid permit_open list; refused');
      return 'deny';
    }
    // Only the offered key itself, byte for byte: the api cannot widen what sshd accepts.
    const agents = (Array.isArray(res.keys) ? res.keys : [])
      .filter((k) => typeof k.agent_id === 'string' && UUID.test(k.agent_id) && k.public_key === `ssh-ed25519 ${key}`)
      .map((k) => ({ id: k.agent_id, port: isPort(k.remote_port) ? k.remote_port : null }))
      .slice(0, 8);
    if (agents.length > 0) {
      // Recorded before sshd reads the answer: the record is complete before the session can begin.
      book.record(monitor, { agentIds: agents.map((a) => a.id), fingerprint });
      c.keys_authorised++;
      return [`ok ${agents.length}`, ...agents.map((a) => keyLine(permit, key, a.id, a.port))].join('\n');
    }
    const inactive = (res.inactive ?? []).map((h) => h.agent_id).filter((id) => typeof id === 'string' && UUID.test(id));
    if (inactive.length > 0) {
      c.keys_refused_inactive++;
      // Not awaited: sshd waits for this answer, the audit row need not hold it up.
      void reporter.deniedKnown(inactive, fingerprint, monitor.peer, 'key_not_authorized');
    } else {
      c.keys_unknown++;
    }
    return 'ok 0';
  };

  // allowHalfOpen: the helper shuts its write side after the question; the answer must still go back.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    let buf = '';
    socket.setEncoding('utf8');
    socket.setTimeout(QUESTION_TIMEOUT_MS, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_QUESTION) return void socket.destroy();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      socket.pause();
      answer(buf.slice(0, nl))
        .catch((err: unknown) => {
          c.keys_failed++;
          log('error', 'keys question failed', { reason: err instanceof Error ? err.message : 'unknown' });
          return 'deny';
        })
        .then((text) => socket.end(`${text}\n`));
    });
  });

  // The directory is root:<keys group> 0750 before the socket exists, so no
  // other account can reach the socket even in the instant before its chmod.
  const dir = path.dirname(config.keysSocket);
  await mkdir(dir, { recursive: true, mode: 0o750 });
  await chown(dir, 0, o.keysAccount.gid);
  await chmod(dir, 0o750);
  const stale = await lstat(config.keysSocket).catch(() => null);
  if (stale?.isSocket()) await unlink(config.keysSocket);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.keysSocket, () => resolve());
  });
  await chown(config.keysSocket, 0, o.keysAccount.gid);
  await chmod(config.keysSocket, 0o660);
  log('info', 'keys service listening', { socket: config.keysSocket });

  return {
    book,
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await unlink(config.keysSocket).catch(() => {});
    },
  };
};
