import { buildAgentCsr } from '@airlock/crypto';
import * as path from 'node:path';
import * as v from 'valibot';
import { UsageError, parsePin, parseStrict, withStateDir, type TlsFlags } from '../args.ts';
import { proveKey } from '../agent-proof.ts';
import { connectTo, refuse, resolveStatePaths, stateDirFlag, warnInsecure, type CommandContext } from '../context.ts';
import { ExitCode } from '../exit-codes.ts';
import type { HttpResponse } from '../http.ts';
import { loadKey, privateKeyFile, type AgentKey } from '../keys.ts';
import { acquireRenewLock } from '../lock.ts';
import { AgentCredentials, ProtocolError, errorCodeOf, explainResponse } from '../protocol.ts';
import {
  StateError,
  ensureStateDir,
  readCredentials,
  readEnrollment,
  removeEnrollment,
  tlsFromState,
  writeCredentials,
  writeFileAtomic,
  type CertificateState,
  type CredentialsState,
  type EnrollmentState,
  type StatePaths,
} from '../state.ts';
import { writeTlsFiles } from '../tls-files.ts';
import { AGENT_VERSION } from '../version.ts';
import type { AgentCommand } from './types.ts';

/**
 * `airlock-agent renew`: proves the enrolled key to the server
 * (POST /api/v1/agent/challenge, sign, POST /api/v1/agent/credentials) and
 * stores what comes back: a fresh certificate when the stored one has less
 * than a third of its lifetime left (or --force), a new cak_ with
 * --rotate-key. With nothing due it does nothing and touches no network, so a
 * systemd timer can run it as often as it likes. `recover` (recover.ts) is
 * this with --rotate-key, and also works from enrollment.json when the status
 * answer that carried the credentials was lost.
 */

export interface RenewOptions {
  stateDir?: string;
  rotateKey: boolean;
  force: boolean;
  /** true: ask for a certificate even if none is stored; false: never (--no-tls); undefined: renew the stored one. */
  certificate?: boolean;
  /** Connection flags given on this run; the rest come from the state files. */
  tls: Partial<TlsFlags>;
  /** `recover`: credentials.json may be missing; enrollment.json and the key are enough. */
  recover: boolean;
}

export const RENEW_OPTIONS = {
  'state-dir': { type: 'string' },
  'rotate-key': { type: 'boolean' },
  force: { type: 'boolean' },
  tls: { type: 'boolean' },
  'no-tls': { type: 'boolean' },
  'ca-file': { type: 'string' },
  pin: { type: 'string' },
  insecure: { type: 'boolean' },
} as const;

/** The flags renew and recover share. */
export const parseRenewFlags = (values: {
  'state-dir'?: string;
  'rotate-key'?: boolean;
  force?: boolean;
  tls?: boolean;
  'no-tls'?: boolean;
  'ca-file'?: string;
  pin?: string;
  insecure?: boolean;
}): Omit<RenewOptions, 'recover'> => {
  const tls: Partial<TlsFlags> = {};
  if (values['ca-file'] !== undefined) tls.caFile = values['ca-file'];
  if (values.pin !== undefined) tls.pin = parsePin(values.pin);
  if (values.insecure) tls.insecure = true;
  const options: Omit<RenewOptions, 'recover'> = { rotateKey: values['rotate-key'] ?? false, force: values.force ?? false, tls };
  if (values.tls && values['no-tls']) throw new UsageError('give --tls or --no-tls, not both');
  if (values.tls) options.certificate = true;
  if (values['no-tls']) options.certificate = false;
  return withStateDir(options, values['state-dir']);
};

const HELP = `Renew this agent's certificate and, when asked, rotate its agent key.

  airlock-agent renew [--state-dir DIR] [--rotate-key] [--force] [--tls | --no-tls]

Proves the enrolled key to the server and stores what comes back. The
certificate (tls/cert.pem) is renewed when less than a third of its lifetime
is left; otherwise nothing happens and nothing is sent, so it is safe to run
from a timer (infra/systemd/airlock-agent-renew.timer).

  --rotate-key   also get a new agent key (cak_); the previous one stops working at once
  --force        renew the certificate now, whatever its age
  --tls          ask for a certificate although none is stored yet
  --no-tls       do not ask for a certificate
  --state-dir, --ca-file, --pin, --insecure   as for enroll (stored ones apply by default)

Exit codes: 0 renewed or nothing due, 5 refused (revoked agent or unknown key),
6 rate limited, 7 network/TLS, 10 not enrolled, 12 another renew is running,
1 unexpected.
`;

export const renewCommand: AgentCommand = {
  name: 'renew',
  summary: 'renew the certificate (when due) and, with --rotate-key, the agent key',
  help: () => HELP,
  run: async (argv, ctx) => {
    const { values } = parseStrict(argv, RENEW_OPTIONS, 'renew');
    return runRenew({ ...parseRenewFlags(values), recover: false }, ctx);
  },
};

const renewWindowOpen = (certificate: CertificateState, now: number): boolean => {
  const issued = Date.parse(certificate.issued_at);
  const expires = Date.parse(certificate.expires_at);
  return expires - now < (expires - issued) / 3;
};

const renewsAfter = (certificate: CertificateState): string => {
  const issued = Date.parse(certificate.issued_at);
  const expires = Date.parse(certificate.expires_at);
  return new Date(expires - (expires - issued) / 3).toISOString();
};

export const runRenew = async (opts: RenewOptions, ctx: CommandContext): Promise<ExitCode> => {
  const { progress } = ctx;
  const paths = resolveStatePaths(opts.stateDir);
  await ensureStateDir(paths.dir);
  const lock = await acquireRenewLock(paths);
  if ('heldBy' in lock) {
    return refuse(progress, {
      exitCode: ExitCode.Busy,
      title: `Another renew or recover is running on ${paths.dir}${lock.heldBy > 0 ? ` (pid ${lock.heldBy})` : ''}.`,
      action: 'Let it finish, then run this again if it is still needed.',
    });
  }
  try {
    const stored = await readCredentials(paths);
    if (stored === null) return await fromEnrollment(opts, paths, ctx);
    return await renewStored(stored, opts, paths, ctx);
  } finally {
    await lock.release();
  }
};

const requireKey = async (paths: StatePaths, fingerprint: string, hostname: string): Promise<AgentKey> => {
  const key = await loadKey(paths, hostname);
  if (key === null) {
    throw new StateError(`${await privateKeyFile(paths)} is missing; only the enrolled key can renew or recover, so this machine must enroll again`);
  }
  if (key.fingerprint !== fingerprint) {
    throw new StateError(`${await privateKeyFile(paths)} (${key.fingerprint}) is not the enrolled key (${fingerprint})`);
  }
  return key;
};

const renewStored = async (stored: CredentialsState, opts: RenewOptions, paths: StatePaths, ctx: CommandContext): Promise<ExitCode> => {
  const { progress } = ctx;
  const now = (ctx.now ?? Date.now)();
  const wantCertificate = opts.certificate ?? stored.certificate !== null;
  const certificateDue =
    wantCertificate && (opts.force || stored.certificate === null || renewWindowOpen(stored.certificate, now));
  if (!certificateDue && !opts.rotateKey) {
    if (stored.certificate !== null && wantCertificate) {
      progress.ok(`Certificate valid until ${stored.certificate.expires_at}; renews after ${renewsAfter(stored.certificate)}. Nothing to do.`);
    } else {
      progress.ok('No certificate to renew (enrolled without one; add --tls to ask for one). Nothing to do.');
    }
    return ExitCode.Ok;
  }

  const key = await requireKey(paths, stored.fingerprint, stored.hostname);
  const server = new URL(stored.server);
  const tls = tlsFromState(stored.tls, opts.tls);
  warnInsecure(progress, server, tls);
  const client = await connectTo(server, tls, ctx.env);
  const csr = certificateDue ? await buildAgentCsr(key.secretKey, stored.hostname) : undefined;
  const response = await proveKey(client, key, { rotateAgentKey: opts.rotateKey, ...(csr !== undefined ? { csr } : {}) });
  if (response.status !== 200) return refuseRenewal(response, ctx, paths);
  const answer = await parseAnswer(response, opts.rotateKey, paths);

  let next: CredentialsState = {
    ...stored,
    agent_id: answer.agent_id,
    site_code: answer.site_code,
    agent_key: answer.credentials.agent_key ?? stored.agent_key,
    ssh: answer.credentials.ssh,
    renewed_at: new Date(now).toISOString(),
  };
  // A rotated key is delivered once and the old one is already dead: store it before anything else.
  if (answer.credentials.agent_key !== null) await writeCredentials(paths, next);
  if (answer.credentials.tls !== null) next = { ...next, certificate: await writeTlsFiles(paths, answer.credentials.tls, key) };
  await writeCredentials(paths, next);

  if (answer.credentials.agent_key !== null) progress.ok(`Agent key rotated; the previous one no longer works (stored in ${paths.credentials}, not shown)`);
  if (answer.credentials.tls !== null && next.certificate) {
    progress.ok(`Certificate renewed, valid until ${next.certificate.expires_at} (${paths.tlsCert})`);
  } else if (csr !== undefined) {
    progress.warn('The server sent no certificate although one was asked for; the stored one is unchanged.');
  }
  return ExitCode.Ok;
};

/**
 * credentials.json is missing. With `recover`, enrollment.json and the key are
 * enough: the status answer carrying the credentials was lost after the
 * server had already handed them out (410 credentials_already_issued), so
 * the agent proves its key, gets a new cak_ (the lost one is retired) and a
 * certificate, and is whole again.
 */
const fromEnrollment = async (opts: RenewOptions, paths: StatePaths, ctx: CommandContext): Promise<ExitCode> => {
  const { progress } = ctx;
  const enrollment = opts.recover ? await readEnrollment(paths) : null;
  if (enrollment === null) {
    return refuse(progress, {
      exitCode: ExitCode.NotEnrolled,
      title: `Not enrolled: no credentials in ${paths.dir}${opts.recover ? ' and no enrollment to recover from' : ''}.`,
      action: opts.recover
        ? 'Enroll this machine with airlock-agent enroll.'
        : `If an enrollment was approved but its credentials never arrived, run airlock-agent recover${stateDirFlag(paths)}; otherwise enroll.`,
    });
  }
  const key = await requireKey(paths, enrollment.fingerprint, enrollment.hostname);
  const server = new URL(enrollment.server);
  const tls = tlsFromState(enrollment.tls, opts.tls);
  warnInsecure(progress, server, tls);
  progress.info(`Recovering the credentials of ${enrollment.hostname} (${enrollment.fingerprint}) from ${enrollment.server}`);
  const client = await connectTo(server, tls, ctx.env);
  const csr = opts.certificate === false ? undefined : await buildAgentCsr(key.secretKey, enrollment.hostname);
  const response = await proveKey(client, key, { rotateAgentKey: true, ...(csr !== undefined ? { csr } : {}) });
  if (response.status !== 200) return refuseRenewal(response, ctx, paths, enrollment);
  const answer = await parseAnswer(response, true, paths);
  const agentKey = answer.credentials.agent_key;
  if (agentKey === null) throw new ProtocolError('the server did not send the new agent key it was asked for');
  const now = new Date((ctx.now ?? Date.now)()).toISOString();
  let credentials: CredentialsState = {
    version: 1,
    agent_id: answer.agent_id,
    site_code: answer.site_code,
    agent_key: agentKey,
    server: enrollment.server,
    fingerprint: key.fingerprint,
    hostname: enrollment.hostname,
    ...(enrollment.machine_uid !== undefined ? { machine_uid: enrollment.machine_uid } : {}),
    enrolled_at: now,
    private_key_file: await privateKeyFile(paths),
    ssh: answer.credentials.ssh,
    tls: enrollment.tls,
    certificate: null,
    renewed_at: now,
  };
  await writeCredentials(paths, credentials);
  await removeEnrollment(paths);
  if (answer.credentials.tls !== null) {
    credentials = { ...credentials, certificate: await writeTlsFiles(paths, answer.credentials.tls, key) };
    await writeCredentials(paths, credentials);
  }
  progress.ok(`Recovered: agent ${answer.agent_id} of site ${answer.site_code}, with a new agent key (stored in ${paths.credentials}, not shown)`);
  if (credentials.certificate) progress.ok(`Certificate valid until ${credentials.certificate.expires_at} (${paths.tlsCert})`);
  return ExitCode.Ok;
};

/** Checks the 200's shape; a rotated key that arrives in an off-contract answer is kept aside rather than lost. */
const parseAnswer = async (response: HttpResponse, rotated: boolean, paths: StatePaths): Promise<AgentCredentials> => {
  const parsed = v.safeParse(AgentCredentials, response.json);
  if (parsed.success) return parsed.output;
  const field = v.getDotPath(parsed.issues[0]) ?? 'the body';
  if (rotated) {
    const rescue = path.join(paths.dir, 'credentials.unparsed.json');
    await writeFileAtomic(rescue, `${JSON.stringify(response.json, null, 2)}\n`);
    throw new ProtocolError(`the server's credentials are off the contract (${field} is missing or malformed); what it sent was saved to ${rescue} (0600)`);
  }
  throw new ProtocolError(`the server's answer to the credentials request is off the contract (${field} is missing or malformed)`);
};

const refuseRenewal = (response: HttpResponse, ctx: CommandContext, paths: StatePaths, enrollment?: EnrollmentState): ExitCode => {
  const code = errorCodeOf(response);
  if (response.status === 404 || code === 'not_found') {
    return refuse(ctx.progress, {
      exitCode: ExitCode.Usage,
      title: 'The server does not offer agent renewal (the v1.1 agent routes), or an edge in front of it does not forward them.',
      action: `Ask your operator to upgrade Airlock (api and edge). This agent is ${AGENT_VERSION}.`,
    });
  }
  if (code === 'agent_denied' && enrollment !== undefined) {
    return refuse(ctx.progress, {
      exitCode: ExitCode.Denied,
      title: 'The server did not accept this machine\'s key as an enrolled agent.',
      detail: 'The enrollment may still be waiting for approval, may have been rejected, or the agent was revoked.',
      action: `If it is still waiting, run airlock-agent enroll --resume${stateDirFlag(paths)}; otherwise ask your operator.`,
    });
  }
  return refuse(ctx.progress, explainResponse(response, { phase: 'renew', site: '' }));
};
