import { parseArgs } from 'node:util';
import { parsePin as parseSharedPin } from '@airlock/config';
import { describePairingCodeProblem, normalizePairingCode } from '@airlock/crypto';
import { Hostname, Labels, MachineUid, SiteCode } from '@airlock/schema';
import * as v from 'valibot';

/** A mistake in how the command was called; always exit code 2 with a one-line fix. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Neither --code nor --enrollment-key: on a terminal the CLI asks for the code instead. */
export class MissingCredentialError extends UsageError {}

export interface TlsFlags {
  /** PEM bundle added to the trust store; normal chain and hostname checks still apply. */
  caFile?: string;
  /** SHA-256 of the server certificate's DER encoding (32 bytes). */
  pin?: Buffer;
  insecure: boolean;
}

export type EnrollCredential =
  | { method: 'pairing_code'; pairingCode: string }
  | { method: 'enrollment_key'; enrollmentKey: string; machineUid?: string };

export interface EnrollCommand {
  kind: 'enroll';
  server: URL;
  site: string;
  credential: EnrollCredential;
  name?: string;
  labels: Record<string, string>;
  stateDir?: string;
  tls: TlsFlags;
  timeoutMs: number;
  force: boolean;
  /** Ask for a certificate from Airlock's CA (a CSR for the agent's key); on unless --no-tls. */
  certificate: boolean;
}

export interface ResumeCommand {
  kind: 'resume';
  stateDir?: string;
  /** Only the flags given on this run; the rest come from enrollment.json. */
  tls: Partial<TlsFlags>;
  timeoutMs: number;
}

export const DEFAULT_TIMEOUT_MS = 30 * 60 * 1000;

// The api's own request schemas (@airlock/schema) decide what is valid, so the
// agent refuses locally exactly what the api would; the messages are the CLI's.
const MAX_LABELS = 16;

const ENROLL_OPTIONS = {
  server: { type: 'string' },
  site: { type: 'string' },
  code: { type: 'string' },
  'enrollment-key': { type: 'string' },
  'machine-uid': { type: 'string' },
  name: { type: 'string' },
  label: { type: 'string', multiple: true },
  'state-dir': { type: 'string' },
  'ca-file': { type: 'string' },
  pin: { type: 'string' },
  insecure: { type: 'boolean' },
  timeout: { type: 'string' },
  force: { type: 'boolean' },
  resume: { type: 'boolean' },
  'no-tls': { type: 'boolean' },
} as const;

/**
 * Turns the flags of `airlock-agent enroll` into a command, validating
 * everything that can be checked locally, so a typo never costs a network
 * round trip or a rate-limit slot. `env` supplies AIRLOCK_ENROLLMENT_KEY,
 * which keeps the site key out of `ps` output.
 *
 * @example
 *   parseEnrollArgs(['--server', 'https://edge.example', '--site', 'acme', '--code', 'ax7k pj3f th2q'], {})
 */
export const parseEnrollArgs = (argv: readonly string[], env: NodeJS.ProcessEnv): EnrollCommand | ResumeCommand => {
  const { values } = parseStrict(argv, ENROLL_OPTIONS, 'enroll');
  const timeoutMs = values.timeout === undefined ? DEFAULT_TIMEOUT_MS : parseDuration(values.timeout);
  const tls = parseTlsFlags(values);

  if (values.resume) {
    const clashing = (['server', 'site', 'code', 'enrollment-key', 'machine-uid', 'name', 'label', 'force', 'no-tls'] as const).filter(
      (flag) => values[flag] !== undefined,
    );
    if (clashing.length > 0) {
      throw new UsageError(
        `--resume continues the stored enrollment and cannot be combined with ${clashing.map((f) => `--${f}`).join(', ')}`,
      );
    }
    const resume: ResumeCommand = { kind: 'resume', tls: {}, timeoutMs };
    if (tls.caFile !== undefined) resume.tls.caFile = tls.caFile;
    if (tls.pin !== undefined) resume.tls.pin = tls.pin;
    if (values.insecure) resume.tls.insecure = true;
    return withStateDir(resume, values['state-dir']);
  }

  if (values.server === undefined) throw new UsageError('--server is required, e.g. --server https://airlock.example.com');
  if (values.site === undefined) throw new UsageError('--site is required, e.g. --site ACME-PHX');
  const server = parseServerUrl(values.server, tls.insecure);
  if (server.protocol === 'http:' && (tls.pin !== undefined || tls.caFile !== undefined)) {
    throw new UsageError('--pin and --ca-file apply to https:// servers only');
  }
  const site = parseSiteCode(values.site);
  const credential = parseCredential(values, env);

  const command: EnrollCommand = {
    kind: 'enroll',
    server,
    site,
    credential,
    labels: parseLabels(values.label ?? []),
    tls,
    timeoutMs,
    force: values.force ?? false,
    certificate: values['no-tls'] !== true,
  };
  if (values.name !== undefined) command.name = parseHostname(values.name, '--name');
  return withStateDir(command, values['state-dir']);
};

const parseCredential = (
  values: { code?: string; 'enrollment-key'?: string; 'machine-uid'?: string },
  env: NodeJS.ProcessEnv,
): EnrollCredential => {
  const envKey = env.AIRLOCK_ENROLLMENT_KEY?.trim() || undefined;
  if (values.code !== undefined && values['enrollment-key'] !== undefined) {
    throw new UsageError('give either --code (attended) or --enrollment-key (zero-touch), not both');
  }
  if (values.code !== undefined) {
    if (values['machine-uid'] !== undefined) {
      // Allowed by the contract, but only meaningful for zero-touch; accepting it silently would hide a mix-up.
      throw new UsageError('--machine-uid is only used with --enrollment-key');
    }
    return { method: 'pairing_code', pairingCode: parsePairingCode(values.code) };
  }
  const enrollmentKey = values['enrollment-key'] ?? envKey;
  if (enrollmentKey === undefined) {
    throw new MissingCredentialError(
      'give --code XXXX-XXXX-XXXX (from your operator) or --enrollment-key cek_… (or AIRLOCK_ENROLLMENT_KEY) for zero-touch',
    );
  }
  if (!/^cek_[A-Za-z0-9_-]{16,}$/.test(enrollmentKey)) {
    throw new UsageError('the enrollment key should look like cek_… (copy it exactly as the administrator gave it)');
  }
  const credential: EnrollCredential = { method: 'enrollment_key', enrollmentKey };
  const uid = values['machine-uid'];
  if (uid !== undefined) {
    if (!v.is(MachineUid, uid)) throw new UsageError('--machine-uid must be 8-128 characters of A-Z a-z 0-9 . _ : -');
    credential.machineUid = uid;
  }
  return credential;
};

/** Normalises the code locally and explains exactly what is wrong with a typo. */
export const parsePairingCode = (input: string): string => {
  const canonical = normalizePairingCode(input);
  if (canonical !== null) return canonical;
  const problem = describePairingCodeProblem(input) ?? 'is not a valid pairing code';
  throw new UsageError(
    `the pairing code ${problem}. Nothing was sent; check the code with your operator (format XXXX-XXXX-XXXX, e.g. AX7K-PJ3F-TH2Q).`,
  );
};

const parseSiteCode = (input: string): string => {
  const site = v.safeParse(SiteCode, input.trim());
  if (!site.success) {
    throw new UsageError('--site must be 2-32 characters of A-Z, 0-9 and -, starting with a letter or digit');
  }
  return site.output;
};

/**
 * The edge matches request targets byte for byte, so a base path would never
 * match; only scheme, host and port are meaningful.
 */
const parseServerUrl = (input: string, insecure: boolean): URL => {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new UsageError(`--server must be a URL like https://airlock.example.com[:port], got "${input}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UsageError('--server must start with https://');
  }
  if (url.protocol === 'http:' && !insecure) {
    throw new UsageError(
      'refusing plain http:// — the pairing code and your credentials would cross the network unencrypted. Use https:// (or --insecure for a lab)',
    );
  }
  if (url.username !== '' || url.password !== '') throw new UsageError('--server must not contain a user name or password');
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    throw new UsageError('--server takes only scheme, host and port, e.g. https://airlock.example.com:8443');
  }
  return new URL(url.origin);
};

/** RFC 1123 host name, as the contract requires for `hostname`. */
export const isValidHostname = (name: string): boolean => v.is(Hostname, name);

const parseHostname = (input: string, flag: string): string => {
  if (!isValidHostname(input)) {
    throw new UsageError(`${flag} must be a host name: letters, digits and hyphens, dot-separated, at most 253 characters`);
  }
  return input;
};

const parseLabels = (items: readonly string[]): Record<string, string> => {
  if (items.length > MAX_LABELS) throw new UsageError(`at most ${MAX_LABELS} --label flags`);
  const labels: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? '' : item.slice(eq + 1);
    // The key alone first (with an empty value, always valid), then key and value.
    if (eq < 0 || !v.is(Labels, { [key]: '' })) throw new UsageError(`--label must be key=value with key [a-z0-9_.-]{1,32}, got "${item}"`);
    if (!v.is(Labels, { [key]: value })) throw new UsageError(`--label ${key}: value must be at most 128 printable characters`);
    labels[key] = value;
  }
  return labels;
};

/**
 * Accepts every way people paste a certificate fingerprint: `sha256:AB:CD…`,
 * bare hex with or without colons, any case, or the whole
 * `sha256 Fingerprint=AB:CD:…` line that openssl prints.
 *
 * @example
 *   parsePin('sha256:ab:cd:…') // => 32-byte Buffer
 */
export const parsePin = (input: string): Buffer => {
  const hex = parseSharedPin(input);
  if (hex === null) {
    throw new UsageError(
      '--pin must be sha256: followed by the 64 hex digits of the certificate fingerprint (colons optional), as printed by `openssl x509 -noout -fingerprint -sha256`',
    );
  }
  return Buffer.from(hex, 'hex');
};

/** `90`, `90s`, `15m`, `2h`; the timeout for waiting on approval. */
export const parseDuration = (input: string): number => {
  const match = /^(\d+)\s*(s|m|h)?$/i.exec(input.trim());
  const amount = match?.[1];
  if (!match || amount === undefined || Number(amount) <= 0) {
    throw new UsageError(`--timeout must be a positive duration like 600, 90s, 30m or 2h, got "${input}"`);
  }
  const unit = (match[2] ?? 's').toLowerCase();
  const seconds = Number(amount) * (unit === 'h' ? 3600 : unit === 'm' ? 60 : 1);
  return seconds * 1000;
};

const parseTlsFlags = (values: { 'ca-file'?: string; pin?: string; insecure?: boolean }): TlsFlags => {
  const tls: TlsFlags = { insecure: values.insecure ?? false };
  if (values['ca-file'] !== undefined) tls.caFile = values['ca-file'];
  if (values.pin !== undefined) tls.pin = parsePin(values.pin);
  return tls;
};

export const withStateDir = <T extends { stateDir?: string }>(command: T, stateDir: string | undefined): T => {
  if (stateDir === undefined) return command;
  if (stateDir.trim() === '') throw new UsageError('--state-dir must not be empty');
  return { ...command, stateDir };
};

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;

export const parseStrict = <O extends OptionSpec>(argv: readonly string[], options: O, command: string) => {
  try {
    const parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false });
    return parsed;
  } catch (error) {
    // node:util's messages are good ("Unknown option '--cod'"); add where to look next.
    const message = error instanceof Error ? error.message : String(error);
    throw new UsageError(`${message} (see airlock-agent ${command} --help)`);
  }
};
