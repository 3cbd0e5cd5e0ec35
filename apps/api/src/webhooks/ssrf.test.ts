import { describe, expect, it } from 'vitest';
import { refusedAddress, resolveWebhookTarget } from './ssrf.ts';

describe('refusedAddress', () => {
  it('refuses link-local, metadata and reserved addresses, IPv4-mapped forms included', () => {
    for (const ip of ['169.254.169.254', '169.254.0.1', 'fe80::1', 'FE80::abcd', 'fd00:ec2::254', '::ffff:169.254.169.254', '0.0.0.0', '100.100.100.200', '224.0.0.1', '255.255.255.255', '::', 'ff02::1']) {
      expect(refusedAddress(ip), ip).not.toBeNull();
    }
  });

  it('allows loopback, private and public addresses', () => {
    for (const ip of ['127.0.0.1', '::1', '10.0.0.5', '192.168.1.10', '172.16.0.1', 'fd12:3456::1', '203.0.113.7', '::ffff:10.0.0.1']) {
      expect(refusedAddress(ip), ip).toBeNull();
    }
  });
});

describe('resolveWebhookTarget', () => {
  it('answers the checked address of a literal or a name, and refuses a refused literal', async () => {
    expect(await resolveWebhookTarget(new URL('http://127.0.0.1:9/x'))).toEqual({ address: '127.0.0.1', family: 4 });
    expect(await resolveWebhookTarget(new URL('http://[::1]:9/x'))).toEqual({ address: '::1', family: 6 });
    expect(['127.0.0.1', '::1']).toContain((await resolveWebhookTarget(new URL('http://localhost:9/x'))).address);
    await expect(resolveWebhookTarget(new URL('http://[fe80::1]/x'))).rejects.toThrow(/link-local/);
  });
});
