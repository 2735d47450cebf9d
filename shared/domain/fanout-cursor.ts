/**
 * Ordering of fan-out jobs, pure. Jobs race (asynchronous invocations reorder
 * freely), so each shard of an event keeps a cursor: the newest `seq` it has sent
 * and the range of serving positions that send covered. A job older than the
 * cursor is news already superseded and is skipped; a newer job covers everything
 * from where the cursor stopped, so the `admitted` of a skipped job is never lost.
 * See docs/decisions/0005.
 */

export interface FanoutCursor {
  /** The event `seq` (its version) of the newest job sent for this shard; 0 before any. */
  readonly seq: number;
  /** That job told `admitted` to the places in (from, to]; `to` is the serving position at `seq`. */
  readonly from: number;
  readonly to: number;
  /**
   * Set while the shard's far tier is past overload (shared/domain/updates.ts): a new
   * connection of a place beyond this position is refused at the handshake, so the fans
   * connected keep their updates within the contract's 30 s and the rest count down from
   * the public event document. Absent: every place may connect. A new job drops it until
   * its own plan says again.
   */
  readonly acceptsThrough?: number;
}

/** A shard nothing has been sent to yet: a first job covers every admission so far. */
export const NO_CURSOR: FanoutCursor = { seq: 0, from: 0, to: 0 };

export type FanoutStep =
  /** A newer job has gone out: this one's news is stale, and the newer one covered its admissions. */
  | { readonly kind: 'skip' }
  /** The same job again (a retry or a duplicate delivery): send what it covered once more. */
  | { readonly kind: 'resend'; readonly from: number; readonly to: number }
  /** The newest job so far: move the cursor to `next` (conditionally), then send (next.from, next.to]. */
  | { readonly kind: 'advance'; readonly next: FanoutCursor };

/**
 * What a job with `seq`, whose serving position as of that seq is `serving`, does
 * against the shard's `cursor`.
 */
export function fanoutStep(cursor: FanoutCursor, job: { seq: number; serving: number }): FanoutStep {
  if (cursor.seq > job.seq) return { kind: 'skip' };
  if (cursor.seq === job.seq) return { kind: 'resend', from: cursor.from, to: cursor.to };
  // The serving position never goes down as seq grows; max() only guards against a bad input.
  return { kind: 'advance', next: { seq: job.seq, from: cursor.to, to: Math.max(cursor.to, job.serving) } };
}
