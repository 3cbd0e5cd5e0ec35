import { execFileSync } from 'node:child_process';
import { X509Certificate, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { json, startHostileServer, type HostileServer, type SeenRequest } from './hostile-server.ts';
import { fileMode, readJson, removeTempDirs, runAgent, runShellClient, tempStateDir, type Run } from './support.ts';

// Both clients against a real HTTPS server that answers whatever the test
// says: what a hostile or compromised edge could send. Nothing it says may
// reach a state file, a later --resume or the terminal unchecked.

let server: HostileServer;
let caDir: string;
beforeAll(async () => {
  server = await startHostileServer();
  caDir = path.dirname(await tempStateDir());
  const ca = ['-x509', '-newkey', 'ed25519', '-nodes', '-days', '1', '-subj', '/CN=test-ca'];
  execFileSync('openssl', ['req', ...ca, '-keyout', path.join(caDir, 'ca.key'), '-out', path.join(caDir, 'ca.pem')], { stdio: 'ignore' });
});
afterAll(async () => {
  await server?.close();
  await removeTempDirs();
});

/** What a real CA would do with the client's CSR: a certificate for the key in it. */
const signCsr = (csr: string): string =>
  execFileSync('openssl', ['x509', '-req', '-days', '1', '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-CA', path.join(caDir, 'ca.pem'), '-CAkey', path.join(caDir, 'ca.key')], {
    input: csr,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'ignore'],
  });

/** A certificate from the same CA for a key that is not the client's. */
const foreignCertificate = (): string => {
  const csr = execFileSync('openssl', ['req', '-new', '-newkey', 'ed25519', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=vma-01'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return signCsr(csr);
};

const SSH = {
  host: 'oma.example.com',
  port: 443,
  user: 'airlock',
  known_hosts: '[oma.example.com]:443 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKmJ0N+7PYWexvEMe7ZrlnJCsIuWQa6S7XVSsNqMl8nU\n',
  permit_open: ['127.0.0.1:10809', '127.0.0.1:8081'],
};
beforeEach(() => {
  server.seen.length = 0;
});

const EVIL_PIN = 'e'.repeat(64);
const valid = () => ({
  enrollmentId: randomUUID(),
  challenge: randomBytes(32).toString('base64'),
  expiresAt: new Date(Date.now() + 300_000).toISOString(),
  pollToken: `ept_${randomBytes(32).toString('base64url')}`,
  agentId: randomUUID(),
  agentKey: `cak_${randomBytes(32).toString('base64url')}`,
});
/** A string that closes the JSON string it is spliced into and adds keys of its own. */
const inject = (prefix: string) => `${prefix}", "insecure": true, "pin": "${EVIL_PIN}", "x": "`;
const ESCAPES = '\u001b]0;pwned\u0007\u001b[2K\r\u001b[31mFAKE OK\u001b[0m';

type Client = 'airlock-agent' | 'airlock-enroll.sh';
const CLIENTS: Client[] = ['airlock-agent', 'airlock-enroll.sh'];

const run = (client: Client, stateDir: string, extra: string[] = []): Run => {
  const args = ['--server', server.url, '--pin', server.pin, '--state-dir', stateDir, '--timeout', '30s', ...extra];
  return client === 'airlock-agent' ? runAgent(['enroll', ...args]) : runShellClient(args);
};
const enroll = (client: Client, stateDir: string) => run(client, stateDir, ['--site', 'ACME', '--code', 'AX7K-PJ3F-TH2Q', '--name', 'vma-01']);
const resume = (client: Client, stateDir: string): Run =>
  client === 'airlock-agent'
    ? runAgent(['enroll', '--resume', '--state-dir', stateDir, '--timeout', '10s'])
    : runShellClient(['--resume', '--state-dir', stateDir, '--timeout', '10s']);

/** Routes the three enrollment steps to the given answers. */
const serve = (answers: { enroll?: unknown; verify?: unknown; status?: { status: number; body: unknown } }) =>
  server.answer((req: SeenRequest) => {
    if (req.path === '/api/v1/enroll' && answers.enroll) return json(201, answers.enroll);
    if (req.path === '/api/v1/enroll/verify' && answers.verify) return json(200, answers.verify);
    if (req.path === '/api/v1/enroll/status' && answers.status) return json(answers.status.status, answers.status.body);
    return undefined;
  });

const expectCleanTerminal = (r: Run) => {
  const all = r.stdout() + r.stderr();
  expect(all).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
  expect(all).not.toContain('pwned');
  // No stack trace, whatever went wrong.
  expect(all).not.toMatch(/\n\s+at /);
};

const exists = (file: string) => fs.access(file).then(() => true, () => false);

describe.each(CLIENTS)('%s against a hostile server', (client) => {
  it('refuses an enrollment_id that would inject "insecure" and a pin into enrollment.json, so --resume cannot use them', async () => {
    const v = valid();
    serve({ enroll: { enrollment_id: inject(v.enrollmentId), challenge: v.challenge, expires_at: v.expiresAt } });
    const dir = await tempStateDir();
    const r = enroll(client, dir);
    expect(await r.exit).toBe(1);
    expect(r.stderr()).toMatch(/enrollment_id is missing or malformed/);
    expect(r.stderr()).not.toContain(EVIL_PIN);
    expect(await exists(path.join(dir, 'enrollment.json'))).toBe(false);
    expect(server.seen.map((s) => s.path)).toEqual(['/api/v1/enroll']);

    const again = resume(client, dir);
    expect(await again.exit).toBe(10);
    expect(again.stderr()).toMatch(/No enrollment to resume/);
    expect(server.seen).toHaveLength(1);
  });

  it('answers a newline and terminal escapes in enrollment_id with a clear error and exit 1, not a crash', async () => {
    const v = valid();
    serve({ enroll: { enrollment_id: `${v.enrollmentId}\n${ESCAPES}`, challenge: v.challenge, expires_at: v.expiresAt } });
    const dir = await tempStateDir();
    const r = enroll(client, dir);
    expect(await r.exit).toBe(1);
    expect(r.stderr()).toMatch(/Unexpected answer.*enrollment_id is missing or malformed/);
    expectCleanTerminal(r);
    expect(await exists(path.join(dir, 'enrollment.json'))).toBe(false);
  });

  it('refuses a poll token that would inject keys, leaving enrollment.json as it was written', async () => {
    const v = valid();
    serve({
      enroll: { enrollment_id: v.enrollmentId, challenge: v.challenge, expires_at: v.expiresAt },
      verify: { status: 'awaiting_approval', poll_token: inject(v.pollToken), poll_interval: 1 },
    });
    const dir = await tempStateDir();
    const r = enroll(client, dir);
    expect(await r.exit).toBe(1);
    expect(r.stderr()).toMatch(/poll_token is missing or malformed/);
    const stored = await readJson(path.join(dir, 'enrollment.json'));
    expect(stored.enrollment_id).toBe(v.enrollmentId);
    expect(stored.poll_token).toBeUndefined();
    expect(stored.tls).toEqual({ pin: server.pin.slice('sha256:'.length) });
    expect(JSON.stringify(stored)).not.toContain(EVIL_PIN);
  });

  it('keeps off-contract credentials out of credentials.json (saved aside, 0600) and off the terminal', async () => {
    const v = valid();
    serve({
      enroll: { enrollment_id: v.enrollmentId, challenge: v.challenge, expires_at: v.expiresAt },
      verify: { status: 'approved', poll_token: v.pollToken, poll_interval: 1 },
      status: {
        status: 200,
        body: {
          status: 'approved',
          agent_id: `${v.agentId}${ESCAPES}`,
          site_code: 'ACME',
          credentials: {
            agent_key: v.agentKey,
            ssh: { host: 'oma.example.com', port: 443, user: 'airlock', known_hosts: `x ssh-ed25519 AAAA\n${inject('')}`, permit_open: [] },
          },
        },
      },
    });
    const dir = await tempStateDir();
    const r = enroll(client, dir);
    expect(await r.exit).toBe(1);
    expect(r.stderr()).toMatch(/agent_id/);
    expectCleanTerminal(r);
    expect(await exists(path.join(dir, 'credentials.json'))).toBe(false);
    expect(await fileMode(path.join(dir, 'credentials.unparsed.json'))).toBe(0o600);
    expect(r.stdout() + r.stderr()).not.toContain(v.agentKey);
  });

  it('refuses an ssh block whose known_hosts smuggles JSON, even with every other field valid', async () => {
    const v = valid();
    serve({
      enroll: { enrollment_id: v.enrollmentId, challenge: v.challenge, expires_at: v.expiresAt },
      verify: { status: 'approved', poll_token: v.pollToken, poll_interval: 1 },
      status: {
        status: 200,
        body: {
          status: 'approved',
          agent_id: v.agentId,
          site_code: 'ACME',
          credentials: {
            agent_key: v.agentKey,
            ssh: { host: 'oma.example.com', port: 443, user: 'airlock', known_hosts: inject('[oma.example.com]:443 ssh-ed25519 AAAA'), permit_open: ['127.0.0.1:22'] },
          },
        },
      },
    });
    const dir = await tempStateDir();
    const r = enroll(client, dir);
    expect(await r.exit).toBe(1);
    expect(r.stderr()).toMatch(/known_hosts|ssh/);
    expect(await exists(path.join(dir, 'credentials.json'))).toBe(false);
  });

  it("shows an operator's rejection reason without the terminal escapes a server put in it", async () => {
    const v = valid();
    serve({
      enroll: { enrollment_id: v.enrollmentId, challenge: v.challenge, expires_at: v.expiresAt },
      verify: { status: 'awaiting_approval', poll_token: v.pollToken, poll_interval: 1 },
      status: { status: 403, body: { error: { code: 'enrollment_rejected', message: `not this one ${ESCAPES}\nFAKE LINE` } } },
    });
    const r = enroll(client, await tempStateDir());
    expect(await r.exit).toBe(3);
    expect(r.stderr()).toMatch(/Reason given: not this one .*FAKE OK/);
    expectCleanTerminal(r);
    expect(r.stderr()).not.toMatch(/\nFAKE LINE/);
  });
});

describe.each(CLIENTS)('%s storing what a server issued', (client) => {
  /** Enroll answers as a real edge would give them, with the certificate made by `certificateFor`. */
  const approvedWith = (certificateFor: (csr: string) => string) => {
    const v = valid();
    let csr = '';
    server.answer((req) => {
      if (req.path === '/api/v1/enroll') {
        csr = String((JSON.parse(req.body) as { csr?: string }).csr ?? '');
        return json(201, { enrollment_id: v.enrollmentId, challenge: v.challenge, expires_at: v.expiresAt });
      }
      if (req.path === '/api/v1/enroll/verify') return json(200, { status: 'approved', poll_token: v.pollToken, poll_interval: 1 });
      if (req.path === '/api/v1/enroll/status') {
        const certificate = certificateFor(csr);
        return json(200, {
          status: 'approved',
          agent_id: v.agentId,
          site_code: 'ACME',
          credentials: {
            agent_key: v.agentKey,
            ssh: SSH,
            tls: { certificate, ca_certificates: readFileSync(path.join(caDir, 'ca.pem'), 'utf8'), expires_at: new Date(new X509Certificate(certificate).validTo).toISOString() },
          },
        });
      }
      return undefined;
    });
    return v;
  };

  it('stores the ssh block and a certificate for its own key exactly as checked, in the layout status reads', async () => {
    const v = approvedWith(signCsr);
    const dir = await tempStateDir();
    const r = enroll(client, dir);
    expect(await r.exit).toBe(0);
    const credentials = await readJson(path.join(dir, 'credentials.json'));
    expect(credentials).toMatchObject({ agent_id: v.agentId, agent_key: v.agentKey, site_code: 'ACME' });
    // A server of before v1.2's reverse tunnels sends no remote_forwards: airlock-agent stores none ([]),
    // the shell client stores the block as it came; both mean no reverse forward.
    expect({ remote_forwards: [], ...(credentials.ssh as object) }).toEqual({ ...SSH, remote_forwards: [] });
    expect(await fileMode(path.join(dir, 'tls', 'cert.pem'))).toBe(0o644);
    expect(await fileMode(path.join(dir, 'tls', 'ca.pem'))).toBe(0o644);
    expect(await fileMode(path.join(dir, 'tls', 'key.pem'))).toBe(0o600);
    expect(await fs.readFile(path.join(dir, 'tls', 'ca.pem'), 'utf8')).toBe(await fs.readFile(path.join(caDir, 'ca.pem'), 'utf8'));

    const status = runAgent(['status', '--state-dir', dir, '--json']);
    expect(await status.exit).toBe(0);
    expect(JSON.parse(status.stdout())).toMatchObject({ agent_id: v.agentId, ssh_tunnel_issued: true, certificate: { expired: false } });
  });

  it("refuses a certificate for someone else's key, after keeping the one-time agent key", async () => {
    const v = approvedWith(foreignCertificate);
    const dir = await tempStateDir();
    const r = enroll(client, dir);
    expect(await r.exit).toBe(1);
    expect(r.stderr()).toMatch(/credentials are saved, but the certificate was not stored.*not for this agent's key/);
    expect(await readJson(path.join(dir, 'credentials.json'))).toMatchObject({ agent_key: v.agentKey, certificate: null });
    expect(await exists(path.join(dir, 'tls', 'cert.pem'))).toBe(false);
  });
});

describe('airlock-enroll.sh local inputs', () => {
  it('validates a multi-line value as a whole: one good line does not carry the rest', async () => {
    const dir = await tempStateDir();
    const base = ['--server', server.url, '--pin', server.pin, '--state-dir', dir, '--code', 'AX7K-PJ3F-TH2Q'];
    const cases: [string[], RegExp][] = [
      [['--site', `ACME\n", "insecure": true, "x": "`, '--name', 'vma-01'], /--site/],
      [['--site', 'ACME', '--name', 'vma-01\nevil'], /--name/],
      [['--site', 'ACME', '--name', 'vma-01', '--pin', `${EVIL_PIN}\n${EVIL_PIN}`], /--pin/],
      [['--site', 'ACME', '--name', 'vma-01', '--timeout', '30\n5'], /--timeout/],
    ];
    for (const [extra, message] of cases) {
      const r = runShellClient([...base.filter((a, i) => !(extra.includes('--pin') && (a === '--pin' || base[i - 1] === '--pin'))), ...extra]);
      expect(await r.exit).toBe(2);
      expect(r.stderr()).toMatch(message);
    }
    const zeroTouch = runShellClient([
      '--server', server.url, '--pin', server.pin, '--state-dir', dir, '--site', 'ACME', '--name', 'vma-01',
      '--enrollment-key', `cek_${'k'.repeat(43)}`, '--machine-uid', 'machine-01\n", "x": "',
    ]);
    expect(await zeroTouch.exit).toBe(2);
    expect(zeroTouch.stderr()).toMatch(/--machine-uid/);
    expect(server.seen).toHaveLength(0);
  });
});

describe('airlock-agent and a busy server', () => {
  const busy = { status: 503, body: JSON.stringify({ error: { code: 'service_unavailable', message: 'Service temporarily unavailable; retry later' } }), headers: { 'retry-after': '1' } };

  it('sends enroll and verify again after a 503, waiting as Retry-After asks, and goes on', async () => {
    const v = valid();
    const count = { enroll: 0, verify: 0 };
    server.answer((req) => {
      if (req.path === '/api/v1/enroll') return (count.enroll += 1) === 1 ? busy : json(201, { enrollment_id: v.enrollmentId, challenge: v.challenge, expires_at: v.expiresAt });
      if (req.path === '/api/v1/enroll/verify') return (count.verify += 1) === 1 ? busy : json(200, { status: 'awaiting_approval', poll_token: v.pollToken, poll_interval: 1 });
      if (req.path === '/api/v1/enroll/status') return json(403, { error: { code: 'enrollment_rejected', message: 'not this one' } });
      return undefined;
    });
    const r = run('airlock-agent', await tempStateDir(), ['--site', 'ACME', '--code', 'AX7K-PJ3F-TH2Q', '--name', 'vma-01']);
    expect(await r.exit).toBe(3);
    expect(server.seen.map((s) => s.path)).toEqual(['/api/v1/enroll', '/api/v1/enroll', '/api/v1/enroll/verify', '/api/v1/enroll/verify', '/api/v1/enroll/status']);
    // The same request both times: the same code, the same signature.
    expect(server.seen[1]?.body).toBe(server.seen[0]?.body);
    expect(server.seen[3]?.body).toBe(server.seen[2]?.body);
    expect(r.stdout() + r.stderr()).toMatch(/server is busy \(HTTP 503\); retrying in 1 s \(1\/5\)/);
    expectCleanTerminal(r);
  });

  it('gives up after five more tries of a server that stays busy, and says why', async () => {
    server.answer((req) => (req.path === '/api/v1/enroll' ? busy : undefined));
    const dir = await tempStateDir();
    const r = run('airlock-agent', dir, ['--site', 'ACME', '--code', 'AX7K-PJ3F-TH2Q', '--name', 'vma-01']);
    expect(await r.exit).not.toBe(0);
    expect(server.seen.map((s) => s.path)).toEqual(Array(6).fill('/api/v1/enroll'));
    expect(r.stdout() + r.stderr()).toMatch(/\(5\/5\)/);
    expect(r.stderr()).toMatch(/503|unavailable|busy/i);
    expect(await exists(path.join(dir, 'enrollment.json'))).toBe(false);
    expectCleanTerminal(r);
  });
});
