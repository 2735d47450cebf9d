/**
 * How stale a waiting fan's shown `ahead` is (issue 8): how long ago the truth dropped below
 * what the fan's page shows, 0 when it shows the truth (or less). The truth of a place is
 * what the product means by `ahead`: the real places not yet admitted and not given up at or
 * before it (itself included).
 *
 * A place's truth only goes down once its own slice is settled (no later join lands ahead
 * of it), by two kinds of change, logged from the start of the run in time order: an
 * admission batch (every waiting place loses the places it admitted) and a leave (the
 * places behind it lose one). Tracking begins once the line is full: truth(t) = H − D(t),
 * with H the truth then and D(t) the places admitted plus the leaves ahead since (negative
 * before). For a shown value S the truth first dropped below S at the first log entry after
 * which D > H − S. Each tracked place keeps a pointer into the log at that entry: a shown
 * value only goes down between personal updates, so the pointer mostly moves forward; an
 * update that shows more walks it back, never before the place's own slice was settled
 * (then the reading is a lower bound: the page showed too much from the start).
 */

/** A growable column of numbers. */
class Column {
  values: Float64Array;
  length = 0;
  constructor(capacity = 1024) {
    this.values = new Float64Array(capacity);
  }
  push(value: number) {
    if (this.length === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = value;
  }
}

/** Seconds at 0.1 s resolution up to `capSeconds` (beyond: the last bin); exact max. */
export class SecondsHistogram {
  readonly #bins: Float64Array;
  readonly #resolution = 0.1;
  count = 0;
  max = 0;
  sum = 0;

  constructor(capSeconds = 7200) {
    this.#bins = new Float64Array(Math.ceil(capSeconds / this.#resolution) + 1);
  }

  add(seconds: number) {
    const s = Math.max(0, seconds);
    const bin = Math.min(this.#bins.length - 1, Math.round(s / this.#resolution));
    this.#bins[bin] = (this.#bins[bin] ?? 0) + 1;
    this.count++;
    this.sum += s;
    if (s > this.max) this.max = s;
  }

  /** Nearest-rank percentile, to the resolution; NaN when empty. */
  percentile(p: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let bin = 0; bin < this.#bins.length; bin++) {
      seen += this.#bins[bin] ?? 0;
      if (seen >= rank) return Math.min(this.max, bin * this.#resolution);
    }
    return this.max;
  }
}

export interface TruthReading {
  /** Real places at or before the place now (itself included). */
  readonly truth: number;
  /** Milliseconds since the truth dropped below the shown value; 0 when it has not. */
  readonly staleMs: number;
  /** True when the truth was already below the shown value when the place could first be followed: `staleMs` is a lower bound. */
  readonly lowerBound: boolean;
}

export class TruthTracker {
  /** The log, from the start of the run: when, kind (0 admission, 1 leave), and how many places (admission) or which (leave). */
  readonly #at = new Column();
  readonly #kind = new Column();
  readonly #value = new Column();
  /** Positions of the places waiting when tracking began, ascending; null before. */
  #sorted: Float64Array | null = null;
  #begin = 0;
  /** Places admitted since tracking began. */
  #admitted = 0;
  /** Fenwick tree over `#sorted`'s ranks: leaves since tracking began. */
  #leaves = new Int32Array(1);
  // Per tracked place.
  readonly #index = new Map<number, number>();
  #position = new Float64Array(256);
  #rank = new Int32Array(256);
  #base = new Float64Array(256);
  #pointer = new Int32Array(256);
  #before = new Float64Array(256);
  #floor = new Int32Array(256);
  #floorAt = new Float64Array(256);
  #tracked = 0;

  /** Entries in the log so far: a place's floor is the log's length once its own slice is settled. */
  get logLength(): number {
    return this.#at.length;
  }

  get began(): boolean {
    return this.#sorted !== null;
  }

  /** From now on no place joins ahead of a waiting one: these are the places waiting. */
  begin(waitingPositions: Float64Array) {
    this.#sorted = Float64Array.from(waitingPositions).sort();
    this.#leaves = new Int32Array(this.#sorted.length + 1);
    this.#begin = this.#at.length;
  }

  /** Index of the first sorted position greater than `position` (= places at or before it). */
  #upper(position: number): number {
    const sorted = this.#sorted;
    if (!sorted) return 0;
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((sorted[mid] ?? 0) <= position) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Leaves (since tracking began) of places before rank `rank`. */
  #leavesBefore(rank: number): number {
    let sum = 0;
    for (let i = rank; i > 0; i -= i & -i) sum += this.#leaves[i] ?? 0;
    return sum;
  }

  /** A batch admitted `places` real places at `atMs` (every waiting place loses them). */
  admitted(places: number, atMs: number) {
    if (places <= 0) return;
    this.#at.push(atMs);
    this.#kind.push(0);
    this.#value.push(places);
    if (this.#sorted) this.#admitted += places;
  }

  /** A waiting place gave itself up at `atMs` (the places behind it lose one). */
  left(position: number, atMs: number) {
    this.#at.push(atMs);
    this.#kind.push(1);
    this.#value.push(position);
    const sorted = this.#sorted;
    if (!sorted) return;
    const upper = this.#upper(position);
    if (upper === 0 || sorted[upper - 1] !== position) return;
    for (let i = upper; i < this.#leaves.length; i += i & -i) this.#leaves[i] = (this.#leaves[i] ?? 0) + 1;
  }

  #grow() {
    const size = this.#position.length * 2;
    const grow = <T extends Float64Array | Int32Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(size);
      b.set(a);
      return b;
    };
    this.#position = grow(this.#position);
    this.#rank = grow(this.#rank);
    this.#base = grow(this.#base);
    this.#pointer = grow(this.#pointer);
    this.#before = grow(this.#before);
    this.#floor = grow(this.#floor);
    this.#floorAt = grow(this.#floorAt);
  }

  /**
   * Starts following a place that was waiting when tracking began; false otherwise.
   * `floor`: the log's length when the place's truth stopped going up (its slice settled),
   * at `floorAt`; the drop of a shown value is looked for no earlier.
   */
  track(id: number, position: number, floor: number, floorAt: number): boolean {
    const sorted = this.#sorted;
    if (!sorted) throw new Error('tracking has not begun');
    const upper = this.#upper(position);
    if (upper === 0 || sorted[upper - 1] !== position) return false;
    if (this.#tracked === this.#position.length) this.#grow();
    const i = this.#tracked++;
    this.#index.set(id, i);
    this.#position[i] = position;
    this.#rank[i] = upper - 1;
    this.#base[i] = upper;
    // D (places admitted and leaves ahead) counted from where tracking began.
    this.#pointer[i] = this.#begin;
    this.#before[i] = 0;
    this.#floor[i] = Math.min(floor, this.#begin);
    this.#floorAt[i] = floorAt;
    return true;
  }

  #delta(p: number, position: number): number {
    return this.#kind.values[p] === 0
      ? (this.#value.values[p] ?? 0)
      : (this.#value.values[p] ?? 0) < position
        ? 1
        : 0;
  }

  /** The truth of tracked place `id` now, and how long its shown value `shown` has been above it. */
  read(id: number, shown: number, nowMs: number): TruthReading {
    const i = this.#index.get(id);
    if (i === undefined) throw new Error(`place ${id} is not tracked`);
    const H = this.#base[i] ?? 0;
    const position = this.#position[i] ?? 0;
    // truth(after entry p) = H − D(p); it is below `shown` once D > K.
    const K = H - shown;
    let p = this.#pointer[i] ?? 0;
    let d = this.#before[i] ?? 0;
    const floor = this.#floor[i] ?? 0;
    let lowerBound = false;
    if (d > K) {
      // Shows more than before: walk back to where the truth was still at or above it.
      while (p > floor && d > K) {
        p--;
        d -= this.#delta(p, position);
      }
      if (d > K) lowerBound = true;
    }
    const end = this.#at.length;
    if (!lowerBound)
      while (p < end) {
        const delta = this.#delta(p, position);
        if (d + delta > K) break;
        d += delta;
        p++;
      }
    this.#pointer[i] = p;
    this.#before[i] = d;
    const truth = H - this.#admitted - this.#leavesBefore(this.#rank[i] ?? 0);
    if (p === end && !lowerBound) return { truth, staleMs: 0, lowerBound: false };
    // Entry p took the truth below what is shown; or it already was below when the place could first be followed.
    const since = lowerBound ? (this.#floorAt[i] ?? nowMs) : (this.#at.values[p] ?? nowMs);
    return { truth, staleMs: Math.max(0, nowMs - since), lowerBound };
  }

  /** Leaves ahead of tracked place `id` since tracking began. */
  leavesAheadNow(id: number): number {
    const i = this.#index.get(id);
    if (i === undefined) throw new Error(`place ${id} is not tracked`);
    return this.#leavesBefore(this.#rank[i] ?? 0);
  }

  /** Leaves ahead of tracked place `id` logged in entries [from, to) (a scan). */
  leavesAheadBetween(id: number, from: number, to: number): number {
    const i = this.#index.get(id);
    if (i === undefined) throw new Error(`place ${id} is not tracked`);
    const position = this.#position[i] ?? 0;
    let count = 0;
    for (let p = Math.max(0, from); p < Math.min(to, this.#at.length); p++)
      if (this.#kind.values[p] === 1 && (this.#value.values[p] ?? 0) < position) count++;
    return count;
  }

  /** The log's length when tracking began. */
  get beganAt(): number {
    return this.#begin;
  }

  /** The truth of a tracked place now. */
  truth(id: number): number {
    const i = this.#index.get(id);
    if (i === undefined) throw new Error(`place ${id} is not tracked`);
    return (this.#base[i] ?? 0) - this.#admitted - this.#leavesBefore(this.#rank[i] ?? 0);
  }
}
