import { describe, expect, it } from 'vitest';
import { buildTrustList, foldIp, isTrusted, resolveForwardedFor, throttleIdentities, throttleIdentity } from './client-ip.ts';

describe('foldIp', () => {
  it('folds IPv4-mapped IPv6 to IPv4 and leaves others alone', () => {
    expect(foldIp('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(foldIp('::FFFF:192.0.2.1')).toBe('192.0.2.1');
    expect(foldIp('192.0.2.1')).toBe('192.0.2.1');
    expect(foldIp('2001:DB8::1')).toBe('2001:db8::1');
  });
});

describe('trust list', () => {
  it('matches CIDRs and single addresses of both families', () => {
    const trust = buildTrustList(['10.0.0.0/8', '::1', '2001:db8::/32']);
    expect(isTrusted(trust, '10.1.2.3')).toBe(true);
    expect(isTrusted(trust, '11.0.0.1')).toBe(false);
    expect(isTrusted(trust, '::1')).toBe(true);
    expect(isTrusted(trust, '2001:db8:5::1')).toBe(true);
    expect(isTrusted(trust, 'garbage')).toBe(false);
  });

  it('rejects malformed entries', () => {
    expect(() => buildTrustList(['10.0.0.0/33'])).toThrow();
    expect(() => buildTrustList(['nope'])).toThrow();
  });
});

describe('resolveForwardedFor', () => {
  const trust = buildTrustList(['10.0.0.0/8']);
  it('takes the right-most untrusted hop', () => {
    expect(resolveForwardedFor('198.51.100.9, 10.0.0.2', trust)).toBe('198.51.100.9');
    expect(resolveForwardedFor('203.0.113.1, 198.51.100.9, 10.0.0.2', trust)).toBe('198.51.100.9');
  });
  it('falls back to the left-most hop when every hop is trusted', () => {
    expect(resolveForwardedFor('10.0.0.5, 10.0.0.2', trust)).toBe('10.0.0.5');
  });
  it('refuses junk', () => {
    expect(resolveForwardedFor('unknown', trust)).toBeNull();
    expect(resolveForwardedFor('1.2.3.4,,', trust)).toBeNull();
  });
});

describe('throttleIdentity', () => {
  it('keys IPv4 by address and IPv6 by /64', () => {
    expect(throttleIdentity('192.0.2.1')).toBe('192.0.2.1');
    expect(throttleIdentity('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(throttleIdentity('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(throttleIdentity('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(throttleIdentity('::1')).toBe('0:0:0:0::/64');
  });
});

describe('addresses that wrap IPv4 (#8.7)', () => {
  it('folds hex-form IPv4-mapped and NAT64 addresses to the embedded IPv4', () => {
    expect(foldIp('::ffff:7f00:1')).toBe('127.0.0.1');
    expect(foldIp('::FFFF:C000:0201')).toBe('192.0.2.1');
    expect(foldIp('0:0:0:0:0:ffff:c000:201')).toBe('192.0.2.1');
    expect(foldIp('64:ff9b::c000:201')).toBe('192.0.2.1');
    expect(foldIp('64:ff9b::192.0.2.1')).toBe('192.0.2.1');
    expect(foldIp('64:ff9b::c633:6407')).toBe('198.51.100.7');
  });

  it('gives two NAT64 users two identities instead of one shared bucket', () => {
    expect(throttleIdentity('64:ff9b::c000:201')).toBe('192.0.2.1');
    expect(throttleIdentity('64:ff9b::c000:202')).toBe('192.0.2.2');
    expect(throttleIdentities('64:ff9b::c000:201')).toEqual(['192.0.2.1']);
  });

  it('leaves addresses outside the wrapping prefixes as IPv6', () => {
    expect(foldIp('64:ff9b:1::c000:201')).toBe('64:ff9b:1::c000:201');
    expect(foldIp('::fffe:7f00:1')).toBe('::fffe:7f00:1');
    expect(throttleIdentity('64:ff9b:1::c000:201')).toBe('64:ff9b:1:0::/64');
  });
});

describe('throttleIdentities (#8.7)', () => {
  it('counts IPv6 under its /64, /56 and /48, IPv4 under its address', () => {
    expect(throttleIdentities('2001:db8:1:2ff::1')).toEqual(['2001:db8:1:2ff::/64', '2001:db8:1:200::/56', '2001:db8:1:0::/48']);
    expect(throttleIdentities('198.51.100.7')).toEqual(['198.51.100.7']);
  });

  it('puts every /64 of one /48 under the same /48 ceiling', () => {
    const wide = new Set(
      Array.from({ length: 300 }, (_, i) => throttleIdentities(`2001:db8:7:${i.toString(16)}::1`)[2]),
    );
    expect(wide).toEqual(new Set(['2001:db8:7:0::/48']));
    const mid = new Set(Array.from({ length: 256 }, (_, i) => throttleIdentities(`2001:db8:7:${i.toString(16)}::1`)[1]));
    expect(mid).toEqual(new Set(['2001:db8:7:0::/56']));
  });
});
