/**
 * The embedded store on disk: the queue store port over SQLite (layout:
 * sqlite-db.ts), so the local runtime keeps its queue across restarts. Every
 * operation is one synchronous transaction (immediate for writes), so it is
 * atomic exactly as the memory adapter's operations and the DynamoDB adapter's
 * conditional writes and transactions are; the shared contract suite holds all
 * three to the same behaviour.
 */
import type Database from 'better-sqlite3';
import { z } from 'zod';
import { ConflictError, EventClosedError, EventNotFoundError } from '#domain/errors';
import {
  CONFIG_DEFAULTS,
  type EventConfig,
  type EventRecord,
  type EventState,
  type LineSnapshot,
  newEventRecord,
  type TickRecord,
} from '#domain/event';
import {
  CLOSED_SLICE,
  INTAKE_MODES,
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
  RateLimitCounts,
  SealedReleases,
  TickCommit,
  TicketResult,
  UserSlot,
} from '#ports/queue-store';
import { parseRow, type SqliteDatabase, writeTransaction } from './sqlite-db.ts';

const int = z.number().int();

/** A JSON text column holding a small nested value. */
function json<T>(schema: z.ZodType<T>) {
  return z
    .string()
    .transform((text, ctx): unknown => {
      try {
        return JSON.parse(text);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'not JSON' });
        return z.NEVER;
      }
    })
    .pipe(schema);
}

const eventConfigSchema = z.object({
  capacity: int,
  admitPerMinute: z.number().nullable(),
  purchaseWindowSeconds: int,
  claimWindowSeconds: int,
  positionTtlSeconds: int,
  nearThreshold: int,
  // Events stored before the operator could give it have none.
  expectedPurchaseSeconds: z.number().nullable().default(null),
  // Events stored before sharded intake existed were all exact.
  intake: z.enum(INTAKE_MODES).default(CONFIG_DEFAULTS.intake),
}) satisfies z.ZodType<EventConfig>;

// The estimate's fields are optional: ticks written before they were kept have none.
const tickSchema = z.object({
  at: int,
  from: int,
  to: int,
  admitted: int,
  inUse: int.optional(),
  freed: int.optional(),
  heldSeconds: int.optional(),
  freedTotal: int.optional(),
}) satisfies z.ZodType<TickRecord>;

const eventRow = z
  .object({
    event_id: z.string(),
    config: json(eventConfigSchema),
    config_version: int,
    state: z.enum(['open', 'paused', 'closed']),
    created_at: int,
    updated_at: int,
    version: int,
    serving_position: int,
    in_use: int,
    released_through: int,
    rate_credit: z.number(),
    last_tick_at_ms: int,
    completed_seen: int,
    missed: int,
    expired: int,
    recent_ticks: json(z.array(tickSchema)),
    left_seen: int,
    admitted_total: int,
    held_through_serving: int,
    settled_slice: int,
    settled_held: int,
  })
  .transform(
    (r): EventRecord => ({
      eventId: r.event_id,
      config: r.config,
      configVersion: r.config_version,
      state: r.state,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
      version: r.version,
      servingPosition: r.serving_position,
      inUse: r.in_use,
      releasedThrough: r.released_through,
      rateCredit: r.rate_credit,
      lastTickAtMs: r.last_tick_at_ms,
      completedSeen: r.completed_seen,
      missed: r.missed,
      expired: r.expired,
      recentTicks: r.recent_ticks,
      leftSeen: r.left_seen,
      admittedTotal: r.admitted_total,
      heldThroughServing: r.held_through_serving,
      settledSlice: r.settled_slice,
      settledHeld: r.settled_held,
    }),
  );

const countersRow = z.object({ issued: int, claimed: int, completed: int, left_admitted: int }).transform(
  (r): EventCounters => ({
    issued: r.issued,
    claimed: r.claimed,
    completed: r.completed,
    leftAdmitted: r.left_admitted,
  }),
);
const issuedRow = z.object({ issued: int });

const userRow = z
  .object({ position: int.nullable(), reserved_at: int.nullable() })
  .transform(
    (r): UserSlot => (r.position !== null ? { position: r.position } : { reservedAt: r.reserved_at ?? 0 }),
  );

const batchRow = z
  .object({ from_position: int, to_position: int, admitted: int, at: int, claim_by: int })
  .transform(
    (r): AdmissionBatch => ({
      from: r.from_position,
      to: r.to_position,
      admitted: r.admitted,
      at: r.at,
      claimBy: r.claim_by,
    }),
  );

const sessionRow = z
  .object({
    position: int,
    session_id: z.string(),
    sub: z.string(),
    claimed_at: int,
    ends_at: int,
    claim_by: int,
    completed_at: int.nullable(),
  })
  .transform(
    (r): Session => ({
      position: r.position,
      sessionId: r.session_id,
      sub: r.sub,
      claimedAt: r.claimed_at,
      endsAt: r.ends_at,
      claimBy: r.claim_by,
      completedAt: r.completed_at,
    }),
  );

const bucketRow = z.object({ missed: int, expired: int });
const stateRow = z.object({ state: z.enum(['open', 'paused', 'closed']) });
const sealRow = z.object({ sealed_through: int });
const hitsRow = z.object({ hits: int });
const idRow = z.object({ event_id: z.string() });
const intakeRow = z.object({ rung_slice: int, sealed_through: int });
const takenRow = z.object({ taken: int });
const ticketCountRow = z.object({ slice: int, stripe: int, taken: int });
const sliceRow = z
  .object({ slice: int, counts: json(z.array(int)), held_before: int })
  .transform((r): SliceRecord => ({ slice: r.slice, counts: r.counts, heldBefore: r.held_before }));
const fenceRow = z.object({ leave_fence: int });
const leaveRow = z.object({ voided: int });
const positionRow = z.object({ position: int });
const leaveBlockRow = z.object({ block: int, leaves: int });

/** Rate-limit windows that ended are swept after this many hits (the memory store sweeps by size). */
const RATE_LIMIT_SWEEP_EVERY = 1_000;

type Statements = ReturnType<typeof statements>;

function readEvent(sql: Statements, eventId: string): EventRecord | undefined {
  const row = sql.getEvent.get(eventId);
  return row === undefined ? undefined : parseRow(eventRow, row, 'events');
}

function requireEvent(sql: Statements, eventId: string): EventRecord {
  const event = readEvent(sql, eventId);
  if (!event) throw new EventNotFoundError(eventId);
  return event;
}

/** Throws EventNotFoundError; cheaper than reading the whole event where only existence matters. */
function requireExists(sql: Statements, eventId: string): void {
  if (sql.getState.get(eventId) === undefined) throw new EventNotFoundError(eventId);
}

/** Before the first join rang and the first seal, an event has no intake row. */
function readIntake(sql: Statements, eventId: string) {
  const row = sql.getIntake.get(eventId);
  return row === undefined ? { rung_slice: -1, sealed_through: -1 } : parseRow(intakeRow, row, 'intake');
}

function readLeft(sql: Statements, eventId: string, position: number) {
  const row = sql.getLeave.get(eventId, position);
  return row === undefined ? undefined : parseRow(leaveRow, row, 'leaves');
}

function readSealedThrough(sql: Statements, eventId: string): number {
  const row = sql.getSeal.get(eventId);
  return row === undefined ? 0 : parseRow(sealRow, row, 'seals').sealed_through;
}

function readFence(sql: Statements, eventId: string): number {
  const row = sql.getFence.get(eventId);
  return row === undefined ? 0 : parseRow(fenceRow, row, 'seals').leave_fence;
}

function readBucket(sql: Statements, eventId: string, second: number) {
  const row = sql.getBucket.get(eventId, second);
  return row === undefined ? undefined : parseRow(bucketRow, row, 'release_buckets');
}

function readSession(sql: Statements, eventId: string, position: number): Session | undefined {
  const row = sql.getSession.get(eventId, position);
  return row === undefined ? undefined : parseRow(sessionRow, row, 'sessions');
}

/** The write operations, each one immediate transaction (built once, like the statements). */
function transactions(db: Database.Database, sql: Statements) {
  return {
    createEvent: writeTransaction(db, (record: EventRecord) => {
      const inserted = sql.insertEvent.run(eventParams(record)).changes === 1;
      if (inserted) {
        sql.insertCounters.run(record.eventId);
        sql.insertSeal.run(record.eventId);
        sql.activate.run(record.eventId);
      }
      return inserted;
    }),

    updateConfig: writeTransaction(
      db,
      (eventId: string, config: EventConfig, nowSec: number, expected: number) => {
        // Read-merge-write is safe only if nobody wrote in between: the version says so.
        const changed = sql.updateConfig.run({
          eventId,
          config: JSON.stringify(config),
          nowSec,
          expected,
        }).changes;
        return changed === 1 ? requireEvent(sql, eventId) : null;
      },
    ),

    setState: writeTransaction(db, (eventId: string, state: EventState, nowSec: number) => {
      const current = requireEvent(sql, eventId);
      if (current.state === 'closed' && state !== 'closed') {
        throw new ConflictError('event_closed', 'A closed event cannot be reopened.');
      }
      // The version moves too: a tick planned before this change must not commit after it.
      sql.setState.run({
        eventId,
        state,
        updatedAt: current.state === state ? current.updatedAt : nowSec,
      });
      // In the same transaction as the state: no ticket is taken once the event reads closed.
      if (state === 'closed' && current.config.intake === 'sharded')
        sql.sealIntake.run({ eventId, throughSlice: CLOSED_SLICE });
      return requireEvent(sql, eventId);
    }),

    allocate: writeTransaction(db, (eventId: string) => {
      const row = sql.getState.get(eventId);
      if (row === undefined) throw new EventNotFoundError(eventId);
      if (parseRow(stateRow, row, 'events').state === 'closed') throw new EventClosedError();
      return parseRow(issuedRow, sql.takePosition.get(eventId), 'counters').issued;
    }),

    reserveUser: writeTransaction(
      db,
      (eventId: string, userId: string, nowSec: number, staleBeforeSec: number) => {
        requireEvent(sql, eventId);
        // First join wins; a reservation whose join died long ago may be taken over.
        return sql.reserveUser.run({ eventId, userId, nowSec, staleBeforeSec }).changes === 1;
      },
    ),

    bindUser: writeTransaction(
      db,
      (eventId: string, userId: string, position: number, reservedAt: number): boolean => {
        requireEvent(sql, eventId);
        // Only over this join's own reservation: one taken over as stale belongs to another join.
        return sql.bindUser.run({ eventId, userId, position, reservedAt }).changes === 1;
      },
    ),

    claim: writeTransaction(db, (eventId: string, session: Session): ClaimResult => {
      requireEvent(sql, eventId);
      const existing = readSession(sql, eventId, session.position);
      if (existing) return { outcome: 'existing', session: existing };
      // A place given up never claims: its slot was freed, or is released as missed.
      if (readLeft(sql, eventId, session.position)) return { outcome: 'left' };
      // Both buckets must lie above the seal watermark: once a tick has raised it past
      // either, that tick may already have counted the bucket, so the claim fails
      // rather than change a counted sum.
      const due = readBucket(sql, eventId, session.claimBy);
      if (!due || Math.min(session.claimBy, session.endsAt) <= readSealedThrough(sql, eventId)) {
        return { outcome: 'missed' };
      }
      sql.addToBucket.run({ eventId, second: session.claimBy, missed: -1, expired: 0 });
      sql.addToBucket.run({ eventId, second: session.endsAt, missed: 0, expired: 1 });
      sql.insertSession.run({
        eventId,
        position: session.position,
        sessionId: session.sessionId,
        sub: session.sub,
        claimedAt: session.claimedAt,
        endsAt: session.endsAt,
        claimBy: session.claimBy,
        completedAt: session.completedAt,
      });
      sql.countClaim.run(eventId);
      return { outcome: 'claimed', session };
    }),

    complete: writeTransaction(
      db,
      (eventId: string, position: number, sessionId: string, nowSec: number): CompleteResult => {
        // Like the other adapters: an unknown event or session has nothing left to end.
        const session = readSession(sql, eventId, position);
        if (!session || session.sessionId !== sessionId || session.completedAt !== null)
          return 'already_ended';
        // At or below the watermark a tick may have counted the session's end already.
        if (!readBucket(sql, eventId, session.endsAt) || session.endsAt <= readSealedThrough(sql, eventId)) {
          return 'already_ended';
        }
        sql.addToBucket.run({ eventId, second: session.endsAt, missed: 0, expired: -1 });
        sql.completeSession.run({ eventId, position, nowSec });
        sql.countComplete.run(eventId);
        return 'completed';
      },
    ),

    seal: writeTransaction(db, (eventId: string, afterSec: number, throughSec: number): SealedReleases => {
      requireEvent(sql, eventId);
      // Raise the watermark first (never lower it): from this commit on, any claim or
      // complete touching a bucket at or below it fails, so the sums below are final.
      sql.raiseSeal.run({ eventId, throughSec });
      const sealedThrough = readSealedThrough(sql, eventId);
      // At or below `afterSec` a committed tick has applied the bucket: it is never read again.
      sql.dropAppliedBuckets.run(eventId, afterSec);
      const sums = parseRow(bucketRow, sql.sumBuckets.get(eventId, afterSec, throughSec), 'release_buckets');
      return { missed: sums.missed, expired: sums.expired, sealedThrough };
    }),

    commitTick: writeTransaction(db, (eventId: string, expected: number, commit: TickCommit) => {
      const { next, batch } = commit;
      // The version check makes a racing or repeated admitter's tick a no-op.
      const applied =
        sql.commitTick.run({
          eventId,
          expected,
          version: next.version,
          servingPosition: next.servingPosition,
          inUse: next.inUse,
          releasedThrough: next.releasedThrough,
          rateCredit: next.rateCredit,
          lastTickAtMs: next.lastTickAtMs,
          completedSeen: next.completedSeen,
          missed: next.missed,
          expired: next.expired,
          recentTicks: JSON.stringify(next.recentTicks),
          leftSeen: next.leftSeen,
          admittedTotal: next.admittedTotal,
          heldThroughServing: next.heldThroughServing,
          settledSlice: next.settledSlice,
          settledHeld: next.settledHeld,
          updatedAt: commit.updatedAt,
        }).changes === 1;
      if (applied && batch) {
        sql.insertBatch.run({
          eventId,
          from: batch.from,
          to: batch.to,
          admitted: batch.admitted,
          at: batch.at,
          claimBy: batch.claimBy,
        });
        // Real places only: a void number in the span holds no slot.
        sql.addToBucket.run({ eventId, second: batch.claimBy, missed: batch.admitted, expired: 0 });
      }
      return applied;
    }),

    takeTicket: writeTransaction(db, (eventId: string, slice: number, stripe: number): TicketResult => {
      requireExists(sql, eventId);
      const { sealed_through: sealedThrough } = readIntake(sql, eventId);
      if (sealedThrough >= CLOSED_SLICE) return { outcome: 'closed' };
      if (sealedThrough >= slice) return { outcome: 'sealed', sealedThrough };
      // No row comes back when the stripe already gave out its most tickets for the slice.
      const row = sql.takeTicket.get({ eventId, slice, stripe, most: STRIPE_ROWS_PER_SLICE });
      if (row === undefined) return { outcome: 'full' };
      const stripeCounts = new Map<number, number>();
      // Every slice it still counts: the join's event may not have settled the sealed ones yet.
      for (const r of sql.stripeCounts.all(eventId, stripe, -1)) {
        const counted = parseRow(ticketCountRow, r, 'intake_tickets');
        stripeCounts.set(counted.slice, counted.taken);
      }
      return { outcome: 'taken', row: parseRow(takenRow, row, 'intake_tickets').taken, stripeCounts };
    }),

    ringIntake: writeTransaction(db, (eventId: string, slice: number) => {
      requireExists(sql, eventId);
      // Keeps the highest: a late ring for an older slice changes nothing.
      sql.ringIntake.run({ eventId, slice });
    }),

    sealIntake: writeTransaction(
      db,
      (eventId: string, afterSlice: number, throughSlice: number, forgetThrough: number) => {
        requireExists(sql, eventId);
        // Seal first (never lowering it): no ticket can be taken at or below it any more,
        // so the counts read below are final, and a repeat reads the same.
        sql.sealIntake.run({ eventId, throughSlice });
        sql.forgetTickets.run(eventId, forgetThrough);
        const out = new Map<number, number[]>();
        for (const row of sql.ticketCounts.all(eventId, afterSlice, throughSlice)) {
          const { slice, stripe, taken } = parseRow(ticketCountRow, row, 'intake_tickets');
          let counts = out.get(slice);
          if (!counts) {
            counts = new Array<number>(INTAKE_STRIPES).fill(0);
            out.set(slice, counts);
          }
          counts[stripe] = taken;
        }
        return out;
      },
    ),

    putSlices: writeTransaction(db, (eventId: string, records: readonly SliceRecord[]) => {
      requireExists(sql, eventId);
      // First writer wins: a settled slice never changes, so a racing admitter's copy is the same.
      for (const record of records)
        sql.insertSlice.run({
          eventId,
          slice: record.slice,
          counts: JSON.stringify(record.counts),
          heldBefore: record.heldBefore,
        });
    }),

    leaveWaiting: writeTransaction(
      db,
      (eventId: string, position: number, nowSec: number): LeaveWaitingResult => {
        requireExists(sql, eventId);
        if (readLeft(sql, eventId, position)) return 'already_left';
        // The admitter raised the fence before it read the leaves up to it: a place at or
        // below it may be being admitted, so it is no longer voided (leaveAdmitted instead).
        if (position <= readFence(sql, eventId)) return 'fenced';
        sql.insertLeave.run({ eventId, position, nowSec, voided: 1 });
        sql.countLeave.run({ eventId, block: leaveBlockOf(position) });
        return 'left';
      },
    ),

    markLeft: writeTransaction(
      db,
      (eventId: string, position: number, nowSec: number): LeaveAdmittedResult => {
        requireExists(sql, eventId);
        if (readLeft(sql, eventId, position)) return 'already_left';
        sql.insertLeave.run({ eventId, position, nowSec, voided: 0 });
        return 'left';
      },
    ),

    leaveAdmitted: writeTransaction(
      db,
      (eventId: string, position: number, claimBy: number | null, nowSec: number): LeaveAdmittedResult => {
        requireExists(sql, eventId);
        if (readLeft(sql, eventId, position)) return 'already_left';
        // A claimed place ends its session instead (completeSession); it is never marked left.
        if (readSession(sql, eventId, position)) return 'already_left';
        sql.insertLeave.run({ eventId, position, nowSec, voided: 0 });
        // The slot comes back now only while its bucket is open: at or below the watermark
        // a tick may have counted it, and will release it as missed.
        if (
          claimBy !== null &&
          claimBy > readSealedThrough(sql, eventId) &&
          readBucket(sql, eventId, claimBy) !== undefined
        ) {
          sql.addToBucket.run({ eventId, second: claimBy, missed: -1, expired: 0 });
          sql.countLeftAdmitted.run(eventId);
        }
        return 'left';
      },
    ),

    fenceLeaves: writeTransaction(db, (eventId: string, throughPosition: number) => {
      requireExists(sql, eventId);
      sql.raiseFence.run({ eventId, throughPosition });
    }),

    hit: writeTransaction(
      db,
      (key: string, windowStartSec: number, windowSeconds: number): RateLimitCounts => {
        // Kept through the next window too, which reads it as its `previous`.
        const expiresAt = windowStartSec + 2 * windowSeconds;
        const current = parseRow(
          hitsRow,
          sql.hit.get({ key, windowStartSec, expiresAt }),
          'rate_limits',
        ).hits;
        const before = sql.getHits.get(key, windowStartSec - windowSeconds);
        const previous = before === undefined ? 0 : parseRow(hitsRow, before, 'rate_limits').hits;
        return { current, previous };
      },
    ),

    sweepRateLimits: writeTransaction(db, (nowSec: number) => {
      sql.sweepRateLimits.run(nowSec);
    }),
  };
}

export class SqliteQueueStore implements QueueStore {
  readonly #sql: Statements;
  readonly #lines = new Map<string, LineSnapshot>();
  readonly #tx: ReturnType<typeof transactions>;
  #hitsSinceSweep = 0;

  constructor(database: SqliteDatabase) {
    this.#sql = statements(database.db);
    this.#tx = transactions(database.db, this.#sql);
  }

  async putEvent(eventId: string, config: EventConfig, nowSec: number, expectedConfigVersion?: number) {
    if (expectedConfigVersion !== undefined) {
      const event = this.#tx.updateConfig(eventId, config, nowSec, expectedConfigVersion);
      return event ? { event, created: false } : null;
    }
    const record = newEventRecord(eventId, config, nowSec);
    // It exists already: the caller reads it and updates under its config version.
    return this.#tx.createEvent(record) ? { event: record, created: true } : null;
  }

  async setEventState(eventId: string, state: EventState, nowSec: number) {
    return this.#tx.setState(eventId, state, nowSec);
  }

  async getEvent(eventId: string) {
    // One statement reads one committed state; every read is consistent here.
    const record = readEvent(this.#sql, eventId);
    const line = this.#lines.get(eventId);
    // As a published copy carries it (decision 0010): the line as the last tick left it.
    return record && line ? { ...record, line } : record;
  }

  async getCounters(eventId: string): Promise<EventCounters> {
    const row = this.#sql.getCounters.get(eventId);
    return row === undefined
      ? { issued: 0, claimed: 0, completed: 0, leftAdmitted: 0 }
      : parseRow(countersRow, row, 'counters');
  }

  async getIssued(eventId: string) {
    return (await this.getCounters(eventId)).issued;
  }

  /**
   * Every read here is of the event itself; the line snapshot a sharded event's published
   * copies carry is kept beside it (in this process: the next tick takes a new one), so a
   * local run's public document and answers count leaves as a deployed one's do.
   */
  async publishView(eventId: string, line?: LineSnapshot) {
    const record = await this.getEvent(eventId);
    if (record?.config.intake !== 'sharded') return;
    if (line && line.servingPosition === record.servingPosition) this.#lines.set(eventId, line);
  }

  async listActiveEventIds() {
    return this.#sql.listActive.all().map((row) => parseRow(idRow, row, 'active_events').event_id);
  }

  async retireEvent(eventId: string) {
    this.#sql.retire.run(eventId);
  }

  async allocatePosition(eventId: string) {
    return this.#tx.allocate(eventId);
  }

  async getUserSlot(eventId: string, userId: string) {
    const row = this.#sql.getUser.get(eventId, userId);
    return row === undefined ? undefined : parseRow(userRow, row, 'users');
  }

  async reserveUser(eventId: string, userId: string, nowSec: number, staleBeforeSec: number) {
    return this.#tx.reserveUser(eventId, userId, nowSec, staleBeforeSec);
  }

  async bindUser(eventId: string, userId: string, position: number, reservedAt: number) {
    return this.#tx.bindUser(eventId, userId, position, reservedAt);
  }

  async releaseUser(eventId: string, userId: string, reservedAt: number) {
    this.#sql.releaseUser.run(eventId, userId, reservedAt);
  }

  async batchesAfter(eventId: string, afterTo: number, limit: number) {
    return this.#sql.batchesAfter
      .all(eventId, afterTo, limit)
      .map((row) => parseRow(batchRow, row, 'batches'));
  }

  async findBatch(eventId: string, position: number) {
    // The first batch whose end reaches the position holds it, if it starts below it.
    const row = this.#sql.batchesAfter.get(eventId, position - 1, 1);
    const batch = row === undefined ? undefined : parseRow(batchRow, row, 'batches');
    return batch && batch.from < position ? batch : undefined;
  }

  async getSession(eventId: string, position: number) {
    return readSession(this.#sql, eventId, position);
  }

  async claimSession(eventId: string, session: Session) {
    return this.#tx.claim(eventId, session);
  }

  async completeSession(eventId: string, position: number, sessionId: string, nowSec: number) {
    return this.#tx.complete(eventId, position, sessionId, nowSec);
  }

  async sealReleases(eventId: string, afterSec: number, throughSec: number) {
    return this.#tx.seal(eventId, afterSec, throughSec);
  }

  async commitTick(eventId: string, expectedVersion: number, commit: TickCommit) {
    return this.#tx.commitTick(eventId, expectedVersion, commit);
  }

  async takeTicket(eventId: string, slice: number, stripe: number) {
    return this.#tx.takeTicket(eventId, slice, stripe);
  }

  async ringIntake(eventId: string, slice: number) {
    this.#tx.ringIntake(eventId, slice);
  }

  async stripeCounts(eventId: string, stripe: number) {
    const out = new Map<number, number>();
    if (!this.#sql.getEvent.get(eventId)) return out;
    for (const r of this.#sql.stripeCounts.all(eventId, stripe, -1)) {
      const counted = parseRow(ticketCountRow, r, 'intake_tickets');
      out.set(counted.slice, counted.taken);
    }
    return out;
  }

  async rungSlice(eventId: string) {
    return readIntake(this.#sql, eventId).rung_slice;
  }

  async sealIntake(eventId: string, afterSlice: number, throughSlice: number, forgetThrough: number) {
    return this.#tx.sealIntake(eventId, afterSlice, throughSlice, forgetThrough);
  }

  async putSlices(eventId: string, records: readonly SliceRecord[]) {
    this.#tx.putSlices(eventId, records);
  }

  async getSlice(eventId: string, slice: number) {
    const row = this.#sql.getSlice.get(eventId, slice);
    return row === undefined ? undefined : parseRow(sliceRow, row, 'slices');
  }

  async slicesAfter(eventId: string, afterSlice: number, limit: number) {
    return this.#sql.slicesAfter
      .all(eventId, afterSlice, limit)
      .map((row) => parseRow(sliceRow, row, 'slices'));
  }

  async leaveWaiting(eventId: string, position: number, nowSec: number) {
    return this.#tx.leaveWaiting(eventId, position, nowSec);
  }

  async leaveAdmitted(eventId: string, position: number, claimBy: number | null, nowSec: number) {
    return this.#tx.leaveAdmitted(eventId, position, claimBy, nowSec);
  }

  async hasLeft(eventId: string, position: number) {
    return readLeft(this.#sql, eventId, position) !== undefined;
  }

  async markLeft(eventId: string, position: number, nowSec: number): Promise<LeaveAdmittedResult> {
    return this.#tx.markLeft(eventId, position, nowSec);
  }

  async unbindUser(eventId: string, userId: string, position: number) {
    this.#sql.unbindUser.run(eventId, userId, position);
  }

  async fenceLeaves(eventId: string, throughPosition: number) {
    this.#tx.fenceLeaves(eventId, throughPosition);
  }

  async leavesIn(eventId: string, after: number, through: number) {
    return this.#sql.voidsIn
      .all(eventId, after, through)
      .map((row) => parseRow(positionRow, row, 'leaves').position);
  }

  async leaveBlocks(eventId: string, fromBlock: number) {
    const blocks = new Map<number, number>();
    for (const row of this.#sql.leaveBlocks.all(eventId, fromBlock)) {
      const { block, leaves } = parseRow(leaveBlockRow, row, 'leave_blocks');
      blocks.set(block, leaves);
    }
    return blocks;
  }

  async forgetLeaveBlocks(eventId: string, belowBlock: number) {
    this.#sql.forgetLeaveBlocks.run(eventId, belowBlock);
  }

  async hitRateLimit(key: string, windowStartSec: number, windowSeconds: number) {
    const counts = this.#tx.hit(key, windowStartSec, windowSeconds);
    if (++this.#hitsSinceSweep >= RATE_LIMIT_SWEEP_EVERY) {
      this.#hitsSinceSweep = 0;
      this.#tx.sweepRateLimits(windowStartSec);
    }
    return counts;
  }
}

function eventParams(record: EventRecord) {
  return {
    eventId: record.eventId,
    config: JSON.stringify(record.config),
    configVersion: record.configVersion,
    state: record.state,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    version: record.version,
    servingPosition: record.servingPosition,
    inUse: record.inUse,
    releasedThrough: record.releasedThrough,
    rateCredit: record.rateCredit,
    lastTickAtMs: record.lastTickAtMs,
    completedSeen: record.completedSeen,
    missed: record.missed,
    expired: record.expired,
    recentTicks: JSON.stringify(record.recentTicks),
    leftSeen: record.leftSeen,
    admittedTotal: record.admittedTotal,
    heldThroughServing: record.heldThroughServing,
    settledSlice: record.settledSlice,
    settledHeld: record.settledHeld,
  };
}

/** Every statement, prepared once. */
function statements(db: Database.Database) {
  return {
    getEvent: db.prepare('SELECT * FROM events WHERE event_id = ?'),
    getState: db.prepare('SELECT state FROM events WHERE event_id = ?'),
    insertEvent: db.prepare(
      `INSERT INTO events (event_id, config, config_version, state, created_at, updated_at, version,
         serving_position, in_use, released_through, rate_credit, last_tick_at_ms, completed_seen,
         missed, expired, recent_ticks, left_seen, admitted_total, held_through_serving, settled_slice,
         settled_held)
       VALUES (@eventId, @config, @configVersion, @state, @createdAt, @updatedAt, @version,
         @servingPosition, @inUse, @releasedThrough, @rateCredit, @lastTickAtMs, @completedSeen,
         @missed, @expired, @recentTicks, @leftSeen, @admittedTotal, @heldThroughServing, @settledSlice,
         @settledHeld)
       ON CONFLICT (event_id) DO NOTHING`,
    ),
    insertCounters: db.prepare(
      'INSERT INTO counters (event_id, issued, claimed, completed, left_admitted) VALUES (?, 0, 0, 0, 0)',
    ),
    insertSeal: db.prepare('INSERT INTO seals (event_id, sealed_through, leave_fence) VALUES (?, 0, 0)'),
    activate: db.prepare('INSERT OR IGNORE INTO active_events (event_id) VALUES (?)'),
    updateConfig: db.prepare(
      `UPDATE events SET config = @config, updated_at = @nowSec, config_version = @expected + 1
       WHERE event_id = @eventId AND config_version = @expected`,
    ),
    setState: db.prepare(
      'UPDATE events SET state = @state, version = version + 1, updated_at = @updatedAt WHERE event_id = @eventId',
    ),
    getCounters: db.prepare(
      'SELECT issued, claimed, completed, left_admitted FROM counters WHERE event_id = ?',
    ),
    takePosition: db.prepare('UPDATE counters SET issued = issued + 1 WHERE event_id = ? RETURNING issued'),
    countClaim: db.prepare('UPDATE counters SET claimed = claimed + 1 WHERE event_id = ?'),
    countComplete: db.prepare('UPDATE counters SET completed = completed + 1 WHERE event_id = ?'),
    countLeftAdmitted: db.prepare('UPDATE counters SET left_admitted = left_admitted + 1 WHERE event_id = ?'),
    listActive: db.prepare('SELECT event_id FROM active_events ORDER BY event_id'),
    retire: db.prepare('DELETE FROM active_events WHERE event_id = ?'),
    getUser: db.prepare('SELECT position, reserved_at FROM users WHERE event_id = ? AND user_id = ?'),
    reserveUser: db.prepare(
      `INSERT INTO users (event_id, user_id, position, reserved_at) VALUES (@eventId, @userId, NULL, @nowSec)
       ON CONFLICT (event_id, user_id) DO UPDATE SET reserved_at = excluded.reserved_at
       WHERE users.position IS NULL AND users.reserved_at < @staleBeforeSec`,
    ),
    bindUser: db.prepare(
      `UPDATE users SET position = @position, reserved_at = NULL
       WHERE event_id = @eventId AND user_id = @userId AND position IS NULL AND reserved_at = @reservedAt`,
    ),
    releaseUser: db.prepare(
      'DELETE FROM users WHERE event_id = ? AND user_id = ? AND position IS NULL AND reserved_at = ?',
    ),
    unbindUser: db.prepare('DELETE FROM users WHERE event_id = ? AND user_id = ? AND position = ?'),
    batchesAfter: db.prepare(
      `SELECT from_position, to_position, admitted, at, claim_by FROM batches
       WHERE event_id = ? AND to_position > ? ORDER BY to_position LIMIT ?`,
    ),
    insertBatch: db.prepare(
      `INSERT INTO batches (event_id, to_position, from_position, admitted, at, claim_by)
       VALUES (@eventId, @to, @from, @admitted, @at, @claimBy)`,
    ),
    getSession: db.prepare(
      `SELECT position, session_id, sub, claimed_at, ends_at, claim_by, completed_at FROM sessions
       WHERE event_id = ? AND position = ?`,
    ),
    insertSession: db.prepare(
      `INSERT INTO sessions (event_id, position, session_id, sub, claimed_at, ends_at, claim_by, completed_at)
       VALUES (@eventId, @position, @sessionId, @sub, @claimedAt, @endsAt, @claimBy, @completedAt)`,
    ),
    completeSession: db.prepare(
      'UPDATE sessions SET completed_at = @nowSec WHERE event_id = @eventId AND position = @position',
    ),
    getBucket: db.prepare('SELECT missed, expired FROM release_buckets WHERE event_id = ? AND second = ?'),
    addToBucket: db.prepare(
      `INSERT INTO release_buckets (event_id, second, missed, expired) VALUES (@eventId, @second, @missed, @expired)
       ON CONFLICT (event_id, second) DO UPDATE
       SET missed = missed + excluded.missed, expired = expired + excluded.expired`,
    ),
    dropAppliedBuckets: db.prepare('DELETE FROM release_buckets WHERE event_id = ? AND second <= ?'),
    sumBuckets: db.prepare(
      `SELECT coalesce(sum(missed), 0) AS missed, coalesce(sum(expired), 0) AS expired FROM release_buckets
       WHERE event_id = ? AND second > ? AND second <= ?`,
    ),
    getSeal: db.prepare('SELECT sealed_through FROM seals WHERE event_id = ?'),
    raiseSeal: db.prepare(
      `INSERT INTO seals (event_id, sealed_through) VALUES (@eventId, @throughSec)
       ON CONFLICT (event_id) DO UPDATE SET sealed_through = max(sealed_through, excluded.sealed_through)`,
    ),
    commitTick: db.prepare(
      `UPDATE events SET version = @version, serving_position = @servingPosition, in_use = @inUse,
         released_through = @releasedThrough, rate_credit = @rateCredit, last_tick_at_ms = @lastTickAtMs,
         completed_seen = @completedSeen, missed = @missed, expired = @expired, recent_ticks = @recentTicks,
         left_seen = @leftSeen, admitted_total = @admittedTotal, held_through_serving = @heldThroughServing,
         settled_slice = @settledSlice, settled_held = @settledHeld, updated_at = @updatedAt
       WHERE event_id = @eventId AND version = @expected`,
    ),
    hit: db.prepare(
      `INSERT INTO rate_limits (rate_key, window_start, hits, expires_at) VALUES (@key, @windowStartSec, 1, @expiresAt)
       ON CONFLICT (rate_key, window_start) DO UPDATE SET hits = hits + 1
       RETURNING hits`,
    ),
    getIntake: db.prepare('SELECT rung_slice, sealed_through FROM intake WHERE event_id = ?'),
    ringIntake: db.prepare(
      `INSERT INTO intake (event_id, rung_slice, sealed_through) VALUES (@eventId, @slice, -1)
       ON CONFLICT (event_id) DO UPDATE SET rung_slice = max(rung_slice, excluded.rung_slice)`,
    ),
    sealIntake: db.prepare(
      `INSERT INTO intake (event_id, rung_slice, sealed_through) VALUES (@eventId, -1, @throughSlice)
       ON CONFLICT (event_id) DO UPDATE SET sealed_through = max(sealed_through, excluded.sealed_through)`,
    ),
    stripeCounts: db.prepare(
      'SELECT slice, stripe, taken FROM intake_tickets WHERE event_id = ? AND stripe = ? AND slice > ?',
    ),
    takeTicket: db.prepare(
      `INSERT INTO intake_tickets (event_id, slice, stripe, taken) VALUES (@eventId, @slice, @stripe, 1)
       ON CONFLICT (event_id, slice, stripe) DO UPDATE SET taken = taken + 1 WHERE taken < @most
       RETURNING taken`,
    ),
    forgetTickets: db.prepare('DELETE FROM intake_tickets WHERE event_id = ? AND slice <= ?'),
    ticketCounts: db.prepare(
      `SELECT slice, stripe, taken FROM intake_tickets
       WHERE event_id = ? AND slice > ? AND slice <= ? AND taken > 0 ORDER BY slice, stripe`,
    ),
    insertSlice: db.prepare(
      `INSERT INTO slices (event_id, slice, counts, held_before) VALUES (@eventId, @slice, @counts, @heldBefore)
       ON CONFLICT (event_id, slice) DO NOTHING`,
    ),
    getSlice: db.prepare('SELECT slice, counts, held_before FROM slices WHERE event_id = ? AND slice = ?'),
    slicesAfter: db.prepare(
      `SELECT slice, counts, held_before FROM slices WHERE event_id = ? AND slice > ? ORDER BY slice LIMIT ?`,
    ),
    getFence: db.prepare('SELECT leave_fence FROM seals WHERE event_id = ?'),
    raiseFence: db.prepare(
      `INSERT INTO seals (event_id, sealed_through, leave_fence) VALUES (@eventId, 0, @throughPosition)
       ON CONFLICT (event_id) DO UPDATE SET leave_fence = max(leave_fence, excluded.leave_fence)`,
    ),
    getLeave: db.prepare('SELECT voided FROM leaves WHERE event_id = ? AND position = ?'),
    insertLeave: db.prepare(
      `INSERT INTO leaves (event_id, position, left_at, voided) VALUES (@eventId, @position, @nowSec, @voided)`,
    ),
    countLeave: db.prepare(
      `INSERT INTO leave_blocks (event_id, block, leaves) VALUES (@eventId, @block, 1)
       ON CONFLICT (event_id, block) DO UPDATE SET leaves = leaves + 1`,
    ),
    voidsIn: db.prepare(
      `SELECT position FROM leaves WHERE event_id = ? AND position > ? AND position <= ? AND voided = 1
       ORDER BY position`,
    ),
    leaveBlocks: db.prepare(
      'SELECT block, leaves FROM leave_blocks WHERE event_id = ? AND block >= ? ORDER BY block',
    ),
    forgetLeaveBlocks: db.prepare('DELETE FROM leave_blocks WHERE event_id = ? AND block < ?'),
    getHits: db.prepare('SELECT hits FROM rate_limits WHERE rate_key = ? AND window_start = ?'),
    sweepRateLimits: db.prepare('DELETE FROM rate_limits WHERE expires_at <= ?'),
  };
}
