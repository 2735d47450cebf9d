/**
 * One contract suite for every adapter of the queue store port: the embedded
 * store and DynamoDB (Local) must behave the same, races included.
 */
import { describe, expect, test } from 'vitest';
import { ConflictError, EventClosedError, EventNotFoundError } from '#domain/errors';
import { CONFIG_DEFAULTS, type EventConfig } from '#domain/event';
import { INTAKE_STRIPES, LEAVE_BLOCK, type SliceRecord, STRIPE_ROWS_PER_SLICE } from '#domain/intake';
import type { Session } from '#domain/place';
import type { QueueStore, TicketResult } from '#ports/queue-store';

const config = (capacity = 5): EventConfig => ({ ...CONFIG_DEFAULTS, capacity });
const sharded = (capacity = 5): EventConfig => ({ ...config(capacity), intake: 'sharded' });
let seq = 0;
const newId = () => `ev-${Date.now().toString(36)}-${seq++}`;
const NOW = 1_800_000_000;

async function admit(store: QueueStore, eventId: string, count: number, claimBy: number) {
  const event = await store.getEvent(eventId, { consistent: true });
  if (!event) throw new Error('no event');
  const from = event.servingPosition;
  const ok = await store.commitTick(eventId, event.version, {
    next: { ...event, version: event.version + 1, servingPosition: from + count, inUse: event.inUse + count },
    batch: { from, to: from + count, admitted: count, at: NOW, claimBy },
    updatedAt: NOW,
  });
  expect(ok).toBe(true);
}

/** Counts per stripe (index = stripe) with the given stripes set, as a seal returns them. */
function stripeCounts(set: Record<number, number>): number[] {
  const counts = new Array<number>(INTAKE_STRIPES).fill(0);
  for (const [stripe, count] of Object.entries(set)) counts[Number(stripe)] = count;
  return counts;
}

/** Takes `count` tickets of one stripe in one slice, all at once. */
function takeTickets(store: QueueStore, eventId: string, slice: number, stripe: number, count: number) {
  return Promise.all(Array.from({ length: count }, () => store.takeTicket(eventId, slice, stripe)));
}

const rowsOf = (results: readonly TicketResult[]) =>
  results.flatMap((r) => (r.outcome === 'taken' ? [r.row] : [])).sort((a, b) => a - b);
const oneTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

function session(position: number, claimBy: number, endsAt: number, sessionId = `s-${position}`): Session {
  return { position, sessionId, sub: `u-${position}`, claimedAt: NOW, endsAt, claimBy, completedAt: null };
}

export function describeQueueStore(name: string, makeStore: () => QueueStore) {
  describe(`queue store contract: ${name}`, () => {
    test('creates an event open with nobody admitted, then updates only its config', async () => {
      const store = makeStore();
      const id = newId();
      const first = await store.putEvent(id, config(5), NOW);
      expect(first?.created).toBe(true);
      expect(first?.event).toMatchObject({
        eventId: id,
        state: 'open',
        servingPosition: 0,
        version: 0,
        configVersion: 1,
        createdAt: NOW,
      });
      // Creating again writes nothing.
      expect(await store.putEvent(id, config(7), NOW + 1)).toBeNull();
      await store.setEventState(id, 'paused', NOW + 1);
      const second = await store.putEvent(id, config(9), NOW + 2, 1);
      expect(second?.created).toBe(false);
      expect(second?.event).toMatchObject({
        state: 'paused',
        createdAt: NOW,
        updatedAt: NOW + 2,
        configVersion: 2,
      });
      expect(second?.event.config.capacity).toBe(9);
      expect(await store.listActiveEventIds()).toContain(id);
    });

    test('config updates are conditional on the version read: concurrent ones never both win', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, config(5), NOW);
      // Two operators read version 1 and write at once: exactly one lands.
      const results = await Promise.all(
        [11, 12, 13, 14].map((capacity) => store.putEvent(id, config(capacity), NOW + 1, 1)),
      );
      const winners = results.filter((r) => r !== null);
      expect(winners).toHaveLength(1);
      const event = await store.getEvent(id, { consistent: true });
      expect(event?.configVersion).toBe(2);
      expect(event?.config.capacity).toBe(winners[0]?.event.config.capacity);
      // A stale version writes nothing.
      expect(await store.putEvent(id, config(99), NOW + 2, 1)).toBeNull();
      expect((await store.getEvent(id, { consistent: true }))?.config.capacity).toBe(event?.config.capacity);
    });

    test('a change of state raises the version, so a tick planned before it cannot commit', async () => {
      const store = makeStore();
      const id = newId();
      const created = await store.putEvent(id, config(5), NOW);
      const before = created?.event.version ?? -1;
      const paused = await store.setEventState(id, 'paused', NOW + 1);
      expect(paused.version).toBeGreaterThan(before);
      const stale = {
        next: { ...paused, version: before + 1, servingPosition: 3, inUse: 3 },
        batch: { from: 0, to: 3, admitted: 3, at: NOW, claimBy: NOW + 100 },
        updatedAt: NOW,
      };
      expect(await store.commitTick(id, before, stale)).toBe(false);
      const resumed = await store.setEventState(id, 'open', NOW + 2);
      expect(resumed.version).toBeGreaterThan(paused.version);
      const closed = await store.setEventState(id, 'closed', NOW + 3);
      expect(closed.version).toBeGreaterThan(resumed.version);
      expect(await store.getEvent(id, { consistent: true })).toMatchObject({
        servingPosition: 0,
        version: closed.version,
      });
    });

    test('tick records keep what the wait estimate learns from; older ones without it still read', async () => {
      const store = makeStore();
      const id = newId();
      const created = await store.putEvent(id, config(5), NOW);
      const event = created?.event;
      if (!event) throw new Error('no event');
      const old = { at: NOW, from: 0, to: 0, admitted: 0 };
      const full = {
        at: NOW + 1,
        from: 0,
        to: 2,
        admitted: 2,
        inUse: 2,
        freed: 1,
        heldSeconds: 40,
        freedTotal: 9,
      };
      const later = { ...full, at: NOW + 2, from: 2, admitted: 0, heldSeconds: 42, freedTotal: 10 };
      const recentTicks = [old, full, later];
      expect(
        await store.commitTick(id, event.version, {
          next: { ...event, version: 1, recentTicks },
          batch: null,
          updatedAt: NOW,
        }),
      ).toBe(true);
      expect((await store.getEvent(id, { consistent: true }))?.recentTicks).toEqual(recentTicks);
    });

    test('positions come from one counter; unknown and closed events refuse', async () => {
      const store = makeStore();
      const id = newId();
      await expect(store.allocatePosition(id)).rejects.toBeInstanceOf(EventNotFoundError);
      await store.putEvent(id, config(), NOW);
      const positions = await Promise.all(Array.from({ length: 100 }, () => store.allocatePosition(id)));
      expect([...positions].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      expect((await store.getCounters(id)).issued).toBe(100);
      await store.setEventState(id, 'closed', NOW);
      await expect(store.allocatePosition(id)).rejects.toBeInstanceOf(EventClosedError);
      expect((await store.getCounters(id)).issued).toBe(100);
    });

    test('state changes: closed is final; unknown events are not found', async () => {
      const store = makeStore();
      const id = newId();
      await expect(store.setEventState(id, 'paused', NOW)).rejects.toBeInstanceOf(EventNotFoundError);
      await store.putEvent(id, config(), NOW);
      expect((await store.setEventState(id, 'paused', NOW)).state).toBe('paused');
      expect((await store.setEventState(id, 'open', NOW)).state).toBe('open');
      expect((await store.setEventState(id, 'closed', NOW)).state).toBe('closed');
      expect((await store.setEventState(id, 'closed', NOW)).state).toBe('closed');
      await expect(store.setEventState(id, 'open', NOW)).rejects.toBeInstanceOf(ConflictError);
    });

    test('one join of a user reserves the place; a dead reservation can be taken over', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, config(), NOW);
      expect(await store.getUserSlot(id, 'alice')).toBeUndefined();
      const reserved = await Promise.all(
        Array.from({ length: 20 }, () => store.reserveUser(id, 'alice', NOW, NOW - 10)),
      );
      expect(reserved.filter(Boolean)).toHaveLength(1);
      expect(await store.getUserSlot(id, 'alice')).toEqual({ reservedAt: NOW });
      // Not stale yet: nobody else may take it.
      expect(await store.reserveUser(id, 'alice', NOW + 5, NOW - 5)).toBe(false);
      // Stale: a later join takes it over, once.
      const takeovers = await Promise.all(
        Array.from({ length: 5 }, () => store.reserveUser(id, 'alice', NOW + 20, NOW + 10)),
      );
      expect(takeovers.filter(Boolean)).toHaveLength(1);
      // The slow first join cannot bind over the reservation that took its own over.
      expect(await store.bindUser(id, 'alice', 3, NOW)).toBe(false);
      expect(await store.getUserSlot(id, 'alice')).toEqual({ reservedAt: NOW + 20 });
      expect(await store.bindUser(id, 'alice', 7, NOW + 20)).toBe(true);
      expect(await store.getUserSlot(id, 'alice')).toEqual({ position: 7 });
      // Nor once it is bound; and the binding is not repeated over itself.
      expect(await store.bindUser(id, 'alice', 3, NOW)).toBe(false);
      expect(await store.bindUser(id, 'alice', 7, NOW + 20)).toBe(false);
      expect(await store.getUserSlot(id, 'alice')).toEqual({ position: 7 });
      // A bound place is never taken over nor released.
      expect(await store.reserveUser(id, 'alice', NOW + 999, NOW + 999)).toBe(false);
      await store.releaseUser(id, 'alice', NOW + 20);
      expect(await store.getUserSlot(id, 'alice')).toEqual({ position: 7 });
      // An unbound reservation is released by its own join only, not by one it took over from.
      expect(await store.reserveUser(id, 'bob', NOW, NOW - 10)).toBe(true);
      expect(await store.reserveUser(id, 'bob', NOW + 20, NOW + 10)).toBe(true);
      await store.releaseUser(id, 'bob', NOW);
      expect(await store.getUserSlot(id, 'bob')).toEqual({ reservedAt: NOW + 20 });
      await store.releaseUser(id, 'bob', NOW + 20);
      expect(await store.getUserSlot(id, 'bob')).toBeUndefined();
    });

    test('ticks commit under the version only; a stale tick writes nothing', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, config(), NOW);
      const event = await store.getEvent(id, { consistent: true });
      if (!event) throw new Error('missing');
      const commit = {
        next: { ...event, version: 1, servingPosition: 3, inUse: 3 },
        batch: { from: 0, to: 3, admitted: 3, at: NOW, claimBy: NOW + 100 },
        updatedAt: NOW,
      };
      expect(await store.commitTick(id, 0, commit)).toBe(true);
      expect(
        await store.commitTick(id, 0, {
          ...commit,
          next: { ...commit.next, servingPosition: 6 },
          batch: { from: 3, to: 6, admitted: 3, at: NOW, claimBy: NOW + 100 },
        }),
      ).toBe(false);
      const after = await store.getEvent(id, { consistent: true });
      expect(after).toMatchObject({ version: 1, servingPosition: 3, inUse: 3 });
      expect(await store.findBatch(id, 4)).toBeUndefined();
      // The stale tick's batch was not counted into the release bucket either.
      expect(await store.sealReleases(id, NOW, NOW + 100)).toMatchObject({ missed: 3, expired: 0 });
    });

    test('batches are found by position', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, config(), NOW);
      await admit(store, id, 3, NOW + 10);
      await admit(store, id, 4, NOW + 20);
      expect(await store.findBatch(id, 0)).toBeUndefined();
      expect((await store.findBatch(id, 1))?.to).toBe(3);
      expect((await store.findBatch(id, 3))?.to).toBe(3);
      expect(await store.findBatch(id, 4)).toMatchObject({ from: 3, to: 7, claimBy: NOW + 20 });
      expect((await store.findBatch(id, 7))?.from).toBe(3);
      expect(await store.findBatch(id, 8)).toBeUndefined();
    });

    test('a claim moves the slot from the claim deadline to the session end, once', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, config(), NOW);
      await admit(store, id, 3, NOW + 10);
      const first = await store.claimSession(id, session(2, NOW + 10, NOW + 50));
      expect(first.outcome).toBe('claimed');
      const again = await store.claimSession(id, session(2, NOW + 10, NOW + 60, 'other'));
      expect(again).toMatchObject({ outcome: 'existing', session: { sessionId: 's-2', endsAt: NOW + 50 } });
      expect(await store.getSession(id, 2)).toMatchObject({
        sessionId: 's-2',
        sub: 'u-2',
        completedAt: null,
      });
      expect((await store.getCounters(id)).claimed).toBe(1);
      expect(await store.sealReleases(id, NOW, NOW + 10)).toMatchObject({ missed: 2, expired: 0 });
      expect(await store.sealReleases(id, NOW + 10, NOW + 50)).toMatchObject({ missed: 0, expired: 1 });
    });

    test('concurrent claims of one place make one session', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, config(), NOW);
      await admit(store, id, 1, NOW + 10);
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          store.claimSession(id, session(1, NOW + 10, NOW + 50, `s-${i}`)),
        ),
      );
      expect(results.filter((r) => r.outcome === 'claimed')).toHaveLength(1);
      const ids = new Set(results.map((r) => ('session' in r ? r.session.sessionId : r.outcome)));
      expect(ids.size).toBe(1);
      expect((await store.getCounters(id)).claimed).toBe(1);
      expect(await store.sealReleases(id, NOW, NOW + 100)).toMatchObject({ missed: 0, expired: 1 });
    });

    test('claim deadline equal to session end is one bucket', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, config(), NOW);
      await admit(store, id, 2, NOW + 30);
      expect((await store.claimSession(id, session(1, NOW + 30, NOW + 30))).outcome).toBe('claimed');
      expect(await store.sealReleases(id, NOW, NOW + 30)).toMatchObject({ missed: 1, expired: 1 });
    });

    test('sealed buckets are frozen: a late claim is missed, sealing repeats identically', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, config(), NOW);
      await admit(store, id, 2, NOW + 10);
      const sealed = await store.sealReleases(id, NOW, NOW + 10);
      expect(sealed).toEqual({ missed: 2, expired: 0, sealedThrough: NOW + 10 });
      expect((await store.claimSession(id, session(1, NOW + 10, NOW + 50))).outcome).toBe('missed');
      expect(await store.getSession(id, 1)).toBeUndefined();
      expect(await store.sealReleases(id, NOW, NOW + 10)).toEqual(sealed);
      expect(await store.sealReleases(id, NOW + 10, NOW + 10)).toMatchObject({ missed: 0, expired: 0 });
    });

    test('a session ending at or below the watermark is refused, even where no bucket exists yet', async () => {
      // A one-second purchase window: the session-end bucket would be born already counted.
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, config(), NOW);
      await admit(store, id, 2, NOW + 10);
      expect(await store.sealReleases(id, NOW, NOW + 5)).toMatchObject({ sealedThrough: NOW + 5 });
      expect((await store.claimSession(id, session(1, NOW + 10, NOW + 5))).outcome).toBe('missed');
      expect((await store.claimSession(id, session(1, NOW + 10, NOW + 4))).outcome).toBe('missed');
      expect(await store.getSession(id, 1)).toBeUndefined();
      // Above the watermark it goes through, and its end is counted exactly once later.
      expect((await store.claimSession(id, session(2, NOW + 10, NOW + 6))).outcome).toBe('claimed');
      expect(await store.sealReleases(id, NOW + 5, NOW + 10)).toMatchObject({ missed: 1, expired: 1 });
    });

    test('the watermark never goes down: a lagging admitter learns the higher one', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, config(), NOW);
      await store.sealReleases(id, NOW, NOW + 20);
      expect(await store.sealReleases(id, NOW, NOW + 5)).toMatchObject({ sealedThrough: NOW + 20 });
    });

    test('complete frees the slot once; after the window ends it changes nothing', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, config(), NOW);
      await admit(store, id, 2, NOW + 10);
      await store.claimSession(id, session(1, NOW + 10, NOW + 50));
      await store.claimSession(id, session(2, NOW + 10, NOW + 60));
      expect(await store.completeSession(id, 1, 'wrong-session', NOW + 5)).toBe('already_ended');
      expect(await store.completeSession(id, 1, 's-1', NOW + 5)).toBe('completed');
      expect(await store.completeSession(id, 1, 's-1', NOW + 6)).toBe('already_ended');
      expect((await store.getSession(id, 1))?.completedAt).toBe(NOW + 5);
      expect((await store.getCounters(id)).completed).toBe(1);
      expect(await store.sealReleases(id, NOW, NOW + 60)).toMatchObject({ missed: 0, expired: 1 });
      expect(await store.completeSession(id, 2, 's-2', NOW + 61)).toBe('already_ended');
      expect((await store.getCounters(id)).completed).toBe(1);
    });

    test('the intake mode is kept, an exact one by default', async () => {
      const store = makeStore();
      const exact = newId();
      const shardedId = newId();
      await store.putEvent(exact, config(), NOW);
      await store.putEvent(shardedId, sharded(), NOW);
      expect((await store.getEvent(exact, { consistent: true }))?.config.intake).toBe('exact');
      expect((await store.getEvent(shardedId, { consistent: true }))?.config.intake).toBe('sharded');
      // A config update writes the whole config: the mode stays.
      await store.putEvent(shardedId, sharded(9), NOW + 1, 1);
      expect((await store.getEvent(shardedId, { consistent: true }))?.config).toMatchObject({
        capacity: 9,
        intake: 'sharded',
      });
    });

    test("a new event starts with nothing admitted, settled or left; a tick keeps the admitter's fields", async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, sharded(), NOW);
      const event = await store.getEvent(id, { consistent: true });
      if (!event) throw new Error('missing');
      expect(event).toMatchObject({
        leftSeen: 0,
        admittedTotal: 0,
        heldThroughServing: 0,
        settledSlice: -1,
        settledHeld: 0,
      });
      expect(await store.getCounters(id)).toEqual({ issued: 0, claimed: 0, completed: 0, leftAdmitted: 0 });
      const next = {
        ...event,
        version: 1,
        servingPosition: 300,
        inUse: 4,
        leftSeen: 2,
        admittedTotal: 6,
        heldThroughServing: 9,
        settledSlice: 3,
        settledHeld: 12,
      };
      expect(await store.commitTick(id, 0, { next, batch: null, updatedAt: NOW })).toBe(true);
      expect(await store.getEvent(id, { consistent: true })).toMatchObject({
        version: 1,
        servingPosition: 300,
        leftSeen: 2,
        admittedTotal: 6,
        heldThroughServing: 9,
        settledSlice: 3,
        settledHeld: 12,
      });
    });

    test('a batch adds its admitted places to its bucket, not its span (void numbers hold no slot)', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, sharded(), NOW);
      const event = await store.getEvent(id, { consistent: true });
      if (!event) throw new Error('missing');
      const batch = { from: 0, to: 10, admitted: 7, at: NOW, claimBy: NOW + 10 };
      const next = { ...event, version: 1, servingPosition: 10, inUse: 7, admittedTotal: 7 };
      expect(await store.commitTick(id, 0, { next, batch, updatedAt: NOW })).toBe(true);
      expect(await store.findBatch(id, 10)).toEqual(batch);
      expect(await store.batchesAfter(id, 0, 5)).toEqual([batch]);
      expect(await store.sealReleases(id, NOW, NOW + 10)).toMatchObject({ missed: 7, expired: 0 });
    });

    test('tickets are rows 1..n per stripe and slice, never one twice; a stripe is full after its most', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, sharded(), NOW);
      expect(rowsOf(await takeTickets(store, id, 0, 7, 20))).toEqual(oneTo(20));
      expect(await store.takeTicket(id, 0, 8)).toMatchObject({ outcome: 'taken', row: 1 });
      // The ticket brings its stripe's counts of the slices it still counts.
      await store.takeTicket(id, 1, 8);
      const third = await store.takeTicket(id, 1, 8);
      expect(third.outcome === 'taken' && [...(third.stripeCounts ?? [])].sort()).toEqual([
        [0, 1],
        [1, 2],
      ]);
      expect([...(await store.stripeCounts(id, 8))].sort()).toEqual([
        [0, 1],
        [1, 2],
      ]);
      expect((await store.stripeCounts(id, 9)).size).toBe(0);
      // A sealed slice still counts until a later seal forgets it: the event a join read may
      // not have settled it yet (the tick that sealed it had not committed, or a copy lags).
      await store.sealIntake(id, -1, 0, -1);
      expect([...(await store.stripeCounts(id, 8))].sort()).toEqual([
        [0, 1],
        [1, 2],
      ]);
      await store.sealIntake(id, 0, 0, 0);
      expect([...(await store.stripeCounts(id, 8))].sort()).toEqual([[1, 2]]);
      expect(await store.takeTicket(id, 1, 7)).toMatchObject({ outcome: 'taken', row: 1 });
      // One stripe of one slice: its most, then full; other stripes and slices are unaffected.
      const results = await takeTickets(store, id, 2, 0, STRIPE_ROWS_PER_SLICE + 5);
      expect(rowsOf(results)).toEqual(oneTo(STRIPE_ROWS_PER_SLICE));
      expect(results.filter((r) => r.outcome === 'full')).toHaveLength(5);
      expect(await store.takeTicket(id, 2, 0)).toEqual({ outcome: 'full' });
      expect(await store.takeTicket(id, 2, INTAKE_STRIPES - 1)).toMatchObject({ outcome: 'taken', row: 1 });
      expect(await store.takeTicket(id, 3, 0)).toMatchObject({ outcome: 'taken', row: 1 });
      // Full tickets were never counted.
      const counts = await store.sealIntake(id, -1, 3, -1);
      expect(counts.get(2)).toEqual(stripeCounts({ 0: STRIPE_ROWS_PER_SLICE, [INTAKE_STRIPES - 1]: 1 }));
    });

    test('the intake bell keeps the highest slice rung', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, sharded(), NOW);
      expect(await store.rungSlice(id)).toBe(-1);
      await Promise.all([3, 1, 3, 2].map((slice) => store.ringIntake(id, slice)));
      expect(await store.rungSlice(id)).toBe(3);
      await store.ringIntake(id, 0);
      expect(await store.rungSlice(id)).toBe(3);
      await store.ringIntake(id, 5);
      expect(await store.rungSlice(id)).toBe(5);
    });

    test('a seal returns exact counts per slice, the same when repeated, and refuses later tickets there', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, sharded(), NOW);
      await takeTickets(store, id, 0, 0, 3);
      await takeTickets(store, id, 0, 5, 1);
      await takeTickets(store, id, 1, 2, 2);
      await takeTickets(store, id, 3, 0, 1);
      await takeTickets(store, id, 4, 0, 1);
      const sealed = await store.sealIntake(id, -1, 3, -1);
      // Slices without tickets have no entry.
      expect([...sealed.keys()].sort((a, b) => a - b)).toEqual([0, 1, 3]);
      expect(sealed.get(0)).toEqual(stripeCounts({ 0: 3, 5: 1 }));
      expect(sealed.get(1)).toEqual(stripeCounts({ 2: 2 }));
      expect(sealed.get(3)).toEqual(stripeCounts({ 0: 1 }));
      expect(await store.sealIntake(id, -1, 3, -1)).toEqual(sealed);
      // Only (after, through] comes back.
      expect([...(await store.sealIntake(id, 0, 3, -1)).keys()].sort((a, b) => a - b)).toEqual([1, 3]);
      // Sealed slices take no more tickets, on any stripe: the join retries after sealedThrough.
      expect(await store.takeTicket(id, 3, 0)).toEqual({ outcome: 'sealed', sealedThrough: 3 });
      expect(await store.takeTicket(id, 1, INTAKE_STRIPES - 1)).toEqual({
        outcome: 'sealed',
        sealedThrough: 3,
      });
      expect(await store.takeTicket(id, 4, 0)).toMatchObject({ outcome: 'taken', row: 2 });
      // A lagging admitter never lowers the seal.
      expect([...(await store.sealIntake(id, -1, 1, -1)).keys()].sort((a, b) => a - b)).toEqual([0, 1]);
      expect(await store.takeTicket(id, 2, 0)).toEqual({ outcome: 'sealed', sealedThrough: 3 });
      expect((await store.sealIntake(id, 3, 4, 3)).get(4)).toEqual(stripeCounts({ 0: 2 }));
    });

    test('tickets racing a seal: every ticket taken is in the sealed counts, none after', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, sharded(), NOW);
      const stripes = [0, 1, 2, 3];
      const takes = Array.from({ length: 120 }, (_, i) => store.takeTicket(id, 0, stripes[i % 4] ?? 0));
      const seal = store.sealIntake(id, -1, 0, -1);
      const results = await Promise.all(takes);
      const counts = (await seal).get(0) ?? stripeCounts({});
      for (const [i, stripe] of stripes.entries()) {
        const taken = rowsOf(results.filter((_, j) => j % 4 === i));
        // The seal counted exactly the tickets this stripe gave out: rows 1..count.
        expect(taken).toEqual(oneTo(counts[stripe] ?? 0));
      }
      for (const r of results)
        if (r.outcome !== 'taken') expect(r).toEqual({ outcome: 'sealed', sealedThrough: 0 });
      expect((await store.sealIntake(id, -1, 0, -1)).get(0) ?? stripeCounts({})).toEqual(counts);
    });

    test('a seal may forget the counts of settled slices, never those after them', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, sharded(), NOW);
      for (const slice of [0, 1, 2]) await takeTickets(store, id, slice, slice, slice + 1);
      const first = await store.sealIntake(id, -1, 1, -1);
      const second = await store.sealIntake(id, 1, 2, 1);
      expect([...second.keys()]).toEqual([2]);
      expect(second.get(2)).toEqual(stripeCounts({ 2: 3 }));
      expect(await store.sealIntake(id, 1, 2, 1)).toEqual(second);
      const again = await store.sealIntake(id, -1, 2, 1);
      expect(again.get(2)).toEqual(stripeCounts({ 2: 3 }));
      // "May" forget: a forgotten slice is gone, or still exact, never partly counted.
      for (const slice of [0, 1]) if (again.has(slice)) expect(again.get(slice)).toEqual(first.get(slice));
    });

    test('closing a sharded event seals every stripe for good; the counts before stay', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, sharded(), NOW);
      await takeTickets(store, id, 0, 3, 2);
      await takeTickets(store, id, 5, INTAKE_STRIPES - 1, 1);
      await store.setEventState(id, 'closed', NOW + 1);
      for (const [slice, stripe] of [
        [0, 3],
        [5, 0],
        [6, INTAKE_STRIPES - 1],
        [10_000, 100],
      ] as const)
        expect(await store.takeTicket(id, slice, stripe)).toEqual({ outcome: 'closed' });
      const sealed = await store.sealIntake(id, -1, 5, -1);
      expect(sealed.get(0)).toEqual(stripeCounts({ 3: 2 }));
      expect(sealed.get(5)).toEqual(stripeCounts({ [INTAKE_STRIPES - 1]: 1 }));
      // A seal after the close does not reopen anything.
      expect(await store.takeTicket(id, 6, 0)).toEqual({ outcome: 'closed' });
    });

    test('settled slices: the first record written wins; read one, or those after a slice in order', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, sharded(), NOW);
      const record = (slice: number, count: number, heldBefore: number): SliceRecord => ({
        slice,
        counts: stripeCounts({ 0: count, [INTAKE_STRIPES - 1]: 1 }),
        heldBefore,
      });
      const records = [record(5, 2, 4), record(2, 3, 0), record(9, 1, 7)];
      await store.putSlices(id, records);
      await store.putSlices(id, [record(2, 40, 99)]);
      expect(await store.getSlice(id, 2)).toEqual(record(2, 3, 0));
      expect(await store.getSlice(id, 3)).toBeUndefined();
      expect(await store.slicesAfter(id, -1, 10)).toEqual([
        record(2, 3, 0),
        record(5, 2, 4),
        record(9, 1, 7),
      ]);
      expect(await store.slicesAfter(id, 2, 1)).toEqual([record(5, 2, 4)]);
      expect(await store.slicesAfter(id, 4, 10)).toEqual([record(5, 2, 4), record(9, 1, 7)]);
      expect(await store.slicesAfter(id, 9, 10)).toEqual([]);
    });

    test('markLeft marks once and voids nothing; unbindUser forgets only the place given up', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, config(), NOW);
      expect(await store.markLeft(id, 7, NOW)).toBe('left');
      expect(await store.markLeft(id, 7, NOW)).toBe('already_left');
      expect(await store.hasLeft(id, 7)).toBe(true);
      expect(await store.leavesIn(id, 0, 100)).toEqual([]);
      expect(await store.leaveBlocks(id, 0)).toEqual(new Map());

      expect(await store.reserveUser(id, 'u', NOW, NOW - 10)).toBe(true);
      expect(await store.bindUser(id, 'u', 7, NOW)).toBe(true);
      await store.unbindUser(id, 'u', 8);
      expect(await store.getUserSlot(id, 'u')).toEqual({ position: 7 });
      await store.unbindUser(id, 'u', 7);
      await store.unbindUser(id, 'u', 7);
      expect(await store.getUserSlot(id, 'u')).toBeUndefined();
      expect(await store.reserveUser(id, 'u', NOW, NOW - 10)).toBe(true);
    });

    test('a waiting place leaves once: void, indexed and counted in its block', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, config(), NOW);
      const outcomes = await Promise.all(Array.from({ length: 10 }, () => store.leaveWaiting(id, 5, NOW)));
      expect(outcomes.filter((o) => o === 'left')).toHaveLength(1);
      expect(outcomes.filter((o) => o === 'already_left')).toHaveLength(9);
      expect(await store.leaveWaiting(id, 9, NOW)).toBe('left');
      expect(await store.leaveWaiting(id, LEAVE_BLOCK + 1, NOW)).toBe('left');
      expect(await store.leaveWaiting(id, 9, NOW + 1)).toBe('already_left');
      expect(await store.hasLeft(id, 5)).toBe(true);
      expect(await store.hasLeft(id, 6)).toBe(false);
      expect(await store.leavesIn(id, 0, 2 * LEAVE_BLOCK)).toEqual([5, 9, LEAVE_BLOCK + 1]);
      // Whichever copy a display read lands on, it holds every leave.
      for (let i = 0; i < 16; i++)
        expect(await store.leavesIn(id, 0, 2 * LEAVE_BLOCK, { forDisplay: true })).toEqual([
          5,
          9,
          LEAVE_BLOCK + 1,
        ]);
      expect(await store.leavesIn(id, 5, 9)).toEqual([9]);
      expect(await store.leavesIn(id, 0, 8)).toEqual([5]);
      expect(await store.leavesIn(id, 9, LEAVE_BLOCK)).toEqual([]);
      expect(await store.leaveBlocks(id, 0)).toEqual(
        new Map([
          [0, 2],
          [1, 1],
        ]),
      );
      expect(await store.leaveBlocks(id, 1)).toEqual(new Map([[1, 1]]));
      expect(await store.leaveBlocks(id, 2)).toEqual(new Map());
      // Blocks the line has passed are forgotten; the leaves themselves stay indexed.
      await store.forgetLeaveBlocks(id, 1);
      await store.forgetLeaveBlocks(id, 1);
      expect(await store.leaveBlocks(id, 0)).toEqual(new Map([[1, 1]]));
      expect(await store.leavesIn(id, 0, 8)).toEqual([5]);
      // A place given up never claims.
      expect(await store.claimSession(id, session(5, NOW + 10, NOW + 50))).toEqual({ outcome: 'left' });
    });

    test('the leave fence refuses places at or below it and never goes down', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, config(), NOW);
      expect(await store.leaveWaiting(id, 11, NOW)).toBe('left');
      await store.fenceLeaves(id, 10);
      expect(await store.leaveWaiting(id, 10, NOW)).toBe('fenced');
      expect(await store.leaveWaiting(id, 3, NOW)).toBe('fenced');
      expect(await store.hasLeft(id, 10)).toBe(false);
      expect(await store.leavesIn(id, 0, 10)).toEqual([]);
      await store.fenceLeaves(id, 5);
      expect(await store.leaveWaiting(id, 8, NOW)).toBe('fenced');
      await store.fenceLeaves(id, 20);
      // A place that left before the fence stays left.
      expect(await store.leaveWaiting(id, 11, NOW)).toBe('already_left');
      expect(await store.leaveWaiting(id, 21, NOW)).toBe('left');
      expect(await store.leavesIn(id, 0, 30)).toEqual([11, 21]);
      expect(await store.leaveBlocks(id, 0)).toEqual(new Map([[0, 2]]));
    });

    test('leaves racing the fence: a place is void exactly when its leave was told so', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, config(), NOW);
      const positions = oneTo(40);
      const leaves = positions.map((p) => store.leaveWaiting(id, p, NOW));
      const fence = store.fenceLeaves(id, 20);
      const outcomes = await Promise.all(leaves);
      await fence;
      const left = positions.filter((_, i) => outcomes[i] === 'left');
      for (const [i, p] of positions.entries()) {
        expect(outcomes[i]).not.toBe('already_left');
        if (p > 20) expect(outcomes[i]).toBe('left');
        expect(await store.hasLeft(id, p)).toBe(outcomes[i] === 'left');
      }
      expect(await store.leavesIn(id, 0, 40)).toEqual(left);
      expect([...(await store.leaveBlocks(id, 0)).values()]).toEqual([left.length]);
    });

    test('an admitted place that leaves frees its slot while its bucket is open, once', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, config(), NOW);
      await admit(store, id, 4, NOW + 10);
      expect(await store.leaveAdmitted(id, 1, NOW + 10, NOW + 1)).toBe('left');
      expect(await store.leaveAdmitted(id, 1, NOW + 10, NOW + 2)).toBe('already_left');
      expect((await store.getCounters(id)).leftAdmitted).toBe(1);
      expect(await store.hasLeft(id, 1)).toBe(true);
      // Not a void number: the admitter has passed it; it is no waiting leave.
      expect(await store.leavesIn(id, 0, 10)).toEqual([]);
      expect(await store.leaveBlocks(id, 0)).toEqual(new Map());
      expect(await store.claimSession(id, session(1, NOW + 10, NOW + 50))).toEqual({ outcome: 'left' });
      // A claimed place ends its session instead: leaving changes nothing here.
      expect((await store.claimSession(id, session(2, NOW + 10, NOW + 50))).outcome).toBe('claimed');
      expect(await store.leaveAdmitted(id, 2, NOW + 10, NOW + 3)).toBe('already_left');
      expect(await store.hasLeft(id, 2)).toBe(false);
      // Without a known deadline (its batch not found yet) the place is marked, its slot kept.
      expect(await store.leaveAdmitted(id, 3, null, NOW + 3)).toBe('left');
      expect((await store.getCounters(id)).leftAdmitted).toBe(1);
      // 4 admitted: one left early, one claimed; the other two lapse as missed.
      expect(await store.sealReleases(id, NOW, NOW + 10)).toMatchObject({ missed: 2, expired: 0 });
    });

    test('a leave after the seal watermark passed its bucket frees nothing: the tick released it', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, config(), NOW);
      await admit(store, id, 3, NOW + 10);
      const sealed = await store.sealReleases(id, NOW, NOW + 10);
      expect(sealed).toMatchObject({ missed: 3 });
      expect(await store.leaveAdmitted(id, 2, NOW + 10, NOW + 11)).toBe('left');
      expect(await store.hasLeft(id, 2)).toBe(true);
      expect((await store.getCounters(id)).leftAdmitted).toBe(0);
      expect(await store.sealReleases(id, NOW, NOW + 10)).toEqual(sealed);
      // (The deadline is always the place's batch's: the store does not look the batch up again.)
    });

    test('concurrent leaves and claims of one admitted place: one of them wins, the slot moves once', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, config(), NOW);
      await admit(store, id, 1, NOW + 10);
      const [claims, leaves] = await Promise.all([
        Promise.all(
          Array.from({ length: 5 }, (_, i) =>
            store.claimSession(id, session(1, NOW + 10, NOW + 50, `s-${i}`)),
          ),
        ),
        Promise.all(Array.from({ length: 5 }, () => store.leaveAdmitted(id, 1, NOW + 10, NOW + 1))),
      ]);
      const claimed = claims.filter((c) => c.outcome === 'claimed').length;
      const left = leaves.filter((l) => l === 'left').length;
      expect(claimed + left).toBe(1);
      const counters = await store.getCounters(id);
      expect(counters).toMatchObject({ claimed, leftAdmitted: left });
      expect(await store.hasLeft(id, 1)).toBe(left === 1);
      expect(await store.sealReleases(id, NOW, NOW + 50)).toMatchObject({ missed: 0, expired: claimed });
    });

    test('retired events are no longer listed', async () => {
      const store = makeStore();
      const id = newId();
      await store.putEvent(id, config(), NOW);
      expect(await store.listActiveEventIds()).toContain(id);
      await store.retireEvent(id);
      expect(await store.listActiveEventIds()).not.toContain(id);
    });

    test('rate-limit windows count hits per key and window, and report the window before', async () => {
      const store = makeStore();
      const key = `ip-${newId()}`;
      expect(await store.hitRateLimit(key, NOW, 60)).toEqual({ current: 1, previous: 0 });
      expect(await store.hitRateLimit(key, NOW, 60)).toEqual({ current: 2, previous: 0 });
      expect(await store.hitRateLimit(key, NOW + 60, 60)).toEqual({ current: 1, previous: 2 });
      expect(await store.hitRateLimit(key, NOW + 180, 60)).toEqual({ current: 1, previous: 0 });
      expect(await store.hitRateLimit(`${key}-other`, NOW, 60)).toEqual({ current: 1, previous: 0 });
    });
  });
}
