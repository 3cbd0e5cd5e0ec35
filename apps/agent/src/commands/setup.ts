/**
 * `airlock-agent setup`: the console wizard (issue 23, the VMA's setup menu).
 * Asks, each answer validated as it is typed, for the server, how to trust
 * it, pairing code or site key and the site, and whether to start the
 * tunnel; then runs the same enrollment as `airlock-agent enroll`, asking
 * again for the code or key when the server refuses it. Prompts by
 * @clack/prompts: no hand-written terminal handling.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as p from '@clack/prompts';
import { ENROLLMENT_KEY_PATTERN, SiteCode, TlsPin } from '@airlock/schema';
import * as v from 'valibot';
import { parsePairingCode, parseStrict, UsageError } from '../args.ts';
import { resolveStatePaths, type CommandContext } from '../context.ts';
import { ExitCode } from '../exit-codes.ts';
import { enrollCommand } from './enroll.ts';
import type { AgentCommand } from './types.ts';

const HELP = `Set this machine up interactively: the server, its pin or CA, a pairing
code or the site's enrollment key, and whether to start the tunnel. Needs a
terminal; every answer is checked as it is typed, and a code or key the
server refuses is asked for again (3 tries).

  airlock-agent setup [--state-dir DIR]

Unattended, use airlock-agent enroll with flags, or the site's installer.
Exit codes: those of airlock-agent enroll; 130 when the wizard is cancelled.
`;

const ATTEMPTS = 3;
const SERVER = /^https:\/\/(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?\/?$/;

/** Cancelled (Ctrl-C / Esc): leave without enrolling. */
class Cancelled extends Error {}
const answer = <T>(value: T): Exclude<T, symbol> => {
  if (p.isCancel(value) || typeof value === 'symbol') throw new Cancelled();
  return value as Exclude<T, symbol>;
};

const checkServer = (s: string | undefined) => (SERVER.test(s ?? '') ? undefined : 'Type https://HOST or https://HOST:PORT (nothing after it)');
const checkPin = (s: string | undefined) => (v.is(TlsPin, s ?? '') ? undefined : 'Type sha256: and the 64 hex digits your administrator gave you');
const checkSite = (s: string | undefined) => (v.is(SiteCode, s ?? '') ? undefined : 'A site code is 2-32 letters, digits and hyphens, e.g. ACME-PHX');
const checkKey = (s: string | undefined) => (ENROLLMENT_KEY_PATTERN.test((s ?? '').trim()) ? undefined : 'A site key looks like cek_ and 43 more characters');
const checkCode = (s: string | undefined) => {
  try {
    parsePairingCode(s ?? '');
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : 'not a pairing code';
  }
};
const checkCaFile = (s: string | undefined) => {
  try {
    return readFileSync(s ?? '', 'utf8').includes('-----BEGIN CERTIFICATE-----') ? undefined : 'That file holds no PEM certificate';
  } catch {
    return 'No readable file there; type the full path of the CA certificate (PEM)';
  }
};

type Secret = { kind: 'code' | 'key'; value: string };

const askSecret = async (kind: Secret['kind']): Promise<Secret> =>
  kind === 'code'
    ? { kind, value: answer(await p.text({ message: 'Pairing code (from your operator)', placeholder: 'XXXX-XXXX-XXXX', validate: checkCode })) }
    : { kind, value: answer(await p.password({ message: "The site's enrollment key", validate: checkKey })).trim() };

const startTunnel = (stateDir: string | undefined): void => {
  const systemd = spawnSync('systemctl', ['is-system-running'], { encoding: 'utf8' });
  if (!/^(running|degraded|starting|initializing|maintenance)/.test(systemd.stdout ?? '')) {
    p.log.warn(`systemd is not running here; start the tunnel with: airlock-agent tunnel${stateDir ? ` --state-dir ${stateDir}` : ''}`);
    return;
  }
  const started = spawnSync('systemctl', ['enable', '--now', 'airlock-agent-tunnel.service'], { encoding: 'utf8' });
  if (started.status === 0) p.log.success('Tunnel started (airlock-agent-tunnel.service, enabled at boot).');
  else p.log.error(`systemctl could not start the tunnel: ${(started.stderr ?? '').trim()}`);
};

const wizard = async (stateDir: string | undefined, ctx: CommandContext): Promise<ExitCode> => {
  p.intro('Airlock agent setup');
  const server = answer(await p.text({ message: 'Airlock server address', placeholder: 'https://airlock.example.net', validate: checkServer })).replace(/\/$/, '');
  const trust = answer(
    await p.select({
      message: 'How does this machine trust the server?',
      options: [
        { value: 'pin', label: 'Certificate pin (sha256:…)', hint: 'self-signed or private certificate' },
        { value: 'ca', label: 'CA certificate file (PEM)' },
        { value: 'system', label: "The system's CAs", hint: 'a public certificate' },
      ],
    }),
  );
  const trustArgs =
    trust === 'pin'
      ? ['--pin', answer(await p.text({ message: 'Server certificate pin', placeholder: 'sha256:…', validate: checkPin })).trim()]
      : trust === 'ca'
        ? ['--ca-file', answer(await p.text({ message: 'Path of the CA certificate (PEM)', validate: checkCaFile })).trim()]
        : [];
  const method = answer(
    await p.select({
      message: 'How do you enroll?',
      options: [
        { value: 'code' as const, label: 'Pairing code', hint: 'an operator approves this machine' },
        { value: 'key' as const, label: "Site enrollment key (cek_…)", hint: 'zero-touch' },
      ],
    }),
  );
  const site = answer(await p.text({ message: 'Site code', placeholder: 'ACME-PHX', validate: checkSite })).toUpperCase();
  let secret = await askSecret(method);
  const tunnel = answer(await p.confirm({ message: 'Start the tunnel once enrolled?' }));

  for (let attempt = 1; ; attempt += 1) {
    const args = ['--server', server, '--site', site, ...trustArgs, ...(stateDir ? ['--state-dir', stateDir] : [])];
    // The key reaches enroll through the environment, as AIRLOCK_ENROLLMENT_KEY does: never argv.
    const code = await enrollCommand.run(secret.kind === 'code' ? [...args, '--code', secret.value] : args, {
      ...ctx,
      env: { ...ctx.env, AIRLOCK_ENROLLMENT_KEY: secret.kind === 'key' ? secret.value : '' },
    });
    if (code === ExitCode.Denied && attempt < ATTEMPTS) {
      p.log.error(`The server refused that ${secret.kind === 'code' ? 'pairing code' : 'key'}, or it is not for site ${site}. Check it and type it again.`);
      secret = await askSecret(secret.kind);
      continue;
    }
    if (code !== ExitCode.Ok) {
      p.outro('Setup did not finish; see the message above.');
      return code;
    }
    break;
  }
  if (tunnel) startTunnel(stateDir);
  p.outro(`Enrolled. State: ${resolveStatePaths(stateDir).dir}. Check with: airlock-agent status`);
  return ExitCode.Ok;
};

export const setupCommand: AgentCommand = {
  name: 'setup',
  summary: 'set this machine up interactively (server, pin or CA, code or key, tunnel); needs a terminal',
  help: () => HELP,
  run: async (argv, ctx) => {
    const { values } = parseStrict(argv, { 'state-dir': { type: 'string' } }, 'setup');
    // ctx.prompt exists only when standard input is a terminal.
    if (ctx.prompt === undefined) throw new UsageError('setup asks questions and needs a terminal; unattended, use airlock-agent enroll with flags');
    try {
      return await wizard(values['state-dir'], ctx);
    } catch (error) {
      if (!(error instanceof Cancelled)) throw error;
      p.cancel('Setup cancelled; nothing was enrolled.');
      return ExitCode.Interrupted;
    }
  },
};
