import { describe, expect, it } from 'vitest';
import { certificateNames, checkCaNameConstraints, expectedNameConstraints, isIpLike } from './certificate-names.ts';

const AGENT = '0b6d3c1e-8a7f-4e21-9d3b-5c2a1f0e9d77';
const subject = (hostname: string) => ({ hostname, siteCode: 'ACME-PHX', agentId: AGENT });
const DEFAULT = { dnsSuffix: null, legacyHostname: false, serverAuth: false };
const SUFFIX = { dnsSuffix: 'agents.example.internal', legacyHostname: false, serverAuth: false };
const LEGACY = { dnsSuffix: null, legacyHostname: true, serverAuth: true };

describe('certificateNames', () => {
  it('by default names the agent by its SPIFFE ID only, with a common name no TLS client can match', () => {
    expect(certificateNames(DEFAULT, 'airlock', subject('vma-01'))).toEqual({
      commonName: `airlock agent ${AGENT}`,
      dnsNames: [],
      spiffeId: `spiffe://airlock/site/ACME-PHX/agent/${AGENT}`,
      serverAuth: false,
    });
  });

  it('with a suffix puts the host name under the site and the suffix, lower-case', () => {
    expect(certificateNames(SUFFIX, 'airlock', subject('VMA-01.corp'))).toMatchObject({
      commonName: 'vma-01.corp.acme-phx.agents.example.internal',
      dnsNames: ['vma-01.corp.acme-phx.agents.example.internal'],
    });
  });

  it('never makes a DNS name of an IP-like host name, under any profile', () => {
    for (const host of ['127.0.0.1', '10.0.0.5', '127.1', '2130706433', '0x7f.0.0.1', '::1']) {
      expect(isIpLike(host), host).toBe(true);
      for (const naming of [SUFFIX, LEGACY]) {
        const names = certificateNames(naming, 'airlock', subject(host));
        expect(names.dnsNames, host).toEqual([]);
        expect(names.commonName, host).toBe(`airlock agent ${AGENT}`);
      }
    }
    for (const host of ['vma-01', '10-0-0-5', 'host1.example', '1e100']) expect(isIpLike(host), host).toBe(false);
  });

  it('drops a name that would be longer than DNS allows', () => {
    const long = Array.from({ length: 4 }, () => 'a'.repeat(60)).join('.');
    expect(certificateNames(SUFFIX, 'airlock', subject(long)).dnsNames).toEqual([]);
  });

  it('keeps the v1.1 profile (bare host name, serverAuth) only when asked for', () => {
    expect(certificateNames(LEGACY, 'airlock', subject('vma-01'))).toMatchObject({ commonName: 'vma-01', dnsNames: ['vma-01'], serverAuth: true });
  });
});

describe('the CA constraints a configuration needs', () => {
  it('permits the suffix and the trust domain, or excludes every DNS name without a suffix, and every IP always', () => {
    expect(expectedNameConstraints(SUFFIX, 'airlock')).toEqual({ permittedDns: ['agents.example.internal'], excludeAllDns: false, permittedUriHosts: ['airlock'], excludeAllIps: true });
    expect(expectedNameConstraints(DEFAULT, 'airlock')).toEqual({ permittedDns: [], excludeAllDns: true, permittedUriHosts: ['airlock'], excludeAllIps: true });
    expect(expectedNameConstraints(LEGACY, 'airlock')).toEqual({ permittedDns: [], excludeAllDns: false, permittedUriHosts: ['airlock'], excludeAllIps: true });
  });

  it('says when an existing CA cannot carry the configured names, and warns about a CA without constraints', () => {
    const made = expectedNameConstraints(SUFFIX, 'airlock');
    expect(checkCaNameConstraints(made, SUFFIX, 'airlock')).toEqual({ problems: [], warning: null });
    expect(checkCaNameConstraints(made, { ...SUFFIX, dnsSuffix: 'acme.agents.example.internal' }, 'airlock').problems).toEqual([]);
    expect(checkCaNameConstraints(made, { ...SUFFIX, dnsSuffix: 'other.example' }, 'airlock').problems).toEqual([expect.stringContaining('AIRLOCK_CERT_DNS_SUFFIX=other.example')]);
    expect(checkCaNameConstraints(made, LEGACY, 'airlock').problems).toEqual([expect.stringContaining('AIRLOCK_CERT_DNS_LEGACY_HOSTNAME')]);
    expect(checkCaNameConstraints(made, SUFFIX, 'other-domain').problems).toEqual([expect.stringContaining('AIRLOCK_TRUST_DOMAIN=other-domain')]);
    expect(checkCaNameConstraints(expectedNameConstraints(DEFAULT, 'airlock'), SUFFIX, 'airlock').problems).toHaveLength(1);
    expect(checkCaNameConstraints(expectedNameConstraints(DEFAULT, 'airlock'), DEFAULT, 'airlock')).toEqual({ problems: [], warning: null });
    const none = checkCaNameConstraints(null, SUFFIX, 'airlock');
    expect(none.problems).toEqual([]);
    expect(none.warning).toMatch(/no name constraints.*Rotate the CA/);
  });
});
