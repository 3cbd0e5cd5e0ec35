import { X509Certificate, createPrivateKey } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveMachineUid } from '@airlock/agent/machine-uid';
import { fakeMachineRoot, type FakeMachine } from '@airlock/testing';
import type { Stack } from '../helpers/stack.ts';
import {
  approvalLine,
  createPairingCode,
  createSite,
  decide,
  enrollmentByFingerprint,
  enrollmentsOf,
  fileMode,
  startAttendedStack,
  readJson,
  rotateEnrollmentKey,
  runAgent,
  runShellClient,
  tempStateDir,
  verifyAgentKey,
  wrongPin,
  removeTempDirs,
} from './support.ts';

const which = async (tool: string): Promise<string> => {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const candidate = path.join(dir, tool);
    if (await fs.access(candidate, fs.constants.X_OK).then(() => true, () => false)) return candidate;
  }
  throw new Error(`${tool} is not installed (apt-get install -y curl openssh-client mawk)`);
};

// infra/agent/airlock-enroll.sh: POSIX sh + curl + ssh-keygen, no Node. It
// signs with `ssh-keygen -Y sign`, so this also covers the SSHSIG path.
let stack: Stack;
let pin: string;

beforeAll(async () => {
  ({ stack, pin } = await startAttendedStack());
});
const roots: string[] = [];
afterAll(async () => {
  await stack?.stop();
  await removeTempDirs();
  await Promise.all(roots.map((r) => fs.rm(r, { recursive: true, force: true })));
});

const args = (site: string, stateDir: string, extra: string[]) => [
  '--server', stack.edgeUrl, '--site', site.toLowerCase(), '--state-dir', stateDir, '--name', 'legacy-appliance', ...extra,
];

describe('airlock-enroll.sh against the real stack', () => {
  it('enrolls with a pairing code and a pin, writing the same layout airlock-agent reads', async () => {
    const site = await createSite(stack);
    const { code } = await createPairingCode(stack, site);
    const stateDir = await tempStateDir();
    const labels = ['--label', 'company=Acme Corp', '--label', 'tags=dmz,phx'];
    const client = runShellClient(args(site, stateDir, ['--code', code.toLowerCase(), '--pin', pin, ...labels]));
    const fingerprint = await approvalLine(client, site);
    await decide(stack, (await enrollmentByFingerprint(stack, site, fingerprint)).id, 'approve');
    expect(await client.exit).toBe(0);
    expect(client.stdout()).toContain('Credentials saved');
    // Issue 22: the labels it was given are on the agent record.
    const agents = await stack.admin('GET', `/api/v1/admin/agents?site_code=${site}&q=${encodeURIComponent(fingerprint)}`);
    expect(agents.body.items[0].labels).toEqual({ company: 'Acme Corp', tags: 'dmz,phx' });

    expect(await fileMode(stateDir)).toBe(0o700);
    expect(await fileMode(path.join(stateDir, 'id_ed25519'))).toBe(0o600);
    expect(await fileMode(path.join(stateDir, 'credentials.json'))).toBe(0o600);
    expect((await fs.readdir(stateDir)).sort()).toEqual(['credentials.json', 'id_ed25519', 'id_ed25519.pub', 'tls']);
    const credentials = await readJson(path.join(stateDir, 'credentials.json'));
    expect(credentials).toMatchObject({ version: 1, site_code: site, fingerprint, hostname: 'legacy-appliance', ssh: null });

    // With openssl present it asked for a certificate (a CSR made from its OpenSSH key) and laid out tls/ like airlock-agent.
    const tlsDir = path.join(stateDir, 'tls');
    expect(await fileMode(path.join(tlsDir, 'cert.pem'))).toBe(0o644);
    expect(await fileMode(path.join(tlsDir, 'ca.pem'))).toBe(0o644);
    expect(await fileMode(path.join(tlsDir, 'key.pem'))).toBe(0o600);
    const cert = new X509Certificate(await fs.readFile(path.join(tlsDir, 'cert.pem')));
    // Issue 18: by default no DNS name, the SPIFFE URI only.
    expect(cert.subjectAltName).toBe(`URI:spiffe://airlock/site/${site}/agent/${String(credentials.agent_id)}`);
    expect(cert.checkPrivateKey(createPrivateKey(await fs.readFile(path.join(tlsDir, 'key.pem'))))).toBe(true);
    expect(cert.checkIssued(new X509Certificate(await fs.readFile(path.join(tlsDir, 'ca.pem'))))).toBe(true);
    expect(credentials.certificate).toMatchObject({ cert_file: path.join(tlsDir, 'cert.pem'), key_file: path.join(tlsDir, 'key.pem') });
    expect((await verifyAgentKey(stack, String(credentials.agent_key))).status).toBe(200);
    expect(client.stdout() + client.stderr()).not.toContain(String(credentials.agent_key));

    const status = runAgent(['status', '--state-dir', stateDir]);
    expect(await status.exit).toBe(0);
    expect(status.stdout()).toContain(`Agent id:     ${String(credentials.agent_id)}`);
    expect(status.stdout()).toMatch(/Certificate: +valid until/);

    const again = runShellClient(args(site, stateDir, ['--code', code, '--pin', pin]));
    expect(await again.exit).toBe(9);
  });

  it('refuses a malformed --label locally with the usage exit code, sending nothing', async () => {
    // A quote or backslash in a value is fine (JSON-escaped); a value too long, or a bad or reserved key, is not.
    for (const label of ['noequals', 'Bad=x', `k=${'v'.repeat(129)}`, '__proto__=x']) {
      const client = runShellClient(args('ACME', await tempStateDir(), ['--code', 'AX7K-PJ3F-TH2Q', '--pin', pin, '--label', label]));
      expect(await client.exit, label).toBe(2);
      expect(client.stderr()).toContain('--label');
    }
  });

  it('catches a mistyped code locally with the usage exit code', async () => {
    const client = runShellClient(args('ACME', await tempStateDir(), ['--code', 'AX7K-PJ3F-TH2U', '--pin', pin]));
    expect(await client.exit).toBe(2);
    expect(client.stderr()).toContain("the pairing code contains 'U', which is not used in pairing codes");
  });

  it('is interrupted with state saved and resumes to approval', async () => {
    const site = await createSite(stack);
    const { code } = await createPairingCode(stack, site);
    const stateDir = await tempStateDir();
    const client = runShellClient(args(site, stateDir, ['--code', code, '--pin', pin]));
    const fingerprint = await approvalLine(client, site);
    client.child.kill('SIGTERM');
    expect(await client.exit).toBe(130);
    expect(client.stderr()).toContain(`--resume --state-dir ${stateDir}`);
    expect(await fileMode(path.join(stateDir, 'enrollment.json'))).toBe(0o600);

    await decide(stack, (await enrollmentByFingerprint(stack, site, fingerprint)).id, 'approve');
    const resumed = runShellClient(['--resume', '--state-dir', stateDir]);
    expect(await resumed.exit).toBe(0);
    expect(await readJson(path.join(stateDir, 'credentials.json'))).toMatchObject({ site_code: site, fingerprint });
  });

  it('leaves an interrupted enrollment that airlock-agent --resume can finish', async () => {
    const site = await createSite(stack);
    const { code } = await createPairingCode(stack, site);
    const stateDir = await tempStateDir();
    const client = runShellClient(args(site, stateDir, ['--code', code, '--pin', pin]));
    const fingerprint = await approvalLine(client, site);
    client.child.kill('SIGINT');
    expect(await client.exit).toBe(130);
    await decide(stack, (await enrollmentByFingerprint(stack, site, fingerprint)).id, 'approve');
    const resumed = runAgent(['enroll', '--resume', '--state-dir', stateDir]);
    expect(await resumed.exit).toBe(0);
    expect(await readJson(path.join(stateDir, 'credentials.json'))).toMatchObject({ site_code: site, fingerprint });
  });

  it("reports a rejection with the operator's reason", async () => {
    const site = await createSite(stack);
    const { code } = await createPairingCode(stack, site);
    const client = runShellClient(args(site, await tempStateDir(), ['--code', code, '--pin', pin]));
    const fingerprint = await approvalLine(client, site);
    await decide(stack, (await enrollmentByFingerprint(stack, site, fingerprint)).id, 'reject', { reason: 'decommissioned' });
    expect(await client.exit).toBe(3);
    expect(client.stderr()).toContain('Reason given: decommissioned');
  });

  it('explains a wrong pairing code', async () => {
    const site = await createSite(stack);
    const client = runShellClient(args(site, await tempStateDir(), ['--code', 'AX7K-PJ3F-TH2Q', '--pin', pin]));
    expect(await client.exit).toBe(5);
    expect(client.stderr()).toContain('Ask your operator for a new pairing code');
  });

  it('refuses a wrong pin before sending the code, and an unverified certificate', async () => {
    const site = await createSite(stack);
    const { id, code } = await createPairingCode(stack, site);
    const wrong = runShellClient(args(site, await tempStateDir(), ['--code', code, '--pin', wrongPin(stack.certSha256 ?? '')]));
    expect(await wrong.exit).toBe(7);
    expect(wrong.stderr()).toContain('does not match --pin; nothing was sent');
    const untrusted = runShellClient(args(site, await tempStateDir(), ['--code', code]));
    expect(await untrusted.exit).toBe(7);
    expect(untrusted.stderr()).toContain('Could not establish a trusted TLS connection');
    expect(await enrollmentsOf(stack, site)).toEqual([]);
    const active = await stack.admin('GET', '/api/v1/admin/pairing-codes?status=active');
    expect((active.body.items as { id: string }[]).map((c) => c.id)).toContain(id);
  });

  it('works on a minimal Debian: mawk as awk, no openssl, no jq (the pin then anchors trust in the certificate)', async () => {
    // A PATH with only what the script may rely on; awk is mawk, as on a minimal Debian.
    const bin = path.join(path.dirname(await tempStateDir()), 'bin');
    await fs.mkdir(bin);
    const tools = ['sh', 'curl', 'ssh-keygen', 'sha256sum', 'base64', 'sed', 'tr', 'cut', 'head', 'tail', 'grep', 'date', 'mktemp',
      'mkdir', 'chmod', 'rm', 'mv', 'cat', 'cp', 'sync', 'ls', 'id', 'uname', 'sleep', 'basename'];
    for (const tool of tools) await fs.symlink(await which(tool), path.join(bin, tool));
    await fs.symlink(await which('mawk'), path.join(bin, 'awk'));

    const site = await createSite(stack);
    const { code } = await createPairingCode(stack, site);
    const stateDir = await tempStateDir();
    const client = runShellClient(args(site, stateDir, ['--code', code, '--pin', pin]), { PATH: bin });
    const fingerprint = await approvalLine(client, site);
    await decide(stack, (await enrollmentByFingerprint(stack, site, fingerprint)).id, 'approve');
    expect(await client.exit).toBe(0);
    expect(client.stdout()).toContain('No certificate requested: openssl 1.1.1 or newer');
    expect(await readJson(path.join(stateDir, 'credentials.json'))).toMatchObject({ site_code: site, fingerprint, certificate: null });
  });

  it('enrolls zero-touch with the hardware-derived machine uid airlock-agent derives, sending its --label flags', async () => {
    const site = await createSite(stack, 'auto');
    const key = await rotateEnrollmentKey(stack, site);
    const stateDir = await tempStateDir();
    const root = await fakeMachineRoot({ productUuid: '4C4C4544-0042-3510-8052-B4C04F384D32', disks: { sda: { serial: 'WD-WX12A3456789' } }, machineId: 'a'.repeat(32) });
    roots.push(root);
    const labels = ['--label', 'role=migration', '--label', 'note=say "hi" \\ there', '--label', 'role=appliance'];
    const client = runShellClient(args(site, stateDir, ['--pin', pin, '--ca-file', stack.certPath ?? '', ...labels]), { AIRLOCK_ENROLLMENT_KEY: key, AIRLOCK_MACHINE_ROOT: root });
    expect(await client.exit).toBe(0);
    expect(client.stdout()).toContain('Approved automatically by the site policy');
    expect(client.stdout()).toContain('Machine uid derived from product_uuid (/sys/class/dmi/id/product_uuid) + disk_serial (/sys/block/sda/device/serial)');
    const expected = await deriveMachineUid(root);
    expect(await readJson(path.join(stateDir, 'credentials.json'))).toMatchObject({ machine_uid: expected?.machineUid });
    const [enrollment] = (await stack.admin('GET', '/api/v1/admin/enrollments')).body.items.filter((e: { site_code: string }) => e.site_code === site);
    expect(enrollment.labels).toEqual({ role: 'appliance', note: 'say "hi" \\ there' });
  });

  it('refuses a malformed --label locally', async () => {
    const bad = runShellClient(['--server', stack.edgeUrl, '--site', 'x1', '--code', 'AAAA-AAAA-AAAA', '--label', 'Role=x']);
    expect(await bad.exit).toBe(2);
    expect(bad.stderr()).toMatch(/--label must be key=value/);
  });
});

describe('the machine uid: airlock-enroll.sh and airlock-agent agree', () => {
  const machines: Record<string, FakeMachine> = {
    'every hardware signal': { productUuid: '4C4C4544-0042-3510-8052-B4C04F384D32', boardSerial: '.7XK3JQ2.CN1296', disks: { nvme0n1: { serial: '  S4EWNX0R123456  ' } }, machineId: 'a'.repeat(32) },
    'placeholders only, so /etc/machine-id': { productUuid: '00000000-0000-0000-0000-000000000000', boardSerial: 'To be filled by O.E.M.', disks: { sda: { serial: 'None' } }, machineId: 'C0FFEE0123456789ABCDEF0123456789' },
    'a virtio disk behind loop and removable devices': { disks: { loop0: { serial: 'LOOP0001' }, sda: { serial: 'USBSTICK01', removable: true }, vda: { serial: 'virtio-0001', serialAt: 'serial' } } },
    'a board serial with odd spacing and case': { boardSerial: ' Mb\tSerial 42\r', machineId: 'b'.repeat(32) },
    'a non-printable uuid': { productUuid: 'abc\u0001def0123', boardSerial: 'ÄÖÜ-1234', machineId: 'd'.repeat(32) },
  };
  it.each(Object.entries(machines))('derives the same uid and explanation from %s', async (_name, machine) => {
    const root = await fakeMachineRoot(machine);
    roots.push(root);
    const shell = runShellClient(['machine-id', '--explain'], { AIRLOCK_MACHINE_ROOT: root });
    const node = runAgent(['machine-id', '--explain'], { AIRLOCK_MACHINE_ROOT: root });
    expect(await shell.exit).toBe(0);
    expect(await node.exit).toBe(0);
    expect(shell.stdout()).toBe(node.stdout());
    expect(shell.stdout().split('\n')[0]).toBe((await deriveMachineUid(root))?.machineUid);
  });

  it('both fail the same way when nothing is readable', async () => {
    const root = await fakeMachineRoot({ machineId: '' });
    roots.push(root);
    const shell = runShellClient(['machine-id'], { AIRLOCK_MACHINE_ROOT: root });
    const node = runAgent(['machine-id'], { AIRLOCK_MACHINE_ROOT: root });
    expect(await shell.exit).toBe(1);
    expect(await node.exit).toBe(1);
    expect(shell.stdout() + node.stdout()).toBe('');
  });
});
