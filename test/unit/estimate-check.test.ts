/**
 * The wait estimate against synthetic sales played through planTick (bench/estimate-check.ts):
 * the goal on crowds that behave about as the prior assumes, convergence on
 * crowds that do not. Error figures, not timings: the play is deterministic.
 */
import { describe, expect, test } from 'vitest';
import {
  newEstimator,
  oldEstimator,
  playSale,
  type SaleScenario,
  SCENARIOS,
} from '../../bench/estimate-check.ts';

function scenario(name: string): SaleScenario {
  const found = SCENARIOS.find((s) => s.name === name);
  if (!found) throw new Error(`no scenario ${name}`);
  // Fewer fans followed than the CLI follows: enough for the quantiles, quick to play.
  return { ...found, trackedFans: 300, sampleSeconds: 30 };
}

describe('wait estimate on synthetic sales', () => {
  test.each(['burst', 'rate-bound', 'steady', 'long-tail', 'small', 'demo', 'sim-crowd', 'sim-small'])(
    '%s: every fan has an estimate at once; median error ≤ 25 % at join, ≤ 15 % waiting, p90 ≤ 35 %',
    (name) => {
      const figures = playSale(scenario(name), { new: newEstimator }).new;
      expect(figures?.atJoin.nullShare).toBe(0);
      expect(figures?.waiting.nullShare).toBe(0);
      expect(figures?.atJoin.median).toBeLessThanOrEqual(0.25);
      expect(figures?.atJoin.p90).toBeLessThanOrEqual(0.35);
      expect(figures?.waiting.median).toBeLessThanOrEqual(0.15);
      expect(figures?.waiting.p90).toBeLessThanOrEqual(0.35);
      // Before the sale shows a hold, the first fans of the line are the ones told.
      expect(figures?.joins.slice(0, 10).every((j) => j.estimate !== null)).toBe(true);
    },
  );

  test.each(['slow-shoppers', 'fast-shoppers'])(
    '%s: a crowd unlike the prior is learnt while fans wait',
    (name) => {
      const figures = playSale(scenario(name), { new: newEstimator }).new;
      expect(figures?.waiting.median).toBeLessThanOrEqual(0.15);
      expect(figures?.waiting.p90).toBeLessThanOrEqual(0.35);
    },
  );

  test('the observed-rate estimate it replaces leaves the first fans of a sale without one', () => {
    const figures = playSale(scenario('burst'), { old: oldEstimator }).old;
    expect(figures?.atJoin.nullShare).toBeGreaterThan(0.5);
  });
});
