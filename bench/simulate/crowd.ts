/**
 * The crowd of a scenario: when each fan arrives, and what kind of fan they are. Kept as
 * typed arrays (a million fans), drawn from the scenario's seed so a run replays.
 */
import type { Random } from './random.ts';
import type { Arrival, Scenario } from './scenario.ts';

/** Fan traits, one bit each. */
export const TRAIT = {
  identified: 1,
  repeat: 2,
  noShow: 4,
  leaver: 8,
  abandoner: 16,
  poller: 32,
} as const;

export interface Crowd {
  readonly size: number;
  /** Arrival, milliseconds after the sale opens, ascending. */
  readonly arrivalMs: Float64Array;
  readonly traits: Uint8Array;
}

/** The arrival curve as consecutive constant-rate segments. */
export function segments(arrival: Arrival, fans: number): { seconds: number; perSecond: number }[] {
  switch (arrival.type) {
    case 'uniform':
      return [{ seconds: arrival.seconds, perSecond: fans / arrival.seconds }];
    case 'piecewise':
      return arrival.segments;
    case 'spike': {
      const spike = arrival.spikePerSecond * arrival.spikeSeconds;
      const rest = arrival.seconds - arrival.spikeSeconds;
      const base = rest > 0 ? (fans - spike) / rest : 0;
      const after = arrival.seconds - arrival.spikeAtSeconds - arrival.spikeSeconds;
      return [
        ...(arrival.spikeAtSeconds > 0 ? [{ seconds: arrival.spikeAtSeconds, perSecond: base }] : []),
        { seconds: arrival.spikeSeconds, perSecond: arrival.spikePerSecond },
        ...(after > 0 ? [{ seconds: after, perSecond: base }] : []),
      ];
    }
  }
}

export function buildCrowd(scenario: Scenario, random: Random): Crowd {
  const { crowd } = scenario;
  const size = crowd.fans;
  const arrivalMs = new Float64Array(size);
  const parts = segments(crowd.arrival, size);
  const expected = parts.reduce((n, s) => n + s.seconds * s.perSecond, 0);
  // Each segment gets its share of the fans (rounded so they add up), uniformly within it.
  let filled = 0;
  let startMs = crowd.doorsOpenAtSeconds * 1000;
  let carried = 0;
  const arrivals = random.fork('arrivals');
  for (const [i, part] of parts.entries()) {
    const exact = (part.seconds * part.perSecond * size) / expected + carried;
    const count = i === parts.length - 1 ? size - filled : Math.min(size - filled, Math.round(exact));
    carried = exact - count;
    for (let k = 0; k < count; k++) arrivalMs[filled + k] = startMs + arrivals.next() * part.seconds * 1000;
    filled += count;
    startMs += part.seconds * 1000;
  }
  arrivalMs.sort();
  const traits = new Uint8Array(size);
  const kinds = random.fork('traits');
  for (let i = 0; i < size; i++) {
    let t = 0;
    if (kinds.chance(crowd.identifiedShare)) {
      t |= TRAIT.identified;
      if (kinds.chance(crowd.repeatJoinShare)) t |= TRAIT.repeat;
    }
    // One fate per fan: leave, abandon, never claim, or claim.
    const fate = kinds.next();
    if (fate < crowd.leaveShare) t |= TRAIT.leaver;
    else if (fate < crowd.leaveShare + crowd.abandonShare) t |= TRAIT.abandoner;
    else if (fate < crowd.leaveShare + crowd.abandonShare + crowd.noShowShare) t |= TRAIT.noShow;
    if (kinds.chance(crowd.pollerShare)) t |= TRAIT.poller;
    traits[i] = t;
  }
  return { size, arrivalMs, traits };
}
