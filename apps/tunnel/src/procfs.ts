/**
 * What the tunnel reads from /proc: processes (uid, parent, start time),
 * their sockets, and the kernel's TCP table. These are the facts sessions
 * are tracked and cut on; a client cannot write any of them (sshd's log, by
 * contrast, carries client-chosen text: issue 18, finding 1).
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { foldIp } from '@airlock/net';

/** A process as /proc shows it. `start` (clock ticks since boot) tells a reused PID apart. */
export interface Proc {
  pid: number;
  ppid: number;
  /** Real uid. */
  uid: number;
  comm: string;
  /** R, S, Z (exited, not yet reaped), … */
  state: string;
  start: string;
}

/** A process we may signal later: the PID and the start time it had when we looked. */
export type ProcRef = Pick<Proc, 'pid' | 'start'>;

export interface TcpSocket {
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
  /** Kernel state: 01 ESTABLISHED, 0A LISTEN. */
  state: string;
  inode: string;
}

const TCP_ESTABLISHED = '01';
export const TCP_LISTEN = '0A';

/** `/proc/<pid>/stat`'s comm may hold spaces and parentheses: fields start after the last ')'. */
export const parseStat = (text: string): { comm: string; state: string; ppid: number; start: string } | null => {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const rest = text.slice(close + 2).split(' ');
  // After comm: state(3) ppid(4) … starttime(22), so rest[0] is field 3.
  const ppid = Number(rest[1]);
  const start = rest[19];
  if (!Number.isInteger(ppid) || start === undefined || !/^\d+$/.test(start)) return null;
  return { comm: text.slice(open + 1, close), state: rest[0] ?? '', ppid, start };
};

export const parseUid = (status: string): number | null => {
  const m = /^Uid:\s+(\d+)/m.exec(status);
  return m?.[1] === undefined ? null : Number(m[1]);
};

/** One process, or null if it is gone (or was never there). */
export const readProc = async (pid: number): Promise<Proc | null> => {
  try {
    const stat = parseStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
    if (!stat) return null;
    const uid = parseUid(await readFile(`/proc/${pid}/status`, 'utf8'));
    return uid === null ? null : { pid, uid, ...stat };
  } catch {
    return null;
  }
};

/** Every process whose comm is `comm` (sshd's processes keep comm "sshd" whatever their title says). */
export const processesNamed = async (comm: string): Promise<Proc[]> => {
  const out: Proc[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = parseStat(await readFile(`/proc/${entry}/stat`, 'utf8'));
      if (stat?.comm !== comm) continue;
      const uid = parseUid(await readFile(`/proc/${entry}/status`, 'utf8'));
      if (uid !== null) out.push({ pid: Number(entry), uid, ...stat });
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
};

/** Direct children of a process (the kernel's list; a scan of /proc where the kernel lacks it). */
export const childrenOf = async (pid: number): Promise<number[]> => {
  try {
    const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
    return text.trim() === '' ? [] : text.trim().split(/\s+/).map(Number);
  } catch {
    const kids: number[] = [];
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = parseStat(await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => ''));
      if (stat?.ppid === pid) kids.push(Number(entry));
    }
    return kids;
  }
};

/** Inodes of the sockets a process holds open. */
export const socketInodes = async (pid: number): Promise<Set<string>> => {
  const inodes = new Set<string>();
  try {
    for (const fd of await readdir(`/proc/${pid}/fd`)) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m?.[1]) inodes.add(m[1]);
    }
  } catch {
    // gone
  }
  return inodes;
};

/** One text per address: IPv6 compressed as RFC 5952 says (the URL parser does it), mapped IPv4 folded to dotted. */
export const canonicalIp = (ip: string): string => {
  if (isIPv4(ip)) return ip;
  try {
    return foldIp(new URL(`http://[${ip.replace(/^\[|\]$/g, '')}]/`).hostname.slice(1, -1));
  } catch {
    return ip.toLowerCase();
  }
};

/** The kernel's hex address (IPv4: one little-endian word; IPv6: four) as canonical text. */
export const hexToIp = (hex: string): string => {
  const word = (w: string) => [w.slice(6, 8), w.slice(4, 6), w.slice(2, 4), w.slice(0, 2)].map((b) => parseInt(b, 16));
  if (hex.length === 8) return word(hex).join('.');
  const bytes = [0, 8, 16, 24].flatMap((i) => word(hex.slice(i, i + 8)));
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return canonicalIp(groups.join(':'));
};

export const parseTcpTable = (text: string): TcpSocket[] => {
  const out: TcpSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    const [local, remote, state, inode] = [f[1], f[2], f[3], f[9]];
    if (!local || !remote || !state || !inode) continue;
    const [lip = '', lport = ''] = local.split(':');
    const [rip = '', rport = ''] = remote.split(':');
    out.push({ localIp: hexToIp(lip), localPort: parseInt(lport, 16), remoteIp: hexToIp(rip), remotePort: parseInt(rport, 16), state, inode });
  }
  return out;
};

/** Both TCP tables, one read each. */
export const tcpSockets = async (): Promise<TcpSocket[]> => {
  const out: TcpSocket[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) out.push(...parseTcpTable(await readFile(file, 'utf8').catch(() => '')));
  return out;
};

/** Whether a socket's local end is our listener's address (a wildcard listener takes any). */
export const isOurLocal = (s: Pick<TcpSocket, 'localIp' | 'localPort'>, host: string, port: number): boolean =>
  s.localPort === port && (host === '0.0.0.0' || host === '::' || s.localIp === canonicalIp(host));

/** ESTABLISHED connections to our listener, by socket inode. */
export const ourConnections = (sockets: TcpSocket[], host: string, port: number): Map<string, TcpSocket> =>
  new Map(sockets.filter((s) => s.state === TCP_ESTABLISHED && isOurLocal(s, host, port)).map((s) => [s.inode, s]));

/** Still the process we saw, and not merely its unreaped exit status. */
const isSame = async (p: ProcRef): Promise<boolean> => {
  const now = await readProc(p.pid);
  return now !== null && now.start === p.start && now.state !== 'Z';
};

/**
 * Ends processes we looked at earlier: SIGTERM, then SIGKILL for any still
 * there after a second. Each signal goes only if the PID still has the start
 * time we saw, so a PID the kernel gave to someone else meanwhile is spared.
 */
export const endProcesses = async (procs: ProcRef[]): Promise<void> => {
  const signal = async (p: ProcRef, sig: NodeJS.Signals) => {
    if (!(await isSame(p))) return;
    try {
      process.kill(p.pid, sig);
    } catch {
      // already gone
    }
  };
  for (const p of procs) await signal(p, 'SIGTERM');
  const deadline = Date.now() + 1000;
  const alive = async () => (await Promise.all(procs.map(isSame))).some(Boolean);
  while (Date.now() < deadline && (await alive())) await new Promise((r) => setTimeout(r, 50));
  for (const p of procs) await signal(p, 'SIGKILL');
};
