import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fakeMachineRoot, writeMachine } from '@airlock/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from './cli.ts';
import { deriveMachineUid } from './machine-uid.ts';
import { EXIT_CODE_HELP, ExitCode } from './exit-codes.ts';
import { statePaths, writeCredentials, writeEnrollment } from './state.ts';
import { AGENT_VERSION } from './version.ts';

/** A real listener that only counts connections: "nothing was sent" must mean nothing reached it. */
let listener: net.Server;
let connections = 0;
let port = 0;
let tmp: string;

beforeAll(async () => {
  listener = net.createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  port = (listener.address() as net.AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => listener.close(() => resolve()));
});
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'airlock-agent-cli-'));
  return async () => fs.rm(tmp, { recursive: true, force: true });
});

const cli = async (argv: string[], env: NodeJS.ProcessEnv = {}, answers?: (string | null)[]) => {
  let out = '';
  let err = '';
  const questions: string[] = [];
  const code = await runCli(argv, {
    out: { write: (t: string) => (out += t) },
    err: { write: (t: string) => (err += t) },
    env,
    signal: new AbortController().signal,
    ...(answers
      ? {
          prompt: async (question: string) => {
            questions.push(question);
            return answers.shift() ?? null;
          },
        }
      : {}),
  });
  return { code, out, err, questions };
};

const AGENT_ID = '3f1e1c9e-0000-4000-8000-000000000001';
const ENROLLMENT_ID = '0b6d4c2a-1111-4000-8000-000000000002';
const FINGERPRINT = `SHA256:${'A'.repeat(43)}`;
const POLL_TOKEN = `ept_${'p'.repeat(43)}`;

const enrollArgs = (code: string, server = `https://127.0.0.1:${port}`) => [
  'enroll', '--server', server, '--site', 'acme', '--code', code, '--state-dir', tmp, '--name', 'vma-01',
];

describe('airlock-agent (in-process, no server involved)', () => {
  it('rejects a mistyped pairing code before any network call or key generation', async () => {
    const before = connections;
    const { code, err } = await cli(enrollArgs('AX7K-PJ3F-TH2'));
    expect(code).toBe(ExitCode.Usage);
    expect(err).toMatch(/the pairing code has 11 symbols, expected 12\. Nothing was sent/);
    expect(connections).toBe(before);
    expect(await fs.readdir(tmp)).toEqual([]);
  });

  it('asks for the pairing code on a terminal when --code is missing, re-asking after a typo', async () => {
    const argv = ['enroll', '--server', 'https://127.0.0.1:1', '--site', 'acme', '--state-dir', tmp, '--name', 'vma-01'];
    const { code, err, questions } = await cli(argv, {}, ['AX7K-PJ3F-TH2', 'ax7k pj3f th2q']);
    expect(questions).toEqual(['Pairing code from your operator (XXXX-XXXX-XXXX): ', 'Pairing code from your operator (XXXX-XXXX-XXXX): ']);
    expect(err).toContain('the pairing code has 11 symbols, expected 12. Try again.');
    // The second answer was accepted; it then failed only on the (closed) network port.
    expect(code).toBe(ExitCode.Network);
  });

  it('gives up on the prompt after three bad codes, and without a terminal just explains', async () => {
    const argv = ['enroll', '--server', 'https://127.0.0.1:1', '--site', 'acme', '--state-dir', tmp];
    const prompted = await cli(argv, {}, ['x', 'y', 'z']);
    expect(prompted.code).toBe(ExitCode.Usage);
    expect(prompted.questions).toHaveLength(3);
    const unattended = await cli(argv);
    expect(unattended.code).toBe(ExitCode.Usage);
    expect(unattended.err).toContain('give --code XXXX-XXXX-XXXX');
  });

  it('refuses http:// without --insecure, without connecting', async () => {
    const before = connections;
    const { code, err } = await cli(enrollArgs('AX7K-PJ3F-TH2Q', `http://127.0.0.1:${port}`));
    expect(code).toBe(ExitCode.Usage);
    expect(err).toMatch(/refusing plain http/);
    expect(connections).toBe(before);
  });

  it('warns loudly on every --insecure run', async () => {
    const { err } = await cli([...enrollArgs('AX7K-PJ3F-TH2Q', 'http://127.0.0.1:1'), '--insecure']);
    expect(err).toMatch(/WARNING: --insecure with http:\/\//);
  });

  it('exits 7 with a clear message when the server cannot be reached', async () => {
    const { code, err } = await cli(enrollArgs('AX7K-PJ3F-TH2Q', 'https://127.0.0.1:1'));
    expect(code).toBe(ExitCode.Network);
    expect(err).toMatch(/Cannot reach the server: connect ECONNREFUSED 127\.0\.0\.1:1/);
  });

  it('refuses to enroll an enrolled machine without --force, naming the current enrollment', async () => {
    const paths = statePaths(tmp);
    await fs.chmod(tmp, 0o700);
    await writeCredentials(paths, {
      version: 1,
      agent_id: AGENT_ID,
      site_code: 'ACME',
      agent_key: `cak_${'k'.repeat(43)}`,
      server: 'https://edge.example.com',
      fingerprint: FINGERPRINT,
      hostname: 'vma-01',
      enrolled_at: '2026-11-22T18:00:00.000Z',
      private_key_file: paths.privateKey,
      ssh: null,
      tls: {},
    });
    const before = connections;
    const { code, err, out } = await cli(enrollArgs('AX7K-PJ3F-TH2Q'));
    expect(code).toBe(ExitCode.AlreadyEnrolled);
    expect(err).toContain(`already enrolled: agent ${AGENT_ID} of site ACME`);
    expect(err).toMatch(/--force/);
    expect(connections).toBe(before);

    const status = await cli(['status', '--state-dir', tmp]);
    expect(status.code).toBe(ExitCode.Ok);
    expect(status.out).toMatch(new RegExp(`Agent id: +${AGENT_ID}`));
    expect(status.out).toMatch(/Key: +SHA256:A{43}/);
    expect(status.out + out).not.toContain('cak_');
  });

  it('enroll --force keeps the machine uid the server knows (credentials.json), not a newly derived one', async () => {
    const paths = statePaths(tmp);
    await fs.chmod(tmp, 0o700);
    await writeCredentials(paths, {
      version: 1,
      agent_id: AGENT_ID,
      site_code: 'ACME',
      agent_key: `cak_${'k'.repeat(43)}`,
      server: 'https://edge.example.com',
      fingerprint: FINGERPRINT,
      hostname: 'vma-01',
      machine_uid: 'uid-from-an-older-agent',
      enrolled_at: '2026-11-22T18:00:00.000Z',
      private_key_file: paths.privateKey,
      ssh: null,
      tls: {},
    });
    const root = await fakeMachineRoot({ productUuid: '4C4C4544-0042-3510-8052-B4C04F384D32' });
    try {
      const args = ['enroll', '--server', 'https://127.0.0.1:1', '--site', 'acme', '--enrollment-key', `cek_${'x'.repeat(43)}`, '--state-dir', tmp, '--name', 'vma-01', '--force'];
      const { code, out } = await cli(args, { AIRLOCK_MACHINE_ROOT: root });
      expect(code).toBe(ExitCode.Network);
      expect(out).toContain(`Machine uid kept from ${paths.credentials}`);
      expect(out).not.toContain('Machine uid derived');
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });

  it('rotate-key refuses an agent without a machine uid (a pairing-code enrollment) before sending anything', async () => {
    const paths = statePaths(tmp);
    await fs.chmod(tmp, 0o700);
    await writeCredentials(paths, {
      version: 1,
      agent_id: AGENT_ID,
      site_code: 'ACME',
      agent_key: `cak_${'k'.repeat(43)}`,
      server: `https://127.0.0.1:${port}`,
      fingerprint: FINGERPRINT,
      hostname: 'vma-01',
      enrolled_at: '2026-11-22T18:00:00.000Z',
      private_key_file: paths.privateKey,
      ssh: null,
      tls: {},
    });
    const before = connections;
    const { code, err } = await cli(['rotate-key', '--state-dir', tmp, '--code', 'AX7K-PJ3F-TH2Q']);
    expect(code).toBe(ExitCode.Usage);
    expect(err).toMatch(/no machine uid/);
    expect(err).toMatch(/enroll --force/);
    expect(connections).toBe(before);
  });

  it('refuses a second enroll while one is pending, pointing at --resume', async () => {
    await fs.chmod(tmp, 0o700);
    await writeEnrollment(statePaths(tmp), {
      version: 1,
      server: 'https://edge.example.com',
      site_code: 'ACME',
      method: 'pairing_code',
      enrollment_id: ENROLLMENT_ID,
      challenge: `${'c'.repeat(43)}=`,
      challenge_expires_at: '2026-11-22T18:05:00.000Z',
      poll_token: POLL_TOKEN,
      poll_interval: 5,
      fingerprint: FINGERPRINT,
      hostname: 'vma-01',
      started_at: '2026-11-22T18:00:00.000Z',
      tls: {},
    });
    const { code, err } = await cli(enrollArgs('AX7K-PJ3F-TH2Q'));
    expect(code).toBe(ExitCode.AlreadyEnrolled);
    expect(err).toMatch(/enroll --resume/);
    const status = await cli(['status', '--state-dir', tmp]);
    expect(status.code).toBe(ExitCode.NotEnrolled);
    expect(status.out).toMatch(new RegExp(`Pending: +enrollment ${ENROLLMENT_ID}`));
    expect(status.out).not.toContain(POLL_TOKEN);
  });

  it('says there is nothing to resume in an empty state directory', async () => {
    const { code, err } = await cli(['enroll', '--resume', '--state-dir', tmp]);
    expect(code).toBe(ExitCode.NotEnrolled);
    expect(err).toMatch(/No enrollment to resume/);
  });

  it('reports "not enrolled" with exit 10', async () => {
    const { code, out } = await cli(['status', '--state-dir', path.join(tmp, 'none')]);
    expect(code).toBe(ExitCode.NotEnrolled);
    expect(out).toMatch(/Not enrolled/);
  });

  it('documents every exit code in --help', async () => {
    const { code, out } = await cli(['--help']);
    expect(code).toBe(ExitCode.Ok);
    for (const [exit, meaning] of EXIT_CODE_HELP) expect(out).toContain(`${String(exit).padStart(3)}  ${meaning}`);
    expect((await cli(['enroll', '--help'])).out).toMatch(/--pin sha256:HEX/);
  });

  it('dispatches help per command and refuses an unknown command', async () => {
    expect((await cli(['help', 'status'])).out).toMatch(/airlock-agent status/);
    expect((await cli(['status', '--help'])).out).toMatch(/airlock-agent status/);
    const unknown = await cli(['frobnicate']);
    expect(unknown.code).toBe(ExitCode.Usage);
    expect(unknown.err).toMatch(/unknown command "frobnicate"; expected one of "enroll", "renew", "recover", "rotate-key", "status"/);
  });

  it('keeps every exit code distinct', () => {
    const codes = EXIT_CODE_HELP.map(([c]) => c);
    expect(new Set(codes).size).toBe(codes.length);
    expect(new Set(Object.values(ExitCode)).size).toBe(Object.values(ExitCode).length);
  });

  it('prints the version from package.json', async () => {
    const pkg = JSON.parse(await fs.readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(AGENT_VERSION).toBe(pkg.version);
    expect((await cli(['--version'])).out).toBe(`airlock-agent ${pkg.version}\n`);
  });

  it('machine-id --explain names the signals it used and never prints a raw id', async () => {
    const root = await fakeMachineRoot({ productUuid: '4C4C4544-0042-3510-8052-B4C04F384D32', boardSerial: 'Default string', machineId: 'c0ffee0123456789abcdef0123456789' });
    try {
      const plain = await cli(['machine-id'], { AIRLOCK_MACHINE_ROOT: root });
      expect(plain.code).toBe(ExitCode.Ok);
      expect(plain.out).toBe(`${(await deriveMachineUid(root))?.machineUid}\n`);
      const explained = await cli(['machine-id', '--explain'], { AIRLOCK_MACHINE_ROOT: root });
      expect(explained.out).toContain('used: product_uuid (/sys/class/dmi/id/product_uuid)');
      expect(explained.out).toContain('not used: board_serial (/sys/class/dmi/id/board_serial): a vendor placeholder');
      expect(explained.out).toContain('fallback: no');
      expect(explained.out + explained.err).not.toMatch(/4c4c4544|c0ffee/i);

      await writeMachine(root, { machineId: 'c0ffee0123456789abcdef0123456789' });
      const fallback = await cli(['machine-id', '--explain'], { AIRLOCK_MACHINE_ROOT: root });
      expect(fallback.out).toContain('used: machine_id (/etc/machine-id)');
      expect(fallback.out).toMatch(/fallback: No hardware id was readable/);
      expect(fallback.out).not.toMatch(/c0ffee/);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});
