import * as v from 'valibot';
import { SITE_CODE_PATTERN } from '@airlock/schema';

/**
 * The contract's formats (CONTRACT.md "Formats" and v1.1), as the agent checks
 * every value a server sends before it is used, stored or shown. A hostile or
 * broken server must not be able to put a newline, a quote or a terminal
 * escape into a state file or onto the operator's terminal, so every string is
 * matched whole (JavaScript's `$` never matches before a trailing newline)
 * against the narrowest pattern the contract allows.
 */

const pattern = (re: RegExp, max: number) => v.pipe(v.string(), v.maxLength(max), v.regex(re));

/** Lower- or upper-case hex UUID. */
export const Uuid = pattern(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 36);
export const SiteCodeStored = pattern(SITE_CODE_PATTERN, 32);
/** `prefix_` + 32 random bytes in unpadded base64url, as the api mints them. */
export const AgentKeyValue = pattern(/^cak_[A-Za-z0-9_-]{43}$/, 47);
export const PollToken = pattern(/^ept_[A-Za-z0-9_-]{43}$/, 47);
/** 32 random bytes, standard base64 with padding. */
export const Challenge = pattern(/^[A-Za-z0-9+/]{43}=$/, 44);
/** RFC 3339 date-time that Date.parse also understands. */
export const Rfc3339 = v.pipe(
  pattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/, 40),
  v.check((s) => Number.isFinite(Date.parse(s))),
);
export const KeyFingerprint = pattern(/^SHA256:[A-Za-z0-9+/]{43}$/, 50);
export const PollInterval = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(3600));

const HOST = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^[0-9.]{7,15}$|^\[?[0-9A-Fa-f:.]{2,45}\]?$/;
/** A DNS name, an IPv4 address or an IPv6 address. */
const NetHost = v.pipe(v.string(), v.maxLength(253), v.regex(HOST));
/** `host:port`, as in permit_open. */
const HostPort = v.pipe(
  v.string(),
  v.maxLength(300),
  v.check((s) => {
    const m = /^(.+):(\d{1,5})$/.exec(s);
    return m !== null && HOST.test(m[1] ?? '') && Number(m[2]) >= 1 && Number(m[2]) <= 65535;
  }),
);

/**
 * known_hosts lines: `[host]:port` or host patterns, a key type and base64,
 * optionally a comment; printable ASCII only, one entry per line.
 */
const KNOWN_HOSTS_LINE = /^(@cert-authority |@revoked )?[A-Za-z0-9.:,[\]*?!_-]{1,300} (ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com|rsa-sha2-(256|512)) [A-Za-z0-9+/]+={0,2}( [\x20-\x7e]{0,100})?$/;
export const KnownHosts = v.pipe(
  v.string(),
  v.maxLength(16 * 1024),
  v.check((text) => {
    const lines = text.replace(/\n$/, '').split('\n');
    return lines.length > 0 && lines.every((line) => KNOWN_HOSTS_LINE.test(line));
  }),
);

export const SshCredentials = v.object({
  host: NetHost,
  port: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535)),
  user: pattern(/^[a-z_][a-z0-9_-]{0,31}$/, 32),
  known_hosts: KnownHosts,
  permit_open: v.pipe(v.array(HostPort), v.maxLength(64)),
});
export type SshCredentials = v.InferOutput<typeof SshCredentials>;

const PEM_CERT = /-----BEGIN CERTIFICATE-----\r?\n(?:[A-Za-z0-9+/=]{1,76}\r?\n)+-----END CERTIFICATE-----\r?\n?/g;
/** One or more PEM certificates and nothing else (no private keys, no text between them). */
const pemCertificates = (max: number) =>
  v.pipe(
    v.string(),
    v.maxLength(max),
    v.check((text) => text.length > 0 && text.replace(PEM_CERT, '').trim() === ''),
  );
export const PemCertificate = v.pipe(
  pemCertificates(16 * 1024),
  v.check((text) => (text.match(PEM_CERT) ?? []).length === 1),
);
export const PemCertificates = pemCertificates(256 * 1024);

export const TlsCredentials = v.object({
  certificate: PemCertificate,
  ca_certificates: PemCertificates,
  expires_at: Rfc3339,
});
export type TlsCredentials = v.InferOutput<typeof TlsCredentials>;
