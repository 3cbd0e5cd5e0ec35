import { X509Certificate } from 'node:crypto';
import * as fsSync from 'node:fs';
import * as fs from 'node:fs/promises';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import type { TLSSocket } from 'node:tls';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '@airlock/agent/cli';
import { ensureSelfSignedCert, parseSshEd25519PublicKey } from '@airlock/crypto';
import type { Stack } from '../helpers/stack.ts';
import {
  approvalLine,
  createPairingCode,
  createSite,
  decide,
  enrollmentByFingerprint,
  fileMode,
  readJson,
  removeTempDirs,
  rotateEnrollmentKey,
  runAgent,
  startAttendedStack,
  tempStateDir,
  verifyAgentKey,
} from './support.ts';

// v1.1 credentials end to end, the real api (with its CA) and edge as
// processes, the agent as a real process: a certificate for the agent's own
// key at enrollment, renewal, key rotation and recovery without an operator.
//
// Enrollment goes through the TLS edge. Renewal talks to the api directly
// (--server is the api, --insecure on 127.0.0.1): the edge forwards the agent
// routes once the edge branch's allowlist lands; the agent's side is the same.

let stack: Stack;
let pin: string;
beforeAll(async () => {
  ({ stack, pin } = await startAttendedStack());
});
afterAll(async () => {
  await stack?.stop();
  await removeTempDirs();
});

const certificateVerify = async (certificate: string) => {
  const res = await fetch(`${stack.apiUrl}/api/v1/internal/certificates/verify`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.serviceToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ certificate }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

/** Zero-touch into an auto site, straight at the api: approved without an operator. */
const enrollDirect = async (extra: string[] = []) => {
  const site = await createSite(stack, 'auto');
  const key = await rotateEnrollmentKey(stack, site);
  const stateDir = await tempStateDir();
  const agent = runAgent(
    ['enroll', '--server', stack.apiUrl, '--insecure', '--site', site, '--machine-uid', `m-${path.basename(path.dirname(stateDir))}`, '--state-dir', stateDir, '--name', 'vma-01', ...extra],
    { AIRLOCK_ENROLLMENT_KEY: key },
  );
  expect(await agent.exit).toBe(0);
  return { site, stateDir, credentials: await readJson(path.join(stateDir, 'credentials.json')) };
};

const agent = async (args: string[]) => {
  const run = runAgent(args);
  return { code: await run.exit, out: run.stdout(), err: run.stderr() };
};

/** In-process, with a moved clock: the only thing a test cannot wait 16 hours for. */
const cliAt = async (now: number, argv: string[]) => {
  let out = '';
  let err = '';
  const code = await runCli(argv, {
    out: { write: (t: string) => (out += t) },
    err: { write: (t: string) => (err += t) },
    env: { NO_COLOR: '1' },
    signal: new AbortController().signal,
    now: () => now,
  });
  return { code, out, err };
};

describe('a certificate for the agent\'s own key', () => {
  it('is requested at enrollment through the edge and stored as tls/cert.pem, tls/ca.pem (0644) and tls/key.pem (0600)', async () => {
    const site = await createSite(stack);
    const { code } = await createPairingCode(stack, site);
    const stateDir = await tempStateDir();
    const run = runAgent(['enroll', '--server', stack.edgeUrl, '--pin', pin, '--site', site, '--code', code, '--state-dir', stateDir, '--name', 'vma-01']);
    const fingerprint = await approvalLine(run, site);
    await decide(stack, (await enrollmentByFingerprint(stack, site, fingerprint)).id, 'approve');
    expect(await run.exit).toBe(0);
    expect(run.stdout()).toMatch(/Certificate from Airlock's CA saved, valid until/);

    const tlsDir = path.join(stateDir, 'tls');
    expect(await fileMode(path.join(tlsDir, 'cert.pem'))).toBe(0o644);
    expect(await fileMode(path.join(tlsDir, 'ca.pem'))).toBe(0o644);
    expect(await fileMode(path.join(tlsDir, 'key.pem'))).toBe(0o600);
    expect(await fileMode(path.join(stateDir, 'id_ed25519'))).toBe(0o600);
    expect(await fileMode(path.join(stateDir, 'credentials.json'))).toBe(0o600);

    const credentials = await readJson(path.join(stateDir, 'credentials.json'));
    const certPem = await fs.readFile(path.join(tlsDir, 'cert.pem'), 'utf8');
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(await fs.readFile(path.join(tlsDir, 'ca.pem'), 'utf8'));
    expect(cert.checkIssued(ca) && cert.verify(ca.publicKey)).toBe(true);
    // Issue 18: by default no DNS name (the host name is the agent's to choose); the SPIFFE URI is the identity.
    expect(cert.subjectAltName).toBe(`URI:spiffe://airlock/site/${site}/agent/${String(credentials.agent_id)}`);
    // For the key in id_ed25519.pub, the one that never left the machine.
    const pub = parseSshEd25519PublicKey((await fs.readFile(path.join(stateDir, 'id_ed25519.pub'), 'utf8')).trim());
    expect(cert.publicKey.export({ format: 'der', type: 'spki' }).subarray(12).equals(Buffer.from(pub.blob.subarray(pub.blob.length - 32)))).toBe(true);
    expect(credentials.certificate).toMatchObject({
      cert_file: path.join(tlsDir, 'cert.pem'),
      ca_file: path.join(tlsDir, 'ca.pem'),
      key_file: path.join(tlsDir, 'key.pem'),
      expires_at: new Date(cert.validTo).toISOString(),
    });
    expect(await certificateVerify(certPem)).toMatchObject({ status: 200, body: { agent_id: credentials.agent_id, status: 'active' } });

    // The layout works as is for mTLS: a server trusting ca.pem accepts key.pem + cert.pem.
    const server = https.createServer(
      { ...(await selfSigned()), ca: await fs.readFile(path.join(tlsDir, 'ca.pem')), requestCert: true, rejectUnauthorized: true },
      (req, res) => res.end((req.socket as TLSSocket).getPeerCertificate().subjectaltname ?? ''),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const req = https.request(
          {
            host: '127.0.0.1',
            port: (server.address() as AddressInfo).port,
            rejectUnauthorized: false,
            key: fsSync.readFileSync(path.join(tlsDir, 'key.pem')),
            cert: fsSync.readFileSync(path.join(tlsDir, 'cert.pem')),
          },
          (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () => resolve(text));
          },
        );
        req.on('error', reject);
        req.end();
      });
      expect(body).toContain(`spiffe://airlock/site/${site}/agent/`);
    } finally {
      server.close();
    }

    const status = await agent(['status', '--state-dir', stateDir, '--json']);
    expect(status.code).toBe(0);
    const report = JSON.parse(status.out) as Record<string, unknown>;
    expect(report).toMatchObject({
      enrolled: true,
      agent_id: credentials.agent_id,
      site_code: site,
      fingerprint,
      certificate: { expires_at: new Date(cert.validTo).toISOString(), expired: false },
      tunnel: { state: 'not running' },
    });
    expect(status.out).not.toContain('cak_');
  });

  it('is left out with --no-tls', async () => {
    const { stateDir, credentials } = await enrollDirect(['--no-tls']);
    expect(credentials.certificate).toBeNull();
    await expect(fs.access(path.join(stateDir, 'tls'))).rejects.toThrow();
    const renew = await agent(['renew', '--state-dir', stateDir]);
    expect(renew.code).toBe(0);
    expect(renew.out).toMatch(/No certificate to renew/);
  });
});

describe('airlock-agent renew', () => {
  it('does nothing while the certificate is fresh, renews with --force, and by itself once a third of the lifetime is left', async () => {
    const { stateDir, credentials } = await enrollDirect();
    const certFile = path.join(stateDir, 'tls', 'cert.pem');
    const first = await fs.readFile(certFile, 'utf8');

    const idle = await agent(['renew', '--state-dir', stateDir]);
    expect(idle.code).toBe(0);
    expect(idle.out).toMatch(/Certificate valid until .*; renews after .*\. Nothing to do\./);
    expect(await fs.readFile(certFile, 'utf8')).toBe(first);

    const forced = await agent(['renew', '--state-dir', stateDir, '--force']);
    expect(forced.code).toBe(0);
    expect(forced.out).toMatch(/Certificate renewed, valid until/);
    const second = await fs.readFile(certFile, 'utf8');
    expect(second).not.toBe(first);
    expect(new X509Certificate(second).serialNumber).not.toBe(new X509Certificate(first).serialNumber);
    // The agent key was not touched.
    const afterForce = await readJson(path.join(stateDir, 'credentials.json'));
    expect(afterForce.agent_key).toBe(credentials.agent_key);
    expect((await verifyAgentKey(stack, String(credentials.agent_key))).status).toBe(200);

    const cert = new X509Certificate(second);
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    const early = await cliAt(from + (to - from) * 0.5, ['renew', '--state-dir', stateDir]);
    expect(early.code).toBe(0);
    expect(early.out).toMatch(/Nothing to do/);
    const due = await cliAt(to - (to - from) * 0.3, ['renew', '--state-dir', stateDir]);
    expect(due.code).toBe(0);
    expect(due.out).toMatch(/Certificate renewed/);
    expect(await fs.readFile(certFile, 'utf8')).not.toBe(second);
    expect(await fileMode(certFile)).toBe(0o644);
  });

  it('rotates the agent key with --rotate-key: the old cak_ stops verifying at once, the new one works', async () => {
    const { stateDir, credentials } = await enrollDirect();
    const old = String(credentials.agent_key);
    expect((await verifyAgentKey(stack, old)).status).toBe(200);
    const rotated = await agent(['renew', '--state-dir', stateDir, '--rotate-key']);
    expect(rotated.code).toBe(0);
    expect(rotated.out).toMatch(/Agent key rotated/);
    expect(rotated.out + rotated.err).not.toMatch(/cak_[A-Za-z0-9_-]{10}/);
    const next = await readJson(path.join(stateDir, 'credentials.json'));
    expect(next.agent_key).not.toBe(old);
    expect(await verifyAgentKey(stack, old)).toMatchObject({ status: 401 });
    expect(await verifyAgentKey(stack, String(next.agent_key))).toMatchObject({ status: 200, body: { agent_id: credentials.agent_id } });
    expect(await fileMode(path.join(stateDir, 'credentials.json'))).toBe(0o600);
  });

  it('is refused for a revoked agent (exit 5) and keeps what is stored', async () => {
    const { stateDir, credentials } = await enrollDirect();
    const revoked = await stack.admin('POST', `/api/v1/admin/agents/${String(credentials.agent_id)}/revoke`, { reason: 'test' });
    expect(revoked.status).toBe(200);
    const before = await fs.readFile(path.join(stateDir, 'credentials.json'), 'utf8');
    const renew = await agent(['renew', '--state-dir', stateDir, '--force']);
    expect(renew.code).toBe(5);
    expect(renew.err).toMatch(/did not accept this agent's proof/);
    expect(await fs.readFile(path.join(stateDir, 'credentials.json'), 'utf8')).toBe(before);
  });

  it('says there is nothing to renew in an empty state directory (exit 10)', async () => {
    const renew = await agent(['renew', '--state-dir', await tempStateDir()]);
    expect(renew.code).toBe(10);
    expect(renew.err).toMatch(/Not enrolled/);
  });
});

describe('airlock-agent recover', () => {
  it('gets new credentials with no operator after the status answer carrying them was lost', async () => {
    const site = await createSite(stack);
    const { code } = await createPairingCode(stack, site);
    const stateDir = await tempStateDir();
    const first = runAgent(['enroll', '--server', stack.apiUrl, '--insecure', '--site', site, '--code', code, '--state-dir', stateDir, '--name', 'vma-01']);
    const fingerprint = await approvalLine(first, site);
    // Stop the agent before approval, then collect its answer ourselves: the answer is lost to the agent.
    first.child.kill('SIGTERM');
    expect(await first.exit).toBe(130);
    await decide(stack, (await enrollmentByFingerprint(stack, site, fingerprint)).id, 'approve');
    const enrollment = await readJson(path.join(stateDir, 'enrollment.json'));
    const lost = await pollOnce(String(enrollment.poll_token));
    expect(lost.status).toBe(200);
    const lostKey = ((await lost.json()) as { credentials: { agent_key: string } }).credentials.agent_key;

    // A poll a whole interval after ours, so the server does not answer slow_down first (it would only cost time).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const resumed = runAgent(['enroll', '--resume', '--state-dir', stateDir]);
    expect(await resumed.exit).toBe(4);
    expect(resumed.stderr()).toMatch(/already collected/);
    expect(resumed.stderr()).toMatch(/airlock-agent recover/);
    // Kept for recover.
    expect((await readJson(path.join(stateDir, 'enrollment.json'))).enrollment_id).toBe(enrollment.enrollment_id);

    const status = await agent(['status', '--state-dir', stateDir]);
    expect(status.out).toMatch(/airlock-agent recover/);

    const recovered = await agent(['recover', '--state-dir', stateDir]);
    expect(recovered.code).toBe(0);
    expect(recovered.out).toMatch(/Recovered: agent [0-9a-f-]{36} of site/);
    const credentials = await readJson(path.join(stateDir, 'credentials.json'));
    expect(credentials).toMatchObject({ site_code: site, fingerprint, hostname: 'vma-01' });
    expect(await verifyAgentKey(stack, String(credentials.agent_key))).toMatchObject({ status: 200, body: { agent_id: credentials.agent_id } });
    // Whoever holds the lost answer holds a dead key.
    expect((await verifyAgentKey(stack, lostKey)).status).toBe(401);
    await expect(fs.access(path.join(stateDir, 'enrollment.json'))).rejects.toThrow();
    expect(await fileMode(path.join(stateDir, 'tls', 'cert.pem'))).toBe(0o644);
  }, 90_000);

  it('is the same as renew --rotate-key for an agent whose credentials are in place', async () => {
    const { stateDir, credentials } = await enrollDirect();
    const recovered = await agent(['recover', '--state-dir', stateDir]);
    expect(recovered.code).toBe(0);
    expect((await verifyAgentKey(stack, String(credentials.agent_key))).status).toBe(401);
    const next = await readJson(path.join(stateDir, 'credentials.json'));
    expect((await verifyAgentKey(stack, String(next.agent_key))).status).toBe(200);
  });
});

/**
 * One status read with the agent's poll token, as the agent would make it: the
 * agent polled a moment ago, so the server may answer slow_down first; wait
 * as it asks (Retry-After), as any client must.
 */
const pollOnce = async (pollToken: string): Promise<Response> => {
  await new Promise((resolve) => setTimeout(resolve, 1500));
  for (let attempt = 0; ; attempt += 1) {
    const res = await fetch(`${stack.apiUrl}/api/v1/enroll/status`, { headers: { authorization: `Bearer ${pollToken}` } });
    if (res.status !== 429 || attempt >= 5) return res;
    await new Promise((resolve) => setTimeout(resolve, Number(res.headers.get('retry-after') ?? '6') * 1000));
  }
};

/** A server certificate for the mTLS check (the client side is what is under test). */
const selfSigned = async (): Promise<{ key: Buffer; cert: Buffer }> => {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'airlock-mtls-'));
  try {
    const made = await ensureSelfSignedCert(dir);
    return { key: await fs.readFile(made.keyPath), cert: await fs.readFile(made.certPath) };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
};
