/**
 * The DynamoDB layout, in one file. One table, `pk`/`sk` strings, TTL on `ttl`
 * (garbage collection only: nothing here waits for TTL to delete an item).
 *
 * | pk                          | sk                 | what                                           |
 * |-----------------------------|--------------------|------------------------------------------------|
 * | EVENT#{id}                  | META               | config, state, the admitter's versioned state  |
 * | EVENT#{id}#VIEW#{copy}      | VIEW               | sharded events: a published copy of META (`record`, its `version`/`configVersion`) and the tick's `line` snapshot, for the hot reads (decision 0010) |
 * | EVENT#{id}                  | COUNTER            | `issued` (the join counter), `closed`          |
 * | EVENT#{id}                  | COUNTS             | `claimed`, `completed`, `leftAdmitted` (before release stripes; still summed) |
 * | EVENT#{id}                  | ADM#{to:16}        | one admission batch: from, to, admitted, at, claimBy |
 * | EVENT#{id}                  | REL#{sec:10}       | slots to release at that second: missed (admission batches add here), expired |
 * | EVENT#{id}                  | SEAL               | `sealedThrough`: buckets at or below it are counted, frozen; `fencedThrough`: places at or below it can no longer leave as void |
 * | EVENT#{id}#REL#{stripe}     | {sec:10}           | a release stripe's bucket: what claims, completes and leaves moved (decision 0010) |
 * | EVENT#{id}#REL#{stripe}     | SEAL               | the stripe's `sealedThrough`, and its `claimed`, `completed`, `leftAdmitted` counts |
 * | EVENT#{id}                  | PUSHCURSOR         | how far the push milestones have been sent     |
 * | EVENT#{id}                  | FANOUT#{shard}     | fan-out cursor: newest `seq` sent to the shard, admissions it covered (from, to] |
 * | EVENT#{id}#USER#{userId}    | USER               | the user's position                            |
 * | EVENT#{id}#PLACE#{pos}      | SESSION            | the purchase session of a place                |
 * | EVENT#{id}#PLACE#{pos}      | LEFT               | the place was given up (`DELETE …/place`)      |
 * | EVENT#{id}#STRIPE#{s}       | STRIPE             | sharded intake stripe: `c{slice}` tickets per slice, `sealedThrough` |
 * | EVENT#{id}#INTAKE           | BELL               | `rung`: the highest slice a join rang for      |
 * | EVENT#{id}#SLICES           | {slice:10}         | a settled slice: final counts per stripe, held numbers before it |
 * | EVENT#{id}#SLICES#{c}       | {slice:10}         | copies 1–3 of the same: every Lambda environment reads each settled slice once (decision 0010) |
 * | EVENT#{id}#LEAVES#{block}   | {pos:16}           | a voided waiting place (the admitter skips it) |
 * | EVENT#{id}#LEAVES#{block}#{c} | {pos:16}         | copies 1–15 of the same, written in the same transaction: status reads any one (decision 0010) |
 * | EVENT#{id}#LINE             | LINE               | `b{block}`: leaves per block of positions, for `ahead` |
 * | EVENT#{id}#CONN#{shard}     | {connectionId}     | an open WebSocket connection (shard = hash of the id) |
 * | WSCONN#{connectionId}       | CONN               | which event, shard and place a connection is stored under; its message count per window |
 * | EVENT#{id}#PLACECONN#{pos}  | {connectionId}     | the open connections of one place (the per-place cap), with `connectedAtMs` |
 * | EVENT#{id}#DEVICES          | {pos:12}#{device}  | a push registration; range queries by position |
 * | ACTIVE_EVENTS               | {id}               | events the admitter ticks                      |
 * | RL#{key}#{windowStart}      | RL                 | join rate-limit window count                   |
 * | KEYRING                     | PUBLIC             | public half of the signing key ring (kids, public JWKs, active/next/retired), written by the key rotation only |
 *
 * Sharded intake (decision 0008) writes only stripe items (256 partitions) and, once
 * per stripe and slice, the bell; never META. Its hot reads (join, status, the public
 * document, WebSocket connects) go to one of 16 copies the admitter publishes every tick,
 * each cached per process for a second.
 * Claims, completes and leaves of admitted places (about one per admitted fan each) go
 * to one of 32 release stripes at random, each with its own seal and counts, so no item
 * takes more than a thirty-second of them (decision 0010); the admitter seals and sums all.
 * The join counter lives apart from META so that joins (non-transactional ADDs)
 * never collide with the transactions of claims and ticks. User, place and
 * connection items have partition keys of their own (or sharded ones) so a hot
 * event's writes spread out. KEYRING is a partition of its own so that IAM can
 * grant exactly it (`dynamodb:LeadingKeys`) to functions that may not read the rest.
 */
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

export const pad = (n: number, width: number) => String(n).padStart(width, '0');
export const keys = {
  eventPk: (id: string) => `EVENT#${id}`,
  batchSk: (to: number) => `ADM#${pad(to, 16)}`,
  bucketSk: (sec: number) => `REL#${pad(sec, 10)}`,
  releasePk: (id: string, stripe: number) => `EVENT#${id}#REL#${stripe}`,
  releaseSeal: (id: string, stripe: number) => ({ pk: `EVENT#${id}#REL#${stripe}`, sk: 'SEAL' }),
  releaseBucket: (id: string, stripe: number, sec: number) => ({
    pk: `EVENT#${id}#REL#${stripe}`,
    sk: pad(sec, 10),
  }),
  user: (id: string, userId: string) => ({ pk: `EVENT#${id}#USER#${userId}`, sk: 'USER' }),
  place: (id: string, pos: number) => ({ pk: `EVENT#${id}#PLACE#${pos}`, sk: 'SESSION' }),
  left: (id: string, pos: number) => ({ pk: `EVENT#${id}#PLACE#${pos}`, sk: 'LEFT' }),
  stripe: (id: string, stripe: number) => ({ pk: `EVENT#${id}#STRIPE#${stripe}`, sk: 'STRIPE' }),
  bell: (id: string) => ({ pk: `EVENT#${id}#INTAKE`, sk: 'BELL' }),
  /** Copy 0 is the one the admitter reads (and the only one of slices settled before copies). */
  slicesPk: (id: string, copy = 0) => (copy === 0 ? `EVENT#${id}#SLICES` : `EVENT#${id}#SLICES#${copy}`),
  sliceSk: (slice: number) => pad(slice, 10),
  /** Copy 0 is the one the admitter reads (and the only one events from before copies have). */
  leavesPk: (id: string, block: number, copy = 0) =>
    copy === 0 ? `EVENT#${id}#LEAVES#${block}` : `EVENT#${id}#LEAVES#${block}#${copy}`,
  leaveSk: (pos: number) => pad(pos, 16),
  line: (id: string) => ({ pk: `EVENT#${id}#LINE`, sk: 'LINE' }),
  meta: (id: string) => ({ pk: `EVENT#${id}`, sk: 'META' }),
  view: (id: string, copy: number) => ({ pk: `EVENT#${id}#VIEW#${copy}`, sk: 'VIEW' }),
  counter: (id: string) => ({ pk: `EVENT#${id}`, sk: 'COUNTER' }),
  counts: (id: string) => ({ pk: `EVENT#${id}`, sk: 'COUNTS' }),
  pushCursor: (id: string) => ({ pk: `EVENT#${id}`, sk: 'PUSHCURSOR' }),
  seal: (id: string) => ({ pk: `EVENT#${id}`, sk: 'SEAL' }),
  connectionPk: (id: string, shard: number) => `EVENT#${id}#CONN#${shard}`,
  connectionRef: (connectionId: string) => ({ pk: `WSCONN#${connectionId}`, sk: 'CONN' }),
  placeConnectionPk: (id: string, pos: number) => `EVENT#${id}#PLACECONN#${pos}`,
  placeConnection: (id: string, pos: number, connectionId: string) => ({
    pk: `EVENT#${id}#PLACECONN#${pos}`,
    sk: connectionId,
  }),
  fanoutCursor: (id: string, shard: number) => ({ pk: `EVENT#${id}`, sk: `FANOUT#${shard}` }),
  devicesPk: (id: string) => `EVENT#${id}#DEVICES`,
  deviceSk: (pos: number, device: string) => `${pad(pos, 16)}#${device}`,
  activePk: 'ACTIVE_EVENTS',
  rateLimit: (key: string, windowStart: number) => ({ pk: `RL#${key}#${windowStart}`, sk: 'RL' }),
  publicKeys: { pk: 'KEYRING', sk: 'PUBLIC' },
} as const;

/**
 * The partitions above as IAM `dynamodb:LeadingKeys` patterns (StringLike), so infra
 * grants each function only the partitions it touches. Event ids hold no `#` and user
 * ids no `#` either (shared/domain/user.ts), so a pattern never reaches another kind.
 */
export const partitionPatterns = {
  /** Every partition of an event: META and its neighbours, users, places, connections, devices. */
  events: 'EVENT#*',
  /** A place's own items (its session, its leave marker): `EVENT#{id}#PLACE#{pos}`. */
  places: 'EVENT#*#PLACE#*',
  connections: 'EVENT#*#CONN#*',
  placeConnections: 'EVENT#*#PLACECONN#*',
  connectionRefs: 'WSCONN#*',
  activeEvents: keys.activePk,
  rateLimits: 'RL#*',
  publicKeys: keys.publicKeys.pk,
} as const;

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
