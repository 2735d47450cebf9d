/**
 * `ahead` on a sharded event before and after its slices settle (shared/app/line.ts):
 * an estimate from the place's own stripe for the first seconds, exact after.
 */
import { expect, test } from 'vitest';
import { MemoryQueueStore } from '#adapters/memory-store';
import { Admitter } from '#app/admitter';
import { Line } from '#app/line';
import { CONFIG_DEFAULTS } from '#domain/event';
import { INTAKE_STRIPES, LEAVE_BLOCK, ticketOf } from '#domain/intake';
import { TestClock } from '../support/clock.ts';
import { testRoom } from '../support/services.ts';

async function sale() {
  const clock = new TestClock();
  const store = new MemoryQueueStore();
  const { room } = testRoom(store, clock);
  await room.putEvent('s', { capacity: 1, intake: 'sharded' });
  await room.changeState('s', 'pause');
  const admitter = new Admitter(store, { tickSeconds: 1, now: clock.now });
  return { clock, room, admitter };
}

test('regression: after a quiet spell, a new join is not told the quiet seconds were full', async () => {
  const { clock, room, admitter } = await sale();
  for (let i = 0; i < 600; i++) await room.join({ eventId: 's' });
  clock.advance(60);
  await admitter.tickAll();
  const late = await room.join({ eventId: 's' });
  // 600 settled places ahead, and this one; its own second is not settled yet.
  expect(late.ahead).toBeGreaterThanOrEqual(601);
  expect(late.ahead).toBeLessThan(601 + 256);
  clock.advance(3);
  await admitter.tickAll();
  expect((await room.status('s', late.token)).ahead).toBe(601);
});

test("a burst in one second: the estimate at join stays within its ticket's bounds, then becomes exact", async () => {
  const { clock, room, admitter } = await sale();
  const joins = [];
  for (let i = 0; i < 2000; i++) joins.push(await room.join({ eventId: 's' }));
  clock.advance(3);
  await admitter.tickAll();
  const line = joins.map((j) => j.position).sort((a, b) => a - b);
  for (const j of joins) {
    const exact = line.indexOf(j.position) + 1;
    // At join: within what the ticket allows (its row of every stripe at most); after settling: exact.
    const { row, stripe } = ticketOf(j.position);
    expect(j.ahead).toBeGreaterThanOrEqual(row);
    expect(j.ahead).toBeLessThanOrEqual((row - 1) * INTAKE_STRIPES + stripe + 1);
    expect((await room.status('s', j.token)).ahead).toBe(exact);
  }
});

test("a published line snapshot counts the same leaves ahead as reading the line's items", async () => {
  const store = new MemoryQueueStore();
  await store.putEvent('snap', { ...CONFIG_DEFAULTS, capacity: 10 }, 1_000);
  const stored = await store.getEvent('snap');
  if (!stored) throw new Error('no event');
  const serving = 10_000;
  const event = { ...stored, servingPosition: serving, heldThroughServing: serving };
  let seed = 7;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const leaves = new Set<number>();
  while (leaves.size < 800) leaves.add(serving + 1 + Math.floor(random() * 60_000));
  for (const position of leaves) await store.leaveWaiting('snap', position);
  const line = new Line(store);
  const snapshot = await line.snapshot('snap', serving);
  const positions = [
    serving + 1,
    LEAVE_BLOCK,
    LEAVE_BLOCK + 1,
    2 * LEAVE_BLOCK,
    3 * LEAVE_BLOCK + 5,
    serving + 60_000,
  ];
  for (let i = 0; i < 300; i++) positions.push(serving + 1 + Math.floor(random() * 60_000));
  for (const position of positions)
    expect(await line.ahead({ ...event, line: snapshot }, position)).toBe(await line.ahead(event, position));
  expect(await line.leavesAfter('snap', serving, snapshot)).toBe(await line.leavesAfter('snap', serving));
  // Taken at another serving position, it is not used: the line is read instead.
  const moved = { ...event, servingPosition: serving + 5, heldThroughServing: serving + 5, line: snapshot };
  expect(await line.ahead(moved, serving + 50_000)).toBe(
    await line.ahead({ ...moved, line: undefined }, serving + 50_000),
  );
});

test('a snapshot of a block most of whose places left lists the first 1,000 and reads the rest', async () => {
  const store = new MemoryQueueStore();
  await store.putEvent('cut', { ...CONFIG_DEFAULTS, capacity: 10 }, 1_000);
  const stored = await store.getEvent('cut');
  if (!stored) throw new Error('no event');
  const serving = 10_000;
  const event = { ...stored, servingPosition: serving, heldThroughServing: serving };
  for (let p = serving + 1; p <= serving + 1_500; p++) await store.leaveWaiting('cut', p);
  for (let p = LEAVE_BLOCK + 10; p <= LEAVE_BLOCK + 20; p++) await store.leaveWaiting('cut', p);
  const line = new Line(store);
  const snapshot = await line.snapshot('cut', serving);
  expect(snapshot.servingBlockLeaves).toHaveLength(1_000);
  expect(snapshot.servingBlockLeavesThrough).toBe(serving + 1_000);
  expect(await line.leavesAfter('cut', serving, snapshot)).toBe(1_511);
  for (const position of [
    serving + 10,
    serving + 1_000,
    serving + 1_001,
    serving + 2_000,
    LEAVE_BLOCK + 15,
    40_000,
  ])
    expect(await line.ahead({ ...event, line: snapshot }, position)).toBe(await line.ahead(event, position));
});
