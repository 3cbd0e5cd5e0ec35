import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveMachineUid } from '@airlock/agent/machine-uid';
import { startStack, type Stack } from '../helpers/stack.ts';
import { REPO_ROOT, TSX, fakeMachineRoot, writeMachine } from '@airlock/testing';
import {
  approvalLine,
  createSite,
  decide,
  enrollmentByFingerprint,
  enrollmentsOf,
  fileMode,
  opensslPin,
  readJson,
  rotateEnrollmentKey,
  runAgent,
  runCommand,
  tempStateDir,
  verifyAgentKey,
  removeTempDirs,
} from './support.ts';

let stack: Stack;
let pin: string;

beforeAll(async () => {
  stack = await startStack({ tls: true, apiEnv: { AIRLOCK_POLL_INTERVAL_SECONDS: '1' } });
  pin = opensslPin(stack.certSha256 ?? '');
});
afterAll(async () => {
  await stack?.stop();
  await removeTempDirs();
});

const agentsOf = async (site: string): Promise<{ id: string; machine_uid: string | null; hostname: string }[]> => {
  const res = await stack.admin('GET', '/api/v1/admin/agents');
  return (res.body.items as { id: string; site_code: string; machine_uid: string | null; hostname: string }[]).filter(
    (a) => a.site_code === site,
  );
};

const keyArgs = (site: string, stateDir: string, extra: string[] = []) => [
  'enroll', '--server', stack.edgeUrl, '--site', site, '--state-dir', stateDir, '--pin', pin, '--name', 'patchd-7', ...extra,
];

describe('airlock-agent enroll with an enrollment key (real stack)', () => {
  it('enrolls at once on an auto-approve site, with the key from AIRLOCK_ENROLLMENT_KEY', async () => {
    const site = await createSite(stack, 'auto');
    const key = await rotateEnrollmentKey(stack, site);
    const stateDir = await tempStateDir();
    const agent = runAgent(keyArgs(site, stateDir, ['--machine-uid', 'vm-4c4c4544-0042']), { AIRLOCK_ENROLLMENT_KEY: key });
    expect(await agent.exit).toBe(0);
    expect(agent.stdout()).toContain('Machine uid taken from --machine-uid');
    expect(agent.stdout()).not.toContain('Ask your operator');
    const credentials = await readJson(path.join(stateDir, 'credentials.json'));
    expect(await fileMode(path.join(stateDir, 'credentials.json'))).toBe(0o600);
    expect(credentials).toMatchObject({ site_code: site, machine_uid: 'vm-4c4c4544-0042' });
    expect((await verifyAgentKey(stack, String(credentials.agent_key))).status).toBe(200);
    expect(agent.stdout() + agent.stderr()).not.toContain(key);
    expect(await agentsOf(site)).toMatchObject([{ machine_uid: 'vm-4c4c4544-0042', hostname: 'patchd-7' }]);
  });

  it('derives the machine uid from the hardware ids, hashed, and a re-image (fresh /etc/machine-id, no state) is the same machine', async () => {
    const site = await createSite(stack, 'auto');
    const key = await rotateEnrollmentKey(stack, site);
    const hardware = { productUuid: '4C4C4544-0042-3510-8052-B4C04F384D32', boardSerial: '.7XK3JQ2.CN1296', machineId: 'a'.repeat(32) };
    const root = await fakeMachineRoot(hardware);
    try {
      const agent = runAgent(keyArgs(site, await tempStateDir(), ['--enrollment-key', key]), { AIRLOCK_MACHINE_ROOT: root });
      expect(await agent.exit).toBe(0);
      const expected = await deriveMachineUid(root);
      expect(agent.stdout()).toContain(`Machine uid derived from ${expected?.used.join(' + ')} (hashed`);
      const [registered] = await agentsOf(site);
      expect(registered?.machine_uid).toBe(expected?.machineUid);
      expect(registered?.machine_uid).not.toMatch(/4c4c4544|7xk3jq2/i);

      // The re-image: a new /etc/machine-id, an empty state directory, a new key.
      await writeMachine(root, { ...hardware, machineId: 'b'.repeat(32) });
      const again = runAgent(keyArgs(site, await tempStateDir(), ['--enrollment-key', key]), { AIRLOCK_MACHINE_ROOT: root });
      await again.waitFor(/operator/i);
      const held = (await enrollmentsOf(stack, site)).find((e) => e.status === 'pending_confirmation');
      expect(held).toBeDefined();
      await decide(stack, held?.id ?? '', 'approve');
      expect(await again.exit).toBe(0);
      // No ghost: still one agent, the same one, now with the new key.
      expect(await agentsOf(site)).toMatchObject([{ id: registered?.id, machine_uid: expected?.machineUid }]);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });

  it('waits for an operator on a manual site', async () => {
    const site = await createSite(stack, 'manual');
    const key = await rotateEnrollmentKey(stack, site);
    const stateDir = await tempStateDir();
    const agent = runAgent(keyArgs(site, stateDir, ['--enrollment-key', key, '--machine-uid', 'manual-site-0001']));
    const fingerprint = await approvalLine(agent, site);
    await decide(stack, (await enrollmentByFingerprint(stack, site, fingerprint)).id, 'approve');
    expect(await agent.exit).toBe(0);
  });

  it('explains a site conflict: the same machine uid already belongs to another site', async () => {
    const first = await createSite(stack, 'auto');
    const second = await createSite(stack, 'auto');
    const uid = `moved-machine-${first.toLowerCase()}`;
    const original = runAgent(keyArgs(first, await tempStateDir(), ['--enrollment-key', await rotateEnrollmentKey(stack, first), '--machine-uid', uid]));
    expect(await original.exit).toBe(0);
    const moved = runAgent(keyArgs(second, await tempStateDir(), ['--enrollment-key', await rotateEnrollmentKey(stack, second), '--machine-uid', uid]));
    expect(await moved.exit).toBe(5);
    expect(moved.stderr()).toContain(`already enrolled as an agent of another site, not ${second}`);
    expect(moved.stderr()).toContain('revoke the old agent first');
  });

  it('explains a wrong or rotated-out key', async () => {
    const site = await createSite(stack, 'auto');
    const old = await rotateEnrollmentKey(stack, site);
    await rotateEnrollmentKey(stack, site);
    const agent = runAgent(keyArgs(site, await tempStateDir(), ['--enrollment-key', old, '--machine-uid', 'rotated-0001']));
    expect(await agent.exit).toBe(5);
    expect(agent.stderr()).toContain(`Ask your administrator for the current enrollment key of site ${site}.`);
  });
});

describe('the single-file bundle an appliance installs', () => {
  it('builds with plain node as its interpreter and enrolls zero-touch', async () => {
    const outfile = path.join(path.dirname(await tempStateDir()), 'airlock-agent.mjs');
    await promisify(execFile)(TSX, ['apps/agent/scripts/bundle.ts', '--outfile', outfile], { cwd: REPO_ROOT });
    expect((await fs.readFile(outfile, 'utf8')).split('\n')[0]).toBe('#!/usr/bin/env node');
    expect(await fileMode(outfile)).toBe(0o755);

    const site = await createSite(stack, 'auto');
    const key = await rotateEnrollmentKey(stack, site);
    const stateDir = await tempStateDir();
    const agent = runCommand(outfile, keyArgs(site, stateDir, ['--machine-uid', 'bundled-0001']), { AIRLOCK_ENROLLMENT_KEY: key });
    expect(await agent.exit).toBe(0);
    expect(await readJson(path.join(stateDir, 'credentials.json'))).toMatchObject({ site_code: site, machine_uid: 'bundled-0001' });
    // The CSR (@peculiar/x509 on WebCrypto) works from the single file too.
    expect(agent.stdout()).toMatch(/Certificate from Airlock's CA saved/);
    expect(await fileMode(path.join(stateDir, 'tls', 'cert.pem'))).toBe(0o644);

    // status --json is one clean JSON document, and renew reads the same state (nothing due, nothing sent).
    const status = runCommand(outfile, ['status', '--state-dir', stateDir, '--json']);
    expect(await status.exit).toBe(0);
    expect(JSON.parse(status.stdout())).toMatchObject({ enrolled: true, site_code: site, tunnel: { state: 'not running' } });
    expect(status.stderr()).toBe('');
    const renew = runCommand(outfile, ['renew', '--state-dir', stateDir]);
    expect(await renew.exit).toBe(0);
    expect(renew.stdout()).toMatch(/Nothing to do/);

    // Output piped into a reader that is already gone (`| head`): a quiet exit with the command's own code, no EPIPE stack.
    for (const argv of [['status', '--state-dir', stateDir], ['--help']]) {
      const piped = spawn(outfile, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
      piped.stdout.destroy();
      let stderr = '';
      piped.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => piped.once('close', (c) => resolve(c)));
      expect(stderr).not.toMatch(/EPIPE|Error|\n\s+at /);
      expect(code).toBe(0);
    }
  });
});

describe('a plain-HTTP edge (lab only)', () => {
  let plain: Stack;
  beforeAll(async () => {
    plain = await startStack({ apiEnv: { AIRLOCK_POLL_INTERVAL_SECONDS: '1' } });
  });
  afterAll(async () => {
    await plain?.stop();
  });

  it('is refused without --insecure, and works with it after a loud warning', async () => {
    const site = await (async () => {
      const res = await plain.admin('POST', '/api/v1/admin/sites', { site_code: 'LAB-HTTP', name: 'lab', policy: 'auto' });
      expect(res.status).toBe(201);
      return 'LAB-HTTP';
    })();
    const key = (await plain.admin('POST', `/api/v1/admin/sites/${site}/enrollment-key`)).body.key as string;
    const args = ['enroll', '--server', plain.edgeUrl, '--site', site, '--state-dir', await tempStateDir(), '--machine-uid', 'lab-http-0001'];
    const refused = runAgent(args, { AIRLOCK_ENROLLMENT_KEY: key });
    expect(await refused.exit).toBe(2);
    expect(refused.stderr()).toContain('refusing plain http://');

    const insecure = runAgent([...args, '--insecure'], { AIRLOCK_ENROLLMENT_KEY: key });
    expect(await insecure.exit).toBe(0);
    expect(insecure.stderr()).toContain('WARNING: --insecure with http://');
    expect(insecure.stdout()).toContain('plain HTTP: NOT ENCRYPTED');
  });
});
