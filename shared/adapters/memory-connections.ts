/**
 * Open WebSocket connections in process memory (the embedded store's counterpart).
 * Each operation runs to completion without awaiting, so it is atomic exactly as
 * the DynamoDB adapter's transactions and conditional writes are.
 */
import type { PlaceConnection } from '#domain/connection-limits';
import type { FanoutCursor } from '#domain/fanout-cursor';
import type { ConnectionPage, ConnectionRecord, ConnectionRegistry } from '#ports/realtime';
import { shardOf } from './shard.ts';

const PAGE = 1000;

interface Stored {
  readonly record: ConnectionRecord;
  readonly connectedAtMs: number;
  /** The message-counting window and its count so far. */
  window: number;
  count: number;
}

export class MemoryConnectionRegistry implements ConnectionRegistry {
  /** eventId → shard → connectionId → record, insertion-ordered. */
  readonly #byEvent = new Map<string, Map<string, ConnectionRecord>[]>();
  readonly #byId = new Map<string, Stored>();
  /** `${eventId}#${position}` → connection ids of that place. */
  readonly #byPlace = new Map<string, Set<string>>();
  /** `${eventId}#${shard}` → fan-out cursor. */
  readonly #cursors = new Map<string, FanoutCursor>();

  constructor(readonly shards = 16) {}

  shardOf(connectionId: string): number {
    return shardOf(connectionId, this.shards);
  }

  #shard(eventId: string, shard: number): Map<string, ConnectionRecord> {
    let shards = this.#byEvent.get(eventId);
    if (!shards) {
      shards = Array.from({ length: this.shards }, () => new Map());
      this.#byEvent.set(eventId, shards);
    }
    const map = shards[shard];
    if (!map) throw new RangeError(`shard ${shard} out of range`);
    return map;
  }

  async add(connection: ConnectionRecord, connectedAtMs = connection.connectedAt * 1000) {
    this.#shard(connection.eventId, shardOf(connection.connectionId, this.shards)).set(
      connection.connectionId,
      connection,
    );
    this.#byId.set(connection.connectionId, { record: connection, connectedAtMs, window: 0, count: 0 });
    const place = `${connection.eventId}#${connection.position}`;
    const ids = this.#byPlace.get(place) ?? new Set<string>();
    ids.add(connection.connectionId);
    this.#byPlace.set(place, ids);
  }

  async remove(connectionId: string) {
    const stored = this.#byId.get(connectionId);
    if (!stored) return undefined;
    const { record } = stored;
    this.#byId.delete(connectionId);
    this.#shard(record.eventId, shardOf(connectionId, this.shards)).delete(connectionId);
    const place = `${record.eventId}#${record.position}`;
    const ids = this.#byPlace.get(place);
    ids?.delete(connectionId);
    if (ids?.size === 0) this.#byPlace.delete(place);
    return record;
  }

  async listShard(eventId: string, shard: number, cursor?: string): Promise<ConnectionPage> {
    const all = [...this.#shard(eventId, shard).values()];
    const start = cursor ? Number(cursor) : 0;
    const items = all.slice(start, start + PAGE);
    const end = start + items.length;
    return end < all.length ? { items, next: String(end) } : { items };
  }

  async listPlace(eventId: string, position: number): Promise<PlaceConnection[]> {
    const ids = this.#byPlace.get(`${eventId}#${position}`) ?? new Set<string>();
    return [...ids].flatMap((connectionId) => {
      const stored = this.#byId.get(connectionId);
      return stored ? [{ connectionId, connectedAtMs: stored.connectedAtMs }] : [];
    });
  }

  async countMessage(connectionId: string, windowStartSec: number): Promise<number | null> {
    const stored = this.#byId.get(connectionId);
    if (!stored) return null;
    // A window older than the one counted (a caller with a clock behind) counts in the newer one.
    if (windowStartSec > stored.window) {
      stored.window = windowStartSec;
      stored.count = 0;
    }
    stored.count += 1;
    return stored.count;
  }

  async readFanoutCursor(eventId: string, shard: number): Promise<FanoutCursor | undefined> {
    return this.#cursors.get(`${eventId}#${shard}`);
  }

  async advanceFanoutCursor(eventId: string, shard: number, expectedSeq: number, next: FanoutCursor) {
    const key = `${eventId}#${shard}`;
    if ((this.#cursors.get(key)?.seq ?? 0) !== expectedSeq) return false;
    this.#cursors.set(key, next);
    return true;
  }
}
