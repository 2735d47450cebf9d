import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, inject, test } from 'vitest';
import { DynamoQueueStore } from '#adapters/dynamo-store';
import { pad } from '#adapters/dynamo-table';
import { CONFIG_DEFAULTS, INITIAL_ADMITTER_STATE } from '#domain/event';
import type { Session } from '#domain/place';
import { createTable, dynamoClient, uniqueTableName } from '../support/dynamodb-local.ts';
import { describeQueueStore } from './queue-store.contract.ts';

const endpoint = inject('ddbEndpoint');
const table = uniqueTableName('contract');
beforeAll(() => createTable(endpoint, table));

describeQueueStore('DynamoDB Local', () => new DynamoQueueStore(dynamoClient(endpoint), table));

describe('release stripes on DynamoDB Local (decision 0010)', () => {
  const NOW = 1_800_000_000;
  const doc = () => DynamoDBDocumentClient.from(dynamoClient(endpoint));
  const session = (position: number, claimBy: number, endsAt: number): Session => ({
    position,
    sessionId: `s-${position}`,
    sub: `u-${position}`,
    claimedAt: NOW,
    endsAt,
    claimBy,
    completedAt: null,
  });

  test('an event claimed before the stripes existed keeps its counts: old and striped moves add up', async () => {
    const store = new DynamoQueueStore(dynamoClient(endpoint), table);
    const id = `legacy-${Math.random().toString(36).slice(2)}`;
    await store.putEvent(id, { ...CONFIG_DEFAULTS, capacity: 10 }, NOW);
    const next = { ...INITIAL_ADMITTER_STATE, version: 1, servingPosition: 4, admittedTotal: 4 };
    const batch = { from: 0, to: 4, admitted: 4, at: NOW, claimBy: NOW + 10 };
    expect(await store.commitTick(id, 0, { next, batch, updatedAt: NOW })).toBe(true);
    // What the code before release stripes wrote for one claim (position 1, ending at NOW + 20):
    const client = doc();
    const pk = `EVENT#${id}`;
    await client.send(
      new UpdateCommand({
        TableName: table,
        Key: { pk, sk: `REL#${pad(NOW + 10, 10)}` },
        UpdateExpression: 'ADD missed :minus',
        ExpressionAttributeValues: { ':minus': -1 },
      }),
    );
    await client.send(
      new PutCommand({ TableName: table, Item: { pk, sk: `REL#${pad(NOW + 20, 10)}`, expired: 1 } }),
    );
    await client.send(
      new UpdateCommand({
        TableName: table,
        Key: { pk, sk: 'COUNTS' },
        UpdateExpression: 'ADD claimed :one',
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
    // Claims of this code land in stripes; a complete of the old claim too.
    expect((await store.claimSession(id, session(2, NOW + 10, NOW + 30))).outcome).toBe('claimed');
    expect((await store.claimSession(id, session(3, NOW + 10, NOW + 20))).outcome).toBe('claimed');
    expect(await store.completeSession(id, 3, 's-3', NOW + 5)).toBe('completed');
    expect(await store.getCounters(id)).toMatchObject({ claimed: 3, completed: 1 });
    // Position 4 never claims: one missed; sessions 1 and 2 expire; 3 was completed.
    expect(await store.sealReleases(id, NOW, NOW + 30)).toMatchObject({ missed: 1, expired: 2 });
  });

  test('an event created before release stripes keeps the single seal and counts for good', async () => {
    const id = `old-${Math.random().toString(36).slice(2)}`;
    await new DynamoQueueStore(dynamoClient(endpoint), table).putEvent(
      id,
      { ...CONFIG_DEFAULTS, capacity: 10 },
      NOW,
    );
    const client = doc();
    // As the code before wrote it: no layout.
    await client.send(
      new UpdateCommand({
        TableName: table,
        Key: { pk: `EVENT#${id}`, sk: 'META' },
        UpdateExpression: 'REMOVE layout',
      }),
    );
    const store = new DynamoQueueStore(dynamoClient(endpoint), table);
    const next = { ...INITIAL_ADMITTER_STATE, version: 1, servingPosition: 4, admittedTotal: 4 };
    const batch = { from: 0, to: 4, admitted: 4, at: NOW, claimBy: NOW + 10 };
    expect(await store.commitTick(id, 0, { next, batch, updatedAt: NOW })).toBe(true);
    expect(await store.sealReleases(id, NOW, NOW + 5)).toMatchObject({ sealedThrough: NOW + 5 });
    // Claims, completes and leaves move slots where an admitter from before looks too.
    expect((await store.claimSession(id, session(1, NOW + 10, NOW + 30))).outcome).toBe('claimed');
    expect(await store.completeSession(id, 1, 's-1', NOW + 6)).toBe('completed');
    expect(await store.leaveAdmitted(id, 2, NOW + 10, NOW + 6)).toBe('left');
    const counts = await client.send(
      new GetCommand({ TableName: table, Key: { pk: `EVENT#${id}`, sk: 'COUNTS' }, ConsistentRead: true }),
    );
    expect(counts.Item).toMatchObject({ claimed: 1, completed: 1, leftAdmitted: 1 });
    const stripe = await client.send(
      new GetCommand({
        TableName: table,
        Key: { pk: `EVENT#${id}#REL#0`, sk: 'SEAL' },
        ConsistentRead: true,
      }),
    );
    expect(stripe.Item).toBeUndefined();
    // Its own seal still refuses a claim on a deadline it counted, whatever stripes would say.
    expect((await store.claimSession(id, session(3, NOW + 5, NOW + 30))).outcome).toBe('missed');
    expect(await store.getCounters(id)).toMatchObject({ claimed: 1, completed: 1, leftAdmitted: 1 });
    // 4 admitted: 1 claimed (completed), 1 left early, 2 never claimed.
    expect(await store.sealReleases(id, NOW + 5, NOW + 30)).toMatchObject({ missed: 2, expired: 0 });
  });

  test('a hundred claims, completes and leaves at once: every slot moves exactly once', async () => {
    const store = new DynamoQueueStore(dynamoClient(endpoint), table);
    const id = `spread-${Math.random().toString(36).slice(2)}`;
    await store.putEvent(id, { ...CONFIG_DEFAULTS, capacity: 300 }, NOW);
    const next = { ...INITIAL_ADMITTER_STATE, version: 1, servingPosition: 300, admittedTotal: 300 };
    const batch = { from: 0, to: 300, admitted: 300, at: NOW, claimBy: NOW + 10 };
    expect(await store.commitTick(id, 0, { next, batch, updatedAt: NOW })).toBe(true);
    const claims = Array.from({ length: 100 }, (_, i) => i + 1);
    await Promise.all([
      ...claims.map((p) => store.claimSession(id, session(p, NOW + 10, NOW + 20))),
      ...Array.from({ length: 100 }, (_, i) => store.leaveAdmitted(id, 101 + i, NOW + 10, NOW + 1)),
    ]);
    await Promise.all(claims.slice(0, 50).map((p) => store.completeSession(id, p, `s-${p}`, NOW + 2)));
    expect(await store.getCounters(id)).toMatchObject({ claimed: 100, completed: 50, leftAdmitted: 100 });
    // 100 left early, 100 claimed (50 completed early, 50 expire), 100 never came: missed.
    expect(await store.sealReleases(id, NOW, NOW + 20)).toMatchObject({ missed: 100, expired: 50 });
  });
});

describe('published copies of a sharded event on DynamoDB Local (decision 0010)', () => {
  const NOW = 1_800_000_000;
  const line = (servingPosition: number) => ({
    servingPosition,
    leaveBlocks: [[3, 2] as const],
    servingBlockLeaves: [servingPosition + 4],
  });

  test('hot reads find the published event and its line; a copy never goes back', async () => {
    const store = new DynamoQueueStore(dynamoClient(endpoint), table);
    const id = `view-${Math.random().toString(36).slice(2)}`;
    await store.putEvent(id, { ...CONFIG_DEFAULTS, capacity: 10, intake: 'sharded' }, NOW);
    // Not published yet: the event itself.
    expect((await store.getEvent(id))?.line).toBeUndefined();
    await store.publishView(id, line(0));
    for (let i = 0; i < 20; i++) expect((await store.getEvent(id))?.line).toEqual(line(0));
    const next = { ...INITIAL_ADMITTER_STATE, version: 1, servingPosition: 7 };
    expect(await store.commitTick(id, 0, { next, batch: null, updatedAt: NOW })).toBe(true);
    await store.publishView(id, line(7));
    // A state change publishes without a line: the copies keep the tick's.
    await store.setEventState(id, 'paused', NOW + 1);
    await store.publishView(id);
    for (let i = 0; i < 20; i++) {
      const seen = await store.getEvent(id);
      expect(seen).toMatchObject({ state: 'paused', servingPosition: 7, version: 2, line: line(7) });
    }
    // A slow publisher holding a line of an older serving position does not write it.
    await store.publishView(id, line(0));
    for (let i = 0; i < 20; i++) expect((await store.getEvent(id))?.line).toEqual(line(7));
  });

  test('an exact event has no copies: its reads stay on the event', async () => {
    const store = new DynamoQueueStore(dynamoClient(endpoint), table);
    const id = `exact-${Math.random().toString(36).slice(2)}`;
    await store.putEvent(id, { ...CONFIG_DEFAULTS, capacity: 10 }, NOW);
    await store.publishView(id, line(0));
    expect((await store.getEvent(id))?.line).toBeUndefined();
  });
});
