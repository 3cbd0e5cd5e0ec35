import type * as http from 'node:http';
import type { EdgeContext, Exchange } from '../context.ts';
import { sendError } from '../respond.ts';
import type { EnrollFacts, ThrottledRoute } from '../throttle/index.ts';
import type { Client, Screened } from './screening.ts';

/** Seconds a client refused for a busy upstream is told to wait (`Retry-After`). */
const BUSY_RETRY_AFTER_SECONDS = 1;

/** Request headers the api may see from the client; everything else stays at the edge. */
const PASSED_HEADERS = ['content-type', 'authorization', 'user-agent', 'accept'] as const;

/**
 * Step 5: forward exactly the screened target with the chosen headers, count
 * the api's answer, then relay it. Counting first means a client cannot race
 * its next guess past the failure it just caused.
 */
export const relayStep = async (
  edge: EdgeContext,
  ex: Exchange,
  s: Screened,
  client: Client,
  route: ThrottledRoute,
  body: Buffer | null,
  facts: EnrollFacts | null,
  streak: boolean,
): Promise<void> => {
  const outgoing: http.OutgoingHttpHeaders = {
    host: edge.config.upstream.host,
    'x-forwarded-for': client.ip,
    'x-forwarded-proto': client.proto,
    'x-request-id': ex.requestId,
  };
  for (const name of PASSED_HEADERS) {
    const value = s.headers.get(name);
    if (value !== undefined) outgoing[name] = value;
  }
  if (body !== null) outgoing['content-length'] = String(body.length);

  const result = await edge.forwarder.forward(ex.req, ex.res, s.route.target, outgoing, body);
  if (result.kind === 'client_gone') {
    ex.reason = result.reason;
    return;
  }
  if (result.kind === 'busy') {
    // Every upstream slot taken and no room (or no time left) to wait: refuse at once, nothing was sent.
    edge.metrics.upstreamShed.inc({ reason: result.reason });
    ex.reason = `upstream busy: ${result.reason}`;
    sendError(ex.res, 'service_unavailable', 'The enrollment service is busy; retry later', false, BUSY_RETRY_AFTER_SECONDS);
    return;
  }
  if (result.kind !== 'response') {
    edge.metrics.upstreamErrors.inc({ kind: result.kind });
    ex.reason = `upstream: ${result.reason}`;
    if (result.kind === 'gateway_timeout') sendError(ex.res, 'gateway_timeout', 'The enrollment service did not answer in time');
    else sendError(ex.res, 'bad_gateway', 'The enrollment service is unavailable');
    return;
  }
  ex.upstreamMs = result.upstreamMs;
  edge.metrics.upstreamLatency.observe({ route }, result.upstreamMs / 1000);
  await edge.throttle.recordOutcome(route, client.ids, facts, result.status, streak);
  result.relay();
};
