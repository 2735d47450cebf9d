/**
 * Proves the harness: the emulator the globalSetup started has the DynamoDB features
 * fairqueue's store depends on, conditional writes and transactions.
 */
import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTable, dynamoClient, uniqueTableName } from '../support/dynamodb-local.ts';

describe('DynamoDB Local harness', () => {
  const endpoint = inject('ddbEndpoint');
  const tableName = uniqueTableName('harness');
  let client: DynamoDBClient;
  let doc: DynamoDBDocumentClient;

  beforeAll(async () => {
    await createTable(endpoint, tableName);
    client = dynamoClient(endpoint);
    doc = DynamoDBDocumentClient.from(client);
  });

  afterAll(() => {
    client.destroy();
  });

  it('shares its endpoint with code that reads the environment', () => {
    expect(process.env.FQ_TEST_DDB_ENDPOINT).toBe(endpoint);
  });

  it('accepts a conditional put once and rejects the second', async () => {
    const key = { pk: 'EVENT#e1', sk: 'TICKET#t1' };
    const put = (position: number) =>
      doc.send(
        new PutCommand({
          TableName: tableName,
          Item: { ...key, position },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );

    await put(1);
    await expect(put(2)).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    const stored = await doc.send(new GetCommand({ TableName: tableName, Key: key }));
    expect(stored.Item).toMatchObject({ position: 1 });
  });

  it('applies a transaction all together, and none of a cancelled one', async () => {
    const counterKey = { pk: 'EVENT#e2', sk: 'COUNTER' };
    const joinAt = (position: number) =>
      doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: tableName,
                Key: counterKey,
                UpdateExpression: 'SET #next = :next',
                ConditionExpression: 'attribute_not_exists(#next) OR #next = :current',
                ExpressionAttributeNames: { '#next': 'next' },
                ExpressionAttributeValues: { ':next': position + 1, ':current': position },
              },
            },
            {
              Put: {
                TableName: tableName,
                Item: { pk: 'EVENT#e2', sk: `POSITION#${position}`, ticket: `t${position}` },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
          ],
        }),
      );

    await joinAt(1);
    // Stale counter value: the whole transaction is cancelled, so position 5 is never written.
    const stale = await joinAt(5).catch((error: unknown) => error);

    expect(stale).toBeInstanceOf(TransactionCanceledException);
    expect((stale as TransactionCanceledException).CancellationReasons?.map((r) => r.Code)).toEqual([
      'ConditionalCheckFailed',
      'None',
    ]);
    const counter = await doc.send(new GetCommand({ TableName: tableName, Key: counterKey }));
    expect(counter.Item).toMatchObject({ next: 2 });
    const position1 = await doc.send(
      new GetCommand({ TableName: tableName, Key: { pk: 'EVENT#e2', sk: 'POSITION#1' } }),
    );
    expect(position1.Item).toMatchObject({ ticket: 't1' });
    const position5 = await doc.send(
      new GetCommand({ TableName: tableName, Key: { pk: 'EVENT#e2', sk: 'POSITION#5' } }),
    );
    expect(position5.Item).toBeUndefined();
  });
});
