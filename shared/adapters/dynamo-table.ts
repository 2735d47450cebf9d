/** The DynamoDB adapter; the table's key layout is documented in `table-keys.ts`. */
import {
  ConditionalCheckFailedException,
  type CreateTableCommandInput,
  DynamoDBClient,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ServiceUnavailableError } from '#domain/errors';

export { keys, pad, partitionPatterns } from './table-keys.ts';

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
export const RETENTION_SECONDS = 30 * 24 * 3600;
const CONFLICT_RETRIES = 4;

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

export type Item = Record<string, unknown>;

export function num(item: Item | undefined, key: string): number {
  const value = item?.[key];
  return typeof value === 'number' ? value : 0;
}

export function cancellationCodes(error: unknown): (string | undefined)[] | undefined {
  if (error instanceof TransactionCanceledException)
    return (error.CancellationReasons ?? []).map((r) => r.Code);
  return undefined;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** What the adapters use of a document client. The simulator (bench/simulate) passes its own. */
export type DocumentClient = Pick<DynamoDBDocumentClient, 'send'>;

export interface DynamoTableOptions {
  /** How retry backoff waits; the simulator passes its virtual clock's. @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** The table with the request helpers every DynamoDB adapter shares. */
export class DynamoTable {
  readonly doc: DocumentClient;
  readonly #sleep: (ms: number) => Promise<void>;

  /** `client`: a DynamoDB client (wrapped in a document client here) or a ready document client. */
  constructor(
    client: DynamoDBClient | DocumentClient,
    readonly name: string,
    options: DynamoTableOptions = {},
  ) {
    this.doc =
      client instanceof DynamoDBClient
        ? DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } })
        : client;
    this.#sleep = options.sleep ?? sleep;
  }

  /** Every call goes through here so that throttling becomes a 503, never an AWS message. */
  async send<T>(run: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await run();
      } catch (error) {
        const name = (error as { name?: string }).name ?? '';
        // A write that met a transaction in progress on its item wrote nothing: repeating it
        // is safe, and the transaction holds the item for milliseconds (the admitter's seal
        // and fence meet the claims' and leaves' condition checks this way).
        if (name === 'TransactionConflictException' && attempt < CONFLICT_RETRIES) {
          await this.#sleep(10 * 2 ** attempt + Math.random() * 20);
          continue;
        }
        if (THROTTLE_ERRORS.has(name) || name === 'TransactionConflictException') {
          throw new ServiceUnavailableError('throttled', 'The queue is busy; try again shortly.', 1, {
            cause: error,
          });
        }
        throw error;
      }
    }
  }

  /**
   * A transaction that lost a race with another transaction on the same item is
   * cancelled whole; retrying it is safe because nothing of it was applied.
   */
  async transact(input: TransactWriteCommandInput['TransactItems']): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.send(() => this.doc.send(new TransactWriteCommand({ TransactItems: input })));
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
        await this.#sleep(10 * 2 ** attempt + Math.random() * 20);
      }
    }
  }

  /** One page of a query. */
  async query(input: Omit<QueryCommandInput, 'TableName'>) {
    return this.send(() => this.doc.send(new QueryCommand({ ...input, TableName: this.name })));
  }

  /** Every page of a query: the ranges queried here are small, but never silently cut. */
  async queryAll(input: Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey'>): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const out = await this.query({ ...input, ExclusiveStartKey: start });
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  /**
   * Raises a number attribute of one item to `value` if it is below (or absent): a
   * watermark that never goes down, so repeating or racing it is harmless. False when
   * it already stood at or above `value`.
   */
  async raise(key: Item, attribute: string, value: number): Promise<boolean> {
    try {
      await this.send(() =>
        this.doc.send(
          new UpdateCommand({
            TableName: this.name,
            Key: key,
            UpdateExpression: 'SET #a = :v',
            ConditionExpression: 'attribute_not_exists(#a) OR #a < :v',
            ExpressionAttributeNames: { '#a': attribute },
            ExpressionAttributeValues: { ':v': value },
          }),
        ),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** Puts an item that must not exist yet; false (nothing written) when it does. */
  async putNew(item: Item): Promise<boolean> {
    try {
      await this.send(() =>
        this.doc.send(
          new PutCommand({
            TableName: this.name,
            Item: item,
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        ),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async get(key: Item, consistent = true): Promise<Item | undefined> {
    const out = await this.send(() =>
      this.doc.send(new GetCommand({ TableName: this.name, Key: key, ConsistentRead: consistent })),
    );
    return out.Item;
  }
}
