/**
 * A real Redis Sentinel group on loopback: a primary, one replica and three
 * sentinels (quorum 2), each its own process on a free port, in a temp dir.
 * Nothing here touches the system Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort, waitFor } from '@airlock/testing';

const MASTER_NAME = 'airlock';
/** How long the primary must be silent before the sentinels act: the window limits live in memory. */
export const DOWN_AFTER_MS = 3_000;

interface Managed {
  child: ChildProcess;
  exited: Promise<void>;
}

const launch = (command: string, args: string[]): Managed => {
  const child = spawn(command, args, { stdio: 'ignore' });
  return { child, exited: new Promise<void>((r) => child.once('exit', () => r())) };
};

const kill = async (m: Managed | undefined): Promise<void> => {
  if (m && m.child.exitCode === null && m.child.signalCode === null) {
    m.child.kill('SIGKILL');
    await m.exited;
  }
};

const client = (port: number): Redis => {
  const r = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
  r.on('error', () => undefined);
  return r;
};

/** Runs one command against 127.0.0.1:port, null if it is not answering. */
const ask = async (port: number, ...command: [string, ...Array<string | number>]): Promise<unknown> => {
  const r = client(port);
  try {
    await r.connect();
    return await r.call(...command);
  } catch {
    return null;
  } finally {
    r.disconnect();
  }
};

export interface SentinelGroup {
  primaryPort: number;
  replicaPort: number;
  sentinelPorts: number[];
  /** REDIS_SENTINELS / REDIS_SENTINEL_NAME for the apps. */
  env: Record<string, string>;
  killPrimary: () => Promise<void>;
  /** The primary's port as the sentinels currently name it. */
  currentPrimaryPort: () => Promise<number | null>;
  stop: () => Promise<void>;
}

export const startSentinelGroup = async (): Promise<SentinelGroup> => {
  const dir = mkdtempSync(path.join(tmpdir(), 'airlock-chaos-sentinel-'));
  const primaryPort = await freePort();
  const replicaPort = await freePort();
  const sentinelPorts = [await freePort(), await freePort(), await freePort()];
  const common = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  const primary = launch('redis-server', ['--port', String(primaryPort), ...common]);
  const replica = launch('redis-server', ['--port', String(replicaPort), ...common, '--replicaof', '127.0.0.1', String(primaryPort)]);
  const sentinels = sentinelPorts.map((port, i) => {
    const conf = path.join(dir, `sentinel-${i}.conf`);
    // Sentinels rewrite their config file as they learn; each needs its own.
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primaryPort} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} ${DOWN_AFTER_MS}`,
        `sentinel failover-timeout ${MASTER_NAME} 10000`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`,
        '',
      ].join('\n'),
    );
    return launch('redis-sentinel', [conf]);
  });
  const all = [primary, replica, ...sentinels];
  const stop = async () => {
    await Promise.all(all.map((m) => kill(m)));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // Ready when the replica is in sync and every sentinel knows the replica and the two other sentinels.
    await waitFor(async () => {
      const info = await ask(replicaPort, 'INFO', 'replication');
      return typeof info === 'string' && info.includes('master_link_status:up');
    }, 'the replica to sync', 30_000);
    for (const port of sentinelPorts) {
      await waitFor(async () => {
        const replicas = await ask(port, 'SENTINEL', 'REPLICAS', MASTER_NAME);
        const peers = await ask(port, 'SENTINEL', 'SENTINELS', MASTER_NAME);
        return Array.isArray(replicas) && replicas.length === 1 && Array.isArray(peers) && peers.length === 2;
      }, `sentinel ${port} to see the replica and its peers`, 30_000);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    primaryPort,
    replicaPort,
    sentinelPorts,
    env: { REDIS_SENTINELS: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','), REDIS_SENTINEL_NAME: MASTER_NAME },
    killPrimary: () => kill(primary),
    currentPrimaryPort: async () => {
      const addr = await ask(sentinelPorts[0] ?? 0, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME);
      return Array.isArray(addr) && addr.length === 2 ? Number(addr[1]) : null;
    },
    stop,
  };
};
