import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  dueAt,
  FRESH_SECONDS,
  farIntervalSeconds,
  ladderDown,
  ladderUp,
  OVERLOAD_SECONDS,
  phaseOf,
  planUpdates,
  scheduleOffset,
  settlingPollSeconds,
  statusPollSeconds,
  tierOf,
  type UpdatePolicy,
  updateFor,
  type WaitingFan,
} from '#domain/updates';

const policy: UpdatePolicy = {
  tickSeconds: 5,
  nearThreshold: 100,
  nearHorizonSeconds: 60,
  messagesPerSecond: 2000,
};

/** A line of `n` connected fans, `perSecond` admitted a second. */
const line = (n: number, perSecond = 50): WaitingFan[] =>
  Array.from({ length: n }, (_, i) => ({ ahead: i + 1, waitSeconds: Math.ceil((i + 1) / perSecond) }));

describe('update tiers', () => {
  test('near: within nearThreshold, or expected in within the horizon; the rest far', () => {
    expect(tierOf(policy, { ahead: 100, waitSeconds: 5000 })).toBe('near');
    expect(tierOf(policy, { ahead: 5000, waitSeconds: 60 })).toBe('near');
    expect(tierOf(policy, { ahead: 5000, waitSeconds: 61 })).toBe('far');
    expect(tierOf(policy, { ahead: 5000, waitSeconds: null })).toBe('far');
  });

  test('a far fan is told more often as it comes closer, at least every tick, at most every 10 s', () => {
    expect(farIntervalSeconds(policy, 3600, FRESH_SECONDS)).toBe(10);
    // wait ÷ 12 is 8 s: the ladder's step below it.
    expect(farIntervalSeconds(policy, 96, FRESH_SECONDS)).toBe(5);
    expect(farIntervalSeconds(policy, 30, FRESH_SECONDS)).toBe(5);
    expect(farIntervalSeconds(policy, null, OVERLOAD_SECONDS)).toBe(30);
    expect(farIntervalSeconds(policy, 240, OVERLOAD_SECONDS)).toBe(10);
    expect(farIntervalSeconds({ ...policy, tickSeconds: 1 }, 30, FRESH_SECONDS)).toBe(2.5);
  });

  test('the ladder: 10 s halved below, 30 s doubled above; each step divides the next', () => {
    expect([0.7, 1, 2.5, 4.9, 5, 9.99, 10, 29, 30, 59, 60, 1000].map(ladderDown)).toEqual([
      0.625, 0.625, 2.5, 2.5, 5, 5, 10, 10, 30, 30, 60, 960,
    ]);
    expect([0.7, 1, 2.5, 4.9, 5, 9.99, 10, 29, 30, 31, 60, 1000].map(ladderUp)).toEqual([
      1.25, 1.25, 2.5, 5, 5, 10, 10, 30, 30, 60, 60, 1920,
    ]);
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (phase) => {
        // A fan's points at a step are points at every shorter step.
        for (const [longer, shorter] of [
          [1920, 960],
          [60, 30],
          [30, 10],
          [10, 5],
          [5, 2.5],
        ] as const)
          expect(scheduleOffset(phase, longer) % shorter).toBe(scheduleOffset(phase, shorter));
      }),
    );
  });

  test('while the budget allows it every connected fan hears every move', () => {
    const plan = planUpdates(policy, line(10_000));
    expect(plan.everyMove).toBe(true);
    expect(plan.messagesPerSecond).toBe(2000);
    const fan = { ahead: 9000, waitSeconds: 900, phase: 0.5 };
    expect(updateFor(policy, plan, fan, { previousMoveSec: 99, nowSec: 100 }, 4)).toEqual({
      tier: 'near',
      offsetSeconds: 0,
    });
  });

  test('a longer line: far fans every 10 s; a line too long for that: every 30 s (overload); then as the budget says', () => {
    // 3,000 near (the first minute) at 600 messages/s; the rest every 5 to 10 s.
    const fresh = planUpdates(policy, line(12_000));
    expect(fresh).toMatchObject({ everyMove: false, ceilingSeconds: 10, overloaded: false });
    const overloaded = planUpdates(policy, line(25_000));
    expect(overloaded).toMatchObject({ everyMove: false, ceilingSeconds: 30, overloaded: true });
    const beyond = planUpdates(policy, line(200_000));
    expect(beyond.ceilingSeconds).toBeGreaterThan(30);
    expect(beyond.messagesPerSecond).toBeLessThanOrEqual(2000 + 1e-6);
  });

  test('property: whatever the line, the plan stays within the budget share, and far fans within 10 s while it can', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ ahead: fc.integer({ min: 1, max: 1e7 }), wait: fc.integer({ min: 1, max: 1e5 }) }),
          {
            maxLength: 3000,
          },
        ),
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 50, max: 5000 }),
        (fans, shards, budget) => {
          const p = { ...policy, messagesPerSecond: budget };
          const waiting = fans.map((f) => ({ ahead: f.ahead, waitSeconds: f.wait }));
          const plan = planUpdates(p, waiting, 1 / shards);
          const near = waiting.filter((f) => tierOf(p, f) === 'near').length;
          // The near tier is never cut: only when it alone exceeds the share may the plan.
          if (near / p.tickSeconds <= budget / shards)
            expect(plan.messagesPerSecond).toBeLessThanOrEqual(budget / shards + 1e-6);
          if (!plan.overloaded) expect(plan.ceilingSeconds).toBe(FRESH_SECONDS);
        },
      ),
    );
  });

  test('rounds: a far fan moving every tick is told once per interval, phases spread the round', () => {
    const phase = phaseOf('conn-abc');
    expect(phase).toBeGreaterThanOrEqual(0);
    expect(phase).toBeLessThan(1);
    let told = 0;
    for (let t = 5; t <= 600; t += 5) if (dueAt(phase, 10, t - 5, t) !== null) told++;
    expect(told).toBe(60);
    // Ids spread evenly over the phases.
    const buckets = new Array(10).fill(0);
    for (let i = 0; i < 10_000; i++) buckets[Math.floor(phaseOf(`c${i}=`) * 10)]++;
    for (const b of buckets) expect(b).toBeGreaterThan(850);
  });

  test('a fan not due at one move hears the next, however late it comes', () => {
    // Interval 10 s: due at 1000 + o, 1010 + o, 1020 + o, …
    const o = scheduleOffset(0.3, 10);
    expect(dueAt(0.3, 10, 1000 + o - 2, 1000 + o - 1)).toBeNull();
    expect(dueAt(0.3, 10, 1000 + o - 1, 1000 + o + 27)).toBe(1020 + o);
    expect(dueAt(0.3, 10, 1020.5 + o, 1027 + o)).toBeNull();
  });

  test("status polls: the estimate's pace near the front, slower with distance, never past half the token's life", () => {
    const limits = { statusRequestsPerSecond: 1000, positionTtlSeconds: 1800 };
    expect(statusPollSeconds(2, 10, limits)).toBe(2);
    expect(statusPollSeconds(60, 1000, limits)).toBe(60);
    expect(statusPollSeconds(60, 10_000, limits)).toBe(200);
    expect(statusPollSeconds(60, 1_000_000, limits)).toBe(900);
    // A line of a million pollers, each paced so: within the budget once tokens live long enough.
    const rate = (ttl: number, n: number) => {
      let sum = 0;
      for (let ahead = 1; ahead <= n; ahead++)
        sum += 1 / statusPollSeconds(60, ahead, { statusRequestsPerSecond: 1000, positionTtlSeconds: ttl });
      return sum;
    };
    expect(rate(1800, 100_000)).toBeLessThan(1000);
    expect(rate(4 * 3600, 1_000_000)).toBeLessThan(1000);
    // With the default half-hour tokens a million pollers need ~1,500/s: the token floor wins.
    expect(rate(1800, 1_000_000)).toBeGreaterThan(1000);
  });
});

describe('regression: rounds keep a far fan in rhythm while its interval changes', () => {
  const p: UpdatePolicy = { ...policy, tickSeconds: 1 };
  const start = 1_796_000_000;
  /** The moves (one every `spacing` s) at which a fan with this phase is told, its wait falling from `from`. */
  const told = (
    plan: ReturnType<typeof planUpdates>,
    phase: number,
    from: number,
    to: number,
    spacing: number,
  ) => {
    const at: number[] = [];
    for (let t = start + spacing; from - (t - start) > to; t += spacing) {
      const fan = { ahead: 10_000, waitSeconds: from - (t - start), phase };
      if (updateFor(p, plan, fan, { previousMoveSec: t - spacing, nowSec: t }, 0)) at.push(t);
    }
    return at;
  };
  const phases = Array.from({ length: 200 }, (_, i) => phaseOf(`conn-${i}`));

  test('coming closer (wait ÷ 12 from 10 s down to 5 s): never longer than 10 s and a move without a message', () => {
    const plan = planUpdates(p, line(3000, 10));
    expect(plan).toMatchObject({ everyMove: false, uniform: false, ceilingSeconds: FRESH_SECONDS });
    for (const phase of phases) {
      // A wait of 119 s down to 61 s, a move every 1.5 s: at least one message per 10 s.
      const at = told(plan, phase, 119, 61, 1.5);
      for (let i = 1; i < at.length; i++) expect((at[i] ?? 0) - (at[i - 1] ?? 0)).toBeLessThanOrEqual(11.5);
      expect(at.length).toBeGreaterThanOrEqual(Math.floor(58 / 10));
    }
  });

  test('beyond overload: far fans at the one interval the budget needs, as the line shortens at every move', () => {
    // 2,000 far fans and a budget of 20 a second: every 100 s; 5 fewer at each move (5 s apart).
    const tight = { ...p, messagesPerSecond: 20 };
    for (const phase of phases.slice(0, 20)) {
      let last = start;
      let longest = 0;
      let most = 0;
      for (let move = 1; move <= 200; move++) {
        const t = start + move * 5;
        const fans = Array.from({ length: 2000 - 5 * move }, (_, i) => ({
          ahead: 1000 + i,
          waitSeconds: 5000,
        }));
        const plan = planUpdates(tight, fans);
        expect(plan.uniform).toBe(true);
        expect(plan.messagesPerSecond).toBeLessThanOrEqual(20);
        most = Math.max(most, plan.ceilingSeconds);
        const fan = { ahead: 5000, waitSeconds: 5000, phase };
        if (updateFor(tight, plan, fan, { previousMoveSec: t - 5, nowSec: t }, 0)) {
          longest = Math.max(longest, t - last);
          last = t;
        }
      }
      expect(longest).toBeLessThanOrEqual(most + 5);
    }
  });
});

test('a sharded place told an estimate asks again once its slice is settled, never later than its pace', () => {
  // Sealed at 102, ticks every 5 s: settled by 107 at the latest, published a moment later.
  expect(settlingPollSeconds(900, 102, 100.2, 5)).toBe(8);
  expect(settlingPollSeconds(3, 102, 100.2, 5)).toBe(3);
  // Already past: at once (one second).
  expect(settlingPollSeconds(900, 90, 100, 5)).toBe(1);
});
