import * as path from 'node:path';
import * as v from 'valibot';
import { startTunnelService } from './tunnel-unit.ts';
import { signRaw, signedMessage } from '@airlock/crypto';
import { ExitCode } from './exit-codes.ts';
import { TransportError, type HttpClient, type HttpResponse } from './http.ts';
import { privateKeyFile, type AgentKey } from './keys.ts';
import { isSealed } from './sealed.ts';
import { formatSeconds, sanitizeServerText } from './messages.ts';
import { StatusApproved, StatusWaiting, VerifyOk, errorCodeOf, expectShape, explainResponse } from './protocol.ts';
import {
  StateError,
  removeEnrollment,
  writeCredentials,
  writeEnrollment,
  writeFileAtomic,
  type CertificateState,
  type CredentialsState,
  type EnrollmentState,
  type StatePaths,
} from './state.ts';
import { checkInterrupted, refuse, sleep, stateDirFlag, type CommandContext } from './context.ts';
import type { Progress } from './progress.ts';
import { writeTlsFiles } from './tls-files.ts';

/**
 * The enrollment protocol after POST /enroll, shared by `enroll` and
 * `enroll --resume`: answer the challenge (verify), poll for the operator's
 * decision, and store the one-time credentials.
 */

const DEFAULT_POLL_INTERVAL_S = 5;
const SLOW_DOWN_STEP_S = 5;

/** How often a `503 service_unavailable` to enroll or verify is tried again. */
export const BUSY_RETRIES = 5;

/**
 * Seconds to wait before sending again a request the server answered 503
 * (it did nothing: the edge shed it, or the api's database was away), or null
 * when it is not a 503, the tries are spent, or the wait would pass the
 * deadline. The server's Retry-After is honoured up to 30 s.
 */
export const busyRetry = (response: HttpResponse, attempt: number, now: () => number, deadline: number): number | null => {
  if (response.status !== 503 || attempt > BUSY_RETRIES) return null;
  const waitS = Math.min(30, Math.max(1, response.retryAfterSeconds ?? 5));
  return now() + waitS * 1000 > deadline ? null : waitS;
};

/** Signs the challenge and exchanges it for a poll token; retried on network loss while the challenge is valid. */
export const verify = async (
  client: HttpClient,
  key: AgentKey,
  state: EnrollmentState,
  paths: StatePaths,
  ctx: CommandContext,
  /** `rotate-key`: the current key's re-key proof (#8.2), sent as `rekey_signature`. */
  rekeySignature?: string,
): Promise<{ state: EnrollmentState; approved: boolean } | ExitCode> => {
  const { progress } = ctx;
  const signature = signRaw(key.secretKey, signedMessage(state.enrollment_id, state.challenge));
  const now = ctx.now ?? Date.now;
  const challengeEnds = Date.parse(state.challenge_expires_at) || now() + 60_000;
  let response: HttpResponse | null = null;
  let busy = 0;
  for (let attempt = 1; response === null; attempt += 1) {
    try {
      response = await client.request('POST', '/api/v1/enroll/verify', {
        body: { enrollment_id: state.enrollment_id, signature, ...(rekeySignature !== undefined ? { rekey_signature: rekeySignature } : {}) },
      });
      // A verify may be repeated (the contract allows it after a lost answer); a 503 did nothing.
      const busyWait = busyRetry(response, (busy += 1), now, challengeEnds);
      if (busyWait !== null) {
        progress.warn(`The server is busy (HTTP 503); retrying in ${formatSeconds(busyWait)} (${busy}/${BUSY_RETRIES})`);
        response = null;
        await sleep(busyWait * 1000, ctx, paths, true);
      }
    } catch (error) {
      // The contract lets a verify be repeated after a lost answer; only transient failures are worth it.
      if (!(error instanceof TransportError) || (error.kind !== 'network' && error.kind !== 'timeout') || attempt >= 3) throw error;
      progress.warn(`Connection problem while verifying (${error.message}); retrying in 5 s`);
      await sleep(5000, ctx, paths, true);
    }
  }
  checkInterrupted(ctx, paths, true);
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

/**
 * Codes after which the stored enrollment is dead, so a plain `enroll` must
 * not be blocked by it. Not credentials_already_issued: the agent was approved
 * and the answer lost, and `recover` needs enrollment.json and the key.
 */
const TERMINAL = new Set(['enrollment_rejected', 'expired_token', 'invalid_token', 'enrollment_denied']);

export const waitForApproval = async (
  client: HttpClient,
  key: AgentKey,
  state: EnrollmentState,
  paths: StatePaths,
  ctx: CommandContext,
  deadline: number,
  /** verify said `approved` (site policy auto, or a signed re-key: the line to print): no operator line, the first status read has the credentials. */
  approvedAlready: boolean | string = false,
): Promise<ExitCode> => {
  const { progress } = ctx;
  const now = ctx.now ?? Date.now;
  const token = state.poll_token;
  if (token === undefined) throw new StateError(`${paths.enrollment} has no poll token`);
  let interval = state.poll_interval ?? DEFAULT_POLL_INTERVAL_S;
  let lastStatus = '';
  let failures = 0;
  const since = Date.parse(state.started_at) || now();

  if (approvedAlready !== false) {
    progress.ok(approvedAlready === true ? 'Approved automatically by the site policy' : approvedAlready);
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
        await sleep(backoff * 1000, ctx, paths, true);
        continue;
      }

      if (response.status === 200) {
        progress.stopWaiting();
        return await saveApproval(response, key, state, paths, ctx);
      }
      checkInterrupted(ctx, paths, true);

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
      await sleep(waitS * 1000, ctx, paths, true);
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
  ctx: CommandContext,
): Promise<ExitCode> => {
  const { progress } = ctx;
  const parsed = v.safeParse(StatusApproved, response.json);
  if (!parsed.success) {
    // Keep whatever arrived rather than lose a one-time secret to a shape mismatch.
    const rescue = path.join(paths.dir, 'credentials.unparsed.json');
    await writeFileAtomic(rescue, `${JSON.stringify(response.json, null, 2)}\n`);
    progress.fail({
      exitCode: ExitCode.Internal,
      title: `Approved, but the credentials are not in the format this agent expects (${sanitizeServerText(v.getDotPath(parsed.issues[0]) ?? 'the body', 60)} is missing or malformed).`,
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
    private_key_file: await privateKeyFile(paths),
    ssh: approved.credentials.ssh,
    tls: state.tls,
    certificate: null,
  };
  // The agent key first: it is delivered once. The certificate can be fetched again (renew --tls).
  await writeCredentials(paths, credentials);
  await removeEnrollment(paths);
  progress.ok(`Approved: enrolled as agent ${approved.agent_id} of site ${approved.site_code}`);
  progress.ok('Credentials saved');
  const tls = approved.credentials.tls;
  if (tls !== null) {
    let certificate: CertificateState;
    try {
      certificate = await writeTlsFiles(paths, tls, key);
    } catch (error) {
      progress.fail({
        exitCode: ExitCode.Internal,
        title: `Enrolled and the credentials are saved, but the certificate was not stored: ${error instanceof Error ? error.message : String(error)}.`,
        action: `Run airlock-agent renew --tls${stateDirFlag(paths)} to ask for a new one; report this if it happens again.`,
      });
      return ExitCode.Internal;
    }
    await writeCredentials(paths, { ...credentials, certificate });
    progress.ok(`Certificate from Airlock's CA saved, valid until ${certificate.expires_at}`);
  }
  progress.plain('');
  progress.plain('Written:');
  const sealed = await isSealed(paths);
  if (sealed) {
    progress.plain(`  ${paths.credentials}  (0600) agent id, site, server; the agent key is sealed in credentials.cred (systemd-creds)`);
    progress.plain(`  ${await privateKeyFile(paths)}  (0600) SSH private key, sealed to this host (systemd-creds)`);
  } else {
    progress.plain(`  ${paths.credentials}  (0600) agent id, site, server, agent key (cak_…, not shown)`);
    progress.plain(`  ${paths.privateKey}  (0600) SSH private key, for ssh -i`);
  }
  progress.plain(`  ${paths.publicKey}  public key ${key.fingerprint}`);
  if (tls !== null) {
    progress.plain(`  ${paths.tlsCert}, ${paths.tlsCa}  (0644) certificate and CA bundle`);
    if (!sealed) progress.plain(`  ${paths.tlsKey}  (0600) the same key, PKCS#8 PEM for TLS`);
  }
  if (approved.credentials.ssh !== null) progress.plain('  SSH tunnel settings are included in credentials.json.');
  progress.plain(`Check any time with: airlock-agent status${stateDirFlag(paths)}`);
  if (approved.credentials.ssh !== null) await startTunnelService(paths, ctx);
  return ExitCode.Ok;
};

