/**
 * Drives airlock-agent and airlock-enroll.sh as real child processes against
 * a real stack (test/helpers/stack.ts), and the operator side through the
 * admin API. Waits are on output, never on the clock.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { startStack, type Stack } from '../helpers/stack.ts';
import { REPO_ROOT, TSX } from '@airlock/testing';

export interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the first match of `pattern` in stdout+stderr; rejects if the process exits first. */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
  exit: Promise<number | null>;
}

const start = (command: string, args: string[], env: Record<string, string>): Run => {
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    // NO_COLOR and a pipe for stdout: the agent logs plain lines, which is also what an appliance's journal gets.
    // No proxy from the test runner's environment: the stack is on 127.0.0.1.
    env: { ...process.env, NO_COLOR: '1', AIRLOCK_ENROLLMENT_KEY: '', HTTPS_PROXY: '', https_proxy: '', HTTP_PROXY: '', http_proxy: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach((l) => l());
  child.stdout?.on('data', (d: Buffer) => ((out += d.toString()), notify()));
  child.stderr?.on('data', (d: Buffer) => ((err += d.toString()), notify()));
  const exit = new Promise<number | null>((resolve) => child.once('close', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exit,
    waitFor: (pattern) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const match = (out + err).match(pattern);
          if (match) {
            listeners.delete(check);
            resolve(match);
          }
        };
        listeners.add(check);
        check();
        void exit.then(() => {
          if (!listeners.has(check)) return;
          check();
          if (listeners.has(check)) {
            listeners.delete(check);
            reject(new Error(`exited before printing ${pattern}:\n--- stdout\n${out}\n--- stderr\n${err}`));
          }
        });
      }),
  };
};

export const runAgent = (args: string[], env: Record<string, string> = {}): Run =>
  start(TSX, ['apps/agent/src/main.ts', ...args], env);

/** Any executable, e.g. the bundled airlock-agent.mjs. */
export const runCommand = (file: string, args: string[], env: Record<string, string> = {}): Run => start(file, args, env);

export const runShellClient = (args: string[], env: Record<string, string> = {}): Run =>
  start('sh', ['infra/agent/airlock-enroll.sh', ...args], env);

const tempDirs: string[] = [];

export const tempStateDir = async (): Promise<string> => {
  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'airlock-agent-e2e-'));
  tempDirs.push(base);
  // A directory that does not exist yet: the client must create it 0700.
  return path.join(base, 'state');
};

/** For afterAll: the state directories hold real (test) keys and credentials. */
export const removeTempDirs = async (): Promise<void> => {
  await Promise.all(tempDirs.splice(0).map((dir) => fs.rm(dir, { recursive: true, force: true })));
};

export const fileMode = async (file: string): Promise<number> => (await fs.stat(file)).mode & 0o777;

/** A fresh site per test, so tests never see each other's enrollments. */
export const createSite = async (stack: Stack, policy: 'manual' | 'auto' = 'manual'): Promise<string> => {
  const siteCode = `AG-${randomBytes(4).toString('hex').toUpperCase()}`;
  const res = await stack.admin('POST', '/api/v1/admin/sites', { site_code: siteCode, name: `agent e2e ${siteCode}`, policy });
  if (res.status !== 201) throw new Error(`create site: ${res.status} ${JSON.stringify(res.body)}`);
  return siteCode;
};

export const createPairingCode = async (stack: Stack, siteCode: string): Promise<{ id: string; code: string }> => {
  const res = await stack.admin('POST', '/api/v1/admin/pairing-codes', { site_code: siteCode });
  if (res.status !== 201) throw new Error(`create code: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.id, code: res.body.code };
};

export const rotateEnrollmentKey = async (stack: Stack, siteCode: string): Promise<string> => {
  const res = await stack.admin('POST', `/api/v1/admin/sites/${siteCode}/enrollment-key`);
  if (res.status !== 201) throw new Error(`rotate key: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.key;
};

export interface EnrollmentRow {
  id: string;
  site_code: string;
  fingerprint: string;
  hostname: string;
  status: string;
}

export const enrollmentsOf = async (stack: Stack, siteCode: string): Promise<EnrollmentRow[]> => {
  const res = await stack.admin('GET', `/api/v1/admin/enrollments?site_code=${encodeURIComponent(siteCode)}&limit=500`);
  if (res.status !== 200) throw new Error(`list enrollments: ${res.status}`);
  return (res.body.items as EnrollmentRow[]).filter((e) => e.site_code === siteCode);
};

/** The operator's view: the enrollment whose fingerprint the agent told them to approve. */
export const enrollmentByFingerprint = async (stack: Stack, siteCode: string, fingerprint: string): Promise<EnrollmentRow> => {
  const found = (await enrollmentsOf(stack, siteCode)).find((e) => e.fingerprint === fingerprint);
  if (!found) throw new Error(`no enrollment with ${fingerprint} in ${siteCode}`);
  return found;
};

export const decide = async (stack: Stack, id: string, decision: 'approve' | 'reject', body: object = {}): Promise<void> => {
  const res = await stack.admin('POST', `/api/v1/admin/enrollments/${id}/${decision}`, body);
  if (res.status !== 200) throw new Error(`${decision}: ${res.status} ${JSON.stringify(res.body)}`);
};

/** Waits for the operator line and returns the fingerprint in it. */
export const approvalLine = async (run: Run, siteCode: string): Promise<string> => {
  const match = await run.waitFor(new RegExp(`Ask your operator to approve (SHA256:[A-Za-z0-9+/]{43}) \\([^,]+, ${siteCode}\\)`));
  const fingerprint = match[1];
  if (fingerprint === undefined) throw new Error('no fingerprint');
  return fingerprint;
};

/** `AB:CD:…` upper case, as openssl prints it: the form an administrator is most likely to paste. */
export const opensslPin = (hex: string): string => `sha256:${(hex.match(/../g) ?? []).join(':').toUpperCase()}`;

export const wrongPin = (hex: string): string => `sha256:${hex.slice(0, 62)}${hex.slice(62) === '00' ? '11' : '00'}`;

export const readJson = async (file: string): Promise<Record<string, unknown>> =>
  JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;

export const verifyAgentKey = async (stack: Stack, agentKey: string): Promise<{ status: number; body: unknown }> => {
  const res = await fetch(`${stack.apiUrl}/api/v1/internal/agent-keys/verify`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.serviceToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ agent_key: agentKey }),
  });
  return { status: res.status, body: await res.json() };
};


/**
 * The stack most agent tests want: TLS with a self-signed certificate (its
 * pin in openssl's form), 1 s polls, and the per-IP pairing limit raised
 * because every test enrolls from 127.0.0.1 (that limit has its own file).
 */
export const startAttendedStack = async (): Promise<{ stack: Stack; pin: string }> => {
  const stack = await startStack({
    tls: true,
    apiEnv: { AIRLOCK_POLL_INTERVAL_SECONDS: '1' },
    edgeEnv: { EDGE_LIMIT_ENROLL_PAIRING_PER_HOUR: '1000' },
  });
  return { stack, pin: opensslPin(stack.certSha256 ?? '') };
};

const standInCredsScript = (secret: string, log: string) => `#!/bin/sh
# stand-in systemd-creds: encrypt/decrypt [--with-key=...] [--name=...] IN|- OUT|-
printf '%s\\n' "$*" >>'${log}'
cmd=$1; shift
in=''; out=''
for a in "$@"; do case $a in --*) ;; *) if [ -z "$in" ]; then in=$a; else out=$a; fi ;; esac; done
[ "$in" = - ] || exec <"$in"
[ "$out" = - ] || exec >"$out"
case $cmd in
  encrypt) { printf 'airlock-test-sealed\\n'; cat; } | openssl enc -aes-256-cbc -pbkdf2 -salt -pass 'file:${secret}' ;;
  decrypt)
    t=$(mktemp)
    if openssl enc -d -aes-256-cbc -pbkdf2 -pass 'file:${secret}' >"$t" 2>/dev/null && [ "$(head -n 1 "$t")" = airlock-test-sealed ]; then
      tail -n +2 "$t"; rm -f "$t"
    else
      rm -f "$t"; echo 'Failed to decrypt the credential: Bad message' >&2; exit 1
    fi ;;
  *) echo "stand-in: $cmd not supported" >&2; exit 1 ;;
esac
`;

/**
 * A stand-in `systemd-creds` in `bin` for one "host": it "encrypts" with
 * openssl under a secret file of its own in `dir`, so what one host sealed
 * does not decrypt on another (like a TPM2 or host key). It appends its argv
 * to `log`, for checks that no secret travels on a command line.
 */
export const standInSystemdCreds = async (dir: string, bin: string): Promise<{ log: string }> => {
  const secret = path.join(dir, 'host-secret');
  const log = path.join(dir, 'creds.log');
  await fs.writeFile(secret, randomBytes(32).toString('hex'), { mode: 0o600 });
  await fs.writeFile(path.join(bin, 'systemd-creds'), standInCredsScript(secret, log), { mode: 0o755 });
  return { log };
};
