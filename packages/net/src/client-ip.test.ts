import { describe, expect, it } from 'vitest';
import { buildTrustList, foldIp, isTrusted, resolveForwardedFor, throttleIdentity } from './client-ip.ts';

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
