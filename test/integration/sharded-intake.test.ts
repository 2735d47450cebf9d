/**
 * Sharded intake under real concurrency on DynamoDB Local (decision 0008): every
 * acknowledged join holds exactly one place, no position is held twice, every number is
 * held or void, racing admitters never exceed capacity nor spend a slot on a void
 * number, and leavers are skipped.
 */
import { beforeAll, describe, expect, inject, test } from 'vitest';
import { DynamoQueueStore } from '#adapters/dynamo-store';
import { Admitter } from '#app/admitter';
import { LeftError, MissedError } from '#domain/errors';
import { isHeldTicket, SLICE_SPAN, ticketOf } from '#domain/intake';
import { TestClock } from '../support/clock.ts';
import { createTable, dynamoClient, uniqueTableName } from '../support/dynamodb-local.ts';
import { testRoom } from '../support/services.ts';

const endpoint = inject('ddbEndpoint');
const table = uniqueTableName('sharded');
beforeAll(() => createTable(endpoint, table));

let seed = 7;
const random = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};

describe('sharded intake on DynamoDB Local', () => {
  test('5,000 concurrent joins, leavers and racing admitters: exact accounting, in order, within capacity', async () => {
    const clock = new TestClock(Date.now());
    const store = new DynamoQueueStore(dynamoClient(endpoint), table);
    const { room, tokens } = testRoom(store, clock);
    const capacity = 400;
    await room.putEvent('mega', {
      capacity,
      intake: 'sharded',
      claimWindowSeconds: 2,
      purchaseWindowSeconds: 60,
    });

    // A third anonymous, a third distinct users, a third 500 users joining again and again
    // (any device, racing), in five waves half a second apart.
    const who = Array.from({ length: 5000 }, (_, i) =>
      i % 3 === 0 ? undefined : i % 3 === 1 ? `u${i}` : `r${i % 500}`,
    );
    const joins: { userId: string | undefined; position: number; token: string; created: boolean }[] = [];
    for (let wave = 0; wave < 5; wave++) {
      const batch = who.slice(wave * 1000, (wave + 1) * 1000);
      const results = await Promise.all(batch.map((userId) => room.join({ eventId: 'mega', userId })));
      for (const [i, r] of results.entries())
        joins.push({ userId: batch[i], position: r.position, token: r.token, created: r.created });
      clock.advance(0.5);
    }

    // One place per user, whatever the race; one holder per position.
    const byUser = new Map<string, Set<number>>();
    const holders = new Map<number, Set<string>>();
    for (const j of joins) {
      const sub = (await tokens.verifyPosition(j.token, 'mega')).sub;
      if (j.userId) byUser.set(j.userId, (byUser.get(j.userId) ?? new Set()).add(j.position));
      holders.set(j.position, (holders.get(j.position) ?? new Set()).add(sub));
    }
    for (const positions of byUser.values()) expect(positions.size).toBe(1);
    for (const subs of holders.values()) expect(subs.size).toBe(1);
    const places = [...holders.keys()].sort((a, b) => a - b);
    expect(places).toHaveLength(1667 + 1667 + 500);
    expect(joins.filter((j) => j.created)).toHaveLength(places.length);
    // Joins of later waves stand behind earlier waves' (order follows arrival by slice).
    expect(Math.max(...places.map((p) => ticketOf(p).slice))).toBeGreaterThan(0);

    // Three admitters race to settle: the slices' counts are exactly the acknowledged places.
    clock.advance(3);
    const admitters = [0, 1, 2].map(() => new Admitter(store, { tickSeconds: 1, now: clock.now }));
    await Promise.all(admitters.map((a) => a.tickAll()));
    let event = await store.getEvent('mega', { consistent: true });
    expect(event?.settledHeld).toBe(places.length);
    for (const position of places) {
      const record = await store.getSlice('mega', ticketOf(position).slice);
      expect(record && isHeldTicket(record, position)).toBe(true);
    }

    // 200 fans still waiting give their place up, some while admitters tick.
    const serving = event?.servingPosition ?? 0;
    const waiting = joins.filter((j) => j.created && j.position > serving);
    const leavers = new Set<number>();
    while (leavers.size < 200) {
      const pick = waiting[Math.floor(random() * waiting.length)];
      if (pick) leavers.add(pick.position);
    }
    const tokenOf = new Map(joins.map((j) => [j.position, j.token]));
    const leaving = [...leavers].map((p) => room.leave('mega', tokenOf.get(p) ?? ''));
    clock.advance(1);
    await Promise.all([...leaving, ...admitters.map((a) => a.tickAll())]);
    // Idempotent: a second leave changes nothing.
    await room.leave('mega', tokenOf.get([...leavers][0] ?? 0) ?? '');

    // The whole sale: one admitted fan in ten claims and completes at once, the others are
    // no-shows whose slots come back after the claim window; two admitters race on.
    const admittedOrder: number[] = [];
    const done = new Set<number>();
    for (let round = 0; round < 120; round++) {
      clock.advance(1);
      await Promise.all(admitters.slice(0, 2).map((a) => a.tickAll()));
      event = await store.getEvent('mega', { consistent: true });
      expect(event?.inUse ?? 0).toBeLessThanOrEqual(capacity);
      const now = event?.servingPosition ?? 0;
      const newly = places.filter((p) => p <= now && !done.has(p) && !leavers.has(p));
      for (const p of newly) done.add(p);
      admittedOrder.push(...newly);
      await Promise.all(
        newly
          .filter(() => random() < 0.1)
          .map(async (p) => {
            try {
              const { accessToken } = await room.claim('mega', tokenOf.get(p) ?? '');
              await room.complete('mega', accessToken);
            } catch (error) {
              // Admitted before this loop began: its short claim window may be over.
              if (!(error instanceof MissedError)) throw error;
            }
          }),
      );
      if (now >= (places[places.length - 1] ?? 0)) break;
    }

    // Everyone who stayed was admitted, in position order; no slot went to a leaver.
    expect(admittedOrder).toEqual(places.filter((p) => !leavers.has(p)));
    expect(event?.admittedTotal).toBe(places.length - leavers.size);
    const batches = await store.batchesAfter('mega', 0, 10_000);
    expect(batches.reduce((sum, b) => sum + b.admitted, 0)).toBe(places.length - leavers.size);
    for (const p of leavers) {
      await expect(room.status('mega', tokenOf.get(p) ?? '')).rejects.toBeInstanceOf(LeftError);
      await expect(room.claim('mega', tokenOf.get(p) ?? '')).rejects.toBeInstanceOf(LeftError);
    }
    // Sparse numbers: the line spans whole slices, far more numbers than places.
    expect(places[places.length - 1] ?? 0).toBeGreaterThan(SLICE_SPAN);
  }, 240_000);
});
