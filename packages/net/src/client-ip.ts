import { BlockList, isIP, isIPv4 } from 'node:net';

/**
 * Folds an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) to plain IPv4, so the
 * same client never gets two throttle identities.
 *
 * @example
 *   foldIp('::ffff:192.0.2.1'); // '192.0.2.1'
 */
export const foldIp = (address: string): string => {
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return m?.[1] !== undefined && isIPv4(m[1]) ? m[1] : address.toLowerCase();
};

/** Parses EDGE_TRUSTED_PROXIES entries (`10.0.0.0/8`, `::1`, …); throws on the first bad one. */
export const buildTrustList = (cidrs: readonly string[]): BlockList => {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [addr = '', bits] = cidr.split('/');
    const family = isIP(addr);
    if (family === 0) throw new Error(`not an IP address: ${cidr}`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    const max = family === 4 ? 32 : 128;
    if (bits === undefined) {
      list.addAddress(addr, type);
    } else {
      const prefix = Number(bits);
      if (!/^\d{1,3}$/.test(bits) || prefix > max) throw new Error(`bad prefix length: ${cidr}`);
      list.addSubnet(addr, prefix, type);
    }
  }
  return list;
};

export const isTrusted = (list: BlockList, ip: string): boolean => {
  const family = isIP(ip);
  return family !== 0 && list.check(ip, family === 4 ? 'ipv4' : 'ipv6');
};

/**
 * The client address behind a trusted proxy: walk X-Forwarded-For from the
 * right (the entries our own proxies appended) and take the first hop that is
 * not itself trusted. Returns null when the header is malformed.
 *
 * @example
 *   resolveForwardedFor('198.51.100.9, 10.0.0.2', trustOf(['10.0.0.0/8'])); // '198.51.100.9'
 */
export const resolveForwardedFor = (header: string, trust: BlockList): string | null => {
  const hops = header.split(',').map((h) => foldIp(h.trim()));
  if (hops.length === 0 || hops.length > 16 || hops.some((h) => isIP(h) === 0)) return null;
  for (let i = hops.length - 1; i >= 0; i -= 1) {
    const hop = hops[i];
    if (hop !== undefined && !isTrusted(trust, hop)) return hop;
  }
  return hops[0] ?? null;
};

/**
 * The identity used in throttle keys and connection counting. IPv6 clients
 * get their /64, because one subscriber usually owns the whole /64 and could
 * otherwise rotate addresses to dodge every per-IP limit.
 *
 * @example
 *   throttleIdentity('2001:db8:1:2:aaaa::1'); // '2001:db8:1:2::/64'
 */
export const throttleIdentity = (ip: string): string => {
  if (isIP(ip) !== 6) return ip;
  const groups = expandIpv6(ip);
  if (!groups) return ip;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
};

const expandIpv6 = (ip: string): string[] | null => {
  const [head = '', tail] = ip.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  // An embedded IPv4 tail only appears in the last 32 bits; the /64 ignores it.
  const fill = 8 - left.length - right.length - (right.some((g) => g.includes('.')) ? 1 : 0);
  if (tail === undefined && left.length < 4) return null;
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(fill, 0)).fill('0'), ...right];
  return groups.length >= 4 ? groups.map((g) => g.toLowerCase()) : null;
};
