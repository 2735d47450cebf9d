/**
 * What one WebSocket client may cost, as the shared rules enforce it on AWS and
 * locally alike (over the memory registry here; test/integration/connections.test.ts
 * runs the same over DynamoDB Local): a few connections per place, the oldest
 * closed; a bounded number of messages per connection and minute, then closed.
 */
import { expect, test } from 'vitest';
import { MemoryConnectionRegistry } from '#adapters/memory-connections';
import { TooManyConnectionsError } from '#domain/errors';
import { connectionsSetup } from '../support/connections.ts';

test('a place keeps at most the cap of connections: each new one closes the oldest', async () => {
  const { clock, connections, poster, registry, eventId, join } = await connectionsSetup(
    new MemoryConnectionRegistry(4),
  );
  for (let i = 1; i <= 6; i++) {
    clock.ms += 1;
    await connections.connect(`k${i}=`, join.token);
  }
  expect(poster.closed).toEqual(['k1=', 'k2=', 'k3=']);
  const kept = (await registry.listPlace(eventId, join.position)).map((c) => c.connectionId).sort();
  expect(kept).toEqual(['k4=', 'k5=', 'k6=']);
  // The closed ones are forgotten: no fan-out would reach them.
  expect(await registry.remove('k1=')).toBeUndefined();
});

test('racing connects of one place converge to the cap, and every connection beyond it is closed or refused', async () => {
  const { connections, poster, registry, eventId, join } = await connectionsSetup(
    new MemoryConnectionRegistry(4),
  );
  const ids = Array.from({ length: 40 }, (_, i) => `r${i}=`);
  // Every connect at the same millisecond: the order falls back to the ids, the same for all.
  const outcomes = await Promise.allSettled(ids.map((id) => connections.connect(id, join.token)));
  const kept = (await registry.listPlace(eventId, join.position)).map((c) => c.connectionId);
  expect(kept.length).toBeLessThanOrEqual(3);
  expect(kept.length).toBeGreaterThanOrEqual(1);
  const refused = ids.filter((_, i) => outcomes[i]?.status === 'rejected');
  for (const outcome of outcomes) {
    if (outcome.status === 'rejected') expect(outcome.reason).toBeInstanceOf(TooManyConnectionsError);
  }
  // Each of the 40 is kept, closed or refused; none is left open unregistered.
  for (const id of ids)
    expect(kept.includes(id) || poster.closed.includes(id) || refused.includes(id)).toBe(true);
});

test('a connect older than the connections it raced is refused rather than kept', async () => {
  const { clock, connections, registry, eventId, join } = await connectionsSetup(
    new MemoryConnectionRegistry(4),
  );
  for (let i = 1; i <= 3; i++) {
    clock.ms += 1;
    await connections.connect(`n${i}=`, join.token);
  }
  // A Lambda whose clock is behind: its connection sorts as the oldest of four.
  clock.ms -= 1000;
  await expect(connections.connect('late=', join.token)).rejects.toBeInstanceOf(TooManyConnectionsError);
  const kept = (await registry.listPlace(eventId, join.position)).map((c) => c.connectionId).sort();
  expect(kept).toEqual(['n1=', 'n2=', 'n3=']);
});

test('messages over the per-minute limit close the connection; later ones get no answer', async () => {
  const { clock, connections, poster, registry, eventId, join } = await connectionsSetup(
    new MemoryConnectionRegistry(4),
  );
  await connections.connect('m=', join.token);
  for (let i = 0; i < 5; i++) await connections.message('m=', '{"type":"ping"}');
  expect(poster.posts).toHaveLength(5);
  expect(poster.posts.every((p) => p.data === '{"type":"pong"}')).toBe(true);
  // The sixth within the minute: closed and forgotten, not answered.
  await connections.message('m=', '{"type":"ping"}');
  expect(poster.posts).toHaveLength(5);
  expect(poster.closed).toEqual(['m=']);
  expect(await registry.listPlace(eventId, join.position)).toEqual([]);
  await connections.message('m=', '{"type":"ping"}');
  expect(poster.posts).toHaveLength(5);
  expect(poster.closed).toEqual(['m=', 'm=']);
  clock.advance(60);
  await connections.message('m=', '{"type":"ping"}');
  expect(poster.posts).toHaveLength(5);
});

test('every message counts, answered or not; a new minute starts a new count', async () => {
  const { clock, connections, poster, join } = await connectionsSetup(new MemoryConnectionRegistry(4));
  await connections.connect('g=', join.token);
  for (const body of ['nonsense', '{"type":"hello"}', '{}', '{"type":"ping"}', undefined]) {
    await connections.message('g=', body);
  }
  expect(poster.posts).toHaveLength(1);
  expect(poster.closed).toEqual([]);
  clock.advance(60);
  for (let i = 0; i < 5; i++) await connections.message('g=', '{"type":"ping"}');
  expect(poster.closed).toEqual([]);
  expect(poster.posts).toHaveLength(6);
});

test('a message from a connection that is not registered closes it', async () => {
  const { connections, poster } = await connectionsSetup(new MemoryConnectionRegistry(4));
  await connections.message('stranger=', '{"type":"ping"}');
  expect(poster.posts).toEqual([]);
  expect(poster.closed).toEqual(['stranger=']);
});
