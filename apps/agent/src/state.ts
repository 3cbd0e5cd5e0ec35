import { constants as fsConstants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as v from 'valibot';
import type { TlsFlags } from './args.ts';
import { credentialsCredPath, isSealed, readSealed, writeSealed } from './sealed.ts';
import { AgentKeyValue, Challenge, ENROLLMENT_METHODS, Hostname, KeyFingerprint, MachineUid, PollInterval, PollToken, Rfc3339, SiteCodeStored, SshCredentials, Uuid } from '@airlock/schema';

/**
 * The state directory layout, shared with infra/agent/airlock-enroll.sh:
 *
 *   id_ed25519        0600  OpenSSH private key (usable with `ssh -i`)
 *   id_ed25519.pub    0644  its public line
 *   enrollment.json   0600  the enrollment waiting for approval (has the poll token)
 *   credentials.json  0600  what approval delivered (has the agent key)
 *   tls/cert.pem      0644  the agent's certificate from Airlock's CA (tls-files.ts)
 *   tls/ca.pem        0644  the CA bundle to trust peers with
 *   tls/key.pem       0600  the same Ed25519 key as id_ed25519, PKCS#8 PEM for TLS stacks
 *   tunnel-state.json 0600  written by `airlock-agent tunnel`, read by `status`
 *   renew.lock        0600  held while renew/recover runs
 *
 * Sealed (sealed.ts): `sealed` marks it, agent-key.cred replaces id_ed25519
 * (tls/key.pem is not written), credentials.cred holds the agent key and
 * credentials.json everything else.
 */
const FILES = {
  privateKey: 'id_ed25519',
  publicKey: 'id_ed25519.pub',
  enrollment: 'enrollment.json',
  credentials: 'credentials.json',
  tlsDir: 'tls',
  tunnelState: 'tunnel-state.json',
  renewLock: 'renew.lock',
} as const;

/** The state directory cannot be used safely; exit 1 with the reason. */
export class StateError extends Error {
  override readonly name = 'StateError';
}

/**
 * `/var/lib/airlock-agent` for root (an appliance service), otherwise the XDG
 * state directory so an unprivileged trial run never needs sudo.
 */
export const defaultStateDir = (env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? -1): string => {
  if (uid === 0) return '/var/lib/airlock-agent';
  const xdg = env.XDG_STATE_HOME;
  const base = xdg !== undefined && path.isAbsolute(xdg) ? xdg : path.join(env.HOME ?? os.homedir(), '.local', 'state');
  return path.join(base, 'airlock-agent');
};

/**
 * Creates the directory 0700, or tightens an existing one. Refuses a symlink
 * or a directory owned by someone else: either would let another local user
 * read the agent key or swap the files under us.
 */
export const ensureStateDir = async (dir: string): Promise<{ tightened: boolean }> => {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const info = await fs.lstat(dir);
  if (info.isSymbolicLink() || !info.isDirectory()) throw new StateError(`${dir} is not a directory (a symlink is not accepted)`);
  const uid = process.getuid?.();
  if (uid !== undefined && info.uid !== uid) {
    throw new StateError(`${dir} belongs to uid ${info.uid}, not to you (uid ${uid}); choose another --state-dir`);
  }
  if ((info.mode & 0o777) !== 0o700) {
    await fs.chmod(dir, 0o700);
    return { tightened: true };
  }
  return { tightened: false };
};

/**
 * Writes a secret so that a crash leaves either the old file or the complete
 * new one, never a torn or world-readable file: temp file created 0600 with
 * O_EXCL, fsync, rename over the target, fsync the directory.
 */
export const writeFileAtomic = async (file: string, content: string | Buffer, mode = 0o600): Promise<void> => {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(temp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, mode);
  try {
    await handle.writeFile(content);
    // The umask may have narrowed the mode further; make it exact either way.
    await handle.chmod(mode);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await fs.rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  const dirHandle = await fs.open(dir, fsConstants.O_RDONLY);
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
};

/** An absolute path we wrote ourselves; printable ASCII only, so it is safe to show and to write into JSON. */
const LocalPath = v.pipe(v.string(), v.maxLength(4096), v.regex(/^\/[\x20-\x7e]*$/));
/** The origin given to --server: scheme, host, port and nothing else. */
const ServerOrigin = v.pipe(v.string(), v.maxLength(300), v.regex(/^https?:\/\/[A-Za-z0-9.[\]:-]+$/));

const TlsState = v.object({
  ca_file: v.optional(LocalPath),
  pin: v.optional(v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/))),
  insecure: v.optional(v.boolean()),
});

/**
 * Everything `enroll --resume` needs; written after enroll and again after
 * verify. Read back with the same formats the server's answers were checked
 * against: the shell client writes these files too, and a tampered file must
 * not smuggle anything past what a server answer could.
 */
export const EnrollmentState = v.object({
  version: v.literal(1),
  server: ServerOrigin,
  site_code: SiteCodeStored,
  method: v.picklist(ENROLLMENT_METHODS),
  enrollment_id: Uuid,
  challenge: Challenge,
  challenge_expires_at: Rfc3339,
  poll_token: v.optional(PollToken),
  poll_interval: v.optional(PollInterval),
  fingerprint: KeyFingerprint,
  hostname: Hostname,
  machine_uid: v.optional(MachineUid),
  started_at: Rfc3339,
  tls: TlsState,
});
export type EnrollmentState = v.InferOutput<typeof EnrollmentState>;

/** Where the agent's certificate lives (tls/), and until when it is valid. */
export const CertificateState = v.object({
  cert_file: LocalPath,
  ca_file: LocalPath,
  key_file: LocalPath,
  expires_at: Rfc3339,
  /** When it was issued (renewal happens with a third of the lifetime left). */
  issued_at: Rfc3339,
});
export type CertificateState = v.InferOutput<typeof CertificateState>;

export const CredentialsState = v.object({
  version: v.literal(1),
  agent_id: Uuid,
  site_code: SiteCodeStored,
  agent_key: AgentKeyValue,
  server: ServerOrigin,
  fingerprint: KeyFingerprint,
  hostname: Hostname,
  machine_uid: v.optional(MachineUid),
  enrolled_at: Rfc3339,
  private_key_file: LocalPath,
  ssh: v.nullable(SshCredentials),
  /** How to reach the server (--ca-file, --pin, --insecure), as for enrollment.json. */
  tls: TlsState,
  /** The agent's own certificate from Airlock's CA; absent or null when none was issued. */
  certificate: v.optional(v.nullable(CertificateState), null),
  /** Last successful renew or recover. */
  renewed_at: v.optional(Rfc3339),
});
export type CredentialsState = v.InferOutput<typeof CredentialsState>;

export const statePaths = (dir: string) => ({
  dir,
  privateKey: path.join(dir, FILES.privateKey),
  publicKey: path.join(dir, FILES.publicKey),
  enrollment: path.join(dir, FILES.enrollment),
  credentials: path.join(dir, FILES.credentials),
  tlsDir: path.join(dir, FILES.tlsDir),
  tlsCert: path.join(dir, FILES.tlsDir, 'cert.pem'),
  tlsCa: path.join(dir, FILES.tlsDir, 'ca.pem'),
  tlsKey: path.join(dir, FILES.tlsDir, 'key.pem'),
  tunnelState: path.join(dir, FILES.tunnelState),
  renewLock: path.join(dir, FILES.renewLock),
});
export type StatePaths = ReturnType<typeof statePaths>;

const readJson = async <S extends v.GenericSchema>(file: string, schema: S): Promise<v.InferOutput<S> | null> => {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new StateError(`${file} is not valid JSON; move it away to start over`);
  }
  const result = v.safeParse(schema, data);
  if (!result.success) throw new StateError(`${file} is not in the expected format; move it away to start over`);
  return result.output;
};

export const readEnrollment = (paths: StatePaths) => readJson(paths.enrollment, EnrollmentState);

/** credentials.json as stored: without the agent key when the state is sealed. */
const StoredCredentials = v.object({ ...CredentialsState.entries, agent_key: v.optional(AgentKeyValue) });

/** Everything but the agent key, without decrypting anything (status). */
export const readCredentialsInfo = (paths: StatePaths) => readJson(paths.credentials, StoredCredentials);

/** The credentials with the agent key, decrypted from credentials.cred when the state is sealed. */
export const readCredentials = async (paths: StatePaths): Promise<CredentialsState | null> => {
  const stored = await readCredentialsInfo(paths);
  if (stored === null) return null;
  if (stored.agent_key !== undefined) return { ...stored, agent_key: stored.agent_key };
  const cred = credentialsCredPath(paths);
  const text = (await isSealed(paths)) ? await readSealed(cred, 'credentials') : null;
  if (text === null) throw new StateError(`${paths.credentials} holds no agent key and ${cred} is missing; enroll again (--force)`);
  const agentKey = v.safeParse(AgentKeyValue, text.trim());
  if (!agentKey.success) throw new StateError(`${cred} does not hold an agent key; enroll again (--force)`);
  return { ...stored, agent_key: agentKey.output };
};

export const writeEnrollment = (paths: StatePaths, state: EnrollmentState) =>
  writeFileAtomic(paths.enrollment, `${JSON.stringify(state, null, 2)}\n`);

/** Sealed: the agent key goes to credentials.cred first, credentials.json never holds it. */
export const writeCredentials = async (paths: StatePaths, state: v.InferInput<typeof CredentialsState>): Promise<void> => {
  let stored: v.InferInput<typeof StoredCredentials> = state;
  if (await isSealed(paths)) {
    const { agent_key: agentKey, ...rest } = state;
    await writeSealed(credentialsCredPath(paths), 'credentials', agentKey);
    stored = rest;
  }
  await writeFileAtomic(paths.credentials, `${JSON.stringify(stored, null, 2)}\n`);
};

export const removeEnrollment = async (paths: StatePaths): Promise<void> => {
  await fs.rm(paths.enrollment, { force: true });
};

/** Returns the file's permission bits, or null if it does not exist. */
export const fileMode = async (file: string): Promise<number | null> => {
  try {
    return (await fs.stat(file)).mode & 0o777;
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
};

export const isNotFound = (error: unknown): boolean =>
  typeof error === 'object' && error !== null && 'code' in error && error.code === 'ENOENT';

/** How to reach the server, as stored so `--resume` and `renew` need no flags. */
export const tlsToState = (tls: TlsFlags): EnrollmentState['tls'] => ({
  ...(tls.caFile !== undefined ? { ca_file: path.resolve(tls.caFile) } : {}),
  ...(tls.pin !== undefined ? { pin: tls.pin.toString('hex') } : {}),
  ...(tls.insecure ? { insecure: true } : {}),
});

/** The stored settings, with the flags given on this run taking precedence. */
export const tlsFromState = (stored: EnrollmentState['tls'], override: Partial<TlsFlags>): TlsFlags => {
  const tls: TlsFlags = { insecure: override.insecure ?? stored.insecure ?? false };
  const caFile = override.caFile ?? stored.ca_file;
  if (caFile !== undefined) tls.caFile = caFile;
  const pin = override.pin ?? (stored.pin !== undefined ? Buffer.from(stored.pin, 'hex') : undefined);
  if (pin !== undefined) tls.pin = pin;
  return tls;
};
