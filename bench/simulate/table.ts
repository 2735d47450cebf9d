/**
 * The simulated table's data and the semantics of every request, applied at one instant:
 * Get, Put, Update, Delete, Query, TransactWrite, TransactGet, BatchGet, BatchWrite, on
 * native JS values (the document client's view), with DynamoDB's condition, return-value
 * and paging rules and its capacity-unit arithmetic.
 *
 * A request is planned first (what it reads and writes, how many units each item costs),
 * then passed through `gate`, which may refuse it (a throttle: nothing is consumed) or
 * consume its units, and only then committed. A write whose condition fails still
 * consumes its units, as DynamoDB charges them.
 */
import {
  applyUpdate,
  evaluate,
  type Placeholders,
  parseCondition,
  parseProjection,
  parseUpdate,
  project,
  type Resolved,
  resolve,
  Usage,
  useCondition,
  useProjection,
  useUpdate,
} from './expressions.ts';
import { clone, compare, ExpressionError, type Item, itemSize, typeOf } from './values.ts';

export interface KeySchema {
  readonly hash: string;
  readonly range?: string;
}

export interface StoredItem {
  readonly item: Item;
  readonly size: number;
}

/** Items of one partition key, in sort-key order. */
export class Partition {
  readonly items = new Map<unknown, StoredItem>();
  /** Sort-key values, ascending; kept only while more than one item exists. */
  #sorted: unknown[] | null = null;

  constructor(readonly pk: string) {}

  sortedKeys(): unknown[] {
    if (this.items.size <= 1) return [...this.items.keys()];
    this.#sorted ??= [...this.items.keys()].sort((a, b) => compare(a, b) ?? 0);
    return this.#sorted;
  }

  set(sk: unknown, stored: StoredItem) {
    if (!this.items.has(sk) && this.#sorted) {
      const sorted = this.#sorted;
      let lo = 0;
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((compare(sorted[mid], sk) ?? 0) < 0) lo = mid + 1;
        else hi = mid;
      }
      sorted.splice(lo, 0, sk);
    }
    this.items.set(sk, stored);
  }

  delete(sk: unknown) {
    if (!this.items.delete(sk)) return;
    if (this.#sorted) {
      const i = this.#sorted.indexOf(sk);
      if (i >= 0) this.#sorted.splice(i, 1);
    }
  }
}

/** What a request does to one item, for the throughput model and the counters. */
export interface Touch {
  readonly partition: Partition;
  readonly sk: unknown;
  /** Capacity units of this request on this item (before the request's weight). */
  readonly readUnits: number;
  readonly writeUnits: number;
}

/** Refuses (throws a throttle) or consumes: called once per request, before it commits. */
export type Gate = (touches: readonly Touch[]) => void;

/**
 * A DynamoDB error as the service names it; the engine turns it into the SDK's exception
 * when it leaves. Not an Error: no stack trace is taken for the millions a flood makes.
 */
export class TableError {
  readonly name = 'TableError';
  constructor(
    readonly code:
      | 'ValidationException'
      | 'ConditionalCheckFailedException'
      | 'TransactionCanceledException'
      | 'TransactionConflictException'
      | 'ResourceNotFoundException',
    readonly message: string,
    readonly item?: Item,
    readonly reasons?: readonly { Code: string; Message?: string; Item?: Item }[],
  ) {}
}

const KB = 1024;
const MAX_ITEM_BYTES = 400 * KB;
const PAGE_BYTES = 1024 * KB;

export const writeUnits = (bytes: number) => Math.max(1, Math.ceil(bytes / KB));
export const readUnits = (bytes: number, consistent: boolean) =>
  Math.max(1, Math.ceil(bytes / (4 * KB))) * (consistent ? 1 : 0.5);

function validation(message: string): TableError {
  return new TableError('ValidationException', message);
}

/** Parses an expression, turning a syntax error into DynamoDB's ValidationException. */
function parsed<T>(parse: () => T, what: string): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof ExpressionError) throw validation(`Invalid ${what}: ${error.message}`);
    throw error;
  }
}

function guarded<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof ExpressionError) throw validation(error.message);
    throw error;
  }
}

export interface ExpressionInput {
  readonly ExpressionAttributeNames?: Record<string, string> | undefined;
  readonly ExpressionAttributeValues?: Record<string, unknown> | undefined;
}

function placeholders(input: ExpressionInput): Placeholders {
  if (input.ExpressionAttributeValues && Object.keys(input.ExpressionAttributeValues).length === 0)
    throw validation('ExpressionAttributeValues must not be empty');
  if (input.ExpressionAttributeNames && Object.keys(input.ExpressionAttributeNames).length === 0)
    throw validation('ExpressionAttributeNames must not be empty');
  return { names: input.ExpressionAttributeNames, values: input.ExpressionAttributeValues };
}

/** The condition of a write, parsed and checked for placeholder use. */
function condition(text: string | undefined, usage: Usage, p: Placeholders) {
  if (text === undefined) return undefined;
  const tree = parsed(() => parseCondition(text), 'ConditionExpression');
  guarded(() => useCondition(tree, usage, p));
  return tree;
}

export type ReturnValues = 'NONE' | 'ALL_OLD' | 'ALL_NEW' | 'UPDATED_OLD' | 'UPDATED_NEW';

/** The table: data plus request semantics. Knows nothing of time or throughput. */
export class TableData {
  readonly partitions = new Map<string, Partition>();

  constructor(
    readonly name: string,
    readonly keySchema: KeySchema,
  ) {}

  get keyNames(): string[] {
    return this.keySchema.range ? [this.keySchema.hash, this.keySchema.range] : [this.keySchema.hash];
  }

  /** The (partition key, sort key) of a key or item; a ValidationException when malformed. */
  keyOf(key: Item | undefined, fullItem = false): { pk: string; sk: unknown } {
    if (!key) throw validation('The provided key element does not match the schema');
    const pk = key[this.keySchema.hash];
    const sk = this.keySchema.range ? key[this.keySchema.range] : '';
    if (typeof pk !== 'string' || pk === '')
      throw validation(
        fullItem
          ? `One or more parameter values were invalid: Missing the key ${this.keySchema.hash} in the item`
          : 'The provided key element does not match the schema',
      );
    const skType = typeOf(sk);
    if (this.keySchema.range && skType !== 'S' && skType !== 'N' && skType !== 'B')
      throw validation('The provided key element does not match the schema');
    if (sk === '') throw validation('One or more parameter values are not valid. The sort key is empty');
    if (!fullItem && Object.keys(key).length !== this.keyNames.length)
      throw validation('The provided key element does not match the schema');
    return { pk, sk };
  }

  partition(pk: string): Partition {
    let partition = this.partitions.get(pk);
    if (!partition) {
      partition = new Partition(pk);
      this.partitions.set(pk, partition);
    }
    return partition;
  }

  lookup(pk: string, sk: unknown): StoredItem | undefined {
    return this.partitions.get(pk)?.items.get(sk);
  }

  store(partition: Partition, sk: unknown, item: Item | undefined) {
    if (item === undefined) {
      partition.delete(sk);
      if (partition.items.size === 0) this.partitions.delete(partition.pk);
      return;
    }
    const size = itemSize(item);
    if (size > MAX_ITEM_BYTES) throw validation('Item size has exceeded the maximum allowed size');
    partition.set(sk, { item, size });
    if (!this.partitions.has(partition.pk)) this.partitions.set(partition.pk, partition);
  }

  #checkTable(name: string | undefined) {
    if (name !== this.name) throw new TableError('ResourceNotFoundException', 'Requested resource not found');
  }

  // ----------------------------------------------------------------------------- reads

  get(
    input: {
      TableName?: string | undefined;
      Key?: Item | undefined;
      ConsistentRead?: boolean | undefined;
      ProjectionExpression?: string | undefined;
    } & ExpressionInput,
    gate: Gate,
  ): { Item?: Item } {
    this.#checkTable(input.TableName);
    const { pk, sk } = this.keyOf(input.Key);
    const p = placeholders(input);
    const usage = new Usage();
    const projection = this.#projection(input.ProjectionExpression, usage, p);
    guarded(() => usage.check(p));
    const stored = this.lookup(pk, sk);
    const consistent = input.ConsistentRead === true;
    gate([
      {
        partition: this.partition(pk),
        sk,
        readUnits: readUnits(stored?.size ?? 0, consistent),
        writeUnits: 0,
      },
    ]);
    if (!stored) return {};
    return { Item: projection ? (project(stored.item, projection) ?? {}) : clone(stored.item) };
  }

  #projection(text: string | undefined, usage: Usage, p: Placeholders): Resolved[] | undefined {
    if (text === undefined) return undefined;
    const paths = parsed(() => parseProjection(text), 'ProjectionExpression');
    guarded(() => useProjection(paths, usage, p));
    return paths.map((path) => resolve(path, p));
  }

  query(
    input: {
      TableName?: string | undefined;
      IndexName?: string | undefined;
      KeyConditionExpression?: string | undefined;
      FilterExpression?: string | undefined;
      ProjectionExpression?: string | undefined;
      Limit?: number | undefined;
      ScanIndexForward?: boolean | undefined;
      ExclusiveStartKey?: Item | undefined;
      ConsistentRead?: boolean | undefined;
      Select?: string | undefined;
    } & ExpressionInput,
    gate: Gate,
  ): { Items?: Item[]; Count: number; ScannedCount: number; LastEvaluatedKey?: Item } {
    this.#checkTable(input.TableName);
    if (input.IndexName) throw validation('The simulated table has no secondary indexes');
    if (input.KeyConditionExpression === undefined)
      throw validation('Either the KeyConditions or KeyConditionExpression parameter must be specified');
    const keyText = input.KeyConditionExpression;
    const p = placeholders(input);
    const usage = new Usage();
    const keyTree = parsed(() => parseCondition(keyText), 'KeyConditionExpression');
    guarded(() => useCondition(keyTree, usage, p));
    const filter = condition(input.FilterExpression, usage, p);
    const projection = this.#projection(input.ProjectionExpression, usage, p);
    guarded(() => usage.check(p));
    if (input.Limit !== undefined && (!Number.isInteger(input.Limit) || input.Limit < 1))
      throw validation('Limit must be a whole number of at least 1');
    const { pk, range } = this.#keyCondition(keyTree, p);
    const consistent = input.ConsistentRead === true;
    const partition = this.partitions.get(pk);
    const forward = input.ScanIndexForward !== false;
    let keys = partition ? partition.sortedKeys().filter(range) : [];
    if (!forward) keys = [...keys].reverse();
    if (input.ExclusiveStartKey) {
      const start = this.keyOf(input.ExclusiveStartKey);
      if (start.pk !== pk) throw validation('The provided starting key is invalid');
      keys = keys.filter((sk) => {
        const order = compare(sk, start.sk) ?? 0;
        return forward ? order > 0 : order < 0;
      });
    }
    const evaluated: StoredItem[] = [];
    let bytes = 0;
    let last: unknown;
    let cut = false;
    for (const sk of keys) {
      const stored = partition?.items.get(sk);
      if (!stored) continue;
      evaluated.push(stored);
      bytes += stored.size;
      last = sk;
      if ((input.Limit !== undefined && evaluated.length >= input.Limit) || bytes >= PAGE_BYTES) {
        // A key comes back only when items are left (as DynamoDB Local answers; AWS may
        // also return one for an empty last page, which callers must handle anyway).
        cut = evaluated.length < keys.length;
        break;
      }
    }
    gate([
      {
        partition: partition ?? this.partition(pk),
        sk: undefined,
        readUnits: readUnits(bytes, consistent),
        writeUnits: 0,
      },
    ]);
    const matched = filter ? evaluated.filter((s) => evaluate(filter, s.item, p)) : evaluated;
    const out: { Items?: Item[]; Count: number; ScannedCount: number; LastEvaluatedKey?: Item } = {
      Count: matched.length,
      ScannedCount: evaluated.length,
    };
    if (input.Select !== 'COUNT')
      out.Items = matched.map((s) => (projection ? (project(s.item, projection) ?? {}) : clone(s.item)));
    if (cut && last !== undefined) {
      const key: Item = { [this.keySchema.hash]: pk };
      if (this.keySchema.range) key[this.keySchema.range] = last;
      out.LastEvaluatedKey = key;
    }
    return out;
  }

  /** `pk = :v [AND sk <op> … | sk BETWEEN … | begins_with(sk, …)]`, as DynamoDB allows. */
  #keyCondition(
    tree: ReturnType<typeof parseCondition>,
    p: Placeholders,
  ): { pk: string; range: (sk: unknown) => boolean } {
    const parts = tree.k === 'and' ? [tree.a, tree.b] : [tree];
    let pk: string | undefined;
    let range: (sk: unknown) => boolean = () => true;
    const attribute = (operand: { k: string; path?: readonly unknown[] }) =>
      operand.k === 'path' && operand.path
        ? resolve(operand.path as Parameters<typeof resolve>[0], p).join('.')
        : undefined;
    const invalid = () => validation('Query key condition not supported');
    for (const part of parts) {
      if (part.k === 'cmp') {
        const name = attribute(part.a);
        const value = part.b.k === 'value' ? p.values?.[part.b.name] : undefined;
        if (name === this.keySchema.hash && part.op === '=') {
          if (typeof value !== 'string') throw invalid();
          pk = value;
        } else if (name === this.keySchema.range && part.op !== '<>') {
          const op = part.op;
          range = (sk) => {
            const order = compare(sk, value);
            if (order === undefined) return false;
            return op === '='
              ? order === 0
              : op === '<'
                ? order < 0
                : op === '<='
                  ? order <= 0
                  : op === '>'
                    ? order > 0
                    : order >= 0;
          };
        } else throw invalid();
      } else if (part.k === 'between' && attribute(part.a) === this.keySchema.range) {
        const lo = part.lo.k === 'value' ? p.values?.[part.lo.name] : undefined;
        const hi = part.hi.k === 'value' ? p.values?.[part.hi.name] : undefined;
        if ((compare(lo, hi) ?? 1) > 0)
          throw validation(
            'Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound',
          );
        range = (sk) => (compare(sk, lo) ?? -1) >= 0 && (compare(sk, hi) ?? 1) <= 0;
      } else if (part.k === 'begins_with' && attribute(part.a) === this.keySchema.range) {
        const prefix = part.prefix.k === 'value' ? p.values?.[part.prefix.name] : undefined;
        range = (sk) => typeof sk === 'string' && typeof prefix === 'string' && sk.startsWith(prefix);
      } else throw invalid();
    }
    if (pk === undefined)
      throw validation(`Query condition missed key schema element: ${this.keySchema.hash}`);
    return { pk, range };
  }

  // ----------------------------------------------------------------------------- writes

  /** One write (Put, Update, Delete, or the check of a transaction): planned, not yet stored. */
  #plan(kind: WriteKind, input: WriteInput, usage: Usage): WritePlan {
    this.#checkTable(input.TableName);
    const p = placeholders(input);
    const key = kind === 'Put' ? input.Item : input.Key;
    const { pk, sk } = this.keyOf(key, kind === 'Put');
    if (kind === 'ConditionCheck' && input.ConditionExpression === undefined)
      throw validation('ConditionCheck requires a ConditionExpression');
    const cond = condition(input.ConditionExpression, usage, p);
    const update =
      kind === 'Update' && input.UpdateExpression !== undefined
        ? parsed(() => parseUpdate(input.UpdateExpression as string), 'UpdateExpression')
        : undefined;
    if (kind === 'Update' && !update) throw validation('UpdateExpression is required');
    if (update) guarded(() => useUpdate(update, usage, p));
    const partition = this.partition(pk);
    const old = partition.items.get(sk);
    const passes = cond ? guarded(() => evaluate(cond, old?.item, p)) : true;
    let next: Item | undefined = old?.item;
    let paths: readonly Resolved[] = [];
    if (passes) {
      if (kind === 'Put') next = clone(input.Item as Item);
      else if (kind === 'Delete') next = undefined;
      else if (update && key) {
        const outcome = guarded(() => applyUpdate(update, old?.item, clone(key), p, this.keyNames));
        next = outcome.item;
        paths = outcome.paths;
      }
    }
    const nextSize = next ? itemSize(next) : 0;
    if (nextSize > MAX_ITEM_BYTES) throw validation('Item size has exceeded the maximum allowed size');
    return { partition, sk, old, next, passes, paths, p, nextSize };
  }

  #writeTouch(plan: WritePlan, kind: WriteKind, transactional: boolean): Touch {
    const factor = transactional ? 2 : 1;
    const bytes =
      kind === 'ConditionCheck' ? (plan.old?.size ?? 0) : Math.max(plan.old?.size ?? 0, plan.nextSize);
    return { partition: plan.partition, sk: plan.sk, readUnits: 0, writeUnits: factor * writeUnits(bytes) };
  }

  write(
    kind: 'Put' | 'Update' | 'Delete',
    input: WriteInput & { ReturnValues?: string | undefined; ReturnValuesOnConditionCheckFailure?: string },
    gate: Gate,
  ): { Attributes?: Item } {
    const usage = new Usage();
    const plan = this.#plan(kind, input, usage);
    guarded(() => usage.check(plan.p));
    const returns = (input.ReturnValues ?? 'NONE') as ReturnValues;
    const allowed: Record<string, readonly string[]> = {
      Put: ['NONE', 'ALL_OLD'],
      Delete: ['NONE', 'ALL_OLD'],
      Update: ['NONE', 'ALL_OLD', 'ALL_NEW', 'UPDATED_OLD', 'UPDATED_NEW'],
    };
    if (!allowed[kind]?.includes(returns))
      throw validation(`ReturnValues ${returns} is not valid for ${kind}`);
    gate([this.#writeTouch(plan, kind, false)]);
    if (!plan.passes) {
      throw new TableError(
        'ConditionalCheckFailedException',
        'The conditional request failed',
        input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' && plan.old
          ? clone(plan.old.item)
          : undefined,
      );
    }
    this.store(plan.partition, plan.sk, plan.next);
    const old = plan.old?.item;
    switch (returns) {
      case 'ALL_OLD':
        return old ? { Attributes: clone(old) } : {};
      case 'ALL_NEW':
        return plan.next ? { Attributes: clone(plan.next) } : {};
      // Whole top-level attributes, as DynamoDB answers for a nested path too.
      case 'UPDATED_OLD': {
        const attributes = project(old, topLevel(plan.paths));
        return attributes && Object.keys(attributes).length > 0 ? { Attributes: attributes } : {};
      }
      case 'UPDATED_NEW': {
        const attributes = project(plan.next, topLevel(plan.paths));
        return attributes && Object.keys(attributes).length > 0 ? { Attributes: attributes } : {};
      }
      default:
        return {};
    }
  }

  /** The keys a transaction touches, for the item locks held while it runs. */
  transactionKeys(items: readonly TransactWriteEntry[]): { partition: Partition; sk: unknown }[] {
    return items.map((entry) => {
      const [kind, input] = entryOf(entry);
      const { pk, sk } = this.keyOf(kind === 'Put' ? input.Item : input.Key, kind === 'Put');
      return { partition: this.partition(pk), sk };
    });
  }

  transactWrite(items: readonly TransactWriteEntry[] | undefined, gate: Gate): Record<string, never> {
    if (!items || items.length === 0 || items.length > 100)
      throw validation('TransactItems must hold 1 to 100 actions');
    const plans = items.map((entry) => {
      const [kind, input] = entryOf(entry);
      const usage = new Usage();
      const plan = this.#plan(kind, input, usage);
      guarded(() => usage.check(plan.p));
      return { kind, input, plan };
    });
    const seen = new Set<string>();
    for (const { plan } of plans) {
      const id = `${plan.partition.pk}\u0000${String(plan.sk)}`;
      if (seen.has(id))
        throw validation('Transaction request cannot include multiple operations on one item');
      seen.add(id);
    }
    gate(plans.map(({ kind, plan }) => this.#writeTouch(plan, kind, true)));
    if (plans.some(({ plan }) => !plan.passes)) {
      const reasons = plans.map(({ plan, input }) =>
        plan.passes
          ? { Code: 'None' }
          : {
              Code: 'ConditionalCheckFailed',
              Message: 'The conditional request failed',
              ...(input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' && plan.old
                ? { Item: clone(plan.old.item) }
                : {}),
            },
      );
      throw new TableError(
        'TransactionCanceledException',
        `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((r) => r.Code).join(', ')}]`,
        undefined,
        reasons,
      );
    }
    for (const { kind, plan } of plans)
      if (kind !== 'ConditionCheck') this.store(plan.partition, plan.sk, plan.next);
    return {};
  }

  transactGet(
    items:
      | readonly {
          Get?: { TableName?: string; Key?: Item; ProjectionExpression?: string } & ExpressionInput;
        }[]
      | undefined,
    gate: Gate,
  ): { Responses: { Item?: Item }[] } {
    if (!items || items.length === 0 || items.length > 100)
      throw validation('TransactItems must hold 1 to 100 actions');
    const reads = items.map((entry) => {
      const input = entry.Get;
      if (!input) throw validation('Each TransactGetItem needs a Get');
      this.#checkTable(input.TableName);
      const { pk, sk } = this.keyOf(input.Key);
      const p = placeholders(input);
      const usage = new Usage();
      const projection = this.#projection(input.ProjectionExpression, usage, p);
      guarded(() => usage.check(p));
      return { partition: this.partition(pk), sk, stored: this.lookup(pk, sk), projection };
    });
    gate(
      reads.map((r) => ({
        partition: r.partition,
        sk: r.sk,
        readUnits: 2 * readUnits(r.stored?.size ?? 0, true),
        writeUnits: 0,
      })),
    );
    return {
      Responses: reads.map((r) =>
        r.stored
          ? { Item: r.projection ? (project(r.stored.item, r.projection) ?? {}) : clone(r.stored.item) }
          : {},
      ),
    };
  }
}

const topLevel = (paths: readonly Resolved[]): Resolved[] => [
  ...new Map(paths.map((path) => [String(path[0]), path.slice(0, 1)])).values(),
];

type WriteKind = 'Put' | 'Update' | 'Delete' | 'ConditionCheck';

interface WritePlan {
  readonly partition: Partition;
  readonly sk: unknown;
  readonly old: StoredItem | undefined;
  /** The item after the write; undefined when it deletes (or nothing exists). */
  readonly next: Item | undefined;
  readonly passes: boolean;
  readonly paths: readonly Resolved[];
  readonly p: Placeholders;
  readonly nextSize: number;
}

export interface WriteInput extends ExpressionInput {
  readonly TableName?: string | undefined;
  readonly Key?: Item | undefined;
  readonly Item?: Item | undefined;
  readonly ConditionExpression?: string | undefined;
  readonly UpdateExpression?: string | undefined;
  readonly ReturnValuesOnConditionCheckFailure?: string | undefined;
}

export interface TransactWriteEntry {
  readonly Put?: WriteInput | undefined;
  readonly Update?: WriteInput | undefined;
  readonly Delete?: WriteInput | undefined;
  readonly ConditionCheck?: WriteInput | undefined;
}

function entryOf(entry: TransactWriteEntry): [WriteKind, WriteInput] {
  const kinds = (['Put', 'Update', 'Delete', 'ConditionCheck'] as const).filter(
    (k) => entry[k] !== undefined,
  );
  const kind = kinds[0];
  const input = kind ? entry[kind] : undefined;
  if (kinds.length !== 1 || !kind || !input)
    throw validation('Each TransactWriteItem needs exactly one of Put, Update, Delete, ConditionCheck');
  return [kind, input];
}
