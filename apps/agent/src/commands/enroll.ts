import * as os from 'node:os';
import { buildAgentCsr } from '@airlock/crypto';
import { MissingCredentialError, UsageError, isValidHostname, parseEnrollArgs, parsePairingCode, type EnrollCommand, type ResumeCommand } from '../args.ts';
import {
  checkInterrupted,
  connectTo,
  refuse,
  resolveStatePaths,
  sleep,
  tlsDescription,
  warnInsecure,
  type CommandContext,
} from '../context.ts';
import { BUSY_RETRIES, busyRetry, verify, waitForApproval } from '../enrollment.ts';
import { ExitCode } from '../exit-codes.ts';
import { ENROLL_HELP } from '../help.ts';
import type { HttpClient, HttpResponse } from '../http.ts';
import { loadOrCreateKey, privateKeyFile } from '../keys.ts';
import { applySealRequest } from '../sealed.ts';
import { FALLBACK_WARNING, deriveMachineUid, machineRoot } from '../machine-uid.ts';
import { formatSeconds } from '../messages.ts';
import type { Progress } from '../progress.ts';
import { EnrollCreated, errorCodeOf, expectShape, explainResponse } from '../protocol.ts';
import { describeProxy, proxyFor } from '@airlock/transport';
import {
  StateError,
  ensureStateDir,
  readCredentialsInfo,
  readEnrollment,
  removeEnrollment,
  tlsFromState,
  tlsToState,
  writeEnrollment,
  type EnrollmentState,
  type StatePaths,
} from '../state.ts';
import { AGENT_VERSION } from '../version.ts';
import type { AgentCommand } from './types.ts';

/**
 * `airlock-agent enroll`: generate (or reuse) the machine's key, enroll with a
 * pairing code or the site's enrollment key, answer the challenge, wait for
 * approval and store the credentials. `enroll --resume` picks up a stored
 * enrollment after Ctrl-C, a reboot or --timeout.
 */
export const enrollCommand: AgentCommand = {
  name: 'enroll',
  summary: 'enroll with a pairing code or an enrollment key (see: airlock-agent enroll --help)',
  help: () => ENROLL_HELP,
  run: async (argv, ctx) => {
    const command = await parseOrPrompt(argv, ctx);
    return command.kind === 'resume' ? runResume(command, ctx) : runEnroll(command, ctx);
  },
};

const PROMPT_ATTEMPTS = 3;

/**
 * `enroll` without --code on a terminal: ask for the code rather than fail,
 * re-asking after a typo. Keeps the code out of shell history and `ps` too.
 */
const parseOrPrompt = async (argv: readonly string[], ctx: CommandContext): Promise<EnrollCommand | ResumeCommand> => {
  try {
    return parseEnrollArgs(argv, ctx.env);
  } catch (error) {
    if (!(error instanceof MissingCredentialError) || ctx.prompt === undefined) throw error;
    for (let attempt = 1; ; attempt += 1) {
      const answer = await ctx.prompt('Pairing code from your operator (XXXX-XXXX-XXXX): ');
      if (answer === null) throw error;
      try {
        parsePairingCode(answer);
        return parseEnrollArgs([...argv, '--code', answer], ctx.env);
      } catch (problem) {
        if (!(problem instanceof UsageError) || attempt >= PROMPT_ATTEMPTS) throw problem;
        ctx.err.write(`${problem.message.replace(/ Nothing was sent;.*$/, '')} Try again.\n`);
      }
    }
  }
};

/** Attended (pairing code) or zero-touch (enrollment key) enrollment, start to finish. */
const runEnroll = async (cmd: EnrollCommand, ctx: CommandContext): Promise<ExitCode> => {
  const { progress } = ctx;
  const now = ctx.now ?? Date.now;
  const started = now();
  const deadline = started + cmd.timeoutMs;
  const paths = resolveStatePaths(cmd.stateDir);

  const hostname = cmd.name ?? os.hostname();
  if (!isValidHostname(hostname)) {
    throw new UsageError(`this machine's host name "${hostname}" is not a valid RFC 1123 name; pass --name NAME`);
  }

  warnInsecure(progress, cmd.server, cmd.tls);
  progress.plain(`airlock-agent ${AGENT_VERSION}: enrolling ${hostname} into site ${cmd.site} at ${cmd.server.origin}`);

  const { tightened } = await ensureStateDir(paths.dir);
  if (tightened) progress.warn(`${paths.dir} was readable by others; its mode is now 0700`);
  const refused = await refuseIfEnrolled(paths, cmd.force, progress);
  if (refused !== null) return refused;

  progress.ok(cmd.credential.method === 'pairing_code' ? 'Pairing code format checked' : 'Enrollment key format checked');
  const machineUid = cmd.credential.method === 'enrollment_key' ? await resolveMachineUid(cmd.credential.machineUid, paths, ctx) : undefined;

  const protection = await applySealRequest(paths, ctx.env);
  if (protection === 'sealed (systemd-creds)') progress.ok('Secrets sealed to this host with systemd-creds (AIRLOCK_AGENT_SEAL)');
  else if (ctx.env.AIRLOCK_AGENT_SEAL?.trim() === 'systemd-creds') progress.warn(`${paths.dir} already holds 0600 key files; they stay as they are (sealing applies to a fresh state directory)`);
  const key = await loadOrCreateKey(paths, hostname);
  progress.ok(`${key.generated ? 'Generated a new' : 'Reusing the'} Ed25519 key pair ${key.fingerprint} (${await privateKeyFile(paths)})`);

  const proxy = proxyFor(cmd.server, ctx.env);
  const client = await connectTo(cmd.server, cmd.tls, ctx.env);
  const body: Record<string, unknown> = {
    site_code: cmd.site,
    public_key: key.publicLine,
    hostname,
    agent_version: AGENT_VERSION,
    ...(cmd.credential.method === 'pairing_code'
      ? { pairing_code: cmd.credential.pairingCode }
      : { enrollment_key: cmd.credential.enrollmentKey }),
    ...(machineUid !== undefined ? { machine_uid: machineUid } : {}),
    ...(Object.keys(cmd.labels).length > 0 ? { labels: cmd.labels } : {}),
  };
  if (cmd.certificate) body.csr = await buildAgentCsr(key.secretKey, hostname);
  let enrolled = await requestEnrollment(client, body, cmd.credential.method, deadline, paths, ctx);
  if (body.csr !== undefined && refusedCsrField(enrolled)) {
    // A v1 server refuses the unknown field before consuming anything; enroll without a certificate.
    progress.warn('This server does not issue certificates (no csr support); enrolling without one. Use --no-tls to skip asking.');
    delete body.csr;
    enrolled = await requestEnrollment(client, body, cmd.credential.method, deadline, paths, ctx);
  }
  if (enrolled.status !== 201) {
    return refuse(progress, explainResponse(enrolled, { method: cmd.credential.method, site: cmd.site, phase: 'enroll' }));
  }
  const created = expectShape(EnrollCreated, enrolled, 'enroll');
  const via = proxy ? `, via proxy ${describeProxy(proxy)}` : '';
  progress.ok(`Connected to ${cmd.server.host} (${tlsDescription(cmd.server, cmd.tls)}${via})`);
  progress.ok(`Enrollment requested (id ${created.enrollment_id})`);

  const state: EnrollmentState = {
    version: 1,
    server: cmd.server.origin,
    site_code: cmd.site,
    method: cmd.credential.method,
    enrollment_id: created.enrollment_id,
    challenge: created.challenge,
    challenge_expires_at: created.expires_at,
    fingerprint: key.fingerprint,
    hostname,
    ...(machineUid !== undefined ? { machine_uid: machineUid } : {}),
    started_at: new Date(started).toISOString(),
    tls: tlsToState(cmd.tls),
  };
  await writeEnrollment(paths, state);
  checkInterrupted(ctx, paths, true);

  const verified = await verify(client, key, state, paths, ctx);
  if (typeof verified === 'number') return verified;
  return waitForApproval(client, key, verified.state, paths, ctx, deadline, verified.approved);
};

/** A 400 whose problem is the csr field itself: the server predates certificates (contract v1). */
const refusedCsrField = (response: HttpResponse): boolean => {
  if (response.status !== 400 || errorCodeOf(response) !== 'invalid_request') return false;
  const json = response.json as { error?: { fields?: Record<string, unknown> } } | null;
  return json?.error?.fields?.csr === 'unknown field';
};

/** One machine, one enrollment: refuse a second one unless --force (exit 9), or null to go on. */
const refuseIfEnrolled = async (paths: StatePaths, force: boolean, progress: Progress): Promise<ExitCode | null> => {
  const existing = await readCredentialsInfo(paths);
  const pending = await readEnrollment(paths);
  if (force) {
    if (existing || pending) {
      progress.warn(
        `--force: starting a new enrollment; ${existing ? `the current credentials (agent ${existing.agent_id}) stay until the new ones arrive` : 'the pending enrollment is abandoned'}.`,
      );
    }
    return null;
  }
  if (existing) {
    return refuse(progress, {
      exitCode: ExitCode.AlreadyEnrolled,
      title: `This machine is already enrolled: agent ${existing.agent_id} of site ${existing.site_code} at ${existing.server}, since ${existing.enrolled_at}.`,
      action: 'Nothing to do. To enroll again (the old agent stays until an operator revokes it), add --force. See: airlock-agent status',
    });
  }
  if (pending) {
    return refuse(progress, {
      exitCode: ExitCode.AlreadyEnrolled,
      title: `An enrollment into site ${pending.site_code} is already waiting for approval (started ${pending.started_at}).`,
      action: 'Run airlock-agent enroll --resume to keep waiting, or add --force to start a new one.',
    });
  }
  return null;
};

/**
 * --machine-uid; else the uid already stored in credentials.json (the server
 * knows this machine by it, also when it was derived by an older agent:
 * keeping it makes `enroll --force` a re-enroll, not a new machine); else one
 * derived from the hardware (machine-uid.ts), saying which signals were used.
 */
const resolveMachineUid = async (given: string | undefined, paths: StatePaths, ctx: CommandContext): Promise<string> => {
  const { progress } = ctx;
  if (given !== undefined) {
    progress.ok('Machine uid taken from --machine-uid');
    return given;
  }
  const stored = (await readCredentialsInfo(paths))?.machine_uid;
  if (stored !== undefined) {
    progress.ok(`Machine uid kept from ${paths.credentials} (the one the server knows this machine by)`);
    return stored;
  }
  const derived = await deriveMachineUid(machineRoot(ctx.env));
  if (derived === null) {
    throw new UsageError(
      'cannot derive a machine uid: no hardware id (product_uuid, board_serial, a disk serial) and no /etc/machine-id is readable; pass --machine-uid UID (see: airlock-agent machine-id --explain)',
    );
  }
  progress.ok(`Machine uid derived from ${derived.used.join(' + ')} (hashed; the raw ids stay on this machine)`);
  if (derived.fallback) progress.warn(FALLBACK_WARNING);
  for (const s of derived.skipped) progress.info(`not used: ${s.label}: ${s.reason}`);
  return derived.machineUid;
};

/**
 * POST /enroll. Zero-touch pushes hit many machines behind one NAT at once,
 * so a 429 is waited out as the server asks, until the deadline; an attended
 * run reports it to the person instead.
 */
export const requestEnrollment = async (
  client: HttpClient,
  body: Record<string, unknown>,
  method: EnrollCommand['credential']['method'],
  deadline: number,
  paths: StatePaths,
  ctx: CommandContext,
): Promise<HttpResponse> => {
  const now = ctx.now ?? Date.now;
  let busy = 0;
  for (;;) {
    const response = await client.request('POST', '/api/v1/enroll', { body });
    // A 201 has consumed the pairing code: the caller records it before honouring Ctrl-C.
    if (response.status === 201) return response;
    checkInterrupted(ctx, paths, false);
    // 503: the edge shed the request or the api's database was away; nothing was
    // enrolled and no code consumed, so the same request may go again.
    const busyWait = busyRetry(response, (busy += 1), now, deadline);
    if (busyWait !== null) {
      ctx.progress.warn(`The server is busy (HTTP 503); retrying in ${formatSeconds(busyWait)} (${busy}/${BUSY_RETRIES})`);
      await sleep(busyWait * 1000, ctx, paths, false);
      continue;
    }
    if (response.status !== 429 || method !== 'enrollment_key') return response;
    const waitS = Math.max(1, response.retryAfterSeconds ?? 30);
    if (now() + waitS * 1000 > deadline) return response;
    ctx.progress.info(`The server is rate limiting enrollments from this address; waiting ${formatSeconds(waitS)} before retrying (as it asked).`);
    await sleep(waitS * 1000, ctx, paths, false);
  }
};

/** `enroll --resume`: keep waiting on the stored enrollment with the stored poll token. */
const runResume = async (cmd: ResumeCommand, ctx: CommandContext): Promise<ExitCode> => {
  const { progress } = ctx;
  const now = ctx.now ?? Date.now;
  const deadline = now() + cmd.timeoutMs;
  const paths = resolveStatePaths(cmd.stateDir);
  await ensureStateDir(paths.dir);
  const state = await readEnrollment(paths);
  if (state === null) {
    const credentials = await readCredentialsInfo(paths);
    if (credentials) {
      progress.ok(`Nothing to resume: already enrolled as agent ${credentials.agent_id} of site ${credentials.site_code}.`);
      return ExitCode.Ok;
    }
    progress.fail({
      exitCode: ExitCode.NotEnrolled,
      title: `No enrollment to resume in ${paths.dir}.`,
      action: 'Start one with airlock-agent enroll --server … --site … --code … (add --state-dir if you used one).',
    });
    return ExitCode.NotEnrolled;
  }
  const server = new URL(state.server);
  const tls = tlsFromState(state.tls, cmd.tls);
  warnInsecure(progress, server, tls);
  progress.plain(`airlock-agent ${AGENT_VERSION}: resuming the enrollment of ${state.hostname} into site ${state.site_code} at ${state.server}`);

  const key = await loadOrCreateKey(paths, state.hostname);
  if (key.fingerprint !== state.fingerprint) {
    throw new StateError(`${await privateKeyFile(paths)} (${key.fingerprint}) is not the key this enrollment was made with (${state.fingerprint})`);
  }
  progress.ok(`Key pair ${key.fingerprint}`);
  const client = await connectTo(server, tls, ctx.env);

  let current = state;
  let approved = false;
  if (current.poll_token === undefined) {
    // Interrupted between enroll and verify: the challenge may still be answerable.
    if (Date.parse(current.challenge_expires_at) <= now()) {
      await removeEnrollment(paths);
      return refuse(progress, {
        exitCode: ExitCode.Expired,
        title: 'The enrollment was interrupted before its challenge was answered, and the challenge has expired.',
        action:
          current.method === 'pairing_code'
            ? 'Ask your operator for a new pairing code and run airlock-agent enroll again.'
            : 'Run airlock-agent enroll again.',
      });
    }
    const verified = await verify(client, key, current, paths, ctx);
    if (typeof verified === 'number') return verified;
    current = verified.state;
    approved = verified.approved;
  }
  return waitForApproval(client, key, current, paths, ctx, deadline, approved);
};

