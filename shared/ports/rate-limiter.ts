/** The per-address join limit's counters. */

/** A join-limit window pair: hits in the window that holds now (this hit included) and in the one before. */
export interface RateLimitCounts {
  readonly current: number;
  readonly previous: number;
}

export interface RateLimiter {
  /**
   * Counts a hit in the window starting at `windowStartSec` (one write) and reads the
   * previous window's count (one read), for a sliding-window estimate.
   */
  hitRateLimit(key: string, windowStartSec: number, windowSeconds: number): Promise<RateLimitCounts>;
}
