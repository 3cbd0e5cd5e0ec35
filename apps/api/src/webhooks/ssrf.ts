/**
 * Where a webhook may not point: link-local and cloud-metadata addresses
 * (169.254.0.0/16, fe80::/10, fd00:ec2::254, the IPv4-mapped forms, and the
 * unspecified/broadcast/multicast ones that are never a receiver). Private
 * and loopback stay allowed: the api lives on an internal network, and so do
 * its receivers. Checked at creation and again on every delivery after DNS
 * resolution, and the request then connects to the address that was checked
 * (no second lookup: no DNS-rebinding window).
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

const refused = new BlockList();
refused.addSubnet('169.254.0.0', 16, 'ipv4'); // link-local, AWS/GCP/Azure/OpenStack metadata
refused.addSubnet('0.0.0.0', 8, 'ipv4'); // "this network": 0.0.0.0 reaches the host itself
refused.addSubnet('100.100.100.200', 32, 'ipv4'); // Alibaba Cloud metadata
refused.addSubnet('224.0.0.0', 4, 'ipv4'); // multicast
refused.addSubnet('240.0.0.0', 4, 'ipv4'); // reserved, broadcast
refused.addSubnet('fe80::', 10, 'ipv6'); // link-local
refused.addAddress('fd00:ec2::254', 'ipv6'); // AWS metadata over IPv6
refused.addSubnet('ff00::', 8, 'ipv6'); // multicast
refused.addAddress('::', 'ipv6');

/** Why an address is refused, or null when a webhook may be sent there. */
export const refusedAddress = (address: string): string | null => {
  let ip = address.replace(/^\[|\]$/g, '');
  const family = isIP(ip);
  if (family === 0) return 'not an IP address';
  // ::ffff:169.254.169.254 is the same host as 169.254.169.254.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped?.[1]) ip = mapped[1];
  const v = isIP(ip) === 4 ? 'ipv4' : 'ipv6';
  return refused.check(ip, v) ? `${address} is a link-local, metadata or reserved address` : null;
};

export class WebhookTargetRefused extends Error {
  override readonly name = 'WebhookTargetRefused';
}

export interface ResolvedTarget {
  address: string;
  family: 4 | 6;
}

/**
 * Resolves a webhook URL's host and checks every address it resolves to (a
 * name with one refused address among several is refused: the client could
 * pick it). Returns the first address, the one to connect to.
 */
export const resolveWebhookTarget = async (url: URL): Promise<ResolvedTarget> => {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const literal = isIP(host);
  const addresses = literal ? [{ address: host, family: literal }] : await lookup(host, { all: true, verbatim: true });
  if (addresses.length === 0) throw new WebhookTargetRefused(`${host} does not resolve`);
  for (const a of addresses) {
    const why = refusedAddress(a.address);
    if (why) throw new WebhookTargetRefused(literal ? why : `${host} resolves to ${why}`);
  }
  const first = addresses[0];
  if (!first) throw new WebhookTargetRefused(`${host} does not resolve`);
  return { address: first.address, family: first.family === 6 ? 6 : 4 };
};
