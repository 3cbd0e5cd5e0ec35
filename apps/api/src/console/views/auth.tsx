/** @jsxImportSource hono/jsx */
import { BarePage, CsrfField, Notice } from './layout.tsx';

export const SignInPage = ({ csrf, error, info, name }: { csrf: string; error?: string; info?: string; name?: string }) => (
  <BarePage title="Sign in">
    <form method="post" action="/console/sign-in" class="card sign-in">
      <h1>Sign in</h1>
      {error ? <Notice kind="error" text={error} /> : null}
      {info ? <Notice kind="info" text={info} /> : null}
      <CsrfField token={csrf} />
      <label for="operator">Operator</label>
      <input id="operator" name="operator" type="text" autocomplete="username" autocapitalize="none" spellcheck={false} required maxlength={64} value={name ?? ''} />
      <label for="password">Password</label>
      <input id="password" name="password" type="password" autocomplete="current-password" required maxlength={256} />
      <button type="submit" class="btn btn-primary">Sign in</button>
      <p class="muted small">
        No password yet? An admin runs <code>pnpm airlock operators set-password NAME</code>.
      </p>
    </form>
  </BarePage>
);

const HEADINGS: Record<number, string> = {
  400: 'Check the form',
  401: 'Signed out',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Not possible now',
  413: 'Too large',
  415: 'Not accepted',
  429: 'Too many attempts',
};

export const ErrorPage = ({ status, message, back }: { status: number; message: string; back: string }) => (
  <BarePage title={`Error ${status}`}>
    <div class="card">
      <h1>{HEADINGS[status] ?? (status >= 500 ? 'Something went wrong' : 'Not done')}</h1>
      <Notice kind="error" text={message} />
      <p>
        {status === 401 ? <a href="/console/sign-in">Sign in again</a> : <a href={back}>Back</a>}
      </p>
    </div>
  </BarePage>
);
