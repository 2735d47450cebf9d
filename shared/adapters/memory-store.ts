/**
 * The queue store port held in process memory (`FQ_STORE=memory`: tests and the
 * bench; it keeps nothing across a restart, so `npm start` uses sqlite-store.ts).
 * Each operation runs to completion without awaiting, so it is atomic exactly as
 * the DynamoDB adapter's conditional writes and transactions are; the shared
 * contract suite holds every adapter to the same behaviour.
 */
import { ConflictError, EventClosedError, EventNotFoundError } from '#domain/errors';
import {
  type EventConfig,
  type EventRecord,
  type EventState,
  type LineSnapshot,
  newEventRecord,
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

interface Stripe {
  /** Slices at or below this are sealed; CLOSED_SLICE once the event closed. */
  sealedThrough: number;
  /** Tickets given out per slice not yet forgotten. */
  counts: Map<number, number>;
}

interface Bucket {
  missed: number;
  expired: number;
}

interface EventData {
  record: EventRecord;
  issued: number;
  claimed: number;
  completed: number;
  users: Map<string, UserSlot>;
  /** Sorted by `to`, contiguous. */
  batches: AdmissionBatch[];
  sessions: Map<number, Session>;
  buckets: Map<number, Bucket>;
  /** Buckets at or below this second are counted by a tick and frozen. */
  sealedThrough: number;
  leftAdmitted: number;
  stripes: Map<number, Stripe>;
  rungSlice: number;
  slices: Map<number, SliceRecord>;
  /** Positions given up. */
  left: Set<number>;
  /** Voided waiting positions, with their count per block. */
  voids: Set<number>;
  leaveBlocks: Map<number, number>;
  /** Places at or below this can no longer be voided. */
  fence: number;
}

export class MemoryQueueStore implements QueueStore {
  readonly #events = new Map<string, EventData>();
  readonly #lines = new Map<string, LineSnapshot>();
  readonly #active = new Set<string>();
  readonly #rateLimits = new Map<string, { count: number; expiresAt: number }>();

  #data(eventId: string): EventData {
    const data = this.#events.get(eventId);
    if (!data) throw new EventNotFoundError(eventId);
    return data;
  }

  #bucket(data: EventData, sec: number): Bucket {
    let bucket = data.buckets.get(sec);
    if (!bucket) {
      bucket = { missed: 0, expired: 0 };
      data.buckets.set(sec, bucket);
    }
    return bucket;
  }

  async putEvent(eventId: string, config: EventConfig, nowSec: number, expectedConfigVersion?: number) {
    const existing = this.#events.get(eventId);
    if (expectedConfigVersion !== undefined) {
      if (existing?.record.configVersion !== expectedConfigVersion) return null;
      existing.record = {
        ...existing.record,
        config,
        configVersion: expectedConfigVersion + 1,
        updatedAt: nowSec,
      };
      return { event: existing.record, created: false };
    }
    if (existing) return null;
    const record = newEventRecord(eventId, config, nowSec);
    this.#events.set(eventId, {
      record,
      issued: 0,
      claimed: 0,
      completed: 0,
      users: new Map(),
      batches: [],
      sessions: new Map(),
      buckets: new Map(),
      sealedThrough: 0,
      leftAdmitted: 0,
      stripes: new Map(),
      rungSlice: -1,
      slices: new Map(),
      left: new Set(),
      voids: new Set(),
      leaveBlocks: new Map(),
      fence: 0,
    });
    this.#active.add(eventId);
    return { event: record, created: true };
  }

  async setEventState(eventId: string, state: EventState, nowSec: number) {
    const data = this.#data(eventId);
    if (data.record.state === 'closed' && state !== 'closed') {
      throw new ConflictError('event_closed', 'A closed event cannot be reopened.');
    }
    data.record = {
      ...data.record,
      state,
      version: data.record.version + 1,
      updatedAt: data.record.state === state ? data.record.updatedAt : nowSec,
    };
    if (state === 'closed' && data.record.config.intake === 'sharded')
      for (let s = 0; s < INTAKE_STRIPES; s++) this.#stripe(data, s).sealedThrough = CLOSED_SLICE;
    return data.record;
  }

  async getEvent(eventId: string) {
    const record = this.#events.get(eventId)?.record;
    const line = this.#lines.get(eventId);
    // As a published copy carries it (decision 0010): the line as the last tick left it.
    return record && line ? { ...record, line } : record;
  }

  async getCounters(eventId: string): Promise<EventCounters> {
    const data = this.#events.get(eventId);
    return {
      issued: data?.issued ?? 0,
      claimed: data?.claimed ?? 0,
      completed: data?.completed ?? 0,
      leftAdmitted: data?.leftAdmitted ?? 0,
    };
  }

  async getIssued(eventId: string) {
    return this.#events.get(eventId)?.issued ?? 0;
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
    return [...this.#active];
  }

  async retireEvent(eventId: string) {
    this.#active.delete(eventId);
  }

  async allocatePosition(eventId: string) {
    const data = this.#data(eventId);
    if (data.record.state === 'closed') throw new EventClosedError();
    data.issued += 1;
    return data.issued;
  }

  async getUserSlot(eventId: string, userId: string) {
    return this.#events.get(eventId)?.users.get(userId);
  }

  async reserveUser(eventId: string, userId: string, nowSec: number, staleBeforeSec: number) {
    const data = this.#data(eventId);
    const slot = data.users.get(userId);
    if (slot && ('position' in slot || slot.reservedAt >= staleBeforeSec)) return false;
    data.users.set(userId, { reservedAt: nowSec });
    return true;
  }

  async bindUser(eventId: string, userId: string, position: number, reservedAt: number) {
    const users = this.#data(eventId).users;
    const slot = users.get(userId);
    if (!slot || 'position' in slot || slot.reservedAt !== reservedAt) return false;
    users.set(userId, { position });
    return true;
  }

  async releaseUser(eventId: string, userId: string, reservedAt: number) {
    const users = this.#events.get(eventId)?.users;
    const slot = users?.get(userId);
    if (slot && !('position' in slot) && slot.reservedAt === reservedAt) users?.delete(userId);
  }

  async batchesAfter(eventId: string, afterTo: number, limit: number) {
    const batches = this.#events.get(eventId)?.batches ?? [];
    return batches.filter((b) => b.to > afterTo).slice(0, limit);
  }

  async findBatch(eventId: string, position: number) {
    const batches = this.#events.get(eventId)?.batches ?? [];
    // Batches are contiguous and sorted: the first whose end reaches the position holds it.
    let lo = 0;
    let hi = batches.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((batches[mid]?.to ?? 0) < position) lo = mid + 1;
      else hi = mid;
    }
    const batch = batches[lo];
    return batch && batch.from < position ? batch : undefined;
  }

  async getSession(eventId: string, position: number) {
    return this.#events.get(eventId)?.sessions.get(position);
  }

  async claimSession(eventId: string, session: Session): Promise<ClaimResult> {
    const data = this.#data(eventId);
    const existing = data.sessions.get(session.position);
    if (existing) return { outcome: 'existing', session: existing };
    if (data.left.has(session.position)) return { outcome: 'left' };
    const due = data.buckets.get(session.claimBy);
    if (!due || Math.min(session.claimBy, session.endsAt) <= data.sealedThrough) return { outcome: 'missed' };
    due.missed -= 1;
    this.#bucket(data, session.endsAt).expired += 1;
    data.sessions.set(session.position, session);
    data.claimed += 1;
    return { outcome: 'claimed', session };
  }

  async completeSession(
    eventId: string,
    position: number,
    sessionId: string,
    nowSec: number,
  ): Promise<CompleteResult> {
    // Like the DynamoDB adapter: an unknown event or session has nothing left to end.
    const data = this.#events.get(eventId);
    const session = data?.sessions.get(position);
    if (!data || !session || session.sessionId !== sessionId || session.completedAt !== null)
      return 'already_ended';
    const end = data.buckets.get(session.endsAt);
    if (!end || session.endsAt <= data.sealedThrough) return 'already_ended';
    end.expired -= 1;
    data.sessions.set(position, { ...session, completedAt: nowSec });
    data.completed += 1;
    return 'completed';
  }

  async sealReleases(eventId: string, afterSec: number, throughSec: number): Promise<SealedReleases> {
    const data = this.#data(eventId);
    data.sealedThrough = Math.max(data.sealedThrough, throughSec);
    let missed = 0;
    let expired = 0;
    for (const [sec, bucket] of data.buckets) {
      // At or below `afterSec` a committed tick has applied the bucket: it is never read again.
      if (sec <= afterSec) data.buckets.delete(sec);
      else if (sec <= throughSec) {
        missed += bucket.missed;
        expired += bucket.expired;
      }
    }
    return { missed, expired, sealedThrough: data.sealedThrough };
  }

  async commitTick(eventId: string, expectedVersion: number, commit: TickCommit) {
    const data = this.#data(eventId);
    if (data.record.version !== expectedVersion) return false;
    data.record = { ...data.record, ...commit.next, updatedAt: commit.updatedAt };
    if (commit.batch) {
      data.batches.push(commit.batch);
      this.#bucket(data, commit.batch.claimBy).missed += commit.batch.admitted;
    }
    return true;
  }

  #stripe(data: EventData, stripe: number): Stripe {
    let found = data.stripes.get(stripe);
    if (!found) {
      found = { sealedThrough: -1, counts: new Map() };
      data.stripes.set(stripe, found);
    }
    return found;
  }

  async takeTicket(eventId: string, slice: number, stripe: number): Promise<TicketResult> {
    const item = this.#stripe(this.#data(eventId), stripe);
    if (item.sealedThrough >= CLOSED_SLICE) return { outcome: 'closed' };
    if (item.sealedThrough >= slice) return { outcome: 'sealed', sealedThrough: item.sealedThrough };
    const row = (item.counts.get(slice) ?? 0) + 1;
    if (row > STRIPE_ROWS_PER_SLICE) return { outcome: 'full' };
    item.counts.set(slice, row);
    const stripeCounts = new Map(item.counts);
    return { outcome: 'taken', row, stripeCounts };
  }

  async stripeCounts(eventId: string, stripe: number) {
    const data = this.#events.get(eventId);
    if (!data) return new Map<number, number>();
    const item = this.#stripe(data, stripe);
    return new Map(item.counts);
  }

  async ringIntake(eventId: string, slice: number) {
    const data = this.#data(eventId);
    data.rungSlice = Math.max(data.rungSlice, slice);
  }

  async rungSlice(eventId: string) {
    return this.#events.get(eventId)?.rungSlice ?? -1;
  }

  async sealIntake(eventId: string, afterSlice: number, throughSlice: number, forgetThrough: number) {
    const data = this.#data(eventId);
    const out = new Map<number, number[]>();
    for (let s = 0; s < INTAKE_STRIPES; s++) {
      const item = this.#stripe(data, s);
      item.sealedThrough = Math.max(item.sealedThrough, throughSlice);
      for (const [slice, count] of item.counts) {
        if (slice <= forgetThrough) item.counts.delete(slice);
        else if (slice > afterSlice && slice <= throughSlice && count > 0) {
          let counts = out.get(slice);
          if (!counts) {
            counts = new Array<number>(INTAKE_STRIPES).fill(0);
            out.set(slice, counts);
          }
          counts[s] = count;
        }
      }
    }
    return out;
  }

  async putSlices(eventId: string, records: readonly SliceRecord[]) {
    const data = this.#data(eventId);
    // First writer wins: a record never changes once written.
    for (const record of records) if (!data.slices.has(record.slice)) data.slices.set(record.slice, record);
  }

  async getSlice(eventId: string, slice: number) {
    return this.#events.get(eventId)?.slices.get(slice);
  }

  async slicesAfter(eventId: string, afterSlice: number, limit: number) {
    const slices = this.#events.get(eventId)?.slices;
    if (!slices) return [];
    return [...slices.values()]
      .filter((r) => r.slice > afterSlice)
      .sort((a, b) => a.slice - b.slice)
      .slice(0, limit);
  }

  async leaveWaiting(eventId: string, position: number): Promise<LeaveWaitingResult> {
    const data = this.#data(eventId);
    if (data.left.has(position)) return 'already_left';
    if (position <= data.fence) return 'fenced';
    data.left.add(position);
    data.voids.add(position);
    const block = leaveBlockOf(position);
    data.leaveBlocks.set(block, (data.leaveBlocks.get(block) ?? 0) + 1);
    return 'left';
  }

  async leaveAdmitted(
    eventId: string,
    position: number,
    claimBy: number | null,
  ): Promise<LeaveAdmittedResult> {
    const data = this.#data(eventId);
    if (data.left.has(position)) return 'already_left';
    if (data.sessions.has(position)) return 'already_left';
    data.left.add(position);
    // The slot comes back now while its bucket is still open; after that a tick has
    // released it as missed already.
    const bucket = claimBy === null ? undefined : data.buckets.get(claimBy);
    if (bucket && claimBy !== null && claimBy > data.sealedThrough) {
      bucket.missed -= 1;
      data.leftAdmitted += 1;
    }
    return 'left';
  }

  async markLeft(eventId: string, position: number): Promise<LeaveAdmittedResult> {
    const data = this.#data(eventId);
    if (data.left.has(position)) return 'already_left';
    data.left.add(position);
    return 'left';
  }

  async unbindUser(eventId: string, userId: string, position: number) {
    const users = this.#events.get(eventId)?.users;
    const slot = users?.get(userId);
    if (slot && 'position' in slot && slot.position === position) users?.delete(userId);
  }

  async hasLeft(eventId: string, position: number) {
    return this.#events.get(eventId)?.left.has(position) ?? false;
  }

  async fenceLeaves(eventId: string, throughPosition: number) {
    const data = this.#data(eventId);
    data.fence = Math.max(data.fence, throughPosition);
  }

  async leavesIn(eventId: string, after: number, through: number) {
    const voids = this.#events.get(eventId)?.voids;
    if (!voids) return [];
    return [...voids].filter((p) => p > after && p <= through).sort((a, b) => a - b);
  }

  async leaveBlocks(eventId: string, fromBlock: number) {
    const blocks = this.#events.get(eventId)?.leaveBlocks;
    return new Map([...(blocks ?? [])].filter(([block]) => block >= fromBlock));
  }

  async forgetLeaveBlocks(eventId: string, belowBlock: number) {
    const blocks = this.#events.get(eventId)?.leaveBlocks;
    for (const block of [...(blocks?.keys() ?? [])]) if (block < belowBlock) blocks?.delete(block);
  }

  async hitRateLimit(key: string, windowStartSec: number, windowSeconds: number) {
    const id = `${key}@${windowStartSec}`;
    // Kept through the next window too, which reads it as its `previous`.
    const entry = this.#rateLimits.get(id) ?? { count: 0, expiresAt: windowStartSec + 2 * windowSeconds };
    entry.count += 1;
    this.#rateLimits.set(id, entry);
    if (this.#rateLimits.size > 10_000) this.#sweepRateLimits(windowStartSec);
    const previous = this.#rateLimits.get(`${key}@${windowStartSec - windowSeconds}`)?.count ?? 0;
    return { current: entry.count, previous };
  }

  #sweepRateLimits(nowSec: number) {
    for (const [id, entry] of this.#rateLimits) if (entry.expiresAt <= nowSec) this.#rateLimits.delete(id);
  }
}
