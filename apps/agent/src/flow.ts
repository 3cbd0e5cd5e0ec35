import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs/promises';
import { setTimeout as sleepFor } from 'node:timers/promises';
import * as v from 'valibot';
import { signRaw, signedMessage } from '@airlock/crypto';
import { UsageError, isValidHostname, type EnrollCommand, type ResumeCommand, type TlsFlags } from './args.ts';
import { ExitCode } from './exit-codes.ts';
import { TransportError, createHttpClient, formatPin, type HttpClient, type HttpResponse } from './http.ts';
import { loadOrCreateKey, type AgentKey } from './keys.ts';
import { deriveMachineUid } from './machine-uid.ts';
import { describeProxy, proxyFor } from './proxy.ts';
import { formatSeconds, type Explanation } from './messages.ts';
import type { Progress } from './progress.ts';
import {
  EnrollCreated,
  StatusApproved,
  StatusWaiting,
  VerifyOk,
  errorCodeOf,
  expectShape,
  explainResponse,
} from './protocol.ts';
import {
  StateError,
  defaultStateDir,
  ensureStateDir,
  readCredentials,
  readEnrollment,
  removeEnrollment,
  statePaths,
  writeCredentials,
  writeEnrollment,
  writeFileAtomic,
  type CredentialsState,
  type EnrollmentState,
  type StatePaths,
} from './state.ts';
import { AGENT_VERSION } from './version.ts';

export interface FlowDeps {
  progress: Progress;
  /** Aborted by Ctrl-C / SIGTERM. Only sleeps listen to it: see checkInterrupted. */
  signal: AbortSignal;
  now?: () => number;
  /** For HTTPS_PROXY / NO_PROXY; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

/** Ctrl-C or SIGTERM arrived; main prints how to resume and exits 130. */
export class InterruptedError extends Error {
  override readonly name = 'InterruptedError';
  constructor(readonly paths: StatePaths, readonly resumable: boolean) {
    super('interrupted');
  }
}

const DEFAULT_POLL_INTERVAL_S = 5;
const SLOW_DOWN_STEP_S = 5;
const USER_AGENT = `airlock-agent/${AGENT_VERSION} (node ${process.versions.node}; ${process.platform})`;

/**
 * Requests are never aborted half-way: a status read that the server answered
 * with credentials must not be thrown away, and an enroll that consumed a
 * pairing code must be recorded. So an interrupt is honoured between steps.
 */
const checkInterrupted = (deps: FlowDeps, paths: StatePaths, resumable: boolean): void => {
  if (deps.signal.aborted) throw new InterruptedError(paths, resumable);
};

const sleep = async (ms: number, deps: FlowDeps, paths: StatePaths, resumable: boolean): Promise<void> => {
  try {
    await sleepFor(ms, undefined, { signal: deps.signal });
  } catch {
    throw new InterruptedError(paths, resumable);
  }
};

const tlsDescription = (server: URL, tls: TlsFlags): string => {
  if (server.protocol === 'http:') return 'plain HTTP: NOT ENCRYPTED';
  if (tls.pin) return `certificate matches pin ${formatPin(tls.pin).slice(0, 23)}…`;
  if (tls.insecure) return 'certificate NOT VERIFIED';
  return tls.caFile ? `certificate verified against ${tls.caFile}` : 'certificate verified';
};

const warnInsecure = (progress: Progress, server: URL, tls: TlsFlags): void => {
  if (!tls.insecure) return;
  if (server.protocol === 'http:') {
    progress.warn('WARNING: --insecure with http:// — the pairing code, poll token and agent key cross the network in clear text.');
  } else if (!tls.pin) {
    progress.warn('WARNING: --insecure — the server certificate is NOT verified; anyone on the path can impersonate the server.');
  }
  progress.warn('WARNING: use --insecure only in a lab. Prefer --ca-file FILE or --pin sha256:HEX.');
};

const tlsToState = (tls: TlsFlags): EnrollmentState['tls'] => ({
  ...(tls.caFile !== undefined ? { ca_file: path.resolve(tls.caFile) } : {}),
  ...(tls.pin !== undefined ? { pin: tls.pin.toString('hex') } : {}),
  ...(tls.insecure ? { insecure: true } : {}),
});

const tlsFromState = (stored: EnrollmentState['tls'], override: Partial<TlsFlags>): TlsFlags => {
  const tls: TlsFlags = { insecure: override.insecure ?? stored.insecure ?? false };
  const caFile = override.caFile ?? stored.ca_file;
  if (caFile !== undefined) tls.caFile = caFile;
  const pin = override.pin ?? (stored.pin !== undefined ? Buffer.from(stored.pin, 'hex') : undefined);
  if (pin !== undefined) tls.pin = pin;
  return tls;
};

/** Attended (pairing code) or zero-touch (enrollment key) enrollment, start to finish. */
export const runEnroll = async (cmd: EnrollCommand, deps: FlowDeps): Promise<ExitCode> => {
  const { progress } = deps;
  const now = deps.now ?? Date.now;
  const started = now();
  const deadline = started + cmd.timeoutMs;
  const paths = statePaths(path.resolve(cmd.stateDir ?? defaultStateDir()));

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
  const machineUid = cmd.credential.method === 'enrollment_key' ? await resolveMachineUid(cmd.credential.machineUid, progress) : undefined;

  const key = await loadOrCreateKey(paths, hostname);
  progress.ok(`${key.generated ? 'Generated a new' : 'Reusing the'} Ed25519 key pair ${key.fingerprint} (${paths.privateKey})`);

  const proxy = proxyFor(cmd.server, deps.env ?? process.env);
  const client = await createHttpClient({ server: cmd.server, tls: cmd.tls, userAgent: USER_AGENT, proxy });
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
  const enrolled = await requestEnrollment(client, body, cmd.credential.method, deadline, paths, deps);
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
  checkInterrupted(deps, paths, true);

  const verified = await verify(client, key, state, paths, deps);
  if (typeof verified === 'number') return verified;
  return waitForApproval(client, key, verified.state, paths, deps, deadline, verified.approved);
};

/** One machine, one enrollment: refuse a second one unless --force (exit 9), or null to go on. */
const refuseIfEnrolled = async (paths: StatePaths, force: boolean, progress: Progress): Promise<ExitCode | null> => {
  const existing = await readCredentials(paths);
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

/** --machine-uid, or one derived from the machine's ids (hashed), saying which sources were used. */
const resolveMachineUid = async (given: string | undefined, progress: Progress): Promise<string> => {
  if (given !== undefined) {
    progress.ok('Machine uid taken from --machine-uid');
    return given;
  }
  const derived = await deriveMachineUid();
  if (derived === null) {
    throw new UsageError(
      'cannot derive a machine uid: neither /etc/machine-id nor /sys/class/dmi/id/product_uuid is readable; pass --machine-uid UID',
    );
  }
  progress.ok(`Machine uid derived from ${derived.used.join(' + ')} (hashed; the raw ids stay on this machine)`);
  for (const s of derived.skipped) progress.info(`not used: ${s.label} (${s.reason})`);
  return derived.machineUid;
};

/**
 * POST /enroll. Zero-touch pushes hit many machines behind one NAT at once,
 * so a 429 is waited out as the server asks, until the deadline; an attended
 * run reports it to the person instead.
 */
const requestEnrollment = async (
  client: HttpClient,
  body: Record<string, unknown>,
  method: EnrollCommand['credential']['method'],
  deadline: number,
  paths: StatePaths,
  deps: FlowDeps,
): Promise<HttpResponse> => {
  const now = deps.now ?? Date.now;
  for (;;) {
    const response = await client.request('POST', '/api/v1/enroll', { body });
    // A 201 has consumed the pairing code: the caller records it before honouring Ctrl-C.
    if (response.status === 201) return response;
    checkInterrupted(deps, paths, false);
    if (response.status !== 429 || method !== 'enrollment_key') return response;
    const waitS = Math.max(1, response.retryAfterSeconds ?? 30);
    if (now() + waitS * 1000 > deadline) return response;
    deps.progress.info(`The server is rate limiting enrollments from this address; waiting ${formatSeconds(waitS)} before retrying (as it asked).`);
    await sleep(waitS * 1000, deps, paths, false);
  }
};

/** Signs the challenge and exchanges it for a poll token; retried on network loss while the challenge is valid. */
const verify = async (
  client: HttpClient,
  key: AgentKey,
  state: EnrollmentState,
  paths: StatePaths,
  deps: FlowDeps,
): Promise<{ state: EnrollmentState; approved: boolean } | ExitCode> => {
  const { progress } = deps;
  const signature = signRaw(key.secretKey, signedMessage(state.enrollment_id, state.challenge));
  let response: HttpResponse | null = null;
  for (let attempt = 1; response === null; attempt += 1) {
    try {
      response = await client.request('POST', '/api/v1/enroll/verify', {
        body: { enrollment_id: state.enrollment_id, signature },
      });
    } catch (error) {
      // The contract lets a verify be repeated after a lost answer; only transient failures are worth it.
      if (!(error instanceof TransportError) || (error.kind !== 'network' && error.kind !== 'timeout') || attempt >= 3) throw error;
      progress.warn(`Connection problem while verifying (${error.message}); retrying in 5 s`);
      await sleep(5000, deps, paths, true);
    }
  }
  checkInterrupted(deps, paths, true);
  if (response.status !== 200) {
    const explanation = explainResponse(response, { method: state.method, site: state.site_code, phase: 'verify' });
    await removeEnrollment(paths);
    return refuse(progress, explanation);
  }
  const ok = expectShape(VerifyOk, response, 'verify');
  const next: EnrollmentState = {
    ...state,
    poll_token: ok.poll_token,
    poll_interval: ok.poll_interval ?? DEFAULT_POLL_INTERVAL_S,
  };
  await writeEnrollment(paths, next);
  progress.ok('Challenge signed and verified');
  return { state: next, approved: ok.status === 'approved' };
};

const refuse = (progress: Progress, explanation: Explanation): ExitCode => {
  progress.fail(explanation);
  return explanation.exitCode;
};

/** Codes after which the stored enrollment is dead, so a plain `enroll` must not be blocked by it. */
const TERMINAL = new Set(['enrollment_rejected', 'expired_token', 'invalid_token', 'enrollment_denied', 'credentials_already_issued']);

const waitForApproval = async (
  client: HttpClient,
  key: AgentKey,
  state: EnrollmentState,
  paths: StatePaths,
  deps: FlowDeps,
  deadline: number,
  /** verify said `approved` (site policy auto): no operator line, the first status read has the credentials. */
  approvedAlready = false,
): Promise<ExitCode> => {
  const { progress } = deps;
  const now = deps.now ?? Date.now;
  const token = state.poll_token;
  if (token === undefined) throw new StateError(`${paths.enrollment} has no poll token`);
  let interval = state.poll_interval ?? DEFAULT_POLL_INTERVAL_S;
  let lastStatus = '';
  let failures = 0;
  const since = Date.parse(state.started_at) || now();

  if (approvedAlready) {
    progress.ok('Approved automatically by the site policy');
  } else {
    progress.highlight(`Ask your operator to approve ${state.fingerprint} (${state.hostname}, ${state.site_code})`);
    progress.startWaiting('Waiting for approval…', since);
  }
  try {
    for (;;) {
      let response: HttpResponse;
      try {
        response = await client.request('GET', '/api/v1/enroll/status', { bearer: token });
        if (failures > 0) progress.info('Connection restored');
        failures = 0;
      } catch (error) {
        // TLS and pin failures mid-wait could be an attack; stop rather than keep offering the token.
        if (!(error instanceof TransportError) || (error.kind !== 'network' && error.kind !== 'timeout')) throw error;
        failures += 1;
        const backoff = Math.min(60, interval * 2 ** Math.min(failures - 1, 4));
        if (now() + backoff * 1000 > deadline) return timedOut(progress, paths, deadline - since);
        progress.warn(`Cannot reach the server (${error.message}); still waiting, retrying in ${formatSeconds(backoff)}`);
        await sleep(backoff * 1000, deps, paths, true);
        continue;
      }

      if (response.status === 200) {
        progress.stopWaiting();
        return await saveApproval(response, key, state, paths, progress);
      }
      checkInterrupted(deps, paths, true);

      let waitS = interval;
      if (response.status === 202) {
        const waiting = expectShape(StatusWaiting, response, 'status');
        if (waiting.poll_interval !== undefined) interval = Math.max(1, waiting.poll_interval);
        waitS = interval;
        if (waiting.status !== lastStatus && waiting.status === 'pending_confirmation') {
          progress.info('This machine matches an agent that is already known; an operator must confirm it is the same machine.');
        }
        lastStatus = waiting.status;
      } else {
        const code = errorCodeOf(response);
        if (code === 'slow_down') {
          interval += SLOW_DOWN_STEP_S;
          waitS = Math.max(interval, response.retryAfterSeconds ?? 0);
          progress.info(`The server asked for slower polling; now every ${formatSeconds(interval)}`);
        } else if (code === 'rate_limited' || (response.status >= 500 && response.status !== 501)) {
          waitS = Math.max(interval, response.retryAfterSeconds ?? (response.status >= 500 ? 15 : 60));
          progress.warn(
            response.status === 429
              ? `The server is rate limiting this address; waiting ${formatSeconds(waitS)}`
              : `The server answered HTTP ${response.status}; still waiting, retrying in ${formatSeconds(waitS)}`,
          );
        } else {
          progress.stopWaiting();
          const explanation = explainResponse(response, { method: state.method, site: state.site_code, phase: 'status' });
          if (code !== null && TERMINAL.has(code)) await removeEnrollment(paths);
          return refuse(progress, explanation);
        }
      }
      if (now() + waitS * 1000 > deadline) return timedOut(progress, paths, deadline - since);
      await sleep(waitS * 1000, deps, paths, true);
    }
  } finally {
    progress.stopWaiting();
  }
};

const timedOut = (progress: Progress, paths: StatePaths, waitedMs: number): ExitCode => {
  progress.stopWaiting();
  progress.fail({
    exitCode: ExitCode.Timeout,
    title: `Not approved yet after ${formatSeconds(waitedMs / 1000)}; stopped waiting (--timeout).`,
    detail: `The enrollment is saved in ${paths.enrollment}.`,
    action: 'Run airlock-agent enroll --resume to keep waiting (it stays valid until the server expires it).',
  });
  return ExitCode.Timeout;
};

/**
 * The credentials are delivered exactly once, so they are written before
 * anything else can go wrong, and never printed.
 */
const saveApproval = async (
  response: HttpResponse,
  key: AgentKey,
  state: EnrollmentState,
  paths: StatePaths,
  progress: Progress,
): Promise<ExitCode> => {
  const parsed = v.safeParse(StatusApproved, response.json);
  if (!parsed.success) {
    // Keep whatever arrived rather than lose a one-time secret to a shape mismatch.
    const rescue = path.join(paths.dir, 'credentials.unparsed.json');
    await writeFileAtomic(rescue, `${JSON.stringify(response.json, null, 2)}\n`);
    progress.fail({
      exitCode: ExitCode.Internal,
      title: 'Approved, but the credentials are not in the format this agent expects.',
      detail: `What the server sent was saved to ${rescue} (0600).`,
      action: 'Report this to your operator together with the agent version.',
    });
    return ExitCode.Internal;
  }
  const approved = parsed.output;
  const credentials: CredentialsState = {
    version: 1,
    agent_id: approved.agent_id,
    site_code: approved.site_code,
    agent_key: approved.credentials.agent_key,
    server: state.server,
    fingerprint: key.fingerprint,
    hostname: state.hostname,
    ...(state.machine_uid !== undefined ? { machine_uid: state.machine_uid } : {}),
    enrolled_at: new Date().toISOString(),
    private_key_file: paths.privateKey,
    ssh: approved.credentials.ssh,
    tls: state.tls,
  };
  await writeCredentials(paths, credentials);
  await removeEnrollment(paths);
  progress.ok(`Approved: enrolled as agent ${approved.agent_id} of site ${approved.site_code}`);
  progress.ok('Credentials saved');
  progress.plain('');
  progress.plain('Written:');
  progress.plain(`  ${paths.credentials}  (0600) agent id, site, server, agent key (cak_…, not shown)`);
  progress.plain(`  ${paths.privateKey}  (0600) SSH private key, for ssh -i`);
  progress.plain(`  ${paths.publicKey}  public key ${key.fingerprint}`);
  if (approved.credentials.ssh !== null) progress.plain('  SSH tunnel settings are included in credentials.json.');
  progress.plain('Check any time with: airlock-agent status' + (paths.dir === defaultStateDir() ? '' : ` --state-dir ${paths.dir}`));
  return ExitCode.Ok;
};

/** `enroll --resume`: keep waiting on the stored enrollment with the stored poll token. */
export const runResume = async (cmd: ResumeCommand, deps: FlowDeps): Promise<ExitCode> => {
  const { progress } = deps;
  const now = deps.now ?? Date.now;
  const deadline = now() + cmd.timeoutMs;
  const paths = statePaths(path.resolve(cmd.stateDir ?? defaultStateDir()));
  await ensureStateDir(paths.dir);
  const state = await readEnrollment(paths);
  if (state === null) {
    const credentials = await readCredentials(paths);
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
    throw new StateError(`${paths.privateKey} (${key.fingerprint}) is not the key this enrollment was made with (${state.fingerprint})`);
  }
  progress.ok(`Key pair ${key.fingerprint}`);
  const client = await createHttpClient({ server, tls, userAgent: USER_AGENT, proxy: proxyFor(server, deps.env ?? process.env) });

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
    const verified = await verify(client, key, current, paths, deps);
    if (typeof verified === 'number') return verified;
    current = verified.state;
    approved = verified.approved;
  }
  return waitForApproval(client, key, current, paths, deps, deadline, approved);
};

/** `status`: what is enrolled where, without ever showing a secret. */
export const runStatus = async (stateDir: string | undefined, progress: Progress): Promise<ExitCode> => {
  const paths = statePaths(path.resolve(stateDir ?? defaultStateDir()));
  const exists = await fs.stat(paths.dir).then(
    () => true,
    () => false,
  );
  const credentials = exists ? await readCredentials(paths) : null;
  const pending = exists ? await readEnrollment(paths) : null;
  if (credentials) {
    progress.plain(`Enrolled:     yes, since ${credentials.enrolled_at}`);
    progress.plain(`Agent id:     ${credentials.agent_id}`);
    progress.plain(`Site:         ${credentials.site_code}`);
    progress.plain(`Server:       ${credentials.server}`);
    progress.plain(`Host name:    ${credentials.hostname}`);
    progress.plain(`Key:          ${credentials.fingerprint} (${credentials.private_key_file})`);
    progress.plain(`Agent key:    stored in ${paths.credentials} (not shown)`);
    progress.plain(`SSH settings: ${credentials.ssh === null ? 'none issued' : 'included'}`);
  }
  if (pending) {
    if (credentials) progress.plain('');
    progress.plain(`Pending:      enrollment ${pending.enrollment_id} into site ${pending.site_code} at ${pending.server}`);
    progress.plain(`Waiting since ${pending.started_at} for approval of ${pending.fingerprint} (${pending.hostname})`);
    progress.plain('Continue with: airlock-agent enroll --resume' + (stateDir ? ` --state-dir ${stateDir}` : ''));
  }
  if (!credentials && !pending) {
    progress.plain(`Not enrolled (state directory ${paths.dir}).`);
    return ExitCode.NotEnrolled;
  }
  return credentials ? ExitCode.Ok : ExitCode.NotEnrolled;
};
