import { BlockList, isIP, isIPv4 } from 'node:net';

/**
 * The eight 16-bit groups of an IPv6 address (embedded dotted IPv4 tail
 * included), or null when it is not one.
 */
const ipv6Groups = (ip: string): number[] | null => {
  if (isIP(ip) !== 6) return null;
  let text = ip.toLowerCase();
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  // A dotted IPv4 tail (`::ffff:192.0.2.1`) is two groups.
  const dotted = /^(.*:)(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (dotted?.[1] !== undefined && dotted[2] !== undefined) {
    const octets = dotted[2].split('.').map(Number);
    const [a = 0, b = 0, c = 0, d = 0] = octets;
    text = `${dotted[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? 0 : 8 - left.length - right.length;
  const all = [...left, ...Array<string>(Math.max(fill, 0)).fill('0'), ...right];
  if (all.length !== 8) return null;
  return all.map((g) => Number.parseInt(g, 16));
};

const v4From = (hi: number, lo: number): string => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;

/**
 * The IPv4 address an IPv6 address carries, when it is only a wrapper for
 * one: IPv4-mapped (`::ffff:a.b.c.d`, also hex-form `::ffff:7f00:1`) or the
 * NAT64 well-known prefix `64:ff9b::/96`. Such clients are IPv4 clients and
 * must share the IPv4 budget, not one bucket for every NAT64 user at once.
 */
const embeddedIpv4 = (groups: readonly number[]): string | null => {
  const [g0, g1, g2, g3, g4, g5, g6 = 0, g7 = 0] = groups;
  const mapped = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0xffff;
  const nat64 = g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0;
  return mapped || nat64 ? v4From(g6, g7) : null;
};

/**
 * Folds addresses that wrap an IPv4 address (IPv4-mapped in dotted or hex
 * form, NAT64 `64:ff9b::/96`) to plain IPv4, so the same client never gets
 * two throttle identities and NAT64 users do not share one.
 *
 * @example
 *   foldIp('::ffff:192.0.2.1'); // '192.0.2.1'
 *   foldIp('::ffff:7f00:1');    // '127.0.0.1'
 *   foldIp('64:ff9b::c000:201'); // '192.0.2.1'
 */
export const foldIp = (address: string): string => {
  if (isIPv4(address)) return address;
  const groups = ipv6Groups(address);
  if (groups === null) return address.toLowerCase();
  return embeddedIpv4(groups) ?? address.toLowerCase();
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

const prefixKey = (groups: readonly number[], bits: 64 | 56 | 48): string => {
  const kept = groups.slice(0, 4).map((g, i) => {
    // Group 3 holds bits 48..63: /56 keeps its high byte, /48 none of it.
    if (i < 3) return g;
    if (bits === 64) return g;
    if (bits === 56) return g & 0xff00;
    return 0;
  });
  return `${kept.map((g) => g.toString(16)).join(':')}::/${bits}`;
};

/**
 * The identity used in throttle keys and connection counting. IPv6 clients
 * get their /64, because one subscriber usually owns the whole /64 and could
 * otherwise rotate addresses to dodge every per-IP limit. Addresses wrapping
 * IPv4 are keyed by that IPv4 address.
 *
 * @example
 *   throttleIdentity('2001:db8:1:2:aaaa::1'); // '2001:db8:1:2::/64'
 */
export const throttleIdentity = (ip: string): string => throttleIdentities(ip)[0] ?? ip;

/**
 * Every identity a per-IP budget is counted under, narrowest first: an IPv4
 * address alone; for IPv6 its /64, /56 and /48. A holder of a /48 could
 * otherwise mint 65,536 /64 budgets; the wider ceilings (a multiple of the
 * /64 budget) bound that.
 *
 * @example
 *   throttleIdentities('2001:db8:1:2ff::1');
 *   // ['2001:db8:1:2ff::/64', '2001:db8:1:200::/56', '2001:db8:1:0::/48']
 */
export const throttleIdentities = (ip: string): string[] => {
  const folded = foldIp(ip);
  if (isIP(folded) !== 6) return [folded];
  const groups = ipv6Groups(folded);
  if (groups === null) return [folded];
  return [prefixKey(groups, 64), prefixKey(groups, 56), prefixKey(groups, 48)];
};
