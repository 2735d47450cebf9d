/**
 * `ahead` on a sharded event before and after its slices settle (shared/app/line.ts):
 * an estimate from the place's own stripe for the first seconds, exact after.
 */
import { expect, test } from 'vitest';
import { MemoryQueueStore } from '#adapters/memory-store';
import { Admitter } from '#app/admitter';
import { Line, publicLine } from '#app/line';
import { PlaceClock } from '#client/place-clock';
import { type PlaceUpdate, readEventDocument, readPlaceUpdate } from '#client/wire';
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

async function countFromTheDocument(span: number, leaves: [number, number]) {
  const store = new MemoryQueueStore();
  await store.putEvent('count', { ...CONFIG_DEFAULTS, capacity: 10 }, 1_000);
  const stored = await store.getEvent('count');
  if (!stored) throw new Error('no event');
  let seed = 11;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const line = new Line(store);
  const s0 = 10_000;
  const s1 = s0 + 3_000;
  const left = new Set<number>();
  const leave = async (n: number) => {
    while (n > 0) {
      const p = s1 + 1 + Math.floor(random() * span);
      if (left.has(p)) continue;
      left.add(p);
      await store.leaveWaiting('count', p);
      n--;
    }
  };
  await leave(leaves[0]);
  const at0 = {
    ...stored,
    servingPosition: s0,
    heldThroughServing: s0,
    line: await line.snapshot('count', s0),
  };
  const told = new Map<number, PlaceUpdate>();
  for (let i = 0; i < 200; i++) {
    const p = s1 + 1 + Math.floor(random() * span);
    if (left.has(p)) continue;
    const counted = await line.count(at0, p);
    if (counted.line === null) continue;
    const update = readPlaceUpdate({ position: p, servingPosition: s0, ...counted });
    if (update?.line) told.set(p, update);
  }
  expect(told.size).toBeGreaterThan(150);
  // The line moves 3,000 numbers and more places are given up.
  const before1 = new Set(left);
  await leave(leaves[1]);
  const after = { ...stored, servingPosition: s1, heldThroughServing: s1 };
  const at1 = { ...after, line: await line.snapshot('count', s1) };
  const doc = readEventDocument({ state: 'open', servingPosition: s1, line: publicLine(at1) });
  if (!doc?.line) throw new Error('no line in the document');
  for (const [p, update] of told) {
    if (left.has(p) || !update.line) continue;
    const clock = new PlaceClock({ position: p });
    clock.applyUpdate(update, 0);
    clock.applyDocument(doc, 1);
    const shown = clock.view(1).ahead;
    const truth = await line.ahead(after, p);
    // What the client cannot know: its own cell's new leaves ahead of it, for which it
    // takes a share of the cell's new leaves (rounded down) instead.
    const start = update.line.block * LEAVE_BLOCK;
    const size = update.line.blocks * LEAVE_BLOCK;
    const newInCell = [...left].filter((q) => !before1.has(q) && q > start && q <= start + size);
    const newAhead = newInCell.filter((q) => q < p).length;
    const guessed = Math.floor(newInCell.length * ((p - 1 - start) / size));
    expect(shown).toBe(truth + newAhead - guessed);
  }
  return { cells: doc.line.leaves };
}

test("a client counts its place from the document's line as the server does, but for its own cell's new leaves", async () => {
  const { cells } = await countFromTheDocument(6 * LEAVE_BLOCK, [600, 400]);
  // Six blocks from the front: one-block cells.
  expect(cells.every(([, blocks]) => blocks === 1)).toBe(true);
});

test('a line sparse over many blocks (a sharded one) is counted in cells coarser behind, a few hundred at most', async () => {
  const { cells } = await countFromTheDocument(10_000 * LEAVE_BLOCK, [3_000, 1_000]);
  expect(cells.length).toBeLessThan(400);
  expect(Math.max(...cells.map(([, blocks]) => blocks))).toBeGreaterThan(32);
});
