/**
 * The CA's nameConstraints extension (RFC 5280 §4.2.1.10): which names a
 * certificate below the CA may carry, enforced by every verifier that builds
 * the chain (OpenSSL, Go, rustls, Java), whatever the CA itself signs. The
 * ASN.1 is @peculiar/asn1-x509's schema (the library @peculiar/x509 is built
 * on), never hand-built DER.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { GeneralName, GeneralSubtree, GeneralSubtrees, NameConstraints, id_ce_nameConstraints } from '@peculiar/asn1-x509';
import { x509 } from './x509-provider.ts';

type Certificate = InstanceType<typeof x509.X509Certificate>;

/**
 * What Airlock's CA permits below it.
 * - `permittedDns`: DNS subtrees (a name equal to the base or ending in
 *   `.base`); `excludeAllDns`: no DNS name at all (an excluded empty base
 *   matches every name). At most one of the two.
 * - `permittedUriHosts`: URI SANs must name one of these hosts: for SPIFFE
 *   IDs, the trust domain.
 * - `excludeAllIps`: no IP address SAN (0.0.0.0/0 and ::/0 excluded).
 */
export interface CaNameConstraints {
  permittedDns: string[];
  excludeAllDns: boolean;
  permittedUriHosts: string[];
  excludeAllIps: boolean;
}

const subtree = (base: Partial<GeneralName>) => new GeneralSubtree({ base: new GeneralName(base) });

/** Every IPv4 and every IPv6 address (address and mask all zero), in asn1-x509's CIDR text. */
const ALL_IPV4 = '0.0.0.0/0';
const ALL_IPV6 = '::/0';

/**
 * The extension, critical as RFC 5280 asks of a CA.
 *
 * @example
 *   nameConstraintsExtension({ permittedDns: ['agents.example.internal'], excludeAllDns: false,
 *     permittedUriHosts: ['airlock'], excludeAllIps: true })
 */
export const nameConstraintsExtension = (c: CaNameConstraints): InstanceType<typeof x509.Extension> => {
  if (c.excludeAllDns && c.permittedDns.length > 0) throw new TypeError('a CA cannot both permit DNS subtrees and exclude every DNS name');
  const permitted = [...c.permittedDns.map((d) => subtree({ dNSName: d })), ...c.permittedUriHosts.map((h) => subtree({ uniformResourceIdentifier: h }))];
  const excluded = [
    ...(c.excludeAllDns ? [subtree({ dNSName: '' })] : []),
    ...(c.excludeAllIps ? [subtree({ iPAddress: ALL_IPV4 }), subtree({ iPAddress: ALL_IPV6 })] : []),
  ];
  const value = new NameConstraints({
    ...(permitted.length > 0 ? { permittedSubtrees: new GeneralSubtrees(permitted) } : {}),
    ...(excluded.length > 0 ? { excludedSubtrees: new GeneralSubtrees(excluded) } : {}),
  });
  return new x509.Extension(id_ce_nameConstraints, true, AsnConvert.serialize(value));
};

/**
 * The CA's name constraints as Airlock reads them, or null when the
 * certificate carries none (a CA made before issue 18, or an operator's own).
 * Constraints on other name types (e-mail, directory names) are ignored here.
 */
export const readNameConstraints = (cert: Certificate): CaNameConstraints | null => {
  const ext = cert.extensions.find((e) => e.type === id_ce_nameConstraints);
  if (!ext) return null;
  const nc = AsnConvert.parse(ext.value, NameConstraints);
  const permitted = [...(nc.permittedSubtrees ?? [])].map((s) => s.base);
  const excluded = [...(nc.excludedSubtrees ?? [])].map((s) => s.base);
  return {
    permittedDns: permitted.flatMap((b) => (b.dNSName !== undefined ? [b.dNSName] : [])),
    excludeAllDns: excluded.some((b) => b.dNSName === ''),
    permittedUriHosts: permitted.flatMap((b) => (b.uniformResourceIdentifier !== undefined ? [b.uniformResourceIdentifier] : [])),
    // asn1-x509 reads an all-zero address and mask back as exactly these two texts.
    excludeAllIps: [ALL_IPV4, ALL_IPV6].every((all) => excluded.some((b) => b.iPAddress === all)),
  };
};

/**
 * True when `name` falls inside the DNS subtree `base` (RFC 5280: the base
 * itself, or the base with labels added on the left), case-insensitively.
 */
export const dnsNameWithin = (name: string, base: string): boolean => {
  const n = name.toLowerCase();
  const b = base.toLowerCase().replace(/^\./, '');
  if (b === '') return true;
  return n === b || n.endsWith(`.${b}`);
};
