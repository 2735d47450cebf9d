/**
 * Virtual time: a priority queue of timestamped events and a loop that runs every event
 * due at the current instant, then lets the promise continuations they released run to
 * completion before the clock moves. The real domain and store code runs unchanged on
 * top: whatever it awaits from the simulator is a promise resolved by a scheduled event.
 *
 * Draining uses one `setImmediate` per instant: it runs after the whole microtask queue,
 * however deep the chains of awaits are. Work the simulator does not own (a WebCrypto
 * verification, a file read of the real key store) is not a microtask: `busy()` tells the
 * loop that such work is still out, and it waits for it in real time before moving on.
 */

interface Event {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void;
}

/** Binary min-heap on (at, seq): FIFO among events of one instant. */
class EventHeap {
  readonly #items: Event[] = [];

  get size() {
    return this.#items.length;
  }

  peek(): Event | undefined {
    return this.#items[0];
  }

  push(event: Event) {
    const items = this.#items;
    items.push(event);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent];
      if (!p || before(p, event)) break;
      items[i] = p;
      i = parent;
    }
    items[i] = event;
  }

  pop(): Event | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (!top || !last || items.length === 0) return top;
    let i = 0;
    const n = items.length;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const l = items[left];
      const r = items[right];
      if (!l) break;
      const child = r && before(r, l) ? right : left;
      const c = items[child];
      if (!c || before(last, c)) break;
      items[i] = c;
      i = child;
    }
    items[i] = last;
    return top;
  }
}

const before = (a: Event, b: Event) => a.at < b.at || (a.at === b.at && a.seq < b.seq);

const immediate = () => new Promise<void>((resolve) => setImmediate(resolve));
const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class Scheduler {
  readonly #heap = new EventHeap();
  #now: number;
  #seq = 0;
  #running = false;
  #autoRun = false;
  #kicked = false;
  #events = 0;
  /** Extra drains spent waiting for work outside virtual time (real ms waited in `waitedMs`). */
  spins = 0;
  waitedMs = 0;
  /** Set by the simulation: true while some invocation waits on work outside virtual time. */
  busy: () => boolean = () => false;

  /** `startMs`: the epoch milliseconds the virtual clock starts at. */
  constructor(startMs: number) {
    this.#now = startMs;
  }

  /** Virtual epoch milliseconds. */
  readonly now = (): number => this.#now;

  get eventsRun() {
    return this.#events;
  }

  get pending() {
    return this.#heap.size;
  }

  at(timeMs: number, run: () => void): void {
    this.#heap.push({ at: Math.max(timeMs, this.#now), seq: this.#seq++, run });
    if (this.#autoRun && !this.#running && !this.#kicked) {
      this.#kicked = true;
      setImmediate(() => {
        this.#kicked = false;
        if (!this.#running) void this.run();
      });
    }
  }

  /**
   * From now on, scheduling an event starts the loop by itself, and it runs until no event
   * is left: code that simply awaits the simulator (a test) then needs no driver.
   */
  autoRun(): this {
    this.#autoRun = true;
    return this;
  }

  after(delayMs: number, run: () => void): void {
    this.at(this.#now + Math.max(0, delayMs), run);
  }

  /** A promise that resolves `delayMs` of virtual time from now. */
  readonly sleep = (delayMs: number): Promise<void> =>
    new Promise<void>((resolve) => this.after(delayMs, resolve));

  /**
   * Runs events until none is left or the next is after `untilMs`; the clock ends at the
   * last event run. `onInstant` is called once per distinct instant, after it settled.
   */
  async run(untilMs = Number.POSITIVE_INFINITY, onInstant?: (nowMs: number) => void): Promise<void> {
    if (this.#running) throw new Error('the scheduler is already running');
    this.#running = true;
    try {
      for (;;) {
        const next = this.#heap.peek();
        if (!next || next.at > untilMs) break;
        this.#now = next.at;
        for (let event = this.#heap.peek(); event && event.at === this.#now; event = this.#heap.peek()) {
          this.#heap.pop();
          this.#events++;
          event.run();
        }
        await this.settle();
        onInstant?.(this.#now);
      }
    } finally {
      this.#running = false;
    }
  }

  /** Lets every continuation released at this instant run, and any outside work finish. */
  async settle(): Promise<void> {
    await immediate();
    for (let spins = 0; this.busy(); spins++) {
      this.spins++;
      // Outside work (thread pool, file system) finishes in real time: poll cheaply first.
      if (spins < 1000) await immediate();
      else if (spins < 6000) {
        const started = performance.now();
        await realSleep(1);
        this.waitedMs += performance.now() - started;
      } else throw new Error('an invocation is blocked on work outside the simulator for more than 5 s');
    }
  }
}
