/**
 * The simulated DynamoDB, at the document-client level: an object `DynamoTable` takes in
 * place of its `DynamoDBDocumentClient`, whose `send(command)` runs lib-dynamodb's
 * commands on native JS values (no marshalling, no signing, no HTTP) in virtual time.
 *
 * Per request it models what the real adapter would meet: a latency (single-digit ms,
 * transactions slower), the SDK's own CPU, the throughput limits of capacity.ts, the
 * item locks of transactions (a write to an item inside a running transaction fails with
 * TransactionConflictException; two transactions on one item cancel one with
 * `TransactionConflict`), and the SDK's standard retry of throttles (maxAttempts 3 as
 * shared/app/runtime.ts builds its client; full-jitter backoff on a 1 s base for
 * throttling errors, as the pinned @smithy/core retry strategy does). Errors are the
 * SDK's own exception classes, so the adapter's error handling runs as on AWS.
 */
import {
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  DynamoDBServiceException,
  ProvisionedThroughputExceededException,
  ResourceNotFoundException,
  ThrottlingException,
  TransactionCanceledException,
  TransactionConflictException,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactGetCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { LEAVE_COPIES, SLICE_COPIES, VIEW_COPIES } from '#adapters/dynamo-store';
import type { DocumentClient } from '#adapters/dynamo-table';
import {
  CapacityModel,
  ThrottledError,
  type ThrottleKind,
  type ThroughputLimits,
  throughputSchema,
} from './capacity.ts';
import { distributionSchema, type Random, sampler } from './random.ts';
import type { Scheduler } from './scheduler.ts';
import {
  type Gate,
  type Partition,
  TableData,
  TableError,
  type Touch,
  type TransactWriteEntry,
} from './table.ts';
import { type Item, marshall, unmarshall } from './values.ts';

export const dynamoModelSchema = z
  .object({
    /** Milliseconds from the request leaving the SDK to its answer, per kind of request. */
    latencyMs: z
      .object({
        read: distributionSchema.default({ type: 'lognormal', median: 3, p99: 9 }),
        write: distributionSchema.default({ type: 'lognormal', median: 4, p99: 12 }),
        query: distributionSchema.default({ type: 'lognormal', median: 4, p99: 12 }),
        transaction: distributionSchema.default({ type: 'lognormal', median: 12, p99: 35 }),
      })
      .strict()
      .default({
        read: { type: 'lognormal', median: 3, p99: 9 },
        write: { type: 'lognormal', median: 4, p99: 12 },
        query: { type: 'lognormal', median: 4, p99: 12 },
        transaction: { type: 'lognormal', median: 12, p99: 35 },
      }),
    /**
     * Share of a transaction's latency during which its items are locked (between its
     * prepare and its commit): another transaction on one of them is cancelled with
     * TransactionConflict, a plain write fails with TransactionConflictException. 0: off.
     */
    transactionLockShare: z.number().min(0).max(1).default(0.4),
    throughput: throughputSchema.default(throughputSchema.parse({})),
    /** The SDK client inside each Lambda: attempts per request and the CPU it spends per call. */
    sdk: z
      .object({
        maxAttempts: z.number().int().min(1).default(3),
        throttleBaseDelayMs: z.number().positive().default(1000),
        maxDelayMs: z.number().positive().default(20_000),
        /** Marshalling, signing and parsing per call, on the Lambda's CPU share. */
        cpuMsPerCall: distributionSchema.default(0.8),
      })
      .strict()
      .default({ maxAttempts: 3, throttleBaseDelayMs: 1000, maxDelayMs: 20_000, cpuMsPerCall: 0.8 }),
  })
  .strict();
export type DynamoModel = z.infer<typeof dynamoModelSchema>;

/** Who sends a request: what the counters attribute it to and how much it stands for. */
export interface CallContext {
  /** Real requests this one stands for (a sampled poller stands for many). */
  readonly weight: number;
  /** The Lambda function (or other caller) sending it. */
  readonly caller: string;
  /** Called when the request starts and when its promise settles: the scheduler's busy check. */
  started(): void;
  settled(): void;
}

export interface Counter {
  requests: number;
  readUnits: number;
  writeUnits: number;
  throttled: number;
}

const newCounter = (): Counter => ({ requests: 0, readUnits: 0, writeUnits: 0, throttled: 0 });

/** A pk or sk with its variable parts starred: `EVENT#*#USER#*`, `REL#*`, `META`. */
export function keyKind(key: unknown): string {
  if (typeof key !== 'string') return key === undefined ? '(range)' : typeof key;
  return key
    .split('#')
    .map((segment, i) => (i % 2 === 0 && /^[A-Z_]+$/.test(segment) ? segment : '*'))
    .join('#');
}

type Operation =
  | 'GetItem'
  | 'PutItem'
  | 'UpdateItem'
  | 'DeleteItem'
  | 'Query'
  | 'TransactWriteItems'
  | 'TransactGetItems'
  | 'BatchGetItem'
  | 'BatchWriteItem';

interface Command {
  readonly input: unknown;
}

function operationOf(command: Command): { op: Operation; marshalled: boolean } {
  if (command instanceof GetCommand) return { op: 'GetItem', marshalled: false };
  if (command instanceof PutCommand) return { op: 'PutItem', marshalled: false };
  if (command instanceof UpdateCommand) return { op: 'UpdateItem', marshalled: false };
  if (command instanceof DeleteCommand) return { op: 'DeleteItem', marshalled: false };
  if (command instanceof QueryCommand) return { op: 'Query', marshalled: false };
  if (command instanceof TransactWriteCommand) return { op: 'TransactWriteItems', marshalled: false };
  if (command instanceof TransactGetCommand) return { op: 'TransactGetItems', marshalled: false };
  if (command instanceof BatchGetCommand) return { op: 'BatchGetItem', marshalled: false };
  if (command instanceof BatchWriteCommand) return { op: 'BatchWriteItem', marshalled: false };
  if (command instanceof BatchGetItemCommand) return { op: 'BatchGetItem', marshalled: true };
  const name = (command as { constructor?: { name?: string } }).constructor?.name ?? 'unknown';
  throw new Error(`the simulated DynamoDB does not implement ${name}`);
}

const isRead = (op: Operation) => op === 'GetItem' || op === 'BatchGetItem' || op === 'TransactGetItems';

const metadata = (attempts: number) => ({ httpStatusCode: 400, attempts, totalRetryDelay: 0 });

/** The SDK exception DynamoDB's answer becomes. */
function sdkError(error: unknown, attempts: number): unknown {
  const $metadata = metadata(attempts);
  if (error instanceof ThrottledError) {
    const reason = `Table${error.direction === 'read' ? 'Read' : 'Write'}${
      error.kind === 'table' ? 'MaxOnDemandThroughputExceeded' : 'KeyRangeThroughputExceeded'
    }`;
    const throttlingReasons = [{ reason, resource: 'arn:aws:dynamodb:sim:000000000000:table/sim' }];
    return error.kind === 'table'
      ? new ThrottlingException({
          message: 'Throughput exceeds the maximum on-demand throughput of the table',
          $metadata,
          throttlingReasons,
        })
      : new ProvisionedThroughputExceededException({
          message:
            'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.',
          $metadata,
          ThrottlingReasons: throttlingReasons,
        });
  }
  if (error instanceof TableError) {
    switch (error.code) {
      case 'ConditionalCheckFailedException':
        return new ConditionalCheckFailedException({
          message: error.message,
          $metadata,
          ...(error.item ? { Item: marshall(error.item) as ConditionalCheckFailedException['Item'] } : {}),
        });
      case 'TransactionCanceledException':
        return new TransactionCanceledException({
          message: error.message,
          $metadata,
          CancellationReasons: (error.reasons ?? []).map((r) => ({
            Code: r.Code,
            ...(r.Message ? { Message: r.Message } : {}),
            ...(r.Item
              ? { Item: marshall(r.Item) as NonNullable<ConditionalCheckFailedException['Item']> }
              : {}),
          })),
        });
      case 'ResourceNotFoundException':
        return new ResourceNotFoundException({ message: error.message, $metadata });
      case 'TransactionConflictException':
        return new TransactionConflictException({ message: error.message, $metadata });
      default:
        return new DynamoDBServiceException({
          name: 'ValidationException',
          $fault: 'client',
          message: error.message,
          $metadata,
        });
    }
  }
  return error;
}

/** A transaction's item locks, held from its prepare to its commit. */
interface Lock {
  readonly id: number;
}

export class SimDynamoDB {
  readonly table: TableData;
  readonly capacity: CapacityModel;
  readonly byOperation = new Map<string, Counter>();
  readonly byPartitionKind = new Map<string, Counter>();
  readonly byCaller = new Map<string, Counter>();
  /** Per virtual second since start: consumed units and throttled requests. */
  readonly perSecond: { readUnits: number[]; writeUnits: number[]; throttled: number[] } = {
    readUnits: [],
    writeUnits: [],
    throttled: [],
  };
  readonly events = { conditionalFailures: 0, transactionConflicts: 0, cancellations: 0, sdkRetries: 0 };
  /** Where transactions collided: caller, request and item kind. */
  readonly conflictsByKind = new Map<string, number>();
  readonly #locks = new Map<Partition, Map<unknown, Lock>>();
  readonly #latency: Record<'read' | 'write' | 'query' | 'transaction', () => number>;
  readonly #sdkCpu: () => number;
  #nextLock = 1;
  readonly #startMs: number;

  constructor(
    tableName: string,
    readonly model: DynamoModel,
    readonly scheduler: Scheduler | null,
    readonly random: Random,
    startMs = 0,
  ) {
    this.table = new TableData(tableName, { hash: 'pk', range: 'sk' });
    this.#startMs = startMs;
    this.capacity = new CapacityModel(model.throughput);
    const latency = model.latencyMs;
    this.#latency = {
      read: sampler(latency.read, random),
      write: sampler(latency.write, random),
      query: sampler(latency.query, random),
      transaction: sampler(latency.transaction, random),
    };
    this.#sdkCpu = sampler(model.sdk.cpuMsPerCall, random);
  }

  get limits(): ThroughputLimits {
    return this.model.throughput;
  }

  #now(): number {
    return this.scheduler?.now() ?? this.#startMs;
  }

  /** A document client whose requests are attributed to `context()` at the time they are sent. */
  client(context: () => CallContext): DocumentClient {
    const send = (command: Command) => this.#send(command, context());
    // The SDK's `send` is generic over every command's input and output; this one returns
    // what DynamoDB would for the command it is given, so the cast is only at this boundary.
    return { send } as unknown as DocumentClient;
  }

  /**
   * A document client with no latency and no limits, applied at once (after a microtask,
   * so concurrent callers interleave): the contract suite runs on it without a scheduler.
   */
  immediateClient(counted = true): DocumentClient {
    const context = counted ? IMMEDIATE : UNCOUNTED;
    const send = async (command: Command) => {
      await Promise.resolve();
      const { op, marshalled } = operationOf(command);
      try {
        const out = this.#execute(
          op,
          marshalled ? unmarshallInput(op, command.input) : command.input,
          context,
        );
        return marshalled ? marshallOutput(op, out) : out;
      } catch (error) {
        throw sdkError(error, 1);
      }
    };
    return { send } as unknown as DocumentClient;
  }

  async #send(command: Command, context: CallContext): Promise<unknown> {
    const { op, marshalled } = operationOf(command);
    const input = marshalled ? unmarshallInput(op, command.input) : command.input;
    context.started();
    try {
      const { sdk } = this.model;
      for (let attempt = 1; ; attempt++) {
        try {
          const out = await this.#attempt(op, input, context);
          return marshalled ? marshallOutput(op, out) : out;
        } catch (error) {
          // The SDK retries throttles on its own; only the last failure becomes an exception.
          if (!(error instanceof ThrottledError) || attempt >= sdk.maxAttempts || !this.scheduler)
            throw sdkError(error, attempt);
          this.events.sdkRetries += context.weight;
          const ceiling = Math.min(sdk.throttleBaseDelayMs * 2 ** (attempt - 1), sdk.maxDelayMs);
          await this.scheduler.sleep(this.random.next() * ceiling);
        }
      }
    } finally {
      context.settled();
    }
  }

  /** One attempt: applied when sent (a transaction: locked from prepare to commit), answered after CPU + latency. */
  #attempt(op: Operation, input: unknown, context: CallContext): Promise<unknown> {
    const scheduler = this.scheduler;
    if (!scheduler) return Promise.resolve(this.#execute(op, input, context));
    const kind =
      op === 'TransactWriteItems' || op === 'TransactGetItems'
        ? 'transaction'
        : op === 'Query'
          ? 'query'
          : isRead(op)
            ? 'read'
            : 'write';
    const latency = this.#latency[kind]();
    const cpu = this.#sdkCpu();
    return new Promise((resolve, reject) => {
      const answer = (run: () => unknown, delay: number) => {
        let result: unknown;
        let failure: unknown;
        let failed = false;
        try {
          result = run();
        } catch (error) {
          failure = error;
          failed = true;
        }
        scheduler.after(delay, () => (failed ? reject(failure) : resolve(result)));
      };
      if (op !== 'TransactWriteItems' || this.model.transactionLockShare === 0) {
        // Takes effect as it is sent, answers after the SDK's CPU and the round trip: one
        // event per request instead of two (requests apply in the order they are sent).
        answer(() => this.#execute(op, input, context), cpu + latency);
        return;
      }
      // A transaction locks its items between prepare and commit.
      const lockMs = latency * this.model.transactionLockShare;
      const prepareAt = cpu + (latency - lockMs) / 2;
      scheduler.after(prepareAt, () => {
        const items = (input as { TransactItems?: TransactWriteEntry[] }).TransactItems ?? [];
        let keys: { partition: Partition; sk: unknown }[];
        try {
          keys = this.table.transactionKeys(items);
        } catch (error) {
          answer(() => {
            throw error;
          }, latency / 2);
          return;
        }
        const conflicts = keys.map(({ partition, sk }) => this.#locks.get(partition)?.get(sk) !== undefined);
        if (conflicts.some(Boolean)) {
          this.events.transactionConflicts += context.weight;
          for (const [i, conflicted] of conflicts.entries()) {
            const key = keys[i];
            if (!conflicted || !key) continue;
            const kind = `${context.caller}: TransactWriteItems ${keyKind(key.partition.pk)} ${keyKind(key.sk)}`;
            this.conflictsByKind.set(kind, (this.conflictsByKind.get(kind) ?? 0) + context.weight);
          }
          this.#count(op, [], context, 'cancelled');
          answer(() => {
            throw new TableError(
              'TransactionCanceledException',
              `Transaction cancelled, please refer cancellation reasons for specific reasons [${conflicts
                .map((c) => (c ? 'TransactionConflict' : 'None'))
                .join(', ')}]`,
              undefined,
              conflicts.map((c) =>
                c
                  ? { Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' }
                  : { Code: 'None' },
              ),
            );
          }, prepareAt);
          return;
        }
        const lock = { id: this.#nextLock++ };
        for (const { partition, sk } of keys) {
          let locks = this.#locks.get(partition);
          if (!locks) {
            locks = new Map();
            this.#locks.set(partition, locks);
          }
          locks.set(sk, lock);
        }
        scheduler.after(lockMs, () => {
          for (const { partition, sk } of keys) {
            const locks = this.#locks.get(partition);
            if (locks?.get(sk) === lock) {
              locks.delete(sk);
              if (locks.size === 0) this.#locks.delete(partition);
            }
          }
          answer(() => this.#execute(op, input, context), latency - prepareAt - lockMs + cpu);
        });
      });
    });
  }

  /** Applies one request now: the gate counts and throttles, the table decides. */
  #execute(
    op: Operation,
    input: unknown,
    context: Pick<CallContext, 'weight' | 'caller'> & { readonly uncounted?: true },
  ): unknown {
    const uncounted = 'uncounted' in context;
    const gate: Gate = (touches) => {
      if (uncounted) return;
      if (op === 'PutItem' || op === 'UpdateItem' || op === 'DeleteItem') {
        for (const { partition, sk } of touches)
          if (this.#locks.get(partition)?.has(sk)) {
            this.events.transactionConflicts += context.weight;
            const kind = `${context.caller}: ${op} ${keyKind(partition.pk)} ${keyKind(sk)}`;
            this.conflictsByKind.set(kind, (this.conflictsByKind.get(kind) ?? 0) + context.weight);
            throw new TableError('TransactionConflictException', 'Transaction is ongoing for the item');
          }
      }
      try {
        const copies =
          context.weight > 1 && (op === 'GetItem' || op === 'Query') ? this.#copies(touches) : null;
        if (copies) {
          // The fans a sampled request stands for would each pick a copy at random: their
          // load goes to every copy, and the copy the store picked decides the answer.
          const share = context.weight / copies.length;
          for (const copy of copies)
            if (copy !== touches)
              try {
                this.capacity.admit(copy, share, this.#now());
              } catch (error) {
                if (!(error instanceof ThrottledError)) throw error;
              }
          this.capacity.admit(touches, share, this.#now());
        } else this.capacity.admit(touches, context.weight, this.#now());
      } catch (error) {
        if (error instanceof ThrottledError) this.#count(op, touches, context, 'throttled', error.kind);
        throw error;
      }
      this.#count(op, touches, context, 'ok');
    };
    try {
      return this.#run(op, input, gate);
    } catch (error) {
      if (error instanceof TableError) {
        if (error.code === 'ConditionalCheckFailedException')
          this.events.conditionalFailures += context.weight;
        if (error.code === 'TransactionCanceledException') this.events.cancellations += context.weight;
      }
      throw error;
    }
  }

  #run(op: Operation, input: unknown, gate: Gate): unknown {
    const table = this.table;
    // The inputs are the commands' own typed inputs; TableData checks what it relies on.
    const any = input as Record<string, never>;
    switch (op) {
      case 'GetItem':
        return table.get(any, gate);
      case 'PutItem':
        return table.write('Put', any, gate);
      case 'UpdateItem':
        return table.write('Update', any, gate);
      case 'DeleteItem':
        return table.write('Delete', any, gate);
      case 'Query':
        return table.query(any, gate);
      case 'TransactWriteItems':
        return table.transactWrite((input as { TransactItems?: TransactWriteEntry[] }).TransactItems, gate);
      case 'TransactGetItems': {
        const items = (input as { TransactItems?: Parameters<TableData['transactGet']>[0] }).TransactItems;
        for (const entry of items ?? []) {
          const get = entry.Get;
          if (!get?.Key) continue;
          const { pk, sk } = table.keyOf(get.Key);
          if (this.#locks.get(table.partition(pk))?.has(sk))
            throw new TableError(
              'TransactionCanceledException',
              'Transaction cancelled [TransactionConflict]',
              undefined,
              [{ Code: 'TransactionConflict' }],
            );
        }
        return table.transactGet(items, gate);
      }
      case 'BatchGetItem':
        return this.#batchGet(input as BatchGetInput, gate);
      case 'BatchWriteItem':
        return this.#batchWrite(input as BatchWriteInput, gate);
    }
  }

  /** Up to 100 keys; each is its own read, and throttled ones come back as UnprocessedKeys. */
  #batchGet(input: BatchGetInput, gate: Gate) {
    const requests = Object.entries(input.RequestItems ?? {});
    const total = requests.reduce((n, [, r]) => n + (r.Keys?.length ?? 0), 0);
    if (total === 0 || total > 100)
      throw new TableError('ValidationException', 'Too many items requested for the BatchGetItem call');
    const Responses: Record<string, Item[]> = {};
    const UnprocessedKeys: Record<string, { Keys: Item[] } & Omit<BatchGetTableInput, 'Keys'>> = {};
    let throttled: unknown;
    let served = 0;
    for (const [TableName, request] of requests) {
      const { Keys, ...rest } = request;
      for (const Key of Keys ?? []) {
        try {
          const out = this.table.get({ TableName, Key, ...rest }, gate);
          served++;
          Responses[TableName] ??= [];
          if (out.Item) Responses[TableName].push(out.Item);
        } catch (error) {
          if (!(error instanceof ThrottledError)) throw error;
          throttled = error;
          UnprocessedKeys[TableName] ??= { ...rest, Keys: [] };
          UnprocessedKeys[TableName].Keys.push(Key);
        }
      }
    }
    // All of it throttled: the request fails as a whole, as DynamoDB answers it.
    if (served === 0 && throttled) throw throttled;
    return { Responses, UnprocessedKeys };
  }

  #batchWrite(input: BatchWriteInput, gate: Gate) {
    const requests = Object.entries(input.RequestItems ?? {});
    const total = requests.reduce((n, [, r]) => n + r.length, 0);
    if (total === 0 || total > 25)
      throw new TableError('ValidationException', 'Too many items requested for the BatchWriteItem call');
    const UnprocessedItems: Record<string, BatchWriteInput['RequestItems'][string]> = {};
    let throttled: unknown;
    let served = 0;
    for (const [TableName, writes] of requests) {
      for (const write of writes) {
        try {
          if (write.PutRequest) this.table.write('Put', { TableName, Item: write.PutRequest.Item }, gate);
          else if (write.DeleteRequest)
            this.table.write('Delete', { TableName, Key: write.DeleteRequest.Key }, gate);
          else
            throw new TableError('ValidationException', 'Each write needs a PutRequest or a DeleteRequest');
          served++;
        } catch (error) {
          if (!(error instanceof ThrottledError)) throw error;
          throttled = error;
          UnprocessedItems[TableName] ??= [];
          UnprocessedItems[TableName].push(write);
        }
      }
    }
    if (served === 0 && throttled) throw throttled;
    return { UnprocessedItems };
  }

  /**
   * The touches of every copy of a hot item the store reads one of at random (published
   * event copies, leave index copies, slice record copies; decision 0010), the given
   * touches among them; null for any other read.
   */
  #copies(touches: readonly Touch[]): (readonly Touch[])[] | null {
    const touch = touches[0];
    if (!touch || touches.length !== 1) return null;
    const pk = touch.partition.pk;
    let names: string[];
    const indexed = /^(EVENT#[^#]+#(?:LEAVES#\d+|SLICES))(?:#\d+)?$/.exec(pk)?.[1];
    const view = /^(EVENT#[^#]+#VIEW)#\d+$/.exec(pk)?.[1];
    if (indexed) {
      const count = indexed.endsWith('#SLICES') ? SLICE_COPIES : LEAVE_COPIES;
      names = Array.from({ length: count }, (_, c) => (c === 0 ? indexed : `${indexed}#${c}`));
    } else if (view) names = Array.from({ length: VIEW_COPIES }, (_, c) => `${view}#${c}`);
    else return null;
    const copies: (readonly Touch[])[] = [];
    for (const name of names) {
      if (name === pk) copies.push(touches);
      else {
        const partition = this.table.partitions.get(name);
        if (partition) copies.push([{ ...touch, partition }]);
      }
    }
    return copies.length > 1 ? copies : null;
  }

  #count(
    op: Operation,
    touches: readonly Touch[],
    context: Pick<CallContext, 'weight' | 'caller'>,
    outcome: 'ok' | 'throttled' | 'cancelled',
    _kind?: ThrottleKind,
  ) {
    const w = context.weight;
    let read = 0;
    let write = 0;
    for (const touch of touches) {
      read += touch.readUnits * w;
      write += touch.writeUnits * w;
    }
    const billed = outcome === 'ok';
    const add = (map: Map<string, Counter>, key: string, r: number, wr: number) => {
      let counter = map.get(key);
      if (!counter) {
        counter = newCounter();
        map.set(key, counter);
      }
      counter.requests += w;
      if (billed) {
        counter.readUnits += r;
        counter.writeUnits += wr;
      }
      if (outcome === 'throttled') counter.throttled += w;
    };
    add(this.byOperation, op, read, write);
    add(this.byCaller, context.caller, read, write);
    const kinds = new Map<string, { r: number; w: number }>();
    for (const touch of touches) {
      const kind = `${keyKind(touch.partition.pk)} ${keyKind(touch.sk)}`;
      const sum = kinds.get(kind) ?? { r: 0, w: 0 };
      sum.r += touch.readUnits * w;
      sum.w += touch.writeUnits * w;
      kinds.set(kind, sum);
    }
    for (const [kind, sum] of kinds) add(this.byPartitionKind, kind, sum.r, sum.w);
    const second = Math.floor((this.#now() - this.#startMs) / 1000);
    if (second >= 0) {
      const series = this.perSecond;
      if (billed) {
        series.readUnits[second] = (series.readUnits[second] ?? 0) + read;
        series.writeUnits[second] = (series.writeUnits[second] ?? 0) + write;
      }
      if (outcome === 'throttled') series.throttled[second] = (series.throttled[second] ?? 0) + w;
    }
  }
}

const IMMEDIATE = { weight: 1, caller: 'direct' } as const;
/** An audit after the run: it reads without counting or limits. */
const UNCOUNTED = { weight: 1, caller: 'audit', uncounted: true } as const;

interface BatchGetTableInput {
  readonly Keys?: Item[];
  readonly ConsistentRead?: boolean;
  readonly ProjectionExpression?: string;
  readonly ExpressionAttributeNames?: Record<string, string>;
}
interface BatchGetInput {
  readonly RequestItems?: Record<string, BatchGetTableInput>;
}
interface BatchWriteInput {
  readonly RequestItems: Record<string, { PutRequest?: { Item: Item }; DeleteRequest?: { Key: Item } }[]>;
}

/** The low-level BatchGetItem takes wire values: turn them into what the engine works on. */
function unmarshallInput(op: Operation, input: unknown): unknown {
  if (op !== 'BatchGetItem') return input;
  const requests =
    (input as { RequestItems?: Record<string, { Keys?: Record<string, unknown>[] }> }).RequestItems ?? {};
  return {
    RequestItems: Object.fromEntries(
      Object.entries(requests).map(([table, request]) => [
        table,
        { ...request, Keys: (request.Keys ?? []).map((key) => unmarshall(key)) },
      ]),
    ),
  };
}

function marshallOutput(op: Operation, output: unknown): unknown {
  if (op !== 'BatchGetItem') return output;
  const { Responses, UnprocessedKeys } = output as {
    Responses: Record<string, Item[]>;
    UnprocessedKeys: Record<string, { Keys: Item[] }>;
  };
  return {
    Responses: Object.fromEntries(Object.entries(Responses).map(([t, items]) => [t, items.map(marshall)])),
    UnprocessedKeys: Object.fromEntries(
      Object.entries(UnprocessedKeys).map(([t, r]) => [t, { ...r, Keys: r.Keys.map(marshall) }]),
    ),
  };
}
