/** Where one place in line stands: pure derivation from the event and its records. */

/** A contiguous run of positions admitted by one tick: (from, to]. */
export interface AdmissionBatch {
  readonly from: number;
  readonly to: number;
  /** Real places admitted: the span less the void numbers skipped (each holds a slot). */
  readonly admitted: number;
  /** Epoch seconds of the tick. */
  readonly at: number;
  /** Epoch seconds; a place of this batch that has not claimed by then is missed. */
  readonly claimBy: number;
}

/** The purchase session of a place that claimed admission. */
export interface Session {
  readonly position: number;
  readonly sessionId: string;
  readonly sub: string;
  readonly claimedAt: number;
  /** Epoch seconds: end of the purchase window (the access token's `exp`). */
  readonly endsAt: number;
  /** Claim deadline of the batch that admitted the place. */
  readonly claimBy: number;
  /** Set when `complete` ended the session early. */
  readonly completedAt: number | null;
}

/**
 * `waiting`, `admitted`, `active` and `missed` are the contract's; `completed`
 * and `expired` are added for places whose session is over.
 */
export type PlaceStatus = 'waiting' | 'admitted' | 'active' | 'missed' | 'completed' | 'expired';

export function ahead(position: number, servingPosition: number): number {
  return Math.max(0, position - servingPosition);
}

/**
 * Real places ahead, the place itself included (as `position − servingPosition` counts
 * on a line without gaps): held numbers in (servingPosition, position] less the leaves
 * among them. `heldThrough(x)` counts numbers taken by joins at or below x.
 */
export function realAhead(args: {
  position: number;
  servingPosition: number;
  heldThroughPosition: number;
  heldThroughServing: number;
  leavesBetween: number;
}): number {
  if (args.position <= args.servingPosition) return 0;
  return Math.max(1, args.heldThroughPosition - args.heldThroughServing - args.leavesBetween);
}

export function placeStatus(args: {
  position: number;
  servingPosition: number;
  batch: AdmissionBatch | undefined;
  session: Session | undefined;
  nowSec: number;
}): PlaceStatus {
  const { position, servingPosition, batch, session, nowSec } = args;
  if (session) {
    if (session.completedAt !== null) return 'completed';
    return nowSec < session.endsAt ? 'active' : 'expired';
  }
  if (position > servingPosition || !batch) return 'waiting';
  return nowSec < batch.claimBy ? 'admitted' : 'missed';
}
