/**
 * API Gateway in front: the account's request-rate limit per region (a token bucket,
 * 10,000 rps steady and 5,000 burst by default) and the HTTP API stage's own throttle (the
 * stack sets 2,000 rps, burst 5,000 unless deployed with other values). A request over
 * either is answered 429 at the edge and never reaches Lambda.
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

export class ApiGatewayModel {
  readonly #account: TokenBucket;
  readonly #stage: TokenBucket | null;
  requests = 0;
  throttled = 0;
  readonly requestsPerSecond: number[] = [];
  readonly throttledPerSecond: number[] = [];
  readonly byRoute = new Map<string, { requests: number; throttled: number }>();

  constructor(
    config: Scenario['apiGateway'],
    private readonly startMs: number,
  ) {
    this.#account = new TokenBucket(config.account.rps, config.account.burst, startMs);
    this.#stage = config.stage ? new TokenBucket(config.stage.rps, config.stage.burst, startMs) : null;
  }

  /** True when the request passes; false: 429 at the edge. Either way it is counted. */
  admit(route: string, weight: number, nowMs: number): boolean {
    const second = Math.floor((nowMs - this.startMs) / 1000);
    const counter = this.byRoute.get(route) ?? { requests: 0, throttled: 0 };
    this.byRoute.set(route, counter);
    counter.requests += weight;
    this.requests += weight;
    if (second >= 0) this.requestsPerSecond[second] = (this.requestsPerSecond[second] ?? 0) + weight;
    // The stage throttle is checked first: a request it refuses never counts against the account.
    const passed = (this.#stage?.take(weight, nowMs) ?? true) && this.#account.take(weight, nowMs);
    if (!passed) {
      counter.throttled += weight;
      this.throttled += weight;
      if (second >= 0) this.throttledPerSecond[second] = (this.throttledPerSecond[second] ?? 0) + weight;
    }
    return passed;
  }
}
