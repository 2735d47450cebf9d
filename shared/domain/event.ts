/** An event's configuration, state and the admitter's bookkeeping. Pure types and rules, no I/O. */
import type { IntakeMode } from './intake.ts';

export const EVENT_ID_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;

export type EventState = 'open' | 'paused' | 'closed';

export interface EventConfig {
  /** Most sessions at once: admitted-unclaimed plus active. */
  readonly capacity: number;
  /** Upper bound on admissions per minute; null = capacity alone decides. */
  readonly admitPerMinute: number | null;
  readonly purchaseWindowSeconds: number;
  readonly claimWindowSeconds: number;
  readonly positionTtlSeconds: number;
  readonly nearThreshold: number;
  /**
   * The operator's figure for how long a fan takes from claim to complete, on average
   * (from earlier sales); null = unknown. Only the wait estimate uses it, until the sale
   * has figures of its own (shared/domain/estimate.ts).
   */
  readonly expectedPurchaseSeconds: number | null;
  /** How joins take positions (shared/domain/intake.ts); fixed when the event is created. */
  readonly intake: IntakeMode;
}

export const CONFIG_DEFAULTS = {
  admitPerMinute: null,
  purchaseWindowSeconds: 1200,
  claimWindowSeconds: 300,
  positionTtlSeconds: 1800,
  nearThreshold: 100,
  expectedPurchaseSeconds: null,
  intake: 'exact',
} as const satisfies Omit<EventConfig, 'capacity'>;

/** Fields an operator may send; absent ones keep their current (or default) value. */
export type EventConfigInput = { readonly capacity: number } & Partial<Omit<EventConfig, 'capacity'>>;

export function mergeConfig(current: EventConfig | undefined, input: EventConfigInput): EventConfig {
  const base = current ?? { ...CONFIG_DEFAULTS, capacity: input.capacity };
  return {
    capacity: input.capacity,
    admitPerMinute: input.admitPerMinute === undefined ? base.admitPerMinute : input.admitPerMinute,
    purchaseWindowSeconds: input.purchaseWindowSeconds ?? base.purchaseWindowSeconds,
    claimWindowSeconds: input.claimWindowSeconds ?? base.claimWindowSeconds,
    positionTtlSeconds: input.positionTtlSeconds ?? base.positionTtlSeconds,
    nearThreshold: input.nearThreshold ?? base.nearThreshold,
    expectedPurchaseSeconds:
      input.expectedPurchaseSeconds === undefined
        ? base.expectedPurchaseSeconds
        : input.expectedPurchaseSeconds,
    intake: input.intake ?? base.intake,
  };
}

/** One admission tick as kept for stats and the wait estimate. */
export interface TickRecord {
  /** Epoch seconds. */
  readonly at: number;
  /** Serving position before the tick. */
  readonly from: number;
  /** Serving position after the tick. */
  readonly to: number;
  readonly admitted: number;
  // What the wait estimate learns from (shared/domain/estimate.ts). Optional: ticks stored
  // before they were kept have none, and the estimate then leans on its prior.
  /** Slots held after the tick (admitted-unclaimed plus active). */
  readonly inUse?: number;
  /** Slots the tick freed: claim windows lapsed, purchase windows ended, sessions completed. */
  readonly freed?: number;
  /**
   * Slot-seconds held since these tallies began (each slot counted until the tick that
   * freed it), and slots freed since then: their ratio is the mean hold (Little's law).
   */
  readonly heldSeconds?: number;
  readonly freedTotal?: number;
  /**
   * Only on a record that stands for several ticks (`keepTicks`): `at` is its last tick,
   * `from`/`admitted` cover all of them, and this is when they admitted, on average.
   */
  readonly admittedAt?: number;
}

/**
 * The admitter's own bookkeeping, written only by the admitter under a version
 * check so that overlapping admitters cannot both apply a tick.
 */
export interface AdmitterState {
  /**
   * Incremented by every committed tick and every change of state (pause, resume,
   * close): the optimistic-lock token, so a tick planned before a pause never commits
   * after it, and the `seq` of WebSocket messages, which only grows with the event.
   */
  readonly version: number;
  /** Highest position admitted so far. */
  readonly servingPosition: number;
  /** Capacity slots held (admitted-unclaimed plus active) as of the last tick. */
  readonly inUse: number;
  /** Release buckets up to and including this epoch second are applied. */
  readonly releasedThrough: number;
  /** Admissions the rate limit still allows (fractional token bucket). */
  readonly rateCredit: number;
  /** Epoch milliseconds of the last committed tick; 0 before the first. */
  readonly lastTickAtMs: number;
  /** The `completed` counter value already subtracted from `inUse`. */
  readonly completedSeen: number;
  readonly missed: number;
  readonly expired: number;
  readonly recentTicks: readonly TickRecord[];
  /** The `leftAdmitted` counter value already subtracted from `inUse`. */
  readonly leftSeen: number;
  /** Real places admitted so far (void numbers skipped do not count). */
  readonly admittedTotal: number;
  /** Held numbers (taken by a join; leaves included) at or below `servingPosition`. */
  readonly heldThroughServing: number;
  /** Sharded intake: slices up to this one are sealed and recorded; -1 before any. */
  readonly settledSlice: number;
  /** Sharded intake: held numbers in every settled slice. */
  readonly settledHeld: number;
}

export interface EventRecord extends AdmitterState {
  readonly eventId: string;
  readonly config: EventConfig;
  /**
   * Grows with every operator change of `config`: updates are written only if it is
   * still the value they read, so two concurrent partial updates never lose one.
   */
  readonly configVersion: number;
  readonly state: EventState;
  readonly createdAt: number;
  /** Epoch seconds of the last change visible to clients (config, state or serving position). */
  readonly updatedAt: number;
  /**
   * The leaves around the front as the last tick saw them, where a store publishes the
   * event for hot routes to read (decision 0010); absent where the line is read directly.
   */
  readonly line?: LineSnapshot;
}

/**
 * Leaves of waiting places as one tick found them, for counting `ahead` without reading
 * the line's hot items: exact as of that tick, and only ever an over-count after it.
 */
export interface LineSnapshot {
  /** The serving position the snapshot was taken at: it counts only for that one. */
  readonly servingPosition: number;
  /** Leaves per block of positions ([block, count]), from the block after the serving position on. */
  readonly leaveBlocks: readonly (readonly [number, number])[];
  /** The leaves themselves in the rest of the serving position's block (after it), the first 1,000 at most. */
  readonly servingBlockLeaves: readonly number[];
  /** The list above holds every leave through this position (the block's end, unless it was cut). */
  readonly servingBlockLeavesThrough?: number;
}

export const INITIAL_ADMITTER_STATE: AdmitterState = {
  version: 0,
  servingPosition: 0,
  inUse: 0,
  releasedThrough: 0,
  rateCredit: 0,
  lastTickAtMs: 0,
  completedSeen: 0,
  missed: 0,
  expired: 0,
  recentTicks: [],
  leftSeen: 0,
  admittedTotal: 0,
  heldThroughServing: 0,
  settledSlice: -1,
  settledHeld: 0,
};

/** A new event: open, nobody admitted yet. */
export function newEventRecord(eventId: string, config: EventConfig, nowSec: number): EventRecord {
  return {
    ...INITIAL_ADMITTER_STATE,
    eventId,
    config,
    configVersion: 1,
    state: 'open',
    createdAt: nowSec,
    updatedAt: nowSec,
  };
}

/** How many tick records are kept for stats and the estimate. */
export const RECENT_TICKS_KEPT = 30;
/** The newest records stay one per tick; older ones are merged to cover the sale so far. */
const FINE_TICKS_KEPT = 12;

/**
 * Appends a tick to the kept records. Beyond `RECENT_TICKS_KEPT`, two adjacent older
 * records become one (admissions added, the newer one's time, levels and running
 * tallies, `admittedAt` the admission-weighted time), so a sale's whole history of
 * admissions stays in a bounded list: the wait estimate reads from it when the slots in
 * use were handed out (shared/domain/estimate.ts). The pair merged is the one whose
 * admissions would be blurred least (admissions × the time the merged record covers):
 * quiet stretches merge first, and a sale's opening burst keeps its ticks, so the wave
 * of its no-shows coming back a claim window later is foreseen at the right tick.
 */
export function keepTicks(ticks: readonly TickRecord[], tick: TickRecord): TickRecord[] {
  const out = [...ticks, tick];
  while (out.length > RECENT_TICKS_KEPT) {
    let best = 1;
    let bestBlur = Number.POSITIVE_INFINITY;
    for (let i = 1; i + 1 < out.length - FINE_TICKS_KEPT; i++) {
      const span = (out[i + 1]?.at ?? 0) - (out[i - 1]?.at ?? 0);
      // Ties (pairs that admitted nobody) go to the shortest span, as before.
      const blur = ((out[i]?.admitted ?? 0) + (out[i + 1]?.admitted ?? 0) + 1e-6) * span;
      if (blur < bestBlur) {
        bestBlur = blur;
        best = i;
      }
    }
    const older = out[best];
    const newer = out[best + 1];
    if (!older || !newer) break;
    const admitted = older.admitted + newer.admitted;
    const when = (t: TickRecord) => t.admittedAt ?? t.at;
    const admittedAt =
      admitted > 0
        ? Math.round((when(older) * older.admitted + when(newer) * newer.admitted) / admitted)
        : when(newer);
    const freed = (older.freed ?? 0) + (newer.freed ?? 0);
    out.splice(best, 2, {
      ...newer,
      admittedAt,
      from: older.from,
      to: newer.to,
      admitted,
      ...(older.freed !== undefined || newer.freed !== undefined ? { freed } : {}),
    });
  }
  return out;
}

/** Which transitions an operator may make; closed is final (sold out). */
export function nextState(
  current: EventState,
  action: 'pause' | 'resume' | 'close',
): EventState | 'forbidden' {
  if (current === 'closed') return action === 'close' ? 'closed' : 'forbidden';
  if (action === 'pause') return 'paused';
  if (action === 'resume') return 'open';
  return 'closed';
}
