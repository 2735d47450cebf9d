import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { PlaceClock, type PlaceView } from '#client/place-clock';
import {
  type EventDocument,
  type PlaceUpdate,
  readEventDocument,
  readPlaceUpdate,
  readServerMessage,
  type ServerMessage,
  type WaitCurve,
} from '#client/wire';

/** The fan's clock (epoch ms). The server's runs `SKEW` ms apart from it: it must not matter. */
const T0 = 1_790_000_000_000;
const s = (seconds: number) => T0 + seconds * 1000;

/** A line that admits `perSecond` places a second from a tick `nextTick` s away: ahead n waits about n / perSecond. */
function steady(perSecond = 1, nextTick = 1, entries = 600): WaitCurve {
  return {
    nextTickInSeconds: nextTick,
    tickSeconds: 1,
    stride: 1,
    admitted: Array.from({ length: entries }, (_, k) => Math.floor((k + 1) * perSecond)),
    perSecond,
  };
}

function update(fields: Partial<PlaceUpdate> = {}): PlaceUpdate {
  return {
    seq: null,
    status: 'waiting',
    eventState: 'open',
    position: 100,
    servingPosition: 0,
    ahead: 100,
    estimatedWaitSeconds: 100,
    admittedTotal: 0,
    line: null,
    claimBy: null,
    pollAfterSeconds: 5,
    token: null,
    ...fields,
  };
}

function documentAt(at: number, fields: Partial<EventDocument> = {}, skew = 0): EventDocument {
  return {
    state: 'open',
    servingPosition: 0,
    admittedTotal: 0,
    limits: { capacity: 10, admitPerMinute: null },
    generatedAt: (at + skew) / 1000,
    waitCurve: steady(),
    pollAfterSeconds: 5,
    line: null,
    ...fields,
  };
}

function message(type: 'paused' | 'resumed' | 'closed' | 'left', seq: number | null = null): ServerMessage {
  return { type, seq };
}

function joined(fields: Partial<PlaceUpdate> = {}, at = T0) {
  const clock = new PlaceClock({ position: fields.position ?? 100 });
  expect(clock.applyUpdate(update(fields), at).applied).toBe(true);
  return clock;
}

describe('place clock: the countdown', () => {
  test('counts down second by second between updates, and never below 1 s while waiting', () => {
    const clock = joined();
    expect(clock.view(T0)).toMatchObject({
      status: 'waiting',
      ahead: 100,
      estimatedWaitSeconds: 100,
      waitReason: null,
    });
    expect(clock.view(s(0.4)).estimatedWaitSeconds).toBe(100);
    expect(clock.view(s(1)).estimatedWaitSeconds).toBe(99);
    expect(clock.view(s(30)).estimatedWaitSeconds).toBe(70);
    expect(clock.view(s(500)).estimatedWaitSeconds).toBe(1);
    // Counting is not news: ahead stays what the server said.
    expect(clock.view(s(500)).ahead).toBe(100);
  });

  test('a lower estimate replaces the countdown at once', () => {
    const clock = joined();
    clock.applyUpdate(update({ estimatedWaitSeconds: 60, ahead: 60 }), s(10));
    expect(clock.view(s(10))).toMatchObject({ estimatedWaitSeconds: 60, ahead: 60, waitRose: false });
    expect(clock.view(s(15)).estimatedWaitSeconds).toBe(55);
  });

  test('a higher estimate within the tolerance is not shown: the countdown goes on', () => {
    const clock = joined();
    // At 10 s the countdown shows 90; the tolerance is max(5 s, 10 %) = 9 s.
    clock.applyUpdate(update({ estimatedWaitSeconds: 99 }), s(10));
    expect(clock.view(s(10))).toMatchObject({ estimatedWaitSeconds: 90, waitRose: false, waitReason: null });
    expect(clock.view(s(11)).estimatedWaitSeconds).toBe(89);
  });

  test('a higher estimate beyond the tolerance is shown with its reason, for a while', () => {
    const clock = joined();
    // The caller learns it rose (a live client then reads the document once, to tell why).
    expect(clock.applyUpdate(update({ estimatedWaitSeconds: 130 }), s(10)).waitRose).toBe(true);
    expect(clock.view(s(10))).toMatchObject({
      estimatedWaitSeconds: 130,
      waitRose: true,
      waitReason: 'slowed',
    });
    expect(clock.view(s(20))).toMatchObject({ estimatedWaitSeconds: 120, waitReason: 'slowed' });
    expect(clock.view(s(40))).toMatchObject({ estimatedWaitSeconds: 100, waitRose: false, waitReason: null });
  });

  test('an unknown estimate keeps the countdown; a closed sale has none', () => {
    const clock = joined();
    clock.applyUpdate(update({ estimatedWaitSeconds: null }), s(10));
    expect(clock.view(s(10)).estimatedWaitSeconds).toBe(90);
    clock.applyMessage(message('closed', 5), s(11));
    expect(clock.view(s(11))).toMatchObject({ eventState: 'closed', estimatedWaitSeconds: null });
  });

  test('admitted: nobody ahead, no wait, the claim deadline', () => {
    const clock = joined();
    const applied = clock.applyMessage({ type: 'admitted', seq: 3, claimBy: 1_790_000_300 }, s(5));
    expect(applied).toEqual({ applied: true, refresh: true, waitRose: false });
    expect(clock.view(s(5))).toMatchObject({
      status: 'admitted',
      ahead: 0,
      estimatedWaitSeconds: 0,
      claimBy: 1_790_000_300,
    });
    // Claimed since (status says active): a late `admitted` of the same seq does not undo it.
    clock.applyUpdate(update({ seq: 3, status: 'active', ahead: 0, estimatedWaitSeconds: 0 }), s(6));
    clock.applyMessage({ type: 'admitted', seq: 3, claimBy: 1 }, s(7));
    expect(clock.view(s(7))).toMatchObject({ status: 'active', claimBy: null, claimSecondsLeft: null });
  });

  test("the claim deadline counts down on the server's clock, as the documents show it, across a restore", () => {
    const SKEW = 40_000;
    const clock = joined();
    // Before any document: the fan's own clock.
    clock.applyMessage({ type: 'admitted', seq: 3, claimBy: 1_790_000_300 }, s(0));
    expect(clock.view(s(0)).claimSecondsLeft).toBe(300);
    // The server's clock runs 40 s ahead: 40 s fewer are left than the fan's clock says.
    clock.applyDocument(documentAt(s(0), {}, SKEW), s(0));
    expect(clock.view(s(0)).claimSecondsLeft).toBe(260);
    expect(clock.view(s(10.5)).claimSecondsLeft).toBe(249);
    expect(clock.view(s(300)).claimSecondsLeft).toBe(0);
    const snapshot = clock.snapshot(s(20));
    expect(snapshot?.skewMs).toBe(SKEW);
    const restored = PlaceClock.restore(JSON.parse(JSON.stringify(snapshot)));
    expect(restored.view(s(20))).toMatchObject({ status: 'admitted', claimSecondsLeft: 240 });
  });
});

describe('place clock: the public document between personal updates', () => {
  for (const skew of [0, 5 * 3600_000, -3600_000]) {
    test(`counts admitted places off ahead, and reads the wait from the curve (server clock ${skew / 1000} s off)`, () => {
      const clock = joined();
      const applied = clock.applyDocument(documentAt(s(10), { admittedTotal: 10 }, skew), s(10));
      expect(applied).toEqual({ applied: true, refresh: false, waitRose: false });
      // 90 real places to go at one a second: 90 s (the curve's next tick is 1 s away, the 90th at 89 s more).
      expect(clock.view(s(10))).toMatchObject({ ahead: 90, estimatedWaitSeconds: 90, waitReason: null });
      expect(clock.view(s(12)).estimatedWaitSeconds).toBe(88);
      // The same document served again from a cache 3 s later: time has run on, nothing went up.
      clock.applyDocument(documentAt(s(10), { admittedTotal: 10 }, skew), s(13));
      expect(clock.view(s(13))).toMatchObject({ ahead: 90, estimatedWaitSeconds: 87, waitRose: false });
    });
  }

  test('never below 1 by counting; the line reaching the place asks for its status, once', () => {
    const clock = joined({ ahead: 5, estimatedWaitSeconds: 5 });
    expect(clock.applyDocument(documentAt(s(3), { admittedTotal: 4 }), s(3)).refresh).toBe(false);
    expect(clock.view(s(3)).ahead).toBe(1);
    expect(clock.applyDocument(documentAt(s(6), { admittedTotal: 9 }), s(6)).refresh).toBe(true);
    expect(clock.view(s(6))).toMatchObject({ status: 'waiting', ahead: 1, estimatedWaitSeconds: 1 });
    expect(clock.applyDocument(documentAt(s(9), { admittedTotal: 12 }), s(9)).refresh).toBe(false);
    // The serving position shown never passes the place before its status says so.
    clock.applyDocument(documentAt(s(12), { admittedTotal: 12, servingPosition: 150 }), s(12));
    expect(clock.view(s(12)).servingPosition).toBe(99);
  });

  test('the serving position passing the place asks for its status too (a leave ahead, a sharded line)', () => {
    const clock = joined({ admittedTotal: null });
    expect(clock.applyDocument(documentAt(s(3), { servingPosition: 99 }), s(3)).refresh).toBe(false);
    expect(clock.applyDocument(documentAt(s(6), { servingPosition: 100 }), s(6)).refresh).toBe(true);
  });

  test('a document older than the personal update does not count anything off it', () => {
    const clock = joined({ admittedTotal: 50, ahead: 40, estimatedWaitSeconds: 40 });
    clock.applyDocument(documentAt(s(1), { admittedTotal: 45 }), s(1));
    expect(clock.view(s(1))).toMatchObject({ ahead: 40, estimatedWaitSeconds: 39 });
  });

  test('an update without admittedTotal (an older server) is not related to the document', () => {
    const clock = joined({ admittedTotal: null });
    clock.applyDocument(documentAt(s(10), { admittedTotal: 60, waitCurve: steady(10) }), s(10));
    expect(clock.view(s(10))).toMatchObject({ ahead: 100, estimatedWaitSeconds: 90 });
  });

  test('a document older than one applied is ignored', () => {
    const clock = joined();
    clock.applyDocument(documentAt(s(10), { admittedTotal: 10 }), s(10));
    expect(clock.applyDocument(documentAt(s(8), { admittedTotal: 8 }), s(11)).applied).toBe(false);
    expect(clock.applyDocument(documentAt(s(12), { admittedTotal: 9 }), s(12)).applied).toBe(false);
    expect(clock.view(s(12)).ahead).toBe(90);
  });

  test('the line stops moving although it was expected to: the countdown stands still, saying so', () => {
    const clock = joined();
    // One a second expected from 1 s on; 5 s later nothing has moved yet (a tick may run late).
    for (const at of [0, 5]) clock.applyDocument(documentAt(s(at)), s(at));
    expect(clock.view(s(5))).toMatchObject({ waitFrozen: false, estimatedWaitSeconds: 95, waitReason: null });
    // 10 s without a move: a stall. The wait is what the server now says, and stands still.
    clock.applyDocument(documentAt(s(10)), s(10));
    const stalled = clock.view(s(10));
    expect(stalled).toMatchObject({ waitFrozen: true, waitReason: 'slowed', estimatedWaitSeconds: 100 });
    clock.applyDocument(documentAt(s(15)), s(15));
    expect(clock.view(s(25)).estimatedWaitSeconds).toBe(100);
    // It moves again: the countdown resumes.
    clock.applyDocument(documentAt(s(30), { admittedTotal: 5 }), s(30));
    expect(clock.view(s(30))).toMatchObject({ waitFrozen: false, ahead: 95 });
    expect(clock.view(s(32)).estimatedWaitSeconds).toBe((clock.view(s(30)).estimatedWaitSeconds ?? 0) - 2);
  });

  test('a line that is not expected to move yet (every slot held) is not a stall', () => {
    const clock = joined({ estimatedWaitSeconds: 300 });
    // Nobody admitted for the next 200 ticks, then one a second; each document a little later.
    const held = (at: number): WaitCurve => ({
      ...steady(),
      admitted: [...Array(200 - at).fill(0), ...steady().admitted],
    });
    for (let at = 0; at <= 60; at += 5)
      clock.applyDocument(documentAt(s(at), { waitCurve: held(at) }), s(at));
    expect(clock.view(s(60))).toMatchObject({
      waitFrozen: false,
      waitReason: null,
      estimatedWaitSeconds: 240,
    });
  });
});

describe('place clock: pause, capacity cuts and the order of news', () => {
  test('paused: the countdown stands still and says why; resumed, it goes on', () => {
    const clock = joined();
    expect(clock.applyMessage(message('paused', 7), s(10))).toEqual({
      applied: true,
      refresh: true,
      waitRose: false,
    });
    const paused = clock.view(s(10));
    expect(paused).toMatchObject({
      eventState: 'paused',
      estimatedWaitSeconds: 90,
      waitFrozen: true,
      waitReason: 'paused',
    });
    expect(clock.view(s(200)).estimatedWaitSeconds).toBe(90);
    // A document read while paused (a live page reads it too) does not move it, even lower.
    clock.applyDocument(documentAt(s(150), { state: 'paused', waitCurve: steady(10) }), s(150));
    expect(clock.view(s(200)).estimatedWaitSeconds).toBe(90);
    // The status answer while paused says the wait once resumed: higher, so shown with the pause as reason.
    clock.applyUpdate(update({ seq: 7, eventState: 'paused', estimatedWaitSeconds: 120 }), s(200));
    expect(clock.view(s(200))).toMatchObject({
      estimatedWaitSeconds: 120,
      waitReason: 'paused',
      waitRose: true,
    });
    clock.applyMessage(message('resumed', 8), s(300));
    expect(clock.view(s(300))).toMatchObject({
      eventState: 'open',
      estimatedWaitSeconds: 120,
      waitFrozen: false,
    });
    expect(clock.view(s(310)).estimatedWaitSeconds).toBe(110);
  });

  test('a capacity or rate cut is the reason a wait goes up after it', () => {
    const clock = joined();
    clock.applyDocument(documentAt(s(5), { admittedTotal: 5 }), s(5));
    // Half the capacity: the curve halves its pace.
    clock.applyDocument(
      documentAt(s(10), {
        admittedTotal: 10,
        limits: { capacity: 5, admitPerMinute: null },
        waitCurve: steady(0.5),
      }),
      s(10),
    );
    expect(clock.view(s(10))).toMatchObject({
      ahead: 90,
      estimatedWaitSeconds: 180,
      waitReason: 'capacity',
      waitRose: true,
    });

    // A rate cap where there was none; the status answer tells the longer wait before the document does.
    const other = joined();
    other.applyDocument(documentAt(s(5)), s(5));
    other.applyUpdate(update({ estimatedWaitSeconds: 300 }), s(6));
    expect(other.view(s(6)).waitReason).toBe('slowed');
    other.applyDocument(
      documentAt(s(10), { limits: { capacity: 10, admitPerMinute: 20 }, waitCurve: steady(1 / 3) }),
      s(10),
    );
    expect(other.view(s(10))).toMatchObject({ waitReason: 'capacity', waitRose: true });
  });

  test('updates older than what is shown are ignored (seq); `left` is final whatever its seq', () => {
    const clock = joined({ seq: 10, ahead: 50, estimatedWaitSeconds: 50 });
    expect(clock.applyUpdate(update({ seq: 9, ahead: 70, estimatedWaitSeconds: 70 }), s(1)).applied).toBe(
      false,
    );
    const position = readServerMessage({
      type: 'position',
      seq: 9,
      position: 100,
      servingPosition: 30,
      ahead: 70,
      estimatedWaitSeconds: 70,
      token: 't',
    });
    if (!position) throw new Error('not read');
    expect(clock.applyMessage(position, s(1)).applied).toBe(false);
    expect(clock.applyMessage(message('paused', 9), s(1)).applied).toBe(false);
    // Equal is applied: one change may bring several messages.
    expect(clock.applyUpdate(update({ seq: 10, ahead: 45, estimatedWaitSeconds: 45 }), s(2)).applied).toBe(
      true,
    );
    expect(clock.view(s(2))).toMatchObject({ ahead: 45, eventState: 'open' });
    expect(clock.applyMessage(message('left', 1), s(3)).applied).toBe(true);
    expect(clock.view(s(3))).toMatchObject({ status: 'left', estimatedWaitSeconds: null });
  });

  test("another place's position message is not this place's news", () => {
    const clock = joined({ seq: 1 });
    const theirs = readServerMessage({
      type: 'position',
      seq: 5,
      position: 7,
      servingPosition: 3,
      ahead: 4,
      estimatedWaitSeconds: 4,
      token: 't',
    });
    if (!theirs) throw new Error('not read');
    expect(clock.applyMessage(theirs, s(1)).applied).toBe(false);
    expect(clock.view(s(1)).ahead).toBe(100);
  });

  test('a state told in order wins over a document read before it; a later document corrects a missed change', () => {
    const clock = joined({ seq: 3 });
    clock.applyMessage(message('paused', 4), s(10));
    // A cached document from before the pause.
    expect(clock.applyDocument(documentAt(s(10.5)), s(11)).refresh).toBe(false);
    expect(clock.view(s(11)).eventState).toBe('paused');
    // Still open well after: the resume message was lost. Show it, and ask the status.
    expect(clock.applyDocument(documentAt(s(16)), s(16)).refresh).toBe(true);
    expect(clock.view(s(16))).toMatchObject({ eventState: 'open', waitFrozen: false });
  });

  test('a snapshot restores the place as shown, and time goes on counting', () => {
    const clock = joined({ seq: 4 });
    clock.applyDocument(documentAt(s(10), { admittedTotal: 10 }), s(10));
    const snapshot = clock.snapshot(s(12));
    expect(snapshot).not.toBeNull();
    if (!snapshot) return;
    const restored = PlaceClock.restore(JSON.parse(JSON.stringify(snapshot)));
    expect(restored.view(s(12))).toMatchObject({ ahead: 90, estimatedWaitSeconds: 88, status: 'waiting' });
    expect(restored.view(s(40)).estimatedWaitSeconds).toBe(60);
    // The next document counts from the snapshot's own admittedTotal.
    restored.applyDocument(documentAt(s(41), { admittedTotal: 40 }), s(41));
    expect(restored.view(s(41)).ahead).toBe(60);
    // A paused place stays frozen across a reload.
    clock.applyMessage(message('paused', 5), s(50));
    const frozen = PlaceClock.restore(clock.snapshot(s(50)) ?? snapshot);
    expect(frozen.view(s(500))).toMatchObject({
      eventState: 'paused',
      estimatedWaitSeconds: clock.view(s(50)).estimatedWaitSeconds,
    });
  });
});

describe('place clock: a steady line, as a server would tell it', () => {
  test('the shown wait never goes up and stays within a few seconds of the truth', () => {
    // Two places a second from the next whole second; the fan is 500 places back at t = 0.3 s.
    const rate = 2;
    const admittedBy = (t: number) => Math.max(0, Math.floor(t) * rate);
    const truth = (t: number) => Math.ceil((500 - admittedBy(t)) / rate); // seconds to go, at the tick
    const docAt = (t: number): EventDocument => ({
      ...documentAt(s(t)),
      admittedTotal: admittedBy(t),
      waitCurve: steady(rate, Math.ceil(t + 1e-9) - t),
    });
    const clock = new PlaceClock({ position: 500 });
    clock.applyUpdate(
      update({ position: 500, ahead: 500, admittedTotal: 0, estimatedWaitSeconds: 250 }),
      s(0.3),
    );
    let last = clock.view(s(0.3));
    for (let ms = 300; ms <= 240_000; ms += 250) {
      const t = ms / 1000;
      // The document every 5 s, as cached up to a second before; a position message every 10 s.
      if (ms % 5000 === 300) clock.applyDocument(docAt(t - ((ms / 5000) % 1)), s(t));
      if (ms % 10_000 === 2300) {
        const ahead = 500 - admittedBy(t);
        clock.applyUpdate(
          update({ position: 500, ahead, admittedTotal: admittedBy(t), estimatedWaitSeconds: truth(t) }),
          s(t),
        );
      }
      const view = clock.view(s(t));
      expect(view.estimatedWaitSeconds ?? 0).toBeLessThanOrEqual(last.estimatedWaitSeconds ?? 0);
      expect(view.ahead ?? 0).toBeLessThanOrEqual(last.ahead ?? 0);
      expect(view.waitReason).toBeNull();
      expect(Math.abs((view.estimatedWaitSeconds ?? 0) - (500 - admittedBy(t)) / rate)).toBeLessThanOrEqual(
        3,
      );
      // Never fewer places ahead than there are; never more than a document read ago.
      expect(view.ahead ?? 0).toBeGreaterThanOrEqual(500 - admittedBy(t));
      expect(view.ahead ?? 0).toBeLessThanOrEqual(500 - admittedBy(t - 7));
      last = view;
    }
  });
});

describe('place clock: properties over any news in any order', () => {
  const curve = fc
    .record({
      perSecond: fc.double({ min: 0.05, max: 20, noNaN: true }),
      nextTick: fc.double({ min: 0, max: 5, noNaN: true }),
    })
    .map(({ perSecond, nextTick }) => steady(perSecond, nextTick, 50));
  const step = fc.oneof(
    fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 40_000 }) }),
    fc.record({
      kind: fc.constant('update' as const),
      seq: fc.option(fc.integer({ min: 0, max: 30 }), { nil: null }),
      ahead: fc.integer({ min: 0, max: 400 }),
      estimate: fc.option(fc.integer({ min: 0, max: 2000 }), { nil: null }),
      admittedTotal: fc.option(fc.integer({ min: 0, max: 400 }), { nil: null }),
      eventState: fc.constantFrom('open' as const, 'paused' as const),
      viaSocket: fc.boolean(),
    }),
    fc.record({
      kind: fc.constant('document' as const),
      age: fc.integer({ min: 0, max: 3000 }),
      admittedTotal: fc.option(fc.integer({ min: 0, max: 400 }), { nil: null }),
      state: fc.constantFrom('open' as const, 'open' as const, 'paused' as const),
      capacity: fc.integer({ min: 1, max: 20 }),
      rate: fc.option(fc.integer({ min: 1, max: 600 }), { nil: null }),
      curve: fc.option(curve, { nil: null }),
    }),
    fc.record({
      kind: fc.constant('message' as const),
      type: fc.constantFrom('paused' as const, 'resumed' as const),
      seq: fc.option(fc.integer({ min: 0, max: 30 }), { nil: null }),
    }),
  );

  test('while waiting, the shown ahead never goes up nor above the last personal ahead, and the shown wait goes up only with a reason', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 400 }), fc.array(step, { maxLength: 60 }), (ahead, steps) => {
        const clock = new PlaceClock({ position: 1000 });
        let now = T0;
        clock.applyUpdate(update({ position: 1000, ahead, estimatedWaitSeconds: ahead * 2 }), now);
        let lastAhead = ahead;
        let before: PlaceView = clock.view(now);
        for (const step of steps) {
          if (step.kind === 'wait') now += step.ms;
          else if (step.kind === 'update') {
            const fields = update({
              position: 1000,
              seq: step.seq,
              ahead: step.ahead,
              estimatedWaitSeconds: step.estimate,
              admittedTotal: step.admittedTotal,
              eventState: step.eventState,
            });
            const applied = step.viaSocket
              ? clock.applyMessage({ type: 'position', seq: step.seq, update: fields }, now)
              : clock.applyUpdate(fields, now);
            if (applied.applied) lastAhead = step.ahead;
          } else if (step.kind === 'document') {
            clock.applyDocument(
              {
                ...documentAt(now - step.age),
                state: step.state,
                admittedTotal: step.admittedTotal,
                limits: { capacity: step.capacity, admitPerMinute: step.rate },
                waitCurve: step.curve,
              },
              now,
            );
          } else clock.applyMessage(message(step.type, step.seq), now);
          const after = clock.view(now);
          expect(after.status).toBe('waiting');
          expect(after.ahead ?? 0).toBeLessThanOrEqual(before.ahead ?? 0);
          expect(after.ahead ?? 0).toBeLessThanOrEqual(lastAhead);
          if (before.estimatedWaitSeconds !== null && after.estimatedWaitSeconds !== null) {
            if (after.estimatedWaitSeconds > before.estimatedWaitSeconds)
              expect(after.waitReason).not.toBeNull();
            if (after.waitFrozen && before.waitFrozen && step.kind === 'wait')
              expect(after.estimatedWaitSeconds).toBe(before.estimatedWaitSeconds);
          }
          before = after;
        }
      }),
      { numRuns: 300 },
    );
  });

  test('any line a document or an update says: never throws, never shows more than told, never below 1', () => {
    const anyLine = fc.oneof(
      fc.jsonValue(),
      fc.record({
        blockSize: fc.integer({ min: -2, max: 20_000 }),
        goneThroughServing: fc.integer({ min: -5, max: 1_000 }),
        leaves: fc.array(
          fc.tuple(
            fc.integer({ min: -1, max: 50 }),
            fc.integer({ min: -1, max: 8 }),
            fc.integer({ min: -1, max: 900 }),
          ),
          { maxLength: 12 },
        ),
      }),
    );
    const ownLine = fc.oneof(
      fc.jsonValue(),
      fc.record({
        blockSize: fc.integer({ min: -2, max: 20_000 }),
        block: fc.integer({ min: -1, max: 50 }),
        blocks: fc.integer({ min: -1, max: 8 }),
        goneBefore: fc.integer({ min: -5, max: 1_000 }),
        blockLeaves: fc.integer({ min: -1, max: 900 }),
      }),
    );
    fc.assert(
      fc.property(anyLine, ownLine, fc.integer({ min: 0, max: 400_000 }), (docLine, placeLine, serving) => {
        const position = 300_000;
        const update = readPlaceUpdate({
          position,
          servingPosition: 10,
          ahead: 500,
          admittedTotal: 0,
          line: placeLine,
        });
        const doc = readEventDocument({
          state: 'open',
          servingPosition: serving,
          admittedTotal: 3,
          line: docLine,
        });
        if (!update) throw new Error('a valid update');
        const clock = new PlaceClock({ position });
        clock.applyUpdate(update, s(0));
        if (doc) clock.applyDocument(doc, s(1));
        const { ahead } = clock.view(s(2));
        expect(ahead).not.toBeNull();
        expect(ahead).toBeLessThanOrEqual(497);
        expect(ahead).toBeGreaterThanOrEqual(1);
      }),
      { numRuns: 2_000 },
    );
  });

  test('reading never throws on any JSON, and reads only what it understands', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        readPlaceUpdate(value);
        readEventDocument(value);
        readServerMessage(value);
        readServerMessage(JSON.stringify(value));
      }),
    );
    expect(readServerMessage('not json')).toBeNull();
    expect(readServerMessage({ type: 'position', seq: 1 })).toBeNull();
    expect(readServerMessage({ type: 'whatever', seq: 1 })).toBeNull();
    expect(readPlaceUpdate({ position: 0, servingPosition: 0, ahead: 0 })).toBeNull();
    expect(readEventDocument({ state: 'open', servingPosition: 3 })).toMatchObject({
      admittedTotal: null,
      limits: null,
      waitCurve: null,
    });
  });
});
