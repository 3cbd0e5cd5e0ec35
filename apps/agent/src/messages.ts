import type { ErrorCode } from '@airlock/schema';
import { ExitCode } from './exit-codes.ts';
import { stripControls } from './sanitize.ts';

export interface ErrorContext {
  /** How the enrollment was made; absent for renew/recover. */
  method?: 'pairing_code' | 'enrollment_key';
  phase: 'enroll' | 'verify' | 'status' | 'renew';
  site: string;
  /** The envelope's message, already passed through sanitizeServerText. */
  serverMessage?: string;
  retryAfterSeconds?: number | null;
  /** A 400's per-field problems. */
  fields?: Record<string, string>;
}

/** What happened, what to do, and how the process ends. */
export interface Explanation {
  exitCode: ExitCode;
  title: string;
  detail?: string;
  action: string;
}

/**
 * Server text ends up on an operator's terminal: strip control characters so
 * a hostile or broken server cannot move the cursor or rewrite earlier lines.
 */
export const sanitizeServerText = (text: string, max = 500): string => {
  const clean = stripControls(text).trim();
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
};

/**
 * The contract puts the operator's reason in the message; servers tend to
 * lead with "Enrollment rejected by the operator:", which the title says already.
 */
const rejectionReason = (message: string): string =>
  message.replace(/^enrollment (was )?rejected( by [^:]{1,40})?:\s*/i, '') || message;

/** `45 s`, `15 min`, `1 h 5 min`. */
export const formatSeconds = (seconds: number): string => {
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 120) return `${s} s`;
  const minutes = Math.ceil(s / 60);
  if (minutes < 120) return `${minutes} min`;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return m === 0 ? `${h} h` : `${h} h ${m} min`;
};

const wrongServer = (what: string): Explanation => ({
  exitCode: ExitCode.Usage,
  title: `The server answered "${what}" to an enrollment request.`,
  detail: '--server probably points at the wrong host or port (it must be the Airlock edge, not the internal API or another web server).',
  action: 'Check the --server address with your operator.',
});

const adminOnly = (code: string): Explanation => ({
  exitCode: ExitCode.Internal,
  title: `The server answered with an administrative error (${code}) to an enrollment request.`,
  detail: '--server probably points at the internal API instead of the edge, or a proxy in between is rewriting requests.',
  action: 'Check the --server address with your operator; agents must enroll through the edge.',
});

const serverSide = (title: string): Explanation => ({
  exitCode: ExitCode.Network,
  title,
  action: 'Try again in a few minutes. If it keeps happening, tell your operator (the server has logged the details).',
});

const again = (ctx: ErrorContext): string =>
  ctx.method === 'pairing_code'
    ? 'Ask your operator for a new pairing code and run airlock-agent enroll again.'
    : 'Run airlock-agent enroll again.';

/**
 * Every contract error code, mapped to a message a person at the far end can
 * act on. A Record over ErrorCode, so a new code in @airlock/schema fails the
 * type check here until it has a message.
 */
export const ERROR_MESSAGES: Record<ErrorCode, (ctx: ErrorContext) => Explanation> = {
  invalid_request: (ctx) => {
    const fields = Object.entries(ctx.fields ?? {})
      .map(([field, problem]) => `${sanitizeServerText(field, 40)}: ${sanitizeServerText(problem, 200)}`)
      .join('; ');
    return {
      exitCode: ExitCode.Usage,
      title: 'The server rejected the request as invalid.',
      detail: fields !== '' ? `Problems: ${fields}` : ctx.serverMessage,
      action: 'Check --name, --label and --machine-uid. If the flags look right, this agent version may not match the server: report it.',
    };
  },
  unauthorized: () => adminOnly('unauthorized'),
  forbidden: () => adminOnly('forbidden'),
  invalid_key: () => adminOnly('invalid_key'),
  invalid_certificate: () => adminOnly('invalid_certificate'),
  agent_denied: () => ({
    exitCode: ExitCode.Denied,
    title: 'The server did not accept this agent\'s proof of its enrolled key.',
    detail: 'The agent may have been revoked, or this state directory holds a key the server does not know.',
    action: 'Ask your operator whether this agent is still enrolled; if it was revoked, enroll again.',
  }),
  invalid_state: () => adminOnly('invalid_state'),
  conflict: () => adminOnly('conflict'),
  enrollment_denied: (ctx) => {
    if (ctx.phase !== 'enroll') {
      return {
        exitCode: ExitCode.Denied,
        title: 'The server no longer accepts this enrollment (it failed or was cancelled).',
        action: again(ctx),
      };
    }
    return ctx.method === 'pairing_code'
      ? {
          exitCode: ExitCode.Denied,
          title: `The pairing code was not accepted for site ${ctx.site}.`,
          detail: 'It may be mistyped, expired (codes are valid for a few minutes), already used or revoked, or the site code may be wrong. For your safety the server does not say which.',
          action: 'Ask your operator for a new pairing code (and confirm the site code), then run the command again.',
        }
      : {
          exitCode: ExitCode.Denied,
          title: `The enrollment key was not accepted for site ${ctx.site}.`,
          detail: 'It may be wrong or rotated out, or the site code may be wrong.',
          action: `Ask your administrator for the current enrollment key of site ${ctx.site}.`,
        };
  },
  signature_invalid: (ctx) => ({
    exitCode: ExitCode.Denied,
    title: 'The server could not verify this agent\'s signature over its challenge.',
    detail: 'After three bad signatures the server fails the enrollment for good.',
    action: `${again(ctx)} If it happens again, move id_ed25519 out of the state directory so a new key is made, and report it.`,
  }),
  invalid_token: (ctx) => ({
    exitCode: ExitCode.Denied,
    title: 'The server does not recognise the stored poll token.',
    detail: 'The enrollment may have been removed, or replaced by a newer verification of the same enrollment.',
    action: again(ctx),
  }),
  enrollment_rejected: (ctx) => ({
    exitCode: ExitCode.Rejected,
    title: 'An operator rejected this enrollment.',
    detail: ctx.serverMessage ? `Reason given: ${rejectionReason(ctx.serverMessage)}` : 'No reason was given.',
    action: 'Talk to your operator before trying again; a new attempt needs a new pairing code or an approval.',
  }),
  not_found: () => wrongServer('not found'),
  method_not_allowed: () => wrongServer('method not allowed'),
  // Only the api answers it (a Host it does not serve); the edge never forwards the client's Host.
  misdirected_request: () => wrongServer('misdirected request'),
  site_conflict: (ctx) => ({
    exitCode: ExitCode.Denied,
    title: `This machine is already enrolled as an agent of another site, not ${ctx.site}.`,
    detail: 'The server matched its machine uid to an agent of a different site.',
    action: 'If the machine moved, ask an administrator to revoke the old agent first; otherwise check --site.',
  }),
  expired_token: (ctx) =>
    ctx.phase === 'status'
      ? {
          exitCode: ExitCode.Expired,
          title: 'The enrollment expired before an operator approved it.',
          action: again(ctx),
        }
      : {
          exitCode: ExitCode.Expired,
          title: 'The challenge expired before this agent answered it.',
          detail: 'Challenges must be answered within a few minutes; check this machine\'s clock and network.',
          action: again(ctx),
        },
  credentials_already_issued: () => ({
    exitCode: ExitCode.Expired,
    title: 'The credentials for this enrollment were already collected and cannot be delivered twice.',
    detail: 'The answer that carried them was lost, or another process collected them. The enrollment is kept in enrollment.json.',
    action: 'Run airlock-agent recover (same --state-dir): it proves this machine\'s key and gets new credentials, no operator needed.',
  }),
  payload_too_large: () => ({
    exitCode: ExitCode.Usage,
    title: 'The server refused the request as too large.',
    action: 'Use fewer or shorter --label values.',
  }),
  unsupported_media_type: () => adminOnly('unsupported_media_type'),
  rate_limited: (ctx) => ({
    exitCode: ExitCode.RateLimited,
    title: 'The server is throttling enrollments from this address.',
    detail: 'Too many attempts, or a lockout after repeated failures (for example wrong pairing codes).',
    action:
      ctx.retryAfterSeconds != null
        ? `Wait ${formatSeconds(ctx.retryAfterSeconds)} before trying again.`
        : 'Wait a few minutes before trying again.',
  }),
  slow_down: (ctx) => ({
    exitCode: ExitCode.RateLimited,
    title: 'The server asked this agent to poll more slowly.',
    action: `Run airlock-agent enroll --resume${ctx.retryAfterSeconds != null ? ` after ${formatSeconds(ctx.retryAfterSeconds)}` : ''}.`,
  }),
  request_timeout: () => serverSide('The server gave up waiting for the request (a slow or stalled network).'),
  internal_error: () => serverSide('The server had an internal error.'),
  bad_gateway: () => serverSide('The edge is up but could not reach the Airlock API behind it.'),
  service_unavailable: () => serverSide('The Airlock service is temporarily unavailable.'),
  gateway_timeout: () => serverSide('The edge timed out waiting for the Airlock API.'),
};

export const explainError = (code: ErrorCode, ctx: ErrorContext): Explanation => ERROR_MESSAGES[code](ctx);

/** For answers that carry no contract envelope (a proxy's HTML page, say). */
export const explainStatus = (status: number, ctx: ErrorContext): Explanation => {
  if (status === 429) return ERROR_MESSAGES.rate_limited(ctx);
  if (status === 404 || status === 405) return wrongServer(`HTTP ${status}`);
  if (status >= 500) return serverSide(`The server answered HTTP ${status}.`);
  return {
    exitCode: ExitCode.Internal,
    title: `The server answered HTTP ${status} without an Airlock error; it may not be an Airlock edge.`,
    action: 'Check --server with your operator.',
  };
};
