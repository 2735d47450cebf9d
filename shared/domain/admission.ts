/**
 * The admission rule, in one place. A tick frees the slots whose time has come
 * (claim windows that lapsed, purchase windows that ended, sessions completed
 * since the last tick) and then moves the serving position by the free capacity,
 * never faster than the event's `admitPerMinute`.
 *
 * Pure: the admitter loads the inputs, calls `planTick`, and commits the result
 * under a version check, so a tick that lost a race changes nothing.
 */
import { type AdmitterState, type EventRecord, keepTicks, type TickRecord } from './event.ts';

/** What the release buckets that came due since the last tick hold. */
export interface DueReleases {
  /** Admitted places whose claim window ended unclaimed. */
  readonly missed: number;
  /** Sessions whose purchase window ended without `complete`. */
  readonly expired: number;
}

export interface TickInput {
  readonly event: EventRecord;
  readonly releases: DueReleases;
  /**
   * Real places waiting that this tick may admit, in line order (void numbers skipped):
   * the admitter reads at most as many as could be admitted.
   */
  readonly waiting: number;
  /** The ever-growing count of sessions ended by `complete`. */
  readonly completed: number;
  /** The ever-growing count of admitted places given up before they claimed. */
  readonly leftAdmitted?: number;
  /** Wall clock, epoch milliseconds. */
  readonly nowMs: number;
  /** Seconds between ticks: the most rate credit that may be banked. */
  readonly tickSeconds: number;
  /**
   * The store's seal watermark: buckets at or below it are counted and frozen. New
   * deadlines go above it, so an admitter whose clock lags never files a batch's
   * slots where no later tick will look.
   */
  readonly sealedThrough?: number;
}

export interface TickPlan {
  readonly next: AdmitterState;
  /** Real places this tick admits: the first `admit` of the waiting ones. */
  readonly admit: number;
  /** Serving position before the tick. */
  readonly from: number;
  /** The serving position after it: admitted places are in (from, to], with any void numbers between. */
  readonly to: number;
  /** Epoch seconds by which this tick's admitted places must claim. */
  readonly claimBy: number;
  /** Release buckets up to this epoch second are applied by the tick. */
  readonly releasedThrough: number;
}

/** Free capacity: slots not held by admitted-unclaimed places or active sessions. */
export function freeSlots(capacity: number, inUse: number): number {
  return Math.max(0, capacity - inUse);
}

/**
 * Token-bucket credit for `admitPerMinute`: earned continuously, banked for at
 * most one tick interval (at least one admission), so a pause in ticking never
 * turns into a burst above the configured rate.
 */
export function accrueCredit(
  credit: number,
  admitPerMinute: number,
  elapsedMs: number,
  tickSeconds: number,
): number {
  const cap = Math.max(1, (admitPerMinute * tickSeconds) / 60);
  return Math.min(cap, credit + (Math.max(0, elapsedMs) / 60_000) * admitPerMinute);
}

/**

 * What a tick record adds for the wait estimate (shared/domain/estimate.ts): slots held
 * after the tick, slots it freed, and running tallies of both since the first tick that
 * kept them. `inUse` is the count after this tick's releases, before its admissions.
 */
export function tickTallies(event: EventRecord, inUse: number, admit: number, nowSec: number) {
  const last = event.recentTicks[event.recentTicks.length - 1];
  const freed = event.inUse - inUse;
  return {
    inUse: inUse + admit,
    freed,
    // The slots held since the last tick were held until now (or freed by this tick).
    heldSeconds: (last?.heldSeconds ?? 0) + (last ? event.inUse * Math.max(0, nowSec - last.at) : 0),
    freedTotal: (last?.freedTotal ?? 0) + freed,
  } satisfies Partial<TickRecord>;
}

/**
 * Plans a tick. The serving position it moves to is the admitter's to find: the
 * position of the `admit`-th real place waiting (void numbers are skipped, and never
 * take a slot), so `completeTick` finishes the plan once it is known.
 */
export function planTick(input: TickInput): TickPlan {
  const { event, releases, completed, nowMs, tickSeconds } = input;
  const nowSec = Math.floor(nowMs / 1000);
  const freedByComplete = Math.max(0, completed - event.completedSeen);
  const leftAdmitted = input.leftAdmitted ?? event.leftSeen;
  const freedByLeave = Math.max(0, leftAdmitted - event.leftSeen);
  const inUse = Math.max(
    0,
    event.inUse - releases.missed - releases.expired - freedByComplete - freedByLeave,
  );

  const rate = event.config.admitPerMinute;
  const elapsedMs = event.lastTickAtMs === 0 ? tickSeconds * 1000 : nowMs - event.lastTickAtMs;
  const credit = rate === null ? 0 : accrueCredit(event.rateCredit, rate, elapsedMs, tickSeconds);

  let admit = 0;
  if (event.state === 'open') {
    admit = Math.min(freeSlots(event.config.capacity, inUse), Math.max(0, input.waiting));
    if (rate !== null) admit = Math.min(admit, Math.floor(credit));
  }

  const from = event.servingPosition;
  const releasedThrough = Math.max(event.releasedThrough, nowSec);
  // As on a line without void numbers; the admitter's completeTick sets where it really ends.
  const to = from + admit;
  const tick: TickRecord = {
    at: nowSec,
    from,
    to,
    admitted: admit,
    ...tickTallies(event, inUse, admit, nowSec),
  };
  return {
    admit,
    from,
    to,
    claimBy: Math.max(releasedThrough, input.sealedThrough ?? 0) + event.config.claimWindowSeconds,
    releasedThrough,
    next: {
      version: event.version + 1,
      servingPosition: to,
      heldThroughServing: event.heldThroughServing + admit,
      settledSlice: event.settledSlice,
      settledHeld: event.settledHeld,
      inUse: inUse + admit,
      releasedThrough,
      rateCredit: rate === null ? 0 : credit - admit,
      lastTickAtMs: nowMs,
      completedSeen: Math.max(event.completedSeen, completed),
      leftSeen: Math.max(event.leftSeen, leftAdmitted),
      missed: event.missed + releases.missed,
      expired: event.expired + releases.expired,
      admittedTotal: event.admittedTotal + admit,
      recentTicks: keepTicks(event.recentTicks, tick),
    },
  };
}

/**
 * Finishes a plan once the admitter found where its `admit`-th real place stands:
 * `to` (the new serving position) and the held numbers up to it.
 */
export function completeTick(plan: TickPlan, to: number, heldThroughServing: number): TickPlan {
  const ticks = plan.next.recentTicks;
  const last = ticks[ticks.length - 1];
  const tick: TickRecord = { ...last, at: last?.at ?? 0, from: plan.from, to, admitted: plan.admit };
  return {
    ...plan,
    to,
    next: {
      ...plan.next,
      servingPosition: to,
      heldThroughServing,
      recentTicks: [...ticks.slice(0, -1), tick],
    },
  };
}
