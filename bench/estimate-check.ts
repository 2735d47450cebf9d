/**
 * The wait estimate's analytic check: plays synthetic sales through the real
 * `planTick` in virtual time (fans arrive, are admitted at ticks, claim after a
 * delay or not at all, buy for a while, free their slot) and compares every
 * estimate a fan is shown with the wait that followed. Deterministic: the same
 * scenario and seed give the same figures. No store, no clock, no I/O.
 *
 *   npx tsx bench/estimate-check.ts         # every scenario, new and old estimate;
 *                                           # writes bench/results/estimate-check.json
 *   npx tsx bench/estimate-check.ts burst   # one scenario, printed only
 *
 * A fan's relative error is |estimate − actual| / max(actual, tickSeconds): nothing
 * can be foretold below the tick, and a fan let in at the next tick would otherwise
 * weigh as a 100× error for being told "5 s" and waiting 0.05 s.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { planTick } from '#domain/admission';
import { estimateWaitSeconds, observedRatePerSecond, waitEstimate } from '#domain/estimate';
import { CONFIG_DEFAULTS, type EventRecord, newEventRecord } from '#domain/event';

/** Fans arriving evenly over `seconds`, one segment after the other. */
export interface ArrivalSegment {
  readonly seconds: number;
  readonly fans: number;
}

/** A lognormal duration in seconds: half the fans take less than `median`. */
export interface Lognormal {
  readonly median: number;
  readonly sigma: number;
}

export interface SaleScenario {
  readonly name: string;
  readonly arrivals: readonly ArrivalSegment[];
  readonly capacity: number;
  readonly admitPerMinute: number | null;
  readonly claimWindowSeconds: number;
  readonly purchaseWindowSeconds: number;
  readonly tickSeconds: number;
  /** Admitted fans who never claim. */
  readonly noShowShare: number;
  /** From admission to claim, for those who claim (beyond the claim window: missed). */
  readonly claimDelay: Lognormal;
  /** From claim to complete (beyond the purchase window: expired). */
  readonly purchase: Lognormal;
  /** Operator pauses: admissions stop from `at` for `seconds` (seconds after the sale opens). */
  readonly pauses?: readonly { readonly at: number; readonly seconds: number }[];
  /** A waiting fan looks at the estimate this often (a poll or a WebSocket update). */
  readonly sampleSeconds: number;
  /** Fans followed, spread evenly over the line. */
  readonly trackedFans: number;
  readonly seed: number;
}

export type Estimator = (
  event: EventRecord,
  ahead: number,
  nowSec: number,
  tickSeconds: number,
) => number | null;

export const newEstimator: Estimator = (event, ahead, nowSec, tickSeconds) =>
  waitEstimate({ event, ahead, nowSec, tickSeconds });

export const oldEstimator: Estimator = (event, ahead, nowSec) =>
  estimateWaitSeconds(ahead, observedRatePerSecond(event.recentTicks, nowSec));

export interface ErrorFigures {
  /** Estimates compared (null ones included). */
  readonly n: number;
  /** Share of estimates that were null. */
  readonly nullShare: number;
  /** Of the non-null estimates, as fractions. */
  readonly median: number;
  readonly p90: number;
  /** Signed median (estimate − actual) / actual: > 0 means estimates run long. */
  readonly bias: number;
}

export interface SaleFigures {
  readonly scenario: string;
  readonly fans: number;
  readonly atJoin: ErrorFigures;
  readonly waiting: ErrorFigures;
  /** Seconds from the first tick until the last fan was admitted. */
  readonly drainSeconds: number;
  /** Mean seconds a slot was held, as played. */
  readonly meanHoldSeconds: number;
  /** Every join estimate: seconds into the sale, the estimate, the wait that followed. */
  readonly joins: readonly {
    readonly at: number;
    readonly estimate: number | null;
    readonly actual: number;
  }[];
}

const EPOCH = 1_800_000_000;

/** mulberry32: a small deterministic generator, good enough for synthetic crowds. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function lognormal(random: () => number, { median, sigma }: Lognormal): number {
  const u = Math.max(random(), 1e-12);
  const v = random();
  return median * Math.exp(sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v));
}

/** A min-heap of completion times (seconds). */
class TimeHeap {
  readonly #a: number[] = [];
  get size() {
    return this.#a.length;
  }
  peek(): number | undefined {
    return this.#a[0];
  }
  push(x: number) {
    const a = this.#a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((a[p] as number) <= x) break;
      a[i] = a[p] as number;
      i = p;
    }
    a[i] = x;
  }
  pop(): number | undefined {
    const a = this.#a;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && (a[r] as number) < (a[l] as number) ? r : l;
      if ((a[c] as number) >= last) break;
      a[i] = a[c] as number;
      i = c;
    }
    a[i] = last;
    return top;
  }
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] as number;
}

interface Sample {
  readonly at: number;
  readonly estimate: number | null;
}

function figures(
  samples: readonly { sample: Sample; admittedAt: number }[],
  tickSeconds: number,
): ErrorFigures {
  const errors: number[] = [];
  const signed: number[] = [];
  let nulls = 0;
  for (const { sample, admittedAt } of samples) {
    if (sample.estimate === null) {
      nulls++;
      continue;
    }
    const actual = admittedAt - sample.at;
    const scale = Math.max(actual, tickSeconds);
    errors.push(Math.abs(sample.estimate - actual) / scale);
    signed.push((sample.estimate - actual) / scale);
  }
  errors.sort((a, b) => a - b);
  signed.sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    n: samples.length,
    nullShare: round(samples.length === 0 ? 0 : nulls / samples.length),
    median: round(quantile(errors, 0.5)),
    p90: round(quantile(errors, 0.9)),
    bias: round(quantile(signed, 0.5)),
  };
}

/** Plays one sale to its end and measures every estimator given on the same crowd. */
export function playSale(
  scenario: SaleScenario,
  estimators: Record<string, Estimator>,
): Record<string, SaleFigures> {
  const s = scenario;
  const T = s.tickSeconds;
  const random = rng(s.seed);
  const totalFans = s.arrivals.reduce((n, a) => n + a.fans, 0);
  // Join times, in order: the position is the index + 1.
  const joinAt: number[] = [];
  let start = 0;
  for (const segment of s.arrivals) {
    for (let i = 0; i < segment.fans; i++)
      joinAt.push(start + ((i + random()) / segment.fans) * segment.seconds);
    start += segment.seconds;
  }
  joinAt.sort((a, b) => a - b);
  const every = Math.max(1, Math.floor(totalFans / s.trackedFans));
  const tracked = new Map<number, { joins: Record<string, Sample>; samples: Record<string, Sample[]> }>();
  for (let p = 1; p <= totalFans; p += every) tracked.set(p, { joins: {}, samples: {} });
  const names = Object.keys(estimators);
  for (const t of tracked.values()) for (const name of names) t.samples[name] = [];

  let event: EventRecord = newEventRecord(
    'check',
    {
      ...CONFIG_DEFAULTS,
      capacity: s.capacity,
      admitPerMinute: s.admitPerMinute,
      claimWindowSeconds: s.claimWindowSeconds,
      purchaseWindowSeconds: s.purchaseWindowSeconds,
    },
    EPOCH,
  );
  const admittedAt = new Float64Array(totalFans + 1);
  const buckets = new Map<number, { missed: number; expired: number }>();
  const bucket = (sec: number) => {
    const found = buckets.get(sec);
    if (found) return found;
    const b = { missed: 0, expired: 0 };
    buckets.set(sec, b);
    return b;
  };
  const completions = new TimeHeap();
  let completed = 0;
  let holdSum = 0;
  let holds = 0;
  const behaviour = rng(s.seed ^ 0x9e3779b9);

  const paused = (t: number) => (s.pauses ?? []).some((p) => t >= p.at && t < p.at + p.seconds);
  const estimateAll = (t: number, position: number): Record<string, Sample> => {
    const ahead = Math.max(0, position - event.servingPosition);
    const nowSec = Math.floor(EPOCH + t);
    const out: Record<string, Sample> = {};
    for (const name of names)
      out[name] = { at: t, estimate: (estimators[name] as Estimator)(event, ahead, nowSec, T) };
    return out;
  };

  const order = [...tracked.keys()];
  let firstWaiting = 0;
  let joined = 0;
  const phase = random() * T;
  let lastTick = -Infinity;
  let firstTick = Number.NaN;
  let lastAdmission = 0;
  for (let k = 0; event.servingPosition < totalFans; k++) {
    const tick = phase + k * T;
    // Joins and looks between the previous tick and this one see the line as it stood.
    while (joined < totalFans && (joinAt[joined] as number) < tick) {
      const position = ++joined;
      const t = tracked.get(position);
      if (t) t.joins = estimateAll(joinAt[position - 1] as number, position);
    }
    // Admission is in order, so the tracked fans still waiting are a run of `order`.
    while ((order[firstWaiting] ?? Number.POSITIVE_INFINITY) <= event.servingPosition) firstWaiting++;
    for (let i = firstWaiting; i < order.length && (order[i] as number) <= joined; i++) {
      const position = order[i] as number;
      const t = tracked.get(position);
      if (!t) continue;
      const joinTime = joinAt[position - 1] as number;
      // Looks at joinTime + sampleSeconds, + 2·sampleSeconds, … that fall in (lastTick, tick).
      const first = Math.max(1, Math.ceil((Math.max(lastTick, joinTime) - joinTime) / s.sampleSeconds));
      for (let j = first; joinTime + j * s.sampleSeconds < tick; j++) {
        const at = joinTime + j * s.sampleSeconds;
        if (at <= lastTick) continue;
        const looks = estimateAll(at, position);
        for (const name of names) t.samples[name]?.push(looks[name] as Sample);
      }
    }

    // The tick, as the admitter runs it: seal the due buckets, read the counters, plan.
    const nowSec = Math.floor(EPOCH + tick);
    while (completions.size > 0 && (completions.peek() as number) <= tick) {
      completions.pop();
      completed++;
    }
    const releases = { missed: 0, expired: 0 };
    for (let sec = event.releasedThrough + 1; sec <= nowSec && event.releasedThrough > 0; sec++) {
      const b = buckets.get(sec);
      if (!b) continue;
      releases.missed += b.missed;
      releases.expired += b.expired;
      buckets.delete(sec);
    }
    const wantState = paused(tick) ? 'paused' : 'open';
    if (event.state !== wantState) event = { ...event, state: wantState, version: event.version + 1 };
    // The line as both versions of TickInput take it: the join counter (`issued`) and,
    // since leaves and sharded intake, the real places waiting (`waiting`; none void here).
    const line = { issued: joined, waiting: joined - event.servingPosition };
    const plan = planTick({
      event,
      releases,
      ...line,
      completed,
      nowMs: (EPOCH + tick) * 1000,
      tickSeconds: T,
      sealedThrough: nowSec,
    });
    event = { ...event, ...plan.next };
    if (Number.isNaN(firstTick)) firstTick = tick;
    for (let p = plan.from + 1; p <= plan.to; p++) {
      admittedAt[p] = tick;
      lastAdmission = tick;
      const noShow = behaviour() < s.noShowShare;
      const delay = lognormal(behaviour, s.claimDelay);
      const buy = lognormal(behaviour, s.purchase);
      if (noShow || tick + delay >= plan.claimBy - EPOCH) {
        bucket(plan.claimBy).missed++;
        holdSum += plan.claimBy - EPOCH - tick;
      } else {
        const claimSec = Math.floor(EPOCH + tick + delay);
        const endsAt = claimSec + s.purchaseWindowSeconds;
        const done = tick + delay + buy;
        if (EPOCH + done < endsAt) {
          completions.push(done);
          holdSum += delay + buy;
        } else {
          bucket(endsAt).expired++;
          holdSum += endsAt - EPOCH - tick;
        }
      }
      holds++;
    }
    lastTick = tick;
  }

  const result: Record<string, SaleFigures> = {};
  for (const name of names) {
    const atJoin: { sample: Sample; admittedAt: number }[] = [];
    const waiting: { sample: Sample; admittedAt: number }[] = [];
    for (const [position, t] of tracked) {
      const at = admittedAt[position] as number;
      const join = t.joins[name];
      if (join) atJoin.push({ sample: join, admittedAt: at });
      for (const sample of t.samples[name] ?? []) waiting.push({ sample, admittedAt: at });
    }
    result[name] = {
      scenario: s.name,
      fans: totalFans,
      atJoin: figures(atJoin, T),
      waiting: figures(waiting, T),
      drainSeconds: Math.round(lastAdmission - firstTick),
      meanHoldSeconds: Math.round(holds === 0 ? 0 : holdSum / holds),
      joins: atJoin.map(({ sample, admittedAt: at }) => ({
        at: sample.at,
        estimate: sample.estimate,
        actual: at - sample.at,
      })),
    };
  }
  return result;
}

const base = {
  capacity: 500,
  admitPerMinute: null,
  claimWindowSeconds: CONFIG_DEFAULTS.claimWindowSeconds,
  purchaseWindowSeconds: CONFIG_DEFAULTS.purchaseWindowSeconds,
  tickSeconds: 5,
  noShowShare: 0.2,
  claimDelay: { median: 20, sigma: 0.8 },
  purchase: { median: 240, sigma: 0.5 },
  sampleSeconds: 15,
  trackedFans: 1500,
  seed: 7,
} as const satisfies Omit<SaleScenario, 'name' | 'arrivals'>;

/** The crowds the estimate is tuned on: each stresses a different part of it. */
export const SCENARIOS: readonly SaleScenario[] = [
  // The on-sale: a spike at opening, then a tail; capacity decides the pace.
  {
    ...base,
    name: 'burst',
    arrivals: [
      { seconds: 5, fans: 8_000 },
      { seconds: 55, fans: 12_000 },
    ],
  },
  // The same crowd, paced by admitPerMinute (below what capacity could take).
  {
    ...base,
    name: 'rate-bound',
    admitPerMinute: 60,
    arrivals: [
      { seconds: 5, fans: 4_000 },
      { seconds: 55, fans: 4_000 },
    ],
  },
  // Fans trickle in faster than they are let in: the line builds up over the first half hour.
  { ...base, name: 'steady', arrivals: [{ seconds: 1800, fans: 9_000 }] },
  // Shoppers take three times longer than the prior assumes.
  {
    ...base,
    name: 'slow-shoppers',
    purchase: { median: 720, sigma: 0.4 },
    arrivals: [{ seconds: 60, fans: 8_000 }],
  },
  // Shoppers take a third of what the prior assumes, and most claim at once.
  {
    ...base,
    name: 'fast-shoppers',
    purchase: { median: 90, sigma: 0.6 },
    claimDelay: { median: 8, sigma: 0.6 },
    arrivals: [{ seconds: 60, fans: 20_000 }],
  },
  // The local demo: capacity 20, 120 a minute, ticking every second.
  {
    ...base,
    name: 'demo',
    capacity: 20,
    admitPerMinute: 120,
    tickSeconds: 1,
    sampleSeconds: 5,
    arrivals: [{ seconds: 30, fans: 600 }],
  },
  // A spike, then fans keep coming through the first ten minutes, while the first slots turn over.
  {
    ...base,
    name: 'long-tail',
    arrivals: [
      { seconds: 5, fans: 4_000 },
      { seconds: 600, fans: 8_000 },
    ],
  },
  // Few slots, ticking every 5 s as on AWS: each tick admits a handful.
  { ...base, name: 'small', capacity: 40, arrivals: [{ seconds: 20, fans: 1_500 }] },
  // The on-sale: a million fans in a minute, 100,000 of them in the first second.
  {
    ...base,
    name: 'onsale-1m',
    capacity: 20_000,
    arrivals: [
      { seconds: 1, fans: 100_000 },
      { seconds: 59, fans: 900_000 },
    ],
  },
  // The crowd bench/simulate assumes by default (claim delay median 20 s, p99 240 s; purchase
  // median 240 s, p99 900 s; a quarter never claim: no-shows and closed tabs).
  {
    ...base,
    name: 'sim-crowd',
    capacity: 5_000,
    noShowShare: 0.25,
    claimDelay: { median: 20, sigma: 1.07 },
    purchase: { median: 240, sigma: 0.57 },
    arrivals: [
      { seconds: 5, fans: 30_000 },
      { seconds: 55, fans: 70_000 },
    ],
  },
  // bench/scenarios/small.json's event and crowd: short windows, quick shoppers.
  {
    ...base,
    name: 'sim-small',
    capacity: 200,
    admitPerMinute: 1200,
    claimWindowSeconds: 60,
    purchaseWindowSeconds: 120,
    noShowShare: 0.25,
    claimDelay: { median: 5, sigma: 0.945 },
    purchase: { median: 30, sigma: 0.69 },
    arrivals: [
      { seconds: 5, fans: 500 },
      { seconds: 3, fans: 1_200 },
      { seconds: 22, fans: 1_300 },
    ],
  },
  // An operator pause of ten minutes, twenty minutes into the sale.
  {
    ...base,
    name: 'paused',
    pauses: [{ at: 1200, seconds: 600 }],
    arrivals: [{ seconds: 60, fans: 10_000 }],
  },
];

function main(argv: readonly string[]) {
  const only = argv[0];
  const chosen = only ? SCENARIOS.filter((s) => s.name === only) : SCENARIOS;
  if (chosen.length === 0)
    throw new Error(`no scenario ${only}; try ${SCENARIOS.map((s) => s.name).join(', ')}`);
  const rows: Record<string, unknown>[] = [];
  for (const scenario of chosen) {
    const figuresByName = playSale(scenario, { new: newEstimator, old: oldEstimator });
    for (const [estimator, f] of Object.entries(figuresByName))
      rows.push({
        scenario: f.scenario,
        estimator,
        fans: f.fans,
        drainMin: Math.round(f.drainSeconds / 60),
        holdS: f.meanHoldSeconds,
        'join med': f.atJoin.median,
        'join p90': f.atJoin.p90,
        'join bias': f.atJoin.bias,
        'join null': f.atJoin.nullShare,
        'wait med': f.waiting.median,
        'wait p90': f.waiting.p90,
        'wait bias': f.waiting.bias,
        'wait null': f.waiting.nullShare,
      });
  }
  console.table(rows);
  if (!only) {
    const file = fileURLToPath(new URL('results/estimate-check.json', import.meta.url));
    const figures = { errorIs: '|estimate − actual| / max(actual, tickSeconds)', scenarios: SCENARIOS, rows };
    writeFileSync(file, `${JSON.stringify(figures, null, 2)}\n`);
    console.log(`written: ${file}`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
