import * as v from 'valibot';
import { isErrorCode } from '@airlock/schema';
import { explainError, explainStatus, sanitizeServerText, type ErrorContext, type Explanation } from './messages.ts';
import type { HttpResponse } from './http.ts';

/** Response shapes from CONTRACT.md; unknown extra fields are allowed (the contract may add optional ones). */
export const EnrollCreated = v.object({
  enrollment_id: v.string(),
  challenge: v.string(),
  expires_at: v.string(),
});

export const VerifyOk = v.object({
  status: v.picklist(['awaiting_approval', 'approved', 'pending_confirmation']),
  poll_token: v.pipe(v.string(), v.minLength(1)),
  poll_interval: v.optional(v.pipe(v.number(), v.minValue(0))),
});

export const StatusWaiting = v.object({
  status: v.picklist(['awaiting_approval', 'pending_confirmation']),
  poll_interval: v.optional(v.pipe(v.number(), v.minValue(0))),
});

export const StatusApproved = v.object({
  status: v.literal('approved'),
  agent_id: v.string(),
  site_code: v.string(),
  credentials: v.object({
    agent_key: v.pipe(v.string(), v.startsWith('cak_')),
    ssh: v.nullable(v.unknown()),
  }),
});
export type StatusApproved = v.InferOutput<typeof StatusApproved>;

const Envelope = v.object({
  error: v.object({
    code: v.string(),
    message: v.optional(v.string()),
    fields: v.optional(v.record(v.string(), v.string())),
  }),
});

/** The error code of a non-2xx answer, when it carries a contract envelope. */
export const errorCodeOf = (response: HttpResponse): string | null => {
  const parsed = v.safeParse(Envelope, response.json);
  return parsed.success ? parsed.output.error.code : null;
};

/** Turns any refusal into the message and exit code for the person at the far end. */
export const explainResponse = (response: HttpResponse, ctx: Omit<ErrorContext, 'serverMessage' | 'fields' | 'retryAfterSeconds'>): Explanation => {
  const parsed = v.safeParse(Envelope, response.json);
  const full: ErrorContext = { ...ctx, retryAfterSeconds: response.retryAfterSeconds };
  if (parsed.success) {
    const { code, message, fields } = parsed.output.error;
    if (message !== undefined) full.serverMessage = sanitizeServerText(message);
    if (fields !== undefined) full.fields = fields;
    if (isErrorCode(code)) return explainError(code, full);
  }
  return explainStatus(response.status, full);
};

/** The server answered 2xx with something off-contract. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}

export const expectShape = <S extends v.GenericSchema>(schema: S, response: HttpResponse, what: string): v.InferOutput<S> => {
  const parsed = v.safeParse(schema, response.json);
  if (!parsed.success) {
    throw new ProtocolError(`the server's answer to ${what} (HTTP ${response.status}) is not what this agent version expects`);
  }
  return parsed.output;
};
