/**
 * The queue store port: every state change the waiting room makes, as atomic
 * operations. Adapters: DynamoDB (shared/adapters/dynamo-store.ts) and the
 * embedded stores, on disk (shared/adapters/sqlite-store.ts) and in memory
 * (shared/adapters/memory-store.ts); one contract suite
 * (test/integration/queue-store.contract.ts) runs against all three.
 */
import type { DueReleases } from '#domain/admission';
import type { AdmitterState, EventConfig, EventRecord, EventState, TickRecord } from '#domain/event';
import type { AdmissionBatch, Session } from '#domain/place';

export interface EventCounters {
  /** Positions handed out (the join counter). */
  readonly issued: number;
  /** Sessions ever claimed. */
  readonly claimed: number;
  /** Sessions ever ended by `complete`. */
  readonly completed: number;
}

export interface SealedReleases extends DueReleases {
  /** The watermark after sealing: at least `throughSec`, more if another admitter's clock is ahead. */
  readonly sealedThrough: number;
}

export type UserSlot = { readonly position: number } | { readonly reservedAt: number };

export interface TickCommit {
  readonly next: AdmitterState;
  /** Present when the tick admitted anyone. */
  readonly batch: AdmissionBatch | null;
  readonly updatedAt: number;
}

export type ClaimResult =
  | { readonly outcome: 'claimed'; readonly session: Session }
  /** The place had claimed before: the existing session, unchanged. */
  | { readonly outcome: 'existing'; readonly session: Session }
  /** The claim window was already released by the admitter. */
  | { readonly outcome: 'missed' };

export type CompleteResult = 'completed' | 'already_ended';

/** A join-limit window pair: hits in the window that holds now (this hit included) and in the one before. */
export interface RateLimitCounts {
  readonly current: number;
  readonly previous: number;
}

export interface QueueStore {
  /**
   * Without `expectedConfigVersion`: creates the event (open, nobody admitted); null
   * when it exists already. With it: replaces the configuration if the event's
   * `configVersion` is still that value (and raises it); null when another update
   * got there first. Nothing is written when null is returned.
   */
  putEvent(
    eventId: string,
    config: EventConfig,
    nowSec: number,
    expectedConfigVersion?: number,
  ): Promise<{ event: EventRecord; created: boolean } | null>;
  /**
   * Throws EventNotFoundError; ConflictError('event_closed') when leaving `closed`.
   * Raises the event's `version`, so a tick planned before the change cannot commit.
   */
  setEventState(eventId: string, state: EventState, nowSec: number): Promise<EventRecord>;
  getEvent(eventId: string, options?: { consistent?: boolean }): Promise<EventRecord | undefined>;
  getCounters(eventId: string): Promise<EventCounters>;
  /** Events the admitter must tick: every event that is not closed with all its slots released. */
  listActiveEventIds(): Promise<string[]>;
  /** Stops ticking a closed event whose slots are all released. */
  retireEvent(eventId: string): Promise<void>;

  /** Atomically takes the next position. Throws EventNotFoundError or EventClosedError. */
  allocatePosition(eventId: string): Promise<number>;
  /** A user's place: bound to a position, reserved by a join in progress, or absent. */
  getUserSlot(eventId: string, userId: string): Promise<UserSlot | undefined>;
  /**
   * Reserves the user's place for this join, so that only one join allocates a
   * position: succeeds when no slot exists, or when only a reservation older than
   * `staleBeforeSec` (a join that died before binding) is there.
   */
  reserveUser(eventId: string, userId: string, nowSec: number, staleBeforeSec: number): Promise<boolean>;
  /** Binds the reserved user to the position their join allocated. */
  bindUser(eventId: string, userId: string, position: number): Promise<void>;
  /** Drops an unbound reservation (the join failed before it got a position). */
  releaseUser(eventId: string, userId: string): Promise<void>;

  /** Admission batches after position `afterTo`, oldest first, at most `limit`. */
  batchesAfter(eventId: string, afterTo: number, limit: number): Promise<AdmissionBatch[]>;
  /** The tick that admitted `position`, if any. */
  findBatch(eventId: string, position: number): Promise<AdmissionBatch | undefined>;
  getSession(eventId: string, position: number): Promise<Session | undefined>;
  /**
   * Starts the purchase session of an admitted place, once: moves its capacity
   * slot from the claim-deadline bucket to the session-end bucket.
   */
  claimSession(eventId: string, session: Session): Promise<ClaimResult>;
  /** Ends an active session now and frees its slot; safe to repeat. */
  completeSession(
    eventId: string,
    position: number,
    sessionId: string,
    nowSec: number,
  ): Promise<CompleteResult>;

  /**
   * Raises the event's seal watermark to at least `throughSec` (from then on any claim
   * or complete touching a bucket at or below it fails), then sums the release buckets
   * in (afterSec, throughSec]. Those sums can no longer change, so repeating this
   * returns the same values.
   */
  sealReleases(eventId: string, afterSec: number, throughSec: number): Promise<SealedReleases>;
  /**
   * Applies a tick if the event's version is still `expectedVersion`; false
   * when another admitter got there first (nothing is written then).
   */
  commitTick(eventId: string, expectedVersion: number, commit: TickCommit): Promise<boolean>;

  /**
   * Counts a hit in the window starting at `windowStartSec` (one write) and reads the
   * previous window's count (one read), for a sliding-window estimate.
   */
  hitRateLimit(key: string, windowStartSec: number, windowSeconds: number): Promise<RateLimitCounts>;
}

export type { TickRecord };
