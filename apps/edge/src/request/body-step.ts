import type { EdgeContext, Exchange } from '../context.ts';
import { hasBody, readBody } from '../body.ts';
import { sendError } from '../respond.ts';
import { isJsonContentType } from '../screen.ts';
import type { Screened } from './screening.ts';

/**
 * Step 3: a POST's JSON body, bounded, read in full before anything is
 * forwarded. Returns null for a GET, undefined when the request was refused
 * (or the client left).
 */
export const bodyStep = async (edge: EdgeContext, ex: Exchange, s: Screened): Promise<Buffer | null | undefined> => {
  if (s.route.method !== 'POST') return null;
  const { req, res } = ex;
  const max = edge.config.maxBodyBytes;
  if (!isJsonContentType(s.headers.get('content-type'))) {
    sendError(res, 'unsupported_media_type', 'Request body must be application/json', hasBody(req));
    return undefined;
  }
  const declared = Number(s.headers.get('content-length') ?? '0');
  if (declared > max) {
    // Answer before reading any of it, and close: the rest is never read.
    ex.reason = 'declared body too large';
    sendError(res, 'payload_too_large', `Request body exceeds ${max} bytes`, true);
    return undefined;
  }
  // Only now, with the request screened and the length acceptable, invite the body.
  if (edge.expectsContinue.has(req)) res.writeContinue();
  const read = await readBody(req, max);
  if (read === 'aborted') {
    ex.reason = 'client aborted body';
    return undefined;
  }
  if (read === 'too_large') {
    sendError(res, 'payload_too_large', `Request body exceeds ${max} bytes`, true);
    return undefined;
  }
  ex.bytesIn = read.length;
  return read;
};
