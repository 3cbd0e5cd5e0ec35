import cluster from 'node:cluster';
import { runPrimary } from './cluster-primary.ts';
import { ConfigError, loadConfig, type EdgeConfig } from './env.ts';
import { createLogger } from './log.ts';
import { startEdge } from './server.ts';
import { loadSshDemuxConfig, type SshDemuxConfig } from './demux.ts';

const logger = createLogger();

const main = async () => {
  let config: EdgeConfig;
  let sshDemux: SshDemuxConfig | null; // SSH demux (tunnel)
  try {
    config = loadConfig(process.env);
    sshDemux = loadSshDemuxConfig(process.env); // SSH demux (tunnel)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
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
