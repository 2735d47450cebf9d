/**
 * The per-address join limit as a sliding window, estimated from two fixed
 * windows (the one that holds now and the one before, weighted by how much of
 * it still lies inside the last `windowSeconds`). A fixed window alone lets
 * twice the limit through around a boundary; this does not, and it still costs
 * the store one write and one read per join.
 */

export interface WindowCounts {
  /** Hits in the window that holds now, this one included. */
  readonly current: number;
  /** Hits in the window before it. */
  readonly previous: number;
}

export interface RateLimitDecision {
  readonly allowed: boolean;
  /** Whole seconds until one more hit would be allowed (at least 1); 0 when allowed. */
  readonly retryAfterSeconds: number;
}

/** Start of the fixed window that holds `nowSec`. */
export function windowStart(nowSec: number, windowSeconds: number): number {
  return nowSec - (((nowSec % windowSeconds) + windowSeconds) % windowSeconds);
}

/** Hits estimated in the `windowSeconds` ending now, `elapsed` seconds into the current window. */
export function slidingCount(counts: WindowCounts, elapsed: number, windowSeconds: number): number {
  const weight = Math.max(0, 1 - elapsed / windowSeconds);
  return counts.previous * weight + counts.current;
}

/**
 * Whether the hit just counted is within `limit`, and otherwise how long to wait
 * until another would be, assuming none arrives in between.
 */
export function decide(
  counts: WindowCounts,
  limit: number,
  nowSec: number,
  windowSeconds: number,
): RateLimitDecision {
  const elapsed = nowSec - windowStart(nowSec, windowSeconds);
  if (slidingCount(counts, elapsed, windowSeconds) <= limit) return { allowed: true, retryAfterSeconds: 0 };
  // The next hit is allowed once the estimate plus that hit fits within the limit.
  const room = limit - 1;
  let allowedAt: number;
  if (counts.current <= room && counts.previous > 0) {
    // Within this window, as the previous window's weight fades.
    allowedAt = windowSeconds * (1 - (room - counts.current) / counts.previous);
  } else {
    // Only in the next window, as this window's hits (then the previous ones) fade.
    const fade = counts.current > 0 ? Math.max(0, 1 - room / counts.current) : 0;
    allowedAt = windowSeconds + windowSeconds * fade;
  }
  // The epsilon keeps float noise (60 × 2/3 = 40.000000000000007) from adding a second.
  return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(allowedAt - elapsed - 1e-9)) };
}
