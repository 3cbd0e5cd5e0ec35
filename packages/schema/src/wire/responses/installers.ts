/** Answers of the installer routes (issue 23). */
import * as v from 'valibot';
import { EnrollmentKey, SiteCodeStored } from '../formats.ts';

const Sha256Hex = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/));
const ArmoredSshsig = v.pipe(v.string(), v.startsWith('-----BEGIN SSH SIGNATURE-----\n'), v.maxLength(4096));

/** One `allowed_signers` line per installer signing key, current first. */
export const InstallerSigners = v.object({
  /** The file as `ssh-keygen -Y verify -f` reads it: one line per key, each ending in a newline. */
  allowed_signers: v.string(),
  keys: v.array(
    v.object({
      /** `SHA256:…`, as `ssh-keygen -lf` prints it. */
      fingerprint: v.string(),
      public_key: v.string(),
      current: v.boolean(),
    }),
  ),
});
export type InstallerSigners = v.InferOutput<typeof InstallerSigners>;

/** A built installer: the file, its checksum and its SSHSIG, and the key it embeds (only when it was minted now). */
export const BuiltInstaller = v.object({
  site_code: SiteCodeStored,
  file_name: v.pipe(v.string(), v.regex(/^airlock-agent-[A-Z0-9-]+-v[0-9]+-[0-9A-F]{4}\.run$/)),
  key_version: v.pipe(v.number(), v.integer(), v.minValue(1)),
  /** `v3 (9F2A)`, as the console and `sites key show` print it. */
  key_fingerprint: v.string(),
  /** The `.run` file, standard base64. */
  installer_base64: v.string(),
  sha256: Sha256Hex,
  /** The `.run.sig` file: an SSHSIG, namespace `airlock-installer`. */
  signature: ArmoredSshsig,
  signer_fingerprint: v.string(),
  /** Only when the request asked to rotate: shown once, as on the rotate route. */
  enrollment_key: v.optional(EnrollmentKey),
});
export type BuiltInstaller = v.InferOutput<typeof BuiltInstaller>;
