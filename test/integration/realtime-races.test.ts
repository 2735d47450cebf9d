/**
 * The real-time rules on DynamoDB Local with real concurrency: racing `$connect`s
 * of one place converge to the connection cap; the message limit closes a
 * connection.
 */
import { beforeAll, describe, expect, inject, test } from 'vitest';
import { DynamoConnectionRegistry } from '#adapters/dynamo-connections';
import { TooManyConnectionsError } from '#domain/errors';
import { connectionsSetup } from '../support/connections.ts';
import { createTable, dynamoClient, uniqueTableName } from '../support/dynamodb-local.ts';

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
