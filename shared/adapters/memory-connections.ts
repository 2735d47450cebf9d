/** Open WebSocket connections in process memory (the embedded store's counterpart). */
import type { ConnectionPage, ConnectionRecord, ConnectionRegistry } from '#ports/realtime';
import { shardOf } from './shard.ts';

const PAGE = 1000;

export class MemoryConnectionRegistry implements ConnectionRegistry {
  /** eventId → shard → connectionId → record, insertion-ordered. */
  readonly #byEvent = new Map<string, Map<string, ConnectionRecord>[]>();
  readonly #byId = new Map<string, ConnectionRecord>();

  constructor(readonly shards = 16) {}

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

  async add(connection: ConnectionRecord) {
    this.#shard(connection.eventId, shardOf(connection.connectionId, this.shards)).set(
      connection.connectionId,
      connection,
    );
    this.#byId.set(connection.connectionId, connection);
  }

  async remove(connectionId: string) {
    const record = this.#byId.get(connectionId);
    if (!record) return undefined;
    this.#byId.delete(connectionId);
    this.#shard(record.eventId, shardOf(connectionId, this.shards)).delete(connectionId);
    return record;
  }

  async listShard(eventId: string, shard: number, cursor?: string): Promise<ConnectionPage> {
    const all = [...this.#shard(eventId, shard).values()];
    const start = cursor ? Number(cursor) : 0;
    const items = all.slice(start, start + PAGE);
    const end = start + items.length;
    return end < all.length ? { items, next: String(end) } : { items };
  }
}
