/**
 * Every parameter of `npm run bench`, in one place; each one is copied into
 * results/latest.json beside the figures it produced. Counts are tuned so the
 * whole run stays under about three minutes on a 2-core machine.
 * BENCH_QUICK=1 divides every count by 10 (a smoke run while editing the bench;
 * its figures are noisy and not for comparison, so it prints them and writes no file).
 */
export const BENCH_EVENT_ID = 'bench';
/** The same load on an event with sharded intake (decision 0008). */
export const BENCH_SHARDED_EVENT_ID = 'bench-sharded';

export const QUICK = process.env.BENCH_QUICK === '1';
/** BENCH_ONLY=joins (parts 1–3) or BENCH_ONLY=fanout (parts 4–6): a partial run, printed, no file written. */
export const ONLY = ((): 'joins' | 'fanout' | null => {
  const only = process.env.BENCH_ONLY;
  if (only === undefined || only === '') return null;
  if (only === 'joins' || only === 'fanout') return only;
  throw new Error(`BENCH_ONLY must be "joins" or "fanout", got "${only}"`);
})();
const count = (n: number) => (QUICK ? Math.max(50, Math.round(n / 10)) : n);

export interface HttpJoinParams {
  /** `sqlite`: the embedded store `npm start` uses (on disk); `memory`: in process, for comparison. */
  readonly store: 'sqlite' | 'memory' | 'dynamodb';
  /** The event's intake mode: one counter item (`exact`) or striped tickets (`sharded`). */
  readonly intake: 'exact' | 'sharded';
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

export const HTTP_SQLITE: HttpJoinParams = {
  store: 'sqlite',
  intake: 'exact',
  joins: count(20_000),
  warmupJoins: count(2_000),
  concurrency: 64,
  anonymousShare: 0.5,
  timeLimitSeconds: 45,
  requestTimeoutMs: 10_000,
};

/** The same load on the in-memory store, beside the SQLite default. */
export const HTTP_MEMORY: HttpJoinParams = { ...HTTP_SQLITE, store: 'memory' };
/** The same load on a sharded event, in the same server run as the exact one. */
export const HTTP_SQLITE_SHARDED: HttpJoinParams = { ...HTTP_SQLITE, intake: 'sharded' };

export const HTTP_DYNAMODB: HttpJoinParams = {
  store: 'dynamodb',
  intake: 'exact',
  joins: count(5_000),
  warmupJoins: count(500),
  concurrency: 64,
  anonymousShare: 0.5,
  timeLimitSeconds: 60,
  requestTimeoutMs: 10_000,
};
export const HTTP_DYNAMODB_SHARDED: HttpJoinParams = { ...HTTP_DYNAMODB, intake: 'sharded' };

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

export interface FanoutWorkerParams {
  /** Connections in the one shard the measured worker fans out to (real `ws` clients). */
  readonly connections: number;
  /** Posts in flight per worker (FQ_FANOUT_CONCURRENCY), one full fan-out per value. */
  readonly concurrencies: readonly number[];
  /** Fan-outs of the shard with the signing but no posting, for the CPU split. */
  readonly signOnlyRuns: number;
  /** Full fan-outs at the configured concurrency before anything is measured (JIT, sockets). */
  readonly warmupRuns: number;
  /** How long to wait for the clients to receive one fan-out. */
  readonly deliveryTimeoutSeconds: number;
}

export interface FanoutTickParams {
  /** Real `ws` clients connected to the app (one child process): every one a waiting fan. */
  readonly connections: number;
  /** FQ_WS_SHARDS of the app: fan-out workers per change. */
  readonly shards: number;
  /** FQ_FANOUT_CONCURRENCY of the app: posts in flight per worker. */
  readonly concurrency: number;
  /** Ticks that move the line and are measured, after one that is not. */
  readonly ticks: number;
  readonly warmupTicks: number;
  /** The event's admitPerMinute: each tick lets in at most a handful, so nearly everyone stays waiting. */
  readonly admitPerMinute: number;
  /** Places taken before the connected fans and never connected: the ones the ticks let in. */
  readonly unconnectedPlacesAhead: number;
  /** Handshakes in flight while the clients connect. */
  readonly connectInFlight: number;
  readonly connectTimeoutSeconds: number;
  /** How long to wait for every client to hear one tick. */
  readonly deliveryTimeoutSeconds: number;
}

export const FANOUT_EVENT_ID = 'fanout-bench';

export const FANOUT_TICK: FanoutTickParams = {
  connections: count(10_000),
  shards: 16,
  concurrency: 64,
  ticks: 2,
  warmupTicks: 1,
  // 1 a second, banked for at most one tick interval (FQ_TICK_SECONDS 5): at most 5 a tick.
  admitPerMinute: 60,
  unconnectedPlacesAhead: 50,
  connectInFlight: 100,
  connectTimeoutSeconds: 90,
  deliveryTimeoutSeconds: 60,
};

export const FANOUT_WORKER: FanoutWorkerParams = {
  connections: count(2_000),
  concurrencies: [1, 16, 64],
  signOnlyRuns: 3,
  warmupRuns: 1,
  deliveryTimeoutSeconds: 20,
};

/**
 * Part 6, the 100,000-connection model: every value here is an assumption or a
 * documented quota, not a measurement (bench/README.md, "Part 6").
 */
export interface FanoutModelParams {
  readonly connections: number;
  readonly targetSeconds: number;
  /** FQ_WS_SHARDS default (shared/app/config.ts). */
  readonly configuredShards: number;
  /** FQ_FANOUT_CONCURRENCY default (shared/app/config.ts, infra fanoutConcurrency). */
  readonly configuredConcurrency: number;
  /** The AWS SDK v3 http agent's default maxSockets (@smithy/node-http-handler); runtime.ts sets none. */
  readonly sdkMaxSockets: number;
  /** Assumed PostToConnection round trips from a Lambda in the API's Region, one scenario each. */
  readonly postLatencyMs: readonly number[];
  /**
   * The fan-out Lambda's memory: first as configured (infra/waiting-room.ts), then
   * alternatives; and Lambda's MB per full vCPU (CPU is allotted in proportion to memory).
   */
  readonly lambdaMemoryMb: readonly number[];
  readonly lambdaMbPerVcpu: number;
  /** A Lambda vCPU's speed against this machine's core for this work (1 = the same). */
  readonly lambdaCpuSlowdown: number;
  /** Connections per registry page (shared/adapters/dynamo-connections.ts) and one DynamoDB Query of it. */
  readonly pageSize: number;
  readonly pageQueryMs: number;
  /** Tick commit → every worker running: the admitter's asynchronous Invoke of each shard's worker, warm. */
  readonly dispatchSeconds: number;
  /** Account-level API Gateway throttle, per Region, across HTTP, REST, WebSocket and WebSocket callback APIs. */
  readonly accountRps: number;
  readonly accountBurst: number;
  /** FQ_TICK_SECONDS default: how often a tick can move the line (and start a fan-out to everyone). */
  readonly tickSeconds: number;
  /** Upper bound of the shard search. */
  readonly maxShardsConsidered: number;
}

export const FANOUT_MODEL: FanoutModelParams = {
  connections: 100_000,
  targetSeconds: 10,
  configuredShards: 16,
  configuredConcurrency: 64,
  /** The management client's agent is sized to FQ_FANOUT_CONCURRENCY (shared/app/runtime.ts). */
  sdkMaxSockets: 64,
  postLatencyMs: [10, 20],
  lambdaMemoryMb: [1024, 1769],
  lambdaMbPerVcpu: 1769,
  lambdaCpuSlowdown: 1,
  pageSize: 1000,
  pageQueryMs: 25,
  dispatchSeconds: 0.2,
  accountRps: 10_000,
  accountBurst: 5_000,
  tickSeconds: 5,
  maxShardsConsidered: 1024,
};
