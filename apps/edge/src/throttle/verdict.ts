/** What a store answers for an AdmitPlan. */
export type Verdict =
  | { kind: 'gate'; index: number; ms: number }
  | { kind: 'limit'; index: number; ms: number }
  | { kind: 'ok'; remaining: number; ms: number; watched: boolean; taken?: number };

/**
 * A map of keys to expiry times (ms since epoch), bounded in size: the
 * oldest entry goes first when full. Used for blocks and exhausted budgets
 * known to this edge, so a refused flood costs no Redis round trip.
 */
export class ExpiringSet {
  private readonly entries = new Map<string, number>();

  constructor(private readonly max: number) {}

  /** The expiry time when the key is present and not expired, else undefined. */
  until(key: string, now: number): number | undefined {
    const until = this.entries.get(key);
    if (until === undefined) return undefined;
    if (until <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return until;
  }

  set(key: string, until: number): void {
    this.entries.delete(key);
    this.entries.set(key, until);
    if (this.entries.size > this.max) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  sweep(now: number): void {
    for (const [key, until] of this.entries) if (until <= now) this.entries.delete(key);
  }

  *live(now: number): IterableIterator<[string, number]> {
    for (const [key, until] of this.entries) if (until > now) yield [key, until];
  }
}
