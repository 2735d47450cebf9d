import { afterEach, expect, test, vi } from 'vitest';
import { MemoryQueueStore } from '#adapters/memory-store';
import { Admitter } from '#app/admitter';
import { CONFIG_DEFAULTS } from '#domain/event';

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
  const errors: string[] = [];
  const outcomes = await new Admitter(failing, { tickSeconds: 1 }).tickAll((_e, id) => errors.push(id));
  expect(errors).toEqual(['bad']);
  expect(outcomes).toEqual([expect.objectContaining({ eventId: 'good', committed: true, to: 1 })]);
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
