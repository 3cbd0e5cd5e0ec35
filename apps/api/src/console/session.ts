/**
 * The console session cookie and the middleware that turns it into a signed-in
 * operator. Sessions themselves live in domain/console-sessions.ts.
 */
import { randomBytes } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { resolveSession, SESSION_ABSOLUTE_MS, type ConsoleSession } from '../domain/console-sessions.ts';
import type { Deps } from '../domain/deps.ts';
import { ApiError } from '../errors.ts';
import type { AppEnv } from '../http/context.ts';
import { checkCsrf, csrfTokenFor } from './security.ts';

const SESSION_COOKIE = 'airlock_console';
/** Pre-session cookie that binds the sign-in form's CSRF token (login CSRF). */
const SIGN_IN_COOKIE = 'airlock_console_signin';
const CONSOLE_PATH = '/console';

const cookieOptions = (deps: Deps, maxAgeSeconds: number) => ({
  path: CONSOLE_PATH,
  httpOnly: true,
  sameSite: 'Strict' as const,
  secure: deps.config.consoleSecureCookie,
  maxAge: maxAgeSeconds,
});

export const setSessionCookie = (c: Context, deps: Deps, token: string) =>
  setCookie(c, SESSION_COOKIE, token, cookieOptions(deps, SESSION_ABSOLUTE_MS / 1000));

export const clearSessionCookie = (c: Context, deps: Deps) =>
  deleteCookie(c, SESSION_COOKIE, { path: CONSOLE_PATH, secure: deps.config.consoleSecureCookie });

export const sessionCookie = (c: Context): string | null => getCookie(c, SESSION_COOKIE) ?? null;

/** The sign-in form's CSRF token; mints the pre-session cookie it is bound to when absent. */
export const signInCsrfToken = (c: Context, deps: Deps): string => {
  let pre = getCookie(c, SIGN_IN_COOKIE);
  if (!pre || !/^[A-Za-z0-9_-]{43}$/.test(pre)) {
    pre = randomBytes(32).toString('base64url');
    setCookie(c, SIGN_IN_COOKIE, pre, cookieOptions(deps, 3600));
  }
  return csrfTokenFor(deps.serverSecret, `sign-in:${pre}`);
};

export const checkSignInCsrf = (c: Context, deps: Deps, presented: string | undefined) => {
  const pre = getCookie(c, SIGN_IN_COOKIE);
  // No pre-session cookie: nothing to bind to, so no token can be right.
  checkCsrf(deps.serverSecret, `sign-in:${pre ?? ''}`, pre && /^[A-Za-z0-9_-]{43}$/.test(pre) ? presented : undefined, c.req.path);
};

export const sessionCsrfToken = (deps: Deps, s: ConsoleSession) => csrfTokenFor(deps.serverSecret, `session:${s.id}`);

export const checkSessionCsrf = (c: Context, deps: Deps, s: ConsoleSession, presented: string | undefined) =>
  checkCsrf(deps.serverSecret, `session:${s.id}`, presented, c.req.path);

/** Background refreshes say so, and leave the idle timer alone. */
const BACKGROUND_HEADER = 'x-console-background';

/**
 * Requires a live session. Pages redirect to the sign-in form; background
 * refreshes and actions get a 401 page (a POST must not be silently dropped).
 */
export const requireSession =
  (deps: Deps): MiddlewareHandler<AppEnv> =>
  async (c, next) => {
    const token = sessionCookie(c);
    const background = c.req.header(BACKGROUND_HEADER) === '1';
    const session = token ? await resolveSession(deps, token, !background) : null;
    if (!session) {
      if (token) clearSessionCookie(c, deps);
      if (c.req.method === 'GET' && !background) return c.redirect(`${CONSOLE_PATH}/sign-in`, 303);
      throw new ApiError('unauthorized', 'Your console session has ended; sign in again');
    }
    c.set('consoleSession', session);
    // The admin routes' audit and error paths read the operator from here.
    c.set('operator', session.operator);
    await next();
  };

/** Actions are for admins; an auditor's forged POST is refused (and audited) like a bearer call would be. */
export const requireAdmin = (c: Context<AppEnv>): void => {
  const op = c.get('operator');
  if (op.role !== 'admin') {
    throw new ApiError('forbidden', `The ${op.role} role may not do this`, {
      audit: { eventType: 'admin.forbidden', details: { method: c.req.method, path: c.req.path.slice(0, 200), role: op.role, via: 'console' } },
    });
  }
};
