/** Wait estimates and poll pacing, from what the admitter actually did. */
import type { TickRecord } from './event.ts';

/** Only ticks this recent say anything about the current rate. */
const ESTIMATE_HORIZON_SECONDS = 300;

/**
 * Admissions per second observed over the recent ticks, or null when there is
 * not yet enough history (fewer than two ticks, or nobody admitted).
 */
export function observedRatePerSecond(ticks: readonly TickRecord[], nowSec: number): number | null {
  const recent = ticks.filter((t) => t.at >= nowSec - ESTIMATE_HORIZON_SECONDS);
  const first = recent[0];
  const last = recent[recent.length - 1];
  if (!first || !last || last.at <= first.at) return null;
  // The first tick marks the start of the span; admissions after it fill the span.
  const admitted = recent.slice(1).reduce((sum, t) => sum + t.admitted, 0);
  if (admitted === 0) return null;
  // A stalled line (no tick for a while) slows the rate down rather than freezing it.
  const span = Math.max(last.at, nowSec) - first.at;
  return admitted / span;
}

export function admitRatePerMinute(ticks: readonly TickRecord[], nowSec: number): number {
  const rate = observedRatePerSecond(ticks, nowSec);
  return rate === null ? 0 : Math.round(rate * 60 * 100) / 100;
}

/** Seconds until `ahead` more places are admitted at the observed rate; null while unknown. */
export function estimateWaitSeconds(ahead: number, ratePerSecond: number | null): number | null {
  if (ahead <= 0) return 0;
  if (ratePerSecond === null || ratePerSecond <= 0) return null;
  return Math.ceil(ahead / ratePerSecond);
}

export const POLL_MIN_SECONDS = 2;
export const POLL_MAX_SECONDS = 60;

/**
 * How long a client should wait before polling again: short near the front,
 * longer further back, so a million pollers cost little. Uses a tenth of the
 * estimated wait when known, else grows with the square root of the distance.
 */
export function pollAfterSeconds(ahead: number, estimatedWaitSeconds: number | null): number {
  if (ahead <= 0) return POLL_MIN_SECONDS;
  const byDistance = Math.sqrt(ahead);
  const byEta = estimatedWaitSeconds === null ? byDistance : estimatedWaitSeconds / 10;
  const seconds = Math.round(Math.min(byDistance, byEta));
  return Math.min(POLL_MAX_SECONDS, Math.max(POLL_MIN_SECONDS, seconds));
}
