import * as path from 'node:path';
import { buildAgentCsr, signRekey } from '@airlock/crypto';
import { DEFAULT_TIMEOUT_MS, UsageError, parsePairingCode, parsePin, parseStrict, withStateDir, type TlsFlags } from '../args.ts';
import { connectTo, refuse, resolveStatePaths, stateDirFlag, warnInsecure, type CommandContext } from '../context.ts';
import { verify, waitForApproval } from '../enrollment.ts';
import { ExitCode } from '../exit-codes.ts';
import { generateKeyAt, loadKey, privateKeyFile, promoteKey } from '../keys.ts';
import { sealedKeyPath } from '../sealed.ts';
import { acquireRenewLock } from '../lock.ts';
import { EnrollCreated, expectShape, explainResponse } from '../protocol.ts';
import { ensureStateDir, readCredentials, removeEnrollment, tlsFromState, writeCredentials, writeEnrollment, type EnrollmentState } from '../state.ts';
import { AGENT_VERSION } from '../version.ts';
import { requestEnrollment } from './enroll.ts';
import type { AgentCommand } from './types.ts';
import * as fs from 'node:fs/promises';

const OPTIONS = {
  'state-dir': { type: 'string' },
  'enrollment-key': { type: 'string' },
  code: { type: 'string' },
  'no-tls': { type: 'boolean' },
  'ca-file': { type: 'string' },
  pin: { type: 'string' },
  insecure: { type: 'boolean' },
} as const;

const HELP = `Replace this agent's Ed25519 key with a new one, with no operator.

  airlock-agent rotate-key [--state-dir DIR] [--enrollment-key cek_… | --code XXXX-XXXX-XXXX]

Makes a new key, enrolls it under this machine's uid with the site's
enrollment key (or AIRLOCK_ENROLLMENT_KEY, or a pairing code), and signs the
change with the current key (the re-key proof). The server approves it at
once: same agent id, new key and agent key; the old key and agent key stop
working at once. Needs a machine uid in credentials.json (a zero-touch
enrollment); an agent enrolled with a pairing code alone enrolls again with
--force instead, which an operator approves.

  --no-tls       do not ask for a certificate for the new key (asked when one is held)
  --state-dir, --ca-file, --pin, --insecure   as for enroll (stored ones apply by default)

Exit codes: 0 rotated, 2 usage, 5 refused, 6 rate limited, 7 network/TLS,
10 not enrolled, 12 a renew or rotation is running, 1 unexpected.
`;

/** `airlock-agent rotate-key`: a new Ed25519 key, approved by the old one's re-key proof (issue 22). */
export const rotateKeyCommand: AgentCommand = {
  name: 'rotate-key',
  summary: 'replace the Ed25519 key with a new one, approved by the old key (no operator)',
  help: () => HELP,
  run: async (argv, ctx) => {
    const { values } = parseStrict(argv, OPTIONS, 'rotate-key');
    const tlsOverride: Partial<TlsFlags> = {};
    if (values['ca-file'] !== undefined) tlsOverride.caFile = values['ca-file'];
    if (values.pin !== undefined) tlsOverride.pin = parsePin(values.pin);
    if (values.insecure) tlsOverride.insecure = true;
    const credential = parseCredential(values, ctx.env);
    const { stateDir } = withStateDir<{ stateDir?: string }>({}, values['state-dir']);
    return rotate(ctx, { stateDir, credential, tlsOverride, certificate: values['no-tls'] !== true });
  },
};

type Credential = { pairing_code: string } | { enrollment_key: string };

const parseCredential = (values: { code?: string; 'enrollment-key'?: string }, env: NodeJS.ProcessEnv): Credential => {
  if (values.code !== undefined && values['enrollment-key'] !== undefined) throw new UsageError('give --enrollment-key or --code, not both');
  if (values.code !== undefined) return { pairing_code: parsePairingCode(values.code) };
  const key = values['enrollment-key'] ?? (env.AIRLOCK_ENROLLMENT_KEY?.trim() || undefined);
  if (key === undefined) throw new UsageError('give --enrollment-key cek_… (or AIRLOCK_ENROLLMENT_KEY), or --code XXXX-XXXX-XXXX: enrolling the new key needs one');
  if (!/^cek_[A-Za-z0-9_-]{16,}$/.test(key)) throw new UsageError('the enrollment key should look like cek_… (copy it exactly as the administrator gave it)');
  return { enrollment_key: key };
};

const rotate = async (
  ctx: CommandContext,
  opts: { stateDir: string | undefined; credential: Credential; tlsOverride: Partial<TlsFlags>; certificate: boolean },
): Promise<ExitCode> => {
  const { progress } = ctx;
  const paths = resolveStatePaths(opts.stateDir);
  await ensureStateDir(paths.dir);
  const credentials = await readCredentials(paths);
  if (credentials === null) {
    return refuse(progress, { exitCode: ExitCode.NotEnrolled, title: `Not enrolled: no credentials in ${paths.dir}.`, action: 'Enroll this machine with airlock-agent enroll.' });
  }
  if (credentials.machine_uid === undefined) {
    return refuse(progress, {
      exitCode: ExitCode.Usage,
      title: 'This agent has no machine uid (it enrolled with a pairing code), so the server cannot match a new key to it.',
      action: `Enroll again with airlock-agent enroll --force${stateDirFlag(paths)} (an operator approves it), or enroll zero-touch once.`,
    });
  }
  const current = await loadKey(paths, credentials.hostname);
  if (current === null || current.fingerprint !== credentials.fingerprint) {
    return refuse(progress, {
      exitCode: ExitCode.Internal,
      title: `${await privateKeyFile(paths)} is missing or is not the enrolled key (${credentials.fingerprint}).`,
      action: 'Restore the enrolled key; without it only an operator can re-enroll this machine.',
    });
  }
  const lock = await acquireRenewLock(paths);
  if ('heldBy' in lock) {
    return refuse(progress, { exitCode: ExitCode.Busy, title: `A renew, recover or rotate-key is running on ${paths.dir}.`, action: 'Let it finish, then run this again.' });
  }
  const nextFile = path.join(paths.dir, 'id_ed25519.next');
  // Set while a verify may have been approved without this process learning it (a lost answer):
  // the new key is then the only one the server accepts, so id_ed25519.next is kept.
  let outcomeUnknown = false;
  try {
    const server = new URL(credentials.server);
    const tls = tlsFromState(credentials.tls, opts.tlsOverride);
    warnInsecure(progress, server, tls);
    progress.plain(`airlock-agent ${AGENT_VERSION}: rotating the key of agent ${credentials.agent_id} (${credentials.fingerprint})`);
    const next = await generateKeyAt(paths, nextFile, credentials.hostname);
    progress.ok(`Generated a new Ed25519 key pair ${next.fingerprint} (${nextFile} until approved)`);
    const client = await connectTo(server, tls, ctx.env);
    const body: Record<string, unknown> = {
      site_code: credentials.site_code,
      public_key: next.publicLine,
      hostname: credentials.hostname,
      agent_version: AGENT_VERSION,
      machine_uid: credentials.machine_uid,
      ...opts.credential,
    };
    if (opts.certificate && credentials.certificate) body.csr = await buildAgentCsr(next.secretKey, credentials.hostname);
    const method = 'enrollment_key' in opts.credential ? 'enrollment_key' : 'pairing_code';
    const now = ctx.now ?? Date.now;
    const enrolled = await requestEnrollment(client, body, method, now() + DEFAULT_TIMEOUT_MS, paths, ctx);
    if (enrolled.status !== 201) return refuse(progress, explainResponse(enrolled, { method, site: credentials.site_code, phase: 'enroll' }));
    const created = expectShape(EnrollCreated, enrolled, 'enroll');
    const state: EnrollmentState = {
      version: 1,
      server: credentials.server,
      site_code: credentials.site_code,
      method,
      enrollment_id: created.enrollment_id,
      challenge: created.challenge,
      challenge_expires_at: created.expires_at,
      fingerprint: next.fingerprint,
      hostname: credentials.hostname,
      machine_uid: credentials.machine_uid,
      started_at: new Date(now()).toISOString(),
      tls: credentials.tls,
    };
    await writeEnrollment(paths, state);
    const proof = signRekey(current.secretKey, created.enrollment_id, created.challenge, next.fingerprint);
    outcomeUnknown = true;
    const verified = await verify(client, next, state, paths, ctx, proof);
    outcomeUnknown = false;
    if (typeof verified === 'number') return verified;
    if (!verified.approved) {
      // An api before issue 22 lets the site policy decide, or the proof was refused: nothing changed here.
      await removeEnrollment(paths);
      return refuse(progress, {
        exitCode: ExitCode.Denied,
        title: 'The server did not approve the new key at once; it holds it for an operator (an api older than this agent, or it refused the re-key proof).',
        detail: `The current key ${credentials.fingerprint} stays in use. The held enrollment is ${created.enrollment_id}.`,
        action: 'Ask your operator to reject that enrollment, and report this.',
      });
    }
    // Approved: the server already knows only the new key. Make it the agent's before anything else can fail,
    // so `recover` works with it even if the credentials below are lost.
    await promoteKey(paths, nextFile, next);
    await writeCredentials(paths, { ...credentials, fingerprint: next.fingerprint });
    const code = await waitForApproval(client, next, verified.state, paths, ctx, now() + DEFAULT_TIMEOUT_MS, 'Approved by the re-key proof of the previous key (no operator)');
    if (code === ExitCode.Ok) progress.ok(`Key rotated: agent ${credentials.agent_id} now uses ${next.fingerprint}; ${credentials.fingerprint} no longer works`);
    return code;
  } finally {
    if (outcomeUnknown) progress.warn(`The answer to the re-key was lost; the new key is kept in ${nextFile}. If the old key is refused from now on, move it to id_ed25519 and run airlock-agent recover.`);
    else await Promise.all([nextFile, sealedKeyPath(nextFile)].map((f) => fs.rm(f, { force: true })));
    await lock.release();
  }
};
