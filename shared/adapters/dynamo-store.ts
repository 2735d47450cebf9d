/**
 * The queue store on DynamoDB (layout: shared/adapters/dynamo-table.ts).
 */
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { eachLimited } from '#app/pool';
import { ConflictError, EventClosedError, EventNotFoundError } from '#domain/errors';
import {
  type EventConfig,
  type EventRecord,
  type EventState,
  INITIAL_ADMITTER_STATE,
  type LineSnapshot,
  newEventRecord,
  type TickRecord,
} from '#domain/event';
import {
  CLOSED_SLICE,
  INTAKE_STRIPES,
  leaveBlockOf,
  type SliceRecord,
  STRIPE_ROWS_PER_SLICE,
} from '#domain/intake';
import type { AdmissionBatch, Session } from '#domain/place';
import type {
  ClaimResult,
  CompleteResult,
  EventCounters,
  LeaveAdmittedResult,
  LeaveWaitingResult,
  QueueStore,
  SealedReleases,
  TickCommit,
  TicketResult,
  UserSlot,
} from '#ports/queue-store';
import {
  cancellationCodes,
  DynamoTable,
  type Item,
  keys,
  num,
  pad,
  RETENTION_SECONDS,
} from './dynamo-table.ts';

function toEventRecord(item: Item): EventRecord {
  const { pk: _pk, sk: _sk, layout: _layout, ...fields } = item;
  const serving = num(item, 'servingPosition');
  const config = (item.config ?? {}) as Partial<EventRecord['config']>;
  return {
    ...INITIAL_ADMITTER_STATE,
    // Events written before config versions existed read as version 0; before void
    // numbers existed every number up to the serving position was a real, admitted place.
    configVersion: 0,
    admittedTotal: serving,
    heldThroughServing: serving,
    ...(fields as Partial<EventRecord>),
    // Events written before these fields existed: exact intake, no expected purchase time.
    config: {
      ...config,
      intake: config.intake ?? 'exact',
      expectedPurchaseSeconds: config.expectedPurchaseSeconds ?? null,
    } as EventRecord['config'],
    eventId: String(item.eventId),
    recentTicks: (item.recentTicks as TickRecord[] | undefined) ?? [],
  } as EventRecord;
}

function toBatch(item: Item): AdmissionBatch {
  const from = num(item, 'from');
  const to = num(item, 'to');
  // Batches written before void numbers existed admitted their whole span.
  const admitted = typeof item.admitted === 'number' ? item.admitted : to - from;
  return { from, to, admitted, at: num(item, 'at'), claimBy: num(item, 'claimBy') };
}

/** Stripe attribute holding a slice's ticket count: one top-level number per slice. */
const sliceAttr = (slice: number) => `c${slice}`;
/** Slices whose counters a seal drops at once; older leftovers go in a second write. */
const FORGET_WINDOW = 16;
/** Stripe writes the admitter has in flight at once. */
const STRIPE_CONCURRENCY = 32;
/**
 * Release stripes (decision 0010): each claim, complete or leave of an admitted place
 * moves its slot in one stripe picked at random, under that stripe's own seal.
 */
export const RELEASE_STRIPES = 32;
/**
 * An event's storage layout, fixed when it is created: 2 has release stripes and leave
 * copies (decision 0010). Events created before (no `layout`) keep the single seal, counts
 * and leave index of decisions 0001 and 0008 for their whole life, so code from before
 * and after this change never mix two ledgers for one event.
 */
const LAYOUT = 2;
const randomStripe = () => Math.floor(Math.random() * RELEASE_STRIPES);
/** Published copies of a sharded event (decision 0010): its hot reads spread over this many items. */
export const VIEW_COPIES = 16;
/** Copies of each leave's index entry: the fans of one block read their leaves from any one. */
export const LEAVE_COPIES = 16;
/** Copies of each settled slice's record: thousands of environments each read it once, at once. */
export const SLICE_COPIES = 4;
const allStripes = () => Array.from({ length: RELEASE_STRIPES }, (_, k) => k);

function sliceCounts(item: Item | undefined): Map<number, number> {
  const out = new Map<number, number>();
  for (const [name, value] of Object.entries(item ?? {}))
    if (/^c\d+$/.test(name) && typeof value === 'number') out.set(Number(name.slice(1)), value);
  return out;
}

function toSlice(item: Item): SliceRecord {
  const counts = Array.isArray(item.counts) ? item.counts.map((c) => (typeof c === 'number' ? c : 0)) : [];
  return { slice: num(item, 'slice'), counts, heldBefore: num(item, 'heldBefore') };
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

export class DynamoQueueStore implements QueueStore {
  readonly #t: DynamoTable;
  /** Each event's intake and layout as read once: neither ever changes. */
  readonly #intakes = new Map<string, EventConfig['intake']>();
  readonly #layouts = new Map<string, number>();

  constructor(client: DynamoDBClient | DynamoTable, tableName?: string) {
    this.#t = client instanceof DynamoTable ? client : new DynamoTable(client, tableName ?? '');
  }

  async putEvent(eventId: string, config: EventConfig, nowSec: number, expectedConfigVersion?: number) {
    if (expectedConfigVersion !== undefined)
      return this.#updateConfig(eventId, config, nowSec, expectedConfigVersion);
    const record = newEventRecord(eventId, config, nowSec);
    try {
      await this.#t.transact([
        {
          Put: {
            TableName: this.#t.name,
            Item: { ...keys.meta(eventId), ...record, layout: LAYOUT },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        },
        { Put: { TableName: this.#t.name, Item: { ...keys.counter(eventId), issued: 0, closed: false } } },
        { Put: { TableName: this.#t.name, Item: { ...keys.counts(eventId), claimed: 0, completed: 0 } } },
        { Put: { TableName: this.#t.name, Item: { pk: keys.activePk, sk: eventId } } },
      ]);
      return { event: record, created: true };
    } catch (error) {
      if (cancellationCodes(error)?.[0] !== 'ConditionalCheckFailed') throw error;
      return null; // It exists: the caller reads it and updates under its config version.
    }
  }

  async #updateConfig(eventId: string, config: EventConfig, nowSec: number, expected: number) {
    try {
      const out = await this.#t.send(() =>
        this.#t.doc.send(
          new UpdateCommand({
            TableName: this.#t.name,
            Key: keys.meta(eventId),
            UpdateExpression: 'SET config = :config, updatedAt = :now, configVersion = :next',
            // Read-merge-write is safe only if nobody wrote in between: the version says so.
            ConditionExpression:
              expected === 0
                ? 'attribute_exists(pk) AND (attribute_not_exists(configVersion) OR configVersion = :expected)'
                : 'configVersion = :expected',
            ExpressionAttributeValues: {
              ':config': config,
              ':now': nowSec,
              ':expected': expected,
              ':next': expected + 1,
            },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      );
      return { event: toEventRecord(out.Attributes ?? {}), created: false };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return null;
      throw error;
    }
  }

  async setEventState(eventId: string, state: EventState, nowSec: number) {
    const update = {
      TableName: this.#t.name,
      Key: keys.meta(eventId),
      // The version moves too: a tick planned before this change must not commit after it.
      UpdateExpression: 'SET #state = :state, updatedAt = :now ADD version :one',
      ExpressionAttributeNames: { '#state': 'state' },
    };
    try {
      if (state === 'closed') {
        // Closing flips the join counter's flag in the same transaction, so no join slips in after.
        await this.#t.transact([
          {
            Update: {
              ...update,
              ConditionExpression: 'attribute_exists(pk)',
              ExpressionAttributeValues: { ':state': state, ':now': nowSec, ':one': 1 },
            },
          },
          {
            Update: {
              TableName: this.#t.name,
              Key: keys.counter(eventId),
              UpdateExpression: 'SET closed = :true',
              ExpressionAttributeValues: { ':true': true },
            },
          },
        ]);
      } else {
        await this.#t.send(() =>
          this.#t.doc.send(
            new UpdateCommand({
              ...update,
              ConditionExpression: 'attribute_exists(pk) AND #state <> :closed',
              ExpressionAttributeValues: { ':state': state, ':now': nowSec, ':closed': 'closed', ':one': 1 },
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
    if (state === 'closed' && record.config.intake === 'sharded') await this.#closeStripes(eventId);
    return record;
  }

  /** No stripe takes a ticket any more; the counts stay for the admitter to settle. Safe to repeat. */
  async #closeStripes(eventId: string) {
    const stripes = Array.from({ length: INTAKE_STRIPES }, (_, s) => s);
    await eachLimited(stripes, STRIPE_CONCURRENCY, async (stripe) => {
      await this.#t.send(() =>
        this.#t.doc.send(
          new UpdateCommand({
            TableName: this.#t.name,
            Key: keys.stripe(eventId, stripe),
            UpdateExpression: 'SET sealedThrough = :closed',
            ExpressionAttributeValues: { ':closed': CLOSED_SLICE },
          }),
        ),
      );
    });
  }

  async getEvent(eventId: string, options?: { consistent?: boolean }) {
    const consistent = options?.consistent ?? false;
    // A new process tries a copy first: only sharded events have them, so a miss costs an
    // exact event one read per process, and a sharded one never sends the crowd to META.
    if (!consistent && this.#intakes.get(eventId) !== 'exact') {
      const copy = await this.#t.get(keys.view(eventId, Math.floor(Math.random() * VIEW_COPIES)), false);
      // None before the event's first tick (or its creation's publish): META then.
      if (copy && typeof copy.record === 'object' && copy.record !== null) {
        const record = toEventRecord(copy.record as Item);
        this.#remember(eventId, copy.record as Item);
        return copy.line ? { ...record, line: copy.line as LineSnapshot } : record;
      }
    }
    const item = await this.#t.get(keys.meta(eventId), consistent);
    if (!item) return undefined;
    this.#remember(eventId, item);
    return toEventRecord(item);
  }

  #remember(eventId: string, item: Item) {
    if (this.#intakes.size >= 4096) {
      this.#intakes.clear();
      this.#layouts.clear();
    }
    const config = (item.config ?? {}) as Partial<EventConfig>;
    this.#intakes.set(eventId, config.intake ?? 'exact');
    this.#layouts.set(eventId, num(item, 'layout') || 1);
  }

  /** Whether the event has release stripes and leave copies (its `layout`, read once). */
  async #striped(eventId: string): Promise<boolean> {
    let layout = this.#layouts.get(eventId);
    if (layout === undefined) {
      const item = await this.#t.get(keys.meta(eventId), false);
      if (!item) return true;
      this.#remember(eventId, item);
      layout = this.#layouts.get(eventId) ?? 1;
    }
    return layout >= LAYOUT;
  }

  async publishView(eventId: string, line?: LineSnapshot) {
    const item = await this.#t.get(keys.meta(eventId), true);
    if (!item) return;
    const record = toEventRecord(item);
    this.#remember(eventId, item);
    if (record.config.intake !== 'sharded') return;
    const { pk: _pk, sk: _sk, ...fields } = item;
    // A line taken at another serving position (a racing tick moved it since) is left out.
    if (line && line.servingPosition !== record.servingPosition) line = undefined;
    const copies = Array.from({ length: VIEW_COPIES }, (_, c) => c);
    await eachLimited(copies, VIEW_COPIES, async (copy) => {
      try {
        await this.#t.send(() =>
          this.#t.doc.send(
            new UpdateCommand({
              TableName: this.#t.name,
              Key: keys.view(eventId, copy),
              UpdateExpression: `SET #record = :record, version = :v, configVersion = :cv, #ttl = :ttl${line ? ', line = :line' : ''}`,
              // Never older: a slower publish of an earlier state leaves the newer copy alone.
              ConditionExpression:
                'attribute_not_exists(version) OR version < :v OR (version = :v AND configVersion <= :cv)',
              ExpressionAttributeNames: { '#record': 'record', '#ttl': 'ttl' },
              ExpressionAttributeValues: {
                ':record': fields,
                ':v': record.version,
                ':cv': record.configVersion,
                ':ttl': Math.floor(Date.now() / 1000) + RETENTION_SECONDS,
                ...(line ? { ':line': line } : {}),
              },
            }),
          ),
        );
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    });
  }

  async getCounters(eventId: string): Promise<EventCounters> {
    const [counter, counts, stripes] = await Promise.all([
      this.#t.get(keys.counter(eventId)),
      this.#t.get(keys.counts(eventId)),
      this.#striped(eventId).then((striped) =>
        Promise.all((striped ? allStripes() : []).map((k) => this.#t.get(keys.releaseSeal(eventId, k)))),
      ),
    ]);
    // Each count only grows in every item, so the sum read after a tick's is never lower.
    const sum = (name: string) => stripes.reduce((total, item) => total + num(item, name), num(counts, name));
    return {
      issued: num(counter, 'issued'),
      claimed: sum('claimed'),
      completed: sum('completed'),
      leftAdmitted: sum('leftAdmitted'),
    };
  }

  async getIssued(eventId: string) {
    return num(await this.#t.get(keys.counter(eventId)), 'issued');
  }

  async listActiveEventIds() {
    const items = await this.#t.queryAll({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.activePk },
    });
    return items.map((item) => String(item.sk));
  }

  async retireEvent(eventId: string) {
    await this.#t.send(() =>
      this.#t.doc.send(
        new DeleteCommand({ TableName: this.#t.name, Key: { pk: keys.activePk, sk: eventId } }),
      ),
    );
  }

  async allocatePosition(eventId: string) {
    try {
      const out = await this.#t.send(() =>
        this.#t.doc.send(
          new UpdateCommand({
            TableName: this.#t.name,
            Key: keys.counter(eventId),
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

  async getUserSlot(eventId: string, userId: string): Promise<UserSlot | undefined> {
    const item = await this.#t.get(keys.user(eventId, userId));
    if (!item) return undefined;
    return typeof item.position === 'number'
      ? { position: item.position }
      : { reservedAt: num(item, 'reservedAt') };
  }

  async reserveUser(eventId: string, userId: string, nowSec: number, staleBeforeSec: number) {
    try {
      await this.#t.send(() =>
        this.#t.doc.send(
          new PutCommand({
            TableName: this.#t.name,
            Item: { ...keys.user(eventId, userId), reservedAt: nowSec, ttl: nowSec + RETENTION_SECONDS },
            // First join wins; a reservation whose join died long ago may be taken over.
            ConditionExpression:
              'attribute_not_exists(pk) OR (attribute_not_exists(#position) AND reservedAt < :stale)',
            ExpressionAttributeNames: { '#position': 'position' },
            ExpressionAttributeValues: { ':stale': staleBeforeSec },
          }),
        ),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async bindUser(eventId: string, userId: string, position: number, reservedAt: number) {
    try {
      await this.#t.send(() =>
        this.#t.doc.send(
          new UpdateCommand({
            TableName: this.#t.name,
            Key: keys.user(eventId, userId),
            UpdateExpression: 'SET #position = :position REMOVE reservedAt',
            // Only over this join's own reservation: a takeover's is later by the stale age.
            ConditionExpression: 'attribute_not_exists(#position) AND reservedAt = :reservedAt',
            ExpressionAttributeNames: { '#position': 'position' },
            ExpressionAttributeValues: { ':position': position, ':reservedAt': reservedAt },
          }),
        ),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async releaseUser(eventId: string, userId: string, reservedAt: number) {
    try {
      await this.#t.send(() =>
        this.#t.doc.send(
          new DeleteCommand({
            TableName: this.#t.name,
            Key: keys.user(eventId, userId),
            // Only the join's own reservation: one taken over belongs to a later join.
            ConditionExpression: 'attribute_not_exists(#position) AND reservedAt = :reservedAt',
            ExpressionAttributeNames: { '#position': 'position' },
            ExpressionAttributeValues: { ':reservedAt': reservedAt },
          }),
        ),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  async batchesAfter(eventId: string, afterTo: number, limit: number) {
    const out = await this.#t.query({
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
      ExpressionAttributeValues: {
        ':pk': keys.eventPk(eventId),
        ':lo': keys.batchSk(afterTo + 1),
        ':hi': keys.batchSk(Number.MAX_SAFE_INTEGER),
      },
      Limit: limit,
      ConsistentRead: true,
    });
    return (out.Items ?? []).map(toBatch);
  }

  async findBatch(eventId: string, position: number) {
    const read = async (consistent: boolean) => {
      const out = await this.#t.query({
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
        ExpressionAttributeValues: {
          ':pk': keys.eventPk(eventId),
          ':lo': keys.batchSk(position),
          ':hi': keys.batchSk(Number.MAX_SAFE_INTEGER),
        },
        Limit: 1,
        ConsistentRead: consistent,
      });
      const item = out.Items?.[0];
      return item && num(item, 'from') < position ? toBatch(item) : undefined;
    };
    // Batches never change: a batch read at all is the batch. Half the read units, on the
    // partition every admitted fan's lookups share; only a miss (perhaps a batch written a
    // moment ago) is read again consistently.
    return (await read(false)) ?? (await read(true));
  }

  async getSession(eventId: string, position: number) {
    const item = await this.#t.get(keys.place(eventId, position));
    return item ? toSession(item, position) : undefined;
  }

  async claimSession(eventId: string, session: Session): Promise<ClaimResult> {
    const ledger = await this.#ledger(eventId);
    // The slot moves from the claim-deadline bucket to the session-end bucket. Both must
    // lie above the seal: once a tick has raised it past either, that tick may already
    // have counted the bucket, so the claim fails rather than change a counted sum.
    const moves =
      session.claimBy === session.endsAt
        ? [
            ledger.bucket(
              session.claimBy,
              'ADD missed :minus, expired :plus',
              { ':minus': -1, ':plus': 1 },
              true,
            ),
          ]
        : [
            ledger.bucket(session.claimBy, 'ADD missed :minus', { ':minus': -1 }, true),
            ledger.bucket(session.endsAt, 'ADD expired :plus', { ':plus': 1 }, false),
          ];
    const counted = ledger.count('claimed', Math.min(session.claimBy, session.endsAt));
    const { position: _position, completedAt: _completedAt, ...stored } = session;
    try {
      await this.#t.transact([
        {
          Put: {
            TableName: this.#t.name,
            Item: {
              ...keys.place(eventId, session.position),
              ...stored,
              ttl: session.endsAt + RETENTION_SECONDS,
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        },
        ...moves,
        ...counted,
        // A place given up never claims.
        {
          ConditionCheck: {
            TableName: this.#t.name,
            Key: keys.left(eventId, session.position),
            ConditionExpression: 'attribute_not_exists(pk)',
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
      if (codes[1 + moves.length + counted.length] === 'ConditionalCheckFailed') return { outcome: 'left' };
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
    const ledger = await this.#ledger(eventId);
    try {
      await this.#t.transact([
        {
          Update: {
            TableName: this.#t.name,
            Key: keys.place(eventId, position),
            UpdateExpression: 'SET completedAt = :now',
            ConditionExpression: 'sessionId = :sid AND attribute_not_exists(completedAt)',
            ExpressionAttributeValues: { ':now': nowSec, ':sid': sessionId },
          },
        },
        ledger.bucket(session.endsAt, 'ADD expired :minus', { ':minus': -1 }, true),
        // Above the seal: no tick has counted this session's end yet.
        ...ledger.count('completed', session.endsAt),
      ]);
      return 'completed';
    } catch (error) {
      if (cancellationCodes(error)?.includes('ConditionalCheckFailed')) return 'already_ended';
      throw error;
    }
  }

  /**
   * Where the claims, completes and leaves of one event move slots (decision 0010): a
   * release stripe picked at random, whose seal item also counts them; or, for an event
   * created before stripes, the event's own buckets, seal and `COUNTS` (decision 0001).
   * Either way a move holds only while the buckets it touches lie above the seal.
   */
  async #ledger(eventId: string) {
    const striped = await this.#striped(eventId);
    const stripe = randomStripe();
    const table = this.#t.name;
    return {
      /** Moves slots in the bucket of second `sec`; `filed`: the bucket a batch filed them under. */
      bucket: (sec: number, expression: string, values: Item, filed: boolean) => ({
        Update: {
          TableName: table,
          Key: striped
            ? keys.releaseBucket(eventId, stripe, sec)
            : { pk: keys.eventPk(eventId), sk: keys.bucketSk(sec) },
          UpdateExpression: `${expression} SET #ttl = :ttl`,
          // The old layout checks the batch filed there; a stripe's bucket may not exist yet.
          ...(filed && !striped ? { ConditionExpression: 'attribute_exists(pk)' } : {}),
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ExpressionAttributeValues: { ...values, ':ttl': sec + RETENTION_SECONDS },
        },
      }),
      /** Counts one more `counter`, on condition that no bucket at or above `sec` was sealed. */
      count: (counter: 'claimed' | 'completed' | 'leftAdmitted', sec: number) => {
        const unsealed = 'attribute_not_exists(sealedThrough) OR sealedThrough < :sec';
        if (striped)
          return [
            {
              Update: {
                TableName: table,
                Key: keys.releaseSeal(eventId, stripe),
                UpdateExpression: 'ADD #counter :one',
                ConditionExpression: unsealed,
                ExpressionAttributeNames: { '#counter': counter },
                ExpressionAttributeValues: { ':one': 1, ':sec': sec },
              },
            },
          ];
        return [
          {
            ConditionCheck: {
              TableName: table,
              Key: keys.seal(eventId),
              ConditionExpression: unsealed,
              ExpressionAttributeValues: { ':sec': sec },
            },
          },
          {
            Update: {
              TableName: table,
              Key: keys.counts(eventId),
              UpdateExpression: 'ADD #counter :one',
              ExpressionAttributeNames: { '#counter': counter },
              ExpressionAttributeValues: { ':one': 1 },
            },
          },
        ];
      },
    };
  }

  async sealReleases(eventId: string, afterSec: number, throughSec: number): Promise<SealedReleases> {
    // Every stripe, and the event's own buckets (where batches add and, before release
    // stripes, claims moved), is one instance of decision 0001: raise its watermark, then sum.
    const own = { seal: keys.seal(eventId), pk: keys.eventPk(eventId), sk: keys.bucketSk };
    const stripes = ((await this.#striped(eventId)) ? allStripes() : []).map((k) => ({
      seal: keys.releaseSeal(eventId, k),
      pk: keys.releasePk(eventId, k),
      sk: (sec: number) => pad(sec, 10),
    }));
    const parts: SealedReleases[] = [];
    await eachLimited([own, ...stripes], STRIPE_CONCURRENCY, async (part) => {
      parts.push(await this.#sealPart(part, afterSec, throughSec));
    });
    return parts.reduce<SealedReleases>(
      (sum, part) => ({
        missed: sum.missed + part.missed,
        expired: sum.expired + part.expired,
        sealedThrough: Math.max(sum.sealedThrough, part.sealedThrough),
      }),
      { missed: 0, expired: 0, sealedThrough: throughSec },
    );
  }

  async #sealPart(
    part: { seal: Item; pk: string; sk: (sec: number) => string },
    afterSec: number,
    throughSec: number,
  ): Promise<SealedReleases> {
    // Raise the watermark first: every claim or complete committed before this write is
    // visible to the query below, and every later one touching a bucket at or below it fails.
    let sealedThrough = throughSec;
    try {
      await this.#t.send(() =>
        this.#t.doc.send(
          new UpdateCommand({
            TableName: this.#t.name,
            Key: part.seal,
            UpdateExpression: 'SET sealedThrough = :through',
            ConditionExpression: 'attribute_not_exists(sealedThrough) OR sealedThrough < :through',
            ExpressionAttributeValues: { ':through': throughSec },
          }),
        ),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // Another admitter (perhaps with a clock ahead) raised it further already.
      sealedThrough = Math.max(throughSec, num(await this.#t.get(part.seal), 'sealedThrough'));
    }
    if (throughSec <= afterSec) return { missed: 0, expired: 0, sealedThrough };
    const items = await this.#t.queryAll({
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
      ExpressionAttributeValues: { ':pk': part.pk, ':lo': part.sk(afterSec + 1), ':hi': part.sk(throughSec) },
      ConsistentRead: true,
    });
    return items.reduce<SealedReleases>(
      (sum, item) => ({
        missed: sum.missed + num(item, 'missed'),
        expired: sum.expired + num(item, 'expired'),
        sealedThrough,
      }),
      { missed: 0, expired: 0, sealedThrough },
    );
  }

  async commitTick(eventId: string, expectedVersion: number, commit: TickCommit) {
    const { next } = commit;
    const metaUpdate = {
      TableName: this.#t.name,
      Key: keys.meta(eventId),
      UpdateExpression:
        'SET version = :version, servingPosition = :serving, inUse = :inUse, releasedThrough = :released, ' +
        'rateCredit = :credit, lastTickAtMs = :lastTick, completedSeen = :completedSeen, missed = :missed, ' +
        'expired = :expired, recentTicks = :ticks, updatedAt = :updatedAt, leftSeen = :leftSeen, ' +
        'admittedTotal = :admittedTotal, heldThroughServing = :heldThroughServing, ' +
        'settledSlice = :settledSlice, settledHeld = :settledHeld',
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
        ':leftSeen': next.leftSeen,
        ':admittedTotal': next.admittedTotal,
        ':heldThroughServing': next.heldThroughServing,
        ':settledSlice': next.settledSlice,
        ':settledHeld': next.settledHeld,
      },
    };
    try {
      if (!commit.batch) {
        await this.#t.send(() => this.#t.doc.send(new UpdateCommand(metaUpdate)));
        return true;
      }
      const { batch } = commit;
      const ttl = batch.claimBy + RETENTION_SECONDS;
      await this.#t.transact([
        { Update: metaUpdate },
        {
          Put: {
            TableName: this.#t.name,
            Item: { pk: keys.eventPk(eventId), sk: keys.batchSk(batch.to), ...batch, ttl },
          },
        },
        {
          Update: {
            TableName: this.#t.name,
            Key: { pk: keys.eventPk(eventId), sk: keys.bucketSk(batch.claimBy) },
            UpdateExpression: 'ADD missed :n SET #ttl = :ttl',
            ExpressionAttributeNames: { '#ttl': 'ttl' },
            // Real places only: void numbers in the span hold no slot.
            ExpressionAttributeValues: { ':n': batch.admitted, ':ttl': ttl },
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

  async takeTicket(eventId: string, slice: number, stripe: number): Promise<TicketResult> {
    try {
      const out = await this.#t.send(() =>
        this.#t.doc.send(
          new UpdateCommand({
            TableName: this.#t.name,
            Key: keys.stripe(eventId, stripe),
            UpdateExpression: 'ADD #c :one',
            // Not sealed through this slice (the admitter may have counted it), not full.
            ConditionExpression:
              '(attribute_not_exists(sealedThrough) OR sealedThrough < :slice) AND ' +
              '(attribute_not_exists(#c) OR #c < :cap)',
            ExpressionAttributeNames: { '#c': sliceAttr(slice) },
            ExpressionAttributeValues: { ':one': 1, ':slice': slice, ':cap': STRIPE_ROWS_PER_SLICE },
            // The whole stripe: its counters of the slices not yet sealed come back with the ticket.
            ReturnValues: 'ALL_NEW',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      );
      // Sealed slices' counts too, until a later seal forgets them: the event the join read
      // may not have settled them yet.
      const stripeCounts = sliceCounts(out.Attributes);
      return { outcome: 'taken', row: num(out.Attributes, sliceAttr(slice)), stripeCounts };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // The document client leaves the returned item in DynamoDB's wire form.
      const item: Item | undefined = error.Item ? unmarshall(error.Item) : undefined;
      const sealedThrough = typeof item?.sealedThrough === 'number' ? item.sealedThrough : -1;
      if (sealedThrough >= CLOSED_SLICE) return { outcome: 'closed' };
      if (sealedThrough >= slice) return { outcome: 'sealed', sealedThrough };
      return { outcome: 'full' };
    }
  }

  async stripeCounts(eventId: string, stripe: number) {
    return sliceCounts(await this.#t.get(keys.stripe(eventId, stripe), false));
  }

  async ringIntake(eventId: string, slice: number) {
    // Only ever raised: a late ring of an older slice changes nothing.
    await this.#t.raise(keys.bell(eventId), 'rung', slice);
  }

  async rungSlice(eventId: string) {
    const item = await this.#t.get(keys.bell(eventId));
    return typeof item?.rung === 'number' ? item.rung : -1;
  }

  async sealIntake(eventId: string, afterSlice: number, throughSlice: number, forgetThrough: number) {
    const out = new Map<number, number[]>();
    const stripes = Array.from({ length: INTAKE_STRIPES }, (_, s) => s);
    await eachLimited(stripes, STRIPE_CONCURRENCY, async (stripe) => {
      const item = await this.#sealStripe(eventId, stripe, throughSlice, forgetThrough);
      const counts = sliceCounts(item);
      for (const [slice, count] of counts) {
        if (slice <= afterSlice || slice > throughSlice || count === 0) continue;
        let row = out.get(slice);
        if (!row) {
          row = new Array<number>(INTAKE_STRIPES).fill(0);
          out.set(slice, row);
        }
        row[stripe] = count;
      }
      const stale = [...counts.keys()].filter((slice) => slice <= forgetThrough);
      if (stale.length > 0) await this.#forget(eventId, stripe, stale.slice(0, 100));
    });
    return out;
  }

  /**
   * Raises one stripe's seal to `throughSlice` and answers its counters as they stand
   * after: from then on no ticket lands at or below it, so the counts are final.
   * Counters of the last settled slices are dropped in the same write.
   */
  async #sealStripe(eventId: string, stripe: number, throughSlice: number, forgetThrough: number) {
    const forget = Array.from({ length: FORGET_WINDOW }, (_, i) => forgetThrough - i).filter((s) => s >= 0);
    const names = Object.fromEntries(forget.map((slice, i) => [`#f${i}`, sliceAttr(slice)]));
    try {
      const out = await this.#t.send(() =>
        this.#t.doc.send(
          new UpdateCommand({
            TableName: this.#t.name,
            Key: keys.stripe(eventId, stripe),
            UpdateExpression: `SET sealedThrough = :through${forget.length ? ` REMOVE ${Object.keys(names).join(', ')}` : ''}`,
            ConditionExpression: 'attribute_not_exists(sealedThrough) OR sealedThrough < :through',
            ...(forget.length ? { ExpressionAttributeNames: names } : {}),
            ExpressionAttributeValues: { ':through': throughSlice },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      );
      return out.Attributes;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // Sealed this far already (a racing admitter, or the event closed): the counts are final.
      return this.#t.get(keys.stripe(eventId, stripe));
    }
  }

  async #forget(eventId: string, stripe: number, slices: number[]) {
    const names = Object.fromEntries(slices.map((slice, i) => [`#f${i}`, sliceAttr(slice)]));
    await this.#t.send(() =>
      this.#t.doc.send(
        new UpdateCommand({
          TableName: this.#t.name,
          Key: keys.stripe(eventId, stripe),
          UpdateExpression: `REMOVE ${Object.keys(names).join(', ')}`,
          ExpressionAttributeNames: names,
        }),
      ),
    );
  }

  async putSlices(eventId: string, records: readonly SliceRecord[]) {
    const ttl = Math.floor(Date.now() / 1000) + RETENTION_SECONDS;
    // First writer wins: a settled slice never changes (racing admitters write the same).
    // Every copy is written before the tick that settles the slice commits, so a reader
    // (which asks only for settled slices) finds whichever it picks.
    const writes = [...records].flatMap((record) =>
      Array.from({ length: SLICE_COPIES }, (_, copy) => ({ record, copy })),
    );
    await eachLimited(writes, STRIPE_CONCURRENCY, async ({ record, copy }) => {
      await this.#t.putNew({
        pk: keys.slicesPk(eventId, copy),
        sk: keys.sliceSk(record.slice),
        slice: record.slice,
        counts: record.counts,
        heldBefore: record.heldBefore,
        ttl,
      });
    });
  }

  async getSlice(eventId: string, slice: number) {
    const copy = Math.floor(Math.random() * SLICE_COPIES);
    const read = (c: number) =>
      this.#t.get({ pk: keys.slicesPk(eventId, c), sk: keys.sliceSk(slice) }, false);
    // A slice settled before copies existed is in copy 0 only.
    const item = (await read(copy)) ?? (copy === 0 ? undefined : await read(0));
    return item ? toSlice(item) : undefined;
  }

  async slicesAfter(eventId: string, afterSlice: number, limit: number) {
    const out = await this.#t.query({
      KeyConditionExpression: 'pk = :pk AND sk > :after',
      ExpressionAttributeValues: { ':pk': keys.slicesPk(eventId), ':after': keys.sliceSk(afterSlice) },
      Limit: limit,
      ConsistentRead: true,
    });
    return (out.Items ?? []).map(toSlice);
  }

  async leaveWaiting(eventId: string, position: number, nowSec: number): Promise<LeaveWaitingResult> {
    const block = leaveBlockOf(position);
    const ttl = nowSec + RETENTION_SECONDS;
    const copies = (await this.#striped(eventId)) ? LEAVE_COPIES : 1;
    try {
      await this.#t.transact([
        {
          Put: {
            TableName: this.#t.name,
            Item: { ...keys.left(eventId, position), at: nowSec, void: true, ttl },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        },
        // Only while no tick has fenced the place for admission.
        {
          ConditionCheck: {
            TableName: this.#t.name,
            Key: keys.seal(eventId),
            ConditionExpression: 'attribute_not_exists(fencedThrough) OR fencedThrough < :pos',
            ExpressionAttributeValues: { ':pos': position },
          },
        },
        ...Array.from({ length: copies }, (_, copy) => ({
          Put: {
            TableName: this.#t.name,
            Item: { pk: keys.leavesPk(eventId, block, copy), sk: keys.leaveSk(position), position, ttl },
          },
        })),
        {
          Update: {
            TableName: this.#t.name,
            Key: keys.line(eventId),
            UpdateExpression: 'ADD #b :one SET #ttl = :ttl',
            ExpressionAttributeNames: { '#b': `b${block}`, '#ttl': 'ttl' },
            ExpressionAttributeValues: { ':one': 1, ':ttl': ttl },
          },
        },
      ]);
      return 'left';
    } catch (error) {
      const codes = cancellationCodes(error);
      if (codes?.[0] === 'ConditionalCheckFailed') return 'already_left';
      if (codes?.[1] === 'ConditionalCheckFailed') return 'fenced';
      throw error;
    }
  }

  async leaveAdmitted(
    eventId: string,
    position: number,
    claimBy: number | null,
    nowSec: number,
  ): Promise<LeaveAdmittedResult> {
    const marker = {
      Put: {
        TableName: this.#t.name,
        Item: { ...keys.left(eventId, position), at: nowSec, ttl: nowSec + RETENTION_SECONDS },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    };
    const noSession = {
      ConditionCheck: {
        TableName: this.#t.name,
        Key: keys.place(eventId, position),
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    };
    if (claimBy !== null) {
      try {
        // The slot comes back now: out of its claim bucket, counted as freed for the next tick.
        const ledger = await this.#ledger(eventId);
        const moves = [
          ledger.bucket(claimBy, 'ADD missed :minus', { ':minus': -1 }, true),
          ...ledger.count('leftAdmitted', claimBy),
        ];
        await this.#t.transact([marker, noSession, ...moves]);
        return 'left';
      } catch (error) {
        const codes = cancellationCodes(error);
        if (!codes) throw error;
        if (codes[0] === 'ConditionalCheckFailed') return 'already_left';
        if (codes[1] === 'ConditionalCheckFailed') return 'already_left';
        // The bucket is sealed (a tick released the slot as missed already): only mark it.
      }
    }
    try {
      await this.#t.transact([marker, noSession]);
      return 'left';
    } catch (error) {
      if (cancellationCodes(error)?.includes('ConditionalCheckFailed')) return 'already_left';
      throw error;
    }
  }

  async markLeft(eventId: string, position: number, nowSec: number): Promise<LeaveAdmittedResult> {
    const item = { ...keys.left(eventId, position), at: nowSec, ttl: nowSec + RETENTION_SECONDS };
    return (await this.#t.putNew(item)) ? 'left' : 'already_left';
  }

  async unbindUser(eventId: string, userId: string, position: number) {
    try {
      await this.#t.send(() =>
        this.#t.doc.send(
          new DeleteCommand({
            TableName: this.#t.name,
            Key: keys.user(eventId, userId),
            // Only the binding to the place given up: a newer place of the user stays.
            ConditionExpression: '#position = :position',
            ExpressionAttributeNames: { '#position': 'position' },
            ExpressionAttributeValues: { ':position': position },
          }),
        ),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  async hasLeft(eventId: string, position: number) {
    return (await this.#t.get(keys.left(eventId, position), false)) !== undefined;
  }

  async fenceLeaves(eventId: string, throughPosition: number) {
    await this.#t.raise(keys.seal(eventId), 'fencedThrough', throughPosition);
  }

  async leavesIn(eventId: string, after: number, through: number, options?: { forDisplay?: boolean }) {
    if (through <= after) return [];
    // Events from before the copies have their leaves in copy 0 only.
    const forDisplay = (options?.forDisplay ?? false) && (await this.#striped(eventId));
    const out: number[] = [];
    for (let block = leaveBlockOf(after + 1); block <= leaveBlockOf(through); block++) {
      const copy = forDisplay ? Math.floor(Math.random() * LEAVE_COPIES) : 0;
      const items = await this.#t.queryAll({
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
        ExpressionAttributeValues: {
          ':pk': keys.leavesPk(eventId, block, copy),
          ':lo': keys.leaveSk(after + 1),
          ':hi': keys.leaveSk(through),
        },
        ConsistentRead: !forDisplay,
      });
      for (const item of items) out.push(num(item, 'position'));
    }
    return out;
  }

  async leaveBlocks(eventId: string, fromBlock: number) {
    const item = await this.#t.get(keys.line(eventId), false);
    const out = new Map<number, number>();
    for (const [name, value] of Object.entries(item ?? {})) {
      if (!/^b\d+$/.test(name) || typeof value !== 'number') continue;
      const block = Number(name.slice(1));
      if (block >= fromBlock) out.set(block, value);
    }
    return out;
  }

  async forgetLeaveBlocks(eventId: string, belowBlock: number) {
    const stale = [...(await this.leaveBlocks(eventId, 0)).keys()]
      .filter((b) => b < belowBlock)
      .slice(0, 100);
    if (stale.length === 0) return;
    const names = Object.fromEntries(stale.map((block, i) => [`#b${i}`, `b${block}`]));
    // Unconditional: a block below the serving position is never counted again.
    await this.#t.send(() =>
      this.#t.doc.send(
        new UpdateCommand({
          TableName: this.#t.name,
          Key: keys.line(eventId),
          UpdateExpression: `REMOVE ${Object.keys(names).join(', ')}`,
          ExpressionAttributeNames: names,
        }),
      ),
    );
  }

  async hitRateLimit(key: string, windowStartSec: number, windowSeconds: number) {
    // One write for this window, one read of the window before: the sliding estimate needs both.
    const [out, previous] = await Promise.all([
      this.#t.send(() =>
        this.#t.doc.send(
          new UpdateCommand({
            TableName: this.#t.name,
            Key: keys.rateLimit(key, windowStartSec),
            UpdateExpression: 'ADD hits :one SET #ttl = :ttl',
            ExpressionAttributeNames: { '#ttl': 'ttl' },
            // Kept through the next window, which reads it as its previous one.
            ExpressionAttributeValues: { ':one': 1, ':ttl': windowStartSec + 2 * windowSeconds + 60 },
            ReturnValues: 'UPDATED_NEW',
          }),
        ),
      ),
      // An eventually consistent read is enough: that window is over and no longer written.
      this.#t.get(keys.rateLimit(key, windowStartSec - windowSeconds), false),
    ]);
    return { current: num(out.Attributes, 'hits'), previous: num(previous, 'hits') };
  }
}
