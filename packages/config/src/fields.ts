/**
 * The field types settings are made of. Each takes the raw environment text
 * (already undefined when unset or empty) and gives a typed value or a
 * readable problem; each `fallback` is written as an operator would write it,
 * because that is what docs/configuration.md shows and is checked against.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { buildTrustList } from '@airlock/net';
import * as v from 'valibot';
import { parseDuration } from './duration.ts';
import { parseHostPort, parsePin, PIN_FORM, type HostPort } from './formats.ts';
import { REDIS_KEY_PREFIX } from './redis.ts';

/**
 * A whole number in [min, max], surrounding blanks ignored; `tooBig` replaces
 * the default message above max (to say why the bound is there).
 *
 * @example
 *   EDGE_PORT: int(443, 0, 65_535)
 */
export const integer = (min: number, max: number, tooBig = `must be at most ${max}`) =>
  v.pipe(
    v.string(),
    v.trim(),
    v.regex(/^\d+$/, 'must be a whole number'),
    v.transform(Number),
    v.minValue(min, `must be at least ${min}`),
    v.maxValue(max, tooBig),
  );

/** An optional whole-number setting in [min, max] with its default. */
export const int = (fallback: number, min: number, max: number, tooBig?: string) => v.optional(integer(min, max, tooBig), String(fallback));

/** A TCP port; `allowZero` where 0 means "pick one" (tests) or "off" (metrics). */
export const port = (fallback: number, opts: { allowZero: boolean }) => int(fallback, opts.allowZero ? 0 : 1, 65_535);

const TRUE = new Set(['true', '1']);

/**
 * On or off: `1`/`0` or `true`/`false`. The fallback is written the way the
 * app's docs write it (`'0'` for the api, `'true'` for the edge).
 */
export const bool = (fallback: '0' | '1' | 'true' | 'false') =>
  v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.picklist(['true', 'false', '1', '0'], 'must be 1 or 0 (true or false)'),
      v.transform((s) => TRUE.has(s)),
    ),
    fallback,
  );

/** A non-empty string with blanks trimmed (a host name, a file the app opens later). */
export const text = () => v.pipe(v.string(), v.trim(), v.minLength(1, 'must not be blank'));

/** An IP address literal to bind to. */
export const ipAddress = () => v.pipe(v.string(), v.trim(), v.check((h) => isIP(h) !== 0, 'must be an IP address'));

/** `host:port` (IPv6 as `[::1]:22`), see formats.ts; `example` goes into the message. */
export const hostPort = (example: string) =>
  v.pipe(
    v.string(),
    v.trim(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const hp = parseHostPort(dataset.value);
      if (hp === null) {
        addIssue({ message: `must be host:port (e.g. ${example})` });
        return NEVER;
      }
      return hp;
    }),
  );

/** A comma-separated `host:port` list, at least one entry. */
export const hostPortList = (example: string) =>
  v.pipe(
    v.string(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const items = dataset.value.split(',').map((s) => s.trim()).filter(Boolean);
      const parsed = items.map(parseHostPort);
      if (items.length === 0 || parsed.some((p) => p === null)) {
        addIssue({ message: `must be a comma-separated host:port list (e.g. ${example})` });
        return NEVER;
      }
      return { items, parsed: parsed as HostPort[] };
    }),
  );

/**
 * A URL whose scheme is one of `schemes`. `origin` also refuses a path, query
 * or fragment (an upstream the app appends paths to); `bare` refuses
 * credentials, a query or a fragment but allows a path prefix (an api base
 * URL, as the CLI's AIRLOCK_API_URL is read). http(s) URLs must parse
 * as WHATWG URLs, without blanks, quotes or backslashes; database and Redis
 * URLs are only checked for their scheme, because their drivers read forms a
 * WHATWG parser refuses (several hosts, for one).
 *
 * @example
 *   EDGE_UPSTREAM: v.optional(url(['http', 'https'], { origin: true }), 'http://127.0.0.1:8082')
 */
export const url = (schemes: readonly string[], opts: { origin?: boolean; bare?: boolean; message?: string; parse?: boolean } = {}) => {
  const list = schemes.map((s) => `${s}://`).join(' or ');
  const scheme = new RegExp(`^(?:${schemes.join('|')})://`, 'i');
  const parse = opts.parse ?? true;
  return v.pipe(
    v.string(),
    v.trim(),
    v.check(
      (s) =>
        scheme.test(s) &&
        (!parse || (/^[^\s"'\\]+$/.test(s) && URL.canParse(s))) &&
        (!opts.origin || /^[a-z]+:\/\/[^/?#]+\/?$/i.test(s)) &&
        (!opts.bare || isBare(s)),
      opts.message ??
        (opts.origin
          ? `must be an ${list} origin without path or query`
          : opts.bare
            ? `must be an ${list} URL without credentials, query or fragment`
            : `must be a ${list} URL`),
    ),
  );
};

const isBare = (s: string): boolean => {
  if (!URL.canParse(s) || s.includes('?') || s.includes('#')) return false;
  const u = new URL(s);
  return u.username === '' && u.password === '';
};

/** `redis://` or `rediss://`. */
const redisUrl = () => url(['redis', 'rediss'], { parse: false, message: 'must be a redis:// or rediss:// URL' });

/** `postgres://` or `postgresql://`. */
export const postgresUrl = () => url(['postgres', 'postgresql'], { parse: false, message: 'must be a postgres:// URL' });

/** Comma-separated IP addresses or CIDRs (trusted proxies), checked as @airlock/net reads them. */
export const cidrList = () =>
  v.pipe(
    v.string(),
    v.transform((s) => s.split(',').map((p) => p.trim()).filter((p) => p.length > 0)),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      try {
        buildTrustList(dataset.value);
      } catch (err) {
        addIssue({ message: `must be comma-separated IP addresses or CIDRs (${err instanceof Error ? err.message : 'invalid'})` });
      }
    }),
  );

/** An absolute path; `what` says what it is for, in the message. */
export const absolutePath = (what: string) =>
  v.pipe(v.string(), v.check((p) => path.isAbsolute(p), `must be an absolute path (${what})`));

/**
 * A lifetime in seconds: `86400` or units largest first (`24h`, `90m`, `7d`,
 * `1h30m`), within [min, max] seconds; `maxText` names max for people.
 */
export const duration = (min: number, max: number, maxText: string) =>
  v.pipe(
    v.string(),
    v.trim(),
    v.transform(parseDuration),
    v.number('must be seconds (86400) or a duration such as 24h, 90m, 7d, 1h30m'),
    v.minValue(min, `must be at least ${min} s`),
    v.maxValue(max, `must be at most ${max} s (${maxText})`),
  );

/** A certificate pin (formats.ts): any pasted form, 64 lower-case hex digits out. */
export const pin = () =>
  v.pipe(
    v.string(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const hex = parsePin(dataset.value);
      if (hex === null) {
        addIssue({ message: `{name} must be ${PIN_FORM} (the SHA-256 of the certificate)` });
        return NEVER;
      }
      return hex;
    }),
  );

/**
 * A PEM file of CA certificates, read at startup: its text, or a problem
 * (unreadable, or no certificate in it). `absolute` for a service, whose
 * working directory is nobody's choice; a command run by hand may take a
 * relative path.
 */
export const caFile = (opts: { absolute: boolean }) =>
  v.pipe(
    opts.absolute ? absolutePath('a PEM file of CA certificates') : v.string(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const result = readCaFile(dataset.value);
      if ('problem' in result) {
        addIssue({ message: result.problem });
        return NEVER;
      }
      return result.pem;
    }),
  );

/**
 * Reads a PEM file of CA certificates: its text, or a readable problem.
 * Shared by caFile() and the flags that name such a file (the CLI's).
 */
export const readCaFile = (file: string): { pem: string } | { problem: string } => {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    return { problem: `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  return pem.includes('-----BEGIN CERTIFICATE-----') ? { pem } : { problem: `${file} holds no PEM certificate` };
};

/** A Unix account name as useradd accepts it. */
export const unixUser = () => v.pipe(v.string(), v.regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a Unix user name'));

/** The edge's Redis key prefix (redis.ts: one rule for every app). */
export const redisKeyPrefix = (fallback: string) =>
  v.optional(v.pipe(v.string(), v.trim(), v.regex(REDIS_KEY_PREFIX, 'must be like "airlock:edge:" (words and colons, ending in a colon, at most 64 characters)')), fallback);

/**
 * The three Redis settings as one group (`...redisFields()` into an app's
 * table); check them together with `redisTargetOf` in a rule.
 */
export const redisFields = () => ({
  REDIS_URL: v.optional(redisUrl()),
  // Alternative to REDIS_URL: a Sentinel group; checked with REDIS_SENTINEL_NAME in resolveRedisTarget.
  REDIS_SENTINELS: v.optional(v.pipe(v.string(), v.trim())),
  REDIS_SENTINEL_NAME: v.optional(v.pipe(v.string(), v.trim())),
});
