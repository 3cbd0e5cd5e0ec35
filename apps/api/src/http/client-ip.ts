import { isIP, type BlockList } from 'node:net';

/** `::ffff:10.0.0.1` is 10.0.0.1: one client, one throttle key, one audit address. */
export const foldMappedIPv4 = (ip: string): string => {
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  return m?.[1] ?? ip;
};

export const contains = (list: BlockList, ip: string): boolean => {
  const family = isIP(ip);
  return family !== 0 && list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
};

/**
 * The client address: the socket peer, unless the peer is a trusted proxy
 * (the edge), whose X-Forwarded-For we then believe. Only the last entry is
 * taken: it is the one our own proxy appended; anything left of it came from
 * the client and proves nothing.
 */
export const resolveClientIp = (peer: string | undefined, xff: string | undefined, trusted: BlockList): string => {
  const socketIp = foldMappedIPv4(peer ?? '');
  if (!xff || !contains(trusted, socketIp)) return socketIp || 'unknown';
  const last = foldMappedIPv4(xff.split(',').at(-1)?.trim() ?? '');
  return isIP(last) ? last : socketIp;
};
