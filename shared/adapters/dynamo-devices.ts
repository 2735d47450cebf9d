/**
 * Push registrations in DynamoDB (layout: dynamo-table.ts): one partition per
 * event, sorted by position, so "who is near / admitted / still waiting" is a
 * range query on the sort key.
 */
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Milestone, Platform } from '#domain/push';
import type { DeviceRecord, DeviceStore } from '#ports/push';
import { DynamoTable, type Item, keys, num, RETENTION_SECONDS } from './dynamo-table.ts';

/** The item of one registration: the event's devices partition, sorted by position. */
function itemKey(device: DeviceRecord) {
  return { pk: keys.devicesPk(device.eventId), sk: keys.deviceSk(device.position, device.deviceKey) };
}

export class DynamoDeviceStore implements DeviceStore {
  readonly #t: DynamoTable;

  constructor(
    client: DynamoDBClient | DynamoTable,
    tableName = '',
    private readonly now: () => number = Date.now,
  ) {
    this.#t = client instanceof DynamoTable ? client : new DynamoTable(client, tableName);
  }

  async #conditional(run: () => Promise<unknown>): Promise<boolean> {
    try {
      await this.#t.send(run);
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async putDevice(device: DeviceRecord, nowSec: number) {
    const created = await this.#conditional(() =>
      this.#t.doc.send(
        new PutCommand({
          TableName: this.#t.name,
          Item: {
            ...itemKey(device),
            position: device.position,
            platform: device.platform,
            deviceToken: device.deviceToken,
            endpoint: device.endpoint,
            deviceKey: device.deviceKey,
            registeredAt: nowSec,
            ttl: nowSec + RETENTION_SECONDS,
          },
          // Registering again changes nothing: the milestones already sent stay recorded.
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    );
    if (!created) {
      // A device marked gone that registers again (reinstalled app, re-enabled endpoint) is
      // live again; one that is live stays untouched.
      await this.#conditional(() =>
        this.#t.doc.send(
          new UpdateCommand({
            TableName: this.#t.name,
            Key: itemKey(device),
            UpdateExpression: 'SET endpoint = :endpoint REMOVE goneAt',
            ConditionExpression: 'attribute_exists(goneAt)',
            ExpressionAttributeValues: { ':endpoint': device.endpoint },
          }),
        ),
      );
    }
    return { created };
  }

  async devicesInRange(eventId: string, lo: number, hi: number) {
    if (hi < lo) return [];
    const items = await this.#t.queryAll({
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
      ExpressionAttributeValues: {
        ':pk': keys.devicesPk(eventId),
        ':lo': keys.deviceSk(lo, ''),
        ':hi': keys.deviceSk(hi, '~'),
      },
      // A device registered a moment ago must be seen by the worker of the next tick.
      ConsistentRead: true,
      FilterExpression: 'attribute_not_exists(goneAt)',
    });
    return items.map((item) => toDevice(item, eventId));
  }

  async markGone(device: DeviceRecord, nowSec: number) {
    await this.#conditional(() =>
      this.#t.doc.send(
        new UpdateCommand({
          TableName: this.#t.name,
          Key: itemKey(device),
          UpdateExpression: 'SET goneAt = :now',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':now': nowSec },
        }),
      ),
    );
  }

  async markSent(device: DeviceRecord, milestone: Milestone) {
    // The condition makes each milestone go at most once per place and device, however
    // often ticks repeat or overlap.
    return this.#conditional(() =>
      this.#t.doc.send(
        new UpdateCommand({
          TableName: this.#t.name,
          Key: itemKey(device),
          UpdateExpression: 'SET #m = :now',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#m)',
          ExpressionAttributeNames: { '#m': `sent_${milestone}` },
          ExpressionAttributeValues: { ':now': Math.floor(this.now() / 1000) },
        }),
      ),
    );
  }

  async unmarkSent(device: DeviceRecord, milestone: Milestone) {
    await this.#conditional(() =>
      this.#t.doc.send(
        new UpdateCommand({
          TableName: this.#t.name,
          Key: itemKey(device),
          UpdateExpression: 'REMOVE #m',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#m': `sent_${milestone}` },
        }),
      ),
    );
  }

  async getExpiringCursor(eventId: string) {
    return num(await this.#t.get(keys.pushCursor(eventId)), 'expiringThrough');
  }

  async advanceExpiringCursor(eventId: string, from: number, to: number) {
    return this.#conditional(() =>
      this.#t.doc.send(
        new UpdateCommand({
          TableName: this.#t.name,
          Key: keys.pushCursor(eventId),
          UpdateExpression: 'SET expiringThrough = :to',
          ConditionExpression:
            from === 0
              ? 'attribute_not_exists(expiringThrough) OR expiringThrough = :from'
              : 'expiringThrough = :from',
          ExpressionAttributeValues: { ':from': from, ':to': to },
        }),
      ),
    );
  }

  async hasDevices(eventId: string) {
    const out = await this.#t.query({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.devicesPk(eventId) },
      Limit: 1,
      ConsistentRead: true,
    });
    return (out.Items?.length ?? 0) > 0;
  }
}

function toDevice(item: Item, eventId: string): DeviceRecord {
  return {
    eventId,
    position: num(item, 'position'),
    platform: item.platform as Platform,
    deviceToken: String(item.deviceToken),
    endpoint: String(item.endpoint),
    deviceKey: String(item.deviceKey),
  };
}
