/**
 * DynamoDB's throughput limits, as AWS documents them for on-demand tables:
 * - a partition serves at most 3,000 read units and 1,000 write units per second; all
 *   items of one partition key share a partition to begin with;
 * - adaptive capacity lets a hot partition use unused table capacity at once, up to that
 *   partition maximum (on demand, every partition may run at its maximum);
 * - a partition key that stays hot is split for heat: its items are isolated, each with
 *   the same per-partition maximum, so a single item never exceeds 3,000 RCU / 1,000 WCU;
 * - the table as a whole is capped by its on-demand maximum throughput (an account quota,
 *   40,000 read and 40,000 write request units per second per table by default).
 *
 * Each limit counts units per calendar second. A request is refused (throttled) when any
 * limit it needs is used up for the second; otherwise it takes its units, possibly going a
 * little over, so a large request is never starved forever.
 * How long a partition must stay hot before it is split is not documented: it is a
 * scenario setting (`isolateAfterSeconds`).
 */
import { z } from 'zod';
import type { Partition, Touch } from './table.ts';

export const throughputSchema = z
  .object({
    /** Off: nothing is ever throttled (the contract suite runs this way). */
    enabled: z.boolean().default(true),
    partitionReadUnits: z.number().positive().default(3000),
    partitionWriteUnits: z.number().positive().default(1000),
    tableReadUnits: z.number().positive().default(40_000),
    tableWriteUnits: z.number().positive().default(40_000),
    /** Seconds a partition key must stay hot before its items are isolated; null: never. */
    isolateAfterSeconds: z.number().positive().nullable().default(300),
    /** Share of a partition's limit that counts as hot for the split. */
    hotShare: z.number().positive().max(1).default(0.5),
  })
  .strict();
export type ThroughputLimits = z.infer<typeof throughputSchema>;

/**
 * At most `limit` units in each calendar second: "1,000 WCU per second" taken literally,
 * so a hot item never shows more than its limit in any second, idle or not before.
 */
class Bucket {
  #second = Number.NEGATIVE_INFINITY;
  #used = 0;

  constructor(readonly limit: number) {}

  available(nowMs: number): boolean {
    const second = Math.floor(nowMs / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#used = 0;
    }
    return this.#used < this.limit;
  }

  take(units: number) {
    this.#used += units;
  }
}

/** Units and requests one item or partition saw in one second, and its peaks. */
export class Load {
  second = -1;
  read = 0;
  write = 0;
  reads = 0;
  writes = 0;
  throttles = 0;
  /** Throttled requests over the whole run. */
  throttledTotal = 0;
  peakRead = 0;
  peakWrite = 0;
  peakReads = 0;
  peakWrites = 0;
  /** Consecutive hot seconds (partition loads only). */
  hotSeconds = 0;

  roll(second: number, hot: (load: Load) => boolean) {
    if (second === this.second) return;
    if (this.second >= 0) {
      this.peakRead = Math.max(this.peakRead, this.read);
      this.peakWrite = Math.max(this.peakWrite, this.write);
      this.peakReads = Math.max(this.peakReads, this.reads);
      this.peakWrites = Math.max(this.peakWrites, this.writes);
      this.hotSeconds = hot(this) ? (second === this.second + 1 ? this.hotSeconds + 1 : 1) : 0;
    }
    this.second = second;
    this.read = 0;
    this.write = 0;
    this.reads = 0;
    this.writes = 0;
    this.throttles = 0;
  }

  /** Peaks including the second in progress. */
  peaks() {
    return {
      readUnits: Math.max(this.peakRead, this.read),
      writeUnits: Math.max(this.peakWrite, this.write),
      reads: Math.max(this.peakReads, this.reads),
      writes: Math.max(this.peakWrites, this.writes),
    };
  }
}

/** Throughput state of one partition key. */
export class PartitionState {
  readonly load = new Load();
  read: Bucket;
  write: Bucket;
  /** Split for heat: from then on each item has buckets of its own. */
  isolatedAtMs: number | null = null;
  /** Made when needed: a million single-item partitions should not carry empty maps. */
  itemBuckets: Map<unknown, { read: Bucket; write: Bucket }> | null = null;
  /** Per item, in partitions that hold more than one item: which item is hot. */
  itemLoads: Map<unknown, Load> | null = null;

  constructor(limits: ThroughputLimits) {
    this.read = new Bucket(limits.partitionReadUnits);
    this.write = new Bucket(limits.partitionWriteUnits);
  }
}

export type ThrottleKind = 'partition' | 'table';

/**
 * A refusal inside the engine, turned into the SDK's exception only when it leaves it.
 * Not an Error on purpose: a throttled flood makes millions, and a stack trace each is
 * most of the simulator's time.
 */
export class ThrottledError {
  readonly name = 'ThrottledError';
  constructor(
    readonly kind: ThrottleKind,
    readonly direction: 'read' | 'write',
    readonly pk: string,
  ) {}
}

export class CapacityModel {
  readonly #states = new WeakMap<Partition, PartitionState>();
  readonly #tableRead: Bucket;
  readonly #tableWrite: Bucket;
  /** Partition keys that were split for heat, with when. */
  readonly isolated: { pk: string; atMs: number }[] = [];
  /** Every partition that carried load, for the hot-key report. */
  readonly touched = new Set<Partition>();

  constructor(readonly limits: ThroughputLimits) {
    this.#tableRead = new Bucket(limits.tableReadUnits);
    this.#tableWrite = new Bucket(limits.tableWriteUnits);
  }

  state(partition: Partition): PartitionState {
    let state = this.#states.get(partition);
    if (!state) {
      state = new PartitionState(this.limits);
      this.#states.set(partition, state);
      this.touched.add(partition);
    }
    return state;
  }

  peekState(partition: Partition): PartitionState | undefined {
    return this.#states.get(partition);
  }

  #hot = (load: Load) =>
    load.throttles > 0 ||
    load.read >= this.limits.hotShare * this.limits.partitionReadUnits ||
    load.write >= this.limits.hotShare * this.limits.partitionWriteUnits;

  /**
   * Admits a request (taking its units × `weight` from every bucket it needs) or throws
   * ThrottledError, taking nothing. Load counters move either way.
   */
  admit(touches: readonly Touch[], weight: number, nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    const { limits } = this;
    let read = 0;
    let write = 0;
    const states: PartitionState[] = [];
    for (const touch of touches) {
      const state = this.state(touch.partition);
      state.load.roll(second, this.#hot);
      this.#maybeIsolate(touch.partition, state, nowMs);
      states.push(state);
      read += touch.readUnits * weight;
      write += touch.writeUnits * weight;
    }
    if (limits.enabled) {
      let refused: ThrottledError | undefined;
      if (read > 0 && !this.#tableRead.available(nowMs)) refused = new ThrottledError('table', 'read', '');
      else if (write > 0 && !this.#tableWrite.available(nowMs))
        refused = new ThrottledError('table', 'write', '');
      for (let i = 0; i < touches.length && !refused; i++) {
        const touch = touches[i];
        const state = states[i];
        if (!touch || !state) continue;
        const buckets = this.#buckets(state, touch.sk);
        if (touch.readUnits > 0 && !buckets.read.available(nowMs))
          refused = new ThrottledError('partition', 'read', touch.partition.pk);
        else if (touch.writeUnits > 0 && !buckets.write.available(nowMs))
          refused = new ThrottledError('partition', 'write', touch.partition.pk);
      }
      if (refused) {
        for (const state of states) {
          state.load.throttles += weight;
          state.load.throttledTotal += weight;
        }
        throw refused;
      }
      this.#tableRead.take(read);
      this.#tableWrite.take(write);
    }
    for (let i = 0; i < touches.length; i++) {
      const touch = touches[i];
      const state = states[i];
      if (!touch || !state) continue;
      if (limits.enabled) {
        const buckets = this.#buckets(state, touch.sk);
        buckets.read.take(touch.readUnits * weight);
        buckets.write.take(touch.writeUnits * weight);
      }
      count(state.load, touch, weight);
      if (touch.partition.items.size > 1 || state.itemLoads) {
        state.itemLoads ??= new Map();
        let itemLoad = state.itemLoads.get(touch.sk);
        if (!itemLoad) {
          itemLoad = new Load();
          state.itemLoads.set(touch.sk, itemLoad);
        }
        itemLoad.roll(second, () => false);
        count(itemLoad, touch, weight);
      }
    }
  }

  #buckets(state: PartitionState, sk: unknown): { read: Bucket; write: Bucket } {
    if (state.isolatedAtMs === null) return state;
    state.itemBuckets ??= new Map();
    let buckets = state.itemBuckets.get(sk);
    if (!buckets) {
      const { limits } = this;
      buckets = {
        read: new Bucket(limits.partitionReadUnits),
        write: new Bucket(limits.partitionWriteUnits),
      };
      state.itemBuckets.set(sk, buckets);
    }
    return buckets;
  }

  #maybeIsolate(partition: Partition, state: PartitionState, nowMs: number) {
    const after = this.limits.isolateAfterSeconds;
    if (state.isolatedAtMs !== null || after === null || partition.items.size < 2) return;
    if (state.load.hotSeconds >= after) {
      state.isolatedAtMs = nowMs;
      this.isolated.push({ pk: partition.pk, atMs: nowMs });
    }
  }
}

function count(load: Load, touch: Touch, weight: number) {
  load.read += touch.readUnits * weight;
  load.write += touch.writeUnits * weight;
  if (touch.readUnits > 0) load.reads += weight;
  if (touch.writeUnits > 0) load.writes += weight;
}
