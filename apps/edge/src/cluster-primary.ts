import cluster, { type Worker } from 'node:cluster';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AggregatorRegistry } from 'prom-client';
import type { EdgeConfig } from './env.ts';
import type { Logger } from './log.ts';
import { sendError } from './respond.ts';
import { bookRules, LocalBook } from './ssh/book.ts';
import { serveClusterBook } from './ssh/cluster-book.ts';
import type { SshDemuxConfig } from './ssh/config.ts';

/**
 * EDGE_WORKERS > 1: this process forks the workers (each a full edge on the
 * shared listening port), restarts a worker that dies, forwards SIGHUP (TLS
 * reload) and SIGTERM/SIGINT (drain) to them, and serves their metrics summed
 * on the metrics port. Limits stay exact across workers because every budget
 * and block lives in Redis and is spent by one atomic script. The SSH demux's
 * pre-auth cap and rate limit do too; without Redis this process keeps them
 * for all of its workers (ssh/cluster-book.ts).
 */
export const runPrimary = async (config: EdgeConfig, logger: Logger, sshDemux: SshDemuxConfig | null = null): Promise<void> => {
  let stopping = false;
  if (sshDemux !== null && config.redis === null) {
    serveClusterBook(new LocalBook(bookRules(config, sshDemux)), logger);
  }
  const fork = (): Worker => cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    logger.log('error', 'edge worker died; starting another', { worker: worker.id, code, signal: signal ?? undefined });
    setTimeout(fork, 500).unref();
  });
  for (let i = 0; i < config.workers; i += 1) fork();

  const aggregator = new AggregatorRegistry();
  const metricsServer = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      aggregator
        .clusterMetrics()
        .then((text) => {
          res.writeHead(200, { 'content-type': aggregator.contentType });
          res.end(text);
        })
        .catch((err: unknown) => {
          logger.log('error', 'could not collect worker metrics', { reason: err instanceof Error ? err.message : 'unknown' });
          sendError(res, 'internal_error', 'Internal error');
        });
      return;
    }
    sendError(res, 'not_found', 'Not found');
  });
  await new Promise<void>((resolve) => metricsServer.listen(config.metricsPort, config.metricsHost, () => resolve()));
  logger.log('info', 'edge primary started', {
    workers: config.workers,
    metrics_port: (metricsServer.address() as AddressInfo).port,
  });

  const each = (signal: NodeJS.Signals) => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
  };
  process.on('SIGHUP', () => each('SIGHUP'));
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.log('info', 'signal received', { signal });
    metricsServer.close();
    each('SIGTERM');
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
};
