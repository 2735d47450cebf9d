/**
 * The release ledger (decision 0001): admission batches, the release buckets their
 * slots come back from, the seal watermark, and the versioned tick commit.
 */
import type { DueReleases } from '#domain/admission';
import type { AdmitterState } from '#domain/event';
import type { AdmissionBatch } from '#domain/place';

export interface SealedReleases extends DueReleases {
  /** The watermark after sealing: at least `throughSec`, more if another admitter's clock is ahead. */
  readonly sealedThrough: number;
}

export interface TickCommit {
  readonly next: AdmitterState;
  /** Present when the tick admitted anyone. */
  readonly batch: AdmissionBatch | null;
  readonly updatedAt: number;
}

export interface LedgerStore {
  /** Admission batches after position `afterTo`, oldest first, at most `limit`. */
  batchesAfter(eventId: string, afterTo: number, limit: number): Promise<AdmissionBatch[]>;
  /** The tick that admitted `position`, if any. */
  findBatch(eventId: string, position: number): Promise<AdmissionBatch | undefined>;
  /**
   * Raises the event's seal watermark to at least `throughSec` (from then on any claim
   * or complete touching a bucket at or below it fails), then sums the release buckets
   * in (afterSec, throughSec]. Those sums can no longer change, so repeating this
   * returns the same values.
   */
  sealReleases(eventId: string, afterSec: number, throughSec: number): Promise<SealedReleases>;
  /**
   * Applies a tick if the event's version is still `expectedVersion`; false
   * when another admitter got there first (nothing is written then). A batch adds
   * its `admitted` places (not its span: void numbers hold no slot) to its bucket.
   */
  commitTick(eventId: string, expectedVersion: number, commit: TickCommit): Promise<boolean>;
}
