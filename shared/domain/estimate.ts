/** Wait estimates and poll pacing, from configuration and what the admitter actually did. */
import type { EventConfig, EventRecord, TickRecord } from './event.ts';

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

// The wait estimate. The line drains as capacity slots free up: a slot admitted now
// comes back after the fan holding it claims and buys (or lets the claim window lapse),
// so the pace is `capacity / mean hold`, never above `admitPerMinute`. Before a sale has
// history the mean hold comes from configuration; as slots are freed the sale's own
// Little's law takes over. Why this shape: docs/decisions/0009-wait-estimate.md.

/** What the estimate assumes about a slot's hold before the sale shows it. */
export const HOLD_PRIOR = {
  /** Admitted fans who never claim: they hold a slot for the whole claim window. */
  noShowShare: 0.2,
  /** Fans who claim do so after this share of the claim window… */
  claimDelayShare: 0.1,
  /** …and buy in this share of the purchase window. */
  purchaseShare: 0.25,
} as const;

/**
 * How many releases the prior weighs as: a few, plus a small share of the slots in use,
 * so that the first handful of releases of a big sale (its fastest shoppers) do not
 * speak for everyone.
 */
const PRIOR_RELEASES = 4;
const PRIOR_RELEASES_PER_SLOT = 0.02;

/**
 * Releases still owed, per slot in use, to the holds under way: Little's law over a span
 * that ends while holds are in progress counts their seconds but not their ends. Renewal
 * theory puts the shortfall at `1 − E[H²] / (2·E[H]²)` per slot, 0.38 for the prior's
 * spread of holds (a coefficient of variation of about ½).
 */
const IN_PROGRESS_RELEASES_PER_SLOT = 0.4;

/** Mean seconds a slot is held, from configuration alone. */
export function priorHoldSeconds(
  config: Pick<EventConfig, 'claimWindowSeconds' | 'purchaseWindowSeconds'>,
): number {
  const { noShowShare: q, claimDelayShare: d, purchaseShare: f } = HOLD_PRIOR;
  const claimer = d * config.claimWindowSeconds + f * config.purchaseWindowSeconds;
  return q * config.claimWindowSeconds + (1 - q) * claimer;
}

/**
 * Mean seconds a slot is held, as the admitter counts it (until the tick that frees it):
 * the prior, giving way to the sale's own Little's law (slot-seconds held / slots freed)
 * as slots are freed.
 */
export function estimatedHoldSeconds(
  event: Pick<EventRecord, 'config' | 'recentTicks'>,
  tickSeconds: number,
): number {
  // A freed slot is counted at the next tick: on average half a tick after it was freed.
  const prior = priorHoldSeconds(event.config) + tickSeconds / 2;
  const last = event.recentTicks[event.recentTicks.length - 1];
  const held = last?.heldSeconds ?? 0;
  const freed = last?.freedTotal ?? 0;
  if (!last || freed <= 0 || held <= 0) return prior;
  const inUse = last.inUse ?? 0;
  const observed = held / (freed + IN_PROGRESS_RELEASES_PER_SLOT * inUse);
  const weight = freed / (freed + PRIOR_RELEASES + PRIOR_RELEASES_PER_SLOT * inUse);
  return (1 - weight) * prior + weight * observed;
}

/** What a fan's wait depends on: the event as last read, the real places ahead, the clock. */
export interface WaitEstimateInput {
  readonly event: Pick<
    EventRecord,
    'state' | 'config' | 'inUse' | 'rateCredit' | 'lastTickAtMs' | 'recentTicks'
  >;
  /** Real places still to be admitted, this fan's own included (`position − servingPosition`). */
  readonly ahead: number;
  /** Epoch seconds; fractions allowed. */
  readonly nowSec: number;
  /** The admitter's tick interval. */
  readonly tickSeconds: number;
}

/**
 * Whole seconds until a fan with `ahead` real places to go is admitted: 0 once admitted,
 * at least 1 before, null only for a closed event (nobody else is admitted). While the
 * event is paused it is the wait once admissions resume: it stands still rather than
 * counting down, since nobody knows how long the pause lasts.
 *
 * The free slots (`capacity − inUse`) go at the next tick as far as its rate credit
 * reaches, the rest of them at the rate cap a tick at a time; after that the line moves
 * `min(admitPerMinute / 60, capacity / mean hold)` places a second, a tick's worth at a time.
 */
export function waitEstimate(input: WaitEstimateInput): number | null {
  const { event, ahead, nowSec, tickSeconds: T } = input;
  if (ahead <= 0) return 0;
  if (event.state === 'closed') return null;
  const { capacity, admitPerMinute } = event.config;
  const rate = admitPerMinute === null ? Number.POSITIVE_INFINITY : admitPerMinute / 60;
  // The next tick is one interval after the last; before the first, or once resumed,
  // somewhere within one.
  const toNextTick =
    event.state === 'paused' || event.lastTickAtMs === 0
      ? T / 2
      : Math.min(T, Math.max(0, event.lastTickAtMs / 1000 + T - nowSec));
  // The next tick's rate credit, as planTick accrues it (banked for at most one tick).
  const credit = Number.isFinite(rate)
    ? Math.floor(Math.min(Math.max(1, rate * T), event.rateCredit + rate * T))
    : Number.POSITIVE_INFINITY;
  const free = Math.max(0, capacity - event.inUse);
  const atNextTick = Math.min(free, credit);
  if (ahead <= atNextTick) return Math.max(1, Math.ceil(toNextTick));
  // Slots free now beyond the next tick's credit go at the rate cap, a tick's worth a tick
  // (more free slots than credit means the rate is finite).
  const fillTicks = (places: number) => Math.ceil(places / (rate * T));
  if (ahead <= free) return Math.max(1, Math.ceil(toNextTick + fillTicks(ahead - atNextTick) * T));
  const perSecond = Math.min(rate, capacity / estimatedHoldSeconds(event, T));
  if (!(perSecond > 0)) return null;
  const laterTicks =
    (free > atNextTick ? fillTicks(free - atNextTick) : 0) + Math.ceil((ahead - free) / (perSecond * T));
  return Math.max(1, Math.ceil(toNextTick + laterTicks * T));
}
