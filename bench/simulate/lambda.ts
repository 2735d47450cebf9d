import { TokenBucket as Bucket } from './api-gateway.ts';
/**
 * Lambda as the waiting room meets it: an account concurrency limit shared by every
 * function without reserved concurrency, reserved concurrency carved out of it, one
 * request per execution environment at a time, cold starts (an INIT duration, billed since
 * August 2025) when no idle environment is left, and the scaling rate: at most 1,000 new
 * environments per function per 10 s, refilled continuously (AWS, "Lambda scaling
 * behavior"). An invocation refused by either limit is a throttle (429 at the edge).
 *
 * Each environment is a container object with the runtime the function builds at INIT (its
 * own WaitingRoom, DynamoDB adapter and document client), kept warm for reuse. Idle
 * environments are not reclaimed within a simulated run.
 *
 * An invocation's weight is how many real invocations it stands for (sampled pollers): it
 * counts that many times toward concurrency, the scaling rate and every figure.
 */
import type { Random } from './random.ts';
import { type Distribution, sampler } from './random.ts';
import type { FunctionName, Scenario } from './scenario.ts';
import type { Scheduler } from './scheduler.ts';

/** One running invocation, as the simulator's clients and sleeps see it. */
export interface Invocation {
  readonly fn: FunctionName;
  readonly weight: number;
  /** Something of the simulator's is awaited: the scheduler may move the clock. */
  block(): void;
  unblock(): void;
}

/** Counts invocations that are running code the simulator does not own (scheduler.busy). */
export class InvocationTracker {
  inFlight = 0;
  blocked = 0;
  readonly busy = () => this.inFlight > this.blocked;
}

class RunningInvocation implements Invocation {
  #pending = 0;
  constructor(
    readonly fn: FunctionName,
    readonly weight: number,
    private readonly tracker: InvocationTracker,
  ) {}

  readonly block = () => {
    if (this.#pending++ === 0) this.tracker.blocked++;
  };

  readonly unblock = () => {
    if (--this.#pending === 0) this.tracker.blocked--;
  };
}

export interface Container<R> {
  readonly id: number;
  readonly fn: FunctionName;
  readonly runtime: R;
  /** The invocation running in it, for the clients built at INIT. */
  current: Invocation | null;
}

export interface FunctionFigures {
  invocations: number;
  coldStarts: number;
  throttledConcurrency: number;
  throttledScaling: number;
  errors: number;
  /** Billed GB-seconds: duration rounded up to the millisecond, plus INIT of cold starts. */
  gbSeconds: number;
  durationMsSum: number;
  peakConcurrency: number;
  environments: number;
}

export type InvokeResult<T> =
  | { readonly kind: 'ok'; readonly value: T; readonly durationMs: number }
  | { readonly kind: 'error'; readonly error: unknown; readonly durationMs: number }
  | { readonly kind: 'throttled'; readonly reason: 'concurrency' | 'scaling' };

interface FunctionState<R> {
  readonly idle: Container<R>[];
  readonly scaling: Bucket;
  readonly figures: FunctionFigures;
  readonly cpu: () => number;
  readonly reserved: number | undefined;
  readonly memoryGb: number;
  inFlight: number;
}

export class LambdaModel<R> {
  readonly tracker = new InvocationTracker();
  readonly #functions = new Map<FunctionName, FunctionState<R>>();
  readonly #coldStart: () => number;
  readonly #unreservedLimit: number;
  #unreservedInFlight = 0;
  #nextId = 1;
  /** Concurrency in use per virtual second (peak of the second), all functions together. */
  readonly concurrencyPerSecond: number[] = [];
  /** Throttled invocations per virtual second. */
  readonly throttledPerSecond: number[] = [];

  constructor(
    private readonly scheduler: Scheduler,
    random: Random,
    private readonly config: Scenario['lambda'],
    private readonly build: (container: Container<R>) => R,
    private readonly startMs: number,
  ) {
    this.#coldStart = sampler(config.coldStartMs, random);
    const reserved = Object.values(config.reserved).reduce((sum: number, n) => sum + (n ?? 0), 0);
    this.#unreservedLimit = config.accountConcurrency - reserved;
    if (this.#unreservedLimit < 1)
      throw new Error('reserved concurrency leaves nothing for the other functions');
    this.#random = random;
  }
  readonly #random: Random;

  #state(fn: FunctionName): FunctionState<R> {
    let state = this.#functions.get(fn);
    if (!state) {
      const cpu: Distribution = this.config.cpuMs[fn] ?? 0;
      state = {
        idle: [],
        scaling: new Bucket(
          this.config.scaleUpPer10Seconds / 10,
          this.config.scaleUpPer10Seconds,
          this.scheduler.now(),
        ),
        figures: {
          invocations: 0,
          coldStarts: 0,
          throttledConcurrency: 0,
          throttledScaling: 0,
          errors: 0,
          gbSeconds: 0,
          durationMsSum: 0,
          peakConcurrency: 0,
          environments: 0,
        },
        cpu: sampler(cpu, this.#random.fork(`cpu-${fn}`)),
        reserved: this.config.reserved[fn],
        memoryGb: (this.config.memoryMbByFunction[fn] ?? this.config.memoryMb) / 1024,
        inFlight: 0,
      };
      this.#functions.set(fn, state);
    }
    return state;
  }

  figures(): Map<FunctionName, FunctionFigures> {
    return new Map([...this.#functions].map(([fn, state]) => [fn, state.figures]));
  }

  #newContainer(fn: FunctionName): Container<R> {
    const container: Container<R> = { id: this.#nextId++, fn, runtime: undefined as R, current: null };
    (container as { runtime: R }).runtime = this.build(container);
    return container;
  }

  /**
   * Environments warmed before the sale (by warm-up traffic): each counted as one short
   * invocation with its INIT billed. `count` real environments, in containers of `weight`.
   */
  prewarm(fn: FunctionName, count: number, weight: number) {
    const state = this.#state(fn);
    for (let made = 0; made < count; made += weight) {
      state.idle.push(this.#newContainer(fn));
      state.figures.environments += weight;
      state.figures.invocations += weight;
      state.figures.gbSeconds += (weight * state.memoryGb * (Math.ceil(this.#coldStart()) + 1)) / 1000;
    }
  }

  #second(): number {
    return Math.floor((this.scheduler.now() - this.startMs) / 1000);
  }

  async invoke<T>(
    fn: FunctionName,
    weight: number,
    run: (runtime: R, invocation: Invocation) => Promise<T>,
  ): Promise<InvokeResult<T>> {
    const state = this.#state(fn);
    const now = this.scheduler.now();
    const second = this.#second();
    const throttle = (reason: 'concurrency' | 'scaling'): InvokeResult<T> => {
      if (reason === 'concurrency') state.figures.throttledConcurrency += weight;
      else state.figures.throttledScaling += weight;
      if (second >= 0) this.throttledPerSecond[second] = (this.throttledPerSecond[second] ?? 0) + weight;
      return { kind: 'throttled', reason };
    };
    if (state.reserved !== undefined) {
      if (state.inFlight + weight > state.reserved) return throttle('concurrency');
    } else if (this.#unreservedInFlight + weight > this.#unreservedLimit) return throttle('concurrency');
    let container = state.idle.pop();
    const cold = container === undefined;
    if (!container) {
      if (!state.scaling.take(weight, now)) return throttle('scaling');
      container = this.#newContainer(fn);
      state.figures.environments += weight;
    }
    state.inFlight += weight;
    if (state.reserved === undefined) this.#unreservedInFlight += weight;
    state.figures.invocations += weight;
    state.figures.peakConcurrency = Math.max(state.figures.peakConcurrency, state.inFlight);
    if (second >= 0)
      this.concurrencyPerSecond[second] = Math.max(
        this.concurrencyPerSecond[second] ?? 0,
        this.#unreservedInFlight + this.#reservedInFlight(),
      );
    const invocation = new RunningInvocation(fn, weight, this.tracker);
    this.tracker.inFlight++;
    container.current = invocation;
    let initMs = 0;
    const wait = async (ms: number) => {
      invocation.block();
      try {
        await this.scheduler.sleep(ms);
      } finally {
        invocation.unblock();
      }
    };
    try {
      if (cold) {
        initMs = this.#coldStart();
        state.figures.coldStarts += weight;
        await wait(initMs);
      }
      const started = this.scheduler.now();
      await wait(state.cpu());
      let result: InvokeResult<T>;
      try {
        const value = await run(container.runtime, invocation);
        result = { kind: 'ok', value, durationMs: this.scheduler.now() - started };
      } catch (error) {
        state.figures.errors += weight;
        result = { kind: 'error', error, durationMs: this.scheduler.now() - started };
      }
      state.figures.durationMsSum += result.durationMs * weight;
      state.figures.gbSeconds +=
        (weight * state.memoryGb * (Math.ceil(result.durationMs) + Math.ceil(initMs))) / 1000;
      return result;
    } finally {
      container.current = null;
      state.idle.push(container);
      state.inFlight -= weight;
      if (state.reserved === undefined) this.#unreservedInFlight -= weight;
      this.tracker.inFlight--;
    }
  }

  #reservedInFlight(): number {
    let sum = 0;
    for (const state of this.#functions.values()) if (state.reserved !== undefined) sum += state.inFlight;
    return sum;
  }
}
