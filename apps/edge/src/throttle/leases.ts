/**
 * Leased budgets (issue 24; the promises are in apps/edge/README.md, "Leased
 * budgets"): slices of the large per-IP budgets of status and verify, taken
 * from Redis by the admission script and spent here in memory.
 */
import type { AdmitPlan, ThrottledRoute } from './plan.ts';
import type { RedisStore } from './redis-store.ts';

/** The routes whose budgets are leased: large per-IP budgets, no exact small budget in the same plan. */
const LEASED: ReadonlySet<ThrottledRoute> = new Set(['status', 'verify']);

export interface Lease {
  /** Requests still to admit from this slice. */
  tokens: number;
  /** The end of the window the slice was taken from. */
  until: number;
  /** The first budget's remaining count in Redis once the slice was taken. */
  remaining: number;
  plan: AdmitPlan;
}

export class Leases {
  private readonly held = new Map<string, Lease>();

  /** `percent`: EDGE_LEASE_PERCENT. */
  constructor(private readonly percent: number) {}

  /** Slice to lease for a route's plan: a share of its smallest consumed budget; 0 when not leased. */
  sliceOf(route: ThrottledRoute, plan: AdmitPlan): number {
    if (!LEASED.has(route)) return 0;
    let smallest = Infinity;
    for (const b of plan.budgets) if (b.consume && b.limit < smallest) smallest = b.limit;
    const slice = Math.floor((smallest * this.percent) / 100);
    return slice >= 2 && Number.isFinite(slice) ? slice : 0;
  }

  /** A live lease with a token left, or undefined. */
  usable(key: string, now: number): Lease | undefined {
    const lease = this.held.get(key);
    return lease !== undefined && lease.tokens > 0 && lease.until > now ? lease : undefined;
  }

  /** A slice the script granted (`taken` counted in Redis), one of which admits the request at hand. */
  granted(key: string, plan: AdmitPlan, taken: number, ms: number, remaining: number, now: number): void {
    if (taken > 1) this.held.set(key, { tokens: taken - 1, until: now + ms, remaining, plan });
  }

  sweep(now: number): void {
    for (const [key, lease] of this.held) if (lease.until <= now) this.held.delete(key);
  }

  /** Forgets every lease (their slices stay counted until their windows end). */
  clear(): void {
    this.held.clear();
  }

  /** Gives the unspent tokens back to their windows (not when one is about to end), then forgets them. */
  async giveBack(store: RedisStore, now: number): Promise<void> {
    for (const lease of this.held.values()) {
      if (lease.tokens <= 0 || lease.until - now < 1_000) continue;
      const consumed = lease.plan.budgets.filter((b) => b.consume).map((b) => b.key);
      await store.giveBack(consumed, lease.tokens).catch(() => undefined);
    }
    this.held.clear();
  }
}
