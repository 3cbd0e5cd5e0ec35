/**
 * Where the demux spends a new SSH connection's rate budget and takes its
 * pre-auth slot. Three books, one rule set (the rate plan from
 * throttle/plan.ts, the slot rule from ledger.ts):
 * - LocalBook: this process's memory; exact for one process;
 * - RedisBook (redis-book.ts): one script per step, shared by every worker
 *   and edge on that Redis;
 * - ClusterBook (cluster-book.ts): a worker asks the cluster primary, which
 *   holds a LocalBook for all of its workers (no Redis, one host).
 */
import { edgeKeys } from '@airlock/lockouts';
import type { EdgeConfig } from '../env.ts';
import { createRules, type AdmitPlan } from '../throttle/plan.ts';
import { MemoryStore } from '../throttle/memory-store.ts';
import { ExpiringSet } from '../throttle/verdict.ts';
import type { SshDemuxConfig } from './config.ts';
import { PreauthLedger, type PreauthRules } from './ledger.ts';

/**
 * A slot's lease outlives its window by this much: the holder releases it at
 * the window's end itself, and only a holder that died leaves it to lapse.
 */
const LEASE_MARGIN_MS = 2_000;

export type SshVerdict =
  | { ok: true; evicted: string | null }
  | { ok: false; reason: 'rate' | 'cap'; retryAfterSeconds: number };

export interface SshBook {
  /** Spends the identities' rate budget, then takes a pre-auth slot (maybe by evicting `evicted`). Throws when the book is unreachable. */
  admit(conn: string, ids: readonly string[]): Promise<SshVerdict>;
  /** Gives the slot back (end of the window, or the connection closed); a no-op for an unknown connection. */
  release(conn: string): Promise<void>;
}

/** What a book needs to know: the rate plan for an identity list, and the slot rules. */
export interface BookRules {
  plan: (ids: readonly string[]) => AdmitPlan;
  preauth: PreauthRules;
}

/**
 * The rules from the configuration. `share` > 1 divides the cap and the rate
 * among that many processes deciding alone (workers while the shared book is
 * unreachable), so together they never exceed the configured figures.
 */
export const bookRules = (config: EdgeConfig, demux: SshDemuxConfig, share = 1): BookRules => {
  const rules = createRules(config.limits, edgeKeys(config.redisPrefix));
  const perMin = Math.max(1, Math.floor(demux.sshPerMin / share));
  return {
    plan: (ids) => rules.ssh(ids, perMin),
    preauth: {
      cap: Math.max(1, Math.floor(demux.maxPreauth / share)),
      leaseMs: demux.preauthMs + LEASE_MARGIN_MS,
      factor56: config.limits.ipv6Factor56,
      factor48: config.limits.ipv6Factor48,
    },
  };
};

export class LocalBook implements SshBook {
  private readonly rate = new MemoryStore(new ExpiringSet(1_000));
  readonly ledger: PreauthLedger;

  constructor(private readonly rules: BookRules) {
    this.ledger = new PreauthLedger(rules.preauth);
  }

  decide(conn: string, ids: readonly string[], now: number): SshVerdict {
    const spent = this.rate.admit(this.rules.plan(ids), now);
    if (spent.kind !== 'ok') return { ok: false, reason: 'rate', retryAfterSeconds: Math.max(1, Math.ceil(spent.ms / 1000)) };
    const taken = this.ledger.take(conn, ids, now);
    return taken.ok ? { ok: true, evicted: taken.evicted } : { ok: false, reason: 'cap', retryAfterSeconds: 1 };
  }

  admit(conn: string, ids: readonly string[]): Promise<SshVerdict> {
    return Promise.resolve(this.decide(conn, ids, Date.now()));
  }

  release(conn: string): Promise<void> {
    this.ledger.release(conn);
    return Promise.resolve();
  }

  /** Forgets spent windows and lapsed leases; returns the connections whose lease lapsed. */
  sweep(now: number): string[] {
    this.rate.sweep(now);
    return this.ledger.expire(now);
  }
}
