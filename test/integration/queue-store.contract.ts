/**
 * One contract suite for every adapter of the queue store port: the embedded
 * store and DynamoDB (Local) must behave the same, races included.
 */
import { describe, expect, test } from 'vitest';
import { ConflictError, EventClosedError, EventNotFoundError } from '#domain/errors';
import { CONFIG_DEFAULTS, type EventConfig } from '#domain/event';
import type { Session } from '#domain/place';
import type { QueueStore } from '#ports/queue-store';

const config = (capacity = 5): EventConfig => ({ ...CONFIG_DEFAULTS, capacity });
let seq = 0;
const newId = () => `ev-${Date.now().toString(36)}-${seq++}`;
const NOW = 1_800_000_000;

async function admit(store: QueueStore, eventId: string, count: number, claimBy: number) {
  const event = await store.getEvent(eventId, { consistent: true });
  if (!event) throw new Error('no event');
  const from = event.servingPosition;
  const ok = await store.commitTick(eventId, event.version, {
    next: { ...event, version: event.version + 1, servingPosition: from + count, inUse: event.inUse + count },
    batch: { from, to: from + count, at: NOW, claimBy },
    updatedAt: NOW,
  });
  expect(ok).toBe(true);
}

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
        batch: { from: 0, to: 3, at: NOW, claimBy: NOW + 100 },
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
      await store.bindUser(id, 'alice', 7);
      expect(await store.getUserSlot(id, 'alice')).toEqual({ position: 7 });
      // A bound place is never taken over nor released.
      expect(await store.reserveUser(id, 'alice', NOW + 999, NOW + 999)).toBe(false);
      await store.releaseUser(id, 'alice');
      expect(await store.getUserSlot(id, 'alice')).toEqual({ position: 7 });
      // An unbound reservation is released.
      expect(await store.reserveUser(id, 'bob', NOW, NOW - 10)).toBe(true);
      await store.releaseUser(id, 'bob');
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
        batch: { from: 0, to: 3, at: NOW, claimBy: NOW + 100 },
        updatedAt: NOW,
      };
      expect(await store.commitTick(id, 0, commit)).toBe(true);
      expect(
        await store.commitTick(id, 0, {
          ...commit,
          next: { ...commit.next, servingPosition: 6 },
          batch: { from: 3, to: 6, at: NOW, claimBy: NOW + 100 },
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
      const ids = new Set(results.map((r) => (r.outcome === 'missed' ? 'missed' : r.session.sessionId)));
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
