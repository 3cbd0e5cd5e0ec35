/**
 * `pnpm start:tunnel`: the SSH tunnel endpoint. Prepares and supervises a
 * real OpenSSH sshd in the foreground; exits 0 on SIGTERM/SIGINT once sshd and
 * the sessions it served are gone. A token the api refuses (unknown, or not
 * the `tunnel` role) or a host key an admin retired stops it at start, exit 1,
 * with the fix in the message.
 */
import { exitOnConfigError } from '@airlock/config';
import { createLogger } from '@airlock/log';
import { ApiRefused, createTunnelApi, type TunnelApi } from './api.ts';
import { loadTunnelConfig } from './env.ts';
import type { LogFn } from './events.ts';
import { checkAccounts, checkKeysSocketPath, ensureHostKey, ensurePrivsepDir, installKeysHelper, SetupError, writeSshdConfig } from './install.ts';
import { endProcesses } from './procfs.ts';
import { sshdListenersFor, sshdOnOurPort } from './sessions.ts';
import { startSupervisor } from './supervisor.ts';

// JSON lines through @airlock/log: the same redaction as the api and the edge (a token or key that
// reached a message or a field by mistake is written as [redacted]).
const log: LogFn = createLogger({
  service: 'tunnel',
  // `host_key` is the host key's algorithm name, logged at start; a secret-shaped value would still be redacted.
  readableFields: ['host_key'],
}).log;

const fatal = (message: string): never => {
  process.stderr.write(`airlock-tunnel: ${message}\n`);
  process.exit(1);
};

/** One registration; true once the api has the key, false when it is away (retry later). ApiRefused goes up. */
const registerHostKey = async (api: TunnelApi, hostKey: string): Promise<boolean> => {
  try {
    await api.registerHostKeys([hostKey]);
    return true;
  } catch (err) {
    if (err instanceof ApiRefused) throw err;
    return false;
  }
};

const main = async () => {
  const config = exitOnConfigError('airlock-tunnel', () => loadTunnelConfig(process.env));
  // Installed first: a signal during setup must still end cleanly.
  let stop: (() => Promise<void>) | null = null;
  const onSignal = (signal: string) => {
    log('info', 'signal received', { signal });
    if (!stop) process.exit(0);
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  // SIGHUP: rewrite sshd_config and the helper from this process's settings, then have sshd re-read them.
  let reload: (() => Promise<void>) | null = null;
  process.on('SIGHUP', () => {
    if (!reload) return log('info', 'SIGHUP before sshd started: ignored');
    reload().catch((err: unknown) => log('error', 'reload failed; sshd keeps its previous config', { reason: err instanceof Error ? err.message : 'unknown' }));
  });

  const accounts = await checkAccounts(config);
  await ensurePrivsepDir();
  const hostKey = await ensureHostKey(config.hostKey);
  await checkKeysSocketPath(config);
  const helper = await installKeysHelper(config);
  const sshdConfig = await writeSshdConfig(config, helper);

  // The token's role and the host key are checked before sshd starts: a
  // refusal is a setup problem. An api that is merely away is not: logins are
  // refused meanwhile (the keys service fails closed) and registration retries.
  const api = createTunnelApi(config);
  let registered = false;
  try {
    await api.checkAccess();
    registered = await registerHostKey(api, hostKey);
  } catch (err) {
    if (err instanceof ApiRefused) fatal(err.message);
    log('warn', 'the api is not reachable yet; logins are refused until it is', { reason: err instanceof Error ? err.message : 'unknown' });
  }

  // A listener and sessions left by a previous run that died hard: the port
  // must be ours, and sessions are nobody's to revoke. End them; agents reconnect.
  const stale = await sshdListenersFor(sshdConfig);
  if (stale.length > 0) {
    log('warn', 'ending an sshd left by a previous run', { processes: stale.length });
    await endProcesses(stale);
  }
  const orphans = await sshdOnOurPort(config);
  if (orphans.length > 0) {
    log('warn', 'ending sessions left by a previous run', { processes: orphans.length });
    await endProcesses(orphans);
  }

  const supervisor = await startSupervisor(config, sshdConfig, accounts, api, log);
  stop = supervisor.stop;
  reload = async () => {
    await installKeysHelper(config);
    await writeSshdConfig(config, helper);
    supervisor.reload();
  };
  await supervisor.listening;
  log('info', 'tunnel listening', { host: config.host, port: config.port, user: config.user, host_key: hostKey.split(' ')[0] ?? '' });

  // The api serves the key as credentials.ssh.known_hosts; keep trying until it has it.
  // (Logged only now, with sshd listening: tests and operators read it as "ready".)
  if (registered) log('info', 'host key registered with the api');
  for (let delay = 1000; !registered; delay = Math.min(delay * 2, 30_000)) {
    log('warn', 'host key not registered yet; retrying', { in_ms: delay });
    await new Promise((r) => setTimeout(r, delay));
    try {
      registered = await registerHostKey(api, hostKey);
      if (registered) log('info', 'host key registered with the api');
    } catch (err) {
      // Refused for good (token disabled, role changed, key retired): nothing here can fix it.
      await supervisor.stop();
      fatal(err instanceof Error ? err.message : String(err));
    }
  }
};

process.on('unhandledRejection', (reason) => {
  log('error', 'unhandled rejection', { reason: reason instanceof Error ? reason.message : String(reason) });
});

main().catch((err: unknown) => {
  fatal(err instanceof SetupError ? err.message : err instanceof Error ? err.message : String(err));
});
