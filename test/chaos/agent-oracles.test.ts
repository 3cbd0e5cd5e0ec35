/**
 * No oracles on the v1.1 agent routes (issue 13: "same for the agent
 * challenge route once it exists"), measured as oracles.test.ts measures
 * enroll refusals, against the api on its own Postgres.
 *
 * - `POST /api/v1/agent/challenge` for an active agent's fingerprint, a
 *   revoked agent's and one of no agent: the same 201 answer shape (field
 *   names and lengths, header set) and indistinguishable timing. The contract
 *   promises it: "the same shape and timing whether or not the fingerprint
 *   belongs to an agent".
 * - `POST /api/v1/agent/credentials` refused for what a stranger (holding
 *   no agent's key) can send: an unknown fingerprint, an active agent's and
 *   a revoked agent's fingerprint with a signature by another key, a used
 *   challenge and a challenge that never was: one byte-identical 401
 *   `agent_denied` and indistinguishable timing. A revoked agent proving its
 *   own key gets the same 401; its timing is reported, not asserted: only
 *   the key's holder can send it, and it tells them nothing they do not know
 *   (that their key once belonged to an agent).
 *
 * Each asserted family is held at p < 0.01 family-wise (Bonferroni over its
 * pairs). Every refusal cause makes the same two requests, a challenge and
 * then the timed proof, so the client's own request pattern is alike.
 */
import { randomUUID } from 'node:crypto';
import type * as http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAgentKey, type TestAgentKey } from '@airlock/testing';
import { enrollToPollToken, pollStatus, type Admin } from './support/airlock.ts';
import { hit, report, type Hit } from './support/http.ts';
import { headerSet, mediansMs, pairwise, sampleInterleaved, showPairs } from './support/oracle.ts';
import { startApiOnPrivatePostgres, type PrivateApi } from './support/private-api.ts';
import type { ApiProcess } from './support/processes.ts';

const SAMPLES = 2_000;
/** Bounded like the enroll oracle: a loaded machine tests what it has by then. */
const TIME_BUDGET_MS = 60_000;
const MIN_SAMPLES = 400;
const STREAMS = 4;
const ALPHA = 0.01;

let env: PrivateApi;
let api: ApiProcess;
let admin: Admin;

beforeAll(async () => {
  env = await startApiOnPrivatePostgres('airlock_agent_oracles');
  ({ api, admin } = env);
});

afterAll(async () => {
  await env?.stop();
});

/** An approved agent with its key (pairing code with auto-approve, then the status read). */
const enrolledAgent = async (site: string): Promise<{ id: string; key: TestAgentKey }> => {
  const code = await admin.code(site, { autoApprove: true });
  const attempt = await enrollToPollToken(api.url, site, code.code);
  if (!attempt.pollToken) throw new Error(`enroll failed: ${attempt.answers.at(-1)?.status} ${attempt.answers.at(-1)?.body}`);
  const status = await pollStatus(api.url, attempt.pollToken);
  expect(status.status).toBe(200);
  return { id: String((JSON.parse(status.body) as { agent_id: string }).agent_id), key: attempt.key };
};

/** What differs by design between two challenges: the values, never the names or lengths. */
const challengeShape = (h: Hit): string =>
  JSON.stringify({
    status: h.status,
    fields: Object.entries(JSON.parse(h.body) as Record<string, string>).map(([k, v]) => [k, v.length]),
    headers: headerSet(h),
  });

describe('agent route refusals are not an oracle', () => {
  it('answers a challenge alike for any fingerprint, and every refused proof with the same bytes, in indistinguishable time', async () => {
    const site = await admin.site('manual');
    const active = await enrolledAgent(site);
    const revoked = await enrolledAgent(site);
    expect((await admin.call('POST', `/api/v1/admin/agents/${revoked.id}/revoke`, { reason: 'oracle test' })).status).toBe(200);
    const stranger = newAgentKey('stranger');
    const base = `${api.url}/api/v1/agent`;
    const challenge = async (fingerprint: string, agent?: http.Agent) => {
      const h = await hit(`${base}/challenge`, { body: { fingerprint }, ...(agent ? { agent } : {}) });
      if (h.status !== 201) throw new Error(`challenge: ${h.status} ${h.body}`);
      return { h, ...(JSON.parse(h.body) as { challenge_id: string; challenge: string }) };
    };
    // A challenge spent once (by a wrong answer), then answered again by its rightful key.
    const spent = await challenge(active.key.fingerprint);
    const first = await hit(`${base}/credentials`, {
      body: { fingerprint: active.key.fingerprint, challenge_id: spent.challenge_id, signature: stranger.signAgent(spent.challenge_id, spent.challenge) },
    });
    expect(first.status).toBe(401);

    // ---- the challenge route -----------------------------------------------------
    const CHALLENGE_CAUSES = ['active_agent', 'revoked_agent', 'no_agent'] as const;
    const fingerprintOf = { active_agent: active.key.fingerprint, revoked_agent: revoked.key.fingerprint, no_agent: stranger.fingerprint };
    const challenges = await sampleInterleaved({
      causes: CHALLENGE_CAUSES,
      ask: async (cause, agent) => (await challenge(fingerprintOf[cause], agent)).h,
      check: (_cause, answer, first) => (challengeShape(answer) !== challengeShape(first) ? challengeShape(answer) : null),
      samples: SAMPLES,
      streams: STREAMS,
      budgetMs: TIME_BUDGET_MS,
      minSamples: MIN_SAMPLES,
    });
    expect(challenges.problems).toEqual([]);
    const shapes = new Set(CHALLENGE_CAUSES.map((c) => challengeShape(challenges.first.get(c) as Hit)));
    expect(shapes.size).toBe(1);

    // ---- the credentials route: every refusal ---------------------------------------
    const PROOF_CAUSES = ['unknown_fingerprint', 'revoked_bad_signature', 'bad_signature', 'used_challenge', 'no_such_challenge', 'revoked_own_key'] as const;
    /** What a stranger can send: these must not differ. */
    const strangerCauses = PROOF_CAUSES.filter((c) => c !== 'revoked_own_key');
    const refusedProof = async (cause: (typeof PROOF_CAUSES)[number], agent: http.Agent): Promise<Hit> => {
      const body = async () => {
        switch (cause) {
          case 'unknown_fingerprint': {
            const c = await challenge(stranger.fingerprint, agent);
            return { fingerprint: stranger.fingerprint, challenge_id: c.challenge_id, signature: stranger.signAgent(c.challenge_id, c.challenge) };
          }
          case 'revoked_bad_signature': {
            const c = await challenge(revoked.key.fingerprint, agent);
            return { fingerprint: revoked.key.fingerprint, challenge_id: c.challenge_id, signature: stranger.signAgent(c.challenge_id, c.challenge) };
          }
          case 'revoked_own_key': {
            const c = await challenge(revoked.key.fingerprint, agent);
            return { fingerprint: revoked.key.fingerprint, challenge_id: c.challenge_id, signature: revoked.key.signAgent(c.challenge_id, c.challenge) };
          }
          case 'bad_signature': {
            const c = await challenge(active.key.fingerprint, agent);
            return { fingerprint: active.key.fingerprint, challenge_id: c.challenge_id, signature: stranger.signAgent(c.challenge_id, c.challenge) };
          }
          case 'used_challenge':
            // A fresh challenge is asked for too (and left unanswered): every cause makes the same two requests.
            await challenge(active.key.fingerprint, agent);
            return { fingerprint: active.key.fingerprint, challenge_id: spent.challenge_id, signature: active.key.signAgent(spent.challenge_id, spent.challenge) };
          case 'no_such_challenge': {
            await challenge(active.key.fingerprint, agent);
            const id = randomUUID();
            return { fingerprint: active.key.fingerprint, challenge_id: id, signature: active.key.signAgent(id, spent.challenge) };
          }
        }
      };
      // Only the credentials request is timed; the challenge request every cause makes comes first.
      return hit(`${base}/credentials`, { body: await body(), agent });
    };
    const proofs = await sampleInterleaved({
      causes: PROOF_CAUSES,
      ask: refusedProof,
      check: (_cause, answer, first) => (answer.status !== 401 || answer.body !== first.body ? `${answer.status} ${answer.body}` : null),
      samples: SAMPLES,
      streams: STREAMS,
      budgetMs: TIME_BUDGET_MS,
      minSamples: MIN_SAMPLES,
    });
    expect(proofs.problems).toEqual([]);
    const reference = proofs.first.get('unknown_fingerprint') as Hit;
    expect(JSON.parse(reference.body)).toEqual({ error: { code: 'agent_denied', message: expect.any(String) } });
    for (const cause of PROOF_CAUSES) {
      expect(proofs.first.get(cause)?.body).toBe(reference.body);
      expect(headerSet(proofs.first.get(cause) as Hit)).toBe(headerSet(reference));
    }
    // The active agent was never let in: its key still works for a real proof.
    const real = await challenge(active.key.fingerprint);
    const proven = await hit(`${base}/credentials`, {
      body: { fingerprint: active.key.fingerprint, challenge_id: real.challenge_id, signature: active.key.signAgent(real.challenge_id, real.challenge) },
    });
    expect(proven.status).toBe(200);

    // ---- timing ----------------------------------------------------------------------
    const challengePairs = pairwise(CHALLENGE_CAUSES, challenges.times);
    const proofPairs = pairwise(strangerCauses, proofs.times);
    const keyHolderPairs = pairwise(PROOF_CAUSES, proofs.times).filter((p) => p.a === 'revoked_own_key' || p.b === 'revoked_own_key');
    const family = (pairs: Array<{ p: number }>) => ALPHA / pairs.length;
    const summary = (s: { times: Map<string, number[]>; seconds: number }, causes: readonly string[], pairs: ReturnType<typeof pairwise<string>>) => ({
      samples_per_cause: Math.min(...causes.map((c) => s.times.get(c)?.length ?? 0)),
      seconds: Math.round(s.seconds),
      medians_ms: mediansMs(causes, s.times),
      smallest_p: Math.min(...pairs.map((p) => p.p)),
      per_pair_threshold: family(pairs),
      largest_median_diff_us: Math.max(...pairs.map((p) => Math.abs(p.median_diff_us))),
      pairs: showPairs(pairs),
    });
    report('agent challenge timing oracle', summary(challenges, CHALLENGE_CAUSES, challengePairs));
    report('agent credentials timing oracle', {
      ...summary(proofs, PROOF_CAUSES, proofPairs),
      revoked_own_key_pairs_not_asserted: showPairs(keyHolderPairs),
    });
    expect(challengePairs).toHaveLength(3);
    expect(proofPairs).toHaveLength(10);
    expect(challengePairs.filter((p) => p.p < family(challengePairs))).toEqual([]);
    expect(proofPairs.filter((p) => p.p < family(proofPairs))).toEqual([]);
  }, 400_000);
});
