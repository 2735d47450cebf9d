/**
 * The fan-out worker over the memory store and registry, with the line changes a
 * real admitter and operator produce. Jobs are run by hand, in the order a test
 * picks, as asynchronous invocations may deliver them.
 */
import { expect, test } from 'vitest';
import { MemoryConnectionRegistry } from '#adapters/memory-connections';
import { MemoryQueueStore } from '#adapters/memory-store';
import { Admitter } from '#app/admitter';
import { Connections } from '#app/connections';
import { Fanout } from '#app/fanout';
import { WebSocketBusyError } from '#domain/errors';
import type { ConnectionPoster, LineChange } from '#ports/realtime';
import { TestClock } from '../support/clock.ts';
import { testRoom } from '../support/services.ts';

type Message = Record<string, unknown> & { type: string; seq: number };

/** A poster that records each connection's messages; `park` holds one connection's next post. */
class RecordingPoster implements ConnectionPoster {
  readonly inbox = new Map<string, Message[]>();
  #gate: { connectionId: string; open: Promise<void> } | null = null;
  held: { release: () => void; reached: Promise<void> } | null = null;

  park(connectionId: string) {
    let release = () => {};
    let reached = () => {};
    const open = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.held = {
      release,
      reached: new Promise<void>((resolve) => {
        reached = resolve;
      }),
    };
    this.#gate = { connectionId, open };
    this.#reached = reached;
  }

  #reached = () => {};

  async post(connectionId: string, data: string) {
    const gate = this.#gate;
    if (gate && gate.connectionId === connectionId) {
      this.#gate = null;
      this.#reached();
      await gate.open;
    }
    const list = this.inbox.get(connectionId) ?? [];
    list.push(JSON.parse(data) as Message);
    this.inbox.set(connectionId, list);
    return 'sent' as const;
  }

  async close() {
    return 'closed' as const;
  }

  of(connectionId: string): Message[] {
    return this.inbox.get(connectionId) ?? [];
  }
}

/** An event with `fans` places joined, each with one connection `c{position}=` on one shard. */
async function setup(options: {
  capacity: number;
  fans: number;
  claimWindowSeconds?: number;
  admitPerMinute?: number;
}) {
  const clock = new TestClock();
  const store = new MemoryQueueStore();
  const changes: LineChange[] = [];
  const notifier = { notify: async (list: readonly LineChange[]) => void changes.push(...list) };
  const { room, tokens } = testRoom(store, clock, notifier);
  await room.putEvent('f', {
    capacity: options.capacity,
    ...(options.claimWindowSeconds ? { claimWindowSeconds: options.claimWindowSeconds } : {}),
    ...(options.admitPerMinute ? { admitPerMinute: options.admitPerMinute } : {}),
  });
  const registry = new MemoryConnectionRegistry(1);
  for (let i = 0; i < options.fans; i++) {
    const join = await room.join({ eventId: 'f' });
    await registry.add({
      connectionId: `c${join.position}=`,
      eventId: 'f',
      position: join.position,
      sub: `u${join.position}`,
      connectedAt: clock.sec,
    });
  }
  const poster = new RecordingPoster();
  const fanout = new Fanout({ store, registry, tokens, concurrency: 4, now: clock.now, poster });
  const admitter = new Admitter(store, { tickSeconds: 1, now: clock.now, notifier });
  /** The fan-out jobs (moved and state changes) handed off so far, oldest first. */
  const jobs = () => changes.filter((c) => c.kind !== 'tick');
  /** A worker under an update budget (1 s ticks; near = within nearThreshold, no horizon). */
  const tiered = (
    options: {
      messagesPerSecond?: number;
      poster?: ConnectionPoster;
      concurrency?: number;
      registry?: MemoryConnectionRegistry;
    } = {},
  ) =>
    new Fanout({
      store,
      registry: options.registry ?? registry,
      tokens,
      poster: options.poster ?? poster,
      concurrency: options.concurrency ?? 8,
      now: clock.now,
      tickSeconds: 1,
      messagesPerSecond: options.messagesPerSecond ?? 200,
      nearHorizonSeconds: 0,
    });
  return { clock, store, room, registry, poster, fanout, admitter, jobs, tiered, tokens };
}

test('a move reaches a waiting fan with its seq and a refreshed token', async () => {
  const { admitter, fanout, poster, jobs, store } = await setup({ capacity: 1, fans: 5 });
  await admitter.tickEvent('f');
  const [moved] = jobs();
  if (!moved) throw new Error('no move');
  expect(moved).toMatchObject({ kind: 'moved', from: 0, to: 1, seq: expect.any(Number) });
  await fanout.run(moved, 0);
  const version = (await store.getEvent('f'))?.version;
  expect(moved.seq).toBe(version);
  expect(poster.of('c1=')).toEqual([{ type: 'admitted', seq: moved.seq, claimBy: expect.any(Number) }]);
  expect(poster.of('c5=')).toEqual([
    {
      type: 'position',
      seq: moved.seq,
      position: 5,
      servingPosition: 1,
      ahead: 4,
      // From the first tick on: capacity over the configured mean hold (decision 0009).
      estimatedWaitSeconds: expect.any(Number),
      token: expect.any(String),
      admittedTotal: 1,
      // An exact event publishes no line snapshot: counted by admissions only.
      line: null,
    },
  ]);
});

test('regression: a resume run after a newer tick is skipped, so the fan is left with the newer state', async () => {
  // Position 50, capacity 10: paused, resumed (serving 0), then a tick lets 10 in (serving 10).
  const { admitter, room, fanout, poster, jobs } = await setup({ capacity: 10, fans: 50 });
  await room.changeState('f', 'pause');
  await room.changeState('f', 'resume');
  await admitter.tickEvent('f');
  const [paused, resumed, moved] = jobs();
  if (paused?.kind !== 'state' || resumed?.kind !== 'state' || moved?.kind !== 'moved')
    throw new Error('unexpected jobs');
  expect(paused.seq).toBeLessThan(resumed.seq);
  expect(resumed.seq).toBeLessThan(moved.seq);
  expect(resumed.servingPosition).toBe(0);

  // Asynchronous invocations reorder: the tick's job runs first, the resume's after it.
  expect(await fanout.run(moved, 0)).toMatchObject({ superseded: false });
  expect(await fanout.run(resumed, 0)).toMatchObject({ superseded: true, sent: 0 });
  expect(await fanout.run(paused, 0)).toMatchObject({ superseded: true, sent: 0 });
  const last = poster.of('c50=').at(-1);
  expect(last).toMatchObject({ type: 'position', servingPosition: 10, ahead: 40, seq: moved.seq });
  expect(poster.of('c50=')).toHaveLength(1);
});

test('regression: a stale message that still arrives last carries the lower seq, so clients drop it', async () => {
  // The resume's worker claimed the cursor first but its post to the fan is slow; the tick's
  // worker goes out meanwhile. The server cannot order the two posts on the wire: the seq can.
  const { admitter, room, fanout, poster, jobs } = await setup({ capacity: 10, fans: 50 });
  await room.changeState('f', 'pause');
  await room.changeState('f', 'resume');
  const [, resumed] = jobs();
  if (resumed?.kind !== 'state') throw new Error('no resume');
  poster.park('c50=');
  const slow = fanout.run(resumed, 0);
  await poster.held?.reached;
  await admitter.tickEvent('f');
  const moved = jobs().at(-1);
  if (moved?.kind !== 'moved') throw new Error('no move');
  await fanout.run(moved, 0);
  poster.held?.release();
  await slow;
  // The tick's position went out while the resume's posts were held; they arrive after it.
  const [first, ...late] = poster.of('c50=');
  expect(first).toMatchObject({ type: 'position', servingPosition: 10, seq: moved.seq });
  expect(late).toEqual([
    { type: 'resumed', seq: resumed.seq },
    expect.objectContaining({ type: 'position', servingPosition: 0 }),
  ]);
  for (const message of late) expect(message.seq).toBeLessThan(moved.seq);
  // What a client does: apply a message unless its seq is lower than the last applied.
  let applied: Message | undefined;
  for (const message of poster.of('c50=')) if (!applied || message.seq >= applied.seq) applied = message;
  expect(applied).toMatchObject({ servingPosition: 10, ahead: 40 });
});

test('regression: an older move skipped after a newer one loses no admitted message', async () => {
  const { clock, admitter, fanout, poster, jobs, store } = await setup({
    capacity: 10,
    fans: 30,
    claimWindowSeconds: 2,
  });
  await admitter.tickEvent('f'); // admits 1..10
  clock.advance(3); // the claim windows lapse: the slots come back
  await admitter.tickEvent('f'); // 11..20
  const [first, second] = jobs();
  if (first?.kind !== 'moved' || second?.kind !== 'moved') throw new Error('unexpected jobs');
  expect([first.from, first.to, second.from, second.to]).toEqual([0, 10, 10, 20]);

  // The newer job first: it covers everything since the cursor, the first batch included
  // (while its claim window runs); the older one then finds nothing left to say.
  clock.advance(-3);
  expect(await fanout.run(second, 0)).toMatchObject({ superseded: false });
  expect(await fanout.run(first, 0)).toMatchObject({ superseded: true, sent: 0 });
  const batch1 = await store.findBatch('f', 5);
  const batch2 = await store.findBatch('f', 15);
  for (let position = 1; position <= 20; position++) {
    const claimBy = position <= 10 ? batch1?.claimBy : batch2?.claimBy;
    expect(poster.of(`c${position}=`)).toEqual([{ type: 'admitted', seq: second.seq, claimBy }]);
  }
  expect(poster.of('c25=')).toMatchObject([{ type: 'position', servingPosition: 20, ahead: 5 }]);
});

test('an admission whose claim window has passed is not announced', async () => {
  const { clock, admitter, fanout, poster, jobs } = await setup({
    capacity: 10,
    fans: 30,
    claimWindowSeconds: 2,
  });
  await admitter.tickEvent('f');
  clock.advance(3);
  await admitter.tickEvent('f');
  const [first, second] = jobs();
  if (!first || !second) throw new Error('no jobs');
  // Run late: the first batch's places have missed their window; the second's still run.
  expect(await fanout.run(second, 0)).toMatchObject({ superseded: false });
  expect(await fanout.run(first, 0)).toMatchObject({ superseded: true });
  expect(poster.of('c5=')).toEqual([]);
  expect(poster.of('c15=')).toEqual([expect.objectContaining({ type: 'admitted' })]);
});

test('a retried job sends again what it covered; a late move that is still the newest is delivered', async () => {
  const { clock, admitter, fanout, poster, jobs } = await setup({ capacity: 1, fans: 3 });
  await admitter.tickEvent('f');
  const [moved] = jobs();
  if (!moved) throw new Error('no move');
  // Two minutes late (a retried invocation): nothing newer has gone out, so it is the news.
  clock.advance(120);
  await fanout.run(moved, 0);
  await fanout.run(moved, 0);
  expect(poster.of('c1=')).toEqual([
    expect.objectContaining({ type: 'admitted', seq: moved.seq }),
    expect.objectContaining({ type: 'admitted', seq: moved.seq }),
  ]);
  expect(poster.of('c3=')).toEqual([
    expect.objectContaining({ type: 'position', ahead: 2 }),
    expect.objectContaining({ type: 'position', ahead: 2 }),
  ]);
});

test('pause and close reach everyone with their seq; a position never follows a newer pause', async () => {
  const { admitter, room, fanout, poster, jobs } = await setup({ capacity: 1, fans: 3 });
  await admitter.tickEvent('f');
  const [moved] = jobs();
  await room.changeState('f', 'pause');
  const paused = jobs().at(-1);
  if (!moved || paused?.kind !== 'state') throw new Error('unexpected jobs');
  // The pause's job first, then the move's: skipped, so `position` never contradicts `paused`.
  await fanout.run(paused, 0);
  expect(await fanout.run(moved, 0)).toMatchObject({ superseded: true });
  // The pause's job covered the skipped move's admission too.
  expect(poster.of('c1=')).toEqual([
    { type: 'admitted', seq: paused.seq, claimBy: expect.any(Number) },
    { type: 'paused', seq: paused.seq },
  ]);
  for (const id of ['c2=', 'c3=']) expect(poster.of(id)).toEqual([{ type: 'paused', seq: paused.seq }]);
  // A close is delivered however late, and a retry of it again.
  await room.changeState('f', 'close');
  const closed = jobs().at(-1);
  if (closed?.kind !== 'state') throw new Error('no close');
  await fanout.run(closed, 0);
  await fanout.run(closed, 0);
  expect(poster.of('c2=').map((m) => m.type)).toEqual(['paused', 'closed', 'closed']);
});

test('a resume run while the event is paused again tells no positions', async () => {
  const { room, fanout, poster, jobs } = await setup({ capacity: 1, fans: 3 });
  await room.changeState('f', 'pause');
  await room.changeState('f', 'resume');
  await room.changeState('f', 'pause');
  const [, resumed] = jobs();
  if (!resumed) throw new Error('no resume');
  await fanout.run(resumed, 0);
  expect(poster.of('c2=')).toEqual([]);
});

test('over the budget, near fans hear every move and far fans one move in 10 s, in rounds', async () => {
  const { admitter, poster, jobs, clock, tiered } = await setup({
    capacity: 2,
    fans: 300,
    claimWindowSeconds: 1,
  });
  // 300 fans a tick would be 300 messages/s; the budget is 200. The first 100 (nearThreshold) are near.
  const fanout = tiered();
  let moves = 0;
  for (let second = 0; second < 30; second++) {
    const before = jobs().length;
    await admitter.tickEvent('f');
    for (const job of jobs().slice(before)) {
      const result = await fanout.run(job, 0);
      expect(result.overloaded).toBe(false);
      if (job.kind === 'moved') moves++;
    }
    clock.advance(1.5);
  }
  expect(moves).toBeGreaterThan(15);
  const positions = (position: number) =>
    poster.of(`c${position}=`).filter((m) => m.type === 'position').length;
  // The near tier: every move while it waited.
  expect(positions(50)).toBeGreaterThanOrEqual(15);
  // The far tier: one message per interval (10 s, shorter as it comes closer) of the 45 s,
  // not one per move.
  for (const far of [200, 250, 300]) {
    expect(positions(far)).toBeGreaterThanOrEqual(3);
    expect(positions(far)).toBeLessThanOrEqual(moves / 2);
  }
});

test('regression: a job run late still tells every far fan due since the move before its own', async () => {
  const { admitter, poster, jobs, clock, tiered } = await setup({
    capacity: 2,
    fans: 300,
    claimWindowSeconds: 1,
  });
  const fanout = tiered();
  await admitter.tickEvent('f'); // a move; its job is not run
  clock.advance(10);
  const before = jobs().length;
  await admitter.tickEvent('f'); // the next move, 10 s later
  const moved = jobs()
    .slice(before)
    .find((job) => job.kind === 'moved');
  if (!moved) throw new Error('no move');
  clock.advance(3); // the job runs 3 s late
  await fanout.run(moved, 0);
  // Every far fan's 10 s schedule has a point in the 13 s since the move before: all are told.
  for (let position = 150; position <= 300; position += 10)
    expect(
      poster.of(`c${position}=`).filter((m) => m.type === 'position'),
      `#${position}`,
    ).toHaveLength(1);
});

test('regression: a far fan hears each point of its schedule once, however late after the tick the worker runs', async () => {
  // One admission a second and 600 fans: fans 401–600 stay over 300 s away, so every 10 s.
  const { admitter, jobs, clock, tiered } = await setup({
    capacity: 1_000_000,
    fans: 600,
    admitPerMinute: 60,
  });
  /** When each connection was sent a `position`, in ms since the first tick. */
  const told = new Map<string, number[]>();
  const start = clock.ms;
  const poster: ConnectionPoster = {
    post: async (connectionId, data) => {
      if ((JSON.parse(data) as Message).type === 'position')
        told.set(connectionId, [...(told.get(connectionId) ?? []), clock.ms - start]);
      return 'sent';
    },
    close: async () => 'closed',
  };
  const fanout = tiered({ poster });
  for (let move = 0; move < 60; move++) {
    const before = jobs().length;
    const tickAt = clock.ms;
    await admitter.tickEvent('f');
    // The worker starts 0.6 s after the tick (dispatch, listing): often in the next second,
    // which the rounds once took for the time of the move (some fans told twice, some skipped).
    clock.advance(0.6);
    for (const job of jobs().slice(before)) await fanout.run(job, 0);
    clock.ms = tickAt + 1500;
  }
  for (let position = 401; position <= 600; position++) {
    // The first move tells everyone (no move before it); then one message per 10 s of the
    // 88.5 s from the first move to the last: 8 or 9, never two within a few seconds.
    const times = told.get(`c${position}=`) ?? [];
    expect(times.length - 1).toBeGreaterThanOrEqual(8);
    expect(times.length - 1).toBeLessThanOrEqual(9);
    for (let i = 2; i < times.length; i++)
      expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBeGreaterThanOrEqual(8_000);
  }
});

test('a far round too small to spread goes after the admissions and the near tier, whatever the listing order', async () => {
  const { admitter, jobs, clock, tiered } = await setup({
    capacity: 1_000_000,
    fans: 400,
    admitPerMinute: 60,
  });
  // Listed far fans first (a shard lists in no particular order of place).
  const registry = new MemoryConnectionRegistry(1);
  for (let position = 400; position >= 1; position--)
    await registry.add({
      connectionId: `c${position}=`,
      eventId: 'f',
      position,
      sub: `u${position}`,
      connectedAt: clock.sec,
    });
  const posted: { position: number; type: string }[] = [];
  const poster: ConnectionPoster = {
    post: async (connectionId, data) => {
      posted.push({ position: Number(connectionId.slice(1, -1)), type: (JSON.parse(data) as Message).type });
      return 'sent';
    },
    close: async () => 'closed',
  };
  // 400 a tick would be 400 a second; near (the first 100) and far rounds fit in 200.
  const fanout = tiered({ poster, concurrency: 1, registry });
  for (let move = 0; move < 2; move++) {
    const before = jobs().length;
    posted.length = 0;
    await admitter.tickEvent('f');
    for (const job of jobs().slice(before)) await fanout.run(job, 0);
    clock.advance(3);
  }
  // The second move admits place 2, told before any place is worked out; places 3–102 are
  // within nearThreshold (100): they go next, then the far fans due within the 3 s since the
  // move before (fewer than 256).
  const firstFar = posted.findIndex((p) => p.position > 102);
  expect(posted[0]).toEqual({ position: 2, type: 'admitted' });
  expect(posted.slice(1, firstFar).map((p) => p.position)).toEqual(
    Array.from({ length: 100 }, (_, i) => 102 - i),
  );
  expect(posted.slice(firstFar).every((p) => p.position > 102)).toBe(true);
  expect(posted.length - firstFar).toBeGreaterThan(10);
  expect(posted.length - firstFar).toBeLessThan(256);
});

test('past overload a shard refuses new connections beyond its near tier, and takes them again once its plan fits', async () => {
  const { admitter, poster, jobs, clock, store, registry, tiered, tokens } = await setup({
    capacity: 2,
    fans: 300,
    claimWindowSeconds: 1,
  });
  const fanout = (messagesPerSecond: number) => tiered({ messagesPerSecond });
  const connections = new Connections({
    store,
    registry,
    tokens,
    poster,
    limits: { maxConnectionsPerPlace: 3, maxMessagesPerMinute: 60 },
    now: clock.now,
  });
  const tokenOf = async (pos: number) =>
    (await tokens.signPosition({ eventId: 'f', sub: `u${pos}`, pos, nowSec: clock.sec, ttlSeconds: 1800 }))
      .token;
  const move = async (messagesPerSecond: number) => {
    clock.advance(2);
    const before = jobs().length;
    await admitter.tickEvent('f');
    for (const job of jobs().slice(before)) await fanout(messagesPerSecond).run(job, 0);
  };

  // 100 near fans (nearThreshold) alone are 100 messages/s: a budget of 20 is past overload.
  await move(20);
  const serving = (await store.getEvent('f'))?.servingPosition ?? 0;
  expect((await registry.readFanoutCursor('f', 0))?.acceptsThrough).toBe(serving + 100);
  await expect(connections.connect('far=', await tokenOf(250))).rejects.toBeInstanceOf(WebSocketBusyError);
  await connections.connect('near=', await tokenOf(serving + 50));
  // A budget that fits again lifts the gate.
  await move(2000);
  expect((await registry.readFanoutCursor('f', 0))?.acceptsThrough).toBeUndefined();
  await connections.connect('far-later=', await tokenOf(250));
});

/** A store that logs, in one list with the posts, every read a place's `ahead` makes. */
function loggingStore(store: MemoryQueueStore, log: string[]): MemoryQueueStore {
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      if (property === 'leavesIn' || property === 'leaveBlocks' || property === 'getSlice')
        return (...args: unknown[]) => {
          log.push(`read ${String(property)} ${String(args[1])}`);
          return value.apply(target, args);
        };
      return value.bind(target);
    },
  });
}

test('regression: a move reads the leave blocks of the places it tells, not one per connection of a long sharded line', async () => {
  // Sharded positions are sparse: each second's joins open a new slice, 8 leave blocks wide,
  // so every connection below sits in its own block, with a leave ahead of it in the block.
  const clock = new TestClock();
  const memory = new MemoryQueueStore();
  const { room, tokens } = testRoom(memory, clock);
  // Only the first place is near: the rest are told as a long line's far tier is.
  await room.putEvent('s', { capacity: 10, admitPerMinute: 60, intake: 'sharded', nearThreshold: 1 });
  const admitter = new Admitter(memory, { tickSeconds: 1, now: clock.now });
  const registry = new MemoryConnectionRegistry(1);
  const connections = 60;
  for (let i = 0; i < connections; i++) {
    const pair = [await room.join({ eventId: 's' }), await room.join({ eventId: 's' })].sort(
      (a, b) => a.position - b.position,
    );
    const [first, second] = pair;
    if (!first || !second) throw new Error('two joins expected');
    await room.leave('s', first.token);
    await registry.add({
      connectionId: `c${i}=`,
      eventId: 's',
      position: second.position,
      sub: `u${i}`,
      connectedAt: clock.sec,
    });
    clock.advance(1);
  }
  clock.advance(3);
  const changes: LineChange[] = [];
  const ticking = new Admitter(memory, {
    tickSeconds: 1,
    now: clock.now,
    notifier: { notify: async (list) => void changes.push(...list) },
  });
  await admitter.tickAll(); // settles every slice
  await ticking.tickAll(); // the first move: every far fan is due at the first move it sees
  const log: string[] = [];
  const poster = new RecordingPoster();
  // A budget that tells a handful of far fans a move, as a long line's does.
  const fanout = new Fanout({
    store: loggingStore(memory, log),
    registry,
    tokens,
    poster,
    concurrency: 8,
    now: clock.now,
    tickSeconds: 1,
    messagesPerSecond: 5,
    nearHorizonSeconds: 0,
  });
  for (let move = 0; move < 4; move++) {
    clock.advance(1.5);
    changes.length = 0;
    await ticking.tickAll();
    const moved = changes.find((c) => c.kind === 'moved');
    if (!moved) throw new Error('the line did not move');
    await fanout.run(moved, 0);
  }
  const told = [...poster.inbox.values()].flat().filter((m) => m.type === 'position');
  const blockReads = log.filter((l) => l.startsWith('read leavesIn')).length;
  expect(told.length).toBeGreaterThan(0);
  expect(told.length).toBeLessThan(connections);
  // The serving position's block, and the blocks of the places told: not 60 a move.
  expect(blockReads).toBeLessThanOrEqual(told.length + 4);
  // What they are told is exact (the leave in their own block counted).
  for (const message of told) {
    const status = await room.status(
      's',
      (
        await tokens.signPosition({
          eventId: 's',
          sub: 'x',
          pos: Number(message.position),
          nowSec: clock.sec,
          ttlSeconds: 600,
        })
      ).token,
    );
    // Told at an earlier move: what a client shows from it now (decision 0012) is the truth.
    const since = status.admittedTotal - Number(message.admittedTotal);
    expect(Number(message.ahead) - since).toBe(status.ahead);
  }
});

test('regression: admitted goes out before the waiting places of the shard are worked out', async () => {
  const { admitter, jobs, clock, store, registry } = await setup({ capacity: 5, fans: 40 });
  const { tokens } = testRoom(store, clock);
  const log: string[] = [];
  const poster = new RecordingPoster();
  const post = poster.post.bind(poster);
  poster.post = async (connectionId: string, data: string) => {
    log.push(`post ${(JSON.parse(data) as Message).type}`);
    return post(connectionId, data);
  };
  const fanout = new Fanout({
    store: loggingStore(store, log),
    registry,
    tokens,
    poster,
    concurrency: 4,
    now: clock.now,
  });
  await admitter.tickEvent('f');
  const move = jobs().find((c) => c.kind === 'moved');
  if (!move) throw new Error('no move');
  await fanout.run(move, 0);
  const firstRead = log.findIndex((l) => l.startsWith('read'));
  const admitted = log.flatMap((l, i) => (l === 'post admitted' ? [i] : []));
  expect(admitted).toHaveLength(5);
  expect(firstRead).toBeGreaterThan(-1);
  for (const i of admitted) expect(i).toBeLessThan(firstRead);
});

test('a worker that stands for a sample spreads its far rounds from the size it is given', async () => {
  const { admitter, jobs, clock, store, registry } = await setup({
    capacity: 2,
    fans: 300,
    claimWindowSeconds: 1,
  });
  const { tokens } = testRoom(store, clock);
  const waits: number[] = [];
  const fanout = (spreadFromMessages: number | undefined) =>
    new Fanout({
      store,
      registry,
      tokens,
      poster: new RecordingPoster(),
      concurrency: 8,
      now: clock.now,
      tickSeconds: 1,
      messagesPerSecond: 200,
      nearHorizonSeconds: 0,
      sleep: async (ms) => void waits.push(ms),
      ...(spreadFromMessages === undefined ? {} : { spreadFromMessages }),
    });
  await admitter.tickEvent('f');
  const [first] = jobs();
  if (!first) throw new Error('no move');
  // A round of far fans (every one is due at the first move) below 256 goes out at once…
  await fanout(undefined).run(first, 0);
  expect(waits).toHaveLength(0);
  // …and is spread over the tick when the worker is told rounds this small count.
  await fanout(16).run(first, 0);
  expect(waits.length).toBeGreaterThan(0);
});
