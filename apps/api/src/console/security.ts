/**
 * The console's web-security layer: response headers on everything under
 * /console, and the checks every state-changing request must pass before it
 * reaches a domain function (media type, same origin, CSRF token).
 */
import { hmacSha256Hex, timingSafeEqualStrings } from '@airlock/crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { ApiError } from '../errors.ts';
import type { AppEnv } from '../http/context.ts';

/** No inline script or style anywhere: the console's script and CSS are files under /console/assets. */
export const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/** Set after the handler (and after onError), so error pages carry them too. */
export const consoleHeaders: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  c.header('content-security-policy', CONSOLE_CSP);
  c.header('x-frame-options', 'DENY');
  c.header('referrer-policy', 'no-referrer');
  c.header('cross-origin-opener-policy', 'same-origin');
  c.header('cross-origin-resource-policy', 'same-origin');
  c.header('permissions-policy', 'camera=(), microphone=(), geolocation=(), usb=()');
};

const FORM_TYPES = new Set(['application/x-www-form-urlencoded', 'multipart/form-data', 'application/json']);

/** The media type without parameters, lower-case; '' when absent. */
export const mediaType = (c: Context): string => (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';

/**
 * Same-site is not same-origin: a page on another port of the same host gets
 * SameSite=Strict cookies too. So a state change must come from this origin,
 * by Sec-Fetch-Site (browsers) and by Origin when sent. A request with
 * neither header is refused: every browser that can be tricked sends one.
 */
const isSameOrigin = (c: Context): boolean => {
  const site = c.req.header('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin') return false;
  const origin = c.req.header('origin');
  // Our own Referrer-Policy: no-referrer makes browsers send `Origin: null` on
  // form posts; then only the browser's Sec-Fetch-Site can vouch for the origin.
  if (origin === undefined || origin === 'null') return site === 'same-origin';
  return origin === new URL(c.req.url).origin;
};

/** Media type and origin, checked before any body is read or any session is looked up. */
export const stateChangeGuard: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.req.method !== 'POST') return next();
  if (!FORM_TYPES.has(mediaType(c))) {
    throw new ApiError('unsupported_media_type', 'Send a form (application/x-www-form-urlencoded or multipart/form-data) or application/json', {
      audit: { eventType: 'console.refused', details: { reason: 'media_type', path: c.req.path.slice(0, 200) } },
    });
  }
  if (!isSameOrigin(c)) {
    throw new ApiError('forbidden', 'This request did not come from the console itself', {
      audit: { eventType: 'console.refused', details: { reason: 'cross_origin', path: c.req.path.slice(0, 200) } },
    });
  }
  return next();
};

/**
 * Synchronizer token: an HMAC of the session id under the server secret. It is
 * bound to one session, changes at every sign-in, and needs no storage.
 */
export const csrfTokenFor = (serverSecret: string, bindTo: string): string => hmacSha256Hex(serverSecret, `console-csrf:${bindTo}`);

export const checkCsrf = (serverSecret: string, bindTo: string, presented: string | undefined, path: string): void => {
  if (!presented || !timingSafeEqualStrings(presented, csrfTokenFor(serverSecret, bindTo))) {
    throw new ApiError('forbidden', 'The form has expired or did not come from this console; reload the page and try again', {
      audit: { eventType: 'console.refused', details: { reason: 'csrf', path: path.slice(0, 200) } },
    });
  }
};
