/** Places: positions, a user's one place, and the purchase sessions of admitted places. */
import type { Session } from '#domain/place';

export type UserSlot = { readonly position: number } | { readonly reservedAt: number };

export type ClaimResult =
  | { readonly outcome: 'claimed'; readonly session: Session }
  /** The place had claimed before: the existing session, unchanged. */
  | { readonly outcome: 'existing'; readonly session: Session }
  /** The claim window was already released by the admitter. */
  | { readonly outcome: 'missed' }
  /** The place was given up (`DELETE …/place`). */
  | { readonly outcome: 'left' };

export type CompleteResult = 'completed' | 'already_ended';

export interface PlaceStore {
  /** Exact intake: atomically takes the next position. Throws EventNotFoundError or EventClosedError. */
  allocatePosition(eventId: string): Promise<number>;
  /** A user's place: bound to a position, reserved by a join in progress, or absent. */
  getUserSlot(eventId: string, userId: string): Promise<UserSlot | undefined>;
  /**
   * Reserves the user's place for this join, so that only one join allocates a
   * position: succeeds when no slot exists, or when only a reservation older than
   * `staleBeforeSec` (a join that died before binding) is there.
   */
  reserveUser(eventId: string, userId: string, nowSec: number, staleBeforeSec: number): Promise<boolean>;
  /**
   * Binds the user to the position their join allocated, if the reservation is still the
   * one this join made at `reservedAt`. False: a slower join's reservation was taken over
   * as stale (or its place bound) meanwhile, and this join's position is nobody's.
   */
  bindUser(eventId: string, userId: string, position: number, reservedAt: number): Promise<boolean>;
  /**
   * Drops the join's own unbound reservation, made at `reservedAt` (the join failed before
   * it got a position); one taken over by a later join is left alone.
   */
  releaseUser(eventId: string, userId: string, reservedAt: number): Promise<void>;
  /**
   * Forgets the user's place if it is still `position` (the place was given up), so the
   * user's next join takes a new one. Safe to repeat.
   */
  unbindUser(eventId: string, userId: string, position: number): Promise<void>;

  getSession(eventId: string, position: number): Promise<Session | undefined>;
  /**
   * Starts the purchase session of an admitted place, once: moves its capacity
   * slot from the claim-deadline bucket to the session-end bucket. Refused for a
   * place that was given up.
   */
  claimSession(eventId: string, session: Session): Promise<ClaimResult>;
  /** Ends an active session now and frees its slot; safe to repeat. */
  completeSession(
    eventId: string,
    position: number,
    sessionId: string,
    nowSec: number,
  ): Promise<CompleteResult>;
}
