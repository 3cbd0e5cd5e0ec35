import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  runAgent,
  tempStateDir,
  verifyAgentKey,
  wrongPin,
  removeTempDirs,
} from './support.ts';

const run = promisify(execFile);

/** A TCP hop in front of the edge that can be cut and restored on the same port. */
const startCuttableHop = async (targetPort: string) => {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(targetPort), '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.once('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  const listen = (port: number) => new Promise<number>((resolve) => server.listen(port, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
  const port = await listen(0);
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.resetAndDestroy();
      server.close(() => resolve());
    });
  return { port, cut: stop, restore: () => listen(port).then(() => undefined), close: () => (server.listening ? stop() : Promise.resolve()) };
};
let stack: Stack;
let pin: string;

beforeAll(async () => {
  ({ stack, pin } = await startAttendedStack());
});
afterAll(async () => {
  await stack?.stop();
  await removeTempDirs();
});

const enrollArgs = (siteCode: string, code: string, stateDir: string, extra: string[] = []) => [
  'enroll', '--server', stack.edgeUrl, '--site', siteCode.toLowerCase(), '--code', code, '--state-dir', stateDir,
  '--name', 'vma-01', ...extra,
];

describe('airlock-agent enroll with a pairing code, through the edge (real stack)', () => {
  it('enrolls after approval and leaves the key and credentials on disk with the right modes and content', async () => {
    const site = await createSite(stack);
    const { code } = await createPairingCode(stack, site);
    const stateDir = await tempStateDir();
    // Typed the way people type it: lower case, spaces instead of hyphens.
    const typed = code.toLowerCase().replace(/-/g, ' ');
    const agent = runAgent(enrollArgs(site, typed, stateDir, ['--pin', pin]));

    const fingerprint = await approvalLine(agent, site);
    const enrollment = await enrollmentByFingerprint(stack, site, fingerprint);
    expect(enrollment).toMatchObject({ hostname: 'vma-01', status: 'awaiting_approval' });
    await decide(stack, enrollment.id, 'approve');

    expect(await agent.exit).toBe(0);
    const out = agent.stdout();
    for (const step of ['Pairing code format checked', 'Generated a new Ed25519 key pair', 'Connected to', 'Enrollment requested', 'Challenge signed and verified', 'Approved: enrolled as agent', 'Credentials saved']) {
      expect(out).toContain(step);
    }

    expect(await fileMode(stateDir)).toBe(0o700);
    expect(await fileMode(path.join(stateDir, 'id_ed25519'))).toBe(0o600);
    expect(await fileMode(path.join(stateDir, 'credentials.json'))).toBe(0o600);
    // tls/ holds the certificate asked for by default (its own tests are in credentials.test.ts).
    expect((await fs.readdir(stateDir)).sort()).toEqual(['credentials.json', 'id_ed25519', 'id_ed25519.pub', 'tls']);
    expect((await fs.readdir(path.join(stateDir, 'tls'))).sort()).toEqual(['ca.pem', 'cert.pem', 'key.pem']);

    const credentials = await readJson(path.join(stateDir, 'credentials.json'));
    expect(credentials).toMatchObject({ version: 1, site_code: site, server: stack.edgeUrl, fingerprint, hostname: 'vma-01' });
    const agentKey = String(credentials.agent_key);
    expect(agentKey).toMatch(/^cak_/);
    // The key works, and it never appeared on the terminal.
    const verified = await verifyAgentKey(stack, agentKey);
    expect(verified).toMatchObject({ status: 200, body: { agent_id: credentials.agent_id, site_code: site } });
    expect(out + agent.stderr()).not.toContain(agentKey);
    expect(out + agent.stderr()).not.toContain(code);

    // The private key is the one the operator approved, and ssh can use it.
    const { stdout: sshPub } = await run('ssh-keygen', ['-y', '-f', path.join(stateDir, 'id_ed25519')]);
    await fs.writeFile(path.join(path.dirname(stateDir), 'check.pub'), sshPub);
    const { stdout: lf } = await run('ssh-keygen', ['-lf', path.join(path.dirname(stateDir), 'check.pub')]);
    expect(lf.split(' ')[1]).toBe(fingerprint);

    const status = runAgent(['status', '--state-dir', stateDir]);
    expect(await status.exit).toBe(0);
    expect(status.stdout()).toContain(`Agent id:     ${String(credentials.agent_id)}`);
    expect(status.stdout()).toContain(`Key:          ${fingerprint}`);
    expect(status.stdout()).not.toContain(agentKey);

    // A second enroll on an enrolled machine refuses without touching the network or the code.
    const { code: another } = await createPairingCode(stack, site);
    const again = runAgent(enrollArgs(site, another, stateDir, ['--pin', pin]));
    expect(await again.exit).toBe(9);
    expect(again.stderr()).toMatch(/already enrolled.*--force/s);

    // --force enrolls again with the same key; the old credentials stay until the new ones are written.
    const forced = runAgent(enrollArgs(site, another, stateDir, ['--pin', pin, '--force']));
    expect(await approvalLine(forced, site)).toBe(fingerprint);
    expect(forced.stderr()).toContain('--force: starting a new enrollment');
    expect(forced.stdout()).toContain('Reusing the Ed25519 key pair');
    expect(await readJson(path.join(stateDir, 'credentials.json'))).toMatchObject({ agent_key: agentKey });
    const waiting = (await enrollmentsOf(stack, site)).find((e) => e.status === 'awaiting_approval' || e.status === 'pending_confirmation');
    await decide(stack, waiting?.id ?? 'missing', 'approve');
    expect(await forced.exit).toBe(0);
    const replaced = await readJson(path.join(stateDir, 'credentials.json'));
    expect(replaced.agent_key).not.toBe(agentKey);
    expect(await fileMode(path.join(stateDir, 'credentials.json'))).toBe(0o600);
  });

  it('keeps waiting through a network drop, says so, and finishes once the network is back', async () => {
    const site = await createSite(stack);
    const { code } = await createPairingCode(stack, site);
    const stateDir = await tempStateDir();
    // The appliance's path to the edge: a TCP hop that can be cut (listener closed,
    // every connection reset) and restored on the same port.
    const hop = await startCuttableHop(new URL(stack.edgeUrl).port);
    try {
      const server = `https://127.0.0.1:${hop.port}`;
      const agent = runAgent(['enroll', '--server', server, '--site', site, '--code', code, '--state-dir', stateDir, '--name', 'vma-drop', '--pin', pin]);
      const fingerprint = await approvalLine(agent, site);
      await hop.cut();
      // Two failed polls in a row: the agent backs off and keeps its enrollment.
      await agent.waitFor(/Cannot reach the server[^\n]*retrying in[\s\S]*Cannot reach the server[^\n]*retrying in/);
      expect(agent.child.exitCode).toBeNull();
      await decide(stack, (await enrollmentByFingerprint(stack, site, fingerprint)).id, 'approve');
      await hop.restore();
      expect(await agent.exit).toBe(0);
      const out = agent.stdout() + agent.stderr();
      expect(out).toContain('Connection restored');
      expect(out).toContain('Approved: enrolled as agent');
      const credentials = await readJson(path.join(stateDir, 'credentials.json'));
      expect((await verifyAgentKey(stack, String(credentials.agent_key))).status).toBe(200);
      // One enrollment, approved once: the drop made no second one.
      expect((await enrollmentsOf(stack, site)).map((e) => e.status)).toEqual(['approved']);
    } finally {
      await hop.close();
    }
  });

  it('saves state on Ctrl-C while waiting, and --resume picks up the approval', async () => {
    const site = await createSite(stack);
    const { code } = await createPairingCode(stack, site);
    const stateDir = await tempStateDir();
    const agent = runAgent(enrollArgs(site, code, stateDir, ['--pin', pin]));
    const fingerprint = await approvalLine(agent, site);
    agent.child.kill('SIGINT');
    expect(await agent.exit).toBe(130);
    expect(agent.stderr()).toContain('Interrupted. The enrollment is saved');
    expect(agent.stderr()).toContain(`airlock-agent enroll --resume --state-dir ${stateDir}`);
    expect(await fileMode(path.join(stateDir, 'enrollment.json'))).toBe(0o600);
    expect(await readJson(path.join(stateDir, 'enrollment.json'))).toMatchObject({ site_code: site, fingerprint, hostname: 'vma-01' });

    const pending = runAgent(['status', '--state-dir', stateDir]);
    expect(await pending.exit).toBe(10);
    expect(pending.stdout()).toContain('Continue with: airlock-agent enroll --resume');

    await decide(stack, (await enrollmentByFingerprint(stack, site, fingerprint)).id, 'approve');
    // The pin was stored with the enrollment, so --resume needs only the state directory.
    const resumed = runAgent(['enroll', '--resume', '--state-dir', stateDir]);
    expect(await resumed.exit).toBe(0);
    expect(resumed.stdout()).toContain('Approved: enrolled as agent');
    expect(await fileMode(path.join(stateDir, 'credentials.json'))).toBe(0o600);
    await expect(fs.stat(path.join(stateDir, 'enrollment.json'))).rejects.toThrow();
  });

  it('also stops cleanly on SIGTERM, with the interrupted exit code', async () => {
    const site = await createSite(stack);
    const { code } = await createPairingCode(stack, site);
    const stateDir = await tempStateDir();
    const agent = runAgent(enrollArgs(site, code, stateDir, ['--pin', pin]));
    await approvalLine(agent, site);
    agent.child.kill('SIGTERM');
    expect(await agent.exit).toBe(130);
    expect(agent.stderr()).toContain('--resume');
  });

  it("reports a rejection with the operator's reason and clears the pending enrollment", async () => {
    const site = await createSite(stack);
    const { code } = await createPairingCode(stack, site);
    const stateDir = await tempStateDir();
    const agent = runAgent(enrollArgs(site, code, stateDir, ['--pin', pin]));
    const fingerprint = await approvalLine(agent, site);
    await decide(stack, (await enrollmentByFingerprint(stack, site, fingerprint)).id, 'reject', {
      reason: 'not one of our appliances',
    });
    expect(await agent.exit).toBe(3);
    expect(agent.stderr()).toContain('An operator rejected this enrollment.');
    expect(agent.stderr()).toContain('Reason given: not one of our appliances');
    await expect(fs.stat(path.join(stateDir, 'enrollment.json'))).rejects.toThrow();
  });

  it('stops waiting at --timeout with the timeout exit code, resumable', async () => {
    const site = await createSite(stack);
    const { code } = await createPairingCode(stack, site);
    const stateDir = await tempStateDir();
    const agent = runAgent(enrollArgs(site, code, stateDir, ['--pin', pin, '--timeout', '3s']));
    await approvalLine(agent, site);
    expect(await agent.exit).toBe(8);
    expect(agent.stderr()).toContain('airlock-agent enroll --resume');
    expect(await readJson(path.join(stateDir, 'enrollment.json'))).toMatchObject({ site_code: site });
  });

  it('explains a wrong pairing code and a reused one: ask for a new code', async () => {
    const site = await createSite(stack);
    const wrong = runAgent(enrollArgs(site, 'AX7K-PJ3F-TH2Q', await tempStateDir(), ['--pin', pin]));
    expect(await wrong.exit).toBe(5);
    expect(wrong.stderr()).toContain(`The pairing code was not accepted for site ${site}.`);
    expect(wrong.stderr()).toContain('Ask your operator for a new pairing code');

    const { code } = await createPairingCode(stack, site);
    const first = runAgent(enrollArgs(site, code, await tempStateDir(), ['--pin', pin, '--timeout', '2s']));
    await approvalLine(first, site);
    expect(await first.exit).toBe(8);
    const reused = runAgent(enrollArgs(site, code, await tempStateDir(), ['--pin', pin]));
    expect(await reused.exit).toBe(5);
    expect(reused.stderr()).toContain('Ask your operator for a new pairing code');
  });

  it('refuses a wrong pin before sending anything: the code stays unused', async () => {
    const site = await createSite(stack);
    const { id, code } = await createPairingCode(stack, site);
    const agent = runAgent(enrollArgs(site, code, await tempStateDir(), ['--pin', wrongPin(stack.certSha256 ?? '')]));
    expect(await agent.exit).toBe(7);
    expect(agent.stderr()).toContain('does not match --pin; nothing was sent');
    expect(agent.stderr()).toContain(`sha256:${stack.certSha256}`);
    expect(await enrollmentsOf(stack, site)).toEqual([]);
    const active = await stack.admin('GET', '/api/v1/admin/pairing-codes?status=active');
    expect((active.body.items as { id: string }[]).map((c) => c.id)).toContain(id);
  });

  it('refuses the self-signed certificate without --pin or --ca-file, and accepts it with --ca-file', async () => {
    const site = await createSite(stack);
    const { code } = await createPairingCode(stack, site);
    const untrusted = runAgent(enrollArgs(site, code, await tempStateDir()));
    expect(await untrusted.exit).toBe(7);
    expect(untrusted.stderr()).toContain('Could not establish a trusted TLS connection; nothing was sent.');
    expect(untrusted.stderr()).toContain('--pin sha256:HEX');

    const stateDir = await tempStateDir();
    const trusted = runAgent(enrollArgs(site, code, stateDir, ['--ca-file', stack.certPath ?? '', '--timeout', '2s']));
    await approvalLine(trusted, site);
    expect(trusted.stdout()).toContain(`certificate verified against ${stack.certPath}`);
    expect(await trusted.exit).toBe(8);
  });
});
