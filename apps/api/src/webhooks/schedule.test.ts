import { describe, expect, it } from 'vitest';
import { retryDelaySeconds } from './schedule.ts';

describe('retryDelaySeconds', () => {
  it('retries first within about 10 s, then grows fourfold up to 6 h', () => {
    const mid = () => 0.5;
    expect(retryDelaySeconds(1, 5000, mid)).toBe(5);
    expect(retryDelaySeconds(2, 5000, mid)).toBe(20);
    expect(retryDelaySeconds(7, 5000, mid)).toBe(5 * 4 ** 6);
    expect(retryDelaySeconds(8, 5000, mid)).toBe(6 * 3600);
    expect(retryDelaySeconds(30, 5000, mid)).toBe(6 * 3600);
  });

  it('jitters within ±20 %', () => {
    expect(retryDelaySeconds(1, 5000, () => 0)).toBe(4);
    expect(retryDelaySeconds(1, 5000, () => 0.999999)).toBeLessThan(6);
  });
});
