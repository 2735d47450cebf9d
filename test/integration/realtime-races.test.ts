/**
 * The real-time rules on DynamoDB Local with real concurrency: racing `$connect`s
 * of one place converge to the connection cap; the message limit closes a
 * connection; fan-out workers running every job of a shard at once, in any
 * order and more than once, lose no `admitted` and leave every fan with the
 * newest state (by the clients' rule: the highest seq wins).
 */
import { beforeAll, describe, expect, inject, test } from 'vitest';
import { DynamoConnectionRegistry } from '#adapters/dynamo-connections';
import { DynamoQueueStore } from '#adapters/dynamo-store';
import { Admitter } from '#app/admitter';
import { Fanout } from '#app/fanout';
import { TooManyConnectionsError } from '#domain/errors';
import type { ConnectionPoster, LineChange } from '#ports/realtime';
import { TestClock } from '../support/clock.ts';
import { connectionsSetup } from '../support/connections.ts';
import { createTable, dynamoClient, uniqueTableName } from '../support/dynamodb-local.ts';
import { testRoom } from '../support/services.ts';

const endpoint = inject('ddbEndpoint');
const table = uniqueTableName('realtime');
beforeAll(() => createTable(endpoint, table));

const registry = (now?: () => number) => new DynamoConnectionRegistry(dynamoClient(endpoint), table, 2, now);

describe('connection limits on DynamoDB Local', () => {
  test('racing connects of one place converge to at most the cap; the rest are closed or refused', async () => {
    const { connections, poster, registry: reg, eventId, join } = await connectionsSetup(registry());
    const ids = Array.from({ length: 30 }, (_, i) => `race${i}=`);
    const outcomes = await Promise.allSettled(ids.map((id) => connections.connect(id, join.token)));
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') expect(outcome.reason).toBeInstanceOf(TooManyConnectionsError);
    }
    const kept = (await reg.listPlace(eventId, join.position)).map((c) => c.connectionId);
    expect(kept.length).toBeGreaterThanOrEqual(1);
    expect(kept.length).toBeLessThanOrEqual(3);
    const refused = ids.filter((_, i) => outcomes[i]?.status === 'rejected');
    for (const id of ids) {
      expect(kept.includes(id) || poster.closed.includes(id) || refused.includes(id)).toBe(true);
    }
  });

  test('a connection over the message limit is closed and forgotten', async () => {
    const { connections, poster, registry: reg, eventId, join } = await connectionsSetup(registry());
    await connections.connect('chatty=', join.token);
    for (let i = 0; i < 6; i++) await connections.message('chatty=', '{"type":"ping"}');
    expect(poster.posts).toHaveLength(5);
    expect(poster.closed).toEqual(['chatty=']);
    expect(await reg.listPlace(eventId, join.position)).toEqual([]);
  });
});

/** Records every post per connection; yields first so that racing workers interleave. */
class Inbox implements ConnectionPoster {
  readonly byConnection = new Map<string, { type: string; seq: number; [key: string]: unknown }[]>();
  async post(connectionId: string, data: string) {
    await new Promise((resolve) => setImmediate(resolve));
    const list = this.byConnection.get(connectionId) ?? [];
    list.push(JSON.parse(data));
    this.byConnection.set(connectionId, list);
    return 'sent' as const;
  }
  async close() {
    return 'closed' as const;
  }
  /** The message a client keeps: it ignores any whose seq is lower than the last it applied. */
  applied(connectionId: string) {
    let last: { type: string; seq: number; [key: string]: unknown } | undefined;
    for (const message of this.byConnection.get(connectionId) ?? []) {
      if (!last || message.seq >= last.seq) last = message;
    }
    return last;
  }
}

describe('fan-out workers racing on DynamoDB Local', () => {
  test('every job of a shard at once, shuffled and doubled: no admitted lost, everyone ends on the newest state', async () => {
    const clock = new TestClock(Date.now());
    const client = dynamoClient(endpoint);
    const store = new DynamoQueueStore(client, table);
    const changes: LineChange[] = [];
    const notifier = { notify: async (c: readonly LineChange[]) => void changes.push(...c) };
    const { room, tokens } = testRoom(store, clock, notifier);
    const eventId = `race-${Date.now().toString(36)}`;
    await room.putEvent(eventId, { capacity: 5 });
    const reg = new DynamoConnectionRegistry(client, table, 1, clock.now);
    const fans = 30;
    for (let i = 0; i < fans; i++) {
      const join = await room.join({ eventId });
      await reg.add({
        connectionId: `f${join.position}=`,
        eventId,
        position: join.position,
        sub: `u${join.position}`,
        connectedAt: clock.sec,
      });
    }
    const admitter = new Admitter(store, { tickSeconds: 1, now: clock.now, notifier });
    // Four moves of five places each (every place completes at once), with a pause and resume between.
    for (let round = 0; round < 4; round++) {
      await admitter.tickEvent(eventId);
      if (round === 1) {
        await room.changeState(eventId, 'pause');
        await room.changeState(eventId, 'resume');
      }
      const admitted = Array.from({ length: 5 }, (_, i) => round * 5 + i + 1);
      for (const position of admitted) {
        const token = (
          await tokens.signPosition({
            eventId,
            sub: `u${position}`,
            pos: position,
            nowSec: clock.sec,
            ttlSeconds: 600,
          })
        ).token;
        // The place claims and completes: its slot is free for the next tick.
        const claim = await room.claim(eventId, token);
        await room.complete(eventId, claim.accessToken);
      }
      clock.advance(1);
    }
    const jobs = changes.filter((c) => c.kind !== 'tick');
    expect(jobs.filter((c) => c.kind === 'moved')).toHaveLength(4);
    const newest = Math.max(...jobs.map((c) => c.seq));

    const inbox = new Inbox();
    const worker = () =>
      new Fanout({ store, registry: reg, poster: inbox, tokens, concurrency: 8, now: clock.now });
    const runs = [...jobs, ...jobs].sort(() => Math.random() - 0.5);
    await Promise.all(runs.map((job) => worker().run(job, 0)));

    expect((await reg.readFanoutCursor(eventId, 0))?.seq).toBe(newest);
    const serving = (await store.getEvent(eventId, { consistent: true }))?.servingPosition ?? 0;
    expect(serving).toBe(20);
    for (let position = 1; position <= fans; position++) {
      const messages = inbox.byConnection.get(`f${position}=`) ?? [];
      if (position <= serving) {
        // Admitted by some move: told so at least once, whichever job covered it.
        const batch = await store.findBatch(eventId, position);
        expect(messages.filter((m) => m.type === 'admitted')).not.toEqual([]);
        for (const m of messages.filter((m) => m.type === 'admitted')) expect(m.claimBy).toBe(batch?.claimBy);
      } else {
        // Still waiting: what the client keeps is the newest line.
        expect(inbox.applied(`f${position}=`)).toMatchObject({
          type: 'position',
          servingPosition: serving,
          ahead: position - serving,
        });
      }
    }
  });
});
