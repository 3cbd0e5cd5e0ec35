import * as fs from 'node:fs/promises';
import * as v from 'valibot';
import { parseStrict, withStateDir } from '../args.ts';
import { resolveStatePaths, stateDirFlag, type CommandContext } from '../context.ts';
import { ExitCode } from '../exit-codes.ts';
import { Rfc3339 } from '@airlock/schema';
import { stripControls } from '../sanitize.ts';
import { privateKeyFile } from '../keys.ts';
import { credentialsCredPath, protectionOf, type Protection } from '../sealed.ts';
import { isNotFound, readCredentialsInfo, readEnrollment, type CertificateState, type StatePaths } from '../state.ts';
import type { AgentCommand } from './types.ts';

const STATUS_OPTIONS = {
  'state-dir': { type: 'string' },
  json: { type: 'boolean' },
} as const;

const HELP = `Show what this machine is enrolled as: agent id, site, server, key
fingerprint, certificate expiry, tunnel state and how the secrets are
protected ("sealed (systemd-creds)" or "0600 files"). Never prints a secret.

  airlock-agent status [--state-dir DIR] [--json]

--json prints one JSON object on standard output and nothing else.

Exit codes: 0 enrolled, 10 not enrolled (or only pending).
`;

/** `airlock-agent status`: what is enrolled where, without ever showing a secret. */
export const statusCommand: AgentCommand = {
  name: 'status',
  summary: 'show the enrollment, certificate and tunnel state stored on this machine',
  help: () => HELP,
  run: async (argv, ctx) => {
    const { values } = parseStrict(argv, STATUS_OPTIONS, 'status');
    const report = await collect(resolveStatePaths(withStateDir<{ stateDir?: string }>({}, values['state-dir']).stateDir), ctx);
    if (values.json) ctx.out.write(`${JSON.stringify(report)}\n`);
    else printReport(report, ctx);
    return report.enrolled ? ExitCode.Ok : ExitCode.NotEnrolled;
  },
};

/**
 * What `airlock-agent tunnel` writes on every state change. Read defensively:
 * it is another process's file, and its text ends up on a terminal.
 */
const TunnelStateFile = v.object({
  state: v.pipe(v.string(), v.maxLength(32), v.regex(/^[a-z_-]+$/)),
  since: Rfc3339,
  detail: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(2000)))),
  pid: v.optional(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(1)))),
  // Issue 21: the forwards asked for and the last health check.
  forwards: v.optional(
    v.object({
      local: v.pipe(v.array(v.pipe(v.string(), v.maxLength(300))), v.maxLength(64)),
      remote: v.pipe(v.array(v.pipe(v.string(), v.maxLength(300))), v.maxLength(8)),
    }),
  ),
  health: v.optional(v.object({ checked_at: v.nullable(Rfc3339), ok: v.nullable(v.boolean()), failures: v.pipe(v.number(), v.integer(), v.minValue(0)) })),
});

interface TunnelReport {
  state: string;
  since: string | null;
  detail: string | null;
  pid: number | null;
  forwards?: { local: string[]; remote: string[] };
  health?: { checked_at: string | null; ok: boolean | null; failures: number };
}

interface StatusReport {
  enrolled: boolean;
  state_dir: string;
  /** How the cak_ and the private key are kept: sealed to this host, or plain 0600 files. */
  protection: Protection;
  private_key_file: string;
  agent_key_file: string;
  agent_id: string | null;
  site_code: string | null;
  server: string | null;
  hostname: string | null;
  fingerprint: string | null;
  enrolled_at: string | null;
  renewed_at: string | null;
  ssh_tunnel_issued: boolean;
  certificate: { expires_at: string; renews_after: string; expired: boolean; cert_file: string; ca_file: string } | null;
  tunnel: TunnelReport;
  pending: { enrollment_id: string; site_code: string; server: string; fingerprint: string; hostname: string; started_at: string; waiting: boolean } | null;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return typeof error === 'object' && error !== null && 'code' in error && error.code === 'EPERM';
  }
};

const NOT_RUNNING: TunnelReport = { state: 'not running', since: null, detail: null, pid: null };

const readTunnelState = async (paths: StatePaths): Promise<TunnelReport> => {
  let text: string;
  try {
    text = await fs.readFile(paths.tunnelState, 'utf8');
  } catch (error) {
    if (isNotFound(error)) return NOT_RUNNING;
    throw error;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { ...NOT_RUNNING, detail: `${paths.tunnelState} is not valid JSON` };
  }
  const parsed = v.safeParse(TunnelStateFile, data);
  if (!parsed.success) return { ...NOT_RUNNING, detail: `${paths.tunnelState} is not in the expected format` };
  const t = parsed.output;
  const pid = t.pid ?? null;
  const report: TunnelReport = {
    state: t.state,
    since: t.since,
    detail: t.detail == null ? null : stripControls(t.detail),
    pid,
    ...(t.forwards ? { forwards: { local: t.forwards.local.map(stripControls), remote: t.forwards.remote.map(stripControls) } } : {}),
    ...(t.health ? { health: t.health } : {}),
  };
  // A tunnel that was killed cannot say so; its last word is still on disk.
  const finished = t.state === 'stopped' || t.state === 'revoked';
  if (!finished && pid !== null && !alive(pid)) return { ...report, state: 'not running', detail: `last state ${t.state}; process ${pid} is gone` };
  return report;
};

const certificateReport = (c: CertificateState, now: number): StatusReport['certificate'] => {
  const issued = Date.parse(c.issued_at);
  const expires = Date.parse(c.expires_at);
  return {
    expires_at: c.expires_at,
    renews_after: new Date(expires - (expires - issued) / 3).toISOString(),
    expired: expires <= now,
    cert_file: c.cert_file,
    ca_file: c.ca_file,
  };
};

const collect = async (paths: StatePaths, ctx: CommandContext): Promise<StatusReport> => {
  const exists = await fs.stat(paths.dir).then(
    () => true,
    () => false,
  );
  const credentials = exists ? await readCredentialsInfo(paths) : null;
  const protection = exists ? await protectionOf(paths) : '0600 files';
  const pending = exists ? await readEnrollment(paths) : null;
  const tunnel = exists ? await readTunnelState(paths) : NOT_RUNNING;
  return {
    enrolled: credentials !== null,
    state_dir: paths.dir,
    protection,
    private_key_file: exists ? await privateKeyFile(paths) : paths.privateKey,
    agent_key_file: protection === '0600 files' ? paths.credentials : credentialsCredPath(paths),
    agent_id: credentials?.agent_id ?? null,
    site_code: credentials?.site_code ?? null,
    server: credentials?.server ?? null,
    hostname: credentials?.hostname ?? null,
    fingerprint: credentials?.fingerprint ?? null,
    enrolled_at: credentials?.enrolled_at ?? null,
    renewed_at: credentials?.renewed_at ?? null,
    ssh_tunnel_issued: credentials?.ssh != null,
    certificate: credentials?.certificate ? certificateReport(credentials.certificate, (ctx.now ?? Date.now)()) : null,
    tunnel,
    pending: pending && {
      enrollment_id: pending.enrollment_id,
      site_code: pending.site_code,
      server: pending.server,
      fingerprint: pending.fingerprint,
      hostname: pending.hostname,
      started_at: pending.started_at,
      waiting: pending.poll_token !== undefined,
    },
  };
};

const printReport = (r: StatusReport, ctx: CommandContext): void => {
  const { progress } = ctx;
  const paths = resolveStatePaths(r.state_dir);
  if (r.enrolled) {
    progress.plain(`Enrolled:     yes, since ${r.enrolled_at}${r.renewed_at ? ` (last renewed ${r.renewed_at})` : ''}`);
    progress.plain(`Agent id:     ${r.agent_id}`);
    progress.plain(`Site:         ${r.site_code}`);
    progress.plain(`Server:       ${r.server}`);
    progress.plain(`Host name:    ${r.hostname}`);
    progress.plain(`Key:          ${r.fingerprint} (${r.private_key_file})`);
    progress.plain(`Agent key:    stored in ${r.agent_key_file} (not shown)`);
    progress.plain(
      r.protection === '0600 files'
        ? 'Protection:   0600 files (not sealed: a copy of the state directory works elsewhere; see docs/installers.md)'
        : 'Protection:   sealed (systemd-creds): the secrets decrypt on this host only',
    );
    progress.plain(
      r.certificate
        ? `Certificate:  ${r.certificate.expired ? 'EXPIRED' : 'valid'} until ${r.certificate.expires_at}, renews after ${r.certificate.renews_after} (${r.certificate.cert_file})`
        : 'Certificate:  none',
    );
    progress.plain(`SSH settings: ${r.ssh_tunnel_issued ? 'included' : 'none issued'}`);
  }
  const t = r.tunnel;
  progress.plain(`Tunnel:       ${t.state}${t.since ? ` since ${t.since}` : ''}${t.pid ? ` (pid ${t.pid})` : ''}${t.detail ? `: ${t.detail}` : ''}`);
  if (t.forwards) {
    progress.plain(`Forwards:     ${t.forwards.local.map((f) => `-L ${f}`).concat(t.forwards.remote.map((f) => `-R ${f}`)).join(', ') || 'none'}`);
  }
  if (t.health?.checked_at) {
    progress.plain(`Health:       ${t.health.ok ? 'answering' : `NOT answering (${t.health.failures} in a row)`}, checked ${t.health.checked_at}`);
  }
  if (r.pending) {
    progress.plain('');
    progress.plain(`Pending:      enrollment ${r.pending.enrollment_id} into site ${r.pending.site_code} at ${r.pending.server}`);
    progress.plain(`Waiting since ${r.pending.started_at} for approval of ${r.pending.fingerprint} (${r.pending.hostname})`);
    progress.plain(`Continue with: airlock-agent enroll --resume${stateDirFlag(paths)}`);
    if (!r.enrolled) progress.plain(`If it was approved but the credentials never arrived: airlock-agent recover${stateDirFlag(paths)}`);
  }
  if (!r.enrolled && !r.pending) progress.plain(`Not enrolled (state directory ${r.state_dir}).`);
};
