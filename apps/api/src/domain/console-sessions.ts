/**
 * Console sign-in and sessions. A session is a random 256-bit token in an
 * HttpOnly cookie; the database holds only its SHA-256 digest. Idle timeout
 * 30 min, absolute 12 h. Sign-in failures are throttled by counting
 * `operator.login_failed` audit rows: 5 per (operator, IP) per 15 min, and
 * (issue 18) 20 per operator per 15 min whatever the address, so rotating
 * source addresses (or a forged X-Forwarded-For) buys no more guesses.
 */
import { randomBytes } from 'node:crypto';
import { secretDigest } from '@airlock/crypto';
import { isMachineRole, OperatorName, type OperatorRole } from '@airlock/schema';
import * as v from 'valibot';
import type { Database, Executor } from '../db/client.ts';
import type { Clock } from '../clock.ts';
import { ApiError } from '../errors.ts';
import {
  clearSignInFailures,
  countSignInFailures,
  endSession,
  endSessionsOfOperator,
  findLiveSession,
  findOperatorForSignIn,
  insertSession,
  lockSignInKey,
  setPasswordHash,
  touchSession,
  type FailureCount,
} from '../store/sessions.ts';
import { recordAudit } from './audit.ts';
import { operatorExists, type Operator } from '../store/operators.ts';
import { EVERY_TENANT, type Scope } from '../store/scope.ts';
import type { Client, Deps } from './deps.ts';
import { checkPassword, hashPassword } from './passwords.ts';

const SESSION_IDLE_MS = 30 * 60 * 1000;
export const SESSION_ABSOLUTE_MS = 12 * 60 * 60 * 1000;
const SIGN_IN_WINDOW_MS = 15 * 60 * 1000;
const SIGN_IN_MAX_FAILURES = 5;
/** Per operator name, from every address together: above one address's budget, far below a guessing rate. */
export const SIGN_IN_OPERATOR_MAX_FAILURES = 20;

const SESSION_TOKEN = /^acs_[A-Za-z0-9_-]{43}$/;
const mintSessionToken = () => `acs_${randomBytes(32).toString('base64url')}`;

export interface ConsoleSession {
  id: string;
  operator: Operator;
}

export type SignInResult =
  | { ok: true; token: string; session: ConsoleSession }
  | { ok: false; throttled?: { seconds: number; scope: 'address' | 'operator' } };

/** Seconds until the oldest counted failure leaves the window, when `max` or more are counted; null otherwise. */
const lockedFor = (f: FailureCount, max: number, now: Date): number | null =>
  f.count >= max && f.oldest ? Math.max(1, Math.ceil((f.oldest.getTime() + SIGN_IN_WINDOW_MS - now.getTime()) / 1000)) : null;

/** One message for every failed sign-in (unknown name, wrong password, disabled, service role): no oracle. */
export const SIGN_IN_FAILED = 'The operator name or password is wrong';

/**
 * Checks a name and password and opens a new session. `previousToken` is the
 * session cookie the browser came with, if any: it is ended, so a token
 * planted before sign-in never becomes a signed-in session (fixation).
 */
export const signIn = async (
  deps: Deps,
  input: { name: string; password: string; previousToken: string | null },
  client: Client,
): Promise<SignInResult> => {
  const parsedName = v.safeParse(OperatorName, input.name);
  // A name that cannot exist is counted under one key, and still costs one Argon2 verification.
  const name = parsedName.success ? parsedName.output : '(invalid)';
  const result = await deps.db.transaction(async (tx): Promise<SignInResult> => {
    await lockSignInKey(tx, name);
    const now = deps.clock.now();
    const failures = await countSignInFailures(tx, name, client.ip, new Date(now.getTime() - SIGN_IN_WINDOW_MS));
    // Checked before the password: during a lockout the right password fails too, so it is no oracle.
    const byAddress = lockedFor(failures.byAddress, SIGN_IN_MAX_FAILURES, now);
    if (byAddress !== null) return { ok: false, throttled: { seconds: byAddress, scope: 'address' } };
    const byOperator = lockedFor(failures.byOperator, SIGN_IN_OPERATOR_MAX_FAILURES, now);
    if (byOperator !== null) return { ok: false, throttled: { seconds: byOperator, scope: 'operator' } };
    const op = parsedName.success ? await findOperatorForSignIn(tx, name) : null;
    const passwordOk = await checkPassword(op?.passwordHash ?? null, input.password);
    const refusal = !op ? 'unknown_operator' : !passwordOk ? 'wrong_password' : op.disabledAt ? 'disabled' : isMachineRole(op.role) ? 'service_role' : null;
    if (refusal || !op) {
      await recordAudit(tx, deps, client, {
        eventType: 'operator.login_failed',
        actor: 'anonymous',
        details: { operator: name, reason: refusal ?? 'unknown_operator' },
      });
      return { ok: false };
    }
    if (input.previousToken) await endByToken(tx, input.previousToken, 'replaced_at_sign_in', now);
    const token = mintSessionToken();
    const id = await insertSession(tx, { operatorId: op.id, tokenDigest: secretDigest(token), now });
    await recordAudit(tx, deps, client, { eventType: 'operator.login', actor: op.name, details: { operator: op.name, session_id: id } });
    return { ok: true, token, session: { id, operator: { id: op.id, name: op.name, role: op.role, tenantCode: op.tenantCode } } };
  });
  if (!result.ok && result.throttled) {
    const { seconds, scope } = result.throttled;
    const minutes = Math.ceil(seconds / 60);
    // One message for both scopes; the audit row says which held.
    throw new ApiError('rate_limited', `Too many failed sign-ins. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`, {
      retryAfterSeconds: seconds,
      audit: { eventType: 'operator.login_throttled', details: { operator: name, scope } },
    });
  }
  return result;
};

/**
 * Lifts an operator's sign-in lockout: failures before now stop counting,
 * for every address. For the admin whose name a stranger keeps guessing;
 * the stranger's next failures count again from zero.
 */
export const clearOperatorSignInFailures = async (db: Database, clock: Clock, name: string, by: string, client: Client | null, scope: Scope = EVERY_TENANT) =>
  db.transaction(async (tx) => {
    if (!(await operatorExists(tx, name, scope))) throw new ApiError('not_found', `No operator ${name}`);
    const now = clock.now();
    const op = await clearSignInFailures(tx, name, now);
    if (!op) throw new ApiError('not_found', `No operator ${name}`);
    await recordAudit(tx, { clock }, client, { eventType: 'operator.sign_in_cleared', actor: by, details: { operator: op.name } });
    return { name: op.name, role: op.role, cleared_at: now.toISOString() };
  });

const endByToken = async (db: Executor, token: string, reason: string, now: Date) => {
  if (!SESSION_TOKEN.test(token)) return;
  const s = await findLiveSession(db, secretDigest(token));
  if (s) await endSession(db, s.id, reason, now);
};

/**
 * The live session a cookie names, or null. An expired session is ended on
 * the spot. `touch` false leaves the idle clock alone (the Pending page's
 * background refresh must not keep an unattended browser signed in).
 */
export const resolveSession = async (deps: Deps, token: string, touch: boolean): Promise<ConsoleSession | null> => {
  if (!SESSION_TOKEN.test(token)) return null;
  const s = await findLiveSession(deps.db, secretDigest(token));
  if (!s) return null;
  const now = deps.clock.now();
  const expired =
    now.getTime() >= s.createdAt.getTime() + SESSION_ABSOLUTE_MS
      ? 'absolute_timeout'
      : now.getTime() >= s.lastSeenAt.getTime() + SESSION_IDLE_MS
        ? 'idle_timeout'
        : null;
  if (expired) {
    await endSession(deps.db, s.id, expired, now);
    return null;
  }
  if (touch) await touchSession(deps.db, s.id, now);
  return { id: s.id, operator: { id: s.operatorId, name: s.operatorName, role: s.role, tenantCode: s.tenantCode } };
};

/** Sign-out ends the server-side session, not only the cookie. */
export const signOut = async (deps: Deps, session: ConsoleSession, client: Client): Promise<void> =>
  deps.db.transaction(async (tx) => {
    const ended = await endSession(tx, session.id, 'signed_out', deps.clock.now());
    if (ended) {
      await recordAudit(tx, deps, client, {
        eventType: 'operator.logout',
        actor: session.operator.name,
        details: { operator: session.operator.name, session_id: session.id },
      });
    }
  });

/**
 * Sets (or replaces) an operator's console password and ends its open
 * sessions. Service operators are for machines: they never sign in.
 */
export const setOperatorPassword = async (
  db: Database,
  clock: Clock,
  name: string,
  password: string,
  by: string,
  client: Client | null,
  scope: Scope = EVERY_TENANT,
): Promise<{ name: string; role: OperatorRole }> => {
  if (!(await operatorExists(db, name, scope))) throw new ApiError('not_found', `No enabled operator ${name}`);
  const existing = await findOperatorForSignIn(db, name);
  if (!existing || existing.disabledAt) throw new ApiError('not_found', `No enabled operator ${name}`);
  if (isMachineRole(existing.role)) throw new ApiError('invalid_state', `${existing.role === 'tunnel' ? 'Tunnel' : existing.role === 'edge' ? 'Edge' : 'Service'} operators cannot sign in to the console`);
  // Hashed before the transaction: Argon2 takes tens of milliseconds and needs no lock.
  const passwordHash = await hashPassword(password);
  return db.transaction(async (tx) => {
    // A new password an admin set also lifts a sign-in lockout of the old one.
    const op = await setPasswordHash(tx, name, passwordHash, clock.now());
    if (!op) throw new ApiError('not_found', `No enabled operator ${name}`);
    const ended = await endSessionsOfOperator(tx, op.id, 'password_changed', clock.now());
    await recordAudit(tx, { clock }, client, {
      eventType: 'operator.password_set',
      actor: by,
      details: { operator: op.name, ended_sessions: ended },
    });
    return { name: op.name, role: op.role };
  });
};
