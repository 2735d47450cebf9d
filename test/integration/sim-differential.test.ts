/**
 * The simulator's DynamoDB against DynamoDB Local, request by request: the same sequence
 * of lib-dynamodb commands (expressions, conditions, return values, queries with paging,
 * transactions, batch reads) runs on both, and every answer or error must match. The
 * contract suite proves the adapter works on the simulator; this proves the expression
 * engine is faithful beyond what today's adapter happens to send.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { beforeAll, describe, expect, inject, test } from 'vitest';
import type { DocumentClient } from '#adapters/dynamo-table';
import { dynamoModelSchema, SimDynamoDB } from '../../bench/simulate/dynamodb.ts';
import { Random } from '../../bench/simulate/random.ts';
import { createTable, dynamoClient, uniqueTableName } from '../support/dynamodb-local.ts';

const endpoint = inject('ddbEndpoint');
const table = uniqueTableName('simdiff');
beforeAll(() => createTable(endpoint, table));

type Send = (command: object) => Promise<unknown>;

/** What a request's answer says, without metadata; an error by name and what it carries. */
async function observe(send: Send, command: object): Promise<unknown> {
  try {
    const out = (await send(command)) as Record<string, unknown>;
    const { $metadata: _m, ConsumedCapacity: _c, ...rest } = out;
    return { ok: rest };
  } catch (error) {
    const e = error as {
      name: string;
      Item?: Record<string, never>;
      CancellationReasons?: { Code?: string; Item?: Record<string, never> }[];
    };
    return {
      error: e.name,
      ...(e.Item ? { item: unmarshall(e.Item) } : {}),
      ...(e.CancellationReasons
        ? {
            reasons: e.CancellationReasons.map((r) => ({
              code: r.Code,
              ...(r.Item ? { item: unmarshall(r.Item) } : {}),
            })),
          }
        : {}),
    };
  }
}

let caseNumber = 0;

/** Runs `steps` on DynamoDB Local and on the simulator; each step's observation must agree. */
async function agree(steps: (pk: string) => object[]) {
  const pk = `case-${caseNumber++}`;
  const local = DynamoDBDocumentClient.from(dynamoClient(endpoint) as DynamoDBClient, {
    marshallOptions: { removeUndefinedValues: true },
  });
  const engine = new SimDynamoDB(table, dynamoModelSchema.parse({}), null, new Random(7));
  const sim: DocumentClient = engine.immediateClient();
  const commands = steps(pk);
  for (const [i, command] of commands.entries()) {
    const expected = await observe((c) => local.send(c as never), command);
    const actual = await observe((c) => sim.send(c as never), command);
    expect({ step: i, ...(actual as object) }).toEqual({ step: i, ...(expected as object) });
  }
}

const key = (pk: string, sk = 'A') => ({ pk, sk });

describe('simulated DynamoDB answers as DynamoDB Local does', () => {
  test('put, get, projection, conditional put with ALL_OLD', () =>
    agree((pk) => [
      new PutCommand({
        TableName: table,
        Item: { ...key(pk), n: 1, s: 'x', m: { a: [1, 2, { b: 'c' }] }, ok: true },
      }),
      new GetCommand({ TableName: table, Key: key(pk), ConsistentRead: true }),
      new GetCommand({
        TableName: table,
        Key: key(pk),
        ProjectionExpression: 'n, #m.a[2].b',
        ExpressionAttributeNames: { '#m': 'm' },
      }),
      new GetCommand({ TableName: table, Key: key(pk, 'missing') }),
      new PutCommand({
        TableName: table,
        Item: { ...key(pk), n: 2 },
        ConditionExpression: 'attribute_not_exists(pk)',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
      new PutCommand({ TableName: table, Item: { ...key(pk), n: 3 }, ReturnValues: 'ALL_OLD' }),
      new PutCommand({ TableName: table, Item: { ...key(pk, 'B'), n: 3 }, ReturnValues: 'ALL_OLD' }),
    ]));

  test('update: SET arithmetic, if_not_exists, list_append, nested paths, REMOVE, ADD, DELETE', () =>
    agree((pk) => [
      new UpdateCommand({
        TableName: table,
        Key: key(pk),
        UpdateExpression: 'SET c = if_not_exists(c, :zero) + :one, l = :l, m = :m',
        ExpressionAttributeValues: { ':zero': 0, ':one': 1, ':l': [1], ':m': { x: { y: 1 } } },
        ReturnValues: 'ALL_NEW',
      }),
      new UpdateCommand({
        TableName: table,
        Key: key(pk),
        UpdateExpression: 'SET c = c + :five, l = list_append(l, :more), m.x.z = :z, #d = :d',
        ExpressionAttributeNames: { '#d': 'c1234' },
        ExpressionAttributeValues: { ':five': 5, ':more': [2, 3], ':z': 'zed', ':d': 'dyn' },
        ReturnValues: 'UPDATED_NEW',
      }),
      new UpdateCommand({
        TableName: table,
        Key: key(pk),
        UpdateExpression: 'SET c = c - :two REMOVE l[0], m.x.y ADD tags :tags, #t :n',
        ExpressionAttributeNames: { '#t': 'total' },
        ExpressionAttributeValues: { ':two': 2, ':tags': new Set(['a', 'b']), ':n': 10 },
        ReturnValues: 'UPDATED_OLD',
      }),
      // `total` is a reserved word: only a #name may stand for it.
      new UpdateCommand({
        TableName: table,
        Key: key(pk),
        UpdateExpression: 'ADD total :n',
        ExpressionAttributeValues: { ':n': 1 },
      }),
      new UpdateCommand({
        TableName: table,
        Key: key(pk),
        UpdateExpression: 'ADD tags :more DELETE nums :gone',
        ExpressionAttributeValues: { ':more': new Set(['c']), ':gone': new Set([1]) },
        ReturnValues: 'ALL_NEW',
      }),
      new UpdateCommand({
        TableName: table,
        Key: key(pk),
        UpdateExpression: 'DELETE tags :all',
        ExpressionAttributeValues: { ':all': new Set(['a', 'b', 'c']) },
        ReturnValues: 'ALL_NEW',
      }),
      new UpdateCommand({
        TableName: table,
        Key: key(pk),
        UpdateExpression: 'SET missing = nothing + :one',
        ExpressionAttributeValues: { ':one': 1 },
      }),
      new UpdateCommand({
        TableName: table,
        Key: key(pk),
        UpdateExpression: 'SET no.such.parent = :one',
        ExpressionAttributeValues: { ':one': 1 },
      }),
      new UpdateCommand({
        TableName: table,
        Key: key(pk),
        UpdateExpression: 'SET m.x = :one, m.x.z = :one',
        ExpressionAttributeValues: { ':one': 1 },
      }),
      new UpdateCommand({
        TableName: table,
        Key: key(pk),
        UpdateExpression: 'SET sk = :one',
        ExpressionAttributeValues: { ':one': 'B' },
      }),
      new UpdateCommand({
        TableName: table,
        Key: key(pk),
        UpdateExpression: 'SET s = :one',
        ExpressionAttributeValues: { ':one': 'x', ':unused': 1 },
      }),
      new UpdateCommand({
        TableName: table,
        Key: key(pk),
        UpdateExpression: 'ADD s :one',
        ExpressionAttributeValues: { ':one': 'x' },
      }),
      new GetCommand({ TableName: table, Key: key(pk), ConsistentRead: true }),
      // An update of an item that does not exist creates it.
      new UpdateCommand({
        TableName: table,
        Key: key(pk, 'new'),
        UpdateExpression: 'ADD issued :one',
        ExpressionAttributeValues: { ':one': 1 },
        ReturnValues: 'UPDATED_NEW',
      }),
    ]));

  test('conditions: functions, comparisons, missing attributes, other types, AND/OR/NOT', () => {
    const attempt = (pk: string, expression: string, values?: Record<string, unknown>) =>
      new UpdateCommand({
        TableName: table,
        Key: key(pk),
        UpdateExpression: 'ADD hits :one',
        ConditionExpression: expression,
        ExpressionAttributeNames: expression.includes('#s') ? { '#s': 'state' } : undefined,
        ExpressionAttributeValues: { ':one': 1, ...values },
        ReturnValues: 'UPDATED_NEW',
      });
    return agree((pk) => [
      new PutCommand({
        TableName: table,
        Item: { ...key(pk), state: 'open', n: 5, s: 'prefix-x', l: [1, 2], closed: false },
      }),
      attempt(pk, 'attribute_exists(pk) AND closed = :false', { ':false': false }),
      attempt(pk, 'attribute_not_exists(pk) OR (attribute_not_exists(nope) AND n < :ten)', { ':ten': 10 }),
      attempt(pk, '#s <> :closed', { ':closed': 'closed' }),
      attempt(pk, 'nope <> :closed', { ':closed': 'closed' }),
      attempt(pk, 'nope = :closed', { ':closed': 'closed' }),
      attempt(pk, 'NOT nope = :closed', { ':closed': 'closed' }),
      attempt(pk, 'n < :s', { ':s': 'text' }),
      attempt(pk, 'n <> :s', { ':s': 'text' }),
      attempt(pk, 'n BETWEEN :lo AND :hi', { ':lo': 1, ':hi': 5 }),
      attempt(pk, 'n BETWEEN :lo AND :hi', { ':lo': 6, ':hi': 9 }),
      attempt(pk, '#s IN (:a, :b)', { ':a': 'paused', ':b': 'open' }),
      attempt(pk, 'begins_with(s, :p) AND size(l) = :two', { ':p': 'prefix', ':two': 2 }),
      attempt(pk, 'size(s) > :n AND contains(l, :one2)', { ':n': 3, ':one2': 2 }),
      attempt(pk, 'NOT (n >= :five) OR n <= :four', { ':five': 5, ':four': 4 }),
      attempt(pk, 'attribute_type(n, :t)', { ':t': 'N' }),
      attempt(pk, 'hits = :six', { ':six': 6 }),
      attempt(pk, 'n > :x', { ':x': 1, ':y': 2 }),
      attempt(pk, 'n > :undefined'),
    ]);
  });

  test('query: key conditions, order, Limit paging, filter, COUNT', () =>
    agree((pk) => {
      const puts = Array.from(
        { length: 7 },
        (_, i) =>
          new PutCommand({
            TableName: table,
            Item: { pk, sk: `ADM#${String(i * 10).padStart(4, '0')}`, v: i },
          }),
      );
      const q = (extra: Record<string, unknown>) =>
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
          ExpressionAttributeValues: { ':pk': pk, ':lo': 'ADM#0010', ':hi': 'ADM#0050' },
          ...extra,
        });
      return [
        ...puts,
        new PutCommand({ TableName: table, Item: { pk, sk: 'META', v: 99 } }),
        q({ ConsistentRead: true }),
        q({ Limit: 2 }),
        q({ Limit: 2, ExclusiveStartKey: { pk, sk: 'ADM#0020' } }),
        q({ Limit: 1, ExclusiveStartKey: { pk, sk: 'ADM#0040' } }),
        q({ Limit: 5 }),
        q({ ScanIndexForward: false, Limit: 3 }),
        q({ Select: 'COUNT' }),
        q({
          FilterExpression: 'v > :two',
          ExpressionAttributeValues: { ':pk': pk, ':lo': 'ADM#0010', ':hi': 'ADM#0050', ':two': 2 },
        }),
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
          ExpressionAttributeValues: { ':pk': pk, ':p': 'ADM#00' },
          ProjectionExpression: 'v',
        }),
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: 'pk = :pk AND sk >= :s',
          ExpressionAttributeValues: { ':pk': pk, ':s': 'ADM#0050' },
          Limit: 1,
        }),
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': `${pk}-none` },
        }),
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: 'sk = :s',
          ExpressionAttributeValues: { ':s': 'META' },
        }),
      ];
    }));

  test('transactions: commit, cancellation reasons, condition checks, one item twice', () =>
    agree((pk) => [
      new PutCommand({ TableName: table, Item: { ...key(pk, 'SEAL'), sealedThrough: 100 } }),
      new TransactWriteCommand({
        TransactItems: [
          {
            Put: {
              TableName: table,
              Item: { ...key(pk, 'P1'), a: 1 },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
          {
            Update: {
              TableName: table,
              Key: key(pk, 'COUNTS'),
              UpdateExpression: 'ADD claimed :one',
              ExpressionAttributeValues: { ':one': 1 },
            },
          },
          {
            ConditionCheck: {
              TableName: table,
              Key: key(pk, 'SEAL'),
              ConditionExpression: 'attribute_not_exists(sealedThrough) OR sealedThrough < :sec',
              ExpressionAttributeValues: { ':sec': 150 },
            },
          },
        ],
      }),
      new TransactWriteCommand({
        TransactItems: [
          {
            Put: {
              TableName: table,
              Item: { ...key(pk, 'P1'), a: 2 },
              ConditionExpression: 'attribute_not_exists(pk)',
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            },
          },
          {
            Update: {
              TableName: table,
              Key: key(pk, 'COUNTS'),
              UpdateExpression: 'ADD claimed :one',
              ExpressionAttributeValues: { ':one': 1 },
            },
          },
          {
            ConditionCheck: {
              TableName: table,
              Key: key(pk, 'SEAL'),
              ConditionExpression: 'sealedThrough < :sec',
              ExpressionAttributeValues: { ':sec': 50 },
            },
          },
        ],
      }),
      new GetCommand({ TableName: table, Key: key(pk, 'COUNTS'), ConsistentRead: true }),
      new TransactWriteCommand({
        TransactItems: [
          {
            Update: {
              TableName: table,
              Key: key(pk, 'COUNTS'),
              UpdateExpression: 'ADD claimed :one',
              ExpressionAttributeValues: { ':one': 1 },
            },
          },
          { Delete: { TableName: table, Key: key(pk, 'COUNTS') } },
        ],
      }),
      new DeleteCommand({
        TableName: table,
        Key: key(pk, 'P1'),
        ConditionExpression: 'a = :two',
        ExpressionAttributeValues: { ':two': 2 },
      }),
      new DeleteCommand({ TableName: table, Key: key(pk, 'P1'), ReturnValues: 'ALL_OLD' }),
      new BatchGetCommand({
        RequestItems: { [table]: { Keys: [key(pk, 'SEAL'), key(pk, 'COUNTS'), key(pk, 'P1')] } },
      }),
    ]));
});
