/** Real Redis for tests: the shared server under a unique key prefix, or a private redis-server. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { freePort } from './ports.ts';
import { waitFor } from './wait.ts';

export const REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

export const uniquePrefix = (): string => `airlock:test:${randomUUID().slice(0, 8)}:`;

export const deletePrefix = async (url: string, prefix: string): Promise<void> => {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
};

// ---- a private redis-server ----------------------------------------------------

export interface RedisServer {
  port: number;
  url: string;
  stop: () => Promise<void>;
  start: () => Promise<void>;
}

/** Starts `redis-server` on a spare port with no persistence; can be stopped and restarted. */
export const startRedisServer = async (): Promise<RedisServer> => {
  const port = await freePort();
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    const c = child;
    exited = new Promise<void>((r) => c.once('exit', () => r()));
    await waitFor(async () => {
      const probe = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        return (await probe.ping()) === 'PONG';
      } catch {
        return false;
      } finally {
        probe.disconnect();
      }
    }, 'redis-server to accept connections');
  };
  const stop = async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    child = null;
  };
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, stop, start };
};

