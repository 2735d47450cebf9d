/**
 * CloudFront in front of the public event document (decision 0011): edge locations, each
 * keeping the document `ttlSeconds`, in front of regional edge caches that keep it as long,
 * in front of the origin (API Gateway and the `event` function). Simultaneous misses of one
 * cache wait for the same fetch (CloudFront collapses them). Errors are kept as long as
 * answers (the distribution keeps 5xx for 1 s).
 *
 * Reads are sampled: a read stands for `weight` fans' reads in the request count, but a miss
 * is one fetch whatever the weight: the fans it stands for would have found the copy that
 * fetch brought. So the sampled reads must reach every edge at least once per TTL, as the
 * real crowd does (the scenario's edge count is chosen so).
 */
import type { RateMeter } from './api-gateway.ts';
import { type Random, sampler } from './random.ts';
import type { WaitingScenario } from './scenario.ts';
import type { Scheduler } from './scheduler.ts';

export type Fetched<T> =
  | { readonly ok: true; readonly value: T; readonly bytes: number }
  | { readonly ok: false };

interface Cache<T> {
  entry: Fetched<T> | null;
  storedAt: number;
  pending: Promise<Fetched<T>> | null;
}

const empty = <T>(): Cache<T> => ({ entry: null, storedAt: Number.NEGATIVE_INFINITY, pending: null });

export class Cdn<T> {
  readonly #edges: Cache<T>[];
  readonly #regional: Cache<T>[];
  readonly #ttlMs: number;
  readonly #viewer: () => number;
  readonly #toRegional: () => number;
  readonly #toOrigin: () => number;

  constructor(
    private readonly config: WaitingScenario['cdn'],
    private readonly scheduler: Scheduler,
    random: Random,
    private readonly origin: () => Promise<Fetched<T>>,
    private readonly meter: RateMeter,
  ) {
    this.#edges = Array.from({ length: config.edgeLocations }, () => empty<T>());
    this.#regional = Array.from({ length: config.regionalCaches }, () => empty<T>());
    this.#ttlMs = config.ttlSeconds * 1000;
    this.#viewer = sampler(config.viewerMs, random);
    this.#toRegional = sampler(config.edgeToRegionalMs, random);
    this.#toOrigin = sampler(config.toOriginMs, random);
  }

  /**
   * A read of the cached document at `edge`, standing for `weight` fans' reads. The cache is
   * looked up when the request is made and the answer arrives a round trip later (one event
   * a read, not two: the few milliseconds in between change nothing here).
   */
  async read(edge: number, weight: number): Promise<Fetched<T>> {
    this.meter.add('cloudfront:requests', this.scheduler.now(), weight);
    const cache = this.#edges[edge % this.#edges.length];
    if (!cache) throw new Error('no edge');
    const got =
      this.#fresh(cache) ??
      (await this.#through(cache, 'cloudfront:edgeMisses', () => this.#fromRegional(edge)));
    if (got.ok)
      this.meter.add(
        'cloudfront:bytes',
        this.scheduler.now(),
        weight * (got.bytes + this.config.headerBytes),
      );
    await this.scheduler.sleep(this.#viewer());
    return got;
  }

  #fresh(cache: Cache<T>): Fetched<T> | null {
    return cache.entry && this.scheduler.now() - cache.storedAt < this.#ttlMs ? cache.entry : null;
  }

  /**
   * A fetch through one cache. With `honourAge`, a copy from the regional cache is kept only
   * for what is left of its TTL (RFC 9111 `Age`): the edge adds no age of its own.
   */
  async #through(
    cache: Cache<T>,
    missKey: string,
    fetch: () => Promise<{ got: Fetched<T>; storedAt: number }>,
  ): Promise<Fetched<T>> {
    const fresh = this.#fresh(cache);
    if (fresh) return fresh;
    if (cache.pending) return cache.pending;
    this.meter.add(missKey, this.scheduler.now(), 1);
    cache.pending = fetch().then(({ got, storedAt }) => {
      cache.entry = got;
      cache.storedAt = this.config.honourAge ? storedAt : this.scheduler.now();
      cache.pending = null;
      return got;
    });
    return cache.pending;
  }

  async #fromRegional(edge: number): Promise<{ got: Fetched<T>; storedAt: number }> {
    const regional = this.#regional.length > 0 ? this.#regional[edge % this.#regional.length] : undefined;
    if (!regional) return this.#fromOrigin();
    await this.scheduler.sleep(this.#toRegional() / 2);
    const got = await this.#through(regional, 'cloudfront:regionalMisses', () => this.#fromOrigin());
    const storedAt = regional.storedAt;
    await this.scheduler.sleep(this.#toRegional() / 2);
    return { got, storedAt };
  }

  async #fromOrigin(): Promise<{ got: Fetched<T>; storedAt: number }> {
    const roundTripMs = this.#toOrigin();
    await this.scheduler.sleep(roundTripMs / 2);
    this.meter.add('cloudfront:originFetches', this.scheduler.now(), 1);
    const got = await this.origin();
    const storedAt = this.scheduler.now();
    await this.scheduler.sleep(roundTripMs / 2);
    return { got, storedAt };
  }
}
