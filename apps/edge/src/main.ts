import cluster from 'node:cluster';
import { runPrimary } from './cluster-primary.ts';
import { exitOnConfigError, loadAll } from '@airlock/config';
import { loadConfig } from './env.ts';
import { createLogger } from './log.ts';
import { startEdge } from './server.ts';
import { loadSshDemuxConfig } from './demux.ts';

const logger = createLogger();

const main = async () => {
  // Both tables read before either stops the start, so every problem is listed at once.
  const { config, sshDemux } = exitOnConfigError('airlock edge', () =>
    loadAll('edge', { config: () => loadConfig(process.env), sshDemux: () => loadSshDemuxConfig(process.env) }),
  );
  if (config.workers > 1 && cluster.isPrimary) {
    await runPrimary(config, logger, sshDemux);
    return;
  }
  // Installed before the listener opens: an unhandled SIGHUP kills a Node
  // process, and `systemctl reload` may come while the edge is still starting.
  let reload: (() => Promise<unknown>) | null = null;
  let reloadRequested = false;
  process.on('SIGHUP', () => {
    if (reload) void reload();
    else reloadRequested = true;
  });
  const edge = await startEdge(config, { logger, serveMetrics: !cluster.isWorker, sshDemux });
  reload = () => edge.reloadTls();
  if (reloadRequested) void reload();
  const stop = (signal: string) => {
    logger.log('info', 'signal received', { signal });
    edge.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
};

// A stray rejection must be logged, not take down the only public listener.
process.on('unhandledRejection', (reason) => {
  logger.log('error', 'unhandled rejection', { reason: reason instanceof Error ? reason.message : String(reason) });
});

main().catch((err: unknown) => {
  logger.log('error', 'edge failed to start', { reason: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
