import { ERROR_STATUS, type ErrorCode } from '@airlock/schema';

/** What a refusal writes to the audit table; the error handler adds who and from where. */
export interface AuditOnRefusal {
  eventType: string;
  siteCode?: string | null;
  enrollmentId?: string | null;
  agentId?: string | null;
  details?: Record<string, unknown>;
  /**
   * The refusal concerns nothing real (no enrollment, agent or operator; a
   * site only if `siteCode` names one that exists): counted per (source IP,
   * kind, minute) instead of one row each. See domain/refusals.ts.
   */
  anonymous?: boolean;
}

/**
 * The one error type the domain throws for an expected refusal. The HTTP
 * status is derived from the code (closed catalogue in @airlock/schema);
 * `app.onError` turns it into the contract's envelope and writes `audit`.
 */
export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extra: {
      fields?: Record<string, string>;
      retryAfterSeconds?: number;
      audit?: AuditOnRefusal;
    } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = ERROR_STATUS[code];
  }
}
