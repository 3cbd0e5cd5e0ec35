import type { EdgeContext, Exchange } from '../context.ts';
import { sendError } from '../respond.ts';
import type { EnrollFacts, ThrottledRoute } from '../throttle/index.ts';

/**
 * Step 4: the throttle's verdict; a refusal is answered here. Returns whether
 * to forward ('streak': yes, and a failure streak is running for this key).
 */
export const throttleStep = async (
  edge: EdgeContext,
  ex: Exchange,
  route: ThrottledRoute,
  ids: readonly string[],
  facts: EnrollFacts | null,
): Promise<boolean | 'streak'> => {
  const admission = await edge.throttle.admit(route, ids, facts);
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
  if (admission.kind === 'lockout' || admission.kind === 'block') {
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
