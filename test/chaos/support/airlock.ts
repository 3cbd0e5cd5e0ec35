/**
 * The operator and the agent, over HTTP against the api: operators are made
 * in the database (as `pnpm airlock operators create` does), sites and codes
 * through the admin API, enrollments with real Ed25519 keys and signatures.
 */
import { randomBytes } from 'node:crypto';
import { withAdminDatabase } from '@airlock/api/admin';
import { createTransport } from '@airlock/transport';
import { newAgentKey, type TestAgentKey } from '@airlock/testing';
import { hit, type Hit } from './http.ts';

export const createAdminToken = (databaseUrl: string, role: 'admin' | 'service' = 'admin'): Promise<string> =>
  withAdminDatabase(databaseUrl, async (db) => (await db.createOperator({ name: `chaos-${role}-${randomBytes(3).toString('hex')}`, role }, 'test')).token);

export interface Admin {
  // `any` on purpose, as in @airlock/testing's http.ts: tests read JSON field by field.
  call(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<{ status: number; body: any }>;
  site(policy: 'manual' | 'auto', prefix?: string): Promise<string>;
  code(site: string, opts?: { ttlSeconds?: number; autoApprove?: boolean }): Promise<{ id: string; code: string }>;
  siteKey(site: string): Promise<string>;
}

/** The operator's calls carry a bearer token: through @airlock/transport, the api client every Airlock program uses. */
export const adminClient = (apiUrl: string, token: string): Admin => {
  const api = createTransport({ origin: new URL(apiUrl), timeoutMs: 30_000, maxResponseBytes: 64 * 1024 * 1024 });
  const call: Admin['call'] = async (method, path, body) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const res = await api.request({
      method,
      path,
      headers: { authorization: `Bearer ${token}`, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(payload === undefined ? {} : { body: payload }),
    });
    const text = res.body.toString('utf8');
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  const must = async (method: 'GET' | 'POST', path: string, body: unknown, status: number) => {
    const res = await call(method, path, body);
    if (res.status !== status) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  return {
    call,
    site: async (policy, prefix = 'CH') => {
      const code = `${prefix}-${randomBytes(4).toString('hex').toUpperCase()}`;
      await must('POST', '/api/v1/admin/sites', { site_code: code, name: `chaos ${code}`, policy }, 201);
      return code;
    },
    code: async (site, opts = {}) => {
      const body = await must(
        'POST',
        '/api/v1/admin/pairing-codes',
        { site_code: site, ...(opts.ttlSeconds ? { ttl_seconds: opts.ttlSeconds } : {}), ...(opts.autoApprove ? { auto_approve: true } : {}) },
        201,
      );
      return { id: String(body.id), code: String(body.code) };
    },
    siteKey: async (site) => String((await must('POST', `/api/v1/admin/sites/${site}/enrollment-key`, undefined, 201)).key),
  };
};

export interface EnrollAttempt {
  /** Every answer on the way, in order. */
  answers: Hit[];
  enrollmentId?: string;
  pollToken?: string;
  fingerprintKey: string;
  /** The agent's key, to prove itself later on the agent routes. */
  key: TestAgentKey;
}

/**
 * Enrolls with a pairing code up to the poll token (enroll, then verify the
 * challenge with a real signature). Stops at the first answer that is not
 * the expected one and leaves it last in `answers`.
 */
export const enrollToPollToken = async (
  baseUrl: string,
  site: string,
  code: string,
  opts: { localAddress?: string; hostname?: string } = {},
): Promise<EnrollAttempt> => {
  const key = newAgentKey();
  const attempt: EnrollAttempt = { answers: [], fingerprintKey: key.publicKey, key };
  const common = opts.localAddress ? { localAddress: opts.localAddress } : {};
  const enrolled = await hit(`${baseUrl}/api/v1/enroll`, {
    ...common,
    body: { site_code: site, pairing_code: code, public_key: key.publicKey, hostname: opts.hostname ?? `vm-${randomBytes(3).toString('hex')}` },
  });
  attempt.answers.push(enrolled);
  if (enrolled.status !== 201) return attempt;
  const { enrollment_id: id, challenge } = JSON.parse(enrolled.body) as { enrollment_id: string; challenge: string };
  attempt.enrollmentId = id;
  const verified = await hit(`${baseUrl}/api/v1/enroll/verify`, { ...common, body: { enrollment_id: id, signature: key.sign(id, challenge) } });
  attempt.answers.push(verified);
  if (verified.status !== 200) return attempt;
  attempt.pollToken = String((JSON.parse(verified.body) as { poll_token: string }).poll_token);
  return attempt;
};

export const pollStatus = (baseUrl: string, pollToken: string): Promise<Hit> =>
  hit(`${baseUrl}/api/v1/enroll/status`, { headers: { authorization: `Bearer ${pollToken}` } });

/**
 * How an agent that lost its status answer gets back in with no operator
 * (contract v1.1): prove its enrolled key on the agent routes and ask for a
 * new cak_; every earlier key of the agent stops verifying.
 */
export const recoverAgentKey = async (baseUrl: string, key: TestAgentKey): Promise<Hit> => {
  const challenged = await hit(`${baseUrl}/api/v1/agent/challenge`, { body: { fingerprint: key.fingerprint } });
  if (challenged.status !== 201) return challenged;
  const c = JSON.parse(challenged.body) as { challenge_id: string; challenge: string };
  return hit(`${baseUrl}/api/v1/agent/credentials`, {
    body: { fingerprint: key.fingerprint, challenge_id: c.challenge_id, signature: key.signAgent(c.challenge_id, c.challenge), rotate_agent_key: true },
  });
};
