/**
 * The path of one request through the edge, in order. Each step answers its
 * own refusals (always the contract's envelope) and returns null/undefined/false
 * when the request stops there.
 */
import type { EdgeContext, Exchange } from './context.ts';
import { enrollFacts } from './enroll-facts.ts';
import { bodyStep } from './request/body-step.ts';
import { relayStep } from './request/relay-step.ts';
import { identifyStep, screenStep } from './request/screening.ts';
import { throttleStep } from './request/throttle-step.ts';
import { sendJson } from './respond.ts';

const HEALTHY = { status: 'ok' };

export const handleRequest = async (edge: EdgeContext, ex: Exchange): Promise<void> => {
  const screened = screenStep(edge, ex); //                 allowlist, header and framing rules
  if (screened === null) return;
  const client = identifyStep(edge, ex, screened); //       peer or trusted X-Forwarded-For
  if (client === null) return;
  const route = screened.route.id;
  if (route === 'healthz') {
    sendJson(ex.res, 200, HEALTHY);
    return;
  }
  const body = await bodyStep(edge, ex, screened); //      bounded JSON body, read in full
  if (body === undefined) return;
  const facts = route === 'enroll' ? enrollFacts(body) : null; // site_code and key shape
  const admitted = await throttleStep(edge, ex, route, client.ids, facts); // blocks, lockouts, budgets
  if (admitted === false) return;
  await relayStep(edge, ex, screened, client, route, body, facts, admitted === 'streak'); // forward, count, relay
};
