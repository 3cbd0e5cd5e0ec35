/**
 * The throttle rules executed in process memory: the only store without
 * REDIS_URL, and the fallback while Redis is down. Same semantics as the Redis
 * script (redis-store.ts): fixed windows, gates are keys with an expiry.
 */
import type { AdmitPlan, OutcomePlan } from './plan.ts';
import type { ExpiringSet, Verdict } from './verdict.ts';

interface Window {
  count: number;
  until: number;
  /** A failure tally (record), not a rate budget (admit): handed back to Redis after an outage. */
  tally: boolean;
}

/** A failure count made in memory, to be added to Redis once it is back. */
export interface HeldTally {
  key: string;
  count: number;
  until: number;
}

export class MemoryStore {
  private readonly windows = new Map<string, Window>();

  /** `gates` is shared with the throttle: blocks learned from Redis are enforced here too. */
  constructor(private readonly gates: ExpiringSet) {}

  private current(key: string, now: number): Window | undefined {
    const w = this.windows.get(key);
    if (w !== undefined && w.until <= now) {
      this.windows.delete(key);
      return undefined;
    }
    return w;
  }

  admit(plan: AdmitPlan, now: number): Verdict {
    for (let i = 0; i < plan.gates.length; i += 1) {
      const gate = plan.gates[i];
      const until = gate === undefined ? undefined : this.gates.until(gate.key, now);
      if (until !== undefined) return { kind: 'gate', index: i, ms: until - now };
    }
    for (let i = 0; i < plan.budgets.length; i += 1) {
      const b = plan.budgets[i];
      if (b === undefined) continue;
      const w = this.current(b.key, now);
      if (w !== undefined && w.count >= b.limit) return { kind: 'limit', index: i, ms: w.until - now };
    }
    let remaining = -1;
    let ms = -1;
    for (let i = 0; i < plan.budgets.length; i += 1) {
      const b = plan.budgets[i];
      if (b === undefined || !b.consume) continue;
      const w = this.bump(b.key, b.windowMs, now, false);
      if (i === 0) {
        remaining = b.limit - w.count;
        ms = w.until - now;
      }
    }
    const watched = plan.watch !== null && this.current(plan.watch, now) !== undefined;
    return { kind: 'ok', remaining, ms, watched };
  }

  /** Returns the indices of the tallies whose gate this outcome set. */
  record(plan: OutcomePlan, now: number): number[] {
    for (const key of plan.clear) this.windows.delete(key);
    const set: number[] = [];
    for (let i = 0; i < plan.tallies.length; i += 1) {
      const t = plan.tallies[i];
      if (t === undefined) continue;
      const w = this.bump(t.key, t.windowMs, now, true);
      if (t.gate !== null && t.threshold > 0 && w.count >= t.threshold) {
        this.gates.set(t.gate.key, now + t.gateMs);
        this.windows.delete(t.key);
        set.push(i);
      }
    }
    return set;
  }

  private bump(key: string, windowMs: number, now: number, tally: boolean): Window {
    let w = this.current(key, now);
    if (w === undefined) {
      w = { count: 0, until: now + windowMs, tally };
      this.windows.set(key, w);
    }
    w.count += 1;
    return w;
  }

  sweep(now: number): void {
    for (const [key, w] of this.windows) if (w.until <= now) this.windows.delete(key);
  }

  /**
   * Hands over the live failure tallies and forgets them here: counted while
   * Redis was down (or a call to it failed), they are added to Redis's counts
   * when it is back, so wrong tries that straddle an outage add up to one
   * lockout instead of two budgets.
   */
  takeTallies(now: number): HeldTally[] {
    const out: HeldTally[] = [];
    for (const [key, w] of this.windows) {
      if (!w.tally) continue;
      this.windows.delete(key);
      if (w.until > now) out.push({ key, count: w.count, until: w.until });
    }
    return out;
  }

  /** Puts back tallies Redis could not take (it went down again). */
  giveBack(tallies: readonly HeldTally[]): void {
    for (const t of tallies) {
      const w = this.windows.get(t.key);
      if (w === undefined) this.windows.set(t.key, { count: t.count, until: t.until, tally: true });
      else w.count += t.count;
    }
  }

  /**
   * Forgets outage-time rate budgets once Redis holds the shared ones again.
   * Failure tallies stay: only those Redis could not take are still here.
   */
  reset(): void {
    for (const [key, w] of this.windows) if (!w.tally) this.windows.delete(key);
  }
}
