/**
 * How often a waiting fan hears about its place over the WebSocket: tiers by distance
 * from the front, under a budget of messages per second per event (decision 0012). Pure.
 *
 * - **Near**: within `nearThreshold` places, or admission expected within
 *   `nearHorizonSeconds`: a `position` message on every tick that moves the line.
 * - **Far**: every `wait / DISTANCE_RATIO` seconds, at least a tick and at most
 *   `FRESH_SECONDS` apart, rounded down to a step of the ladder (10 s, 5 s, 2.5 s, …);
 *   moving closer shortens the interval by itself.
 * - **While the budget allows it** (every connected fan told every tick within the
 *   worker's share of `messagesPerSecond`: a line of a few thousand connected fans), every
 *   fan hears every move, as if all were near.
 * - **Budget**: when the near tier's messages and the far tier's at those intervals
 *   would exceed the worker's share of `messagesPerSecond`, the far tier's ceiling rises
 *   to `OVERLOAD_SECONDS` (overload); beyond that every far fan is told at one interval,
 *   as long as the budget needs (the line is then longer than the budget can keep fresh:
 *   clients count down from the public event document meanwhile).
 *
 * Far fans are told in rounds: each connection has a fixed phase, and is due when a point
 * of its own schedule (`k · interval + offset`, the offset a function of its phase) has
 * passed since the last time the line moved, so the far tier's messages spread evenly over
 * time instead of all following the tick, and a fan not due at one move hears the next one.
 *
 * Intervals are steps of one ladder (`ladderDown`, `ladderUp`), each step dividing the
 * next, and a fan's offset is the same instant for every step: the points of a longer step
 * are points of every shorter one, so a fan whose interval changes keeps its rhythm. An
 * interval that moved a little at every move (wait ÷ 12 does, and so does the budget's one
 * interval beyond overload) moved a schedule counted from 1970 by many intervals: the fan
 * was told at random moves, at times not for two or three intervals.
 */

/** A far fan's shown `ahead` and wait are never older than this, normally. */
export const FRESH_SECONDS = 10;
/** …and never older than this under overload (contract: WebSocket). */
export const OVERLOAD_SECONDS = 30;
/** A far fan is told every `wait / DISTANCE_RATIO` seconds: 2 minutes away, every 10 s. */
export const DISTANCE_RATIO = 12;

/**
 * How often a client re-reads the public event document (its `pollAfterSeconds`): read
 * every 8 s behind the CDN's one-second cache (plus a second of the origin's own event
 * cache), a place a client counts down itself is never more than 10 s behind the line, at
 * no cost to the origin that grows with the crowd. Each read is a CDN request, the main
 * cost of a long line (1,000,000 readers: 125,000 requests/s); a client whose WebSocket
 * is live need not read it at all.
 */
export const DOCUMENT_POLL_SECONDS = 8;

export const UPDATE_DEFAULTS = {
  nearHorizonSeconds: 60,
  /** A fifth of the account's default API Gateway quota (10,000 requests/s). */
  messagesPerSecond: 2000,
  /**
   * Half the HTTP stage's default throttle (2,000 requests/s): joins and claims need the
   * rest. A line longer than ~900,000 pollers with half-hour tokens polls more than this
   * whatever it says (the token floor in `statusPollSeconds`): docs/deploy-big-onsales.md.
   */
  statusRequestsPerSecond: 1000,
} as const;

/**
 * Places per second of pace: a poller `ahead` places back polls status every
 * `ahead / (budget / STATUS_SPREAD)` seconds. Polls of a line paced so add up to about
 * `budget / STATUS_SPREAD · ln(line)` a second, which stays under the budget for any line
 * up to `e^STATUS_SPREAD` (hundreds of millions) but for the token-refresh floor below.
 */
const STATUS_SPREAD = 20;

/**
 * Seconds before a poller asks for its status again (`pollAfterSeconds` of join and
 * status): what the estimate suggests (shared/domain/estimate.ts `pollAfterSeconds`),
 * or slower as the distance grows so that a long line's polls stay near the event's
 * `statusRequestsPerSecond`; never so slow that the position token (`positionTtlSeconds`,
 * refreshed by each answer) expires: at most half its lifetime. Between polls a client
 * counts its place down from the public event document, which is cached in front of the
 * API, and learns of its admission there too (`servingPosition`).
 */
export function statusPollSeconds(
  suggested: number,
  ahead: number,
  limits: { readonly statusRequestsPerSecond: number; readonly positionTtlSeconds: number },
): number {
  const perSecond = Math.max(1e-9, limits.statusRequestsPerSecond / STATUS_SPREAD);
  const byBudget = Math.round(Math.max(0, ahead) / perSecond);
  const ceiling = Math.max(suggested, Math.floor(limits.positionTtlSeconds / 2));
  return Math.min(ceiling, Math.max(suggested, byBudget));
}

/**
 * `pollAfterSeconds` for a sharded place whose slice is not settled yet: its `ahead` is an
 * estimate (decision 0008) until the admitter's first tick after the slice is sealed
 * (`sealedAtSec`), and its published copies a moment later. The client asks again then (a
 * second to spare), rather than at the pace of its distance, which far back is many
 * minutes of showing an estimate. One early call per join.
 */
export function settlingPollSeconds(
  pace: number,
  sealedAtSec: number,
  nowSec: number,
  tickSeconds: number,
): number {
  return Math.min(pace, Math.max(1, Math.ceil(sealedAtSec + tickSeconds + 1 - nowSec)));
}

export interface UpdatePolicy {
  /** The admitter's tick: the near tier hears every tick that moves the line. */
  readonly tickSeconds: number;
  /** `ahead` at or below which a fan is near, whatever its wait (event config). */
  readonly nearThreshold: number;
  /** A fan expected to be admitted within this many seconds is near. */
  readonly nearHorizonSeconds: number;
  /** `position` messages per second one event may send, all fan-out workers together. */
  readonly messagesPerSecond: number;
}

/** What a waiting fan's tier depends on. `waitSeconds` null: unknown (treated as far). */
export interface WaitingFan {
  readonly ahead: number;
  readonly waitSeconds: number | null;
}

export type Tier = 'near' | 'far';

export function tierOf(policy: UpdatePolicy, fan: WaitingFan): Tier {
  if (fan.ahead <= policy.nearThreshold) return 'near';
  return fan.waitSeconds !== null && fan.waitSeconds <= policy.nearHorizonSeconds ? 'near' : 'far';
}

/**
 * The step of the far tier's ladder at or below `seconds`: `FRESH_SECONDS` halved (5, 2.5, …)
 * below it, `OVERLOAD_SECONDS` doubled (60, 120, …) from that up. A fan told at the step
 * below its interval is never told less often than its interval says.
 */
export function ladderDown(seconds: number): number {
  if (!(seconds > 0)) return 0;
  if (!Number.isFinite(seconds)) return seconds;
  if (seconds >= OVERLOAD_SECONDS)
    return OVERLOAD_SECONDS * 2 ** Math.floor(Math.log2(seconds / OVERLOAD_SECONDS));
  if (seconds >= FRESH_SECONDS) return FRESH_SECONDS;
  return FRESH_SECONDS / 2 ** Math.ceil(Math.log2(FRESH_SECONDS / seconds));
}

/** The step of the ladder at or above `seconds`: an interval the budget needs, never shorter. */
export function ladderUp(seconds: number): number {
  if (!(seconds > 0)) return 0;
  if (!Number.isFinite(seconds)) return seconds;
  if (seconds > OVERLOAD_SECONDS)
    return OVERLOAD_SECONDS * 2 ** Math.ceil(Math.log2(seconds / OVERLOAD_SECONDS));
  if (seconds > FRESH_SECONDS) return OVERLOAD_SECONDS;
  return FRESH_SECONDS / 2 ** Math.floor(Math.log2(FRESH_SECONDS / seconds));
}

/**
 * Seconds between a far fan's messages, under a ceiling (`FRESH_SECONDS` unless overloaded):
 * `wait / DISTANCE_RATIO`, at least a tick, on the ladder's step at or below it. A step
 * shorter than the tick means every move.
 */
export function farIntervalSeconds(
  policy: UpdatePolicy,
  waitSeconds: number | null,
  ceiling: number,
): number {
  const wait = waitSeconds ?? Number.POSITIVE_INFINITY;
  return ladderDown(Math.min(ceiling, Math.max(policy.tickSeconds, wait / DISTANCE_RATIO)));
}

export interface UpdatePlan {
  /** The budget lets every fan hear every move: no far tier. */
  readonly everyMove: boolean;
  /** Most seconds between a far fan's messages. */
  readonly ceilingSeconds: number;
  /** Every far fan is told every `ceilingSeconds`, whatever its distance (beyond overload). */
  readonly uniform: boolean;
  /** True when the far tier is told less often than `FRESH_SECONDS`. */
  readonly overloaded: boolean;
  readonly near: number;
  readonly far: number;
  /** Messages per second this plan sends while the line moves every tick. */
  readonly messagesPerSecond: number;
}

/**
 * The plan for the waiting fans one worker tells (its share of the event's connections),
 * within `share` of the event's budget (1 / number of workers).
 */
export function planUpdates(policy: UpdatePolicy, fans: Iterable<WaitingFan>, share = 1): UpdatePlan {
  const budget = Math.max(0, policy.messagesPerSecond * share);
  let near = 0;
  const farWaits: (number | null)[] = [];
  for (const fan of fans) {
    if (tierOf(policy, fan) === 'near') near++;
    else farWaits.push(fan.waitSeconds);
  }
  const nearRate = near / policy.tickSeconds;
  // A fan is told at most once a move, and moves come a tick apart.
  const farRate = (ceiling: number) =>
    farWaits.reduce<number>(
      (sum, wait) => sum + 1 / Math.max(policy.tickSeconds, farIntervalSeconds(policy, wait, ceiling)),
      0,
    );
  const plan = (ceiling: number, overloaded: boolean): UpdatePlan => ({
    everyMove: false,
    ceilingSeconds: ceiling,
    uniform: false,
    overloaded,
    near,
    far: farWaits.length,
    messagesPerSecond: nearRate + farRate(ceiling),
  });
  const everyone = (near + farWaits.length) / policy.tickSeconds;
  if (everyone <= budget)
    return { ...plan(FRESH_SECONDS, false), everyMove: true, messagesPerSecond: everyone };
  if (nearRate + farRate(FRESH_SECONDS) <= budget) return plan(FRESH_SECONDS, false);
  if (nearRate + farRate(OVERLOAD_SECONDS) <= budget) return plan(OVERLOAD_SECONDS, true);
  // Beyond overload the budget still holds: every far fan at one interval, the ladder's step
  // at or above what the budget needs (it stays put while the line changes a little).
  const left = budget - nearRate;
  const ceiling =
    left > 0 ? ladderUp(Math.max(OVERLOAD_SECONDS, farWaits.length / left)) : Number.POSITIVE_INFINITY;
  return {
    ...plan(ceiling, true),
    uniform: true,
    messagesPerSecond: nearRate + (Number.isFinite(ceiling) ? farWaits.length / ceiling : 0),
  };
}

/** A connection's fixed place in the far tier's rounds, in [0, 1): a hash of its id. */
export function phaseOf(connectionId: string): number {
  // FNV-1a, 32 bits: spreads ids evenly, stable across processes.
  let hash = 0x811c9dc5;
  for (let i = 0; i < connectionId.length; i++) {
    hash ^= connectionId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) / 2 ** 32;
}

/** `OVERLOAD_SECONDS · 2^20` (about a year): every step of the ladder up to it divides it. */
const ANCHOR_SECONDS = OVERLOAD_SECONDS * 2 ** 20;

/**
 * Where a fan's schedule points fall within an interval: `phase · ANCHOR_SECONDS` modulo the
 * interval. ANCHOR_SECONDS is a multiple of every step of the ladder (up to itself), so a
 * fan's points at one step are points at every shorter step, and phases spread fans evenly
 * over any step.
 */
export function scheduleOffset(phase: number, intervalSeconds: number): number {
  return (phase * ANCHOR_SECONDS) % intervalSeconds;
}

/**
 * Whether a far fan is due a message for a move of the line at `nowSec`, when the line
 * last moved before at `previousMoveSec`: a point of its schedule passed in between.
 * Returns the point (for pacing the round), or null when not due.
 */
export function dueAt(
  phase: number,
  intervalSeconds: number,
  previousMoveSec: number,
  nowSec: number,
): number | null {
  if (!Number.isFinite(intervalSeconds) || !(intervalSeconds > 0)) return null;
  const offset = scheduleOffset(phase, intervalSeconds);
  const k = Math.floor((nowSec - offset) / intervalSeconds);
  const point = k * intervalSeconds + offset;
  return point > previousMoveSec ? point : null;
}

/**
 * Whether the holder of a waiting place hears this move, and when in the round: near fans
 * at once (offset 0), far fans when due, at an offset within `spreadSeconds` that follows
 * their phase, so a round's messages go out evenly rather than in a burst after the tick.
 */
export function updateFor(
  policy: UpdatePolicy,
  plan: UpdatePlan,
  fan: WaitingFan & { readonly phase: number },
  move: { readonly previousMoveSec: number; readonly nowSec: number },
  spreadSeconds: number,
): { readonly tier: Tier; readonly offsetSeconds: number } | null {
  if (plan.everyMove || tierOf(policy, fan) === 'near') return { tier: 'near', offsetSeconds: 0 };
  const interval = plan.uniform
    ? plan.ceilingSeconds
    : farIntervalSeconds(policy, fan.waitSeconds, plan.ceilingSeconds);
  if (dueAt(fan.phase, interval, move.previousMoveSec, move.nowSec) === null) return null;
  return { tier: 'far', offsetSeconds: fan.phase * Math.max(0, spreadSeconds) };
}
