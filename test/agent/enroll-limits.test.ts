import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../helpers/stack.ts';
import {
  approvalLine,
  createSite,
  opensslPin,
  removeTempDirs,
  rotateEnrollmentKey,
  runAgent,
  tempStateDir,
} from './support.ts';

// Tight limits and the shortest approval window the api accepts, so the slow
// paths (waiting out a 429, an enrollment expiring) happen within a test.
let stack: Stack;
let pin: string;

beforeAll(async () => {
  stack = await startStack({
    tls: true,
    apiEnv: { AIRLOCK_POLL_INTERVAL_SECONDS: '1', AIRLOCK_APPROVAL_TTL_SECONDS: '60' },
    edgeEnv: { EDGE_LIMIT_ENROLL_PAIRING_PER_HOUR: '1', EDGE_LIMIT_ENROLL_KEY_PER_MIN: '1' },
  });
  pin = opensslPin(stack.certSha256 ?? '');
});
afterAll(async () => {
  await stack?.stop();
  await removeTempDirs();
});

const base = (site: string, stateDir: string) => ['enroll', '--server', stack.edgeUrl, '--site', site, '--state-dir', stateDir, '--pin', pin];

describe.concurrent('airlock-agent under rate limits and expiry (real stack)', () => {
  it('zero-touch waits out a 429 by itself, saying why, and then enrolls', { timeout: 150_000 }, async () => {
    const site = await createSite(stack, 'auto');
    const key = await rotateEnrollmentKey(stack, site);
    const first = runAgent([...base(site, await tempStateDir()), '--enrollment-key', key, '--machine-uid', 'limit-test-0001']);
    expect(await first.exit).toBe(0);
    const second = runAgent([...base(site, await tempStateDir()), '--enrollment-key', key, '--machine-uid', 'limit-test-0002']);
    await second.waitFor(/rate limiting enrollments from this address; waiting \d+ s before retrying/);
    expect(await second.exit).toBe(0);
    expect(second.stdout()).toContain('Approved: enrolled as agent');
  });

  it('reports the expiry of an enrollment nobody approved', { timeout: 150_000 }, async () => {
    // An enrollment key on a manual site, so this test never spends the per-IP pairing-code allowance.
    const site = await createSite(stack, 'manual');
    const key = await rotateEnrollmentKey(stack, site);
    const agent = runAgent([...base(site, await tempStateDir()), '--enrollment-key', key, '--machine-uid', 'expiry-test-0001']);
    await approvalLine(agent, site);
    expect(await agent.exit).toBe(4);
    expect(agent.stderr()).toContain('The enrollment expired before an operator approved it.');
    expect(agent.stderr()).toContain('Run airlock-agent enroll again.');
  });

  it('an attended enroll that is rate limited says how long to wait', async () => {
    // The only pairing-code enrolls on this stack: the first spends the allowance of 1 per hour per IP.
    const site = await createSite(stack);
    const first = runAgent([...base(site, await tempStateDir()), '--code', 'AX7K-PJ3F-TH2Q']);
    expect(await first.exit).toBe(5);
    const limited = runAgent([...base(site, await tempStateDir()), '--code', 'AX7K-PJ3F-TH2Q']);
    expect(await limited.exit).toBe(6);
    expect(limited.stderr()).toContain('The server is throttling enrollments from this address.');
    expect(limited.stderr()).toMatch(/What to do: Wait \d+ (s|min) before trying again\./);
  });
});
