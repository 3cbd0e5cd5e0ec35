/**
 * The demux's admission of a new SSH connection: one call per connection
 * (never per HTTP request) that spends the identities' SSH rate budget and
 * takes a pre-auth slot under the global cap (rules: ledger.ts).
 *
 * Where the shared state lives:
 * - REDIS_URL set: Redis (redis-book.ts), for every worker and every edge on
 *   it. Evictions reach the holding process on the `ssh:evicted` channel, and
 *   a sweep every second closes any of this process's pre-auth connections
 *   that left the ledger without it hearing (a missed message).
 * - no Redis, EDGE_WORKERS > 1: the cluster primary (cluster-book.ts).
 * - no Redis, one process: this process (LocalBook).
 * When Redis or the primary cannot be reached, this process decides alone
 * with its share of the cap and the rate (a 1/EDGE_WORKERS share in a
 * worker), so the processes together stay inside the configured figures
 * (apart from slots already taken in the shared book; see the README).
 */
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { edgeKeys } from '@airlock/lockouts';
import type { EdgeConfig } from '../env.ts';
import type { Logger } from '../log.ts';
import { bookRules, LocalBook, type SshBook, type SshVerdict } from './book.ts';
import { ClusterBook } from './cluster-book.ts';
import type { SshDemuxConfig } from './config.ts';
import { RedisBook } from './redis-book.ts';

export interface SshSlot {
  /** The window ended or the connection closed: give the slot back. Idempotent. */
  release(): void;
}

export type SshAdmission =
  | { ok: true; slot: SshSlot }
  | { ok: false; reason: 'rate' | 'cap'; retryAfterSeconds: number };

export interface SshGate {
  /** Where the cap and the rate limit are shared. */
  mode: 'redis' | 'primary' | 'process';
  /** `onEvict`: called if a newcomer later takes this connection's slot; close it then. */
  admit(ids: readonly string[], onEvict: () => void): Promise<SshAdmission>;
  close(): void;
}

/** Unique among every process sharing the book: connection ids are `{tag}.{n}`. */
const TAG = `${process.pid.toString(36)}${randomBytes(4).toString('hex')}`;

const SWEEP_MS = 1_000;

interface Open {
  book: SshBook;
  since: number;
  onEvict: () => void;
}

export const createSshGate = (opts: { config: EdgeConfig; demux: SshDemuxConfig; logger: Logger; redis: Redis | null }): SshGate => {
  const { config, demux, logger, redis } = opts;
  const open = new Map<string, Open>();
  let n = 0;

  const evicted = (conn: string): void => {
    const o = open.get(conn);
    if (o === undefined) return;
    open.delete(conn);
    o.onEvict();
  };

  const clusterBook = redis === null && cluster.isWorker ? new ClusterBook(evicted) : null;
  const redisBook = redis === null ? null : new RedisBook(redis, edgeKeys(config.redisPrefix).sshPreauth, bookRules(config, demux));
  const shared: SshBook | null = redisBook ?? clusterBook;
  const local = new LocalBook(bookRules(config, demux, shared === null ? 1 : cluster.isWorker ? config.workers : 1));

  let subscriber: Redis | null = null;
  let sweep: NodeJS.Timeout | null = null;
  if (redis !== null && redisBook !== null) {
    const sub = redis.duplicate();
    subscriber = sub;
    sub.on('error', () => undefined);
    sub.on('message', (_channel: string, conn: string) => evicted(conn));
    sub.on('ready', () => {
      sub.subscribe(edgeKeys(config.redisPrefix).sshPreauth.evicted).catch(() => undefined);
    });
    sweep = setInterval(() => {
      const now = Date.now();
      // Only connections still inside their window: a slot past it was released here already.
      const mine = [...open].filter(([, o]) => o.book === redisBook && now - o.since < demux.preauthMs).map(([conn]) => conn);
      if (mine.length === 0) return;
      redisBook.missing(mine).then(
        (gone) => gone.forEach(evicted),
        () => undefined,
      );
    }, SWEEP_MS);
    sweep.unref();
  }
  const localSweep = setInterval(() => local.sweep(Date.now()), 5_000);
  localSweep.unref();

  let lastFallbackLog = 0;
  const decideAlone = (conn: string, ids: readonly string[], err: unknown) => {
    const now = Date.now();
    if (now - lastFallbackLog > 10_000) {
      lastFallbackLog = now;
      logger.log('error', 'ssh book unreachable; this process decides alone with its share of the pre-auth cap and the rate', {
        reason: err instanceof Error ? err.message : 'unknown',
      });
    }
    return local.decide(conn, ids, now);
  };

  const admit: SshGate['admit'] = async (ids, onEvict) => {
    n += 1;
    const conn = `${TAG}.${n}`;
    let book: SshBook = shared ?? local;
    let verdict: SshVerdict;
    if (shared === null) {
      verdict = local.decide(conn, ids, Date.now());
    } else {
      try {
        verdict = await shared.admit(conn, ids);
      } catch (err) {
        book = local;
        verdict = decideAlone(conn, ids, err);
      }
    }
    if (!verdict.ok) return verdict;
    open.set(conn, { book, since: Date.now(), onEvict });
    // The holder of the evicted slot closes it: here at once when it is ours,
    // elsewhere when that process hears of it.
    if (verdict.evicted !== null) evicted(verdict.evicted);
    return {
      ok: true,
      slot: {
        release: () => {
          // An evicted connection's slot is gone already.
          if (!open.delete(conn)) return;
          book.release(conn).catch(() => undefined);
        },
      },
    };
  };

  return {
    mode: redis !== null ? 'redis' : clusterBook !== null ? 'primary' : 'process',
    admit,
    close: () => {
      if (sweep !== null) clearInterval(sweep);
      clearInterval(localSweep);
      subscriber?.disconnect();
      clusterBook?.close();
    },
  };
};
