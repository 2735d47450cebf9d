import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { accrueCredit, planTick } from '#domain/admission';
import {
  CONFIG_DEFAULTS,
  type EventRecord,
  type EventState,
  INITIAL_ADMITTER_STATE,
  keepTicks,
  type TickRecord,
} from '#domain/event';

function event(
  overrides: Partial<EventRecord> = {},
  capacity = 10,
  admitPerMinute: number | null = null,
): EventRecord {
  return {
    ...INITIAL_ADMITTER_STATE,
    eventId: 'e',
    state: 'open',
    createdAt: 0,
    updatedAt: 0,
    configVersion: 1,
    config: { ...CONFIG_DEFAULTS, capacity, admitPerMinute },
    ...overrides,
  };
}

const NOW = 1_800_000_000_000;

describe('planTick', () => {
  test('admits the free capacity, no more than are waiting', () => {
    const plan = planTick({
      event: event({ inUse: 4 }, 10),
      releases: { missed: 0, expired: 0 },
      waiting: 100,
      completed: 0,
      nowMs: NOW,
      tickSeconds: 1,
    });
    expect(plan.to - plan.from).toBe(6);
    expect(plan.next.inUse).toBe(10);
    expect(plan.claimBy).toBe(NOW / 1000 + CONFIG_DEFAULTS.claimWindowSeconds);

    const few = planTick({
      event: event({}, 10),
      releases: { missed: 0, expired: 0 },
      waiting: 3,
      completed: 0,
      nowMs: NOW,
      tickSeconds: 1,
    });
    expect(few.to).toBe(3);
  });

  test('released and completed slots are given to the next in line', () => {
    const plan = planTick({
      event: event({ inUse: 10, servingPosition: 10, completedSeen: 2 }, 10),
      releases: { missed: 1, expired: 2 },
      waiting: 40,
      completed: 4,
      nowMs: NOW,
      tickSeconds: 1,
    });
    expect(plan.to - plan.from).toBe(5);
    expect(plan.next.completedSeen).toBe(4);
    expect(plan.next.missed).toBe(1);
    expect(plan.next.expired).toBe(2);
  });

  test.each<EventState>(['paused', 'closed'])('%s events admit nobody but still release slots', (state) => {
    const plan = planTick({
      event: event({ state, inUse: 5 }, 10),
      releases: { missed: 2, expired: 0 },
      waiting: 50,
      completed: 0,
      nowMs: NOW,
      tickSeconds: 1,
    });
    expect(plan.to).toBe(plan.from);
    expect(plan.next.inUse).toBe(3);
  });

  test('a lowered capacity admits nobody until use falls below it', () => {
    const plan = planTick({
      event: event({ inUse: 8 }, 5),
      releases: { missed: 0, expired: 0 },
      waiting: 50,
      completed: 0,
      nowMs: NOW,
      tickSeconds: 1,
    });
    expect(plan.to).toBe(plan.from);
  });

  test('property: never above capacity, never past issued, version moves by one', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 0, max: 600 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.record({ missed: fc.nat(50), expired: fc.nat(50) }),
        fc.nat(50),
        fc.option(fc.integer({ min: 1, max: 10_000 }), { nil: null }),
        (capacity, inUse, serving, extra, releases, completedDelta, rate) => {
          const issued = serving + extra;
          const plan = planTick({
            event: event(
              { inUse, servingPosition: serving, version: 7, lastTickAtMs: NOW - 1000 },
              capacity,
              rate,
            ),
            releases,
            waiting: issued - serving,
            completed: completedDelta,
            nowMs: NOW,
            tickSeconds: 1,
          });
          const admitted = plan.to - plan.from;
          expect(admitted).toBeGreaterThanOrEqual(0);
          expect(plan.to).toBeLessThanOrEqual(issued);
          if (admitted > 0) expect(plan.next.inUse).toBeLessThanOrEqual(capacity);
          expect(plan.next.inUse).toBeGreaterThanOrEqual(0);
          expect(plan.next.version).toBe(8);
        },
      ),
    );
  });

  test('property: admissions over any run never outpace admitPerMinute (plus one tick of credit)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 600 }),
        fc.array(fc.integer({ min: 50, max: 30_000 }), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 10 }),
        (rate, gaps, tickSeconds) => {
          let state = event({}, 1_000_000, rate);
          let now = NOW;
          let admitted = 0;
          const start = now;
          for (const gap of gaps) {
            now += gap;
            const plan = planTick({
              event: state,
              releases: { missed: 0, expired: 0 },
              waiting: 10_000_000,
              completed: 0,
              nowMs: now,
              tickSeconds,
            });
            admitted += plan.to - plan.from;
            state = { ...state, ...plan.next };
          }
          const cap = Math.max(1, (rate * tickSeconds) / 60);
          expect(admitted).toBeLessThanOrEqual(Math.floor(((now - start) / 60_000) * rate + cap) + 1e-9);
        },
      ),
    );
  });

  test('recent ticks are bounded', () => {
    let state = event({}, 1);
    for (let i = 0; i < 100; i++) {
      const plan = planTick({
        event: state,
        releases: { missed: 0, expired: 0 },
        waiting: 0,
        completed: 0,
        nowMs: NOW + i * 1000,
        tickSeconds: 1,
      });
      state = { ...state, ...plan.next };
    }
    expect(state.recentTicks.length).toBe(30);
  });
});

describe('accrueCredit', () => {
  test('earns per elapsed time and banks at most one tick', () => {
    expect(accrueCredit(0, 60, 1000, 5)).toBeCloseTo(1);
    expect(accrueCredit(0, 60, 60_000, 5)).toBe(5);
    expect(accrueCredit(0, 6, 1000, 1)).toBeCloseTo(0.1);
    expect(accrueCredit(0.95, 6, 100_000, 1)).toBe(1);
  });
});

describe('keepTicks', () => {
  test('a long sale keeps 30 records: the newest one per tick, the older merged, nothing lost', () => {
    let ticks: TickRecord[] = [];
    for (let i = 0; i < 500; i++)
      ticks = keepTicks(ticks, {
        at: 1000 + 5 * i,
        from: 10 * i,
        to: 10 * (i + 1),
        admitted: i % 3,
        freed: 1,
      });
    expect(ticks).toHaveLength(30);
    // The newest ticks stand as they were.
    expect(ticks.slice(-12).every((t) => t.admittedAt === undefined)).toBe(true);
    expect(ticks.at(-1)).toEqual({ at: 1000 + 5 * 499, from: 4990, to: 5000, admitted: 499 % 3, freed: 1 });
    // The records still tile the line and the sale, and count every admission and release.
    expect(ticks[0]?.from).toBe(0);
    for (let i = 1; i < ticks.length; i++) expect(ticks[i]?.from).toBe(ticks[i - 1]?.to);
    expect(ticks.reduce((sum, t) => sum + t.admitted, 0)).toBe(499);
    expect(ticks.reduce((sum, t) => sum + (t.freed ?? 0), 0)).toBe(500);
    // A merged record's admissions happened between its neighbours' times.
    for (let i = 1; i < ticks.length; i++) {
      const t = ticks[i];
      if (t?.admittedAt === undefined) continue;
      expect(t.admittedAt).toBeGreaterThan(ticks[i - 1]?.at ?? 0);
      expect(t.admittedAt).toBeLessThanOrEqual(t.at);
    }
  });

  test("a sale's opening burst keeps its ticks while the quiet stretches after it merge", () => {
    let ticks: TickRecord[] = [];
    let to = 0;
    for (let i = 0; i < 300; i++) {
      const admitted = i >= 1 && i <= 4 ? 5000 : 10;
      ticks = keepTicks(ticks, { at: 1000 + 5 * i, from: to, to: to + admitted, admitted });
      to += admitted;
    }
    expect(ticks).toHaveLength(30);
    const burst = ticks.filter((t) => t.admitted === 5000);
    expect(burst.map((t) => t.at)).toEqual([1005, 1010, 1015, 1020]);
    expect(burst.every((t) => t.admittedAt === undefined)).toBe(true);
  });
});
