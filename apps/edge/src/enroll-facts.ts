import { siteBucket } from '@airlock/lockouts';
import type { EnrollFacts } from './throttle/index.ts';

/**
 * Shaped like an enrollment key. Lenient on length (the api checks the exact
 * format and answers 400): what matters here is that arbitrary junk never
 * earns the per-(site, IP) bucket.
 */
const KEY_SHAPE = /^cek_[A-Za-z0-9_-]{1,64}$/;

/**
 * How an enroll is throttled, from its bounded body. Malformed JSON still goes
 * to the api, which answers 400; it is throttled per IP like a pairing code.
 *
 * @example
 *   enrollFacts(Buffer.from('{"site_code":"acme","enrollment_key":"cek_x"}'));
 *   // { site: 'ACME', keyShaped: true }
 */
export const enrollFacts = (body: Buffer | null): EnrollFacts => {
  let parsed: unknown = null;
  if (body !== null) {
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      parsed = null;
    }
  }
  const obj = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  const key = obj['enrollment_key'];
  return { site: siteBucket(obj['site_code']), keyShaped: typeof key === 'string' && KEY_SHAPE.test(key) };
};
