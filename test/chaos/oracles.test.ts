/**
 * No oracles (issue 13): the six ways an enroll is refused (unknown site,
 * wrong code, used code, expired code, revoked code, wrong site key) must
 * not be told apart by an attacker, neither by the answer nor by its timing.
 * A seventh, a site key at an unknown site, is the key path's "unknown site".
 *
 * Timing: SAMPLES requests per cause against the api (the edge adds only
 * noise), interleaved in a fresh random order every round so that drift of a
 * loaded machine hits every cause alike, then a Mann-Whitney U test per pair.
 * "No difference at p < 0.01" is held family-wise over the 11 pairs that
 * share a request kind (10 among the code causes, 1 among the key causes),
 * so each must have p >= 0.01 / 11 (Bonferroni); without it one run in ten
 * would "differ" by chance alone. Code-versus-key pairs are reported: the
 * attacker chooses which to send, so their difference reveals nothing.
 *
 * Answers: byte-identical bodies and the same header names and values, but
 * for the request id and the date.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePairingCode } from '@airlock/crypto';
import { newAgentKey } from '@airlock/testing';
import { enrollToPollToken, type Admin } from './support/airlock.ts';
import { hit, report } from './support/http.ts';
import { headerSet, mediansMs, pairwise, sampleInterleaved, showPairs } from './support/oracle.ts';
import { startApiOnPrivatePostgres, type PrivateApi } from './support/private-api.ts';
import type { ApiProcess } from './support/processes.ts';

const SAMPLES = 2_000;
/**
 * Bounded: on a machine so loaded that 2,000 rounds would take longer, the
 * run stops here and tests what it has (never fewer than MIN_SAMPLES).
 */
const TIME_BUDGET_MS = 150_000;
const MIN_SAMPLES = 500;
/** Interleaved streams at once: four keep the run to a couple of minutes on two loaded cores. */
const STREAMS = 4;
const ALPHA = 0.01;

let env: PrivateApi;
let dbUrl: string;
let api: ApiProcess;
let admin: Admin;

beforeAll(async () => {
  env = await startApiOnPrivatePostgres('airlock_oracles');
  ({ dbUrl, api, admin } = env);
});

afterAll(async () => {
  await env?.stop();
});

const CAUSES = ['unknown_site', 'wrong_code', 'used_code', 'expired_code', 'revoked_code', 'wrong_site_key', 'unknown_site_key'] as const;
type Cause = (typeof CAUSES)[number];
/**
 * What the attacker does not know is the hidden state behind one kind of
 * request: these pairs must not differ. Whether a request carries a pairing
 * code or a site key is the attacker's own choice (and a different body), so
 * code-versus-key pairs reveal nothing; they are measured and reported.
 */
const KEY_CAUSES: readonly Cause[] = ['wrong_site_key', 'unknown_site_key'];
const sameKind = (a: Cause, b: Cause): boolean => KEY_CAUSES.includes(a) === KEY_CAUSES.includes(b);

describe('enroll refusals are not an oracle', () => {
  it('answers every refusal cause with the same bytes and indistinguishable timing', async () => {
    const site = await admin.site('manual');
    await admin.siteKey(site);
    const publicKey = newAgentKey('oracle').publicKey;

    const used = await admin.code(site);
    const consumed = await enrollToPollToken(api.url, site, used.code);
    expect(consumed.answers[0]?.status).toBe(201);
    const expired = await admin.code(site);
    const revoked = await admin.code(site);
    expect((await admin.call('DELETE', `/api/v1/admin/pairing-codes/${revoked.id}`)).status).toBe(204);
    // Expiry is arranged in the database: waiting out a real TTL (60 s minimum) is not worth it.
    const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
    try {
      await sql`update pairing_codes set expires_at = now() - interval '1 hour' where id = ${expired.id}`;
    } finally {
      await sql.end();
    }

    const bodyFor = (cause: Cause): Record<string, string> => {
      const common = { public_key: publicKey, hostname: 'probe' };
      switch (cause) {
        case 'unknown_site':
          return { ...common, site_code: `NO-${randomBytes(4).toString('hex').toUpperCase()}`, pairing_code: generatePairingCode() };
        case 'wrong_code':
          return { ...common, site_code: site, pairing_code: generatePairingCode() };
        case 'used_code':
          return { ...common, site_code: site, pairing_code: used.code };
        case 'expired_code':
          return { ...common, site_code: site, pairing_code: expired.code };
        case 'revoked_code':
          return { ...common, site_code: site, pairing_code: revoked.code };
        case 'wrong_site_key':
          return { ...common, site_code: site, enrollment_key: `cek_${randomBytes(32).toString('base64url').slice(0, 43)}`, machine_uid: `probe-${randomBytes(4).toString('hex')}` };
        case 'unknown_site_key':
          return {
            ...common,
            site_code: `NO-${randomBytes(4).toString('hex').toUpperCase()}`,
            enrollment_key: `cek_${randomBytes(32).toString('base64url').slice(0, 43)}`,
            machine_uid: `probe-${randomBytes(4).toString('hex')}`,
          };
      }
    };

    const url = `${api.url}/api/v1/enroll`;
    const { times, first: firstAnswer, problems, seconds: elapsedS } = await sampleInterleaved({
      causes: CAUSES,
      ask: (cause, agent) => hit(url, { body: bodyFor(cause), agent }),
      check: (_cause, answer, first) => (answer.status !== 401 || answer.body !== first.body ? `${answer.status} ${answer.body}` : null),
      samples: SAMPLES,
      streams: STREAMS,
      budgetMs: TIME_BUDGET_MS,
      minSamples: MIN_SAMPLES,
    });
    expect(problems).toEqual([]);

    // ---- responses: byte-identical bodies, identical header sets ----------------
    const reference = firstAnswer.get('wrong_code');
    if (!reference) throw new Error('no reference answer');
    expect(JSON.parse(reference.body)).toEqual({ error: { code: 'enrollment_denied', message: expect.any(String) } });
    for (const cause of CAUSES) {
      const a = firstAnswer.get(cause);
      expect(a?.body).toBe(reference.body);
      expect(a && headerSet(a)).toBe(headerSet(reference));
    }

    // ---- timing: no pair differs, family-wise p < 0.01 ----------------------------
    const pairs = pairwise(CAUSES, times);
    const asserted = pairs.filter((p) => sameKind(p.a, p.b));
    const crossKind = pairs.filter((p) => !sameKind(p.a, p.b));
    const threshold = ALPHA / asserted.length;
    report('timing oracle', {
      samples_per_cause: Math.min(...CAUSES.map((c) => times.get(c)?.length ?? 0)),
      streams: STREAMS,
      seconds: Math.round(elapsedS),
      medians_ms: mediansMs(CAUSES, times),
      smallest_p: Math.min(...asserted.map((p) => p.p)),
      per_pair_threshold: threshold,
      largest_median_diff_us: Math.max(...asserted.map((p) => Math.abs(p.median_diff_us))),
      pairs: showPairs(asserted),
      code_versus_key_pairs_not_asserted: showPairs(crossKind),
    });
    expect(pairs).toHaveLength(21);
    expect(asserted.filter((p) => p.p < threshold)).toEqual([]);
  }, 400_000);
});
