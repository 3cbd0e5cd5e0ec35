/**
 * The endpoint's moving parts, started and stopped together: the keys
 * service (answers sshd's AuthorizedKeysCommand and records who it let in),
 * sshd itself (kept running), and the session guard (every few seconds:
 * sessions from /proc, default-deny against that record and the api). sshd
 * decides who gets in; this process makes sure a revocation also ends what
 * is already open, whatever the client asked for or wrote into sshd's log.
 */
import type { TunnelApi } from './api.ts';
import type { TunnelConfig } from './env.ts';
import { createReporter, type LogFn, type TunnelCounters } from './events.ts';
import type { Account } from './install.ts';
import { startKeysService } from './keys-service.ts';
import { createSessionGuard, type SessionGuard } from './session-guard.ts';
import { createTunnelMetrics, serveTunnelMetrics } from './metrics.ts';
import { sshdListenersFor } from './sessions.ts';
import { endProcesses } from './procfs.ts';
import { startSshd } from './sshd-process.ts';
import { createLiveStateReporter } from './live-state.ts';

export type { LogFn };

export interface Supervisor {
  stop(): Promise<void>;
  /** SIGHUP to sshd: it re-executes itself with the same absolute paths and re-reads its config; sessions stay. */
  reload(): void;
  /** Resolves once sshd listens on our port (the first time). */
  listening: Promise<void>;
  counters: TunnelCounters;
}

export const startSupervisor = async (
  config: TunnelConfig,
  sshdConfigPath: string,
  accounts: { tunnel: Account; keys: Account },
  api: TunnelApi,
  log: LogFn,
): Promise<Supervisor> => {
  const reporter = createReporter(config, api, log);
  // Before sshd: its first login must find the service answering.
  let guard: SessionGuard | null = null;
  const metrics = createTunnelMetrics({ counters: reporter.counters, closedByReason: reporter.closedByReason, liveSessions: () => guard?.open ?? 0 });
  const keys = await startKeysService({ config, keysAccount: accounts.keys, api, reporter, log, observeLookup: metrics.observeLookup });
  guard = createSessionGuard({ config, tunnelUid: accounts.tunnel.uid, api, book: keys.book, reporter, log });
  const sessionGuard = guard;
  const sshd = startSshd(config, sshdConfigPath, log, () => reporter.counters.sshd_restarts++);
  const metricsServer = config.metricsPort === 0 ? null : await serveTunnelMetrics(metrics, config.metricsHost, config.metricsPort);
  if (metricsServer) log('info', 'metrics listening', { host: config.metricsHost, port: metricsServer.port });
  const live = createLiveStateReporter({ api, port: config.port, leaseSeconds: config.leaseSeconds, log });

  let stopping = false;
  const pollTimer = setInterval(() => {
    if (stopping) return;
    sessionGuard
      .poll()
      .then(() => live.update(sessionGuard.snapshot()))
      .catch((err: unknown) => log('error', 'session poll failed', { reason: err instanceof Error ? err.message : 'unknown' }));
  }, config.revocationPollMs);

  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(pollTimer);
    await sshd.stop();
    // Whatever else listens with our config (a restart that raced the stop) goes too.
    await endProcesses(await sshdListenersFor(sshdConfigPath));
    // Sessions outlive the listener (setsid); without this process nobody would
    // enforce revocation on them, so they end with it.
    await sessionGuard.endAll('endpoint_stopped');
    await live.close();
    await keys.close();
    reporter.close();
    if (metricsServer) await new Promise<void>((r) => metricsServer.close(() => r()));
  };

  return { stop, listening: sshd.listening, reload: sshd.reload, counters: reporter.counters };
};
