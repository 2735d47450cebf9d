import { afterEach, expect, test, vi } from 'vitest';
import { MemoryQueueStore } from '#adapters/memory-store';
import { Admitter } from '#app/admitter';
import { CONFIG_DEFAULTS, type LineSnapshot } from '#domain/event';
import type { Metrics } from '#ports/metrics';

afterEach(() => {
  vi.useRealTimers();
});

test('one scheduled invocation ticks every tickSeconds for its run (EventBridge fires once a minute)', async () => {
  vi.useFakeTimers();
  vi.setSystemTime(new Date('2026-11-22T12:00:00Z'));
  const store = new MemoryQueueStore();
  await store.putEvent(
    'e',
    { ...CONFIG_DEFAULTS, capacity: 1_000, admitPerMinute: 60 },
    Math.floor(Date.now() / 1000),
  );
  for (let i = 0; i < 500; i++) await store.allocatePosition('e');
  const admitter = new Admitter(store, { tickSeconds: 5 });
  const run = admitter.run(55, () => {});
  await vi.advanceTimersByTimeAsync(60_000);
  expect(await run).toBe(11);
  const event = await store.getEvent('e');
  // 60 a minute: five per 5-second tick, never a burst above it.
  expect(event?.servingPosition).toBe(55);
  expect(event?.recentTicks.every((t) => t.admitted <= 5)).toBe(true);
});

test('a failing event does not stop the others', async () => {
  class FailingStore extends MemoryQueueStore {
    override async sealReleases(eventId: string, after: number, through: number) {
      if (eventId === 'bad') throw new Error('boom');
      return super.sealReleases(eventId, after, through);
    }
  }
  const failing = new FailingStore();
  await failing.putEvent('good', { ...CONFIG_DEFAULTS, capacity: 2 }, 1);
  await failing.putEvent('bad', { ...CONFIG_DEFAULTS, capacity: 2 }, 1);
  await failing.allocatePosition('good');
  const errors: [string, string][] = [];
  const outcomes = await new Admitter(failing, { tickSeconds: 1 }).tickAll((e, id) =>
    errors.push([id, (e as Error).message]),
  );
  // The store's own error is reported, not a wrapper.
  expect(errors).toEqual([['bad', 'boom']]);
  expect(outcomes).toHaveLength(2);
  expect(outcomes).toContainEqual(expect.objectContaining({ eventId: 'good', committed: true, to: 1 }));
  // The failed tick committed nothing, but says how old the event's last tick is.
  expect(outcomes).toContainEqual({ eventId: 'bad', committed: false, from: 0, to: 0, tickAgeSec: 0 });
});

test('every tick records and flushes its figures; an event whose ticks fail shows a growing age', async () => {
  let now = Date.UTC(2026, 10, 22);
  let failBad = false;
  class FailingStore extends MemoryQueueStore {
    override async sealReleases(eventId: string, after: number, through: number) {
      if (eventId === 'bad' && failBad) throw new Error('throttled');
      return super.sealReleases(eventId, after, through);
    }
  }
  const store = new FailingStore();
  const recorded: [string, number, string | undefined][] = [];
  let flushes = 0;
  const metrics: Metrics = {
    record: (name, value, eventId) => recorded.push([name, value, eventId]),
    flush: () => {
      flushes++;
    },
  };
  const admitter = new Admitter(store, { tickSeconds: 1, now: () => now, metrics });
  await admitter.tickAll();
  // No event yet: the totals still go out (a missing TickAge means the admitter is not running).
  expect([...recorded].sort()).toEqual(
    [
      ['ActiveSessions', 0, undefined],
      ['Admitted', 0, undefined],
      ['Expired', 0, undefined],
      ['Missed', 0, undefined],
      ['QueueLength', 0, undefined],
      ['TickAge', 0, undefined],
      ['TickDuration', 0, undefined],
    ].sort(),
  );
  expect(flushes).toBe(1);
  await store.putEvent('good', { ...CONFIG_DEFAULTS, capacity: 2 }, now / 1000);
  await store.putEvent('bad', { ...CONFIG_DEFAULTS, capacity: 2 }, now / 1000);
  for (let i = 0; i < 3; i++) await store.allocatePosition('good');
  await admitter.tickAll(); // both commit their first tick
  failBad = true;
  now += 150_000;
  recorded.length = 0;
  await admitter.tickAll();
  const of = (name: string, eventId?: string) =>
    recorded.find(([n, , e]) => n === name && e === eventId)?.[1];
  expect(of('TickAge', 'good')).toBe(150);
  expect(of('TickAge', 'bad')).toBe(150);
  expect(of('TickAge')).toBe(150);
  expect(of('QueueLength', 'good')).toBe(1); // 3 joined, capacity 2 admitted
  expect(of('QueueLength', 'bad')).toBeUndefined(); // its tick failed: no figures but the age
  now += 30_000;
  recorded.length = 0;
  await admitter.tickAll();
  expect(of('TickAge', 'good')).toBe(30);
  // The stall shows: 'bad' has not committed for three minutes, and the total is the oldest.
  expect(of('TickAge', 'bad')).toBe(180);
  expect(of('TickAge')).toBe(180);
  expect(flushes).toBe(4);
});

test('closed events are ticked until their slots are released, then retired', async () => {
  let now = Date.UTC(2026, 10, 22);
  const store = new MemoryQueueStore();
  const admitter = new Admitter(store, { tickSeconds: 1, now: () => now });
  await store.putEvent('c', { ...CONFIG_DEFAULTS, capacity: 2, claimWindowSeconds: 10 }, now / 1000);
  await store.allocatePosition('c');
  await admitter.tickAll();
  await store.setEventState('c', 'closed', now / 1000);
  now += 5_000;
  await admitter.tickAll();
  expect(await store.listActiveEventIds()).toContain('c');
  now += 6_000;
  await admitter.tickAll();
  expect(await store.listActiveEventIds()).not.toContain('c');
  expect((await store.getEvent('c'))?.missed).toBe(1);
});

test('a sharded tick whose line cannot be published still publishes the new state, without it', async () => {
  const published: (number | null)[] = [];
  class TooBigLine extends MemoryQueueStore {
    override async publishView(eventId: string, line?: LineSnapshot) {
      published.push(line ? line.servingPosition : null);
      // What DynamoDB answers an item over 400 KB.
      if (line) throw new Error('Item size has exceeded the maximum allowed size');
      return super.publishView(eventId);
    }
  }
  const store = new TooBigLine();
  await store.putEvent('big', { ...CONFIG_DEFAULTS, capacity: 2, intake: 'sharded' }, 1);
  const errors: unknown[] = [];
  const [outcome] = await new Admitter(store, { tickSeconds: 1 }).tickAll((error) => errors.push(error));
  expect(errors).toEqual([]);
  expect(outcome).toMatchObject({ eventId: 'big', committed: true });
  // Tried with the line, then the state alone: the copies follow the serving position.
  expect(published).toEqual([0, null]);
});
