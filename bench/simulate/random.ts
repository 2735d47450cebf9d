/**
 * Seeded randomness, so a scenario replays the same crowd. Shared code still calls
 * Math.random (retry jitter) and randomUUID (token ids): those do not steer the crowd.
 */
import { z } from 'zod';

/** sfc32 seeded through splitmix32: small, fast, and good enough for a simulation. */
export class Random {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = next();
    this.#b = next();
    this.#c = next();
    this.#d = next();
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) >>> 0;
    return t / 4294967296;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  uniform(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** A new generator for one concern, so adding draws elsewhere does not shift this one. */
  fork(label: string): Random {
    let h = 2166136261;
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 16777619);
    return new Random((h ^ Math.floor(this.next() * 4294967296)) >>> 0);
  }
}

/**
 * A duration or delay distribution in a scenario, in seconds (or milliseconds where the
 * field says so). A lognormal is given by its median and p99, which is how latency is
 * usually quoted.
 */
export const distributionSchema = z.union([
  z.number().nonnegative(),
  z.object({ type: z.literal('fixed'), value: z.number().nonnegative() }).strict(),
  z
    .object({ type: z.literal('uniform'), min: z.number().nonnegative(), max: z.number().nonnegative() })
    .strict(),
  z.object({ type: z.literal('exponential'), mean: z.number().positive() }).strict(),
  z
    .object({
      type: z.literal('lognormal'),
      median: z.number().positive(),
      p99: z.number().positive(),
      max: z.number().positive().optional(),
    })
    .strict()
    .refine((d) => d.p99 >= d.median, 'p99 must be at least the median'),
]);
export type Distribution = z.infer<typeof distributionSchema>;

const Z99 = 2.3263478740408408;

/** A sampler of a distribution, drawing from `random`. */
export function sampler(distribution: Distribution, random: Random): () => number {
  if (typeof distribution === 'number') return () => distribution;
  switch (distribution.type) {
    case 'fixed':
      return () => distribution.value;
    case 'uniform':
      return () => random.uniform(distribution.min, distribution.max);
    case 'exponential':
      return () => -Math.log(1 - random.next()) * distribution.mean;
    case 'lognormal': {
      const mu = Math.log(distribution.median);
      const sigma = Math.log(distribution.p99 / distribution.median) / Z99;
      const max = distribution.max ?? Number.POSITIVE_INFINITY;
      return () => Math.min(max, Math.exp(mu + sigma * random.normal()));
    }
  }
}

/** The mean of a distribution, for figures computed without sampling (idle cost). */
export function mean(distribution: Distribution): number {
  if (typeof distribution === 'number') return distribution;
  switch (distribution.type) {
    case 'fixed':
      return distribution.value;
    case 'uniform':
      return (distribution.min + distribution.max) / 2;
    case 'exponential':
      return distribution.mean;
    case 'lognormal': {
      const sigma = Math.log(distribution.p99 / distribution.median) / Z99;
      return distribution.median * Math.exp((sigma * sigma) / 2);
    }
  }
}
