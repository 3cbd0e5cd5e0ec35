/**
 * The timing-oracle method shared by the oracle tests: interleaved samples of
 * every cause in a fresh random order each round (so drift of a loaded
 * machine hits every cause alike), over keep-alive connections (no handshake
 * in the measurement), bounded in time, then a Mann-Whitney U test per pair
 * held family-wise (Bonferroni).
 */
import { randomInt } from 'node:crypto';
import * as http from 'node:http';
import type { Hit } from './http.ts';
import { mannWhitney, median } from './stats.ts';

const shuffle = <T>(items: readonly T[]): T[] => {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i -= 1) {
    const j = randomInt(i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
};

/** Headers that legitimately differ per answer. */
const VOLATILE = new Set(['x-request-id', 'date']);

/** Header names and values but the volatile ones, in a stable order. */
export const headerSet = (h: Hit): string =>
  JSON.stringify(
    Object.entries(h.headers)
      .filter(([k]) => !VOLATILE.has(k))
      .sort(([a], [b]) => a.localeCompare(b)),
  );

export interface SampleOptions<C extends string> {
  causes: readonly C[];
  /** One measured request for the cause (its `ms` is the sample); preparation it needs may come first. */
  ask: (cause: C, agent: http.Agent) => Promise<Hit>;
  /** Every answer, not just the first, must be the expected one: a problem, or null. */
  check: (cause: C, answer: Hit, first: Hit) => string | null;
  samples: number;
  streams: number;
  /** On a machine so loaded that `samples` rounds would take longer, stop here… */
  budgetMs: number;
  /** …but never with fewer rounds than this. */
  minSamples: number;
}

export interface Sampled<C extends string> {
  times: Map<C, number[]>;
  first: Map<C, Hit>;
  problems: string[];
  seconds: number;
}

export const sampleInterleaved = async <C extends string>(o: SampleOptions<C>): Promise<Sampled<C>> => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.streams });
  try {
    // Warm-up: first calls compile code paths and fill caches for every cause.
    for (let i = 0; i < 20; i += 1) for (const cause of o.causes) await o.ask(cause, agent);
    const times = new Map<C, number[]>(o.causes.map((c) => [c, []]));
    const first = new Map<C, Hit>();
    const problems: string[] = [];
    const started = performance.now();
    const deadline = started + o.budgetMs;
    let round = 0;
    const stream = async () => {
      while (round < o.samples && (performance.now() < deadline || round < o.minSamples)) {
        round += 1;
        for (const cause of shuffle(o.causes)) {
          const answer = await o.ask(cause, agent);
          times.get(cause)?.push(answer.ms);
          const reference = first.get(cause);
          if (!reference) first.set(cause, answer);
          else {
            const problem = o.check(cause, answer, reference);
            if (problem !== null) problems.push(`${cause}: ${problem}`);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: o.streams }, () => stream()));
    return { times, first, problems, seconds: (performance.now() - started) / 1000 };
  } finally {
    agent.destroy();
  }
};

export interface Pair<C extends string> {
  a: C;
  b: C;
  p: number;
  median_diff_us: number;
}

/** Every pair of causes, with the Mann-Whitney p and the difference of medians. */
export const pairwise = <C extends string>(causes: readonly C[], times: Map<C, number[]>): Array<Pair<C>> => {
  const pairs: Array<Pair<C>> = [];
  for (let i = 0; i < causes.length; i += 1) {
    for (let j = i + 1; j < causes.length; j += 1) {
      const a = causes[i] as C;
      const b = causes[j] as C;
      const ta = times.get(a) ?? [];
      const tb = times.get(b) ?? [];
      pairs.push({ a, b, p: mannWhitney(ta, tb).p, median_diff_us: Math.round((median(ta) - median(tb)) * 1000) });
    }
  }
  return pairs;
};

export const showPairs = <C extends string>(list: Array<Pair<C>>): string[] =>
  list.map((p) => `${p.a}/${p.b} p=${p.p.toFixed(4)} Δmedian=${p.median_diff_us}µs`);

export const mediansMs = <C extends string>(causes: readonly C[], times: Map<C, number[]>): Record<string, number> =>
  Object.fromEntries(causes.map((c) => [c, Math.round(median(times.get(c) ?? []) * 1000) / 1000]));
