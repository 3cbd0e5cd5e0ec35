/**
 * Brute force against the real edge and api: after the configured number of
 * 401s the (site, IP) is locked out at the edge; the operator sees it with
 * `pnpm airlock lockouts`, lifts it with `pnpm airlock lockouts clear KEY`
 * (audited with the operator's name), and the edge forwards again.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAgentKey, REPO_ROOT, request, TSX } from '@airlock/testing';
import { startStack, type Stack } from './helpers/stack.ts';

const run = promisify(execFile);
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ edgeEnv: { EDGE_LOCKOUT_FAILURES: '3' } });
  expect((await stack.admin('POST', '/api/v1/admin/sites', { site_code: 'BRUTE', name: 'Brute' })).status).toBe(201);
}, 120_000);
afterAll(async () => stack?.stop());

const cli = (...args: string[]) =>
  run(TSX, ['apps/cli/src/main.ts', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, AIRLOCK_API_URL: stack.apiUrl, AIRLOCK_TOKEN: stack.adminToken },
  });

const guess = (code: string) =>
  request(`${stack.edgeUrl}/api/v1/enroll`, {
    body: { site_code: 'BRUTE', pairing_code: code, public_key: newAgentKey().publicKey, hostname: 'guesser' },
  });

describe('lockout through the real stack', () => {
  it('locks out after 3 wrong codes, shows the lockout to the operator, and lifts it on request', async () => {
    for (let i = 0; i < 3; i++) expect((await guess('AAAA-AAAA-AAA' + i)).status).toBe(401);
    const locked = await guess('AAAA-AAAA-AAA9');
    expect(locked.status).toBe(429);
    expect(locked.body.error.code).toBe('rate_limited');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);

    const listed = await cli('lockouts', '--json');
    const items = JSON.parse(listed.stdout).items as Array<{ key: string; kind: string; site_code: string; ip: string }>;
    const mine = items.find((i) => i.kind === 'lockout' && i.site_code === 'BRUTE');
    expect(mine?.ip).toBe('127.0.0.1');

    await cli('lockouts', 'clear', mine?.key ?? '');
    const audit = await stack.admin('GET', '/api/v1/admin/audit?event_type=lockout.cleared');
    expect(audit.body.items[0]).toMatchObject({ actor: 'stack-admin', details: expect.objectContaining({ key: mine?.key }) });

    // Forwarded again: the api answers (401 for this wrong code), not the edge's 429.
    const after = await guess('AAAA-AAAA-AAAB');
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('enrollment_denied');
  });
});
