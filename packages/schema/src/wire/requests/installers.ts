/** Request bodies of the installer routes (issue 23). */
import * as v from 'valibot';
import { EnrollmentKey, PemCertificates, strict, TlsPin } from '../formats.ts';

/** What agents dial: `https://host[:port]`, nothing after the authority (the installer embeds it in shell). */
export const InstallerServer = v.pipe(
  v.string('must be a string'),
  v.maxLength(300, 'must be at most 300 characters'),
  v.regex(/^https:\/\/(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/, 'must be https://HOST[:PORT] and nothing more'),
);

/**
 * Build a site's installer. Exactly one of `rotate` (mint the site's next
 * enrollment key and embed it) or `enrollment_key` (a key the operator kept,
 * which must be the site's current one); exactly one of `pin` or `ca_pem`.
 */
export const BuildInstallerRequest = v.pipe(
  strict({
    server: InstallerServer,
    pin: v.optional(TlsPin),
    ca_pem: v.optional(PemCertificates),
    rotate: v.optional(v.literal(true, 'must be true when given')),
    enrollment_key: v.optional(EnrollmentKey),
  }),
  v.check((b) => (b.pin === undefined) !== (b.ca_pem === undefined), 'give exactly one of pin or ca_pem'),
  v.check((b) => (b.rotate === undefined) !== (b.enrollment_key === undefined), 'give exactly one of rotate or enrollment_key'),
);
export type BuildInstallerRequest = v.InferOutput<typeof BuildInstallerRequest>;
