/** @jsxImportSource hono/jsx */
/**
 * The operator console: server-rendered pages under /console on the api's
 * internal port (the edge never forwards /console). Registration order is
 * execution order: headers and the state-change guard wrap everything, the
 * assets and sign-in come before the session check, the pages after it.
 */
import { readFileSync } from 'node:fs';
import type { Context, Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Deps } from '../domain/deps.ts';
import { warmPasswordCheck } from '../domain/passwords.ts';
import { ApiError } from '../errors.ts';
import type { AppEnv } from '../http/context.ts';
import { registerActionRoutes } from './action-routes.tsx';
import { registerAuthRoutes } from './auth-routes.tsx';
import { registerPageRoutes } from './page-routes.tsx';
import { consoleHeaders, stateChangeGuard } from './security.ts';
import { requireSession, signInCsrfToken } from './session.ts';
import { ErrorPage, SignInPage } from './views/auth.tsx';
import { sendPage } from './render.ts';

const ASSETS: Record<string, { type: string; body: string }> = {
  'console.css': { type: 'text/css; charset=utf-8', body: readFileSync(new URL('./assets/console.css', import.meta.url), 'utf8') },
  'console.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(new URL('./assets/console.js', import.meta.url), 'utf8') },
};

export const isConsolePath = (path: string): boolean => path === '/console' || path.startsWith('/console/');

export const registerConsole = (app: Hono<AppEnv>, deps: Deps) => {
  // The first unknown-operator sign-in must not be slower than the rest.
  void warmPasswordCheck();
  app.use('/console', consoleHeaders);
  app.use('/console/*', consoleHeaders);
  app.use('/console/*', stateChangeGuard);

  app.get('/console/assets/:file', (c) => {
    const asset = Object.hasOwn(ASSETS, c.req.param('file')) ? ASSETS[c.req.param('file')] : undefined;
    if (!asset) throw new ApiError('not_found', 'Not found');
    return c.body(asset.body, 200, { 'content-type': asset.type });
  });

  registerAuthRoutes(app, deps);
  app.use('/console', requireSession(deps));
  app.use('/console/*', requireSession(deps));
  registerPageRoutes(app, deps);
  registerActionRoutes(app, deps);
  app.all('/console/*', () => {
    throw new ApiError('not_found', 'There is no such console page');
  });
};

const PAGES = new Set(['pending', 'pairing-codes', 'agents', 'sites', 'audit', 'lockouts']);

/**
 * The console's half of the api's one error path (http/app.ts onError): the
 * same status and message as the JSON envelope, as a page with the console's
 * headers. A refused sign-in shows the form again.
 */
export const renderConsoleError = (c: Context<AppEnv>, deps: Deps, err: unknown) => {
  const status = (err instanceof ApiError ? err.status : 500) as ContentfulStatusCode;
  let message = err instanceof ApiError && err.status < 500 ? err.message : 'Internal error; the request id is in the response headers';
  // Field problems (never values) say what to fix, as the JSON envelope's `fields` would.
  const fields = err instanceof ApiError ? Object.entries(err.extra.fields ?? {}) : [];
  const detail = fields.map(([k, p]) => `${k.replaceAll('_', ' ')} ${p}`).join('; ');
  if (detail && !message.includes(detail)) message = `${message}: ${detail}`;
  if (c.req.path === '/console/sign-in' && c.req.method === 'POST' && (status === 401 || status === 429 || status === 400)) {
    return sendPage(c, <SignInPage csrf={signInCsrfToken(c, deps)} error={message} />, status);
  }
  const section = c.req.path.split('/')[2] ?? '';
  return sendPage(c, <ErrorPage status={status} message={message} back={PAGES.has(section) ? `/console/${section}` : '/console/pending'} />, status);
};
