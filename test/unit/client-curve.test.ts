import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { curveAdmittedWithin, curveWaitSeconds } from '#client/curve';
import { readWaitCurve, type WaitCurve } from '#client/wire';
import { waitCurve, waitEstimate } from '#domain/estimate';
import { CONFIG_DEFAULTS, type EventRecord, newEventRecord } from '#domain/event';
import { playSteadySale } from '../support/steady-sale.ts';

const NOW = 1_800_000_000;

function curve(overrides: Partial<WaitCurve> = {}): WaitCurve {
  return { nextTickInSeconds: 2, tickSeconds: 5, stride: 1, admitted: [3, 3, 8], perSecond: 1, ...overrides };
}

describe('reading the wait curve', () => {
  test('one entry a tick: the first tick whose count reaches the place', () => {
    const c = curve();
    expect(curveWaitSeconds(c, 0)).toBe(0);
    expect(curveWaitSeconds(c, 1)).toBe(2);
    expect(curveWaitSeconds(c, 3)).toBe(2);
    expect(curveWaitSeconds(c, 4)).toBe(12); // tick 2
    expect(curveWaitSeconds(c, 8)).toBe(12);
    // Beyond the curve at perSecond: 5 places a tick after tick 2.
    expect(curveWaitSeconds(c, 9)).toBe(17);
    expect(curveWaitSeconds(c, 13)).toBe(17);
    expect(curveWaitSeconds(c, 14)).toBe(22);
  });

  test('entries of several ticks: the place falls within its entry in proportion', () => {
    // Entry 0 covers ticks 0–3 (10 places), entry 1 ticks 4–7 (10 more).
    const c = curve({ nextTickInSeconds: 0, tickSeconds: 1, stride: 4, admitted: [10, 20], perSecond: 0 });
    expect(curveWaitSeconds(c, 1)).toBe(0);
    expect(curveWaitSeconds(c, 5)).toBe(1);
    expect(curveWaitSeconds(c, 10)).toBe(3);
    expect(curveWaitSeconds(c, 11)).toBe(4);
    expect(curveWaitSeconds(c, 20)).toBe(7);
    // Nothing beyond the curve: the line is not expected to reach it.
    expect(curveWaitSeconds(c, 21)).toBeNull();
  });

  test('an empty curve is the steady pace from the next tick', () => {
    const c = curve({ admitted: [], perSecond: 0.2 }); // one place a tick
    expect(curveWaitSeconds(c, 1)).toBe(2);
    expect(curveWaitSeconds(c, 3)).toBe(12);
  });

  test('admitted within a time: only whole entries that have passed', () => {
    const c = curve();
    expect(curveAdmittedWithin(c, 1.9)).toBe(0);
    expect(curveAdmittedWithin(c, 2)).toBe(3);
    expect(curveAdmittedWithin(c, 11.9)).toBe(3);
    expect(curveAdmittedWithin(c, 12)).toBe(8);
    expect(curveAdmittedWithin(c, 17)).toBe(13);
    const strided = curve({
      nextTickInSeconds: 0,
      tickSeconds: 1,
      stride: 4,
      admitted: [10, 20],
      perSecond: 0,
    });
    expect(curveAdmittedWithin(strided, 2)).toBe(0);
    expect(curveAdmittedWithin(strided, 3)).toBe(10);
  });

  test('property: a place is admitted by the time the curve gives it, and not a tick before', () => {
    const curves = fc
      .record({
        nextTickInSeconds: fc.double({ min: 0, max: 5, noNaN: true }),
        tickSeconds: fc.constantFrom(1, 2, 5),
        stride: fc.integer({ min: 1, max: 5 }),
        steps: fc.array(fc.nat(50), { maxLength: 30 }),
        perSecond: fc.double({ min: 0.01, max: 100, noNaN: true }),
      })
      .map(({ steps, ...rest }) => {
        let total = 0;
        return { ...rest, admitted: steps.map((s) => (total += s)) };
      });
    fc.assert(
      fc.property(curves, fc.integer({ min: 1, max: 3000 }), (c, ahead) => {
        const wait = curveWaitSeconds(c, ahead);
        if (wait === null) return;
        // Counting whole entries only, the curve has admitted the place once its entry is over.
        expect(curveAdmittedWithin(c, wait + (c.stride - 1) * c.tickSeconds)).toBeGreaterThanOrEqual(ahead);
        if (c.stride === 1) {
          expect(curveAdmittedWithin(c, wait)).toBeGreaterThanOrEqual(ahead);
          expect(curveAdmittedWithin(c, wait - c.tickSeconds)).toBeLessThan(ahead);
        }
        // Further back never goes sooner.
        expect(curveWaitSeconds(c, ahead + 1) ?? Number.POSITIVE_INFINITY).toBeGreaterThanOrEqual(wait);
      }),
    );
  });

  test('regression: a time computed from the curve counts as its tick despite floating point', () => {
    // Found by the property above: 2.000000000012382 + 6 - 2.000000000012382 is a hair under 6.
    const c = {
      nextTickInSeconds: 2.000000000012382,
      tickSeconds: 2,
      stride: 4,
      perSecond: 0.01,
      admitted: [4],
    };
    const wait = curveWaitSeconds(c, 1) ?? 0;
    expect(curveAdmittedWithin(c, wait + 3 * c.tickSeconds)).toBe(4);
  });

  test('reading refuses what is not a curve', () => {
    expect(readWaitCurve(curve())).toEqual(curve());
    expect(readWaitCurve(null)).toBeNull();
    expect(readWaitCurve({ ...curve(), admitted: [3, 2] })).toBeNull();
    expect(readWaitCurve({ ...curve(), stride: 0 })).toBeNull();
    expect(readWaitCurve({ ...curve(), tickSeconds: 0 })).toBeNull();
    expect(readWaitCurve({ ...curve(), admitted: 'many' })).toBeNull();
  });
});

function event(
  overrides: Partial<EventRecord> = {},
  config: Partial<EventRecord['config']> = {},
): EventRecord {
  const fresh = newEventRecord('e', { ...CONFIG_DEFAULTS, capacity: 10, ...config }, NOW);
  return { ...fresh, ...overrides };
}

/** A sale ticked through planTick for a while (test/support/steady-sale.ts). */
function played(capacity: number, hold: number, tickSeconds: number, seconds: number, rate: number | null) {
  const { record, lastTick } = playSteadySale(
    event({}, { capacity, admitPerMinute: rate }),
    NOW,
    hold,
    tickSeconds,
    seconds,
  );
  return { record, now: lastTick };
}

describe('the client reads the curve as the server estimates', () => {
  const sales = {
    'before the first tick': { record: event(), now: NOW, tickSeconds: 5 },
    'rate-bound': {
      record: event(
        { lastTickAtMs: NOW * 1000, inUse: 0, rateCredit: 0 },
        { capacity: 1000, admitPerMinute: 60 },
      ),
      now: NOW + 1.5,
      tickSeconds: 5,
    },
    // Slots come back after minutes, one-second ticks: the line outlasts the server's timeline.
    'one slot, one-second ticks': { record: event({}, { capacity: 1 }), now: NOW, tickSeconds: 1 },
    'steady, capacity-bound': { ...played(50, 120, 5, 900, null), tickSeconds: 5 },
    'steady, one-second ticks': { ...played(20, 60, 1, 300, 120), tickSeconds: 1 },
    paused: {
      record: { ...played(20, 60, 1, 300, 120).record, state: 'paused' as const },
      now: NOW + 400,
      tickSeconds: 1,
    },
  };

  for (const [name, sale] of Object.entries(sales)) {
    test(`${name}: every place's wait is the server's, to the tick`, () => {
      const { record, tickSeconds } = sale;
      const now = sale.now + 0.25;
      for (const waiting of [5, 60, 400, 5000]) {
        const c = waitCurve(record, waiting, now, tickSeconds);
        expect(c).not.toBeNull();
        if (!c) return;
        // The curve covers the whole line, however far past the server's own timeline.
        expect(c.admitted[c.admitted.length - 1] ?? 0).toBeGreaterThanOrEqual(waiting);
        for (let ahead = 1; ahead <= waiting; ahead += Math.max(1, Math.floor(waiting / 97))) {
          const server = waitEstimate({ event: record, ahead, nowSec: now, tickSeconds }) ?? 0;
          const client = curveWaitSeconds(c, ahead);
          expect(client).not.toBeNull();
          const shown = Math.max(1, Math.ceil((client ?? 0) - 1e-9));
          // One entry a tick: the same tick (a second apart at most, the curve's times being
          // rounded to the millisecond). An entry of several ticks places the place within its span.
          const slack = c.stride === 1 ? 1 : c.stride * tickSeconds;
          expect(Math.abs(shown - server), `ahead ${ahead} of ${waiting}`).toBeLessThanOrEqual(slack);
        }
      }
    });
  }
});

describe('the curve is timed from the moment it is asked for', () => {
  // Regression: the timeline is cached per whole second, and its time to the next tick was
  // cached with it: a document generated at x.9 said the same `nextTickInSeconds` as one
  // generated at x.1 of that second, so it put the next tick up to a second late (a whole
  // tick with one-second ticks), and the estimate with it.
  test('two documents within one second agree on when the next tick is', () => {
    const record = event({ lastTickAtMs: NOW * 1000, inUse: 0, rateCredit: 0 }, { capacity: 1000 });
    const early = waitCurve(record, 10, NOW + 0.1, 5);
    const late = waitCurve(record, 10, NOW + 0.9, 5);
    expect(early?.nextTickInSeconds).toBeCloseTo(4.9, 3);
    expect(late?.nextTickInSeconds).toBeCloseTo(4.1, 3);
  });

  test("the server's own estimate counts down within the second too", () => {
    // The last tick was at NOW − 0.5, so the next is at NOW + 4.5: 4.4 s away at NOW + 0.1
    // (5 whole seconds), 3.9 s at NOW + 0.6 (4).
    const record = event({ lastTickAtMs: (NOW - 0.5) * 1000, inUse: 0, rateCredit: 0 }, { capacity: 1000 });
    expect(waitEstimate({ event: record, ahead: 1, nowSec: NOW + 0.1, tickSeconds: 5 })).toBe(5);
    expect(waitEstimate({ event: record, ahead: 1, nowSec: NOW + 0.6, tickSeconds: 5 })).toBe(4);
    // Before the first tick, or paused, the next tick is somewhere within one: half of it.
    const paused = { ...record, state: 'paused' as const };
    expect(waitCurve(paused, 10, NOW + 0.1, 5)?.nextTickInSeconds).toBe(2.5);
    expect(waitCurve(paused, 10, NOW + 0.9, 5)?.nextTickInSeconds).toBe(2.5);
  });
});
