/**
 * The edge in this process, for its own tests: a test configuration, a
 * logger that keeps what it is told, and startEdge on port 0. What is not
 * the edge's own (ports, waiting, Redis, raw HTTP, the edge as a process)
 * comes from @airlock/testing.
 */
import { loadConfig, type EdgeConfig } from '../env.ts';
import type { LogFields, Logger, LogLevel } from '../log.ts';
import { startEdge, type RunningEdge } from '../server.ts';

export interface CapturedLog {
  level: LogLevel;
  msg: string;
  fields: LogFields;
}

export const captureLogger = (): Logger & { lines: CapturedLog[] } => {
  const lines: CapturedLog[] = [];
  return { lines, log: (level, msg, fields = {}) => lines.push({ level, msg, fields }) };
};

export const testConfig = (env: Record<string, string>): EdgeConfig =>
  loadConfig({ EDGE_HOST: '127.0.0.1', EDGE_PORT: '0', EDGE_METRICS_PORT: '0', ...env });

export const startTestEdge = async (
  env: Record<string, string>,
): Promise<RunningEdge & { logs: CapturedLog[] }> => {
  const logger = captureLogger();
  const edge = await startEdge(testConfig(env), { logger });
  return { ...edge, logs: logger.lines };
};

