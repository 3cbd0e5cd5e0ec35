/** @jsxImportSource hono/jsx */
/** Sign-in and sign-out. */
import type { Hono } from 'hono';
import { signIn, signOut, SIGN_IN_FAILED } from '../domain/console-sessions.ts';
import type { Deps } from '../domain/deps.ts';
import { ApiError } from '../errors.ts';
import type { AppEnv } from '../http/context.ts';
import { CSRF_FIELD, readForm } from './forms.ts';
import { checkSessionCsrf, checkSignInCsrf, clearSessionCookie, requireSession, sessionCookie, setSessionCookie, signInCsrfToken } from './session.ts';
import { SignInPage } from './views/auth.tsx';
import { sendPage } from './render.ts';

const SIGNED_OUT_NOTICE = 'You are signed out.';

export const registerAuthRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.get('/console/sign-in', (c) =>
    sendPage(c, <SignInPage csrf={signInCsrfToken(c, deps)} info={c.req.query('done') === 'signed_out' ? SIGNED_OUT_NOTICE : undefined} />),
  );

  app.post('/console/sign-in', async (c) => {
    const f = await readForm(c);
    checkSignInCsrf(c, deps, f[CSRF_FIELD]);
    const name = (f.operator ?? '').trim().toLowerCase().slice(0, 64);
    const password = (f.password ?? '').slice(0, 256);
    const result = await signIn(deps, { name, password, previousToken: sessionCookie(c) }, c.get('client'));
    if (!result.ok) {
      // The message is the same for every cause; the audit row says which.
      throw new ApiError('unauthorized', SIGN_IN_FAILED);
    }
    setSessionCookie(c, deps, result.token);
    return c.redirect('/console/pending', 303);
  });

  app.post('/console/sign-out', requireSession(deps), async (c) => {
    const session = c.get('consoleSession');
    const f = await readForm(c);
    checkSessionCsrf(c, deps, session, f[CSRF_FIELD]);
    await signOut(deps, session, c.get('client'));
    clearSessionCookie(c, deps);
    return c.redirect('/console/sign-in?done=signed_out', 303);
  });
};
