/**
 * What an agent's certificate is named (issue 18, finding 7). A host name is
 * whatever the agent says, and host names are not unique, so a bare host name
 * in a certificate let any holder of a site key get a certificate for another
 * agent's name or an internal service's. The identity peers match is the
 * SPIFFE URI (`spiffe://{trust domain}/site/{site}/agent/{id}`), which only
 * Airlock chooses. A DNS name is added only under an operator's suffix, where
 * the CA's nameConstraints confine it; an IP literal never becomes a DNS name.
 */
import { isIP } from 'node:net';
import { dnsNameWithin, type CaNameConstraints } from '@airlock/crypto';
import { HOST_LABEL } from '@airlock/schema';
import type { CertNamingConfig } from '../env.ts';

export interface CertificateNames {
  commonName: string;
  dnsNames: string[];
  spiffeId: string;
  serverAuth: boolean;
}

/** The SPIFFE ID an agent's certificate names it by. */
const spiffeId = (trustDomain: string, siteCode: string, agentId: string): string =>
  `spiffe://${trustDomain}/site/${siteCode}/agent/${agentId}`;

/**
 * True for text a resolver or a TLS client could read as an IP address:
 * IPv4 and IPv6 literals, and the inet_aton forms (`127.1`, `2130706433`,
 * `0x7f.0.0.1`) that some libraries still accept.
 */
export const isIpLike = (host: string): boolean =>
  isIP(host) !== 0 || /^(?:0x[0-9a-f]*|\d+)(?:\.(?:0x[0-9a-f]*|\d+)){0,3}\.?$/i.test(host);

const MAX_DNS_NAME = 253;
const isDnsName = (name: string): boolean => name.length <= MAX_DNS_NAME && name.split('.').every((label) => HOST_LABEL.test(label));

/**
 * The names of one agent's certificate. Without a usable DNS name the common
 * name is `airlock agent {id}`: a space makes it no host name, so a TLS
 * client that falls back to the common name (no DNS SAN) can never match it,
 * and OpenSSL does not hold it against the CA's DNS constraints.
 */
export const certificateNames = (
  naming: CertNamingConfig,
  trustDomain: string,
  s: { hostname: string; siteCode: string; agentId: string },
): CertificateNames => {
  const host = s.hostname.toLowerCase();
  let dns: string | null = null;
  if (!isIpLike(host)) {
    if (naming.dnsSuffix) dns = `${host}.${s.siteCode.toLowerCase()}.${naming.dnsSuffix}`;
    else if (naming.legacyHostname) dns = host;
  }
  const dnsNames = dns !== null && isDnsName(dns) ? [dns] : [];
  return {
    commonName: dnsNames[0] ?? `airlock agent ${s.agentId}`,
    dnsNames,
    spiffeId: spiffeId(trustDomain, s.siteCode, s.agentId),
    serverAuth: naming.serverAuth,
  };
};

/** The name constraints a CA made for this configuration carries. */
export const expectedNameConstraints = (naming: CertNamingConfig, trustDomain: string): CaNameConstraints => ({
  permittedDns: naming.dnsSuffix ? [naming.dnsSuffix] : [],
  // The legacy profile's bare host names can be anything: no DNS constraint is possible.
  excludeAllDns: !naming.dnsSuffix && !naming.legacyHostname,
  permittedUriHosts: [trustDomain],
  excludeAllIps: true,
});

/**
 * Whether a CA's constraints (null: none) admit the names this configuration
 * issues. `problems`: certificates would fail every verifier (the api refuses
 * to start); `warning`: a CA without constraints, which is allowed.
 */
export const checkCaNameConstraints = (
  constraints: CaNameConstraints | null,
  naming: CertNamingConfig,
  trustDomain: string,
): { problems: string[]; warning: string | null } => {
  if (constraints === null) {
    return {
      problems: [],
      warning:
        'the CA carries no name constraints (made before issue 18, or your own): a verifier cannot confine the names it signs. ' +
        "Rotate the CA (README, \"Airlock's CA\") to get them, or accept this",
    };
  }
  const problems: string[] = [];
  const dnsLimited = constraints.excludeAllDns || constraints.permittedDns.length > 0;
  if (naming.legacyHostname && dnsLimited) {
    problems.push('AIRLOCK_CERT_DNS_LEGACY_HOSTNAME=1 issues bare host names, but the CA limits DNS names; use a CA without DNS constraints, or a suffix');
  }
  if (naming.dnsSuffix) {
    const suffix = naming.dnsSuffix;
    if (constraints.excludeAllDns || (constraints.permittedDns.length > 0 && !constraints.permittedDns.some((base) => dnsNameWithin(suffix, base)))) {
      const allowed = constraints.excludeAllDns ? 'no DNS name' : constraints.permittedDns.join(', ');
      problems.push(`AIRLOCK_CERT_DNS_SUFFIX=${suffix} is outside what the CA permits (${allowed}); rotate the CA or change the suffix`);
    }
  }
  if (constraints.permittedUriHosts.length > 0 && !constraints.permittedUriHosts.some((h) => h.toLowerCase() === trustDomain)) {
    problems.push(`AIRLOCK_TRUST_DOMAIN=${trustDomain} is not a URI host the CA permits (${constraints.permittedUriHosts.join(', ')}); rotate the CA or change the trust domain`);
  }
  return { problems, warning: null };
};
