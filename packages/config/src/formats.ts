/**
 * Text formats more than one app reads, each parsed in one place: `host:port`
 * and a certificate's SHA-256 pin. (packages/schema's wire formats describe
 * what crosses the wire; these describe what an operator types into a
 * setting or a flag.)
 */
import { isIP } from 'node:net';

/**
 * `host:port` where host is a DNS name, an IPv4 address or `[IPv6]`, and port
 * is 1-65535 without leading zeros. Such values land in sshd options,
 * known_hosts lines and connect() calls, so no quotes, spaces or empty labels.
 */
export const HOST_PORT =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\]):(?:[1-9]\d{0,3}|[1-5]\d{4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5])$/;

export interface HostPort {
  /** DNS name or IP address; an IPv6 address without its brackets. */
  host: string;
  port: number;
}

/**
 * Parses `host:port` (IPv6 as `[::1]:22`), or null when the text is not one.
 *
 * @example
 *   parseHostPort('[::1]:26379'); // { host: '::1', port: 26379 }
 *   parseHostPort('db:0');        // null
 */
export const parseHostPort = (text: string): HostPort | null => {
  if (!HOST_PORT.test(text)) return null;
  const i = text.lastIndexOf(':');
  const raw = text.slice(0, i);
  const bracketed = raw.startsWith('[');
  const host = bracketed ? raw.slice(1, -1) : raw;
  if (bracketed && isIP(host) !== 6) return null;
  return { host, port: Number(text.slice(i + 1)) };
};

/**
 * A certificate pin as people paste it: `sha256:<64 hex>`, bare hex, hex with
 * colons (as `openssl x509 -fingerprint -sha256` prints it, with or without
 * its `sha256 Fingerprint=` label), any case. Returns 64 lower-case hex
 * digits, or null.
 *
 * @example
 *   parsePin('SHA256:AB:CD:…'); // 'abcd…'
 *   parsePin('sha256:nothex');  // null
 */
export const parsePin = (input: string): string | null => {
  let text = input.trim();
  const fingerprintLine = /^sha-?256\s+fingerprint\s*=\s*/i.exec(text);
  text = fingerprintLine ? text.slice(fingerprintLine[0].length) : text.replace(/^sha-?256:/i, '');
  const hex = text.replaceAll(':', '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : null;
};

/** What a pin setting must look like, for messages. */
export const PIN_FORM = 'sha256:<64 hex digits>';

/**
 * The form Airlock prints a pin in (and every pin setting accepts).
 *
 * @example
 *   formatPin('ab12…'); // 'sha256:ab12…'
 */
export const formatPin = (digest: string | Uint8Array): string =>
  `sha256:${typeof digest === 'string' ? digest.toLowerCase() : Buffer.from(digest).toString('hex')}`;
