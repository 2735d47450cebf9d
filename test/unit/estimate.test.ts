import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  estimateWaitSeconds,
  observedRatePerSecond,
  POLL_MAX_SECONDS,
  POLL_MIN_SECONDS,
  pollAfterSeconds,
} from '#domain/estimate';
import { ahead, placeStatus } from '#domain/place';

describe('wait estimate', () => {
  test('unknown until two ticks with admissions', () => {
    expect(observedRatePerSecond([], 100)).toBeNull();
    expect(observedRatePerSecond([{ at: 100, from: 0, to: 5, admitted: 5 }], 100)).toBeNull();
    expect(
      observedRatePerSecond(
        [
          { at: 100, from: 0, to: 0, admitted: 0 },
          { at: 105, from: 0, to: 0, admitted: 0 },
        ],
        105,
      ),
    ).toBeNull();
  });

  test('rate from admissions over the observed span', () => {
    const ticks = [
      { at: 100, from: 0, to: 10, admitted: 10 },
      { at: 105, from: 10, to: 20, admitted: 10 },
      { at: 110, from: 20, to: 30, admitted: 10 },
    ];
    expect(observedRatePerSecond(ticks, 110)).toBe(2);
    expect(estimateWaitSeconds(50, 2)).toBe(25);
    expect(estimateWaitSeconds(0, null)).toBe(0);
    expect(estimateWaitSeconds(10, null)).toBeNull();
    // No tick for a while: the rate decays instead of freezing at its last value.
    expect(observedRatePerSecond(ticks, 120)).toBe(1);
  });

  test('property: poll interval is bounded and grows with distance', () => {
    fc.assert(
      fc.property(
        fc.nat(1_000_000),
        fc.nat(1_000_000),
        fc.option(fc.double({ min: 0.01, max: 10_000, noNaN: true }), { nil: null }),
        (a, b, rate) => {
          const [near, far] = a <= b ? [a, b] : [b, a];
          const pNear = pollAfterSeconds(near, estimateWaitSeconds(near, rate));
          const pFar = pollAfterSeconds(far, estimateWaitSeconds(far, rate));
          expect(pNear).toBeGreaterThanOrEqual(POLL_MIN_SECONDS);
          expect(pFar).toBeLessThanOrEqual(POLL_MAX_SECONDS);
          expect(pFar).toBeGreaterThanOrEqual(pNear);
        },
      ),
    );
  });
});

describe('place status', () => {
  const batch = { from: 0, to: 10, admitted: 10, at: 100, claimBy: 400 };
  test.each([
    [{ position: 11, servingPosition: 10, batch: undefined, session: undefined, nowSec: 200 }, 'waiting'],
    [{ position: 5, servingPosition: 10, batch, session: undefined, nowSec: 399 }, 'admitted'],
    [{ position: 5, servingPosition: 10, batch, session: undefined, nowSec: 400 }, 'missed'],
  ] as const)('%o is %s', (args, expected) => {
    expect(placeStatus(args)).toBe(expected);
  });

  test('sessions are active, then expired or completed', () => {
    const session = {
      position: 5,
      sessionId: 's',
      sub: 'u',
      claimedAt: 300,
      endsAt: 500,
      claimBy: 400,
      completedAt: null,
    };
    const base = { position: 5, servingPosition: 10, batch };
    expect(placeStatus({ ...base, session, nowSec: 499 })).toBe('active');
    expect(placeStatus({ ...base, session, nowSec: 500 })).toBe('expired');
    expect(placeStatus({ ...base, session: { ...session, completedAt: 350 }, nowSec: 360 })).toBe(
      'completed',
    );
  });

  test('ahead never goes below zero', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), (p, s) => {
        expect(ahead(p, s)).toBeGreaterThanOrEqual(0);
      }),
    );
  });
});
