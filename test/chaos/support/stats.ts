/**
 * Two-sample Mann-Whitney U test (Wilcoxon rank-sum), two-sided, normal
 * approximation with tie correction: the right tool for thousands of latency
 * samples whose distribution is skewed and unknown. Small enough to write
 * here rather than pull a statistics package for one function.
 */

/** Complementary error function (Abramowitz-Stegun 7.1.26, |error| < 1.5e-7). */
const erfc = (x: number): number => {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * z);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const r = poly * Math.exp(-z * z);
  return x >= 0 ? r : 2 - r;
};

export interface MannWhitney {
  u: number;
  z: number;
  /** Two-sided p-value. */
  p: number;
}

/**
 * @example
 *   mannWhitney([1, 2, 3], [4, 5, 6]).p; // ≈ 0.0809, as scipy.stats.mannwhitneyu(method="asymptotic")
 */
export const mannWhitney = (a: number[], b: number[]): MannWhitney => {
  const n1 = a.length;
  const n2 = b.length;
  const all = [...a.map((v) => ({ v, g: 0 })), ...b.map((v) => ({ v, g: 1 }))].sort((x, y) => x.v - y.v);
  let rankSumA = 0;
  let tieTerm = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j + 1 < all.length && all[j + 1]?.v === all[i]?.v) j += 1;
    // Tied values share the mean of their ranks (1-based).
    const rank = (i + j + 2) / 2;
    const ties = j - i + 1;
    tieTerm += ties ** 3 - ties;
    for (let k = i; k <= j; k += 1) if (all[k]?.g === 0) rankSumA += rank;
    i = j + 1;
  }
  const u = rankSumA - (n1 * (n1 + 1)) / 2;
  const n = n1 + n2;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  // Continuity correction of 0.5 towards the mean.
  const z = variance > 0 ? (Math.abs(u - mean) - 0.5) / Math.sqrt(variance) : 0;
  return { u, z: Math.max(0, z), p: Math.min(1, erfc(Math.max(0, z) / Math.SQRT2)) };
};

export const median = (values: number[]): number => {
  const s = [...values].sort((x, y) => x - y);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
};
