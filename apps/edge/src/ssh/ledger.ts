/**
 * Which SSH connections are in their pre-auth window, and who may take the
 * next slot: the rule of the demux's global pre-auth cap, in memory. The
 * Redis script (redis-book.ts) executes the same rule for edges that share
 * Redis; `ledger.test.ts` runs one table of cases against both.
 *
 * The rule, when every slot is taken: a newcomer gets in by evicting the
 * oldest connection of the heaviest identity, if its own identity would
 * still be lighter than that one is now. Weight is connections held per
 * identity, the wider IPv6 identities divided by their factor (a /56 holds
 * EDGE_IPV6_56_FACTOR times what a /64 may, a /48 EDGE_IPV6_48_FACTOR
 * times), exactly as the HTTP budgets scale. So a flood from a few
 * addresses (or one /48) can fill the cap while nobody else wants it, but
 * can never keep out a client whose identity holds fewer slots than the
 * flood's heaviest; and the evicted identity cannot evict back (it would be
 * as heavy as the heaviest, not lighter), so slots never thrash.
 */

export interface PreauthRules {
  cap: number;
  /** How long an entry lives unless released: the window plus a margin, so a dead holder's slots come back. */
  leaseMs: number;
  factor56: number;
  factor48: number;
}

export type Take = { ok: true; evicted: string | null } | { ok: false };

/** The factor an identity's weight is divided by: its budget multiple (IPv6 /56, /48), else 1. */
const identityFactor = (id: string, factor56: number, factor48: number): number =>
  id.endsWith('/56') ? factor56 : id.endsWith('/48') ? factor48 : 1;

interface Held {
  ids: readonly string[];
  until: number;
}

export class PreauthLedger {
  private readonly held = new Map<string, Held>();
  private readonly counts = new Map<string, number>();

  constructor(private readonly rules: PreauthRules) {}

  get size(): number {
    return this.held.size;
  }

  /** Connections an identity holds now (for tests and metrics). */
  heldBy(id: string): number {
    return this.counts.get(id) ?? 0;
  }

  has(conn: string): boolean {
    return this.held.has(conn);
  }

  take(conn: string, ids: readonly string[], now: number): Take {
    this.expire(now);
    if (this.held.has(conn)) return { ok: true, evicted: null };
    if (this.held.size < this.rules.cap) {
      this.add(conn, ids, now);
      return { ok: true, evicted: null };
    }
    const heavy = this.heaviest();
    if (heavy === null) return { ok: false };
    // The newcomer's weight once in: the heaviest of its identities, counted with it.
    let nn = 0;
    let nf = 1;
    for (const id of ids) {
      const n = this.heldBy(id) + 1;
      const f = this.factor(id);
      if (n * nf > nn * f) {
        nn = n;
        nf = f;
      }
    }
    // Strictly lighter than the heaviest is now (cross-multiplied: no fractions).
    if (!(nn * heavy.f < heavy.n * nf)) return { ok: false };
    const victim = this.oldestOf(heavy.id);
    if (victim === null) return { ok: false };
    this.release(victim);
    this.add(conn, ids, now);
    return { ok: true, evicted: victim };
  }

  /** True when the connection held a slot. */
  release(conn: string): boolean {
    const h = this.held.get(conn);
    if (h === undefined) return false;
    this.held.delete(conn);
    for (const id of h.ids) {
      const n = (this.counts.get(id) ?? 1) - 1;
      if (n <= 0) this.counts.delete(id);
      else this.counts.set(id, n);
    }
    return true;
  }

  /** Drops entries whose lease ran out (their holder never released them); returns them. */
  expire(now: number): string[] {
    const gone: string[] = [];
    for (const [conn, h] of this.held) if (h.until <= now) gone.push(conn);
    for (const conn of gone) this.release(conn);
    return gone;
  }

  private add(conn: string, ids: readonly string[], now: number): void {
    this.held.set(conn, { ids: [...ids], until: now + this.rules.leaseMs });
    for (const id of ids) this.counts.set(id, this.heldBy(id) + 1);
  }

  private factor(id: string): number {
    return identityFactor(id, this.rules.factor56, this.rules.factor48);
  }

  /** The identity with the greatest weight; ties go to the smaller id string (the Redis script does the same). */
  private heaviest(): { id: string; n: number; f: number } | null {
    let best: { id: string; n: number; f: number } | null = null;
    for (const [id, n] of this.counts) {
      const f = this.factor(id);
      if (best === null || n * best.f > best.n * f || (n * best.f === best.n * f && id < best.id)) best = { id, n, f };
    }
    return best;
  }

  /** The identity's connection whose lease ends first (ties: the smaller connection id, as a Redis sorted set orders them). */
  private oldestOf(id: string): string | null {
    let best: { conn: string; until: number } | null = null;
    for (const [conn, h] of this.held) {
      if (!h.ids.includes(id)) continue;
      if (best === null || h.until < best.until || (h.until === best.until && conn < best.conn)) best = { conn, until: h.until };
    }
    return best?.conn ?? null;
  }
}
