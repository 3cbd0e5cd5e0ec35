/**
 * The retry schedule: attempt n (n ≥ 1) failed → wait base × 4^(n-1), at most
 * 6 h, times a jitter in [0.8, 1.2) so endpoints that failed together do not
 * retry together. With the default 5 s base: ~5 s, 20 s, 80 s, 5 min, 21 min,
 * 85 min, 5.7 h, then every 6 h, until 24 h after the event (docs/alerts.md).
 */
const MAX_DELAY_SECONDS = 6 * 3600;

export const retryDelaySeconds = (attempt: number, baseMs: number, random: () => number = Math.random): number => {
  const plain = Math.min((baseMs / 1000) * 4 ** Math.max(0, attempt - 1), MAX_DELAY_SECONDS);
  return plain * (0.8 + 0.4 * random());
};
