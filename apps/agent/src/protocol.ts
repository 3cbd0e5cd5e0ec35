import * as v from 'valibot';
import {
  AgentChallengeResponse,
  AgentCredentialsResponse,
  EnrollResponse,
  isErrorCode,
  PollInterval,
  StatusApprovedResponse,
  StatusWaitingResponse,
  TlsCredentials,
  VerifyResponse,
} from '@airlock/schema';
import { explainError, explainStatus, sanitizeServerText, type ErrorContext, type Explanation } from './messages.ts';
import type { HttpResponse } from './http.ts';

/**
 * The server's answers, held to the shared response schemas (@airlock/schema:
 * the same ones the api is checked against) before the agent uses, stores or
 * prints a value: every field against its format. Unknown extra fields are
 * allowed (the contract may add optional ones) and dropped. Where the agent
 * is more tolerant than the schema, it is for older servers, said below.
 */
export const EnrollCreated = EnrollResponse;

// A server that leaves poll_interval out is polled at the agent's default.
export const VerifyOk = v.object({ ...VerifyResponse.entries, poll_interval: v.optional(PollInterval) });
export const StatusWaiting = v.object({ ...StatusWaitingResponse.entries, poll_interval: v.optional(PollInterval) });

/** `credentials` with `tls` absent (a v1 server, before certificates) read as null. */
const olderServers = <E extends { tls: v.GenericSchema }>(entries: E) => ({ ...entries, tls: v.optional(v.nullable(TlsCredentials), null) });

export const StatusApproved = v.object({
  ...StatusApprovedResponse.entries,
  credentials: v.object(olderServers(StatusApprovedResponse.entries.credentials.entries)),
});
export type StatusApproved = v.InferOutput<typeof StatusApproved>;

export const AgentChallenge = AgentChallengeResponse;

export const AgentCredentials = v.object({
  ...AgentCredentialsResponse.entries,
  credentials: v.object(olderServers(AgentCredentialsResponse.entries.credentials.entries)),
});
export type AgentCredentials = v.InferOutput<typeof AgentCredentials>;

// Not the shared ErrorEnvelope: a newer server's code the agent does not know
// yet must still be read (and explained by its HTTP status), not refused.
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
