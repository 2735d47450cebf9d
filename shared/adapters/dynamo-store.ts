/**
 * The DynamoDB layout, in one file. One table, `pk`/`sk` strings, TTL on `ttl`
 * (garbage collection only: nothing here waits for TTL to delete an item).
 *
 * | pk                          | sk            | what                                           |
 * |-----------------------------|---------------|------------------------------------------------|
 * | EVENT#{id}                  | META          | config, state, the admitter's versioned state  |
 * | EVENT#{id}                  | COUNTER       | `issued` (the join counter), `closed`          |
 * | EVENT#{id}                  | COUNTS        | `claimed`, `completed`                         |
 * | EVENT#{id}                  | ADM#{to:12}   | one admission batch: from, to, at, claimBy     |
 * | EVENT#{id}                  | REL#{sec:10}  | slots to release at that second: missed/expired, `sealed` |
 * | EVENT#{id}#USER#{userId}    | USER          | the user's position                            |
 * | EVENT#{id}#PLACE#{pos}      | SESSION       | the purchase session of a place                |
 * | ACTIVE_EVENTS               | {id}          | events the admitter ticks                      |
 * | RL#{key}#{windowStart}      | RL            | join rate-limit window count                   |
 *
 * The join counter lives apart from META so that joins (non-transactional ADDs)
 * never collide with the transactions of claims and ticks. User and place items
 * have their own partition keys so a hot event's writes spread out.
 */
import {
  ConditionalCheckFailedException,
  type CreateTableCommandInput,
  type DynamoDBClient,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { DueReleases } from '#domain/admission';
import { ConflictError, EventClosedError, EventNotFoundError, ServiceUnavailableError } from '#domain/errors';
import {
  type EventConfig,
  type EventRecord,
  type EventState,
  INITIAL_ADMITTER_STATE,
  newEventRecord,
  type TickRecord,
} from '#domain/event';
import type { AdmissionBatch, Session } from '#domain/place';
import type { ClaimResult, CompleteResult, EventCounters, QueueStore, TickCommit } from '#ports/queue-store';

/** The table this adapter expects (the CDK stack creates the same on AWS). */
export function tableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
  };
}

/** Items of an event outlive it by this long before TTL may collect them. */
const RETENTION_SECONDS = 30 * 24 * 3600;
const CONFLICT_RETRIES = 4;

const pad = (n: number, width: number) => String(n).padStart(width, '0');
const eventPk = (id: string) => `EVENT#${id}`;
const batchSk = (to: number) => `ADM#${pad(to, 12)}`;
const bucketSk = (sec: number) => `REL#${pad(sec, 10)}`;
const userKey = (id: string, userId: string) => ({ pk: `EVENT#${id}#USER#${userId}`, sk: 'USER' });
const placeKey = (id: string, pos: number) => ({ pk: `EVENT#${id}#PLACE#${pos}`, sk: 'SESSION' });
const metaKey = (id: string) => ({ pk: eventPk(id), sk: 'META' });
const counterKey = (id: string) => ({ pk: eventPk(id), sk: 'COUNTER' });
const countsKey = (id: string) => ({ pk: eventPk(id), sk: 'COUNTS' });
const ACTIVE_PK = 'ACTIVE_EVENTS';

const THROTTLE_ERRORS = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'InternalServerError',
  'ServiceUnavailable',
  'TransactionInProgressException',
]);

/** Cancellation reasons of a transaction that are not about its conditions. */
const RETRYABLE_CANCELLATIONS = new Set([
  'TransactionConflict',
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
  'RequestLimitExceeded',
]);

type Item = Record<string, unknown>;

function num(item: Item | undefined, key: string): number {
  const value = item?.[key];
  return typeof value === 'number' ? value : 0;
}

function toEventRecord(item: Item): EventRecord {
  const { pk: _pk, sk: _sk, ...fields } = item;
  return {
    ...INITIAL_ADMITTER_STATE,
    ...(fields as Partial<EventRecord>),
    eventId: String(item.eventId),
    recentTicks: (item.recentTicks as TickRecord[] | undefined) ?? [],
  } as EventRecord;
}

function toSession(item: Item, position: number): Session {
  return {
    position,
    sessionId: String(item.sessionId),
    sub: String(item.sub),
    claimedAt: num(item, 'claimedAt'),
    endsAt: num(item, 'endsAt'),
    claimBy: num(item, 'claimBy'),
    completedAt: typeof item.completedAt === 'number' ? item.completedAt : null,
  };
}

function cancellationCodes(error: unknown): (string | undefined)[] | undefined {
  if (error instanceof TransactionCanceledException)
    return (error.CancellationReasons ?? []).map((r) => r.Code);
  return undefined;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class DynamoQueueStore implements QueueStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(client: DynamoDBClient, tableName: string) {
    this.#doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.#table = tableName;
  }

  /** Every call goes through here so that throttling becomes a 503, never an AWS message. */
  async #send<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      const name = (error as { name?: string }).name ?? '';
      if (THROTTLE_ERRORS.has(name)) {
        throw new ServiceUnavailableError('throttled', 'The queue is busy; try again shortly.', 1, {
          cause: error,
        });
      }
      throw error;
    }
  }

  /**
   * A transaction that lost a race with another transaction on the same item is
   * cancelled whole; retrying it is safe because nothing of it was applied.
   */
  async #transact(input: TransactWriteCommandInput['TransactItems']): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#send(() => this.#doc.send(new TransactWriteCommand({ TransactItems: input })));
        return;
      } catch (error) {
        const codes = cancellationCodes(error);
        // A cancelled transaction wrote nothing: a conflict or a throttle is safe to retry,
        // and one that keeps happening is a 503 like any other throttle.
        const retryable =
          codes?.some((code) => code !== undefined && RETRYABLE_CANCELLATIONS.has(code)) &&
          !codes.includes('ConditionalCheckFailed');
        if (!retryable) throw error;
        if (attempt >= CONFLICT_RETRIES) {
          throw new ServiceUnavailableError('throttled', 'The queue is busy; try again shortly.', 1, {
            cause: error,
          });
        }
        await sleep(10 * 2 ** attempt + Math.random() * 20);
      }
    }
  }

  /** Every page of a query: the ranges queried here are small, but never silently cut. */
  async #queryAll(input: Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey'>): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const out = await this.#send(() =>
        this.#doc.send(new QueryCommand({ ...input, TableName: this.#table, ExclusiveStartKey: start })),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  async #get(key: Item, consistent = true): Promise<Item | undefined> {
    const out = await this.#send(() =>
      this.#doc.send(new GetCommand({ TableName: this.#table, Key: key, ConsistentRead: consistent })),
    );
    return out.Item;
  }

  async putEvent(eventId: string, config: EventConfig, nowSec: number) {
    const record = newEventRecord(eventId, config, nowSec);
    try {
      await this.#transact([
        {
          Put: {
            TableName: this.#table,
            Item: { ...metaKey(eventId), ...record },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        },
        { Put: { TableName: this.#table, Item: { ...counterKey(eventId), issued: 0, closed: false } } },
        { Put: { TableName: this.#table, Item: { ...countsKey(eventId), claimed: 0, completed: 0 } } },
        { Put: { TableName: this.#table, Item: { pk: ACTIVE_PK, sk: eventId } } },
      ]);
      return { event: record, created: true };
    } catch (error) {
      if (cancellationCodes(error)?.[0] !== 'ConditionalCheckFailed') throw error;
    }
    const out = await this.#send(() =>
      this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: metaKey(eventId),
          UpdateExpression: 'SET config = :config, updatedAt = :now',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':config': config, ':now': nowSec },
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return { event: toEventRecord(out.Attributes ?? {}), created: false };
  }

  async setEventState(eventId: string, state: EventState, nowSec: number) {
    const update = {
      TableName: this.#table,
      Key: metaKey(eventId),
      UpdateExpression: 'SET #state = :state, updatedAt = :now',
      ExpressionAttributeNames: { '#state': 'state' },
    };
    try {
      if (state === 'closed') {
        // Closing flips the join counter's flag in the same transaction, so no join slips in after.
        await this.#transact([
          {
            Update: {
              ...update,
              ConditionExpression: 'attribute_exists(pk)',
              ExpressionAttributeValues: { ':state': state, ':now': nowSec },
            },
          },
          {
            Update: {
              TableName: this.#table,
              Key: counterKey(eventId),
              UpdateExpression: 'SET closed = :true',
              ExpressionAttributeValues: { ':true': true },
            },
          },
        ]);
      } else {
        await this.#send(() =>
          this.#doc.send(
            new UpdateCommand({
              ...update,
              ConditionExpression: 'attribute_exists(pk) AND #state <> :closed',
              ExpressionAttributeValues: { ':state': state, ':now': nowSec, ':closed': 'closed' },
            }),
          ),
        );
      }
    } catch (error) {
      const failed =
        error instanceof ConditionalCheckFailedException ||
        cancellationCodes(error)?.[0] === 'ConditionalCheckFailed';
      if (!failed) throw error;
      const current = await this.getEvent(eventId);
      if (!current) throw new EventNotFoundError(eventId);
      throw new ConflictError('event_closed', 'A closed event cannot be reopened.');
    }
    const record = await this.getEvent(eventId, { consistent: true });
    if (!record) throw new EventNotFoundError(eventId);
    return record;
  }

  async getEvent(eventId: string, options?: { consistent?: boolean }) {
    const item = await this.#get(metaKey(eventId), options?.consistent ?? false);
    return item ? toEventRecord(item) : undefined;
  }

  async getCounters(eventId: string): Promise<EventCounters> {
    const [counter, counts] = await Promise.all([
      this.#get(counterKey(eventId)),
      this.#get(countsKey(eventId)),
    ]);
    return {
      issued: num(counter, 'issued'),
      claimed: num(counts, 'claimed'),
      completed: num(counts, 'completed'),
    };
  }

  async listActiveEventIds() {
    const items = await this.#queryAll({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': ACTIVE_PK },
    });
    return items.map((item) => String(item.sk));
  }

  async retireEvent(eventId: string) {
    await this.#send(() =>
      this.#doc.send(new DeleteCommand({ TableName: this.#table, Key: { pk: ACTIVE_PK, sk: eventId } })),
    );
  }

  async allocatePosition(eventId: string) {
    try {
      const out = await this.#send(() =>
        this.#doc.send(
          new UpdateCommand({
            TableName: this.#table,
            Key: counterKey(eventId),
            UpdateExpression: 'ADD issued :one',
            ConditionExpression: 'attribute_exists(pk) AND closed = :false',
            ExpressionAttributeValues: { ':one': 1, ':false': false },
            ReturnValues: 'UPDATED_NEW',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      );
      return num(out.Attributes, 'issued');
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      if (!error.Item) throw new EventNotFoundError(eventId);
      throw new EventClosedError();
    }
  }

  async findUserPosition(eventId: string, userId: string) {
    const item = await this.#get(userKey(eventId, userId));
    return item ? num(item, 'position') : undefined;
  }

  async bindUserPosition(eventId: string, userId: string, position: number, nowSec: number) {
    try {
      // Conditional: the first join of a user wins; a racing second join reads the winner's place.
      await this.#send(() =>
        this.#doc.send(
          new PutCommand({
            TableName: this.#table,
            Item: {
              ...userKey(eventId, userId),
              position,
              joinedAt: nowSec,
              ttl: nowSec + RETENTION_SECONDS,
            },
            ConditionExpression: 'attribute_not_exists(pk)',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      );
      return position;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // The failed write hands back the winner's item (raw attribute values).
      const winner = error.Item?.position?.N;
      if (winner !== undefined) return Number(winner);
      const read = await this.findUserPosition(eventId, userId);
      if (read === undefined) throw error;
      return read;
    }
  }

  async findBatch(eventId: string, position: number) {
    const out = await this.#send(() =>
      this.#doc.send(
        new QueryCommand({
          TableName: this.#table,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
          ExpressionAttributeValues: {
            ':pk': eventPk(eventId),
            ':lo': batchSk(position),
            ':hi': batchSk(999_999_999_999),
          },
          Limit: 1,
          ConsistentRead: true,
        }),
      ),
    );
    const item = out.Items?.[0];
    if (!item || num(item, 'from') >= position) return undefined;
    const batch: AdmissionBatch = {
      from: num(item, 'from'),
      to: num(item, 'to'),
      at: num(item, 'at'),
      claimBy: num(item, 'claimBy'),
    };
    return batch;
  }

  async getSession(eventId: string, position: number) {
    const item = await this.#get(placeKey(eventId, position));
    return item ? toSession(item, position) : undefined;
  }

  async claimSession(eventId: string, session: Session): Promise<ClaimResult> {
    const ttl = session.endsAt + RETENTION_SECONDS;
    const bucketUpdate = (sec: number, expression: string, values: Item, condition: string) => ({
      Update: {
        TableName: this.#table,
        Key: { pk: eventPk(eventId), sk: bucketSk(sec) },
        UpdateExpression: `${expression} SET #ttl = :ttl`,
        ConditionExpression: condition,
        ExpressionAttributeNames: { '#ttl': 'ttl' },
        ExpressionAttributeValues: { ...values, ':ttl': ttl },
      },
    });
    // The slot moves from the claim-deadline bucket to the session-end bucket; both
    // must still be unsealed, so the admitter either counts the claim or it fails.
    const moves =
      session.claimBy === session.endsAt
        ? [
            bucketUpdate(
              session.claimBy,
              'ADD missed :minus, expired :plus',
              { ':minus': -1, ':plus': 1 },
              'attribute_exists(pk) AND attribute_not_exists(sealed)',
            ),
          ]
        : [
            bucketUpdate(
              session.claimBy,
              'ADD missed :minus',
              { ':minus': -1 },
              'attribute_exists(pk) AND attribute_not_exists(sealed)',
            ),
            bucketUpdate(session.endsAt, 'ADD expired :plus', { ':plus': 1 }, 'attribute_not_exists(sealed)'),
          ];
    const { position: _position, completedAt: _completedAt, ...stored } = session;
    try {
      await this.#transact([
        {
          Put: {
            TableName: this.#table,
            Item: { ...placeKey(eventId, session.position), ...stored, ttl },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        },
        ...moves,
        {
          Update: {
            TableName: this.#table,
            Key: countsKey(eventId),
            UpdateExpression: 'ADD claimed :one',
            ExpressionAttributeValues: { ':one': 1 },
          },
        },
      ]);
      return { outcome: 'claimed', session };
    } catch (error) {
      const codes = cancellationCodes(error);
      if (!codes) throw error;
      if (codes[0] === 'ConditionalCheckFailed') {
        const existing = await this.getSession(eventId, session.position);
        if (existing) return { outcome: 'existing', session: existing };
      }
      if (codes.includes('ConditionalCheckFailed')) return { outcome: 'missed' };
      throw error;
    }
  }

  async completeSession(
    eventId: string,
    position: number,
    sessionId: string,
    nowSec: number,
  ): Promise<CompleteResult> {
    const session = await this.getSession(eventId, position);
    if (!session || session.sessionId !== sessionId || session.completedAt !== null) return 'already_ended';
    try {
      await this.#transact([
        {
          Update: {
            TableName: this.#table,
            Key: placeKey(eventId, position),
            UpdateExpression: 'SET completedAt = :now',
            ConditionExpression: 'sessionId = :sid AND attribute_not_exists(completedAt)',
            ExpressionAttributeValues: { ':now': nowSec, ':sid': sessionId },
          },
        },
        {
          // Unsealed: the admitter has not released this session's slot at its end yet.
          Update: {
            TableName: this.#table,
            Key: { pk: eventPk(eventId), sk: bucketSk(session.endsAt) },
            UpdateExpression: 'ADD expired :minus',
            ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(sealed)',
            ExpressionAttributeValues: { ':minus': -1 },
          },
        },
        {
          Update: {
            TableName: this.#table,
            Key: countsKey(eventId),
            UpdateExpression: 'ADD completed :one',
            ExpressionAttributeValues: { ':one': 1 },
          },
        },
      ]);
      return 'completed';
    } catch (error) {
      if (cancellationCodes(error)?.includes('ConditionalCheckFailed')) return 'already_ended';
      throw error;
    }
  }

  async sealReleases(eventId: string, afterSec: number, throughSec: number): Promise<DueReleases> {
    if (throughSec <= afterSec) return { missed: 0, expired: 0 };
    const items = await this.#queryAll({
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
      ExpressionAttributeValues: {
        ':pk': eventPk(eventId),
        ':lo': bucketSk(afterSec + 1),
        ':hi': bucketSk(throughSec),
      },
      ConsistentRead: true,
    });
    // Sealing freezes a bucket: every claim or complete that touches it is conditioned on
    // it being unsealed, so the values read back here are final and repeat identically.
    const sealed = await Promise.all(
      items.map(async (item) => {
        if (item.sealed) return item;
        const out = await this.#send(() =>
          this.#doc.send(
            new UpdateCommand({
              TableName: this.#table,
              Key: { pk: item.pk, sk: item.sk },
              UpdateExpression: 'SET sealed = :true',
              ExpressionAttributeValues: { ':true': true },
              ReturnValues: 'ALL_NEW',
            }),
          ),
        );
        return out.Attributes ?? item;
      }),
    );
    return sealed.reduce<DueReleases>(
      (sum, item) => ({
        missed: sum.missed + num(item, 'missed'),
        expired: sum.expired + num(item, 'expired'),
      }),
      { missed: 0, expired: 0 },
    );
  }

  async commitTick(eventId: string, expectedVersion: number, commit: TickCommit) {
    const { next } = commit;
    const metaUpdate = {
      TableName: this.#table,
      Key: metaKey(eventId),
      UpdateExpression:
        'SET version = :version, servingPosition = :serving, inUse = :inUse, releasedThrough = :released, ' +
        'rateCredit = :credit, lastTickAtMs = :lastTick, completedSeen = :completedSeen, missed = :missed, ' +
        'expired = :expired, recentTicks = :ticks, updatedAt = :updatedAt',
      // The version check makes a racing or repeated admitter's tick a no-op.
      ConditionExpression: 'version = :expected',
      ExpressionAttributeValues: {
        ':expected': expectedVersion,
        ':version': next.version,
        ':serving': next.servingPosition,
        ':inUse': next.inUse,
        ':released': next.releasedThrough,
        ':credit': next.rateCredit,
        ':lastTick': next.lastTickAtMs,
        ':completedSeen': next.completedSeen,
        ':missed': next.missed,
        ':expired': next.expired,
        ':ticks': next.recentTicks,
        ':updatedAt': commit.updatedAt,
      },
    };
    try {
      if (!commit.batch) {
        await this.#send(() => this.#doc.send(new UpdateCommand(metaUpdate)));
        return true;
      }
      const { batch } = commit;
      const ttl = batch.claimBy + RETENTION_SECONDS;
      await this.#transact([
        { Update: metaUpdate },
        {
          Put: {
            TableName: this.#table,
            Item: { pk: eventPk(eventId), sk: batchSk(batch.to), ...batch, ttl },
          },
        },
        {
          Update: {
            TableName: this.#table,
            Key: { pk: eventPk(eventId), sk: bucketSk(batch.claimBy) },
            UpdateExpression: 'ADD missed :n SET #ttl = :ttl',
            ExpressionAttributeNames: { '#ttl': 'ttl' },
            ExpressionAttributeValues: { ':n': batch.to - batch.from, ':ttl': ttl },
          },
        },
      ]);
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      if (cancellationCodes(error)?.[0] === 'ConditionalCheckFailed') return false;
      throw error;
    }
  }

  async hitRateLimit(key: string, windowStartSec: number, windowSeconds: number) {
    const out = await this.#send(() =>
      this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: `RL#${key}#${windowStartSec}`, sk: 'RL' },
          UpdateExpression: 'ADD hits :one SET #ttl = :ttl',
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ExpressionAttributeValues: { ':one': 1, ':ttl': windowStartSec + windowSeconds + 60 },
          ReturnValues: 'UPDATED_NEW',
        }),
      ),
    );
    return num(out.Attributes, 'hits');
  }
}
