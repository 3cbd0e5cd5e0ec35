/**
 * Finds the sshd processes serving one client connection. Each connection's
 * sshd calls setsid() and the log carries no PIDs, so the tunnel goes from
 * the client's address and port to the ESTABLISHED socket in /proc/net/tcp*,
 * then to the processes holding that socket inode.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import { isIPv4 } from 'node:net';

const ESTABLISHED = '01';

/** The kernel's hex form of an address in /proc/net/tcp (IPv4, little-endian) or tcp6. */
const hexAddress = (ip: string): string[] => {
  if (isIPv4(ip)) {
    const b = ip.split('.').map((p) => Number(p).toString(16).padStart(2, '0').toUpperCase());
    const v4 = [b[3], b[2], b[1], b[0]].join('');
    // The same peer seen on a dual-stack listener: ::ffff:a.b.c.d in four little-endian words.
    return [v4, `0000000000000000FFFF0000${v4}`];
  }
  return [];
};

/** Inodes of ESTABLISHED sockets on our port; with a peer, only that peer's. */
const socketInodes = async (localPort: number, peerIp?: string, peerPort?: number): Promise<Set<string>> => {
  const wantAddr = peerIp === undefined ? [] : hexAddress(peerIp.replace(/^::ffff:/i, ''));
  const lp = localPort.toString(16).toUpperCase().padStart(4, '0');
  const pp = peerPort?.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const [local, remote, state, inode] = [f[1], f[2], f[3], f[9]];
      if (!local || !remote || state !== ESTABLISHED || !inode) continue;
      const [, lport] = local.split(':');
      const [raddr, rport] = remote.split(':');
      if (lport !== lp || (pp !== undefined && rport !== pp)) continue;
      // IPv6 peers other than mapped IPv4 are matched by port alone: still one socket per client port.
      if (wantAddr.length > 0 && !wantAddr.includes(raddr ?? '')) continue;
      inodes.add(inode);
    }
  }
  return inodes;
};

/** The peer ports of every ESTABLISHED connection to our port: one read of /proc/net/tcp* for a whole poll. */
export const establishedPeerPorts = async (localPort: number): Promise<Set<number>> => {
  const lp = localPort.toString(16).toUpperCase().padStart(4, '0');
  const ports = new Set<number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] !== ESTABLISHED || f[1]?.split(':')[1] !== lp) continue;
      const rport = f[2]?.split(':')[1];
      if (rport) ports.add(parseInt(rport, 16));
    }
  }
  return ports;
};

/** PIDs of sshd processes holding the connection from peerIp:peerPort to our localPort (every connection without a peer). */
export const sshdPidsForConnection = async (localPort: number, peerIp?: string, peerPort?: number): Promise<number[]> => {
  const inodes = await socketInodes(localPort, peerIp, peerPort);
  if (inodes.size === 0) return [];
  const wanted = new Set([...inodes].map((i) => `socket:[${i}]`));
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Only sshd processes: never signal anything else that happens to share a socket.
      const comm = (await readFile(`/proc/${entry}/comm`, 'utf8')).trim();
      if (!comm.startsWith('sshd')) continue;
      for (const fd of await readdir(`/proc/${entry}/fd`)) {
        const target = await readlink(`/proc/${entry}/fd/${fd}`).catch(() => '');
        if (wanted.has(target)) {
          pids.push(Number(entry));
          break;
        }
      }
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
};

/**
 * sshd listeners started with this exact config file: ours by construction.
 * A run that died hard (SIGKILL) leaves its listener holding the port.
 */
export const sshdListenersFor = async (configPath: string): Promise<number[]> => {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const comm = (await readFile(`/proc/${entry}/comm`, 'utf8')).trim();
      if (!comm.startsWith('sshd')) continue;
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).replace(/\0/g, ' ');
      if (cmdline.includes(` -f ${configPath} `) || cmdline.endsWith(` -f ${configPath}`) || cmdline.includes(` -f ${configPath} [listener]`)) pids.push(Number(entry));
    } catch {
      // gone while we looked
    }
  }
  return pids;
};

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Ends a connection's sshd processes: SIGTERM, then SIGKILL for any still there after a second. */
export const endProcesses = async (pids: number[]): Promise<void> => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + 1000;
  while (Date.now() < deadline && pids.some(isAlive)) await new Promise((r) => setTimeout(r, 50));
  for (const pid of pids.filter(isAlive)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
};
