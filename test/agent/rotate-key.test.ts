/**
 * Issue 22: `airlock-agent rotate-key` and `airlock-enroll.sh rotate-key`
 * against the real stack: a new Ed25519 key enrolled under the machine's uid
 * with the old key's re-key proof is approved with no operator (on a manual
 * site), keeps the agent id, and the old key and agent key stop at once.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAgentKey } from '@airlock/testing';
import { startStack, type Stack } from '../helpers/stack.ts';
import {
  approvalLine,
  createSite,
  decide,
  enrollmentByFingerprint,
  enrollmentsOf,
  readJson,
  removeTempDirs,
  rotateEnrollmentKey,
  runAgent,
  runShellClient,
  opensslPin,
  tempStateDir,
  verifyAgentKey,
} from './support.ts';

let stack: Stack;
let pin: string;
beforeAll(async () => {
  // A tunnel endpoint configured, so its key lookup answers (no sshd is needed for the lookup itself).
  stack = await startStack({
    tls: true,
    apiEnv: { AIRLOCK_POLL_INTERVAL_SECONDS: '1', AIRLOCK_SSH_ENDPOINT: '127.0.0.1:2222', AIRLOCK_SSH_PERMIT_OPEN: '127.0.0.1:8081' },
  });
  pin = opensslPin(stack.certSha256 ?? '');
  // The endpoint's host key, as a running tunnel endpoint registers it (credentials.ssh.known_hosts).
  const res = await fetch(`${stack.apiUrl}/api/v1/internal/tunnel/host-keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ keys: [newAgentKey().publicKey.split(' ').slice(0, 2).join(' ')] }),
  });
  expect(res.status).toBeLessThan(300);
});
afterAll(async () => {
  await stack?.stop();
  await removeTempDirs();
});

const authorizedKeys = async (fingerprint: string): Promise<unknown[]> => {
  const res = await fetch(`${stack.apiUrl}/api/v1/internal/tunnel/authorized-keys`, {
    method: 'POST',
    // The tunnel endpoint's own lookup (its AuthorizedKeysCommand); admins may call it too.
    headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ fingerprint }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { keys: unknown[] }).keys;
};

const sshFingerprintOf = async (pubFile: string) => (await promisify(execFile)('ssh-keygen', ['-lf', pubFile])).stdout.split(' ')[1];

/** A zero-touch agent on a manual site, approved by an operator once; returns its state dir and first credentials. */
const enrolled = async (client: 'node' | 'shell') => {
  const site = await createSite(stack, 'manual');
  const key = await rotateEnrollmentKey(stack, site);
  const stateDir = await tempStateDir();
  const flags = ['--server', stack.edgeUrl, '--site', site, '--state-dir', stateDir, '--pin', pin, '--name', 'rotor-1', '--machine-uid', `rotor-${site}`, '--label', 'role=rotor'];
  const run = client === 'node' ? runAgent(['enroll', ...flags], { AIRLOCK_ENROLLMENT_KEY: key }) : runShellClient(flags, { AIRLOCK_ENROLLMENT_KEY: key });
  const fingerprint = await approvalLine(run, site);
  await decide(stack, (await enrollmentByFingerprint(stack, site, fingerprint)).id, 'approve');
  expect(await run.exit, run.stdout() + run.stderr()).toBe(0);
  return { site, key, stateDir, first: await readJson(path.join(stateDir, 'credentials.json')) };
};

const expectRotated = async (site: string, stateDir: string, first: Record<string, unknown>) => {
  const now = await readJson(path.join(stateDir, 'credentials.json'));
  expect(now.agent_id).toBe(first.agent_id);
  expect(now.fingerprint).not.toBe(first.fingerprint);
  expect(await sshFingerprintOf(path.join(stateDir, 'id_ed25519.pub'))).toBe(now.fingerprint);
  await expect(fs.access(path.join(stateDir, 'id_ed25519.next'))).rejects.toThrow();
  // The old agent key and the old SSH key stop at once; the new ones work.
  expect((await verifyAgentKey(stack, String(first.agent_key))).status).toBe(401);
  expect((await verifyAgentKey(stack, String(now.agent_key))).status).toBe(200);
  expect(await authorizedKeys(String(first.fingerprint))).toEqual([]);
  expect(await authorizedKeys(String(now.fingerprint))).toHaveLength(1);
  // One agent, the same one, with the new key; the rotation was approved by no operator.
  const agents = (await stack.admin('GET', '/api/v1/admin/agents')).body.items.filter((a: { site_code: string }) => a.site_code === site);
  // It keeps its labels too: the rotation's enrollment carries none, and a re-key never replaces them.
  expect(agents).toMatchObject([{ id: first.agent_id, fingerprint: now.fingerprint, status: 'active', labels: { role: 'rotor' } }]);
  const rotation = (await enrollmentsOf(stack, site)).find((e) => e.fingerprint === now.fingerprint) as unknown as { status: string; decided_by: string };
  expect(rotation).toMatchObject({ status: 'approved', decided_by: 'system' });
  return now;
};

// Each test runs several agent processes (tsx start-up is seconds on a loaded machine).
describe('rotate-key (real stack)', { timeout: 120_000 }, () => {
  it('airlock-agent rotates its key on a manual site with no operator; the old key cannot even recover', async () => {
    const { site, key, stateDir, first } = await enrolled('node');
    const oldState = `${stateDir}-old`;
    await fs.cp(stateDir, oldState, { recursive: true });

    const rotate = runAgent(['rotate-key', '--state-dir', stateDir], { AIRLOCK_ENROLLMENT_KEY: key });
    expect(await rotate.exit).toBe(0);
    expect(rotate.stdout()).toContain('Approved by the re-key proof of the previous key (no operator)');
    expect(rotate.stdout()).not.toContain('Ask your operator');
    await expectRotated(site, stateDir, first);

    // The copy of the old state proves the old key to the agent routes: refused.
    const recover = runAgent(['recover', '--state-dir', oldState]);
    expect(await recover.exit).toBe(5);
    await fs.rm(oldState, { recursive: true, force: true });

    // status still reads the rotated state.
    const status = runAgent(['status', '--state-dir', stateDir, '--json']);
    expect(await status.exit).toBe(0);
  });

  it('the shell client rotates its key the same way', async () => {
    const { site, key, stateDir, first } = await enrolled('shell');
    const rotate = runShellClient(['rotate-key', '--state-dir', stateDir], { AIRLOCK_ENROLLMENT_KEY: key });
    expect(await rotate.exit, rotate.stdout() + rotate.stderr()).toBe(0);
    expect(rotate.stdout()).toContain('Approved by the re-key proof of the previous key (no operator)');
    const now = await expectRotated(site, stateDir, first);
    // The rotated state is what airlock-agent reads.
    const renew = runAgent(['renew', '--state-dir', stateDir, '--rotate-key']);
    expect(await renew.exit).toBe(0);
    expect((await verifyAgentKey(stack, String(now.agent_key))).status).toBe(401);
  });

  it('refuses without a credential, naming the flags that give one', async () => {
    const bare = runAgent(['rotate-key', '--state-dir', await tempStateDir()]);
    expect(await bare.exit).toBe(2);
    expect(bare.stderr()).toMatch(/--enrollment-key/);
  });
});
