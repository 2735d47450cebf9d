/**
 * API Gateway in front: the account's request-rate limit per region (a token bucket,
 * 10,000 rps steady and 5,000 burst by default) and the HTTP API stage's own throttle (the
 * stack sets 2,000 rps, burst 5,000 unless deployed with other values). A request over
 * either is answered 429 at the edge and never reaches Lambda.
 *
 * The waiting model adds the WebSocket side: the WebSocket stage's throttle (connects and
 * client messages; 1,000 rps, burst 2,000 in the stack), the account's 500 new connections
 * a second, and the fan-out's `@connections` posts, which count against the account only.
 */
import type { Scenario } from './scenario.ts';

/** A token bucket: `rate` units a second, at most `capacity` banked (API Gateway's throttles, Lambda's scaling). */
export class TokenBucket {
  #tokens: number;
  #lastMs: number;
  constructor(
    readonly rate: number,
    readonly capacity: number,
    nowMs: number,
  ) {
    this.#tokens = capacity;
    this.#lastMs = nowMs;
  }
  take(units: number, nowMs: number): boolean {
    if (nowMs > this.#lastMs) {
      this.#tokens = Math.min(this.capacity, this.#tokens + ((nowMs - this.#lastMs) / 1000) * this.rate);
      this.#lastMs = nowMs;
    }
    if (this.#tokens <= 0) return false;
    this.#tokens -= units;
    return true;
  }
}

/** Which limit refused a request. */
export type ApiLimit = 'account' | 'httpStage' | 'webSocketStage' | 'webSocketConnects';

/** Per key, per virtual second: weighted counts (for peaks by route and by quota). */
export class RateMeter {
  readonly #series = new Map<string, number[]>();
  constructor(private readonly startMs: number) {}

  add(key: string, nowMs: number, amount: number) {
    const second = Math.floor((nowMs - this.startMs) / 1000);
    if (second < 0) return;
    let values = this.#series.get(key);
    if (!values) {
      values = [];
      this.#series.set(key, values);
    }
    values[second] = (values[second] ?? 0) + amount;
  }

  keys(): string[] {
    return [...this.#series.keys()];
  }

  series(key: string): readonly number[] {
    return this.#series.get(key) ?? [];
  }

  /** Sum over [fromSecond, toSecond). */
  total(key: string, fromSecond: number, toSecond: number): number {
    const values = this.series(key);
    let sum = 0;
    for (let s = fromSecond; s < toSecond; s++) sum += values[s] ?? 0;
    return sum;
  }

  /** The highest mean over `width` consecutive seconds within [fromSecond, toSecond). */
  peak(key: string, fromSecond: number, toSecond: number, width = 1): number {
    const values = this.series(key);
    let best = 0;
    let sum = 0;
    for (let s = fromSecond; s < toSecond; s++) {
      sum += values[s] ?? 0;
      if (s - fromSecond >= width) sum -= values[s - width] ?? 0;
      if (s - fromSecond >= width - 1) best = Math.max(best, sum / width);
    }
    return best;
  }
}

export class ApiGatewayModel {
  readonly #account: TokenBucket;
  readonly #stage: TokenBucket | null;
  readonly #webSocketStage: TokenBucket | null;
  readonly #connects: TokenBucket;
  requests = 0;
  throttled = 0;
  readonly requestsPerSecond: number[] = [];
  readonly throttledPerSecond: number[] = [];
  readonly byRoute = new Map<string, { requests: number; throttled: number }>();
  /** Offered requests per route and per limit, refusals per limit (`refused:<limit>`). */
  readonly meter: RateMeter;

  constructor(
    config: Scenario['apiGateway'],
    private readonly startMs: number,
  ) {
    this.#account = new TokenBucket(config.account.rps, config.account.burst, startMs);
    this.#stage = config.stage ? new TokenBucket(config.stage.rps, config.stage.burst, startMs) : null;
    this.#webSocketStage = config.webSocketStage
      ? new TokenBucket(config.webSocketStage.rps, config.webSocketStage.burst, startMs)
      : null;
    this.#connects = new TokenBucket(config.webSocketConnects.rps, config.webSocketConnects.burst, startMs);
    this.meter = new RateMeter(startMs);
  }

  #refused(limit: ApiLimit, weight: number, nowMs: number) {
    this.meter.add(`refused:${limit}`, nowMs, weight);
  }

  /**
   * A WebSocket connect (`connect`) or client message through the WebSocket stage and the
   * account: the limit that refused it, or null when it passes. Counted by route either way.
   */
  admitWebSocket(route: string, weight: number, nowMs: number, connect: boolean): ApiLimit | null {
    this.meter.add(`route:${route}`, nowMs, weight);
    this.meter.add('limit:webSocketStage', nowMs, weight);
    if (connect) this.meter.add('limit:webSocketConnects', nowMs, weight);
    if (connect && !this.#connects.take(weight, nowMs)) {
      this.#refused('webSocketConnects', weight, nowMs);
      return 'webSocketConnects';
    }
    if (this.#webSocketStage && !this.#webSocketStage.take(weight, nowMs)) {
      this.#refused('webSocketStage', weight, nowMs);
      return 'webSocketStage';
    }
    this.meter.add('limit:account', nowMs, weight);
    if (!this.#account.take(weight, nowMs)) {
      this.#refused('account', weight, nowMs);
      return 'account';
    }
    this.meter.add(`passed:${route}`, nowMs, weight);
    return null;
  }

  /** A `@connections` post or delete (the fan-out, a pong): the account's limit only. */
  admitCallback(route: string, weight: number, nowMs: number): boolean {
    this.meter.add(`route:${route}`, nowMs, weight);
    this.meter.add('limit:account', nowMs, weight);
    if (this.#account.take(weight, nowMs)) {
      this.meter.add(`passed:${route}`, nowMs, weight);
      return true;
    }
    this.#refused('account', weight, nowMs);
    return false;
  }

  /** True when the request passes; false: 429 at the edge. Either way it is counted. */
  admit(route: string, weight: number, nowMs: number): boolean {
    const second = Math.floor((nowMs - this.startMs) / 1000);
    const counter = this.byRoute.get(route) ?? { requests: 0, throttled: 0 };
    this.byRoute.set(route, counter);
    counter.requests += weight;
    this.requests += weight;
    if (second >= 0) this.requestsPerSecond[second] = (this.requestsPerSecond[second] ?? 0) + weight;
    this.meter.add(`route:${route}`, nowMs, weight);
    this.meter.add('limit:httpStage', nowMs, weight);
    // The stage throttle is checked first: a request it refuses never counts against the account.
    const stagePassed = this.#stage?.take(weight, nowMs) ?? true;
    if (stagePassed) this.meter.add('limit:account', nowMs, weight);
    const passed = stagePassed && this.#account.take(weight, nowMs);
    if (passed) this.meter.add(`passed:${route}`, nowMs, weight);
    if (!passed) {
      this.#refused(stagePassed ? 'account' : 'httpStage', weight, nowMs);
      counter.throttled += weight;
      this.throttled += weight;
      if (second >= 0) this.throttledPerSecond[second] = (this.throttledPerSecond[second] ?? 0) + weight;
    }
    return passed;
  }
}
