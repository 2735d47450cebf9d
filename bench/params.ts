/**
 * Every parameter of `npm run bench`, in one place; each one is copied into
 * results/latest.json beside the figures it produced. Counts are tuned so the
 * whole run stays under about three minutes on a 2-core machine.
 * BENCH_QUICK=1 divides every count by 10 (a smoke run while editing the bench;
 * its figures are noisy and not for comparison, so it prints them and writes no file).
 */
import { CONFIG_DEFAULTS } from '#domain/event';
import { UPDATE_DEFAULTS } from '#domain/updates';

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

/** The app and its connected fans, shared by parts 4–5 (one rig) and part 5b (another). */
export interface FanoutRigParams {
  /** Real `ws` clients connected to the app (one child process): every one a waiting fan. */
  readonly connections: number;
  /** FQ_WS_SHARDS of the app: fan-out workers per change. */
  readonly shards: number;
  /** FQ_FANOUT_CONCURRENCY of the app: posts in flight per worker. */
  readonly concurrency: number;
  /** FQ_TICK_SECONDS of the app: the tick the update rule plans for (ticks are run by the bench). */
  readonly tickSeconds: number;
  /** FQ_WS_MESSAGES_PER_SECOND of the app: the event's `position` budget (shared/domain/updates.ts). */
  readonly messagesPerSecond: number;
  /** FQ_NEAR_HORIZON_SECONDS of the app: fans expected in within it hear every move. */
  readonly nearHorizonSeconds: number;
  /** The event's nearThreshold: fans this close hear every move. */
  readonly nearThreshold: number;
  /** The event's admitPerMinute: how fast the ticks move the line. */
  readonly admitPerMinute: number;
  /** Places taken before the connected fans and never connected: the ones the ticks let in. */
  readonly unconnectedPlacesAhead: number;
  /** Handshakes in flight while the clients connect. */
  readonly connectInFlight: number;
  readonly connectTimeoutSeconds: number;
}

export interface FanoutTickParams extends FanoutRigParams {
  /** Ticks that move the line and are measured, after one that is not. */
  readonly ticks: number;
  readonly warmupTicks: number;
  /** How long to wait for every client to hear one tick. */
  readonly deliveryTimeoutSeconds: number;
}

export const FANOUT_EVENT_ID = 'fanout-bench';

export const FANOUT_TICK: FanoutTickParams = {
  connections: count(10_000),
  shards: 16,
  concurrency: 64,
  // The AWS default tick. 10,000 fans every 5 s is 2,000 messages/s, the default budget
  // exactly, and shards are not exactly even: the budget is raised so that every fan hears
  // every move (what this part measures, as before update tiers; part 5b runs the default).
  tickSeconds: 5,
  messagesPerSecond: 1_000_000,
  nearHorizonSeconds: UPDATE_DEFAULTS.nearHorizonSeconds,
  nearThreshold: CONFIG_DEFAULTS.nearThreshold,
  ticks: 2,
  warmupTicks: 1,
  // 1 a second, banked for at most one tick interval (FQ_TICK_SECONDS 5): at most 5 a tick.
  admitPerMinute: 60,
  unconnectedPlacesAhead: 50,
  connectInFlight: 100,
  connectTimeoutSeconds: 90,
  deliveryTimeoutSeconds: 60,
};

/** Part 5b: the same crowd under the default budget, where update tiers apply. */
export interface FanoutTiersParams extends FanoutRigParams {
  /** Ticks that move the line and are measured, after the warm-up. */
  readonly ticks: number;
  /**
   * The first tick tells everyone (no earlier move to count rounds from), which takes this
   * machine seconds; the next ticks then find every far fan whose point passed meanwhile due,
   * and take long too. Warm-up ticks go on until two in a row came within
   * `steadySpacingSeconds` of the one before, or `maxWarmupTicks` of them.
   */
  readonly maxWarmupTicks: number;
  readonly steadySpacingSeconds: number;
  /** A tick starts at least this long after the one before committed (and after its fan-out ended). */
  readonly minTickSpacingSeconds: number;
  /** How long one tick's fan-out may take, and how long the clients get to hear the last one. */
  readonly deliveryTimeoutSeconds: number;
}

export const FANOUT_TIERS: FanoutTiersParams = {
  connections: count(10_000),
  shards: 16,
  concurrency: 64,
  // The local runtime's tick (TICK_MS 1000): 10,000 fans a tick would be 10,000 messages/s.
  tickSeconds: 1,
  // The default (2,000 a second an event); a quick run's tenth of the crowd gets a share
  // that still leaves it tiered and not overloaded.
  messagesPerSecond: QUICK ? 300 : UPDATE_DEFAULTS.messagesPerSecond,
  nearHorizonSeconds: UPDATE_DEFAULTS.nearHorizonSeconds,
  nearThreshold: CONFIG_DEFAULTS.nearThreshold,
  // 10 a second: the first ~600 fans are within the 60 s horizon, 600–1,200 are told every
  // 5–10 s (wait ÷ 12), the rest every 10 s. The front fans are admitted as the line moves.
  admitPerMinute: count(600),
  unconnectedPlacesAhead: 0,
  connectInFlight: 100,
  connectTimeoutSeconds: 90,
  ticks: 16,
  maxWarmupTicks: 20,
  steadySpacingSeconds: 1.5,
  minTickSpacingSeconds: 1,
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

/**
 * Part 6b, a million fans waiting: today's rule (every connected fan every tick that moves
 * the line) against update tiers under the default budget. Every value here is an assumption
 * or a documented quota; the measured inputs are part 4's CPU per message and per connection
 * not told (bench/README.md, "Part 6b").
 */
export interface FanoutMillionParams {
  readonly waitingFans: number;
  /**
   * Connected fans, each spread evenly along the line: the first minute of a sale (API Gateway
   * opens 500 new WebSocket connections a second per account: 30,000), and every fan (after
   * 2,000 s of connects; 1,000,000 ÷ 7,200 s = 139 reconnects a second keep them under the
   * two-hour connection cap).
   */
  readonly connectedFans: readonly number[];
  readonly newConnectionsPerSecond: number;
  readonly connectionMaxSeconds: number;
  /** Places admitted a second, steady: sets each fan's wait (ahead ÷ this) and so its tier. */
  readonly admittedPerSecond: number;
  /** FQ_TICK_SECONDS on AWS: the line moves (at most) once a tick. */
  readonly tickSeconds: number;
  /** FQ_WS_SHARDS default: fan-out workers per move. */
  readonly shards: number;
  /** FQ_WS_MESSAGES_PER_SECOND default. */
  readonly messagesPerSecond: number;
  readonly nearThreshold: number;
  readonly nearHorizonSeconds: number;
  /** The fan-out Lambda (infra), Lambda's MB per vCPU, and a Lambda vCPU against this machine's core. */
  readonly lambdaMemoryMb: number;
  readonly lambdaMbPerVcpu: number;
  readonly lambdaCpuSlowdown: number;
  /** shared/app/fanout.ts: a far round of this many messages or more is spread over this share of the tick. */
  readonly spreadFromMessages: number;
  readonly spreadShareOfTick: number;
  /** A connection item as the registry stores it (for the Query that lists a shard every move). */
  readonly connectionItemBytes: number;
  /** Account-level API Gateway throttle, per Region, every API and `@connections` together. */
  readonly accountRps: number;
}

export const FANOUT_MILLION: FanoutMillionParams = {
  waitingFans: 1_000_000,
  connectedFans: [30_000, 1_000_000],
  newConnectionsPerSecond: 500,
  connectionMaxSeconds: 7_200,
  // About what bench/results/simulate/onsale-1m.json admits (66,538 in 15 minutes).
  admittedPerSecond: 75,
  tickSeconds: 5,
  shards: 16,
  messagesPerSecond: UPDATE_DEFAULTS.messagesPerSecond,
  nearThreshold: CONFIG_DEFAULTS.nearThreshold,
  nearHorizonSeconds: UPDATE_DEFAULTS.nearHorizonSeconds,
  lambdaMemoryMb: 1024,
  lambdaMbPerVcpu: 1769,
  lambdaCpuSlowdown: 1,
  spreadFromMessages: 256,
  spreadShareOfTick: 0.8,
  connectionItemBytes: 200,
  accountRps: 10_000,
};
