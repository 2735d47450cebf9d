/**
 * How positions are handed out, in both intake modes (decision 0008). Pure: numbers
 * only, no I/O.
 *
 * `exact`: one counter, positions 1..N, every number held.
 *
 * `sharded`: a join takes a ticket from one of `INTAKE_STRIPES` counter items for the
 * current one-second slice of the event's life, so no item takes more than
 * `STRIPE_ROWS_PER_SLICE` writes a second. Tickets map to positions that interleave
 * the stripes row by row, and every slice owns a fixed range of `SLICE_SPAN` numbers:
 *
 *     position = slice × SLICE_SPAN + (row − 1) × INTAKE_STRIPES + stripe + 1
 *
 * A join knows its position at once (from its own counter's answer), positions of a
 * later slice are all above an earlier slice's, and inside a slice they follow how far
 * each stripe had got, so order follows arrival to within a slice. Numbers a stripe did
 * not reach in a slice are void; the admitter learns exactly which when it seals the
 * slice (every stripe's final count), and never spends a slot on them.
 */

export const INTAKE_MODES = ['exact', 'sharded'] as const;
export type IntakeMode = (typeof INTAKE_MODES)[number];

/** Counter items per event in sharded mode: 256 × 500 joins/s ≈ 128,000 joins/s. */
export const INTAKE_STRIPES = 256;
/** Most tickets one stripe gives out in one slice: keeps every item under 500 writes/s. */
export const STRIPE_ROWS_PER_SLICE = 500;
export const SLICE_SPAN = INTAKE_STRIPES * STRIPE_ROWS_PER_SLICE;
/**
 * A stripe sealed at or beyond this slice takes no more joins: the event closed.
 * (Slices count seconds since the event was created; this is 30 years of them.)
 */
export const CLOSED_SLICE = 1_000_000_000;
/** A slice is sealed once it has been over this long, so joins still in flight land first. */
export const SLICE_GRACE_SECONDS = 1;
/**
 * Slices a stripe keeps counting after the admitter settled them: a join that read an
 * event a few ticks old still finds their counts (for its `ahead`) in its stripe.
 */
export const SLICES_KEPT_AFTER_SETTLING = 10;
/** Stripes a join tries (at random) before it gives up with a 503 when all it tried were full. */
export const STRIPE_ATTEMPTS = 4;

export interface Ticket {
  readonly slice: number;
  readonly stripe: number;
  /** 1-based: the n-th ticket of this stripe in this slice. */
  readonly row: number;
}

/** The slice a join at `nowMs` writes to: whole seconds since the event was created. */
export function sliceAt(createdAtSec: number, nowMs: number): number {
  return Math.max(0, Math.floor(nowMs / 1000) - createdAtSec);
}

export function ticketPosition({ slice, stripe, row }: Ticket): number {
  return slice * SLICE_SPAN + (row - 1) * INTAKE_STRIPES + stripe + 1;
}

/**
 * Places of its own slice ahead of a ticket, before the slice is settled: at least its own
 * stripe's earlier rows, at most every stripe's earlier rows plus this row's lower stripes,
 * in between as many as its own stripe suggests (a stripe is a random 1/256 of the joins).
 */
export function sliceAheadEstimate(ticket: Ticket): number {
  const fewest = ticket.row - 1;
  const most = (ticket.row - 1) * INTAKE_STRIPES + ticket.stripe;
  return Math.round(Math.min(most, Math.max(fewest, (ticket.row - 0.5) * INTAKE_STRIPES)));
}

export function ticketOf(position: number): Ticket {
  const offset = position - 1;
  const slice = Math.floor(offset / SLICE_SPAN);
  const inSlice = offset - slice * SLICE_SPAN;
  return { slice, row: Math.floor(inSlice / INTAKE_STRIPES) + 1, stripe: inSlice % INTAKE_STRIPES };
}

/**
 * Epoch seconds from which a tick may admit a sharded place: its slice is over and sealed
 * (`sealableSlice`) only a grace after it ends.
 */
export function admissibleFromSec(createdAtSec: number, position: number): number {
  return createdAtSec + ticketOf(position).slice + 1 + SLICE_GRACE_SECONDS;
}

/**
 * What the wait estimate needs to know of a sharded place (`waitEstimate`'s `notBeforeSec`
 * and `admissibleBefore`): no tick admits it before its slice is sealed, and until then
 * only the places of earlier slices among the `ahead` (the place itself included) can go.
 */
export function shardedTiming(createdAtSec: number, position: number, ahead: number) {
  return {
    notBeforeSec: admissibleFromSec(createdAtSec, position),
    admissibleBefore: Math.max(0, ahead - 1 - sliceAheadEstimate(ticketOf(position))),
  };
}

/** The final ticket counts of one sealed slice that had joins, with the held numbers before it. */
export interface SliceRecord {
  readonly slice: number;
  /** Tickets each stripe gave out in the slice (index = stripe). */
  readonly counts: readonly number[];
  /** Held numbers in every earlier slice. */
  readonly heldBefore: number;
}

export function sliceHeld(counts: readonly number[]): number {
  let sum = 0;
  for (const c of counts) sum += c;
  return sum;
}

/** Held numbers of a sealed slice at or below `position` (which lies in that slice). */
export function heldThroughInSlice(record: SliceRecord, position: number): number {
  const { stripe, row } = ticketOf(position);
  let held = 0;
  // Every stripe's rows above this one, and this row in the stripes up to this one.
  for (let s = 0; s < INTAKE_STRIPES; s++)
    held += Math.min(record.counts[s] ?? 0, s <= stripe ? row : row - 1);
  return held;
}

export function isHeldTicket(record: SliceRecord, position: number): boolean {
  const { stripe, row } = ticketOf(position);
  return row <= (record.counts[stripe] ?? 0);
}

/**
 * The held positions of a sealed slice above `after`, in line order, at most `limit`.
 * The work is bounded by the slice's rows, not by how many numbers it spans.
 */
export function heldPositionsAfter(record: SliceRecord, after: number, limit: number): number[] {
  const out: number[] = [];
  let maxRow = 0;
  for (const c of record.counts) maxRow = Math.max(maxRow, c);
  const start = record.slice * SLICE_SPAN;
  const firstRow = after <= start ? 1 : ticketOf(after).row;
  for (let row = firstRow; row <= maxRow && out.length < limit; row++) {
    for (let stripe = 0; stripe < INTAKE_STRIPES && out.length < limit; stripe++) {
      if (row > (record.counts[stripe] ?? 0)) continue;
      const position = ticketPosition({ slice: record.slice, stripe, row });
      if (position > after) out.push(position);
    }
  }
  return out;
}

/**
 * Counts for the slices a seal returned, as one record per slice that had joins, with
 * running held totals from `heldBefore` (the held numbers of every slice already settled).
 */
export function settleSlices(
  countsBySlice: ReadonlyMap<number, readonly number[]>,
  heldBefore: number,
): { records: SliceRecord[]; held: number } {
  const records: SliceRecord[] = [];
  let held = heldBefore;
  for (const slice of [...countsBySlice.keys()].sort((a, b) => a - b)) {
    const counts = countsBySlice.get(slice) ?? [];
    const inSlice = sliceHeld(counts);
    if (inSlice === 0) continue;
    records.push({ slice, counts: [...counts], heldBefore: held });
    held += inSlice;
  }
  return { records, held };
}

/**
 * The slice the admitter may seal at `nowMs`: the newest whose second has been over for
 * the grace, never beyond what joins rang for (a quiet event costs no seal writes).
 */
export function sealableSlice(
  createdAtSec: number,
  nowMs: number,
  rungSlice: number,
  closed: boolean,
): number {
  // Closing sealed every stripe for good: whatever was rung for is final.
  if (closed) return rungSlice;
  // Slice k is over at createdAt + k + 1; it is sealed a grace later.
  return Math.min(rungSlice, sliceAt(createdAtSec, nowMs) - 1 - SLICE_GRACE_SECONDS);
}

/** Leaves are counted per block of position numbers, so `ahead` subtracts them cheaply. */
export const LEAVE_BLOCK = 16_384;
export const leaveBlockOf = (position: number) => Math.floor((position - 1) / LEAVE_BLOCK);
