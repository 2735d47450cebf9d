/** The shared WebSocket connection rules over a given registry, with a fake management API. */
import { MemoryQueueStore } from '#adapters/memory-store';
import { Connections } from '#app/connections';
import type { ConnectionPoster, ConnectionRegistry } from '#ports/realtime';
import { TestClock } from './clock.ts';
import { testRoom } from './services.ts';

/** Records what would go to API Gateway's `@connections`. */
export class FakePoster implements ConnectionPoster {
  readonly posts: { connectionId: string; data: string }[] = [];
  readonly closed: string[] = [];
  async post(connectionId: string, data: string) {
    this.posts.push({ connectionId, data });
    return 'sent' as const;
  }
  async close(connectionId: string) {
    this.closed.push(connectionId);
    return 'closed' as const;
  }
}

export async function connectionsSetup(
  registry: ConnectionRegistry,
  limits = { maxConnectionsPerPlace: 3, maxMessagesPerMinute: 5 },
) {
  // Real time: a registry's own clock (TTL of stored connections) is the real one.
  const clock = new TestClock(Date.now());
  const store = new MemoryQueueStore();
  const { room, tokens } = testRoom(store, clock);
  // Unique per call: registries in DynamoDB Local are shared by a test file's cases.
  const eventId = `c${Math.random().toString(36).slice(2, 8)}`;
  await room.putEvent(eventId, { capacity: 1 });
  const poster = new FakePoster();
  const connections = new Connections({ store, registry, tokens, poster, limits, now: clock.now });
  const join = await room.join({ eventId });
  return { clock, connections, poster, registry, eventId, join };
}
