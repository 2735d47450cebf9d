/**
 * The line as the store holds it, with void numbers (leaves, and in sharded mode the
 * tickets a stripe never gave out): how many real places stand between two positions,
 * and which are the next real places to admit. Shared by the join/status answers and
 * the admitter (decision 0008).
 *
 * Reads a hot request path makes are cached per process: settled slice records never
 * change, so they are kept; leave counts change, so they are kept for `cacheMs`.
 */
import type { EventRecord, LineSnapshot } from '#domain/event';
import {
  heldPositionsAfter,
  heldThroughInSlice,
  INTAKE_STRIPES,
  LEAVE_BLOCK,
  leaveBlockOf,
  type SliceRecord,
  sliceAheadEstimate,
  ticketOf,
} from '#domain/intake';
import { type Cell, cellOf, countByCell, type PlaceLine, type PublicLine } from '#domain/line-cells';
import { type AdmissionBatch, realAhead } from '#domain/place';
import type { QueueStore } from '#ports/queue-store';

/** Leaves of the serving position's block a snapshot lists at most (8 bytes each in a copy). */
const SNAPSHOT_LEAVES = 1_000;
/** Slice records kept per process (about 1 KB each). */
const SLICE_CACHE_ENTRIES = 4096;

export interface LineOptions {
  /** How long leave counts may be reused; 0 reads them every time. */
  readonly cacheMs?: number;
  readonly now?: () => number;
}

interface Cached<T> {
  readonly value: T;
  readonly at: number;
}

export interface RealPlaces {
  /** Real places after the start, in line order. */
  readonly positions: readonly number[];
  /** For each of them, the held numbers (leaves included) from the start through it. */
  readonly heldThrough: readonly number[];
}

export type { PlaceLine, PublicLine };

/** The event's `PublicLine` (issue 8, decision 0013); null without a snapshot taken at its serving position, or with a cut one. */
export function publicLine(event: EventRecord): PublicLine | null {
  const snapshot = event.line;
  if (!snapshot || snapshot.servingPosition !== event.servingPosition) return null;
  const first = leaveBlockOf(event.servingPosition + 1);
  const end = (first + 1) * LEAVE_BLOCK;
  if ((snapshot.servingBlockLeavesThrough ?? end) < end) return null;
  const serving = snapshot.servingBlockLeaves.length;
  return {
    blockSize: LEAVE_BLOCK,
    goneThroughServing: event.heldThroughServing,
    leaves: [
      ...(serving > 0 ? [[first, 1, serving] as const] : []),
      ...countByCell(first, snapshot.leaveBlocks),
    ],
  };
}

/** A place's `ahead` and what a client counts it down with (`Line.count`). */
export interface PlaceCount {
  readonly ahead: number;
  /** Null unless counted from a snapshot at the serving position, beyond the serving position's cell. */
  readonly line: PlaceLine | null;
}

interface LeavesAhead {
  readonly total: number;
  /** `through`'s cell, the leaves before it (of those counted) and all those in it; null when not counted so. */
  readonly cell: (Cell & { readonly before: number; readonly leaves: number }) | null;
}

export class Line {
  readonly #store: QueueStore;
  readonly #cacheMs: number;
  readonly #now: () => number;
  readonly #slices = new Map<string, SliceRecord | null>();
  readonly #blocks = new Map<string, Cached<Map<number, number>>>();
  readonly #partials = new Map<string, Cached<number[]>>();
  readonly #inFlight = new Map<string, Promise<unknown>>();
  /** Per event, batches seen, ordered by `to`: a written batch never changes. */
  readonly #batches = new Map<string, AdmissionBatch[]>();

  constructor(store: QueueStore, options: LineOptions = {}) {
    this.#store = store;
    this.#cacheMs = options.cacheMs ?? 0;
    this.#now = options.now ?? Date.now;
  }

  /**
   * The batch that admitted `position`, if any. Read once per process and batch: every
   * admitted fan's status needs it, and the batches are items of the event's own partition.
   */
  async batch(eventId: string, position: number): Promise<AdmissionBatch | undefined> {
    const seen = this.#batches.get(eventId) ?? [];
    let lo = 0;
    let hi = seen.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((seen[mid]?.to ?? 0) < position) lo = mid + 1;
      else hi = mid;
    }
    const hit = seen[lo];
    if (hit && hit.from < position) return hit;
    const found = await this.#store.findBatch(eventId, position);
    if (found) {
      if (seen.length >= SLICE_CACHE_ENTRIES) seen.length = 0;
      seen.push(found);
      seen.sort((a, b) => a.to - b.to);
      this.#batches.set(eventId, seen);
    }
    return found;
  }

  async slice(eventId: string, slice: number): Promise<SliceRecord | undefined> {
    const key = `${eventId}#${slice}`;
    const cached = this.#slices.get(key);
    if (cached !== undefined) return cached ?? undefined;
    const record = await this.#store.getSlice(eventId, slice);
    if (this.#slices.size >= SLICE_CACHE_ENTRIES) this.#slices.clear();
    // Asked only for settled slices: a missing record is a slice without joins, for good.
    this.#slices.set(key, record ?? null);
    return record;
  }

  /**
   * Held numbers at or below `position`. Exact for an exact event and for a settled
   * slice. For a slice not yet sealed (its first seconds) an estimate: a stripe is a random
   * 1/256 of the joins, so one stripe's counts (`stripeCounts`: the join's own, or one read
   * here) times 256 stand for each unsettled slice; inside its own slice, the place's ticket
   * bounds how many stand before it.
   */
  async heldThrough(
    event: EventRecord,
    position: number,
    stripeCounts?: ReadonlyMap<number, number>,
  ): Promise<number> {
    if (event.config.intake === 'exact') return position;
    const ticket = ticketOf(position);
    if (ticket.slice <= event.settledSlice) {
      const record = await this.slice(event.eventId, ticket.slice);
      return record ? record.heldBefore + heldThroughInSlice(record, position) : event.settledHeld;
    }
    const sample = stripeCounts ?? (await this.#store.stripeCounts(event.eventId, ticket.stripe));
    let before = 0;
    for (const [slice, count] of sample)
      if (slice > event.settledSlice && slice < ticket.slice) before += count * INTAKE_STRIPES;
    return event.settledHeld + before + sliceAheadEstimate(ticket) + 1;
  }

  /** Real places ahead of `position` (void numbers and leaves skipped), the place itself included. */
  async ahead(
    event: EventRecord,
    position: number,
    stripeCounts?: ReadonlyMap<number, number>,
  ): Promise<number> {
    return (await this.#count(event, position, stripeCounts, true)).ahead;
  }

  /**
   * `ahead`, and what a client needs to count it down by itself from the public document's
   * `line` (decision 0013): the place's cell, the places gone (admitted or left) before it,
   * and its leaves, as this count saw them.
   */
  count(
    event: EventRecord,
    position: number,
    stripeCounts?: ReadonlyMap<number, number>,
  ): Promise<PlaceCount> {
    return this.#count(event, position, stripeCounts, true);
  }

  /**
   * `ahead`, or a little more: the leaves of the place's own leave block before it are not
   * counted (unless that block is the serving position's), so no read is made for that
   * block. For sorting many places into update tiers (the fan-out worker), where one read
   * per block a shard's connections fall in, on every move, would be most of the table's
   * reads; the places that are then told their `ahead` get the exact one.
   */
  async aheadAtMost(event: EventRecord, position: number): Promise<number> {
    return (await this.#count(event, position, undefined, false)).ahead;
  }

  async #count(
    event: EventRecord,
    position: number,
    stripeCounts: ReadonlyMap<number, number> | undefined,
    ownBlock: boolean,
  ): Promise<PlaceCount> {
    if (position <= event.servingPosition) return { ahead: 0, line: null };
    const snapshot = event.line?.servingPosition === event.servingPosition ? event.line : undefined;
    const [heldThroughPosition, leaves] = await Promise.all([
      this.heldThrough(event, position, stripeCounts),
      snapshot
        ? this.#leavesSince(event.eventId, snapshot, position, ownBlock)
        : // Read from the line's items, not the snapshot the public document shows: no cell.
          this.leavesBetween(event.eventId, event.servingPosition, position, ownBlock).then(
            (total): LeavesAhead => ({ total, cell: null }),
          ),
    ]);
    const ahead = realAhead({
      position,
      servingPosition: event.servingPosition,
      heldThroughPosition,
      heldThroughServing: event.heldThroughServing,
      leavesBetween: leaves.total,
    });
    const cell = leaves.cell;
    return {
      ahead,
      line: cell && {
        blockSize: LEAVE_BLOCK,
        block: cell.block,
        blocks: cell.blocks,
        goneBefore: event.heldThroughServing + cell.before,
        blockLeaves: cell.leaves,
      },
    };
  }

  /**
   * Leaves in (snapshot's serving position, through]: the snapshot's counts, and the
   * leaves of `through`'s own block (read, or cached) when it lies beyond the serving one's.
   * So a fan's status reads no item every other fan's reads too (decision 0010).
   */
  async #leavesSince(
    eventId: string,
    snapshot: LineSnapshot,
    through: number,
    ownBlock: boolean,
  ): Promise<LeavesAhead> {
    const after = snapshot.servingPosition;
    if (through <= after) return { total: 0, cell: null };
    const first = leaveBlockOf(after + 1);
    const last = leaveBlockOf(through);
    // A list cut short (a block most of whose places left) says nothing beyond its cut.
    const listed = snapshot.servingBlockLeavesThrough ?? (first + 1) * LEAVE_BLOCK;
    if (Math.min(through, (first + 1) * LEAVE_BLOCK) > listed)
      return { total: await this.leavesBetween(eventId, after, through), cell: null };
    const own = cellOf(first, last);
    const servingLeaves = snapshot.servingBlockLeaves.filter((p) => p > after && p <= through).length;
    let sum = servingLeaves;
    let lastCount = 0;
    // Leaves before the place's cell, and in it (blocks after the serving one's).
    let before = servingLeaves;
    let inCell = 0;
    for (const [block, count] of snapshot.leaveBlocks) {
      if (block <= first) continue;
      if (block < last) sum += count;
      if (block === last) lastCount = count;
      if (block < own.block) before += count;
      else if (block < own.block + own.blocks) inCell += count;
    }
    const cell = last > first ? { ...own, before, leaves: inCell } : null;
    if (last === first || lastCount === 0) return { total: sum, cell };
    if (through % LEAVE_BLOCK === 0) return { total: sum + lastCount, cell };
    if (!ownBlock) return { total: sum, cell };
    // Only the stretch up to the place, from any copy: the fans of a block share its reads.
    const left = await this.#store.leavesIn(eventId, last * LEAVE_BLOCK, through, { forDisplay: true });
    return { total: sum + left.length, cell };
  }

  /** False when no waiting place of `position`'s block was given up: no need to read its marker. */
  async mayHaveLeft(eventId: string, position: number): Promise<boolean> {
    const block = leaveBlockOf(position);
    return ((await this.#leaveBlocks(eventId, block)).get(block) ?? 0) > 0;
  }

  /**
   * Leaves in (after, through]; without `ownBlock`, those in `through`'s block (when it is
   * not `after`'s) are left out, and its leaves are not read.
   */
  async leavesBetween(eventId: string, after: number, through: number, ownBlock = true): Promise<number> {
    if (through <= after) return 0;
    const first = leaveBlockOf(after + 1);
    const last = leaveBlockOf(through);
    const blocks = await this.#leaveBlocks(eventId, first);
    let sum = 0;
    for (const [block, count] of blocks) {
      if (block < first || block > last || count === 0) continue;
      const whole =
        (block > first || after % LEAVE_BLOCK === 0) && (block < last || through % LEAVE_BLOCK === 0);
      if (whole) sum += count;
      else if (!ownBlock && block === last && block !== first) continue;
      else {
        const left = await this.#blockLeaves(eventId, block);
        sum += left.filter((p) => p > after && p <= through).length;
      }
    }
    return sum;
  }

  /** The leaves around the front as they stand, for `publishView` (read fresh, never cached). */
  async snapshot(eventId: string, servingPosition: number): Promise<LineSnapshot> {
    const first = leaveBlockOf(servingPosition + 1);
    const [blocks, servingBlockLeaves] = await Promise.all([
      this.#store.leaveBlocks(eventId, first + 1),
      this.#store.leavesIn(eventId, servingPosition, (first + 1) * LEAVE_BLOCK),
    ]);
    const leaves = [...servingBlockLeaves].sort((a, b) => a - b);
    const cut = leaves[SNAPSHOT_LEAVES];
    return {
      servingPosition,
      leaveBlocks: [...blocks]
        .filter(([block, count]) => block > first && count > 0)
        .sort((a, b) => a[0] - b[0]),
      servingBlockLeaves: leaves.slice(0, SNAPSHOT_LEAVES),
      servingBlockLeavesThrough: cut === undefined ? (first + 1) * LEAVE_BLOCK : cut - 1,
    };
  }

  /** Leaves beyond `after`, whole line. */
  async leavesAfter(eventId: string, after: number, snapshot?: LineSnapshot): Promise<number> {
    const first = leaveBlockOf(after + 1);
    // A snapshot taken at `after` that lists its block's leaves in full already holds the answer.
    if (
      snapshot?.servingPosition === after &&
      (snapshot.servingBlockLeavesThrough ?? (first + 1) * LEAVE_BLOCK) >= (first + 1) * LEAVE_BLOCK
    )
      return snapshot.leaveBlocks.reduce((sum, [, count]) => sum + count, snapshot.servingBlockLeaves.length);
    const blocks = await this.#leaveBlocks(eventId, first);
    let sum = 0;
    for (const [block, count] of blocks) {
      if (block < first || count === 0) continue;
      if (block > first || after % LEAVE_BLOCK === 0) sum += count;
      else sum += (await this.#blockLeaves(eventId, block)).filter((p) => p > after).length;
    }
    return sum;
  }

  async #leaveBlocks(eventId: string, fromBlock: number) {
    const key = `${eventId}#${fromBlock}`;
    const hit = this.#blocks.get(key);
    if (hit && this.#now() - hit.at < this.#cacheMs) return hit.value;
    return this.#once(`b${key}`, async () => {
      const value = await this.#store.leaveBlocks(eventId, fromBlock);
      if (this.#cacheMs > 0) {
        if (this.#blocks.size >= SLICE_CACHE_ENTRIES) this.#blocks.clear();
        this.#blocks.set(key, { value, at: this.#now() });
      }
      return value;
    });
  }

  async #blockLeaves(eventId: string, block: number) {
    const key = `${eventId}#${block}`;
    const hit = this.#partials.get(key);
    if (hit && this.#now() - hit.at < this.#cacheMs) return hit.value;
    return this.#once(`p${key}`, async () => {
      const start = block * LEAVE_BLOCK;
      const value = await this.#store.leavesIn(eventId, start, start + LEAVE_BLOCK);
      if (this.#cacheMs > 0) {
        if (this.#partials.size >= SLICE_CACHE_ENTRIES) this.#partials.clear();
        this.#partials.set(key, { value, at: this.#now() });
      }
      return value;
    });
  }

  /**
   * One read at a time per key when reads are cached: lookups made while it is on its way
   * (a fan-out worker places 64 connections at once) share it instead of each reading.
   */
  #once<T>(key: string, read: () => Promise<T>): Promise<T> {
    if (this.#cacheMs <= 0) return read();
    const pending = this.#inFlight.get(key);
    if (pending) return pending as Promise<T>;
    const promise = read().finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, promise);
    return promise;
  }

  /**
   * Up to `limit` real places after the serving position, within what is settled
   * (`issued` for an exact event): held numbers in line order, leaves skipped. Before it
   * reads the leaves of a stretch it raises the leave fence over it, so a leave either
   * was written before (and is skipped here) or finds its place being admitted.
   */
  async realPlacesAfter(
    event: EventRecord,
    issued: number,
    limit: number,
    options: { fence: boolean } = { fence: true },
  ): Promise<RealPlaces> {
    const positions: number[] = [];
    const heldThrough: number[] = [];
    let cursor = event.servingPosition;
    let held = 0;
    while (positions.length < limit) {
      const chunk = await this.#heldAfter(event, issued, cursor, limit - positions.length);
      const end = chunk[chunk.length - 1];
      if (end === undefined) break;
      if (options.fence) await this.#store.fenceLeaves(event.eventId, end);
      const left = new Set(await this.#store.leavesIn(event.eventId, cursor, end));
      for (const position of chunk) {
        held++;
        if (left.has(position)) continue;
        positions.push(position);
        heldThrough.push(held);
      }
      cursor = end;
    }
    return { positions, heldThrough };
  }

  /** Held numbers after `after` in line order, at most `limit`, within what is settled. */
  async #heldAfter(event: EventRecord, issued: number, after: number, limit: number): Promise<number[]> {
    if (event.config.intake === 'exact') {
      const out: number[] = [];
      for (let p = after + 1; p <= Math.min(issued, after + limit); p++) out.push(p);
      return out;
    }
    const out: number[] = [];
    let slice = after === 0 ? -1 : ticketOf(after).slice;
    if (after > 0 && slice <= event.settledSlice) {
      const record = await this.slice(event.eventId, slice);
      if (record) out.push(...heldPositionsAfter(record, after, limit));
    }
    while (out.length < limit && slice < event.settledSlice) {
      const records = await this.#store.slicesAfter(event.eventId, slice, 16);
      const settled = records.filter((r) => r.slice <= event.settledSlice);
      if (settled.length === 0) break;
      for (const record of settled) {
        if (out.length >= limit) break;
        out.push(...heldPositionsAfter(record, after, limit - out.length));
      }
      slice = settled[settled.length - 1]?.slice ?? event.settledSlice;
    }
    return out;
  }
}
