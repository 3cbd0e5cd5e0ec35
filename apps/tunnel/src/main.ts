/**
 * `pnpm start:tunnel`: the SSH tunnel endpoint. Prepares and supervises a
 * real OpenSSH sshd in the foreground; exits 0 on SIGTERM/SIGINT once sshd and
 * the sessions it served are gone.
 */
import { createTunnelApi } from './api.ts';
import { ConfigError, loadTunnelConfig, type TunnelConfig } from './env.ts';
import { checkAccounts, ensureHostKey, ensurePrivsepDir, installKeysHelper, SetupError, writeSshdConfig } from './install.ts';
import { endProcesses, sshdListenersFor, sshdPidsForConnection } from './sockets.ts';
import { startSupervisor, type LogFn } from './supervisor.ts';

const log: LogFn = (level, msg, fields = {}) => {
  process.stdout.write(`${JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields })}\n`);
};

const main = async () => {
  let config: TunnelConfig;
  try {
    config = loadTunnelConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`airlock-tunnel: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
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

  const keysAccount = await checkAccounts(config);
  await ensurePrivsepDir();
  const hostKey = await ensureHostKey(config.hostKey);
  const helper = await installKeysHelper(config, keysAccount);
  const sshdConfig = await writeSshdConfig(config, helper);
  // A listener and sessions left by a previous run that died hard: the port
  // must be ours, and sessions are nobody's to revoke. End them; agents reconnect.
  const stale = await sshdListenersFor(sshdConfig);
  if (stale.length > 0) {
    log('warn', 'ending an sshd left by a previous run', { processes: stale.length });
    await endProcesses(stale);
  }
  const orphans = await sshdPidsForConnection(config.port);
  if (orphans.length > 0) {
    log('warn', 'ending sessions left by a previous run', { processes: orphans.length });
    await endProcesses(orphans);
  }

  const api = createTunnelApi(config);
  const supervisor = startSupervisor(config, sshdConfig, api, log);
  stop = supervisor.stop;
  reload = async () => {
    await installKeysHelper(config, keysAccount);
    await writeSshdConfig(config, helper);
    supervisor.reload();
  };
  await supervisor.listening;
  log('info', 'tunnel listening', { host: config.host, port: config.port, user: config.user, host_key: hostKey.split(' ')[0] ?? '' });

  // The api serves these keys as credentials.ssh.known_hosts; keep trying until it has them.
  for (let delay = 1000; ; delay = Math.min(delay * 2, 30_000)) {
    try {
      await api.registerHostKeys([hostKey]);
      log('info', 'host key registered with the api');
      return;
    } catch (err) {
      log('warn', 'host key registration failed; retrying', { reason: err instanceof Error ? err.message : 'unknown', in_ms: delay });
      await new Promise((r) => setTimeout(r, delay));
    }
  }
};

process.on('unhandledRejection', (reason) => {
  log('error', 'unhandled rejection', { reason: reason instanceof Error ? reason.message : String(reason) });
});

main().catch((err: unknown) => {
  const message = err instanceof SetupError ? err.message : err instanceof Error ? err.message : String(err);
  process.stderr.write(`airlock-tunnel: ${message}\n`);
  process.exit(1);
});
