/**
 * One contract suite for every adapter of the connection registry port: the
 * in-memory registry and DynamoDB (Local) must behave the same, races included:
 * the per-place index, the per-connection message counter, and the per-shard
 * fan-out cursor with its conditional write.
 */
import { describe, expect, test } from 'vitest';
import type { ConnectionRecord, ConnectionRegistry } from '#ports/realtime';

const NOW = 1_800_000_000;
let n = 0;
const newId = (label: string) => `${label}-${Date.now().toString(36)}-${n++}`;

function record(eventId: string, position: number, connectionId = `${newId('c')}=`): ConnectionRecord {
  return { connectionId, eventId, position, sub: `u-${position}`, connectedAt: NOW };
}

async function allOfEvent(registry: ConnectionRegistry, eventId: string): Promise<ConnectionRecord[]> {
  const out: ConnectionRecord[] = [];
  for (let shard = 0; shard < registry.shards; shard++) {
    let cursor: string | undefined;
    do {
      const page = await registry.listShard(eventId, shard, cursor);
      out.push(...page.items);
      cursor = page.next;
    } while (cursor);
  }
  return out;
}

export function describeConnectionRegistry(name: string, makeRegistry: () => ConnectionRegistry) {
  describe(`connection registry contract: ${name}`, () => {
    test('a connection is listed under its shard and its place until it is removed, once', async () => {
      const registry = makeRegistry();
      const eventId = newId('ev');
      const a = record(eventId, 7);
      const b = record(eventId, 7);
      const other = record(eventId, 8);
      await registry.add(a, NOW * 1000 + 1);
      await registry.add(b, NOW * 1000 + 2);
      await registry.add(other);
      expect(
        (await registry.listPlace(eventId, 7)).sort((x, y) => x.connectedAtMs - y.connectedAtMs),
      ).toEqual([
        { connectionId: a.connectionId, connectedAtMs: NOW * 1000 + 1 },
        { connectionId: b.connectionId, connectedAtMs: NOW * 1000 + 2 },
      ]);
      // Without a millisecond stamp, the place order falls back to connectedAt.
      expect(await registry.listPlace(eventId, 8)).toEqual([
        { connectionId: other.connectionId, connectedAtMs: NOW * 1000 },
      ]);
      expect((await allOfEvent(registry, eventId)).map((c) => c.connectionId).sort()).toEqual(
        [a, b, other].map((c) => c.connectionId).sort(),
      );
      expect(await registry.remove(a.connectionId)).toEqual(a);
      expect(await registry.remove(a.connectionId)).toBeUndefined();
      expect(await registry.listPlace(eventId, 7)).toEqual([
        { connectionId: b.connectionId, connectedAtMs: NOW * 1000 + 2 },
      ]);
      expect((await allOfEvent(registry, eventId)).map((c) => c.connectionId).sort()).toEqual(
        [b, other].map((c) => c.connectionId).sort(),
      );
    });

    test('racing removes of one connection all succeed and leave nothing behind', async () => {
      const registry = makeRegistry();
      const eventId = newId('ev');
      const a = record(eventId, 3);
      await registry.add(a);
      const results = await Promise.all(Array.from({ length: 5 }, () => registry.remove(a.connectionId)));
      expect(results.filter((r) => r !== undefined).length).toBeGreaterThanOrEqual(1);
      expect(await registry.listPlace(eventId, 3)).toEqual([]);
      expect(await allOfEvent(registry, eventId)).toEqual([]);
    });

    test('messages are counted per window on the connection; an unknown connection counts as null', async () => {
      const registry = makeRegistry();
      const eventId = newId('ev');
      const a = record(eventId, 1);
      await registry.add(a);
      expect(await registry.countMessage(a.connectionId, NOW)).toBe(1);
      expect(await registry.countMessage(a.connectionId, NOW)).toBe(2);
      expect(await registry.countMessage(a.connectionId, NOW)).toBe(3);
      // The next window starts again from one.
      expect(await registry.countMessage(a.connectionId, NOW + 60)).toBe(1);
      // A caller whose clock is behind counts in the newer window, never restarts an older one.
      expect(await registry.countMessage(a.connectionId, NOW)).toBe(2);
      expect(await registry.countMessage('never-registered=', NOW)).toBeNull();
      await registry.remove(a.connectionId);
      expect(await registry.countMessage(a.connectionId, NOW + 60)).toBeNull();
    });

    test('racing messages of one connection are each counted once', async () => {
      const registry = makeRegistry();
      const eventId = newId('ev');
      const a = record(eventId, 1);
      await registry.add(a);
      const counts = await Promise.all(
        Array.from({ length: 20 }, () => registry.countMessage(a.connectionId, NOW + 120)),
      );
      expect(counts.sort((x, y) => (x ?? 0) - (y ?? 0))).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    });

    test("a cursor carries the shard's connection gate, and a write at the same seq sets or lifts it", async () => {
      const registry = makeRegistry();
      const eventId = newId('ev');
      expect(await registry.advanceFanoutCursor(eventId, 1, 0, { seq: 4, from: 0, to: 7 })).toBe(true);
      expect(
        await registry.advanceFanoutCursor(eventId, 1, 4, { seq: 4, from: 0, to: 7, acceptsThrough: 107 }),
      ).toBe(true);
      expect(await registry.readFanoutCursor(eventId, 1)).toEqual({
        seq: 4,
        from: 0,
        to: 7,
        acceptsThrough: 107,
      });
      expect(await registry.advanceFanoutCursor(eventId, 1, 4, { seq: 4, from: 0, to: 7 })).toBe(true);
      expect(await registry.readFanoutCursor(eventId, 1)).toEqual({ seq: 4, from: 0, to: 7 });
      expect(registry.shardOf('abc=')).toBe(registry.shardOf('abc='));
      expect(registry.shardOf('abc=')).toBeLessThan(registry.shards);
    });

    test('the fan-out cursor moves only from the seq it was read at; of racing workers exactly one wins', async () => {
      const registry = makeRegistry();
      const eventId = newId('ev');
      expect(await registry.readFanoutCursor(eventId, 0)).toBeUndefined();
      // From nothing: exactly one of the racers creates it.
      const first = await Promise.all(
        [1, 2, 3, 4, 5].map((seq) =>
          registry.advanceFanoutCursor(eventId, 0, 0, { seq, from: 0, to: seq * 10 }),
        ),
      );
      expect(first.filter(Boolean)).toHaveLength(1);
      const winner = await registry.readFanoutCursor(eventId, 0);
      expect(winner).toEqual({ seq: winner?.seq, from: 0, to: (winner?.seq ?? 0) * 10 });
      // From a stale read: refused, nothing written.
      expect(await registry.advanceFanoutCursor(eventId, 0, 999, { seq: 1000, from: 0, to: 1 })).toBe(false);
      expect(await registry.readFanoutCursor(eventId, 0)).toEqual(winner);
      // From the current seq, racing again: one wins.
      const seq = winner?.seq ?? 0;
      const second = await Promise.all(
        [10, 11, 12].map((next) =>
          registry.advanceFanoutCursor(eventId, 0, seq, { seq: next, from: seq * 10, to: next * 10 }),
        ),
      );
      expect(second.filter(Boolean)).toHaveLength(1);
      expect((await registry.readFanoutCursor(eventId, 0))?.seq).toBeGreaterThanOrEqual(10);
      // Shards and events have cursors of their own.
      expect(await registry.readFanoutCursor(eventId, 1)).toBeUndefined();
      expect(await registry.readFanoutCursor(newId('ev'), 0)).toBeUndefined();
    });
  });
}
