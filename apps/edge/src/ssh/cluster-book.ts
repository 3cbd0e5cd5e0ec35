/**
 * EDGE_WORKERS > 1 without Redis: the workers' SSH books are one LocalBook
 * in the cluster primary, reached over the cluster's IPC channel, so the
 * pre-auth cap and the SSH rate limit hold for the host, not per worker.
 * One message each way per new SSH connection, one per release; evictions
 * go to the worker that holds the evicted connection. The primary forgets a
 * dead worker's slots when it exits (leases would bring them back anyway).
 */
import cluster, { type Worker } from 'node:cluster';
import * as v from 'valibot';
import type { Logger } from '../log.ts';
import type { LocalBook, SshBook, SshVerdict } from './book.ts';

const Conn = v.pipe(v.string(), v.maxLength(64));
const Ids = v.pipe(v.array(v.pipe(v.string(), v.maxLength(64))), v.maxLength(3));

/** Worker -> primary. */
const ToPrimary = v.variant('airlockSsh', [
  v.object({ airlockSsh: v.literal('admit'), seq: v.number(), conn: Conn, ids: Ids }),
  v.object({ airlockSsh: v.literal('release'), conn: Conn }),
]);

/** Primary -> worker. */
const ToWorker = v.variant('airlockSsh', [
  v.object({
    airlockSsh: v.literal('verdict'),
    seq: v.number(),
    verdict: v.union([
      v.object({ ok: v.literal(true), evicted: v.nullable(v.string()) }),
      v.object({ ok: v.literal(false), reason: v.picklist(['rate', 'cap']), retryAfterSeconds: v.number() }),
    ]),
  }),
  v.object({ airlockSsh: v.literal('evict'), conn: v.string() }),
]);

type ToPrimaryMessage = v.InferOutput<typeof ToPrimary>;
type ToWorkerMessage = v.InferOutput<typeof ToWorker>;

/** The part of a message the prom-client aggregator and Node's own traffic never carry. */
const ours = (msg: unknown): boolean => typeof msg === 'object' && msg !== null && 'airlockSsh' in msg;

const tell = (worker: Worker, msg: ToWorkerMessage): void => {
  try {
    worker.send(msg);
  } catch {
    // The worker is gone; its slots are released on its exit.
  }
};

/**
 * Runs in the primary: answers the workers from `book`. Returns a stop function.
 */
export const serveClusterBook = (book: LocalBook, logger: Logger): (() => void) => {
  const owners = new Map<string, Worker>();
  const onMessage = (worker: Worker, raw: unknown) => {
    if (!ours(raw)) return;
    const parsed = v.safeParse(ToPrimary, raw);
    if (!parsed.success) {
      logger.log('error', 'ssh book: malformed message from a worker', { worker: worker.id });
      return;
    }
    const msg: ToPrimaryMessage = parsed.output;
    if (msg.airlockSsh === 'release') {
      book.ledger.release(msg.conn);
      owners.delete(msg.conn);
      return;
    }
    const verdict = book.decide(msg.conn, msg.ids, Date.now());
    if (verdict.ok) {
      owners.set(msg.conn, worker);
      if (verdict.evicted !== null) {
        const holder = owners.get(verdict.evicted);
        owners.delete(verdict.evicted);
        if (holder !== undefined) tell(holder, { airlockSsh: 'evict', conn: verdict.evicted });
      }
    }
    tell(worker, { airlockSsh: 'verdict', seq: msg.seq, verdict });
  };
  const onExit = (worker: Worker) => {
    for (const [conn, holder] of owners) {
      if (holder !== worker) continue;
      book.ledger.release(conn);
      owners.delete(conn);
    }
  };
  const sweep = setInterval(() => {
    for (const conn of book.sweep(Date.now())) owners.delete(conn);
  }, 5_000);
  sweep.unref();
  cluster.on('message', onMessage);
  cluster.on('exit', onExit);
  return () => {
    clearInterval(sweep);
    cluster.off('message', onMessage);
    cluster.off('exit', onExit);
  };
};

interface Waiting {
  resolve: (verdict: SshVerdict) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** Runs in a worker: the SshBook whose state is the primary's. */
export class ClusterBook implements SshBook {
  private seq = 0;
  private readonly waiting = new Map<number, Waiting>();
  private readonly onMessage = (raw: unknown): void => {
    if (!ours(raw)) return;
    const parsed = v.safeParse(ToWorker, raw);
    if (!parsed.success) return;
    const msg = parsed.output;
    if (msg.airlockSsh === 'evict') {
      this.onEvict(msg.conn);
      return;
    }
    const w = this.waiting.get(msg.seq);
    if (w === undefined) return;
    this.waiting.delete(msg.seq);
    clearTimeout(w.timer);
    w.resolve(msg.verdict);
  };

  constructor(
    private readonly onEvict: (conn: string) => void,
    private readonly timeoutMs = 2_000,
  ) {
    process.on('message', this.onMessage);
  }

  private send(msg: ToPrimaryMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      if (process.send === undefined || !process.connected) {
        reject(new Error('no channel to the cluster primary'));
        return;
      }
      process.send(msg, undefined, {}, (err: Error | null) => (err ? reject(err) : resolve()));
    });
  }

  admit(conn: string, ids: readonly string[]): Promise<SshVerdict> {
    this.seq += 1;
    const seq = this.seq;
    return new Promise<SshVerdict>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(seq);
        reject(new Error('the cluster primary did not answer'));
      }, this.timeoutMs);
      this.waiting.set(seq, { resolve, reject, timer });
      this.send({ airlockSsh: 'admit', seq, conn, ids: [...ids] }).catch((err: unknown) => {
        this.waiting.delete(seq);
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error('send failed'));
      });
    });
  }

  release(conn: string): Promise<void> {
    return this.send({ airlockSsh: 'release', conn });
  }

  close(): void {
    process.off('message', this.onMessage);
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      w.reject(new Error('closed'));
    }
    this.waiting.clear();
  }
}
