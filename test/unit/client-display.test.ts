import fc from 'fast-check';
import { expect, test } from 'vitest';
import { EXACT_AHEAD_UP_TO, lowestShownAs, shownAhead } from '#client/display';

test('ahead is shown exactly up to a thousand, then to three significant figures', () => {
  expect(shownAhead(1)).toEqual({ value: 1, approximate: false });
  expect(shownAhead(EXACT_AHEAD_UP_TO)).toEqual({ value: 1_000, approximate: false });
  expect(shownAhead(1_004)).toEqual({ value: 1_000, approximate: true });
  expect(shownAhead(9_996)).toEqual({ value: 10_000, approximate: true });
  expect(shownAhead(12_345)).toEqual({ value: 12_300, approximate: true });
  expect(shownAhead(912_345)).toEqual({ value: 912_000, approximate: true });
  expect(shownAhead(49_999_999)).toEqual({ value: 50_000_000, approximate: true });
});

test('a rounded count never goes up when the count does not, and stays within half a unit', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1e9 }), fc.integer({ min: 0, max: 1e9 }), (a, b) => {
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      expect(shownAhead(lo).value).toBeLessThanOrEqual(shownAhead(hi).value);
      const shown = shownAhead(hi).value;
      expect(Math.abs(shown - hi)).toBeLessThanOrEqual(hi * 0.005 + 1e-9);
    }),
  );
});

test('the least count shown as a figure is shown as it, and one less is shown as less', () => {
  expect(lowestShownAs(912_000)).toBe(911_500);
  expect(lowestShownAs(10_000)).toBe(9_995);
  expect(lowestShownAs(1_000)).toBe(1_000);
  expect(lowestShownAs(37)).toBe(37);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1e9 }), (count) => {
      const shown = shownAhead(count).value;
      const lowest = lowestShownAs(shown);
      expect(shownAhead(lowest).value).toBe(shown);
      expect(shownAhead(lowest - 1).value).toBeLessThan(shown);
      expect(lowest).toBeLessThanOrEqual(count);
    }),
  );
});
