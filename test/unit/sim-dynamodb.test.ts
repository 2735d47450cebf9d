/**
 * The simulated DynamoDB's throughput and timing model (bench/simulate): capacity units,
 * per-item and per-partition limits with isolation of hot items, the table maximum,
 * transaction locks, the SDK's retries, and what the real adapter makes of the errors.
 */
import {
  ConditionalCheckFailedException,
  ProvisionedThroughputExceededException,
  ThrottlingException,
  TransactionCanceledException,
  TransactionConflictException,
} from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, test } from 'vitest';
import { DynamoTable } from '#adapters/dynamo-table';
import { ServiceUnavailableError } from '#domain/errors';
import { type DynamoModel, dynamoModelSchema, SimDynamoDB } from '../../bench/simulate/dynamodb.ts';
import { Random } from '../../bench/simulate/random.ts';
import { Scheduler } from '../../bench/simulate/scheduler.ts';

const TABLE = 't';
const START = Date.UTC(2026, 10, 22);

function engine(overrides: Record<string, unknown> = {}) {
  const model: DynamoModel = dynamoModelSchema.parse(overrides);
  const scheduler = new Scheduler(START).autoRun();
  const db = new SimDynamoDB(TABLE, model, scheduler, new Random(3), START);
  const context = { weight: 1, caller: 'test', started: () => {}, settled: () => {} };
  return { db, scheduler, client: db.client(() => context) };
}

const fixed = { read: 2, write: 2, query: 2, transaction: 10 };
const units = (db: SimDynamoDB, op: string) => db.byOperation.get(op);

describe('simulated DynamoDB: capacity units', () => {
  test('writes per KB, reads per 4 KB (half when eventually consistent), transactions double, failed conditions still pay', async () => {
    const { db, client } = engine({ latencyMs: fixed, sdk: { cpuMsPerCall: 0 } });
    const item = { pk: 'p', sk: 's', blob: 'x'.repeat(5000) };
    await client.send(new PutCommand({ TableName: TABLE, Item: item }));
    expect(units(db, 'PutItem')?.writeUnits).toBe(5);
    await client.send(new GetCommand({ TableName: TABLE, Key: { pk: 'p', sk: 's' } }));
    await client.send(new GetCommand({ TableName: TABLE, Key: { pk: 'p', sk: 's' }, ConsistentRead: true }));
    expect(units(db, 'GetItem')?.readUnits).toBe(1 + 2);
    await expect(
      client.send(
        new PutCommand({
          TableName: TABLE,
          Item: { pk: 'p', sk: 's' },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    ).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    expect(units(db, 'PutItem')?.writeUnits).toBe(5 + 5);
    await client.send(
      new TransactWriteCommand({
        TransactItems: [{ Put: { TableName: TABLE, Item: { pk: 'q', sk: 's', n: 1 } } }],
      }),
    );
    expect(units(db, 'TransactWriteItems')?.writeUnits).toBe(2);
  });

  test('answers come back after the latency, in virtual time', async () => {
    const { client, scheduler } = engine({ latencyMs: { ...fixed, write: 7 }, sdk: { cpuMsPerCall: 1 } });
    const before = scheduler.now();
    await client.send(new PutCommand({ TableName: TABLE, Item: { pk: 'p', sk: 's' } }));
    expect(scheduler.now() - before).toBe(8);
  });
});

describe('simulated DynamoDB: throughput limits', () => {
  const add = (pk: string, sk = 'COUNTER') =>
    new UpdateCommand({
      TableName: TABLE,
      Key: { pk, sk },
      UpdateExpression: 'ADD issued :one',
      ExpressionAttributeValues: { ':one': 1 },
    });

  test('one item takes 1,000 writes a second; the rest are throttled with the SDK exception, which the adapter turns into 503', async () => {
    const { db, client, scheduler } = engine({ latencyMs: fixed, sdk: { maxAttempts: 1, cpuMsPerCall: 0 } });
    const results = await Promise.allSettled(Array.from({ length: 1500 }, () => client.send(add('EVENT#e'))));
    const refused = results.filter((r) => r.status === 'rejected');
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1000);
    expect(refused).toHaveLength(500);
    expect((refused[0] as PromiseRejectedResult).reason).toBeInstanceOf(
      ProvisionedThroughputExceededException,
    );
    expect(db.byOperation.get('UpdateItem')?.throttled).toBe(500);
    // The real adapter's view of the same refusal.
    const table = new DynamoTable(client, TABLE, { sleep: scheduler.sleep });
    const viaAdapter = await Promise.allSettled(
      Array.from({ length: 1100 }, () => table.send(() => table.doc.send(add('EVENT#f')))),
    );
    const answered503 = viaAdapter.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(answered503).toHaveLength(100);
    expect(answered503[0]?.reason).toBeInstanceOf(ServiceUnavailableError);
  });

  test('the SDK retries a throttle with backoff, so part of a burst over the limit goes through a second later', async () => {
    const { db, client } = engine({ latencyMs: fixed, sdk: { maxAttempts: 3, cpuMsPerCall: 0 } });
    const results = await Promise.allSettled(Array.from({ length: 1200 }, () => client.send(add('EVENT#e'))));
    // Without retries 1,000 would pass; a retry that lands in the next second gets through.
    expect(results.filter((r) => r.status === 'fulfilled').length).toBeGreaterThan(1000);
    expect(db.events.sdkRetries).toBeGreaterThan(0);
  });

  test('items of one partition key share 1,000 WCU until the key is split for heat; then each item has its own', async () => {
    const { client, db, scheduler } = engine({
      latencyMs: fixed,
      sdk: { maxAttempts: 1, cpuMsPerCall: 0 },
      throughput: { isolateAfterSeconds: 3 },
    });
    const second = async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 1600 }, (_, i) => client.send(add('EVENT#e', i % 2 === 0 ? 'A' : 'B'))),
      );
      await scheduler.sleep(1000 - 2);
      return results.filter((r) => r.status === 'rejected').length;
    };
    expect(await second()).toBe(600);
    for (let s = 0; s < 3; s++) await second();
    expect(db.capacity.isolated.map((i) => i.pk)).toEqual(['EVENT#e']);
    expect(await second()).toBe(0);
    // A single item never goes past 1,000 even so.
    const one = await Promise.allSettled(
      Array.from({ length: 1200 }, () => client.send(add('EVENT#e', 'A'))),
    );
    expect(one.filter((r) => r.status === 'rejected')).toHaveLength(200);
  });

  test("the table's on-demand maximum throttles with ThrottlingException", async () => {
    const { client } = engine({
      latencyMs: fixed,
      sdk: { maxAttempts: 1, cpuMsPerCall: 0 },
      throughput: { tableWriteUnits: 100 },
    });
    const results = await Promise.allSettled(
      Array.from({ length: 150 }, (_, i) => client.send(add(`K#${i}`))),
    );
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(refused).toHaveLength(50);
    expect(refused[0]?.reason).toBeInstanceOf(ThrottlingException);
  });
});

describe('simulated DynamoDB: transactions lock their items', () => {
  const tx = (n: number) =>
    new TransactWriteCommand({
      TransactItems: [
        {
          Update: {
            TableName: TABLE,
            Key: { pk: 'EVENT#e', sk: 'COUNTS' },
            UpdateExpression: 'ADD claimed :n',
            ExpressionAttributeValues: { ':n': n },
          },
        },
      ],
    });

  test('a second transaction on a locked item is cancelled with TransactionConflict; a plain write fails', async () => {
    const context = engine({ latencyMs: fixed, transactionLockShare: 0.5, sdk: { cpuMsPerCall: 0 } });
    const { client } = context;
    const [first, second] = await Promise.allSettled([client.send(tx(1)), client.send(tx(2))]);
    expect(first.status).toBe('fulfilled');
    const reason = (second as PromiseRejectedResult).reason;
    expect(reason).toBeInstanceOf(TransactionCanceledException);
    expect((reason as TransactionCanceledException).CancellationReasons?.map((r) => r.Code)).toEqual([
      'TransactionConflict',
    ]);
    const { scheduler } = context;
    const locked = client.send(tx(3));
    // Sent once the transaction holds the item (between its prepare and its commit).
    await scheduler.sleep(4);
    const plain = client.send(
      new UpdateCommand({
        TableName: TABLE,
        Key: { pk: 'EVENT#e', sk: 'COUNTS' },
        UpdateExpression: 'ADD claimed :n',
        ExpressionAttributeValues: { ':n': 1 },
      }),
    );
    await expect(plain).rejects.toBeInstanceOf(TransactionConflictException);
    await expect(locked).resolves.toEqual({});
  });
});
