/**
 * Sharded intake (shared/domain/intake.ts, decision 0008): striped ticket counters per
 * one-second slice, the bell joins ring when a slice starts, the seal that fixes a
 * slice's counts, and the settled slice records `ahead` and the admitter read.
 */
import type { SliceRecord } from '#domain/intake';

export type TicketResult =
  | {
      readonly outcome: 'taken';
      readonly row: number;
      /**
       * This stripe's tickets in each slice it still counts (this one included; sealed ones
       * until a later seal forgets them), as the write left them: a stripe is a random 1/256
       * of the joins, so it tells the join how many stand in the slices not settled yet in the
       * event as the join read it (which may be a tick behind the stripe's seal).
       */
      readonly stripeCounts?: ReadonlyMap<number, number>;
    }
  /** This stripe gave out its most tickets for the slice: try another stripe. */
  | { readonly outcome: 'full' }
  /** The slice is sealed already (this join's clock is behind): retry in a later slice. */
  | { readonly outcome: 'sealed'; readonly sealedThrough: number }
  | { readonly outcome: 'closed' };

export interface IntakeStore {
  /**
   * Takes the next ticket of `stripe` in `slice`: one conditional write on that stripe's
   * item, refused once the stripe is sealed through the slice or full for it.
   */
  takeTicket(eventId: string, slice: number, stripe: number): Promise<TicketResult>;
  /** One stripe's tickets per slice it still counts, as `takeTicket` returns them (read for `ahead` before a slice settles). */
  stripeCounts(eventId: string, stripe: number): Promise<ReadonlyMap<number, number>>;
  /** Records that `slice` had a join (kept as the highest slice rung); safe to repeat. */
  ringIntake(eventId: string, slice: number): Promise<void>;
  /** The highest slice a join rang for; -1 before any. */
  rungSlice(eventId: string): Promise<number>;
  /**
   * Seals every stripe through `throughSlice` (no ticket can be taken there any more)
   * and returns the final counts of each slice in (afterSlice, throughSlice] that had
   * tickets (index = stripe). Repeating it, or racing another admitter, returns the
   * same counts. Counters of slices at or below `forgetThrough` (settled and committed
   * earlier) may be dropped on the way.
   */
  sealIntake(
    eventId: string,
    afterSlice: number,
    throughSlice: number,
    forgetThrough: number,
  ): Promise<Map<number, number[]>>;
  /** Stores settled slice records (immutable; writing one again is harmless). */
  putSlices(eventId: string, records: readonly SliceRecord[]): Promise<void>;
  getSlice(eventId: string, slice: number): Promise<SliceRecord | undefined>;
  /** Settled slice records after `afterSlice`, oldest first, at most `limit`. */
  slicesAfter(eventId: string, afterSlice: number, limit: number): Promise<SliceRecord[]>;
}
