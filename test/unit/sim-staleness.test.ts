/**
 * The simulator's staleness tracker (bench/simulate/staleness.ts): a page's shown `ahead` is
 * stale since the truth first dropped below it; the tracker finds that instant from its log
 * of admissions and leaves, forwards as the shown value goes down and backwards when an
 * update shows more. Checked against a brute-force replay of the same log.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { SecondsHistogram, TruthTracker } from '../../bench/simulate/staleness.ts';

describe('TruthTracker', () => {
  test('a page that shows the truth is not stale; one that missed a tick is stale since that tick', () => {
    const tracker = new TruthTracker();
    tracker.begin(Float64Array.from([10, 20, 30, 40, 50]));
    expect(tracker.track(1, 50, 0, 0)).toBe(true);
    expect(tracker.read(1, 5, 1000)).toEqual({ truth: 5, staleMs: 0, lowerBound: false });
    tracker.admitted(2, 5000); // 10 and 20 go in
    expect(tracker.read(1, 5, 6000)).toEqual({ truth: 3, staleMs: 1000, lowerBound: false });
    tracker.left(40, 7000);
    // The document caught up with the tick, not with the leave.
    expect(tracker.read(1, 3, 8000)).toEqual({ truth: 2, staleMs: 1000, lowerBound: false });
    expect(tracker.read(1, 2, 9000).staleMs).toBe(0);
    // A leave behind the place changes nothing for it.
    tracker.left(60, 9500);
    expect(tracker.read(1, 2, 10_000).staleMs).toBe(0);
  });

  test('an update that shows more walks back, not before the place could be followed', () => {
    const tracker = new TruthTracker();
    tracker.admitted(3, 1000); // before tracking began
    tracker.left(5, 2000);
    tracker.begin(Float64Array.from([10, 20, 30]));
    tracker.track(7, 30, 1, 1500); // its slice settled after the first entry
    expect(tracker.read(7, 3, 3000).staleMs).toBe(0);
    // Shows 4: the truth was 4 until the leave at 2000 (after the floor).
    expect(tracker.read(7, 4, 3000)).toEqual({ truth: 3, staleMs: 1000, lowerBound: false });
    // Shows 5: already too much when it could first be followed.
    expect(tracker.read(7, 5, 3000)).toEqual({ truth: 3, staleMs: 1500, lowerBound: true });
  });

  test('agrees with a replay of the log for any sequence of changes and shown values', () => {
    const change = fc.oneof(
      fc.record({ kind: fc.constant('admit' as const), places: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant('leave' as const), position: fc.integer({ min: 1, max: 60 }) }),
      fc.record({ kind: fc.constant('read' as const), shown: fc.integer({ min: 1, max: 60 }) }),
    );
    fc.assert(
      fc.property(fc.array(change, { maxLength: 40 }), fc.integer({ min: 1, max: 60 }), (steps, mine) => {
        const positions = Array.from({ length: 60 }, (_, i) => i + 1);
        const tracker = new TruthTracker();
        tracker.begin(Float64Array.from(positions));
        tracker.track(0, mine, 0, 0);
        // The replay: which places are waiting, and the truth after every change.
        const waiting = new Set(positions);
        const history: { at: number; truth: number }[] = [{ at: 0, truth: mine }];
        const truthNow = () => [...waiting].filter((p) => p <= mine).length;
        let t = 0;
        for (const step of steps) {
          t += 1000;
          if (step.kind === 'admit') {
            const front = [...waiting].sort((a, b) => a - b).slice(0, step.places);
            if (front.includes(mine)) break; // our place went in: no longer waiting
            for (const p of front) waiting.delete(p);
            if (front.length > 0) tracker.admitted(front.length, t);
            history.push({ at: t, truth: truthNow() });
          } else if (step.kind === 'leave') {
            if (step.position === mine || !waiting.has(step.position)) continue;
            waiting.delete(step.position);
            tracker.left(step.position, t);
            history.push({ at: t, truth: truthNow() });
          } else {
            const reading = tracker.read(0, step.shown, t);
            expect(reading.truth).toBe(truthNow());
            const drop = history.find((h) => h.truth < step.shown);
            expect(reading.staleMs).toBe(drop ? t - drop.at : 0);
            expect(reading.lowerBound).toBe(drop?.at === 0);
          }
        }
      }),
    );
  });
});

describe('SecondsHistogram', () => {
  test('percentiles to a tenth of a second, and the exact maximum', () => {
    const h = new SecondsHistogram(100);
    for (let i = 1; i <= 100; i++) h.add(i / 10);
    expect(h.percentile(50)).toBeCloseTo(5, 5);
    expect(h.percentile(99)).toBeCloseTo(9.9, 5);
    h.add(250);
    expect(h.max).toBe(250);
    expect(h.percentile(100)).toBe(100);
  });
});
