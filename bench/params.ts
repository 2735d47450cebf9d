/**
 * Every parameter of `npm run bench`, in one place; each one is copied into
 * results/latest.json beside the figures it produced. Counts are tuned so the
 * whole run stays under about three minutes on a 2-core machine.
 * BENCH_QUICK=1 divides every count by 10 (a smoke run while editing the bench;
 * its figures are noisy and not for comparison, so it prints them and writes no file).
 */
export const BENCH_EVENT_ID = 'bench';

export const QUICK = process.env.BENCH_QUICK === '1';
const count = (n: number) => (QUICK ? Math.max(50, Math.round(n / 10)) : n);

export interface HttpJoinParams {
  readonly store: 'memory' | 'dynamodb';
  /** Measured joins; the run stops earlier if `timeLimitSeconds` passes first. */
  readonly joins: number;
  /** Joins sent first and not measured: JIT, sockets, key cache, SDK connections. */
  readonly warmupJoins: number;
  /** Requests in flight at all times (one keep-alive socket each). */
  readonly concurrency: number;
  /** Share of joins with no userId (anonymous); the rest carry a userId never seen before. */
  readonly anonymousShare: number;
  readonly timeLimitSeconds: number;
  readonly requestTimeoutMs: number;
}

export const HTTP_MEMORY: HttpJoinParams = {
  store: 'memory',
  joins: count(20_000),
  warmupJoins: count(2_000),
  concurrency: 64,
  anonymousShare: 0.5,
  timeLimitSeconds: 45,
  requestTimeoutMs: 10_000,
};

export const HTTP_DYNAMODB: HttpJoinParams = {
  store: 'dynamodb',
  joins: count(5_000),
  warmupJoins: count(500),
  concurrency: 64,
  anonymousShare: 0.5,
  timeLimitSeconds: 60,
  requestTimeoutMs: 10_000,
};

export interface CpuPerJoinParams {
  readonly joins: number;
  readonly warmupJoins: number;
  readonly anonymousShare: number;
  /** Signatures per way of signing (token service, WebCrypto, raw node:crypto). */
  readonly signs: number;
  readonly warmupSigns: number;
}

export const CPU_PER_JOIN: CpuPerJoinParams = {
  joins: count(5_000),
  warmupJoins: count(500),
  anonymousShare: 0.5,
  signs: count(5_000),
  warmupSigns: count(500),
};

export interface VerifyParams {
  readonly verifications: number;
  readonly warmup: number;
  /** Verifications kept in flight for the pipelined jose figure. */
  readonly inFlight: number;
}

export const VERIFY: VerifyParams = {
  verifications: count(5_000),
  warmup: count(500),
  inFlight: 64,
};
