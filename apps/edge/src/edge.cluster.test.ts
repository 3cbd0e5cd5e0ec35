/**
 * EDGE_WORKERS: several worker processes behind one port share every limit
 * through Redis, exactly (one atomic script per request), and the primary
 * serves their metrics summed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deletePrefix, type EdgeProcess, enrollWithKey, metricValue, type RecordingUpstream, REDIS_URL, send, spawnEdge, startRecordingUpstream, stopProcess, uniquePrefix, waitFor } from '@airlock/testing';

let upstream: RecordingUpstream;
let edge: EdgeProcess;
const prefix = uniquePrefix();

beforeAll(async () => {
  upstream = await startRecordingUpstream();
  edge = await spawnEdge({
    EDGE_UPSTREAM: upstream.url,
    REDIS_URL,
    EDGE_REDIS_PREFIX: prefix,
    EDGE_WORKERS: '2',
    EDGE_LIMIT_STATUS_PER_MIN: '10',
    EDGE_LOCKOUT_FAILURES: '5',
  }, { startMs: 90_000 });
  // Each worker loads the TypeScript sources itself: slow on a busy machine.
  await waitFor(() => edge.lines.filter((l) => l['msg'] === 'edge listening').length === 2, 'both workers to listen', 90_000);
}, 200_000);

afterAll(async () => {
  await stopProcess(edge);
  await upstream.close();
  await deletePrefix(REDIS_URL, prefix);
});

describe('EDGE_WORKERS=2', () => {
  it('spends one budget exactly across workers, under concurrency', async () => {
    upstream.respond(202);
    const statuses: number[] = [];
    // Batches of 8 fresh connections (the per-IP cap is 10 per worker).
    for (let batch = 0; batch < 5; batch += 1) {
      const results = await Promise.all(
        Array.from({ length: 8 }, () => send(edge.port, 'GET', '/api/v1/enroll/status', { headers: { authorization: 'Bearer t' } })),
      );
      statuses.push(...results.map((r) => r.status));
    }
    expect(statuses.filter((s) => s === 202)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(30);
    const workers = new Set(edge.lines.filter((l) => l['msg'] === 'access').map((l) => l['worker']));
    // Both workers answered: the limit held across them, not inside one.
    expect(workers).toEqual(new Set([1, 2]));
  }, 30_000);

  it('locks out after exactly the configured failures, whichever worker saw them', async () => {
    upstream.requests.length = 0;
    upstream.respond(401);
    const statuses: number[] = [];
    for (let i = 0; i < 9; i += 1) statuses.push((await enrollWithKey(edge.port, 'ACME', `m${i}`)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429, 429]);
    expect(upstream.requests).toHaveLength(5);
  }, 30_000);

  it('serves the workers\u2019 metrics summed on the primary\u2019s metrics port', async () => {
    const primary = await waitFor(() => edge.lines.find((l) => l['msg'] === 'edge primary started'), 'primary line');
    const port = Number(primary['metrics_port']);
    expect(await metricValue(port, 'edge_requests_total{route="status",status="202"}')).toBe(10);
    expect(await metricValue(port, 'edge_requests_total{route="status",status="429"}')).toBe(30);
  });
});
