/**
 * Open WebSocket connections in DynamoDB (layout: dynamo-table.ts). Each event's
 * connections are spread over `shards` partition keys; a reference item by
 * connection id lets `$disconnect`, which knows only the id, find its entry.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ConnectionPage, ConnectionRecord, ConnectionRegistry } from '#ports/realtime';
import { DynamoTable, type Item, keys, num } from './dynamo-table.ts';
import { CONNECTION_TTL_SECONDS, shardOf } from './shard.ts';

const PAGE = 1000;

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

  async add(connection: ConnectionRecord) {
    const shard = shardOf(connection.connectionId, this.shards);
    const ttl = connection.connectedAt + CONNECTION_TTL_SECONDS;
    // Both items or neither: a connection is never listed without its reference, nor the reverse.
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
          Item: { ...keys.connectionRef(connection.connectionId), eventId: connection.eventId, shard, ttl },
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
    // Deleting what is already gone is fine: repeated disconnects and GoneException cleanups race.
    await this.#t.transact([
      { Delete: { TableName: this.#t.name, Key: key } },
      { Delete: { TableName: this.#t.name, Key: keys.connectionRef(connectionId) } },
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
    const nowSec = Math.floor(this.now() / 1000);
    // TTL deletion lags; a connection past API Gateway's two-hour cap is dead whatever the table says.
    const items = (out.Items ?? [])
      .filter((item) => num(item, 'ttl') > nowSec)
      .map((item) => toRecord(item, eventId));
    const next = encodeCursor(out.LastEvaluatedKey);
    return next ? { items, next } : { items };
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
