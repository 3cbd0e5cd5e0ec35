/**
 * The Host allowlist (issue 18, finding 11): DNS rebinding. A page on
 * `rebind.attacker.example` whose name the attacker re-points at the api's
 * address is same-origin with itself, so the browser sends the console's
 * sign-in (Origin and all) and reads the answers; the only thing that tells
 * it from a real operator is the Host it names. The api answers only to:
 *
 * - IP literals (`127.0.0.1:8082`, `[::1]:8082`, `10.0.1.20`): a rebinding
 *   page's origin is a DNS name by definition, and the edge, the CLI and the
 *   tunnel reach the api by address unless configured otherwise;
 * - `localhost`;
 * - the names in API_ALLOWED_HOSTS (e.g. EDGE_UPSTREAM's host when the edge
 *   reaches the api by name: the edge sends that, never the client's Host).
 *
 * A request without Host (HTTP/1.0; Node refuses HTTP/1.1 without one) is no
 * browser's and goes through. Ports are not compared: rebinding keeps the port.
 */
import { isIP } from 'node:net';

const ALWAYS = new Set(['localhost']);

/** The host name of a Host header, lower-case, without port, brackets or trailing dot; null when malformed. */
export const hostName = (header: string): string | null => {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0 || (end + 1 < h.length && !/^:\d{1,5}$/.test(h.slice(end + 1)))) return null;
    return h.slice(1, end);
  }
  const m = /^([^:]+)(?::\d{1,5})?$/.exec(h);
  return m?.[1] ? m[1].replace(/\.$/, '') : null;
};

/** True when the api answers to this Host header (see above). */
export const isAllowedHost = (header: string | undefined, allowed: ReadonlySet<string>): boolean => {
  if (header === undefined) return true;
  const name = hostName(header);
  if (name === null || name === '') return false;
  return isIP(name) !== 0 || ALWAYS.has(name) || allowed.has(name);
};
