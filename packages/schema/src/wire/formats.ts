/**
 * The wire's formats, each defined once: what a request field may hold (the
 * api parses with these) and what an answer field holds (the api is checked
 * against these in tests, and the agent holds every server answer to them
 * before it uses, stores or prints a value). A hostile or broken peer must
 * not get a newline, a quote or a terminal escape through, so every string
 * is bounded before any regex runs and matched whole (JavaScript's `$` never
 * matches before a trailing newline).
 */
import { isIP } from 'node:net';
import * as v from 'valibot';

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

// One message for both ways a strict object can fail: not an object, or a key it does not know.
const strictMessage = (issue: v.BaseIssue<unknown>) =>
  issue.expected === 'never' ? 'unknown field' : issue.path?.length ? 'is required' : 'must be a JSON object';
/** A request object: unknown fields are refused (the contract's rule for every body and query). */
export const strict = <T extends v.ObjectEntries>(entries: T) => v.strictObject(entries, strictMessage);

/** Printable ASCII of bounded length: text that reaches logs and tables. */
export const printable = (max: number, min = 0) =>
  v.pipe(
    v.string('must be a string'),
    v.minLength(min, min === 1 ? 'must not be empty' : `must be at least ${min} characters`),
    v.maxLength(max, `must be at most ${max} characters`),
    v.regex(PRINTABLE_ASCII, 'must be printable ASCII'),
  );

/** A string matched whole against `re`, at most `max` characters (answers: no message, the agent names the field). */
const pattern = (re: RegExp, max: number) => v.pipe(v.string(), v.maxLength(max), v.regex(re));

// ---- identifiers ------------------------------------------------------------

/** A UUID in either case (ids of enrollments, agents, codes, challenges). */
export const Uuid = v.pipe(v.string('must be a string'), v.maxLength(36, 'must be a UUID'), v.uuid('must be a UUID'));

/** A site_code as stored (upper-case); the one definition edge, api and agent share. */
export const SITE_CODE_PATTERN = /^[A-Z0-9][A-Z0-9-]{1,31}$/;
// Input is case-insensitive. Without the `u` flag, /i never folds a non-ASCII
// letter into an ASCII one (dotless ı stays ı), so look-alikes cannot pass;
// upper-casing first would have turned ı into I.
const SITE_CODE_INPUT = new RegExp(SITE_CODE_PATTERN.source, 'i');

/**
 * The stored form of a site_code typed in any case, or null.
 *
 * @example
 *   normalizeSiteCode('acme-phx'); // 'ACME-PHX'
 *   normalizeSiteCode('acme-phıx'); // null (dotless i)
 */
export const normalizeSiteCode = (raw: string): string | null => (SITE_CODE_INPUT.test(raw) ? raw.toUpperCase() : null);

/** A site_code as a request carries it: any case, stored upper-case. */
export const SiteCode = v.pipe(
  v.string('must be a string'),
  v.maxLength(32, 'must be at most 32 characters'),
  v.regex(SITE_CODE_INPUT, 'must be 2-32 characters of A-Z 0-9 -, starting with a letter or digit'),
  v.toUpperCase(),
);
/** A site_code as an answer carries it: the stored, upper-case form only. */
export const SiteCodeStored = pattern(SITE_CODE_PATTERN, 32);

/** `ssh-keygen -lf` form: `SHA256:` + 43 characters of unpadded base64 (what sshd passes as %f). */
export const SSH_FINGERPRINT_PATTERN = /^SHA256:[A-Za-z0-9+/]{43}$/;
export const KeyFingerprint = v.pipe(
  v.string('must be a string'),
  v.maxLength(64, 'must be a SHA256: key fingerprint'),
  v.regex(SSH_FINGERPRINT_PATTERN, 'must be a SHA256: key fingerprint'),
);

/** An operator's name: 1-64 characters of a-z 0-9 . _ -. */
export const OperatorName = v.pipe(
  v.string('must be a string'),
  v.regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be 1-64 characters of a-z 0-9 . _ -'),
);

// ---- secrets and tokens, as minted: prefix_ + 32 random bytes, unpadded base64url ----

export const ENROLLMENT_KEY_PATTERN = /^cek_[A-Za-z0-9_-]{43}$/;
/** A site enrollment key (`cek_`). */
export const EnrollmentKey = pattern(ENROLLMENT_KEY_PATTERN, 47);
/** An agent key (`cak_`). */
export const AgentKeyValue = pattern(/^cak_[A-Za-z0-9_-]{43}$/, 47);
/** An enrollment poll token (`ept_`). */
export const PollToken = pattern(/^ept_[A-Za-z0-9_-]{43}$/, 47);
/** An operator token (`aop_`). */
export const OperatorToken = pattern(/^aop_[A-Za-z0-9_-]{43}$/, 47);
/** A webhook signing secret as shown once: `whsec_` + 32 random bytes in standard base64 (Standard Webhooks). */
export const WebhookSecretShown = pattern(/^whsec_[A-Za-z0-9+/]{43}=$/, 50);
/** A pairing code as shown once: `XXXX-XXXX-XXXX` of the code alphabet. */
export const PairingCodeShown = pattern(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/, 14);
/** 32 random bytes, standard base64 with padding. */
export const Challenge = pattern(/^[A-Za-z0-9+/]{43}=$/, 44);

// ---- time -------------------------------------------------------------------

/** An RFC 3339 date-time that Date.parse also understands (every time an answer carries). */
export const Rfc3339 = v.pipe(
  pattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/, 40),
  v.check((s) => Number.isFinite(Date.parse(s))),
);

/** A request's time: RFC 3339 or a bare date (UTC midnight), as a Date. */
export const Instant = v.pipe(
  v.string('must be a string'),
  v.maxLength(40, 'must be an RFC 3339 time or a date'),
  v.regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2}))?$/, 'must be an RFC 3339 time or a date'),
  v.transform((s) => new Date(s)),
  v.check((d) => !Number.isNaN(d.getTime()), 'must be an RFC 3339 time or a date'),
);

/** Seconds between status polls. */
export const PollInterval = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(3600));

// ---- network ----------------------------------------------------------------

/** One label of an RFC 1123 host name (letters, digits, inner hyphens; 1-63). */
export const HOST_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
/** A machine's host name in a request: RFC 1123, stored lower-case. */
export const Hostname = v.pipe(
  v.string('must be a string'),
  v.minLength(1, 'must not be empty'),
  v.maxLength(253, 'must be at most 253 characters'),
  v.check(
    (s) => s.split('.').every((label) => HOST_LABEL.test(label)),
    'must be an RFC 1123 host name',
  ),
  v.toLowerCase(),
);

const NET_HOST = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^[0-9.]{7,15}$|^\[?[0-9A-Fa-f:.]{2,45}\]?$/;
/** A DNS name, an IPv4 address or an IPv6 address (bracketed or not). */
export const NetHost = v.pipe(v.string(), v.maxLength(253), v.regex(NET_HOST));

/**
 * `host:port` with a port of 1-65535 and a host NetHost accepts, or null.
 *
 * @example
 *   parseHostPort('[::1]:8082'); // { host: '[::1]', port: 8082 }
 *   parseHostPort('example.com'); // null
 */
export const parseHostPort = (s: string): { host: string; port: number } | null => {
  const m = /^(.+):(\d{1,5})$/.exec(s);
  const host = m?.[1] ?? '';
  const port = Number(m?.[2]);
  return m !== null && NET_HOST.test(host) && port >= 1 && port <= 65535 ? { host, port } : null;
};
/** `host:port`, as in permit_open. */
export const HostPort = v.pipe(v.string(), v.maxLength(300), v.check((s) => parseHostPort(s) !== null));

/** An IP address as text (v4 or v6), shape only: what a peer reported or the api saw. */
export const IpAddressText = v.pipe(
  v.string('must be a string'),
  v.maxLength(45, 'is not an IP address'),
  v.regex(/^[0-9A-Fa-f:.]{2,45}$/, 'is not an IP address'),
);

/** A tenant code (issue 22): lower-case, 2-32 characters; `default` always exists. */
export const TENANT_CODE_PATTERN = /^[a-z0-9][a-z0-9-]{1,31}$/;
export const TenantCode = v.pipe(
  v.string('must be a string'),
  v.maxLength(32, 'must be 2-32 characters of a-z 0-9 -'),
  v.regex(TENANT_CODE_PATTERN, 'must be 2-32 characters of a-z 0-9 -'),
);
export const TenantCodeStored = pattern(TENANT_CODE_PATTERN, 32);

/**
 * `192.0.2.0/24`, `2001:db8::/32` or a bare address: a source allowlist
 * entry. The address must be one node:net reads (no zone index), so Postgres
 * reads it as inet too; the prefix fits the family.
 */
const isCidr = (s: string): boolean => {
  const [addr = '', bits, extra] = s.split('/');
  const family = isIP(addr);
  if (extra !== undefined || family === 0 || addr.includes('%')) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
};
export const Cidr = v.pipe(v.string('must be a string'), v.maxLength(49, 'must be a CIDR'), v.check(isCidr, 'must be a CIDR such as 192.0.2.0/24 or 2001:db8::/32'));
export const CidrList = v.pipe(v.array(Cidr, 'must be a list of CIDRs'), v.maxLength(64, 'at most 64 CIDRs'));

// ---- SSH and TLS material -----------------------------------------------------

/** An OpenSSH public host key line, `type base64` (comment dropped). */
export const HostPublicKeyLine = v.pipe(
  v.string('must be a string'),
  v.maxLength(4200, 'is too long'),
  v.regex(/^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,2}$/, 'must be "TYPE BASE64" of an SSH host key'),
);

/**
 * known_hosts lines: `[host]:port` or host patterns, a key type and base64,
 * optionally a comment; printable ASCII only, one entry per line. Empty when
 * the tunnel endpoint has not registered its host keys yet: the api issues
 * that (and logs a warning), and `airlock-agent tunnel` then refuses to
 * connect rather than trust a key on first use.
 */
const KNOWN_HOSTS_LINE = /^(@cert-authority |@revoked )?[A-Za-z0-9.:,[\]*?!_-]{1,300} (ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com|rsa-sha2-(256|512)) [A-Za-z0-9+/]+={0,2}( [\x20-\x7e]{0,100})?$/;
export const KnownHosts = v.pipe(
  v.string(),
  v.maxLength(16 * 1024),
  v.check((text) => text === '' || text.replace(/\n$/, '').split('\n').every((line) => KNOWN_HOSTS_LINE.test(line))),
);

/** A Unix account name, as `credentials.ssh.user`. */
export const UnixUser = pattern(/^[a-z_][a-z0-9_-]{0,31}$/, 32);

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

/**
 * A TLS certificate pin: the SHA-256 of the certificate (DER) as
 * `sha256:<64 hex>`, `<64 hex>` or `AA:BB:…` (as openssl prints it), read
 * as 64 lower-case hex digits.
 */
export const TlsPin = v.pipe(
  v.string('must be a string'),
  v.maxLength(200, 'must be sha256:<64 hex digits>'),
  v.transform((raw) => raw.trim().replace(/^sha256:/i, '').replaceAll(':', '').toLowerCase()),
  v.regex(/^[0-9a-f]{64}$/, 'must be sha256:<64 hex digits>'),
);
