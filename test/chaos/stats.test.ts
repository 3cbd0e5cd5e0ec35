import { describe, expect, it } from 'vitest';
import { mannWhitney, median } from './support/stats.ts';

// Reference values from scipy.stats.mannwhitneyu(a, b, method='asymptotic') (continuity-corrected).
describe('Mann-Whitney U, the timing-oracle test', () => {
  it('matches scipy on separated and overlapping samples', () => {
    const separated = mannWhitney([1, 2, 3], [4, 5, 6]);
    expect(separated.u).toBe(0);
    expect(separated.p).toBeCloseTo(0.0808556, 5);
    const overlapping = mannWhitney([19, 22, 16, 29, 24], [20, 11, 17, 12]);
    expect(overlapping.u).toBe(17);
    expect(overlapping.p).toBeCloseTo(0.1113469, 5);
  });

  it('finds a real shift in large samples and none between two draws of one distribution', () => {
    // A deterministic pseudo-random stream, so the test is exact.
    let seed = 42;
    const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const base = Array.from({ length: 2000 }, () => 5 + next() * 2);
    const same = Array.from({ length: 2000 }, () => 5 + next() * 2);
    const shifted = Array.from({ length: 2000 }, () => 5.2 + next() * 2);
    expect(mannWhitney(base, same).p).toBeGreaterThan(0.01);
    expect(mannWhitney(base, shifted).p).toBeLessThan(1e-6);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
  });
});
