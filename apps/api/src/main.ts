/** `pnpm start:api`: the internal api, configured from the environment. */
import { exitOnConfigError } from '@airlock/config';
import { createLogger } from '@airlock/log';
import { loadApiConfig } from './env.ts';
import { serveMetrics } from './metrics.ts';
import { startApi } from './server.ts';

const main = async () => {
  const config = exitOnConfigError('airlock api', () => loadApiConfig(process.env));
  const logger = createLogger({ service: 'api', level: config.logLevel });
  const api = await startApi(config, { logger });
  const metricsServer =
    config.metricsPort === 0 || !api.deps.metrics ? null : await serveMetrics(api.deps.metrics, config.metricsHost, config.metricsPort);
  if (metricsServer) logger.info('metrics listening', { host: config.metricsHost, port: metricsServer.port });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    metricsServer?.close();
    await api.close().catch((err: unknown) => logger.error('shutdown error', { error: String(err) }));
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
};

main().catch((err: unknown) => {
  process.stderr.write(`airlock api: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
