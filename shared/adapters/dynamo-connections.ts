/**
 * Open WebSocket connections in DynamoDB (layout: dynamo-table.ts). Each event's
 * connections are spread over `shards` partition keys; a reference item by
 * connection id lets `$disconnect` and `$default`, which know only the id, find
 * the entry (and holds the connection's message counter); a per-place index
 * item lets `$connect` count the connections of a place. The fan-out cursor of
 * each shard sits with the event's own items.
 */
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { PlaceConnection } from '#domain/connection-limits';
import type { FanoutCursor } from '#domain/fanout-cursor';
import type { ConnectionPage, ConnectionRecord, ConnectionRegistry } from '#ports/realtime';
import { DynamoTable, type Item, keys, num, RETENTION_SECONDS } from './dynamo-table.ts';
import { CONNECTION_TTL_SECONDS, shardOf } from './shard.ts';

const PAGE = 1000;
/** Racing messages of one connection at a window boundary settle within a couple of tries. */
const COUNT_ATTEMPTS = 4;

function encodeCursor(key: Record<string, unknown> | undefined): string | undefined {
  return key ? Buffer.from(JSON.stringify(key)).toString('base64url') : undefined;
}

function decodeCursor(cursor: string | undefined): Item | undefined {
  return cursor ? (JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Item) : undefined;
}

export class DynamoConnectionRegistry implements ConnectionRegistry {
  readonly #t: DynamoTable;

  constructor(
    client: DynamoDBClient | DynamoTable,
    tableName: string,
    readonly shards = 16,
    private readonly now: () => number = Date.now,
  ) {
    this.#t = client instanceof DynamoTable ? client : new DynamoTable(client, tableName);
  }

  #nowSec(): number {
    return Math.floor(this.now() / 1000);
  }

  shardOf(connectionId: string): number {
    return shardOf(connectionId, this.shards);
  }

  async add(connection: ConnectionRecord, connectedAtMs = connection.connectedAt * 1000) {
    const shard = shardOf(connection.connectionId, this.shards);
    const ttl = connection.connectedAt + CONNECTION_TTL_SECONDS;
    // All three or none: a connection is never listed without its reference or its place
    // entry, so the connection cap and `$disconnect` always see what fan-out sees.
    await this.#t.transact([
      {
        Put: {
          TableName: this.#t.name,
          Item: {
            pk: keys.connectionPk(connection.eventId, shard),
            sk: connection.connectionId,
            position: connection.position,
            sub: connection.sub,
            connectedAt: connection.connectedAt,
            ttl,
          },
        },
      },
      {
        Put: {
          TableName: this.#t.name,
          Item: {
            ...keys.connectionRef(connection.connectionId),
            eventId: connection.eventId,
            shard,
            position: connection.position,
            ttl,
          },
        },
      },
      {
        Put: {
          TableName: this.#t.name,
          Item: {
            ...keys.placeConnection(connection.eventId, connection.position, connection.connectionId),
            connectedAtMs,
            ttl,
          },
        },
      },
    ]);
  }

  async remove(connectionId: string) {
    const ref = await this.#t.get(keys.connectionRef(connectionId));
    if (!ref) return undefined;
    const eventId = String(ref.eventId);
    const key = { pk: keys.connectionPk(eventId, num(ref, 'shard')), sk: connectionId };
    const item = await this.#t.get(key);
    // References written before the place index existed carry no position: the item has it.
    const position = typeof ref.position === 'number' ? ref.position : item ? num(item, 'position') : null;
    // Deleting what is already gone is fine: repeated disconnects, evictions and GoneException
    // cleanups race, and each deletes the same three items.
    await this.#t.transact([
      { Delete: { TableName: this.#t.name, Key: key } },
      { Delete: { TableName: this.#t.name, Key: keys.connectionRef(connectionId) } },
      ...(position === null
        ? []
        : [
            {
              Delete: {
                TableName: this.#t.name,
                Key: keys.placeConnection(eventId, position, connectionId),
              },
            },
          ]),
    ]);
    return item ? toRecord(item, eventId) : undefined;
  }

  async listShard(eventId: string, shard: number, cursor?: string): Promise<ConnectionPage> {
    const out = await this.#t.query({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.connectionPk(eventId, shard) },
      Limit: PAGE,
      ExclusiveStartKey: decodeCursor(cursor),
    });
    const nowSec = this.#nowSec();
    // TTL deletion lags; a connection past API Gateway's two-hour cap is dead whatever the table says.
    const items = (out.Items ?? [])
      .filter((item) => num(item, 'ttl') > nowSec)
      .map((item) => toRecord(item, eventId));
    const next = encodeCursor(out.LastEvaluatedKey);
    return next ? { items, next } : { items };
  }

  async listPlace(eventId: string, position: number): Promise<PlaceConnection[]> {
    // Consistent: a `$connect` must see every connection registered before it read.
    const items = await this.#t.queryAll({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.placeConnectionPk(eventId, position) },
      ConsistentRead: true,
    });
    const nowSec = this.#nowSec();
    return items
      .filter((item) => num(item, 'ttl') > nowSec)
      .map((item) => ({ connectionId: String(item.sk), connectedAtMs: num(item, 'connectedAtMs') }));
  }

  /**
   * One write per message within a window (`ADD` under the condition that the window is
   * still the one counted); the first message of a window pays a second write to start it.
   * A repeated call (a retried invocation) counts the message twice, which only ever errs
   * towards closing an abusive connection sooner.
   */
  async countMessage(connectionId: string, windowStartSec: number): Promise<number | null> {
    const key = keys.connectionRef(connectionId);
    let window = windowStartSec;
    for (let attempt = 0; attempt < COUNT_ATTEMPTS; attempt++) {
      try {
        const out = await this.#t.send(() =>
          this.#t.doc.send(
            new UpdateCommand({
              TableName: this.#t.name,
              Key: key,
              UpdateExpression: 'ADD msgCount :one',
              ConditionExpression: 'msgWindow = :window',
              ExpressionAttributeValues: { ':one': 1, ':window': window },
              ReturnValues: 'UPDATED_NEW',
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            }),
          ),
        );
        return num(out.Attributes, 'msgCount');
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        // No item: the connection is not registered (never was, or was evicted or forgotten).
        if (!error.Item) return null;
        const counted = Number(error.Item.msgWindow?.N ?? 0);
        // Another invocation's clock is ahead: count in its window rather than restart it.
        if (counted > window) {
          window = counted;
          continue;
        }
      }
      try {
        await this.#t.send(() =>
          this.#t.doc.send(
            new UpdateCommand({
              TableName: this.#t.name,
              Key: key,
              UpdateExpression: 'SET msgWindow = :window, msgCount = :one',
              // Only a registered connection, and only forwards: a racing message may have started it.
              ConditionExpression:
                'attribute_exists(pk) AND (attribute_not_exists(msgWindow) OR msgWindow < :window)',
              ExpressionAttributeValues: { ':one': 1, ':window': window },
            }),
          ),
        );
        return 1;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        // Someone started this window (or removed the connection) first: count again.
      }
    }
    throw new Error(`could not count a message of ${connectionId}: the window kept moving`);
  }

  async readFanoutCursor(eventId: string, shard: number): Promise<FanoutCursor | undefined> {
    const item = await this.#t.get(keys.fanoutCursor(eventId, shard));
    if (!item) return undefined;
    const cursor = { seq: num(item, 'seq'), from: num(item, 'from'), to: num(item, 'to') };
    return typeof item.acceptsThrough === 'number'
      ? { ...cursor, acceptsThrough: item.acceptsThrough }
      : cursor;
  }

  async advanceFanoutCursor(eventId: string, shard: number, expectedSeq: number, next: FanoutCursor) {
    try {
      await this.#t.send(() =>
        this.#t.doc.send(
          new PutCommand({
            TableName: this.#t.name,
            Item: {
              ...keys.fanoutCursor(eventId, shard),
              seq: next.seq,
              from: next.from,
              to: next.to,
              ...(next.acceptsThrough !== undefined && { acceptsThrough: next.acceptsThrough }),
              ttl: this.#nowSec() + RETENTION_SECONDS,
            },
            // Racing workers of one shard: exactly one moves the cursor from what it read;
            // the others re-read, and skip or resend.
            ConditionExpression: expectedSeq === 0 ? 'attribute_not_exists(pk)' : 'seq = :expected',
            ...(expectedSeq === 0 ? {} : { ExpressionAttributeValues: { ':expected': expectedSeq } }),
          }),
        ),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}

function toRecord(item: Item, eventId: string): ConnectionRecord {
  return {
    connectionId: String(item.sk),
    eventId,
    position: num(item, 'position'),
    sub: String(item.sub),
    connectedAt: num(item, 'connectedAt'),
  };
}
