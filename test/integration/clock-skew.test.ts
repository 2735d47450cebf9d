/**
 * Slots must come back whatever the clocks of the Lambdas involved say: a claim
 * racing the tick that counts its session's end, and an admitter whose clock
 * lags the one that ticked before it. Both stores, driven by the real admitter.
 */
import { beforeAll, describe, expect, inject, test } from 'vitest';
import { DynamoQueueStore } from '#adapters/dynamo-store';
import { MemoryQueueStore } from '#adapters/memory-store';
import { Admitter } from '#app/admitter';
import type { QueueStore } from '#ports/queue-store';
import { TestClock } from '../support/clock.ts';
import { createTable, dynamoClient, uniqueTableName } from '../support/dynamodb-local.ts';
import { testRoom } from '../support/services.ts';

const table = uniqueTableName('skew');
beforeAll(() => createTable(inject('ddbEndpoint'), table));

const stores: [string, () => QueueStore][] = [
  ['memory', () => new MemoryQueueStore()],
  ['DynamoDB Local', () => new DynamoQueueStore(dynamoClient(inject('ddbEndpoint')), table)],
];

let seq = 0;

describe.each(stores)('clock skew on %s', (_name, makeStore) => {
  function setup() {
    const store = makeStore();
    const clock = new TestClock(Date.now());
    const { room } = testRoom(store, clock);
    return { store, clock, room, eventId: `skew-${Date.now().toString(36)}-${seq++}` };
  }

  test('a claim landing after the tick that passed its session end frees its slot anyway', async () => {
    const { store, clock, room, eventId } = setup();
    await room.putEvent(eventId, { capacity: 1, purchaseWindowSeconds: 1, claimWindowSeconds: 30 });
    const first = await room.join({ eventId });
    const second = await room.join({ eventId });
    const admitter = new Admitter(store, { tickSeconds: 1, now: clock.now });
    await admitter.tickAll();
    // The claim's Lambda reads the clock at T; the next tick (at T+1) counts the bucket T+1
    // before the claim's write lands: that write must fail, not leave a bucket nobody counts.
    const lateClaimClock = new TestClock(clock.ms);
    clock.advance(1);
    await admitter.tickAll();
    // The claim as its Lambda built it at T (token checks passed then), reaching the store now.
    const batch = await store.findBatch(eventId, first.position);
    const outcome = await store.claimSession(eventId, {
      position: first.position,
      sessionId: 's-late',
      sub: 'u',
      claimedAt: lateClaimClock.sec,
      endsAt: lateClaimClock.sec + 1,
      claimBy: batch?.claimBy ?? 0,
      completedAt: null,
    });
    expect(outcome.outcome).toBe('missed');
    // The place's slot still returns at its claim deadline, and the second fan gets in.
    for (let i = 0; i < 40; i++) {
      clock.advance(1);
      await admitter.tickAll();
    }
    const status = await room.status(eventId, second.token);
    expect(status.servingPosition).toBe(2);
    expect((await store.getEvent(eventId, { consistent: true }))?.inUse).toBeLessThanOrEqual(1);
  });

  test('an admitter whose clock lags files its batch where later ticks still look', async () => {
    const { store, clock, room, eventId } = setup();
    await room.putEvent(eventId, { capacity: 1, claimWindowSeconds: 5 });
    await room.join({ eventId });
    await room.join({ eventId });
    const ahead = new Admitter(store, { tickSeconds: 1, now: clock.now });
    const behind = new Admitter(store, { tickSeconds: 1, now: () => clock.now() - 10_000 });
    await room.changeState(eventId, 'pause');
    await ahead.tickAll(); // releasedThrough = T, nobody admitted (paused)
    await room.changeState(eventId, 'resume');
    await behind.tickAll(); // admits position 1 with a clock 10 s behind
    expect((await store.getEvent(eventId, { consistent: true }))?.servingPosition).toBe(1);
    for (let i = 0; i < 30; i++) {
      clock.advance(1);
      await ahead.tickAll();
    }
    const event = await store.getEvent(eventId, { consistent: true });
    // Position 1 never claimed: its slot came back as missed and position 2 was let in.
    expect(event?.missed).toBeGreaterThanOrEqual(1);
    expect(event?.servingPosition).toBe(2);
  });
});
