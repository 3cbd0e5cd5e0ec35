import type { EdgeContext, Exchange } from '../context.ts';
import { sendError } from '../respond.ts';
import type { Admission, EnrollFacts, ThrottledRoute } from '../throttle/index.ts';

type Admitted = boolean | 'streak';

/**
 * Step 4: the throttle's verdict; a refusal is answered here. Returns whether
 * to forward ('streak': yes, and a failure streak is running for this key):
 * at once when the throttle answers from memory (a known block or spent
 * budget), as a promise when it asks Redis.
 */
export const throttleStep = (
  edge: EdgeContext,
  ex: Exchange,
  route: ThrottledRoute,
  ids: readonly string[],
  facts: EnrollFacts | null,
): Admitted | Promise<Admitted> => {
  const admission = edge.throttle.admit(route, ids, facts);
  return admission instanceof Promise ? admission.then((a) => answer(edge, ex, a)) : answer(edge, ex, admission);
};

const answer = (edge: EdgeContext, ex: Exchange, admission: Admission): Admitted => {
  if (admission.ok) {
    if (edge.config.rateLimitHeaders && admission.limit) {
      // draft-ietf-httpapi-ratelimit-headers (-06) field names.
      ex.res.setHeader('ratelimit-limit', String(admission.limit.limit));
      ex.res.setHeader('ratelimit-remaining', String(admission.limit.remaining));
      ex.res.setHeader('ratelimit-reset', String(admission.limit.resetSeconds));
    }
    return admission.streak ? 'streak' : true;
  }
  ex.rule = admission.rule;
  ex.throttleKey = admission.key;
  // Logged in full (access line, and the warning below) once per (IP, rule) and interval; the rest counted.
  ex.quiet = admission.kind !== 'error' && !edge.refusals.first(ex.ip, admission.rule, ex.route, 429);
  if ((admission.kind === 'lockout' || admission.kind === 'block') && !ex.quiet) {
    edge.logger.log('warn', admission.kind === 'lockout' ? 'refused: locked out' : 'refused: blocked', {
      key: admission.key,
      request_id: ex.requestId,
      retry_after: admission.retryAfterSeconds,
    });
  }
  if (admission.kind === 'error') {
    sendError(ex.res, 'service_unavailable', 'Throttling unavailable; retry later', false, admission.retryAfterSeconds);
  } else {
    sendError(ex.res, 'rate_limited', 'Too many requests; retry later', false, admission.retryAfterSeconds);
  }
  return false;
};
