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

/**
 * Mean seconds a slot is held, from configuration alone: the operator's expected purchase
 * time when given (a session never outlasts its window), else a share of the window.
 */
export function priorHoldSeconds(
  config: Pick<EventConfig, 'claimWindowSeconds' | 'purchaseWindowSeconds'> &
    Partial<Pick<EventConfig, 'expectedPurchaseSeconds'>>,
): number {
  const { noShowShare: q, claimDelayShare: d, purchaseShare: f } = HOLD_PRIOR;
  const purchase =
    config.expectedPurchaseSeconds == null
      ? f * config.purchaseWindowSeconds
      : Math.min(config.expectedPurchaseSeconds, config.purchaseWindowSeconds);
  const claimer = d * config.claimWindowSeconds + purchase;
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
  /**
   * Epoch seconds before which no tick can admit the place, whatever the line: a place of a
   * sharded event waits for its slice to be sealed (shared/domain/intake.ts `admissibleFrom`).
   */
  readonly notBeforeSec?: number;
  /**
   * Of `ahead`, how many may be admitted before `notBeforeSec` (places of slices sealed
   * earlier); all of them when not given. A tick before then admits only those: its other
   * admissions, as the timeline plays them, do not happen (their rate credit is not banked).
   */
  readonly admissibleBefore?: number;
}

/**
 * How spread out holds are assumed to be: a gamma distribution of this shape (coefficient
 * of variation ½, as `IN_PROGRESS_RELEASES_PER_SLOT` assumes) around the mean hold.
 */
const HOLD_SHAPE = 4;
/** Ticks the admissions are played ahead, in mean holds; beyond, the line moves at its steady pace. */
const TIMELINE_HOLDS = 3;
const TIMELINE_MAX_TICKS = 400;

/** Gamma(shape, 1) distribution function at `y` (whole shape, so a finite sum). */
function gammaCdf(shape: number, y: number): number {
  if (y <= 0) return 0;
  let term = 1;
  let sum = 1;
  for (let n = 1; n < shape; n++) {
    term *= y / n;
    sum += term;
  }
  return 1 - Math.exp(-y) * sum;
}

/**
 * When held slots come back: a no-show's exactly a claim window after its admission (the
 * prior's share of them), a claimer's by a gamma of shape HOLD_SHAPE around the rest of
 * the mean hold. With a mean too short for that split, a gamma around the mean.
 */
interface HoldModel {
  /**
   * Share of holds over by `seconds` after admission; `spread`: the admissions were spread
   * evenly over that many seconds around it (a record that stands for several ticks).
   */
  over(seconds: number, spread?: number): number;
  /** Share of the holds under way in a steady line (ages as it has them) over within `seconds`: E[min(H, t)] / E[H]. */
  steadyOver(seconds: number): number;
}

function holdModel(mean: number, claimWindowSeconds: number): HoldModel {
  const q = HOLD_PRIOR.noShowShare;
  const split = mean > q * claimWindowSeconds * 1.05;
  const noShows = split ? q : 0;
  const claimerMean = split ? (mean - q * claimWindowSeconds) / (1 - q) : mean;
  const gamma = (shape: number, seconds: number) => gammaCdf(shape, (seconds * HOLD_SHAPE) / claimerMean);
  return {
    over: (seconds, spread = 0) => {
      const lapsed =
        spread > 0
          ? Math.min(1, Math.max(0, (seconds - claimWindowSeconds + spread / 2) / spread))
          : seconds >= claimWindowSeconds
            ? 1
            : 0;
      return seconds <= 0 && spread <= 0 ? 0 : noShows * lapsed + (1 - noShows) * gamma(HOLD_SHAPE, seconds);
    },
    steadyOver: (seconds) => {
      if (seconds <= 0) return 0;
      // For a gamma, E[min(H, t)] = t·S(t) + mean·F₅(t).
      const claimers =
        seconds * (1 - gamma(HOLD_SHAPE, seconds)) + claimerMean * gamma(HOLD_SHAPE + 1, seconds);
      const expected = noShows * Math.min(claimWindowSeconds, seconds) + (1 - noShows) * claimers;
      return Math.min(1, expected / mean);
    },
  };
}

/** Places admitted by each tick from the next one on, as the line is expected to move. */
interface Timeline {
  /** Seconds from now to the next tick. */
  readonly toNextTick: number;
  /** Places admitted by the j-th tick after the next one, the next one included (j = 0…). */
  readonly admitted: Float64Array;
  /** Places a second once the timeline ends: `min(admitPerMinute / 60, capacity / mean hold)`. */
  readonly perSecond: number;
}

type EstimatedEvent = WaitEstimateInput['event'];
/**
 * One timeline per state of the line and second: a route answers many fans from one read,
 * and a process that reads the event for every request (the local runtime) rebuilds it
 * only when the line changed. Keyed by everything the timeline reads; its time to the next
 * tick is worked out anew for each caller, to the millisecond.
 */
const timelines = new Map<string, Timeline | null>();
const TIMELINES_KEPT = 256;

function timelineKey(event: EstimatedEvent, nowSec: number, T: number): string {
  const { config } = event;
  let ticks = '';
  for (const t of event.recentTicks)
    ticks += `${t.at},${t.admittedAt ?? ''},${t.admitted},${t.inUse ?? ''},${t.heldSeconds ?? ''},${t.freedTotal ?? ''};`;
  return [
    Math.floor(nowSec),
    T,
    event.state,
    event.inUse,
    event.rateCredit,
    event.lastTickAtMs,
    config.capacity,
    config.admitPerMinute,
    config.claimWindowSeconds,
    config.purchaseWindowSeconds,
    config.expectedPurchaseSeconds,
    ticks,
  ].join('|');
}

/**
 * Plays the next ticks in expected values: the slots free now go first (as far as the
 * rate cap lets them), then slots as they come back. Slots in use come back by the hold
 * distribution given how long they have been held (the recent ticks say when they were
 * admitted, newest first); slots admitted in the timeline come back the same way. So
 * at a sale's start, when every slot was just handed out and few come back for a while,
 * the places beyond the capacity are told so; in a steady line this is the steady pace.
 */
function timeline(event: EstimatedEvent, nowSec: number, T: number): Timeline | null {
  const key = timelineKey(event, nowSec, T);
  let line = timelines.get(key);
  if (line === undefined) {
    line = buildTimeline(event, nowSec, T);
    if (timelines.size >= TIMELINES_KEPT) timelines.clear();
    timelines.set(key, line);
  }
  // The counts may be a moment old (the key is the whole second), but the time to the next
  // tick is now's: cached with them, a document generated late in a second put the next tick
  // up to a second later than one generated early in it.
  return line && { ...line, toNextTick: secondsToNextTick(event, nowSec, T) };
}

/** The next tick is one interval after the last; before the first, or once resumed, somewhere within one. */
function secondsToNextTick(event: EstimatedEvent, nowSec: number, T: number): number {
  return event.state === 'paused' || event.lastTickAtMs === 0
    ? T / 2
    : Math.min(T, Math.max(0, event.lastTickAtMs / 1000 + T - nowSec));
}

function buildTimeline(event: EstimatedEvent, nowSec: number, T: number): Timeline | null {
  const { capacity, admitPerMinute } = event.config;
  const rate = admitPerMinute === null ? Number.POSITIVE_INFINITY : admitPerMinute / 60;
  const hold = estimatedHoldSeconds(event, T);
  const holds = holdModel(hold, event.config.claimWindowSeconds);
  const perSecond = Math.min(rate, capacity / hold);
  if (!(perSecond > 0)) return null;
  const toNextTick = secondsToNextTick(event, nowSec, T);
  // The next tick's rate credit, as planTick accrues it (banked for at most one tick).
  const credit = Number.isFinite(rate)
    ? Math.floor(Math.min(Math.max(1, rate * T), event.rateCredit + rate * T))
    : Number.POSITIVE_INFINITY;
  const perTick = Number.isFinite(rate) ? rate * T : Number.POSITIVE_INFINITY;

  // Slots held as of the last tick (`inUse`), by when they were admitted: the newest
  // admissions first. Those older than the kept ticks are taken as a steady line holds
  // them. What comes back after the last tick, before now included, is the next tick's.
  // (Paused: the wait once admissions resume, which stands still meanwhile.)
  const since =
    event.state === 'open' && event.lastTickAtMs > 0 ? Math.min(nowSec, event.lastTickAtMs / 1000) : nowSec;
  // A record that stands for several ticks admitted over the span since the one before it.
  const held: { at: number; n: number; spread: number; survival: number }[] = [];
  let older = Math.max(0, event.inUse);
  for (let i = event.recentTicks.length - 1; i >= 0 && older > 0; i--) {
    const tick = event.recentTicks[i];
    if (!tick || tick.admitted <= 0) continue;
    const n = Math.min(tick.admitted, older);
    const at = tick.admittedAt ?? tick.at;
    const before = event.recentTicks[i - 1]?.at;
    const spread =
      tick.admittedAt === undefined ? 0 : before !== undefined ? tick.at - before : 2 * (tick.at - at);
    held.push({ at, n, spread, survival: Math.max(1e-9, 1 - holds.over(since - at, spread)) });
    older -= n;
  }

  const ticks = Math.min(TIMELINE_MAX_TICKS, Math.max(1, Math.ceil((TIMELINE_HOLDS * hold) / T)));
  // Share of a hold begun at a tick that is over k ticks later.
  const overAfter = Float64Array.from({ length: ticks }, (_, k) => holds.over(k * T));
  const admitted = new Float64Array(ticks);
  const admits = new Float64Array(ticks);
  let free = Math.max(0, capacity - event.inUse);
  let total = 0;
  let releasedBefore = 0;
  for (let j = 0; j < ticks; j++) {
    const tickAt = nowSec + toNextTick + j * T;
    let released = older * holds.steadyOver(tickAt - since);
    for (const c of held)
      released += (c.n * (holds.over(tickAt - c.at, c.spread) - (1 - c.survival))) / c.survival;
    for (let k = 0; k < j; k++) released += (admits[k] ?? 0) * (overAfter[j - k] ?? 1);
    free += released - releasedBefore;
    releasedBefore = released;
    const admit = Math.max(0, Math.min(j === 0 ? credit : perTick, free));
    free -= admit;
    total += admit;
    admits[j] = admit;
    admitted[j] = total;
  }
  return { toNextTick, admitted, perSecond };
}

/**
 * The line's drain as a client reads it (the public event document's `waitCurve`).
 *
 * @example
 * const curve: WaitCurve | null = readEventDocument(body)?.waitCurve ?? null;
 * if (curve) console.log(curveWaitSeconds(curve, 120)); // seconds until 120 more are admitted
 */
export interface WaitCurve {
  /** Seconds from the document's `generatedAt` to the next tick. */
  readonly nextTickInSeconds: number;
  readonly tickSeconds: number;
  /** Ticks each entry of `admitted` stands for: entry i is the count by tick (i + 1)·stride − 1. */
  readonly stride: number;
  /** Real places admitted from the next tick on, cumulative, by the end of each entry's ticks. */
  readonly admitted: readonly number[];
  /** Places a second after the last entry. */
  readonly perSecond: number;
}

/** Entries a curve carries at most (about 1 KB of JSON). */
export const WAIT_CURVE_ENTRIES = 120;

/**
 * The timeline `waitEstimate` reads, for a client to estimate any place's wait itself
 * (browser-safe client: shared/client): up to `WAIT_CURVE_ENTRIES` cumulative counts,
 * covering the line's `waiting` places (past the timeline at its steady pace; whole ticks are
 * merged when it is long).
 * Null when the event is closed or no pace is known.
 */
export function waitCurve(
  event: EstimatedEvent,
  waiting: number,
  nowSec: number,
  tickSeconds: number,
): WaitCurve | null {
  if (event.state === 'closed') return null;
  const line = timeline(event, nowSec, tickSeconds);
  if (!line) return null;
  // Past the timeline the line moves at its steady pace, as `waitEstimate` plays it. The curve
  // goes on at that pace until it covers the whole line: counts are rounded down, so a place
  // read past the last count would wait up to a place's worth of time (minutes, in a line of
  // few slots and long holds) longer than the server says.
  const played = line.admitted.length;
  const last = line.admitted[played - 1] ?? 0;
  const perTick = line.perSecond * tickSeconds;
  const at = (tick: number) =>
    tick < played ? (line.admitted[tick] ?? 0) : last + (tick - (played - 1)) * perTick;
  let needed = played + Math.max(0, Math.ceil((waiting - last) / perTick));
  for (let j = 0; j < played; j++)
    if ((line.admitted[j] ?? 0) >= waiting) {
      needed = j + 1;
      break;
    }
  const stride = Math.max(1, Math.ceil(needed / WAIT_CURVE_ENTRIES));
  const admitted: number[] = [];
  for (let end = stride - 1; end < needed + stride - 1; end += stride) admitted.push(Math.floor(at(end)));
  return {
    nextTickInSeconds: Math.round(line.toNextTick * 1000) / 1000,
    tickSeconds,
    stride,
    admitted,
    // Significant digits, not decimals: a slow line (one slot, long holds) is a few ten-thousandths a second.
    perSecond: Number(line.perSecond.toPrecision(4)),
  };
}

/**
 * Whole seconds until a fan with `ahead` real places to go is admitted: 0 once admitted,
 * at least 1 before, null only for a closed event (nobody else is admitted). While the
 * event is paused it is the wait once admissions resume: it stands still rather than
 * counting down, since nobody knows how long the pause lasts.
 *
 * The line is played tick by tick (`timeline`): free slots at the next tick as far as its
 * rate credit reaches, then at the rate cap, then slots as they come back by the hold
 * distribution; beyond three mean holds at `min(admitPerMinute / 60, capacity / mean hold)`.
 */
export function waitEstimate(input: WaitEstimateInput): number | null {
  const { event, ahead, nowSec, tickSeconds: T } = input;
  if (ahead <= 0) return 0;
  if (event.state === 'closed') return null;
  const line = timeline(event, nowSec, T);
  if (!line) return null;
  const { admitted, toNextTick } = line;
  // A place that cannot be admitted before some time goes at a tick after it; the ticks
  // before it admit only the places that can be (`early` of them), the rest of theirs is lost.
  const notBefore = input.notBeforeSec ?? Number.NEGATIVE_INFINITY;
  const first = nowSec + toNextTick;
  const blocked = Math.max(0, Math.min(admitted.length, Math.ceil((notBefore - first) / T)));
  const early = Math.min(ahead, Math.max(0, input.admissibleBefore ?? ahead));
  const before = blocked > 0 ? (admitted[blocked - 1] ?? 0) : 0;
  const lost = before - Math.min(before, early);
  const reached = (j: number) =>
    j < blocked ? Math.min(admitted[j] ?? 0, early) : (admitted[j] ?? 0) - lost;
  // The first tick by which `ahead` places are admitted.
  let lo = 0;
  let hi = admitted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (reached(mid) >= ahead) hi = mid;
    else lo = mid + 1;
  }
  let tick = lo;
  if (lo === admitted.length) {
    const last = reached(admitted.length - 1);
    tick = admitted.length - 1 + Math.ceil((ahead - last) / (line.perSecond * T));
  }
  if (notBefore > first + tick * T) tick = Math.ceil((notBefore - first) / T);
  return Math.max(1, Math.ceil(toNextTick + tick * T));
}
