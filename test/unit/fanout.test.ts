import { expect, test } from 'vitest';
import { MemoryConnectionRegistry } from '#adapters/memory-connections';
import { MemoryQueueStore } from '#adapters/memory-store';
import { Fanout } from '#app/fanout';
import { TestClock } from '../support/clock.ts';
import { testRoom } from '../support/services.ts';

async function setup() {
  const clock = new TestClock();
  const store = new MemoryQueueStore();
  const { room, tokens } = testRoom(store, clock);
  await room.putEvent('f', { capacity: 1 });
  const registry = new MemoryConnectionRegistry(1);
  await registry.add({ connectionId: 'c1=', eventId: 'f', position: 5, sub: 'u', connectedAt: clock.sec });
  const posts: string[] = [];
  const fanout = new Fanout({
    store,
    registry,
    tokens,
    concurrency: 4,
    now: clock.now,
    poster: {
      post: async (_id, data) => {
        posts.push(data);
        return 'sent';
      },
      close: async () => 'closed',
    },
  });
  return { clock, fanout, posts };
}

test('a retried or late move is dropped once the line has moved on; a state change is delivered however late', async () => {
  const { clock, fanout, posts } = await setup();
  const moved = {
    kind: 'moved' as const,
    eventId: 'f',
    from: 0,
    to: 1,
    claimBy: clock.sec + 300,
    at: clock.sec,
  };
  clock.advance(31);
  expect(await fanout.run(moved, 0)).toEqual({ sent: 0, gone: 0, failed: 0, skipped: 0 });
  await fanout.run({ kind: 'state', eventId: 'f', state: 'closed', at: clock.sec - 600 }, 0);
  expect(posts.map((p) => JSON.parse(p).type)).toEqual(['closed']);
});

test('a fresh move reaches a waiting fan with a refreshed token', async () => {
  const { clock, fanout, posts } = await setup();
  await fanout.run(
    { kind: 'moved', eventId: 'f', from: 0, to: 1, claimBy: clock.sec + 300, at: clock.sec },
    0,
  );
  expect(JSON.parse(posts[0] ?? '{}')).toMatchObject({
    type: 'position',
    position: 5,
    servingPosition: 1,
    ahead: 4,
  });
});
