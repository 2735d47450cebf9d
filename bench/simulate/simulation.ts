/**
 * One simulated sale: the crowd of a scenario joins, polls, claims, completes and leaves
 * through API Gateway and Lambda models into the real WaitingRoom, the real Admitter (and
 * so planTick) and the real DynamoQueueStore, on the simulated DynamoDB, in virtual time.
 * What happened is recorded per fan and per second for report.ts.
 */
import { DynamoQueueStore } from '#adapters/dynamo-store';
import { DynamoTable } from '#adapters/dynamo-table';
import { Admitter } from '#app/admitter';
import { WaitingRoom, type WaitingRoomDeps } from '#app/waiting-room';
import { FairqueueError } from '#domain/errors';
import type { EventConfigInput } from '#domain/event';
import { SLICE_SPAN } from '#domain/intake';
import type { TokenService } from '#lib/token-service';
import type { QueueStore } from '#ports/queue-store';
import type { ChangeNotifier, LineChange } from '#ports/realtime';
import { ApiGatewayModel } from './api-gateway.ts';
import { buildCrowd, type Crowd, TRAIT } from './crowd.ts';
import { type CallContext, SimDynamoDB } from './dynamodb.ts';
import { type Container, type Invocation, LambdaModel } from './lambda.ts';
import { Random, sampler } from './random.ts';
import type { FunctionName, Scenario } from './scenario.ts';
import { Scheduler } from './scheduler.ts';
import { FastTokenService, realTokenService } from './tokens.ts';
import { type RealtimeRuntime, WaitingModel, type WaitingRecord } from './waiting.ts';

const TABLE = 'fairqueue';
/** The virtual clock starts here, so runs are reproducible (and tokens carry sane dates). */
export const SALE_START_MS = Date.UTC(2026, 10, 22, 12, 0, 0);
const CLAIM_RETRIES = 10;
const COMPLETE_RETRIES = 5;
const NOT_YET_RETRY_MS = 2000;
/** After the horizon, requests in flight get this long to finish (SDK and transaction retries, leave fences). */
const DRAIN_MS = 120_000;

export interface Runtime {
  readonly room: WaitingRoom;
  readonly store: QueueStore;
  readonly admitter: Admitter | null;
  /** The fan-out worker or the WebSocket routes (waiting model only). */
  readonly realtime: RealtimeRuntime | null;
}

/** Functions whose environments build the realtime runtime. */
const REALTIME_FUNCTIONS: ReadonlySet<FunctionName> = new Set([
  'fanout',
  'wsConnect',
  'wsMessage',
  'wsDisconnect',
]);

/** Why a request did not get through: the edge (API Gateway, Lambda) or a 503 (DynamoDB throttled). */
export type ThrottleKind = 'apiGateway' | 'lambdaConcurrency' | 'lambdaScaling' | 'dynamodb';

export type Answer<T> =
  | { readonly ok: true; readonly value: T }
  | {
      readonly ok: false;
      readonly status: number;
      readonly code: string;
      readonly throttle?: ThrottleKind;
      readonly retryAfterSeconds: number;
    };

export interface Batch {
  readonly from: number;
  readonly to: number;
  readonly atMs: number;
  /** The tick's own clock (whole seconds): `atMs` is when its commit was known, a little later. */
  readonly tickAt: number;
  readonly claimBy: number;
}

/** A growable column of numbers. */
class Column {
  values = new Float64Array(1024);
  length = 0;
  push(value: number) {
    if (this.length === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = value;
  }
  view(): Float64Array {
    return this.values.subarray(0, this.length);
  }
}

/** Per-second counters, indexed by virtual second since the sale opened. */
class Series {
  readonly values: number[] = [];
  add(second: number, amount = 1) {
    if (second >= 0) this.values[second] = (this.values[second] ?? 0) + amount;
  }
}

/** Not-yet-admitted fans ordered by position: each tick admits the front of it. */
class PositionHeap {
  readonly #pos: Float64Array;
  readonly #fan: Int32Array;
  #size = 0;
  constructor(capacity: number) {
    this.#pos = new Float64Array(capacity);
    this.#fan = new Int32Array(capacity);
  }
  get size() {
    return this.#size;
  }
  push(position: number, fan: number) {
    let i = this.#size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = this.#pos[parent] ?? 0;
      if (p <= position) break;
      this.#pos[i] = p;
      this.#fan[i] = this.#fan[parent] ?? 0;
      i = parent;
    }
    this.#pos[i] = position;
    this.#fan[i] = fan;
  }
  peek(): number {
    return this.#size > 0 ? (this.#pos[0] ?? Number.POSITIVE_INFINITY) : Number.POSITIVE_INFINITY;
  }
  pop(): number {
    const fan = this.#fan[0] ?? -1;
    const n = --this.#size;
    const lastPos = this.#pos[n] ?? 0;
    const lastFan = this.#fan[n] ?? 0;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && (this.#pos[right] ?? 0) < (this.#pos[left] ?? 0) ? right : left;
      if ((this.#pos[child] ?? 0) >= lastPos) break;
      this.#pos[i] = this.#pos[child] ?? 0;
      this.#fan[i] = this.#fan[child] ?? 0;
      i = child;
    }
    this.#pos[i] = lastPos;
    this.#fan[i] = lastFan;
    return fan;
  }
}

export interface SimulationRecord {
  readonly scenario: Scenario;
  /** Epoch ms of virtual time zero (the sale's start). */
  readonly saleStartMs: number;
  readonly crowd: Crowd;
  /** Whether the build knew `intake` and which intake the event got. */
  readonly intake: { readonly requested: string; readonly applied: string; readonly note: string | null };
  readonly fans: {
    /** Virtual ms after the sale opened; NaN where it did not happen. */
    readonly acceptedAt: Float64Array;
    readonly position: Float64Array;
    readonly admittedAt: Float64Array;
    readonly estimateAtJoin: Float64Array;
    readonly claimedAt: Float64Array;
    readonly completedAt: Float64Array;
    readonly leftAt: Float64Array;
    /** 1 when the fan gave up joining (retries used up or refused). */
    readonly joinFailed: Uint8Array;
  };
  /** Status answers of sampled pollers while waiting: fan, when, the estimate given (s). */
  readonly waitingEstimates: {
    readonly fan: Float64Array;
    readonly atMs: Float64Array;
    readonly estimate: Float64Array;
  };
  readonly pollerWeight: number;
  readonly batches: readonly Batch[];
  readonly perSecond: {
    readonly joinsAccepted: number[];
    readonly joinsThrottled: number[];
    readonly admitted: number[];
    readonly queueLength: number[];
    readonly activeSessions: number[];
    readonly throttles: Record<ThrottleKind, number[]>;
  };
  readonly counts: {
    readonly joinAttempts: number;
    readonly throttledJoins: number;
    readonly throttledJoinsByKind: Record<ThrottleKind, number>;
    readonly failedJoinsByCode: Record<string, number>;
    readonly repeatJoins: number;
    readonly repeatJoinMismatches: number;
    readonly claims: number;
    readonly claimOutcomes: Record<string, number>;
    readonly completes: number;
    readonly leaves: number;
    readonly leaveOutcomes: Record<string, number>;
    readonly polls: number;
    readonly throttledRequestsByRoute: Record<string, number>;
    readonly ticks: number;
    readonly tickFailures: number;
    readonly tickFailureCodes: Record<string, number>;
    readonly statusErrors: Record<string, number>;
  };
  readonly capacity: {
    /** Most places holding a slot at once by what the fans did (admitted-unclaimed in window plus active). */
    readonly maxSlotsHeld: number;
    /** Most `inUse` the store's own state showed after a tick. */
    readonly maxStoreInUse: number;
    readonly violations: number;
  };
  readonly audit: {
    readonly issued: number;
    readonly servingPosition: number;
    readonly claimed: number;
    readonly completed: number;
    /**
     * Positions void: the fans who left, and the numbers the store voided that no fan held
     * (a join that lost its reservation to a later one of its user gives its number up).
     */
    readonly voidByStore: number | null;
    readonly voidedForNobody: number;
    readonly userBindingMismatches: number;
    /** A few mismatching users, to look into: the fan, the place it was given, what the store holds. */
    readonly mismatchExamples: readonly { fan: number; given: number; stored: unknown; traits: string[] }[];
    readonly duplicatePositions: number;
    readonly sessionsWithoutAdmission: number;
  };
  readonly engine: SimDynamoDB;
  readonly lambda: LambdaModel<Runtime>;
  readonly apiGateway: ApiGatewayModel;
  /** The waiting model's record, and what was used from its measured window's start to the horizon. */
  readonly waiting: WaitingRecord | null;
  readonly window: { readonly from: Usage; readonly to: Usage } | null;
  readonly wall: {
    readonly ms: number;
    readonly events: number;
    readonly setupMs: number;
    readonly spins: number;
    readonly waitedMs: number;
  };
}

/** Cumulative usage at one instant, for what a window of the run cost. */
export interface Usage {
  readonly lambda: Record<
    string,
    { readonly invocations: number; readonly gbSeconds: number; readonly durationMsSum: number }
  >;
  readonly dynamodb: { readonly requests: number; readonly readUnits: number; readonly writeUnits: number };
  /** DynamoDB by caller (the function sending). */
  readonly byCaller: Record<
    string,
    { readonly requests: number; readonly readUnits: number; readonly writeUnits: number }
  >;
}

export interface SimulateOptions {
  /** Progress lines (to stderr in the CLI). */
  readonly log?: (line: string) => void;
}

export async function simulate(scenario: Scenario, options: SimulateOptions = {}): Promise<SimulationRecord> {
  const wallStart = performance.now();
  const log = options.log ?? (() => {});
  const random = new Random(scenario.seed);
  const scheduler = new Scheduler(SALE_START_MS);
  const engine = new SimDynamoDB(TABLE, scenario.dynamodb, scheduler, random.fork('dynamodb'), SALE_START_MS);
  const tokens: TokenService =
    scenario.tokens === 'real' ? realTokenService(scheduler.now) : new FastTokenService(scheduler.now);
  const eventId = scenario.event.id;
  const pollerWeight = 1 / scenario.crowd.pollerShare;
  const at = () => scheduler.now() - SALE_START_MS;
  const second = () => Math.floor(at() / 1000);
  const behaviour = random.fork('behaviour');
  const draw = {
    repeat: sampler(scenario.crowd.repeatJoinDelaySeconds, behaviour),
    leave: sampler(scenario.crowd.leaveAfterSeconds, behaviour),
    abandon: sampler(scenario.crowd.abandonAfterSeconds, behaviour),
    claim: sampler(scenario.crowd.claimDelaySeconds, behaviour),
    purchase: sampler(scenario.crowd.purchaseSeconds, behaviour),
    jitter: () => behaviour.next() * scenario.crowd.retryJitterSeconds * 1000,
  };

  // --- the fans' and the admitter's view of the line --------------------------------------
  const crowd = buildCrowd(scenario, random);
  const n = crowd.size;
  const nan = () => new Float64Array(n).fill(Number.NaN);
  const fans = {
    acceptedAt: nan(),
    position: nan(),
    admittedAt: nan(),
    estimateAtJoin: nan(),
    claimedAt: nan(),
    completedAt: nan(),
    leftAt: nan(),
    joinFailed: new Uint8Array(n),
  };
  const abandonedAt = nan();
  const batchOf = new Int32Array(n).fill(-1);
  /** Fans whose leave answered 503 after reaching the store: whether their place is void is not known. */
  const leaveUncertain = new Uint8Array(n);
  const pollerTokens = new Map<number, string>();
  /** The poll interval each sampled poller was last told, and how many polls in a row were refused. */
  const pollPace = new Map<number, number>();
  const pollRefusals = new Map<number, number>();
  const waitingEstimates = { fan: new Column(), atMs: new Column(), estimate: new Column() };
  const line = new PositionHeap(n);
  const batches: (Batch & { unclaimed: number })[] = [];
  const series = {
    joinsAccepted: new Series(),
    joinsThrottled: new Series(),
    admitted: new Series(),
    queueLength: new Series(),
    activeSessions: new Series(),
    throttles: {
      apiGateway: new Series(),
      lambdaConcurrency: new Series(),
      lambdaScaling: new Series(),
      dynamodb: new Series(),
    } satisfies Record<ThrottleKind, Series>,
  };
  const counts = {
    joinAttempts: 0,
    throttledJoins: 0,
    throttledJoinsByKind: { apiGateway: 0, lambdaConcurrency: 0, lambdaScaling: 0, dynamodb: 0 } as Record<
      ThrottleKind,
      number
    >,
    failedJoinsByCode: {} as Record<string, number>,
    repeatJoins: 0,
    repeatJoinMismatches: 0,
    claims: 0,
    claimOutcomes: {} as Record<string, number>,
    completes: 0,
    leaves: 0,
    leaveOutcomes: {} as Record<string, number>,
    polls: 0,
    throttledRequestsByRoute: {} as Record<string, number>,
    ticks: 0,
    tickFailures: 0,
    tickFailureCodes: {} as Record<string, number>,
    statusErrors: {} as Record<string, number>,
  };
  const bump = (record: Record<string, number>, key: string, by = 1) => {
    record[key] = (record[key] ?? 0) + by;
  };
  let acked = 0;
  let admittedHeld = 0;
  let leftCount = 0;
  let activeSessions = 0;
  let maxSlotsHeld = 0;
  let maxStoreInUse = 0;
  let capacityViolations = 0;
  let servingTo = 0;
  /** Past the horizon: nobody starts anything new; requests in flight finish. */
  let stopping = false;

  const slotsHeld = () => {
    const nowSec = Math.floor(scheduler.now() / 1000);
    let unclaimed = 0;
    for (const batch of batches) if (batch.claimBy > nowSec) unclaimed += batch.unclaimed;
    return unclaimed + activeSessions;
  };
  const checkCapacity = () => {
    const held = slotsHeld();
    maxSlotsHeld = Math.max(maxSlotsHeld, held);
    if (held > scenario.event.capacity) capacityViolations++;
  };

  // --- Lambda, API Gateway and the runtime each environment builds at INIT ---------------
  const direct = { weight: 1, caller: 'setup', started: () => {}, settled: () => {} };
  const contextOf = (invocation: Invocation | null): CallContext =>
    invocation
      ? {
          weight: invocation.weight,
          caller: invocation.fn,
          started: invocation.block,
          settled: invocation.unblock,
        }
      : direct;
  const notifier: ChangeNotifier = { notify: async (changes) => admitted(changes) };
  // Built once Lambda and API Gateway exist (below); the runtimes only use it when invoked.
  let waiting: WaitingModel<Runtime> | null = null;
  const buildRuntime = (container: Container<Runtime> | null): Runtime => {
    const sleep = (ms: number) => {
      const invocation = container?.current ?? null;
      invocation?.block();
      return scheduler.sleep(ms).finally(() => invocation?.unblock());
    };
    const client = engine.client(() => contextOf(container?.current ?? null));
    const store = new DynamoQueueStore(new DynamoTable(client, TABLE, { sleep }));
    // As the functions build it on AWS; `eventCacheMs` and `tickSeconds` where the build has them.
    const deps: WaitingRoomDeps & { readonly eventCacheMs?: number; readonly tickSeconds?: number } = {
      store,
      tokens,
      identity: null,
      wsUrl: null,
      joinRateLimitPerMinute: 0,
      now: scheduler.now,
      sleep,
      eventCacheMs: scenario.lambda.eventCacheMs,
      tickSeconds: scenario.admitter.tickSeconds,
      ...(scenario.statusRequestsPerSecond !== undefined && {
        statusRequestsPerSecond: scenario.statusRequestsPerSecond,
      }),
      ...(scenario.waiting && { statusRequestsPerSecond: scenario.waiting.statusRequestsPerSecond }),
    };
    const room = new WaitingRoom(deps);
    const admitter =
      container?.fn === 'admitter'
        ? new Admitter(store, { tickSeconds: scenario.admitter.tickSeconds, now: scheduler.now, notifier })
        : null;
    const realtime =
      waiting && container && REALTIME_FUNCTIONS.has(container.fn)
        ? waiting.runtimeFor(container, {
            table: TABLE,
            sleep,
            client: (weight) =>
              engine.client(() => {
                const context = contextOf(container.current ?? null);
                return weight === undefined ? context : { ...context, weight };
              }),
          })
        : null;
    return { room, store, admitter, realtime };
  };
  const lambda = new LambdaModel<Runtime>(
    scheduler,
    random.fork('lambda'),
    scenario.lambda,
    buildRuntime,
    SALE_START_MS,
  );
  scheduler.busy = lambda.tracker.busy;
  const apiGateway = new ApiGatewayModel(scenario.apiGateway, SALE_START_MS);
  if (scenario.waiting)
    waiting = new WaitingModel<Runtime>({
      scenario,
      waiting: scenario.waiting,
      scheduler,
      lambda,
      apiGateway,
      tokens,
      eventId,
      weight: pollerWeight,
      saleStartMs: SALE_START_MS,
      // Its own stream: the other draws of a run are the same with or without it.
      random: new Random((scenario.seed ^ 0x57a1e) >>> 0),
      request: (route, weight, call) => request(route, weight, call),
      fans,
      lastArrivalMs: crowd.arrivalMs[n - 1] ?? 0,
    });

  /** One HTTP request of a fan: the edge, then a Lambda invocation, then the answer's way back. */
  async function request<T>(
    route: FunctionName,
    weight: number,
    call: (runtime: Runtime) => Promise<T>,
  ): Promise<Answer<T>> {
    const refused = (status: number, code: string, throttle: ThrottleKind): Answer<T> => {
      series.throttles[throttle].add(second(), weight);
      bump(counts.throttledRequestsByRoute, route, weight);
      return { ok: false, status, code, throttle, retryAfterSeconds: 1 };
    };
    if (!apiGateway.admit(route, weight, scheduler.now()))
      return refused(429, 'too_many_requests', 'apiGateway');
    const result = await lambda.invoke(route, weight, (runtime) => call(runtime));
    if (result.kind === 'throttled')
      return refused(
        429,
        'too_many_requests',
        result.reason === 'concurrency' ? 'lambdaConcurrency' : 'lambdaScaling',
      );
    if (result.kind === 'ok') return { ok: true, value: result.value };
    const error = result.error;
    if (error instanceof FairqueueError) {
      const retryAfter = Number(error.headers?.['Retry-After'] ?? 1);
      if (error.status === 503) {
        series.throttles.dynamodb.add(second(), weight);
        bump(counts.throttledRequestsByRoute, route, weight);
      }
      return {
        ok: false,
        status: error.status,
        code: error.code,
        retryAfterSeconds: Number.isFinite(retryAfter) ? retryAfter : 1,
        ...(error.status === 503 ? { throttle: 'dynamodb' as const } : {}),
      };
    }
    // Anything else is a 500: a bug the run must show, not hide.
    const name = (error as { name?: string }).name ?? 'Error';
    return { ok: false, status: 500, code: name, retryAfterSeconds: 1 };
  }

  const retryable = (answer: Answer<unknown>) =>
    !answer.ok && (answer.status === 429 || answer.status === 503);
  const retryDelay = (answer: Answer<unknown>) =>
    (answer.ok ? 1 : answer.retryAfterSeconds) * 1000 + draw.jitter();
  const has = (fan: number, trait: number) => ((crowd.traits[fan] ?? 0) & trait) !== 0;
  const userId = (fan: number) => `u${fan}`;
  const gone = (fan: number) => !Number.isNaN(fans.leftAt[fan] ?? Number.NaN);

  // --- admission: the admitter's notifier is the WebSocket path --------------------------
  function admitted(changes: readonly LineChange[]) {
    waiting?.changed(changes);
    for (const change of changes) {
      if (change.kind !== 'moved' || change.eventId !== eventId) continue;
      const batch = {
        from: change.from,
        to: change.to,
        atMs: at(),
        tickAt: change.at,
        claimBy: change.claimBy,
        unclaimed: 0,
      };
      batches.push(batch);
      servingTo = Math.max(servingTo, change.to);
      // (from, to] may span void numbers (sharded intake, leaves): count the places fans hold.
      let places = 0;
      const sampled: number[] = [];
      while (line.size > 0 && line.peek() <= change.to) {
        const fan = line.pop();
        if (admit(fan, batches.length - 1)) {
          places++;
          if (has(fan, TRAIT.poller)) sampled.push(fan);
        }
      }
      series.admitted.add(second(), places);
      waiting?.admitted(places, sampled);
    }
    checkCapacity();
  }

  /** Marks a fan admitted by a batch; false when the fan had given the place up. */
  function admit(fan: number, batchIndex: number): boolean {
    const batch = batches[batchIndex];
    if (!batch || gone(fan)) return false;
    fans.admittedAt[fan] = batch.atMs;
    batchOf[fan] = batchIndex;
    // Counted as holding a slot only when the place is surely held (the check is a lower bound).
    if (!leaveUncertain[fan]) batch.unclaimed++;
    admittedHeld++;
    if (has(fan, TRAIT.noShow) || has(fan, TRAIT.leaver)) return true;
    const claimAt = Math.max(at(), batch.atMs + draw.claim() * 1000);
    const abandoned = abandonedAt[fan] ?? Number.NaN;
    if (!Number.isNaN(abandoned) && abandoned <= claimAt) return true;
    scheduler.at(SALE_START_MS + claimAt, () => void claim(fan, 0));
    return true;
  }

  /** A fan whose join answered after the line already passed its position: admitted by that batch. */
  function ackAfterAdmission(fan: number, position: number) {
    let lo = 0;
    let hi = batches.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((batches[mid]?.to ?? 0) < position) lo = mid + 1;
      else hi = mid;
    }
    admit(fan, lo);
    series.admitted.add(second());
  }

  // --- fans ------------------------------------------------------------------------------
  async function join(fan: number, attempt: number): Promise<void> {
    if (stopping) return;
    counts.joinAttempts++;
    const identified = has(fan, TRAIT.identified);
    const answer = await request('join', 1, (runtime) =>
      runtime.room.join({ eventId, ...(identified ? { userId: userId(fan) } : {}) }),
    );
    if (!answer.ok) {
      if (answer.throttle) {
        counts.throttledJoins++;
        counts.throttledJoinsByKind[answer.throttle]++;
        series.joinsThrottled.add(second());
      }
      if (retryable(answer) && attempt < scenario.crowd.joinRetries) {
        scheduler.after(retryDelay(answer), () => void join(fan, attempt + 1));
        return;
      }
      fans.joinFailed[fan] = 1;
      bump(counts.failedJoinsByCode, `${answer.status} ${answer.code}`);
      return;
    }
    const result = answer.value;
    // The first answer of a fan is their join; a repeat join may answer first in a race.
    if (!Number.isNaN(fans.acceptedAt[fan] ?? Number.NaN)) return;
    fans.acceptedAt[fan] = at();
    fans.position[fan] = result.position;
    fans.estimateAtJoin[fan] = result.estimatedWaitSeconds ?? Number.NaN;
    acked++;
    series.joinsAccepted.add(second());
    if (result.position <= servingTo) ackAfterAdmission(fan, result.position);
    else line.push(result.position, fan);
    if (has(fan, TRAIT.poller) && !waiting) {
      pollerTokens.set(fan, result.token);
      pollPace.set(fan, result.pollAfterSeconds);
      scheduler.after(result.pollAfterSeconds * 1000, () => void poll(fan));
    }
    if (has(fan, TRAIT.leaver)) scheduler.after(draw.leave() * 1000, () => void leave(fan, 0));
    if (has(fan, TRAIT.abandoner)) abandonedAt[fan] = at() + draw.abandon() * 1000;
    // The waiting model's sampled fans wait as its clients do (WebSocket, polling, backgrounded).
    if (has(fan, TRAIT.poller) && waiting) waiting.joined(fan, result, abandonedAt[fan] ?? Number.NaN);
  }

  async function repeatJoin(fan: number, attempt: number): Promise<void> {
    if (stopping) return;
    // A fan who gave the place up does not come back in this crowd (a new join would rightly get a new place).
    if (gone(fan)) return;
    counts.joinAttempts++;
    const answer = await request('join', 1, (runtime) => runtime.room.join({ eventId, userId: userId(fan) }));
    if (!answer.ok) {
      if (answer.throttle) {
        counts.throttledJoins++;
        counts.throttledJoinsByKind[answer.throttle]++;
        series.joinsThrottled.add(second());
      }
      if (retryable(answer) && attempt < scenario.crowd.joinRetries)
        scheduler.after(retryDelay(answer), () => void repeatJoin(fan, attempt + 1));
      return;
    }
    counts.repeatJoins++;
    const first = fans.position[fan] ?? Number.NaN;
    // Compared once both answers are in: whichever came second checks the other.
    if (Number.isNaN(first)) {
      scheduler.after(5000, () => {
        const later = fans.position[fan] ?? Number.NaN;
        if (!Number.isNaN(later) && later !== answer.value.position) counts.repeatJoinMismatches++;
      });
    } else if (first !== answer.value.position) counts.repeatJoinMismatches++;
  }

  async function poll(fan: number): Promise<void> {
    if (stopping) return;
    const abandoned = abandonedAt[fan] ?? Number.NaN;
    if (gone(fan) || (!Number.isNaN(abandoned) && abandoned <= at())) return;
    if (!Number.isNaN(fans.admittedAt[fan] ?? Number.NaN) && at() > (fans.admittedAt[fan] ?? 0) + 60_000)
      return;
    const token = pollerTokens.get(fan);
    if (!token) return;
    counts.polls += pollerWeight;
    const answer = await request('status', pollerWeight, (runtime) => runtime.room.status(eventId, token));
    if (!answer.ok) {
      bump(counts.statusErrors, `${answer.status} ${answer.code}`, pollerWeight);
      // A refused poll is tried again no sooner than the pace the server last asked for, and
      // later each time it is refused again: a poller never turns a throttle into a storm.
      const refusals = (pollRefusals.get(fan) ?? 0) + 1;
      pollRefusals.set(fan, refusals);
      const pace = (pollPace.get(fan) ?? 2) * 1000 * 2 ** Math.min(refusals - 1, 5);
      if (retryable(answer))
        scheduler.after(Math.max(retryDelay(answer), pace) + draw.jitter(), () => void poll(fan));
      return;
    }
    pollRefusals.delete(fan);
    const status = answer.value;
    pollerTokens.set(fan, status.token);
    pollPace.set(fan, status.pollAfterSeconds);
    if (status.status !== 'waiting') return;
    waitingEstimates.fan.push(fan);
    waitingEstimates.atMs.push(at());
    waitingEstimates.estimate.push(status.estimatedWaitSeconds ?? Number.NaN);
    scheduler.after(status.pollAfterSeconds * 1000, () => void poll(fan));
  }

  /** The token a fan shows: the poller's latest, or one refreshed by the WebSocket for the others. */
  async function tokenOf(fan: number): Promise<string> {
    const polled = pollerTokens.get(fan);
    if (polled) return polled;
    const sub = has(fan, TRAIT.identified) ? userId(fan) : `anon_sim${fan}`;
    const { token } = await tokens.signPosition({
      eventId,
      sub,
      pos: fans.position[fan] ?? 0,
      nowSec: Math.floor(scheduler.now() / 1000),
      ttlSeconds: scenario.event.positionTtlSeconds,
    });
    return token;
  }

  async function claim(fan: number, attempt: number): Promise<void> {
    if (stopping) return;
    if (gone(fan)) return;
    counts.claims++;
    const token = await tokenOf(fan);
    const answer = await request('admission', 1, (runtime) => runtime.room.claim(eventId, token));
    if (!answer.ok) {
      bump(counts.claimOutcomes, `${answer.status} ${answer.code}`);
      if (attempt >= CLAIM_RETRIES) return;
      if (answer.status === 409 && answer.code === 'not_yet')
        scheduler.after(NOT_YET_RETRY_MS, () => void claim(fan, attempt + 1));
      else if (retryable(answer)) scheduler.after(retryDelay(answer), () => void claim(fan, attempt + 1));
      return;
    }
    bump(counts.claimOutcomes, 'claimed');
    if (!Number.isNaN(fans.claimedAt[fan] ?? Number.NaN)) return;
    fans.claimedAt[fan] = at();
    const batch = batches[batchOf[fan] ?? -1];
    if (batch) batch.unclaimed--;
    activeSessions++;
    checkCapacity();
    const endsAtMs = answer.value.expiresAt * 1000 - SALE_START_MS;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      activeSessions--;
    };
    scheduler.at(SALE_START_MS + endsAtMs, end);
    const purchaseMs = draw.purchase() * 1000;
    if (at() + purchaseMs < endsAtMs)
      scheduler.after(purchaseMs, () => void complete(fan, answer.value.accessToken, 0, end));
  }

  async function complete(fan: number, accessToken: string, attempt: number, end: () => void): Promise<void> {
    if (stopping) return;
    const answer = await request('complete', 1, (runtime) => runtime.room.complete(eventId, accessToken));
    if (!answer.ok) {
      if (retryable(answer) && attempt < COMPLETE_RETRIES)
        scheduler.after(retryDelay(answer), () => void complete(fan, accessToken, attempt + 1, end));
      return;
    }
    counts.completes++;
    fans.completedAt[fan] = at();
    end();
  }

  async function leave(fan: number, attempt: number): Promise<void> {
    if (stopping) return;
    if (!Number.isNaN(fans.admittedAt[fan] ?? Number.NaN)) return;
    const token = await tokenOf(fan);
    const answer = await request('leave', 1, (runtime) => runtime.room.leave(eventId, token));
    bump(counts.leaveOutcomes, answer.ok ? 'left' : `${answer.status} ${answer.code}`);
    // A 503 reached the store: the place may be void already (leave has several steps).
    if (!answer.ok && answer.status === 503) leaveUncertain[fan] = 1;
    if (!answer.ok) {
      if (retryable(answer) && attempt < COMPLETE_RETRIES)
        scheduler.after(retryDelay(answer), () => void leave(fan, attempt + 1));
      return;
    }
    counts.leaves++;
    fans.leftAt[fan] = at();
    leftCount++;
    if (waiting) {
      // A waiting place given up: the places behind it lose one (not one admitted meanwhile).
      if (Number.isNaN(fans.admittedAt[fan] ?? Number.NaN)) waiting.placeLeft(fans.position[fan] ?? 0);
      if (has(fan, TRAIT.poller)) waiting.left(fan);
    }
    // Admitted while the leave was on its way: the store gives the slot back (decision 0008).
    const batch = batches[batchOf[fan] ?? -1];
    if (batch && Number.isNaN(fans.claimedAt[fan] ?? Number.NaN)) {
      if (!leaveUncertain[fan]) batch.unclaimed--;
      admittedHeld--;
    }
  }

  // --- setup: the operator creates the event ---------------------------------------------
  const setup = buildRuntime(null);
  const config = {
    capacity: scenario.event.capacity,
    admitPerMinute: scenario.event.admitPerMinute,
    claimWindowSeconds: scenario.event.claimWindowSeconds,
    purchaseWindowSeconds: scenario.event.purchaseWindowSeconds,
    positionTtlSeconds: scenario.event.positionTtlSeconds,
    intake: scenario.event.intake,
    expectedPurchaseSeconds: scenario.event.expectedPurchaseSeconds,
  };
  // `intake` is passed through as the operator's PUT would; a build without it ignores it.
  const input: EventConfigInput = config;
  const created = setup.room.putEvent(eventId, input);
  await scheduler.run();
  const view: Record<string, unknown> = { ...(await created) };
  const applied = typeof view.intake === 'string' ? view.intake : 'exact';
  const intake = {
    requested: scenario.event.intake,
    applied,
    note:
      applied === scenario.event.intake
        ? null
        : `intake "${scenario.event.intake}" is unknown to this build: the event ran with the exact single counter`,
  };
  if (intake.note) log(`note: ${intake.note}`);
  const setupMs = performance.now() - wallStart;

  // --- the sale ---------------------------------------------------------------------------
  for (const [fn, count] of Object.entries(scenario.lambda.prewarmed))
    if (count) lambda.prewarm(fn as FunctionName, count, fn === 'status' ? pollerWeight : 1);
  const horizonMs = scenario.durationSeconds * 1000;
  // Arrivals are scheduled a second at a time, so the queue holds one second of them.
  let next = 0;
  const scheduleArrivals = (untilMs: number) => {
    while (next < n && (crowd.arrivalMs[next] ?? 0) < untilMs) {
      const fan = next++;
      const arrival = crowd.arrivalMs[fan] ?? 0;
      scheduler.at(SALE_START_MS + arrival, () => void join(fan, 0));
      if (has(fan, TRAIT.repeat)) {
        const again = arrival + draw.repeat() * 1000;
        if (again < horizonMs) scheduler.at(SALE_START_MS + again, () => void repeatJoin(fan, 0));
      }
    }
    if (next < n) scheduler.at(SALE_START_MS + untilMs, () => scheduleArrivals(untilMs + 1000));
  };
  scheduleArrivals(1000);

  const { admitter: admitterConfig } = scenario;
  const runAdmitter = async () => {
    if (stopping) return;
    const result = await lambda.invoke('admitter', 1, async (runtime, invocation) => {
      const admitter = runtime.admitter;
      if (!admitter) throw new Error('the admitter environment has no admitter');
      // Admitter.run waits with setTimeout, which virtual time cannot drive: its loop, here.
      const start = scheduler.now();
      for (;;) {
        const tickStart = scheduler.now();
        const outcomes = await admitter.tickAll((error) => {
          counts.tickFailures++;
          const cause = (error as { name?: string }).name ?? 'Error';
          bump(counts.tickFailureCodes, cause);
        });
        counts.ticks++;
        for (const outcome of outcomes)
          if (outcome.figures) maxStoreInUse = Math.max(maxStoreInUse, storeInUse());
        const nextAt = tickStart + admitterConfig.tickSeconds * 1000;
        if (nextAt - start >= admitterConfig.runSeconds * 1000 || nextAt >= SALE_START_MS + horizonMs) return;
        invocation.block();
        await scheduler.sleep(Math.max(0, nextAt - scheduler.now()));
        invocation.unblock();
      }
    });
    if (result.kind !== 'ok') {
      counts.tickFailures++;
      bump(counts.tickFailureCodes, result.kind === 'throttled' ? 'AdmitterThrottled' : 'AdmitterError');
    }
  };
  const storeInUse = () => {
    const meta = engine.table.lookup(`EVENT#${eventId}`, 'META');
    const inUse = meta?.item.inUse;
    return typeof inUse === 'number' ? inUse : 0;
  };
  for (
    let t = admitterConfig.firstRunAtSeconds * 1000;
    t < horizonMs;
    t += admitterConfig.scheduleSeconds * 1000
  )
    scheduler.at(SALE_START_MS + t, () => void runAdmitter());

  for (let t = 0; t < horizonMs; t += scenario.sampleEverySeconds * 1000)
    scheduler.at(SALE_START_MS + t, () => {
      const s = second();
      series.queueLength.values[s] = acked - admittedHeld - leftCount;
      series.activeSessions.values[s] = activeSessions;
    });

  // What the measured window of the waiting model used: cumulative usage at its ends.
  const usage = (): Usage => {
    const lambdaUsage: Record<string, { invocations: number; gbSeconds: number; durationMsSum: number }> = {};
    for (const [fn, f] of lambda.figures())
      lambdaUsage[fn] = {
        invocations: f.invocations,
        gbSeconds: f.gbSeconds,
        durationMsSum: f.durationMsSum,
      };
    let requests = 0;
    let readUnits = 0;
    let writeUnits = 0;
    for (const c of engine.byOperation.values()) {
      requests += c.requests;
      readUnits += c.readUnits;
      writeUnits += c.writeUnits;
    }
    const byCaller: Record<string, { requests: number; readUnits: number; writeUnits: number }> = {};
    for (const [caller, c] of engine.byCaller)
      byCaller[caller] = { requests: c.requests, readUnits: c.readUnits, writeUnits: c.writeUnits };
    return { lambda: lambdaUsage, dynamodb: { requests, readUnits, writeUnits }, byCaller };
  };
  let windowFrom: Usage | null = null;
  let windowTo: Usage | null = null;
  if (waiting) {
    waiting.schedule();
    scheduler.at(SALE_START_MS + waiting.record.measureFromMs, () => {
      windowFrom = usage();
    });
  }

  let lastLog = performance.now();
  const progress = () => {
    const wall = performance.now();
    if (wall - lastLog > 10_000) {
      lastLog = wall;
      log(
        `  t=${(at() / 1000).toFixed(0)}s joined=${acked} admitted=${admittedHeld} events=${scheduler.eventsRun} wall=${((wall - wallStart) / 1000).toFixed(0)}s`,
      );
    }
  };
  await scheduler.run(SALE_START_MS + horizonMs, progress);
  if (waiting) {
    windowTo = usage();
    waiting.finish();
  }
  // Let what is in flight land, so the store and the fans agree on every request sent.
  stopping = true;
  await scheduler.run(SALE_START_MS + horizonMs + DRAIN_MS, progress);

  // --- the store's own state at the end ----------------------------------------------------
  const audit = await auditStore(engine, eventId, crowd, fans);
  return {
    scenario,
    saleStartMs: SALE_START_MS,
    crowd,
    intake,
    fans,
    waitingEstimates: {
      fan: waitingEstimates.fan.view(),
      atMs: waitingEstimates.atMs.view(),
      estimate: waitingEstimates.estimate.view(),
    },
    pollerWeight,
    batches,
    perSecond: {
      joinsAccepted: series.joinsAccepted.values,
      joinsThrottled: series.joinsThrottled.values,
      admitted: series.admitted.values,
      queueLength: series.queueLength.values,
      activeSessions: series.activeSessions.values,
      throttles: {
        apiGateway: series.throttles.apiGateway.values,
        lambdaConcurrency: series.throttles.lambdaConcurrency.values,
        lambdaScaling: series.throttles.lambdaScaling.values,
        dynamodb: series.throttles.dynamodb.values,
      },
    },
    counts,
    capacity: { maxSlotsHeld, maxStoreInUse, violations: capacityViolations },
    audit,
    engine,
    lambda,
    apiGateway,
    waiting: waiting?.record ?? null,
    window: windowFrom && windowTo ? { from: windowFrom, to: windowTo } : null,
    wall: {
      ms: performance.now() - wallStart,
      events: scheduler.eventsRun,
      setupMs,
      spins: scheduler.spins,
      waitedMs: scheduler.waitedMs,
    },
  };
}

/**
 * Reads the store's state after the run through the real adapter (on a client that counts
 * nothing and has no limits) and compares it with what the fans hold.
 */
async function auditStore(
  engine: SimDynamoDB,
  eventId: string,
  crowd: Crowd,
  fans: SimulationRecord['fans'],
): Promise<SimulationRecord['audit']> {
  const store = new DynamoQueueStore(new DynamoTable(engine.immediateClient(false), TABLE));
  const counters = await store.getCounters(eventId);
  const event = await store.getEvent(eventId, { consistent: true });
  // Numbers taken by joins: the join counter (exact) or the held numbers of settled slices (sharded).
  const issued = event?.config.intake === 'sharded' ? event.settledHeld : counters.issued;
  let userBindingMismatches = 0;
  const mismatchExamples: { fan: number; given: number; stored: unknown; traits: string[] }[] = [];
  const holders = new Map<number, number>();
  let duplicatePositions = 0;
  let sessionsWithoutAdmission = 0;
  const servingPosition = event?.servingPosition ?? 0;
  for (let fan = 0; fan < crowd.size; fan++) {
    const position = fans.position[fan] ?? Number.NaN;
    if (Number.isNaN(position)) continue;
    const holder = holders.get(position);
    if (holder !== undefined && holder !== fan) duplicatePositions++;
    holders.set(position, fan);
    // A user who gave the place up is unbound (and may join again for a new place).
    const left = !Number.isNaN(fans.leftAt[fan] ?? Number.NaN);
    if (!left && ((crowd.traits[fan] ?? 0) & TRAIT.identified) !== 0) {
      const slot = await store.getUserSlot(eventId, `u${fan}`);
      if (!slot || !('position' in slot) || slot.position !== position) {
        userBindingMismatches++;
        if (mismatchExamples.length < 5)
          mismatchExamples.push({
            fan,
            given: position,
            stored: slot ?? null,
            traits: Object.entries(TRAIT)
              .filter(([, bit]) => ((crowd.traits[fan] ?? 0) & bit) !== 0)
              .map(([name]) => name),
          });
      }
    }
    if (!Number.isNaN(fans.claimedAt[fan] ?? Number.NaN) && position > servingPosition)
      sessionsWithoutAdmission++;
  }
  // Void numbers the store holds that no fan gave up: a join too slow for its reservation
  // voids the number it took once another join of its user took the place (waiting-room.ts).
  const lastNumber =
    event?.config.intake === 'sharded' ? (event.settledSlice + 1) * SLICE_SPAN : counters.issued;
  const leftPositions = new Set<number>();
  let left = 0;
  for (let fan = 0; fan < crowd.size; fan++) {
    if (Number.isNaN(fans.leftAt[fan] ?? Number.NaN) || Number.isNaN(fans.position[fan] ?? Number.NaN))
      continue;
    left++;
    leftPositions.add(fans.position[fan] ?? 0);
  }
  const voidedForNobody = (await store.leavesIn(eventId, 0, lastNumber)).filter(
    (position) => !leftPositions.has(position),
  ).length;
  return {
    issued,
    servingPosition,
    claimed: counters.claimed,
    completed: counters.completed,
    voidByStore: left + voidedForNobody,
    voidedForNobody,
    userBindingMismatches,
    mismatchExamples,
    duplicatePositions,
    sessionsWithoutAdmission,
  };
}
