import * as v from 'valibot';
import { isErrorCode } from '@airlock/schema';
import { explainError, explainStatus, sanitizeServerText, type ErrorContext, type Explanation } from './messages.ts';
import type { HttpResponse } from './http.ts';
import { AgentKeyValue, Challenge, PollInterval, PollToken, Rfc3339, SiteCodeStored, SshCredentials, TlsCredentials, Uuid } from './formats.ts';

/**
 * Response shapes from CONTRACT.md, every field checked against its format
 * (formats.ts) before the agent uses, stores or prints it. Unknown extra
 * fields are allowed (the contract may add optional ones) and dropped.
 */
export const EnrollCreated = v.object({
  enrollment_id: Uuid,
  challenge: Challenge,
  expires_at: Rfc3339,
});

export const VerifyOk = v.object({
  status: v.picklist(['awaiting_approval', 'approved', 'pending_confirmation']),
  poll_token: PollToken,
  poll_interval: v.optional(PollInterval),
});

export const StatusWaiting = v.object({
  status: v.picklist(['awaiting_approval', 'pending_confirmation']),
  poll_interval: v.optional(PollInterval),
});

/** `credentials` of the approved status answer and of POST /agent/credentials. */
const Credentials = <K extends v.GenericSchema>(agentKey: K) =>
  v.object({
    agent_key: agentKey,
    ssh: v.nullable(SshCredentials),
    // v1.1: absent from a v1 server, null when no CSR was sent.
    tls: v.optional(v.nullable(TlsCredentials), null),
  });

export const StatusApproved = v.object({
  status: v.literal('approved'),
  agent_id: Uuid,
  site_code: SiteCodeStored,
  credentials: Credentials(AgentKeyValue),
});
export type StatusApproved = v.InferOutput<typeof StatusApproved>;

export const AgentChallenge = v.object({
  challenge_id: Uuid,
  challenge: Challenge,
  expires_at: Rfc3339,
});

export const AgentCredentials = v.object({
  agent_id: Uuid,
  site_code: SiteCodeStored,
  credentials: Credentials(v.nullable(AgentKeyValue)),
});
export type AgentCredentials = v.InferOutput<typeof AgentCredentials>;

const Envelope = v.object({
  error: v.object({
    code: v.pipe(v.string(), v.maxLength(64)),
    message: v.optional(v.pipe(v.string(), v.maxLength(4096))),
    fields: v.optional(v.record(v.pipe(v.string(), v.maxLength(64)), v.pipe(v.string(), v.maxLength(1024)))),
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
    // Name the field, never echo its value: the value is what a hostile server controls.
    const field = v.getDotPath(parsed.issues[0]) ?? 'the body';
    throw new ProtocolError(
      `the server's answer to ${what} (HTTP ${response.status}) is off the contract (${sanitizeServerText(field, 60)} is missing or malformed)`,
    );
  }
  return parsed.output;
};
