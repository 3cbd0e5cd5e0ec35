/**
 * What the tunnel reads from sshd's `-e` VERBOSE log. The lines carry no
 * PIDs, so connections are named by the client's address and port.
 */
export type SshdLogEvent =
  | { kind: 'accepted'; user: string; ip: string; port: number; fingerprint: string }
  | { kind: 'failed'; user: string; ip: string; port: number; fingerprint: string }
  | { kind: 'closed'; ip: string; port: number }
  | { kind: 'listening' };

const IP = '([0-9A-Fa-f:.]{2,45})';
const FP = '(SHA256:[A-Za-z0-9+/]{43})';
const ACCEPTED = new RegExp(`^Accepted publickey for ([a-z_][a-z0-9_-]{0,31}) from ${IP} port (\\d{1,5}) ssh2: [A-Z0-9-]+ ${FP}$`);
const FAILED = new RegExp(`^Failed publickey for (?:invalid user )?(\\S{1,64}) from ${IP} port (\\d{1,5}) ssh2: [A-Z0-9-]+ ${FP}$`);
const CLOSED = [
  new RegExp(`^Disconnected from user \\S{1,64} ${IP} port (\\d{1,5})$`),
  new RegExp(`^Connection closed by ${IP} port (\\d{1,5})$`),
  new RegExp(`^Connection reset by ${IP} port (\\d{1,5})$`),
  new RegExp(`^Timeout, client not responding from user \\S{1,64} ${IP} port (\\d{1,5})$`),
];

/** One sshd log line to an event, or null for the many lines the tunnel ignores. */
export const parseSshdLine = (raw: string): SshdLogEvent | null => {
  const line = raw.trim();
  let m = ACCEPTED.exec(line);
  if (m) return { kind: 'accepted', user: m[1] ?? '', ip: m[2] ?? '', port: Number(m[3]), fingerprint: m[4] ?? '' };
  m = FAILED.exec(line);
  if (m) return { kind: 'failed', user: m[1] ?? '', ip: m[2] ?? '', port: Number(m[3]), fingerprint: m[4] ?? '' };
  for (const re of CLOSED) {
    m = re.exec(line);
    if (m) return { kind: 'closed', ip: m[1] ?? '', port: Number(m[2]) };
  }
  if (line.startsWith('Server listening on ')) return { kind: 'listening' };
  return null;
};
