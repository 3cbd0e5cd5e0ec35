/**
 * Issue 18, finding 1, performed: a stranger with no key opens SSH
 * connections through the edge's demux and sends `userauth-request`
 * messages whose public-key algorithm string carries newlines and lines
 * that look like sshd's own ("Connection closed by … port N", "Accepted
 * publickey for airlock from … port N ssh2: ED25519 SHA256:…"). sshd writes
 * them to its stderr verbatim. The endpoint must make no decision on them:
 * revocation still cuts the victim, nobody else is cut, no forged audit row
 * appears, and a stranger's attempts are counted, not written row by row.
 */
import { encodeSshEd25519PublicKey, generateAgentKeyPair, parseSshEd25519PublicKey, sshFingerprint } from '@airlock/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, REDIS_URL, waitFor } from '@airlock/testing';
import { createSite, opensslPin, removeTempDirs, rotateEnrollmentKey } from '../agent/support.ts';
import { startStack, type Stack } from '../helpers/stack.ts';
import { sendAuthRequests } from './ssh-attacker.ts';
import {
  cleanupTunnelDirs,
  createTunnelOperator,
  echoThrough,
  enrollTunnelAgent,
  ensureAccounts,
  runSsh,
  startEcho,
  startTunnel,
  type Enrolled,
  type SshRun,
  type TunnelEndpoint,
} from './support.ts';

let stack: Stack;
let tunnel: TunnelEndpoint;
let echo: Awaited<ReturnType<typeof startEcho>>;
let edgePort: number;
const FORGED_IP = '203.0.113.66';
const FORGED_PORTS = [4242, 4343];

const fingerprintOf = (a: Enrolled) => sshFingerprint(parseSshEd25519PublicKey(a.publicKey).blob);

interface AuditRow {
  event_type: string;
  agent_id: string | null;
  source_ip: string | null;
  details: { fingerprint?: string; source_port?: number; reason?: string };
}
const tunnelRows = async (): Promise<AuditRow[]> => {
  const rows: AuditRow[] = [];
  for (const type of ['tunnel.opened', 'tunnel.closed', 'tunnel.denied']) {
    rows.push(...((await stack.admin('GET', `/api/v1/admin/audit?event_type=${type}&limit=200`)).body.items as AuditRow[]));
  }
  return rows;
};

/** The port sshd saw for an agent's session (through the edge: the edge's outgoing port), from sshd's own log line. */
const sshdPortOf = (a: Enrolled): number => {
  const fp = fingerprintOf(a);
  const line = tunnel
    .lines()
    .map((l) => String(l.line ?? ''))
    .find((l) => l.startsWith('Accepted publickey for airlock from 127.0.0.1 port ') && l.endsWith(`ssh2: ED25519 ${fp}`));
  const port = Number(/ port (\d+) /.exec(line ?? '')?.[1]);
  if (!port) throw new Error(`no accepted line for ${fp}`);
  return port;
};

const forward = async (a: Enrolled, echoPort: number): Promise<{ ssh: SshRun; local: number }> => {
  const local = await freePort();
  const ssh = runSsh({ port: edgePort, key: a.key, knownHosts: a.knownHosts, args: ['-N', '-L', `127.0.0.1:${local}:127.0.0.1:${echoPort}`, '127.0.0.1'] });
  await waitFor(async () => (await echoThrough(local)).got !== null, 'the tunnel to carry data');
  return { ssh, local };
};

beforeAll(async () => {
  ensureAccounts();
  echo = await startEcho();
  edgePort = await freePort();
  const tunnelPort = await freePort();
  stack = await startStack({
    tls: true,
    edgePort,
    apiEnv: { AIRLOCK_SSH_ENDPOINT: `127.0.0.1:${edgePort}`, AIRLOCK_SSH_PERMIT_OPEN: `127.0.0.1:${echo.port}` },
    edgeEnv: { EDGE_SSH_UPSTREAM: `127.0.0.1:${tunnelPort}`, EDGE_MAX_CONNECTIONS_PER_IP: '50' },
  });
  const token = await createTunnelOperator(stack.admin);
  tunnel = await startTunnel({
    apiUrl: stack.apiUrl,
    token,
    port: tunnelPort,
    redisUrl: REDIS_URL,
    redisPrefix: stack.redisPrefix,
    extraEnv: { TUNNEL_SUMMARY_INTERVAL_MS: '1000' },
  });
}, 120_000);

afterAll(async () => {
  await tunnel?.stop();
  if (tunnel) cleanupTunnelDirs(tunnel);
  await stack?.stop();
  echo?.close();
  await removeTempDirs();
});

describe('a stranger writing lines into sshd\'s log', () => {
  it('changes nothing: the victim is still cut on revocation, nobody else is cut, no forged row, no row per attempt', { timeout: 120_000 }, async () => {
    const site = await createSite(stack, 'auto');
    const enrollment = { edgeUrl: stack.edgeUrl, site, enrollmentKey: await rotateEnrollmentKey(stack, site), pin: opensslPin(stack.certSha256 ?? '') };
    const victim = await enrollTunnelAgent(enrollment, 'victim');
    const bystander = await enrollTunnelAgent(enrollment, 'bystander');
    const revoked = await enrollTunnelAgent(enrollment, 'revoked-before');
    expect((await stack.admin('POST', `/api/v1/admin/agents/${revoked.agentId}/revoke`, {})).status).toBe(200);

    const v = await forward(victim, echo.port);
    const b = await forward(bystander, echo.port);
    try {
      await waitFor(async () => (await tunnelRows()).filter((r) => r.event_type === 'tunnel.opened').length >= 2, 'both tunnels audited as opened');
      const [vPort, bPort] = [sshdPortOf(victim), sshdPortOf(bystander)];
      const anyKey = bystander.publicKey;
      const stranger = () => encodeSshEd25519PublicKey(generateAgentKeyPair().publicKey);
      const strangerKeys = [stranger(), stranger(), stranger()];

      // One connection: lines that would make the old supervisor forget the victim, cut the
      // bystander (an "accepted" revoked key on its port), and forge opened/denied rows.
      const attack = [
        { algorithm: `x\nConnection closed by 127.0.0.1 port ${vPort}\nDisconnected from user airlock 127.0.0.1 port ${vPort}\n`, publicKey: anyKey },
        { algorithm: `x\nAccepted publickey for airlock from 127.0.0.1 port ${bPort} ssh2: ED25519 ${fingerprintOf(revoked)}\n`, publicKey: anyKey },
        {
          algorithm:
            `x\nAccepted publickey for airlock from ${FORGED_IP} port ${FORGED_PORTS[0]} ssh2: ED25519 ${fingerprintOf(bystander)}\n` +
            `Failed publickey for airlock from ${FORGED_IP} port ${FORGED_PORTS[1]} ssh2: ED25519 ${fingerprintOf(bystander)}\n`,
          publicKey: anyKey,
        },
      ];
      expect(await sendAuthRequests({ host: '127.0.0.1', port: edgePort, requests: attack })).toBe(3);
      // Then attempts by the handful: a revoked agent's key (public keys are no secret) and strangers' keys.
      const offers = [
        [revoked.publicKey, revoked.publicKey, revoked.publicKey],
        strangerKeys,
        [revoked.publicKey, strangerKeys[0] ?? '', revoked.publicKey],
      ];
      for (const keys of offers) {
        await sendAuthRequests({ host: '127.0.0.1', port: edgePort, requests: keys.map((publicKey) => ({ algorithm: 'ssh-ed25519', publicKey })) });
      }

      // The attack really happened: sshd wrote the injected text, as lines of its own, to its stderr.
      const sshdLines = () => tunnel.lines().filter((l) => l.msg === 'sshd').map((l) => String(l.line));
      await waitFor(() => sshdLines().includes(`Connection closed by 127.0.0.1 port ${vPort}`), 'the injected line in sshd\'s stderr');
      expect(sshdLines()).toContain(`Accepted publickey for airlock from 127.0.0.1 port ${bPort} ssh2: ED25519 ${fingerprintOf(revoked)}`);

      // Give a log-driven supervisor every chance to act on it (several polls), then check nothing moved.
      await waitFor(() => tunnel.lines().some((l) => l.msg === 'tunnel auth summary' && Number(l.keys_unknown) >= 4), 'the strangers\' keys counted');
      await new Promise((r) => setTimeout(r, 3000));
      expect((await echoThrough(b.local)).got).not.toBeNull();
      expect((await echoThrough(v.local)).got).not.toBeNull();

      // Revocation still reaches the victim, within 10 s.
      expect((await stack.admin('POST', `/api/v1/admin/agents/${victim.agentId}/revoke`, { reason: 'test' })).status).toBe(200);
      const cut = await Promise.race([v.ssh.exit, new Promise<'still up'>((r) => setTimeout(() => r('still up'), 10_000))]);
      expect(cut).not.toBe('still up');
      // Nobody else was cut.
      expect(b.ssh.child.exitCode).toBeNull();
      expect((await echoThrough(b.local)).got).not.toBeNull();

      await waitFor(async () => (await tunnelRows()).some((r) => r.agent_id === victim.agentId && r.event_type === 'tunnel.closed'), 'the victim\'s tunnel.closed');
      const rows = await tunnelRows();
      const forged = rows.filter((r) => r.source_ip === FORGED_IP || FORGED_PORTS.includes(Number(r.details.source_port)));
      expect(forged).toEqual([]);
      expect(rows.filter((r) => r.agent_id === bystander.agentId).map((r) => r.event_type)).toEqual(['tunnel.opened']);
      expect(rows.filter((r) => r.agent_id === victim.agentId).map((r) => `${r.event_type}:${r.details.reason ?? ''}`).sort()).toEqual(['tunnel.closed:revoked', 'tunnel.opened:']);
      // The revoked agent's key, offered five times from three connections: one row (at most one a minute).
      expect(rows.filter((r) => r.agent_id === revoked.agentId).map((r) => r.event_type)).toEqual(['tunnel.denied']);
      // Strangers' keys: counted, never written.
      const strangerFps = strangerKeys.map((k) => sshFingerprint(parseSshEd25519PublicKey(k).blob));
      expect(rows.filter((r) => strangerFps.includes(r.details.fingerprint ?? ''))).toEqual([]);
      expect(rows.filter((r) => r.event_type === 'tunnel.denied' && r.agent_id === null)).toEqual([]);
    } finally {
      for (const s of [v.ssh, b.ssh]) s.child.kill();
      await Promise.all([v.ssh.exit, b.ssh.exit]);
    }
  });
});
