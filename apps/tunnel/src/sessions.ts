/**
 * Sessions as the process table shows them. After authentication OpenSSH
 * 9.2 runs each session as a child of the tunnel account (uid `airlock`)
 * under the connection's root monitor; before it, the child runs as the
 * privilege-separation user. So every post-auth session of our endpoint is
 * an `sshd` process of the tunnel account holding a connection to our
 * listener, and its parent is the monitor the keys service recorded.
 */
import { readFile, readdir } from 'node:fs/promises';
import type { Peer } from './events.ts';
import { ourConnections, processesNamed, readProc, socketInodes, tcpSockets, type Proc, type ProcRef } from './procfs.ts';

export interface Session {
  /** `monitorPid:start`, or the child's own when it has no monitor. */
  key: string;
  /** The root monitor; null when the child's parent is not one (orphaned, or something odd). */
  monitor: ProcRef | null;
  child: ProcRef;
  peer: Peer;
}

const ref = (p: Proc): ProcRef => ({ pid: p.pid, start: p.start });

/** Every post-auth session on our listener, in one read of the TCP tables and the sshd processes. */
export const enumerateSessions = async (o: { host: string; port: number; tunnelUid: number }): Promise<Session[]> => {
  const ours = ourConnections(await tcpSockets(), o.host, o.port);
  if (ours.size === 0) return [];
  const sshd = await processesNamed('sshd');
  const byPid = new Map(sshd.map((p) => [p.pid, p]));
  const sessions: Session[] = [];
  for (const p of sshd) {
    if (p.uid !== o.tunnelUid) continue;
    const conn = [...(await socketInodes(p.pid))].map((i) => ours.get(i)).find((s) => s !== undefined);
    // Not one of ours (another sshd on this host serving the same account, e.g. the system's on port 22).
    if (!conn) continue;
    const parent = byPid.get(p.ppid);
    // A process the session itself forked (before it execs a command): part of its parent's session.
    if (parent && parent.uid === o.tunnelUid) continue;
    const monitor = parent && parent.uid === 0 ? ref(parent) : null;
    sessions.push({
      key: monitor ? `${monitor.pid}:${monitor.start}` : `child:${p.pid}:${p.start}`,
      monitor,
      child: ref(p),
      peer: { ip: conn.remoteIp, port: conn.remotePort },
    });
  }
  return sessions;
};

/** Every sshd process holding a connection to our listener, whatever its state: for a start after a hard death, and for stop. */
export const sshdOnOurPort = async (o: { host: string; port: number }): Promise<ProcRef[]> => {
  const ours = ourConnections(await tcpSockets(), o.host, o.port);
  if (ours.size === 0) return [];
  const out: ProcRef[] = [];
  for (const p of await processesNamed('sshd')) {
    if ([...(await socketInodes(p.pid))].some((i) => ours.has(i))) out.push(ref(p));
  }
  return out;
};

/**
 * sshd listeners started with this exact config file: ours by construction.
 * A run that died hard (SIGKILL) leaves its listener holding the port.
 */
export const sshdListenersFor = async (configPath: string): Promise<ProcRef[]> => {
  const out: ProcRef[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      // sshd rewrites its title ("sshd: /usr/sbin/sshd -D -e -f PATH [listener] …"): match the words, not argv.
      const cmdline = `${(await readFile(`/proc/${entry}/cmdline`, 'utf8')).replace(/\0+/g, ' ').trimEnd()} `;
      if (!cmdline.includes(` -f ${configPath} `)) continue;
      const p = await readProc(Number(entry));
      if (p?.comm === 'sshd') out.push(ref(p));
    } catch {
      // gone while we looked
    }
  }
  return out;
};
