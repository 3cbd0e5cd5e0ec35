/**
 * The path of one request through the edge, in order. Each step answers its
 * own refusals (always the contract's envelope) and returns null/undefined/false
 * when the request stops there.
 *
 * Synchronous until a step has to wait (issue 24): a GET refused from what
 * the edge already knows (a known block, a spent budget) is answered in the
 * same turn as its headers arrived, with no promise made for it; only
 * reading a body, asking Redis and forwarding return a promise.
 */
import type { EdgeContext, Exchange } from './context.ts';
import { enrollFacts } from './enroll-facts.ts';
import { bodyStep } from './request/body-step.ts';
import { relayStep } from './request/relay-step.ts';
import { identifyStep, screenStep, type Client, type Screened } from './request/screening.ts';
import { throttleStep } from './request/throttle-step.ts';
import { sendJson } from './respond.ts';
import type { EnrollFacts, ThrottledRoute } from './throttle/index.ts';

const HEALTHY = { status: 'ok' };

/** Steps 4 and 5: blocks, lockouts and budgets, then forward, count and relay. */
const admitAndRelay = (
  edge: EdgeContext,
  ex: Exchange,
  screened: Screened,
  client: Client,
  route: ThrottledRoute,
  body: Buffer | null,
  facts: EnrollFacts | null,
): Promise<void> | undefined => {
  const admitted = throttleStep(edge, ex, route, client.ids, facts);
  if (admitted instanceof Promise) {
    return admitted.then((a) => (a === false ? undefined : relayStep(edge, ex, screened, client, route, body, facts, a === 'streak')));
  }
  if (admitted === false) return undefined;
  return relayStep(edge, ex, screened, client, route, body, facts, admitted === 'streak');
};

const withBody = async (edge: EdgeContext, ex: Exchange, screened: Screened, client: Client, route: ThrottledRoute): Promise<void> => {
  const body = await bodyStep(edge, ex, screened); //      bounded JSON body, read in full
  if (body === undefined) return;
  const facts = route === 'enroll' ? enrollFacts(body) : null; // site_code and key shape
  await admitAndRelay(edge, ex, screened, client, route, body, facts);
};

/** Returns a promise only when the request has to wait for something. */
export const handleRequest = (edge: EdgeContext, ex: Exchange): Promise<void> | undefined => {
  const screened = screenStep(edge, ex); //                 allowlist, header and framing rules
  if (screened === null) return undefined;
  const client = identifyStep(edge, ex, screened); //       peer or trusted X-Forwarded-For
  if (client === null) return undefined;
  const route = screened.route.id;
  if (route === 'healthz') {
    sendJson(ex.res, 200, HEALTHY);
    return undefined;
  }
  if (screened.route.method === 'POST') return withBody(edge, ex, screened, client, route);
  return admitAndRelay(edge, ex, screened, client, route, null, null);
};
