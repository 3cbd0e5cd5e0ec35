/**
 * Observability through the real stack (api and edge as processes, Postgres,
 * Redis): a full enrollment, attended and zero-touch, leaves no secret in any
 * log line of either process, and both Prometheus listeners count it.
 */
import { encodeSshEd25519PublicKey, generateAgentKeyPair, signRaw, signedMessage } from '@airlock/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '@airlock/testing';
import { startStack, type Stack } from './helpers/stack.ts';

let stack: Stack;
beforeAll(async () => {
  // debug: the most the api ever logs.
  stack = await startStack({ apiEnv: { AIRLOCK_LOG_LEVEL: 'debug' } });
}, 120_000);
afterAll(async () => stack?.stop());

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  request(`${stack.edgeUrl}${path}`, { body, headers });

/** Everything a secret-bearing enrollment produced, to grep the logs for. */
const secrets: string[] = [];

const enrollThroughEdge = async (site: string, credential: Record<string, string>, uid: string) => {
  const kp = generateAgentKeyPair();
  const publicKey = encodeSshEd25519PublicKey(kp.publicKey, uid);
  secrets.push(Buffer.from(kp.secretKey).toString('base64'), Buffer.from(kp.secretKey.subarray(0, 32)).toString('base64'));
  const e = await post('/api/v1/enroll', { site_code: site, public_key: publicKey, hostname: uid, machine_uid: uid, ...credential });
  expect(e.status).toBe(201);
  const signature = signRaw(kp.secretKey, signedMessage(e.body.enrollment_id, e.body.challenge));
  secrets.push(signature, e.body.challenge);
  const v = await post('/api/v1/enroll/verify', { enrollment_id: e.body.enrollment_id, signature });
  expect(v.status).toBe(200);
  secrets.push(v.body.poll_token);
  return { enrollmentId: e.body.enrollment_id as string, pollToken: v.body.poll_token as string };
};

const poll = (token: string) => request(`${stack.edgeUrl}/api/v1/enroll/status`, { headers: { authorization: `Bearer ${token}` } });

describe('logs of a full enrollment', () => {
  it('hold no agent key, poll token, site key, pairing code, private key or signature (api and edge)', async () => {
    expect((await stack.admin('POST', '/api/v1/admin/sites', { site_code: 'LOGS', name: 'Logs' })).status).toBe(201);
    expect((await stack.admin('POST', '/api/v1/admin/sites', { site_code: 'LOGZ', name: 'Logs auto', policy: 'auto' })).status).toBe(201);

    // Attended: pairing code, operator approval, credentials collected once.
    const code = await stack.admin('POST', '/api/v1/admin/pairing-codes', { site_code: 'LOGS' });
    expect(code.status).toBe(201);
    secrets.push(code.body.code, code.body.code.replaceAll('-', ''));
    const attended = await enrollThroughEdge('LOGS', { pairing_code: code.body.code }, 'logs-vm-1');
    expect((await poll(attended.pollToken)).status).toBe(202); // awaiting approval
    const approve = await stack.admin('POST', `/api/v1/admin/enrollments/${attended.enrollmentId}/approve`, { notes: 'ok' });
    expect(approve.status).toBe(200);
    await new Promise((r) => setTimeout(r, 5_100)); // past poll_interval: a real poll, not slow_down
    const done = await poll(attended.pollToken);
    expect(done.status).toBe(200);
    const cak: string = done.body.credentials.agent_key;
    expect(cak).toMatch(/^cak_/);
    secrets.push(cak);

    // The management server checks the key: the internal route sees it in a body.
    const checked = await request(`${stack.apiUrl}/api/v1/internal/agent-keys/verify`, {
      body: { agent_key: cak },
      headers: { authorization: `Bearer ${stack.serviceToken}` },
    });
    expect(checked.status).toBe(200);
    expect(checked.body.status).toBe('active');

    // Zero-touch: a site key, auto-approved.
    const rotated = await stack.admin('POST', '/api/v1/admin/sites/LOGZ/enrollment-key', {});
    expect(rotated.status).toBe(201);
    secrets.push(rotated.body.key);
    const zt = await enrollThroughEdge('LOGZ', { enrollment_key: rotated.body.key }, 'logs-vm-2');
    const ztDone = await poll(zt.pollToken);
    expect(ztDone.status).toBe(200);
    secrets.push(ztDone.body.credentials.agent_key);

    // Refusals log too: a wrong code and a bad bearer.
    expect((await post('/api/v1/enroll', { site_code: 'LOGS', pairing_code: 'AAAA-BBBB-CCCC', public_key: 'x', hostname: 'h' })).status).toBe(400);
    expect((await poll('ept_' + 'A'.repeat(43))).status).toBe(401);
    secrets.push(stack.adminToken, stack.serviceToken);

    // Let both processes flush their asynchronous log destinations.
    await new Promise((r) => setTimeout(r, 500));
    const logs = `${stack.api.output()}\n${stack.edge.output()}`;
    const lines = logs.split('\n').filter((l) => l.startsWith('{'));
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    expect(lines.some((l) => l.includes('"service":"api"') && l.includes('"msg":"request"'))).toBe(true);
    expect(lines.some((l) => l.includes('"service":"edge"') && l.includes('"msg":"access"'))).toBe(true);
    for (const s of secrets) expect(logs.includes(s), `a secret (${s.slice(0, 4)}…) is in the logs`).toBe(false);
    for (const prefix of ['cak_', 'cek_', 'ept_', 'aop_', 'BEGIN', 'Bearer ']) expect(logs).not.toContain(prefix);
  }, 60_000);
});

const scrape = async (url: string) => {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return res.text();
};

/** The value of one sample, e.g. metric('api_refusals_total{code="enrollment_denied"}'). */
const sample = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('metrics (after the enrollments above)', () => {
  it('the api counts requests, enrollments, approvals, credentials, refusals, pending approvals and the database', async () => {
    // One more enrollment left waiting: the pending gauge is computed on scrape.
    const code = await stack.admin('POST', '/api/v1/admin/pairing-codes', { site_code: 'LOGS' });
    await enrollThroughEdge('LOGS', { pairing_code: code.body.code }, 'logs-vm-3');

    const text = await scrape(stack.apiMetricsUrl);
    expect(sample(text, 'api_http_requests_total{method="POST",route="/api/v1/enroll",status="201"}')).toBe(3);
    expect(sample(text, 'api_enrollments_total{method="pairing_code",outcome="created"}')).toBe(2);
    expect(sample(text, 'api_enrollments_total{method="enrollment_key",outcome="created"}')).toBe(1);
    expect(sample(text, 'api_enroll_verifications_total{outcome="awaiting_approval"}')).toBe(2);
    expect(sample(text, 'api_enrollment_decisions_total{decision="approved"}')).toBe(2);
    expect(sample(text, 'api_time_to_approval_seconds_count{method="pairing_code"}')).toBe(1);
    expect(sample(text, 'api_time_to_approval_seconds_count{method="enrollment_key"}')).toBe(1);
    expect(sample(text, 'api_credentials_issued_total')).toBe(2);
    expect(sample(text, 'api_refusals_total{code="invalid_request"}')).toBe(1);
    expect(sample(text, 'api_refusals_total{code="invalid_token"}')).toBe(1);
    // The unknown poll token concerns no real enrollment: counted by kind, not an audit row (#8.1).
    expect(sample(text, 'airlock_api_anonymous_refusals_total{kind="status.invalid_token"}')).toBe(1);
    expect(sample(text, 'api_pending_approvals')).toBe(1);
    expect(sample(text, 'api_db_up')).toBe(1);
    expect(sample(text, 'api_db_pool_max')).toBe(10);
    expect(sample(text, 'api_db_probe_seconds')).toBeGreaterThan(0);
    expect(text).toMatch(/^api_db_connections\{state="(idle|active)"\} [1-9]/m);
    expect(text).toContain('api_process_resident_memory_bytes');
    // Every statement is timed: an enrollment runs several, none failed here.
    expect(sample(text, 'api_db_query_duration_seconds_count{outcome="ok"}')).toBeGreaterThan(20);
  });

  it('the edge counts forwarded requests by route and status', async () => {
    const text = await scrape(stack.edgeMetricsUrl);
    expect(text).toMatch(/^edge_requests_total\{route="[^"]*enroll[^"]*",status="201"\} [1-9]/m);
    expect(text).toContain('edge_upstream_duration_seconds_bucket');
  });

  it('the api metrics listener answers nothing else, in the error envelope', async () => {
    const res = await fetch(stack.apiMetricsUrl.replace('/metrics', '/admin'));
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'not_found', message: 'Not found' } });
  });
});
